"""Loading a checkpoint, in any format, into a `Llama`: load_model and load_state.

The configuration is checked against the shapes in the files before anything is built; the model is built on the
meta device and receives the tensors a block at a time, each copied out of the mapped file as it arrives, so
memory holds about one copy of the weights and the model does not depend on the file afterwards. A quantized
checkpoint of the kit's (`quantization.json` beside its weights) gets its integers and scales as they were saved.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import re
from pathlib import Path

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..model import Llama, ModelArgs
from ..modules import replace_by_name
from ..nf4 import NF4Scheme
from ..quantize import FLOAT_DTYPES, QuantizedLinear, Scheme, check_stored, quantize_model
from .hf import _load_hf
from .meta import _load_meta, _meta_args
from .read import (DTYPES, SUPPORTED, CheckpointError, Unread, _as_dtype, _in_file, _let_go, _own, _read_json,
                   detect_format, read_safetensors)
from .switch import _finish_switch, _locked


def _as_device(device) -> torch.device:
    """`device` (None: the CPU) as a torch.device that can hold weights here, or a ValueError saying why not."""
    try:
        device = torch.device("cpu" if device is None else device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device={device!r} is not a device torch knows: use 'cpu', 'cuda' (or 'cuda:0', "
                         "'cuda:1', ...) or 'mps'") from None
    if device.type == "meta":
        raise ValueError("device='meta' holds shapes and no numbers, so it cannot hold a checkpoint's weights: load "
                         "onto 'cpu' or a GPU. To see the model's shapes without memory, build it there: "
                         "build_model(load_state(path)[0], device='meta')")
    count = torch.cuda.device_count() if device.type == "cuda" else None
    if count == 0:
        raise ValueError(f"device={str(device)!r}: this machine has no CUDA GPU torch can use: use 'cpu'")
    if count and device.index is not None and device.index >= count:
        raise ValueError(f"device={str(device)!r}: this machine has {count} CUDA GPU{'s' * (count > 1)}, "
                         f"cuda:0 to cuda:{count - 1}: use one of those, or 'cpu'")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device='mps': this machine has no Apple GPU torch can use: use 'cpu'")
    return device


def _load_kit(path: Path) -> tuple[ModelArgs, dict[str, torch.Tensor]]:
    """The kit's format: params.json + model.safetensors, Meta's names and layout in one file."""
    state = read_safetensors(path / "model.safetensors")
    params = _read_json(path / "params.json")
    return _meta_args(params, state, path / "params.json"), state


class _WithoutInit(TorchFunctionMode):
    """Inside it, torch.nn.init's functions leave the tensor they are given as it is: no random init.

    A torch function mode sees every torch function called in its `with` block on this thread, nn.init's among
    them (as `with torch.device("meta")` does to give each new tensor its device), and nothing outside it.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__module__", None) == "torch.nn.init":
            return args[0] if args else kwargs["tensor"]
        return func(*args, **kwargs)


def model_skeleton(args: ModelArgs) -> Llama:
    """The model's modules on the meta device: shapes and no memory, waiting for a checkpoint's weights.

    Their random init is skipped: the checkpoint replaces it, and normal_ on a meta tensor (the embedding's init)
    imports torch._dynamo, which alone costs over a second.
    """
    with torch.device("meta"), _WithoutInit():
        return Llama(args)


def quantized_skeleton(args: ModelArgs, scheme: Scheme, dtype: torch.dtype) -> Llama:
    """The model quantize_model makes of a model in `dtype`, on the meta device: every linear layer a QuantizedLinear
    of `scheme` with buffers of the shapes it stores and no memory, waiting for a quantized checkpoint's integers
    and scales. Nothing is quantized (on the meta device that alone takes longer than reading 100 MB)."""
    model = model_skeleton(args).to(dtype)
    for name, linear in [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]:
        replace_by_name(model, name, QuantizedLinear(linear.in_features, linear.out_features, scheme, dtype=dtype,
                                                     device="meta"))
    return model


def _in_float32(numbers: int) -> str:
    """The memory `numbers` take in float32, for people: 7 * 10**9 -> '26.1 GiB in float32'."""
    size, unit = numbers * 4, "B"
    for bigger in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:,.1f} {unit} in float32"


def _check_weights(args: ModelArgs, state: dict[str, torch.Tensor], path: Path, config: str) -> None:
    """Compare the configuration with the shapes in the files, before any model is built.

    Every block has block 0's shapes, so one block on the meta device tells them all: a params.json asking for
    10**9 layers is refused at the cost of one. A configuration that passes describes exactly the files' tensors,
    so nothing larger than the checkpoint is ever allocated.
    """
    shapes = {k: tuple(v.shape) for k, v in model_skeleton(args.with_(n_layers=1)).state_dict().items()}
    block = {k.removeprefix("layers.0."): shape for k, shape in shapes.items() if k.startswith("layers.0.")}
    top = {k: shape for k, shape in shapes.items() if not k.startswith("layers.")}

    def expected(name: str) -> tuple[int, ...] | None:
        layer = re.fullmatch(r"layers\.(\d+)\.(.+)", name)
        return block.get(layer[2]) if layer and int(layer[1]) < args.n_layers else top.get(name)

    unexpected = sorted(k for k in state if expected(k) is None)
    misshaped = [f"{k}: file {tuple(state[k].shape)} vs model {expected(k)}"
                 for k in sorted(state) if expected(k) not in (None, tuple(state[k].shape))]
    n_missing = len(top) + args.n_layers * len(block) - (len(state) - len(unexpected))
    every_name = itertools.chain(top, (f"layers.{i}.{k}" for i in range(args.n_layers) for k in block))
    missing = list(itertools.islice((k for k in every_name if k not in state), 8))  # the first few of maybe 10**9
    problems = []
    if n_missing:
        problems.append(f"missing tensors ({n_missing}): {missing}")
    if unexpected:
        problems.append(f"unexpected tensors ({len(unexpected)}): {unexpected[:8]}")
    if misshaped:
        problems.append(f"mis-shaped tensors ({len(misshaped)}): {misshaped[:8]}")
    if problems:
        wanted = sum(map(math.prod, top.values())) + args.n_layers * sum(map(math.prod, block.values()))
        held = sum(math.prod(v.shape) for v in state.values())
        if wanted != held:
            problems.append(f"the configuration describes {wanted:,} parameters ({_in_float32(wanted)}), the files "
                            f"hold {held:,} ({_in_float32(held)})")
        raise CheckpointError(f"{path}: the weights do not match the configuration in {config}: "
                              + "; ".join(problems))
    rotary = args.max_seq_len * args.head_dim  # numbers in the cos and sin tables together
    if rotary > sum(map(math.prod, shapes.values())) + (args.n_layers - 1) * sum(map(math.prod, block.values())):
        raise CheckpointError(f"{path / config}: max_seq_len={args.max_seq_len:,} would make rotary tables of "
                              f"{_in_float32(rotary)}, more than the model's weights: pass load_model(..., "
                              "max_seq_len=...) with the context you need (Llama 2's is 4096)")


def _refuse_non_finite(tensor: torch.Tensor, what: str, converted: bool) -> None:
    """Refuse a tensor holding NaN or infinity, which would otherwise surface later as a failure inside sampling.

    One pass and no copy: the sum is finite if every number is (NaN and infinity spread); only a sum that is not
    (some numbers are not, or finite ones overflowed float32 together) calls for counting them one by one.
    """
    if torch.isfinite(tensor.sum(dtype=torch.float32)):
        return
    bad = tensor.numel() - int(torch.isfinite(tensor).sum())
    if not bad:
        return
    raise CheckpointError(f"{what} holds {bad:,} NaN or infinite numbers (of {tensor.numel():,})"
                          + (f" once converted to {tensor.dtype}" if converted else "")
                          + ": the checkpoint is damaged, or was saved from a training run that diverged. Load an "
                          "earlier checkpoint" + (", or keep the saved dtype" if converted else ""))


LOADERS = {"meta": _load_meta, "hf": _load_hf, "kit": _load_kit, "kit-quantized": _load_kit}
CONFIG_FILES = {"meta": "params.json", "hf": "config.json", "kit": "params.json", "kit-quantized": "params.json"}


def _read_checkpoint(path: Path) -> tuple[str, ModelArgs, dict[str, torch.Tensor], dict | None]:
    """The format, configuration and state dict of the checkpoint in `path`, and the quantization.json of a
    quantized one (else None), after finishing an interrupted save.

    Its files are read or opened (and mapped) under the folder's lock, so a save switching files in meanwhile
    changes nothing in what is read: the files opened stay as they were, whatever replaces them.
    """
    with _locked(path, saving=False) if path.is_dir() else contextlib.nullcontext():
        _finish_switch(path)
        fmt = detect_format(path)
        args, state = LOADERS[fmt](path)
        quantization = _read_json(path / "quantization.json") if fmt == "kit-quantized" else None
        return fmt, args, state, quantization


def load_state(path: str | os.PathLike) -> tuple[ModelArgs, dict[str, torch.Tensor]]:
    """The configuration and the state dict (Meta's names and layout) of a checkpoint, in any format."""
    _, args, state, _ = _read_checkpoint(Path(path))
    return args, state


def load_model(path: str | os.PathLike, device=None, dtype=None, max_seq_len: int | None = None,
               quantize: str | Scheme | None = None) -> Llama:
    """Load a checkpoint (Meta, Hugging Face or the kit's format, quantized or not) into a `Llama` in eval mode.

    dtype: None keeps the checkpoint's dtype; or torch.float32 / "bfloat16" / ... . device: "cpu" by default.
    max_seq_len overrides the context length (e.g. to use less memory for the rotary tables).
    quantize: "int8", "int4", "int4-g64", ... (`llama_lab.quantize`): each block is quantized as it arrives, so
    memory never holds more than the quantized model and one block in floating point (70B in int4: ~38 GB).
    "nf4" or "nf4-dq" (`llama_lab.nf4`, QLoRA's storage for fine-tuning): the blocks' projections likewise, the
    output head kept in floating point as QLoRA's models keep it (7B: 3.5 GB of NF4 blocks, a 0.5 GB head in 32 bits).
    """
    dtype, device = _as_dtype(dtype), _as_device(device)
    path = Path(path)
    fmt, args, state, quantization = _read_checkpoint(path)
    if max_seq_len is not None:
        args = args.with_(max_seq_len=max_seq_len)
    nf4 = NF4Scheme.parse(quantize) if quantize is not None else None
    scheme = Scheme.parse(quantize) if quantize is not None and nf4 is None else nf4
    if fmt == "kit-quantized":
        return _load_quantized(path, args, state, quantization, device, dtype, scheme)
    _check_weights(args, state, path, CONFIG_FILES[fmt])
    model = model_skeleton(args)
    mapped = []  # the file's tensors as read, held until the end so that _in_file knows what is still the file's

    def take(name: str) -> torch.Tensor:
        """The tensor `name`, read if need be, on the device and in the dtype asked for; the state lets go of it."""
        tensor = state.pop(name)
        tensor = tensor.read() if isinstance(tensor, Unread) else tensor
        if _in_file(tensor):
            mapped.append(tensor)
        if tensor.dtype not in DTYPES.values():
            raise CheckpointError(f"{path}: {name} is stored as {tensor.dtype}, which the kit does not compute in "
                                  f"({SUPPORTED}): a quantized checkpoint? Load its floating-point original")
        converted = tensor.to(device=device, dtype=dtype or tensor.dtype)
        if converted is not tensor:
            _let_go(tensor)
        _refuse_non_finite(converted, f"{path}: {name}", converted.dtype != tensor.dtype)
        return converted

    def place(module: nn.Module, prefix: str = "") -> list[torch.Tensor]:
        """Give `module` its parameters from the state; returns the tensors as they came."""
        placed = []
        for name in [name for name, _ in module.named_parameters()]:
            placed.append(take(prefix + name))
            replace_by_name(module, name, nn.Parameter(placed[-1]))
        return placed

    # The weights arrive a block at a time; whatever still reads the file is copied out of it, and the file's
    # pages of a tensor that was copied (converted, or moved to a GPU) are let go, so that memory never holds much
    # more than one copy of the weights.
    blocks = [(f"layers.{i}.", layer) for i, layer in enumerate(model.layers)]
    for prefix, module in [("output.", model.output), *blocks, ("tok_embeddings.", model.tok_embeddings),
                           ("norm.", model.norm)]:
        placed = place(module, prefix)
        _own(module)
        if scheme is not None and nf4 is None and prefix == "output.":
            model.output = QuantizedLinear.from_linear(model.output, scheme)
        elif scheme is not None and prefix.startswith("layers."):
            quantize_model(module, scheme)
        for tensor in placed:
            _let_go(tensor)
    model.init_rope(device)
    return model.eval()


def _load_quantized(path: Path, args: ModelArgs, state: dict, info: dict, device, dtype,
                    asked: Scheme | None) -> Llama:
    """A checkpoint saved from a quantized model: its integers and scales as they were saved; `dtype` applies to
    the tensors in floating point (embedding, norms, int4 scales) and to what the layers dequantize to. `info`:
    its quantization.json."""
    try:
        scheme = Scheme.parse(info["scheme"])
        weights_dtype = DTYPES[info["dtype"]]
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path / 'quantization.json'}: not a quantization the kit wrote ({error})") from error
    if asked is not None and asked != scheme:
        raise CheckpointError(f"{path}: the checkpoint is quantized as {scheme.name}; quantize={asked.name!r} cannot "
                              "be applied to it. Load it without quantize=, or quantize its floating-point original")
    model = quantized_skeleton(args, scheme, weights_dtype)
    expected = {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    wrong = [f"{k}: file {found.get(k)} vs model {expected[k][0] if k in expected else None}"
             for k in sorted(set(expected) | set(found)) if found.get(k) != expected.get(k, (None,))[0]]
    if wrong:
        raise CheckpointError(f"{path}: the tensors do not match params.json and quantization.json "
                              f"({len(wrong)}): {wrong[:6]}")
    tensors = {}
    for name in list(state):
        tensor = state.pop(name)
        tensor = tensor.read() if isinstance(tensor, Unread) else tensor
        stored = expected[name][1]
        if tensor.dtype != stored and not (tensor.dtype in FLOAT_DTYPES and stored in FLOAT_DTYPES):
            raise CheckpointError(f"{path}: {name} is stored as {tensor.dtype}, the {scheme.name} scheme stores "
                                  f"{stored}: the file does not hold what quantization.json says")
        keep = name.endswith(".scale") or tensor.dtype not in FLOAT_DTYPES  # integers and scales as saved
        # a tensor still in its file (safetensors' own mapping, for the dtypes torch lacks) is copied out of it
        converted = tensor.to(device=device, dtype=tensor.dtype if keep or dtype is None else dtype,
                              copy=_in_file(tensor))
        if converted.is_floating_point():
            _refuse_non_finite(converted, f"{path}: {name}", converted.dtype != tensor.dtype)
        try:
            check_stored(name, converted, scheme)
        except ValueError as error:
            raise CheckpointError(f"{path}: {error}") from error
        tensors[name] = converted
    model.load_state_dict(tensors, assign=True)
    for layer in model.modules():
        if isinstance(layer, QuantizedLinear):
            layer.dtype = dtype or weights_dtype
    model.init_rope(device)
    return model.eval()
