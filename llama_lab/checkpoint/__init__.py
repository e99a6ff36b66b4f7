"""Checkpoints in, checkpoints out: Meta's format, Hugging Face's, and the kit's own.

- Meta: `params.json` + `consolidated.00.pth` (.. `consolidated.NN.pth` for model-parallel shards: 13B ships 2,
  70B 8). Each shard holds a slice of every split weight; `MERGE_DIM` says along which dimension.
- Hugging Face: `config.json` + `*.safetensors` (or `pytorch_model*.bin`), with its own names and with wq/wk
  permuted so that rotary embeddings can rotate halves of each head instead of interleaved pairs.
- The kit: `params.json` + `model.safetensors`, Meta's names and layout, one file.
- The kit, quantized (`llama_lab.quantize`): the same, with `quantization.json` naming the scheme and, in place
  of each linear layer's weight, its integers and scales (`layers.0.attention.wq.qweight`, `....scale`, ...).

Loading is safe and lean: tensors come from safetensors or from `torch.load(weights_only=True, mmap=True)` (a
pickle can never run code); the configuration is checked against the shapes in the files before anything is
built; the model is built on the meta device and receives the tensors a block at a time, each copied out of the
mapped file as it arrives, so memory holds about one copy of the weights and the model
does not depend on the file afterwards. Anything wrong raises `CheckpointError` naming the file.
Saving writes into a temporary folder beside the checkpoint and then switches it in (_save_folder): killed at any
point, the folder holds the old checkpoint or the new one, and a save removes only files the kit wrote there.
Switching a folder's files in, and reading them, happen one process at a time (_locked): two saves to one folder
end with the whole checkpoint of the one that switched last, and a load reads one checkpoint, not parts of two.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import math
import mmap
import os
import pickle
import re
import shutil
import sys
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn
from unittest import mock
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..chat import HF_CHAT_TEMPLATE
from ..files import fsync, remove_leftovers, usual_permissions
from ..model import Llama, ModelArgs
from ..quantize import FLOAT_DTYPES, QuantizedLinear, Scheme, check_stored, quantization_of, quantize_model
from ..tokenizer import Tokenizer, write_for_transformers

try:
    import fcntl
except ImportError:  # Windows: saves to one folder are not serialised there
    fcntl = None


class CheckpointError(Exception):
    """A checkpoint that cannot be loaded: the message names the file and what is wrong with it."""


# Meta's model-parallel layout: column-parallel weights are split along dim 0 (their output features),
# row-parallel ones along dim 1 (input features), the embedding along its feature dim; norms are replicated.
MERGE_DIM = {
    "tok_embeddings.weight": 1, "output.weight": 0,
    "attention.wq.weight": 0, "attention.wk.weight": 0, "attention.wv.weight": 0, "attention.wo.weight": 1,
    "feed_forward.w1.weight": 0, "feed_forward.w3.weight": 0, "feed_forward.w2.weight": 1,
    "attention_norm.weight": None, "ffn_norm.weight": None, "norm.weight": None,
}

# Hugging Face's names for Meta's, per layer and outside the layers.
HF_LAYER_NAMES = {
    "attention.wq.weight": "self_attn.q_proj.weight", "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight", "attention.wo.weight": "self_attn.o_proj.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight", "feed_forward.w3.weight": "mlp.up_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
    "attention_norm.weight": "input_layernorm.weight", "ffn_norm.weight": "post_attention_layernorm.weight",
}
HF_TOP_NAMES = {"tok_embeddings.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight",
                "output.weight": "lm_head.weight"}

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16, "half": torch.float16}
# The dtypes the model computes in. Integer and float8 weights are quantized: they mean something only with scales
# the kit does not read, and torch's matrix products refuse them anyway.
SUPPORTED = "supported: float32, float16, bfloat16"


def _suffix(name: str) -> str:
    """'layers.3.attention.wq.weight' -> 'attention.wq.weight'."""
    return re.sub(r"^layers\.\d+\.", "", name)


def _as_dtype(dtype) -> torch.dtype | None:
    if dtype is None or dtype in DTYPES.values():
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not {SUPPORTED} (also by the names {sorted(DTYPES)})")
    return DTYPES[dtype]


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


# ------------------------------------------------------------------------------------------- reading files

def _regular(path: Path) -> Path:
    """path, if it is a regular file: reading a named pipe or a device would wait for a writer, maybe forever."""
    if path.exists() and not path.is_file():
        raise CheckpointError(f"{path}: not a regular file (a named pipe, a device or a folder): a checkpoint's "
                              "files are plain files. Copy the real file there.")
    return path


def _read_json(path: Path) -> dict:
    """The JSON object (a dict) in `path`: each of the kit's JSON files holds one, fields by name."""
    _regular(path)
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{path}: not readable JSON ({error})") from error
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false"}
        raise CheckpointError(f"{path}: holds {kind.get(type(value), 'null')} where a JSON object of named fields "
                              "is expected ({\"dim\": 4096, ...}): the file is damaged, or is not this one")
    return value


@dataclass(frozen=True)
class Unread:
    """A tensor still in its file: its shape is known, its numbers are read by `read()` when they are needed."""

    shape: tuple[int, ...]
    read: Callable[[], torch.Tensor]

    def then(self, change: Callable[[torch.Tensor], torch.Tensor]) -> "Unread":
        """The same tensor with `change` applied once it is read (a renaming keeps the shape)."""
        return Unread(self.shape, lambda: change(self.read()))


def _then(value, change):
    """change(value) for a tensor in memory, or that change put off until an Unread tensor is read."""
    return value.then(change) if isinstance(value, Unread) else change(value)


# Tensors that are views of a checkpoint file mapped into memory (torch.load(..., mmap=True)): see _let_go.
_MAPPED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # id(tensor) -> tensor
_LIBC = ctypes.CDLL(None) if os.name == "posix" else None
_MADV_DONTNEED = 4  # the same number on Linux and macOS
_SLICE = 2**18  # numbers copied at a time out of a mapped file (1 MiB in float32): see _copy_out


def _in_file(tensor: torch.Tensor) -> bool:
    """Whether the numbers of `tensor` are pages of a checkpoint file mapped into memory (it or a view of it)."""
    start = tensor.data_ptr()
    return any(m.data_ptr() <= start < m.data_ptr() + m.nbytes for m in list(_MAPPED.values()))


def _let_go(tensor: torch.Tensor) -> None:
    """Hand back the memory pages of a mapped checkpoint tensor whose numbers now live elsewhere (copied, joined).

    Pages read from a mapped file count as the process's memory for as long as the mapping lives, which is as long
    as any tensor of the file does: without this, loading Meta's .pth would hold the file's copy of every weight it
    rearranges as well as the rearranged one. These pages were never written, so dropping them loses nothing (read
    again, they would come from the file); tensors that are not views of a mapped file are left alone.
    """
    if _LIBC is None or not _in_file(tensor):
        return
    first = -(-tensor.data_ptr() // mmap.PAGESIZE) * mmap.PAGESIZE  # whole pages inside the tensor only
    end = (tensor.data_ptr() + tensor.numel() * tensor.element_size()) // mmap.PAGESIZE * mmap.PAGESIZE
    if end > first:
        _LIBC.madvise(ctypes.c_void_p(first), ctypes.c_size_t(end - first), _MADV_DONTNEED)


def _copy_out(tensor: torch.Tensor) -> torch.Tensor:
    """A copy of a mapped tensor in the process's own memory, made a slice at a time, each slice's pages handed back
    once copied: memory never holds the file's copy and ours of the whole tensor at once."""
    if not tensor.is_contiguous():
        copy = tensor.contiguous()
    else:
        copy = torch.empty_like(tensor)
        source, target = tensor.view(-1), copy.view(-1)
        for start in range(0, source.numel(), _SLICE):
            target[start:start + _SLICE] = source[start:start + _SLICE]
            _let_go(source[start:start + _SLICE])
    _let_go(tensor)
    return copy


def _own(module: nn.Module) -> None:
    """Copy every parameter of `module` that still reads a mapped checkpoint file into memory of its own.

    A model reading its file would change when the file is overwritten, and die of SIGBUS at its next forward
    pass when the file is truncated: a loaded model must not depend on the file staying as it was.
    """
    for name, parameter in list(module.named_parameters()):
        if _in_file(parameter):
            owner, _, attribute = name.rpartition(".")
            setattr(module.get_submodule(owner), attribute,
                    nn.Parameter(_copy_out(parameter.detach()), requires_grad=parameter.requires_grad))


def _read_pth(path: Path) -> dict[str, torch.Tensor]:
    """A `.pth`/`.bin` state dict, loaded without running any pickled code; mapped into memory, read when used."""
    _regular(path)
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            mapped = True
        except RuntimeError as error:
            if "mmap" not in str(error):
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)  # an old, non-zip file
            mapped = False
    except pickle.UnpicklingError as error:
        raise CheckpointError(f"{path}: refused to load: the file holds pickled objects other than tensors, "
                              f"which could run code. Only plain tensor checkpoints are accepted. ({error})"
                              ) from error
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: truncated or corrupt ({type(error).__name__}: {error}). "
                              "Download or copy it again.") from error
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a dict of tensors, found {type(state).__name__}")
    if mapped:
        _MAPPED.update({id(tensor): tensor for tensor in state.values()})
    return state


def _read_safetensors(path: Path) -> dict[str, Unread]:
    """The tensors of a .safetensors file, unread: the header is checked now, each tensor mapped when needed."""
    _regular(path)
    try:
        file = safe_open(path, framework="pt", device="cpu")  # one mapping of the file, open while tensors are read
        shapes = {key: tuple(file.get_slice(key).get_shape()) for key in file.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{path}: truncated or corrupt safetensors file ({error})") from error

    def read(key):
        tensor = file.get_tensor(key)  # a view of the mapped file: see _let_go
        _MAPPED[id(tensor)] = tensor
        return tensor

    return {key: Unread(shape, lambda key=key: read(key)) for key, shape in shapes.items()}


# What save_model wrote into a folder, so that saving again replaces those files and no others, and loading reads
# them and no others: {"format": "hf", "files": ["config.json", ...]}.
RECORD = ".llama_lab.json"


def _record(path: Path) -> dict | None:
    """The kit's record of the checkpoint it saved in `path`; None if there is none, or if its files have gone."""
    try:
        record = json.loads(_regular(path / RECORD).read_text())
        names = list(record["files"])
        fmt = record["format"]
    except (OSError, ValueError, KeyError, TypeError, CheckpointError):
        return None
    if fmt not in LOADERS or not all(_plain_name(n) and (path / n).is_file() for n in names):
        return None
    return record


def _plain_name(name) -> bool:
    """A file name and nothing more: no folder, no way out of the checkpoint's folder."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name


def _checkpoint_files(path: Path, *patterns: str) -> list[Path]:
    """The files matching the first of `patterns` that matches any; only those save_model wrote, where it wrote
    the folder, so that a user's own files beside them (an adapter, another model's weights) are not read."""
    record = _record(path)
    for pattern in patterns:
        files = sorted(p for p in path.glob(pattern) if record is None or p.name in record["files"])
        if files:
            return files
    return []


def detect_format(path: str | os.PathLike) -> str:
    """'meta', 'hf' or 'kit': what save_model recorded in the directory, or else what its files look like."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a directory. Point load_model at the folder that holds the "
                              "checkpoint (params.json + consolidated.*.pth, config.json + *.safetensors, ...)")
    record = _record(path)
    if record:
        return record["format"]
    names = {p.name for p in path.iterdir()}
    if "params.json" in names and any(re.fullmatch(r"consolidated\.\d+\.pth", n) for n in names):
        return "meta"
    if "params.json" in names and "model.safetensors" in names:
        return "kit-quantized" if "quantization.json" in names else "kit"
    if "config.json" in names and any(n.endswith(".safetensors") or re.fullmatch(r"pytorch_model.*\.bin", n)
                                      for n in names):
        return "hf"
    raise CheckpointError(
        f"{path}: unknown checkpoint layout (found {sorted(names)[:10]}). Expected Meta's params.json + "
        "consolidated.NN.pth, Hugging Face's config.json + *.safetensors or pytorch_model*.bin, "
        "or the kit's params.json + model.safetensors")


# -------------------------------------------------------------------------------------------------- Meta

def _meta_args(params: dict, state: dict[str, torch.Tensor], source: Path) -> ModelArgs:
    overrides = {}
    vocab_size = params.get("vocab_size", -1)
    # Meta's params.json says -1: the tokenizer decides (a vocab_size of another type is ModelArgs' to refuse)
    if isinstance(vocab_size, int) and not isinstance(vocab_size, bool) and vocab_size <= 0:
        overrides["vocab_size"] = state["tok_embeddings.weight"].shape[0]
    try:
        return ModelArgs.from_dict(params, **overrides)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{source}: {error}") from error


def merge_meta_shards(shards: list[dict[str, torch.Tensor]], files: list[Path]) -> dict[str, torch.Tensor]:
    """Concatenate model-parallel shards along each weight's split dimension; replicated norms must agree."""
    keys = [k for k in shards[0] if k != "rope.freqs"]
    for shard, file in zip(shards[1:], files[1:]):
        if set(shard) - {"rope.freqs"} != set(keys):
            raise CheckpointError(f"{file}: shards disagree: its tensors differ from {files[0].name}'s "
                                  f"({sorted(set(shard) ^ set(keys))[:6]})")
    merged = {}
    for key in keys:
        if _suffix(key) not in MERGE_DIM:
            merged[key] = shards[0][key]  # reported as unexpected by the state-dict check
            continue
        dim = MERGE_DIM[_suffix(key)]
        pieces = [shard.pop(key) for shard in shards]  # let each piece go once merged: one copy in memory
        if dim is None:
            for piece, file in zip(pieces[1:], files[1:]):
                if piece.shape != pieces[0].shape or not torch.equal(piece, pieces[0]):
                    raise CheckpointError(f"{file}: shards disagree on the replicated tensor {key}")
            merged[key] = pieces[0]
        else:
            other = [d for d in range(pieces[0].dim()) if d != dim]
            if any([p.shape[d] for d in other] != [pieces[0].shape[d] for d in other] for p in pieces):
                raise CheckpointError(f"shards disagree on the shape of {key}: "
                                      f"{[tuple(p.shape) for p in pieces]} cannot be joined along dim {dim}")
            merged[key] = torch.cat(pieces, dim=dim) if len(pieces) > 1 else pieces[0]
            if len(pieces) > 1:
                for piece in pieces:
                    _let_go(piece)
    return merged


def _load_meta(path: Path) -> tuple[ModelArgs, dict[str, torch.Tensor]]:
    files = _checkpoint_files(path, "consolidated.*.pth")
    numbers = [int(f.name.split(".")[1]) for f in files]
    if numbers != list(range(len(files))):
        raise CheckpointError(f"{path}: shard files {[f.name for f in files]} are not numbered 00..NN "
                              "without gaps: a shard is missing")
    params = _read_json(path / "params.json")
    shards = [_read_pth(f) for f in files]
    state = merge_meta_shards(shards, files)
    return _meta_args(params, state, path / "params.json"), state


def split_meta_shards(state: dict[str, torch.Tensor], num_shards: int) -> list[dict[str, torch.Tensor]]:
    """The inverse of merge_meta_shards: cut each split weight into `num_shards` equal slices."""
    shards = [{} for _ in range(num_shards)]
    for key, tensor in state.items():
        dim = MERGE_DIM[_suffix(key)]
        if dim is None:
            pieces = [tensor] * num_shards
        else:
            if tensor.shape[dim] % num_shards:
                raise ValueError(f"{key} {tuple(tensor.shape)} cannot be split into {num_shards} shards "
                                 f"along dim {dim}")
            pieces = tensor.chunk(num_shards, dim=dim)
        for shard, piece in zip(shards, pieces):
            shard[key] = piece.contiguous().clone()
    return shards


# ---------------------------------------------------------------------------------------- Hugging Face

def _hf_ffn_args(dim: int, intermediate_size: int) -> dict:
    """multiple_of / ffn_dim_multiplier that make Meta's hidden-size rule give `intermediate_size`."""
    for multiple_of in (256, 128, 64, 32, 16, 8, 4, 2, 1):
        if ModelArgs(dim=dim, n_heads=1, multiple_of=multiple_of).hidden_dim == intermediate_size:
            return {"multiple_of": multiple_of}
    base = int(2 * (4 * dim) / 3)
    return {"multiple_of": intermediate_size,
            "ffn_dim_multiplier": None if base <= intermediate_size else intermediate_size / base}


def _refuse_other_architectures(config: dict, source: Path) -> None:
    """Refuse a config.json whose fields ask for something Llama 2's architecture does not do, naming the field.

    transformers' LlamaConfig accepts most of these and builds them (biases, another activation, scaled rotary
    embeddings, a head dim of its own); it ignores fields it does not know, so a Mistral config relabelled
    "llama" would run there without its sliding window. The kit implements Llama 2 only: loading any of these
    as Llama 2 would give a different model, silently.
    """
    rope = config.get("rope_parameters") or {}
    sizes = [config.get("hidden_size"), config.get("num_attention_heads") or 1]
    head_dim = sizes[0] // sizes[1] if all(isinstance(n, int) and n > 0 for n in sizes) else None  # else: see below
    checks = [
        ("model_type", config.get("model_type", "llama") == "llama", "another architecture"),
        ("architectures", set(config.get("architectures") or []) <= {"LlamaForCausalLM", "LlamaModel"},
         "another architecture"),
        ("hidden_act", config.get("hidden_act", "silu") in ("silu", "swish"), "the feed-forward's gate is SiLU"),
        ("attention_bias", not config.get("attention_bias"), "Llama 2's attention projections have no bias"),
        ("mlp_bias", not config.get("mlp_bias"), "Llama 2's feed-forward has no bias"),
        ("rope_scaling", config.get("rope_scaling") is None, "Llama 2's rotary embeddings are not scaled"),
        ("rope_parameters", rope.get("rope_type", "default") == "default", "Llama 2's rotary embeddings are not "
                                                                            "scaled"),
        ("sliding_window", config.get("sliding_window") is None, "Llama 2 attends to the whole context"),
        ("head_dim", head_dim is None or config.get("head_dim", head_dim) == head_dim,
         "Llama 2's head dim is hidden_size / num_attention_heads"),
        ("quantization_config", config.get("quantization_config") is None,
         f"the weights are quantized; the kit reads floating-point weights ({SUPPORTED})"),
    ]
    for field, fits, why in checks:
        if not fits:
            raise CheckpointError(f"{source}: {field}={config[field]!r} is not Llama 2's architecture ({why}), "
                                  "which is all the kit implements: load this model with transformers instead")


def hf_config_to_args(config: dict, source: Path) -> ModelArgs:
    """ModelArgs from a config.json; fields it leaves out take transformers' LlamaConfig defaults."""
    _refuse_other_architectures(config, source)
    try:
        rope = config.get("rope_parameters") or {}
        dim, hidden = config["hidden_size"], config["intermediate_size"]
        if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden <= 0:
            raise ValueError(f"intermediate_size={hidden!r} must be a positive whole number")
        return ModelArgs(
            dim=dim, n_layers=config["num_hidden_layers"], n_heads=config["num_attention_heads"],
            n_kv_heads=config.get("num_key_value_heads"), vocab_size=config["vocab_size"],
            norm_eps=config.get("rms_norm_eps", 1e-6),
            rope_theta=config.get("rope_theta", rope.get("rope_theta", 10000.0)),
            max_seq_len=config.get("max_position_embeddings", 2048),
            **_hf_ffn_args(dim, hidden))
    except KeyError as error:
        raise CheckpointError(f"{source}: config.json lacks {error}, which a Llama config must have") from error
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{source}: {error}") from error


def args_to_hf_config(args: ModelArgs, dtype: torch.dtype) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": args.dim, "intermediate_size": args.hidden_dim, "num_hidden_layers": args.n_layers,
        "num_attention_heads": args.n_heads, "num_key_value_heads": args.kv_heads, "head_dim": args.head_dim,
        "vocab_size": args.vocab_size, "rms_norm_eps": args.norm_eps, "rope_theta": args.rope_theta,
        "max_position_embeddings": args.max_seq_len, "hidden_act": "silu", "tie_word_embeddings": False,
        "attention_bias": False, "mlp_bias": False, "bos_token_id": 1, "eos_token_id": 2,
        "torch_dtype": str(dtype).removeprefix("torch."),
    }


def _rotary_permute(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Meta -> HF: within each head, move the interleaved pairs (0,1),(2,3).. to halves (0,hd/2),(1,hd/2+1).."""
    rows, cols = w.shape
    return w.view(n_heads, rows // n_heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def _rotary_unpermute(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """HF -> Meta: the inverse of _rotary_permute (a copy; a mapped w is let go)."""
    rows, cols = w.shape
    unpermuted = w.view(n_heads, 2, rows // n_heads // 2, cols).transpose(1, 2).reshape(rows, cols)
    _let_go(w)
    return unpermuted


_META_LAYER_NAMES = {hf: meta for meta, hf in HF_LAYER_NAMES.items()}
_META_TOP_NAMES = {hf: meta for meta, hf in HF_TOP_NAMES.items()}


def _meta_name(hf_name: str) -> str:
    """'model.layers.3.self_attn.q_proj.weight' -> 'layers.3.attention.wq.weight'; names it does not know stay."""
    layer = re.fullmatch(r"model\.layers\.(\d+)\.(.+)", hf_name)
    if layer and layer[2] in _META_LAYER_NAMES:
        return f"layers.{layer[1]}.{_META_LAYER_NAMES[layer[2]]}"
    return _META_TOP_NAMES.get(hf_name, hf_name)


def hf_to_meta_names(state: dict[str, torch.Tensor], args: ModelArgs, tied: bool = False) -> dict[str, torch.Tensor]:
    """Meta's names and rotary layout; tied=True (config.json's tie_word_embeddings) fills in a missing output head
    with the embedding, as transformers does."""
    out = {}
    for key, tensor in state.items():
        if key.endswith("rotary_emb.inv_freq"):
            continue  # older checkpoints store the rotary frequencies; we recompute them
        name = _meta_name(key)
        if name.endswith("attention.wq.weight") and len(tensor.shape) == 2:
            tensor = _then(tensor, lambda w: _rotary_unpermute(w, args.n_heads))
        elif name.endswith("attention.wk.weight") and len(tensor.shape) == 2:
            tensor = _then(tensor, lambda w: _rotary_unpermute(w, args.kv_heads))
        out[name] = tensor
    if tied and "output.weight" not in out and "tok_embeddings.weight" in out:  # the kit's two are not tied
        out["output.weight"] = _then(out["tok_embeddings.weight"], torch.clone)  # (the head is laid out in place)
    return out


def meta_to_hf_names(state: dict[str, torch.Tensor], args: ModelArgs) -> dict[str, torch.Tensor]:
    out = {}
    for key, tensor in state.items():
        suffix = _suffix(key)
        if key in HF_TOP_NAMES:
            name = HF_TOP_NAMES[key]
        else:
            name = f"model.layers.{key.split('.')[1]}.{HF_LAYER_NAMES[suffix]}"
        if suffix == "attention.wq.weight":
            tensor = _rotary_permute(tensor, args.n_heads)
        elif suffix == "attention.wk.weight":
            tensor = _rotary_permute(tensor, args.kv_heads)
        out[name] = tensor.contiguous()
    return out


def _load_hf(path: Path) -> tuple[ModelArgs, dict[str, torch.Tensor]]:
    config = _read_json(path / "config.json")
    args = hf_config_to_args(config, path / "config.json")
    files = _checkpoint_files(path, "*.safetensors", "pytorch_model*.bin")
    state: dict[str, torch.Tensor] = {}
    for file in files:
        part = _read_safetensors(file) if file.suffix == ".safetensors" else _read_pth(file)
        clash = set(part) & set(state)
        if clash:
            raise CheckpointError(f"{file}: shards disagree: {sorted(clash)[:5]} also appear in another file")
        state.update(part)
    return args, hf_to_meta_names(state, args, tied=bool(config.get("tie_word_embeddings")))


# ------------------------------------------------------------------------------------------------- kit

def _load_kit(path: Path) -> tuple[ModelArgs, dict[str, torch.Tensor]]:
    state = _read_safetensors(path / "model.safetensors")
    params = _read_json(path / "params.json")
    return _meta_args(params, state, path / "params.json"), state


# ------------------------------------------------------------------------------------------ public API

def _skeleton(args: ModelArgs) -> Llama:
    """The model's modules on the meta device: shapes and no memory. The embedding's random init is skipped: the
    checkpoint replaces it, and normal_ on a meta tensor imports torch._dynamo, which alone costs over a second."""
    with torch.device("meta"), mock.patch.object(nn.Embedding, "reset_parameters", lambda self: None):
        return Llama(args)


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
    shapes = {k: tuple(v.shape) for k, v in _skeleton(args.with_(n_layers=1)).state_dict().items()}
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

    One pass and no copy: the least and the greatest number are finite only if every number is (NaN spreads).
    """
    if tensor.numel() == 0 or all(torch.isfinite(extreme) for extreme in torch.aminmax(tensor)):
        return
    bad = tensor.numel() - int(torch.isfinite(tensor).sum())
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
    """
    dtype, device = _as_dtype(dtype), _as_device(device)
    path = Path(path)
    fmt, args, state, quantization = _read_checkpoint(path)
    if max_seq_len is not None:
        args = args.with_(max_seq_len=max_seq_len)
    scheme = Scheme.parse(quantize) if quantize is not None else None
    if fmt == "kit-quantized":
        return _load_quantized(path, args, state, quantization, device, dtype, scheme)
    _check_weights(args, state, path, CONFIG_FILES[fmt])
    model = _skeleton(args)
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
            owner, _, attribute = name.rpartition(".")
            placed.append(take(prefix + name))
            setattr(module.get_submodule(owner), attribute, nn.Parameter(placed[-1]))
        return placed

    # The weights arrive a block at a time; whatever still reads the file is copied out of it, and the file's
    # pages of a tensor that was copied (converted, or moved to a GPU) are let go, so that memory never holds much
    # more than one copy of the weights.
    blocks = [(f"layers.{i}.", layer) for i, layer in enumerate(model.layers)]
    for prefix, module in [("output.", model.output), *blocks, ("tok_embeddings.", model.tok_embeddings),
                           ("norm.", model.norm)]:
        placed = place(module, prefix)
        _own(module)
        if scheme is not None and prefix == "output.":
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
    model = quantize_model(_skeleton(args).to(weights_dtype), scheme)  # on the meta device: shapes only
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
        converted = tensor.to(device=device, dtype=tensor.dtype if keep or dtype is None else dtype, copy=True)
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


# A save's plan while it moves its files from its temporary folder into the checkpoint's: see _finish_switch.
SWITCH = ".llama_lab.switch.json"


def _save_step(what: str) -> None:
    """Called after each step of a save that leaves something on disk. It does nothing: the tests make it end the
    process there, to show that a save killed at any step leaves the old checkpoint or the new one."""


def _temporary_prefix(path: Path) -> str:
    """How the name of a save's temporary folder beside `path` starts: with this process's id in it."""
    return f".{path.name}.llama-lab-save.{os.getpid()}."


def _temporary_pid(path: Path, name: str) -> int | None:
    """The id of the process whose save to `path` made the temporary folder `name`; None if it is not one."""
    match = re.fullmatch(re.escape(f".{path.name}.llama-lab-save.") + r"(\d+)\.\w+", name)
    return int(match[1]) if match else None


def _lock_file(path: Path) -> Path:
    """The lock of the checkpoint folder `path`: a file beside it, so that the checkpoint holds only its own."""
    return path.parent / f".{path.name}.llama-lab.lock"


@contextlib.contextmanager
def _locked(path: Path, saving: bool = True) -> Iterator[None]:
    """Hold the lock of the checkpoint folder `path` (flock on _lock_file) for the body, waiting for it if another
    process holds it, with a note on stderr saying so.

    The kernel lets a lock go when its holder ends, even killed, so a lock is never left held. The file is removed
    by its holder before it lets go; one who waited on a file that has been removed by then holds nothing, and
    locks the file now at that name. Without `saving` (a load), a folder where the user may not create the lock
    file is read without it: no save of theirs can be under way there.
    """
    lock, fd = _lock_file(path), None
    while fcntl is not None and fd is None:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError:
            if saving:
                raise
            break
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 20, 0).decode(errors="replace").strip() or "another process"
                print(f"waiting for process {holder} to finish saving to or loading from {path}", file=sys.stderr,
                      flush=True)
                fcntl.flock(fd, fcntl.LOCK_EX)
            if not os.path.exists(lock) or not os.path.samestat(os.fstat(fd), os.stat(lock)):
                os.close(fd)  # its holder removed it: lock the new one
                fd = None
        except BaseException:
            os.close(fd)
            raise
    try:
        if fd is not None:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())  # for a note of whoever waits
        yield
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                lock.unlink()
            os.close(fd)


def _finish_switch(path: Path) -> None:
    """Finish a save that was moving its files into `path` when it stopped (killed, a power cut).

    A save writes its plan (files to move in, files of its own earlier save to remove) into the folder, by an
    atomic rename, only once every new file is on disk in its temporary folder; from then on it can always be
    finished. load_model and save_model finish it before reading or writing the folder, so that no one ever
    reads half the old checkpoint and half the new.
    """
    plan_file = path / SWITCH
    if not plan_file.is_file():
        return
    plan = _read_json(plan_file)
    names = plan.get("files", []) + plan.get("remove", [])
    if _temporary_pid(path, str(plan.get("from"))) is None or not all(_plain_name(name) for name in names):
        raise CheckpointError(f"{plan_file}: not a plan save_model wrote: remove the file, then load again")
    temporary = path.parent / plan["from"]
    try:
        for name in plan["files"]:
            if (temporary / name).exists():
                os.replace(temporary / name, path / name)
                _save_step(f"moved {name}")
        for name in plan["remove"]:
            (path / name).unlink(missing_ok=True)
            _save_step(f"removed {name}")
        fsync(path)
        plan_file.unlink()
        fsync(path)
    except OSError as error:
        raise CheckpointError(f"{path}: a save to this folder was interrupted, and finishing it failed ({error}). "
                              "Load it once where you may write to the folder.") from error
    _save_step("switched")
    shutil.rmtree(temporary, ignore_errors=True)


def _save_folder(path: Path, fmt: str, write) -> Path:
    """Run write(folder) on a temporary folder beside `path`, then put its files in place of the earlier save's.

    Killed at any point, `path` holds the old checkpoint or the new one. Every file is written and flushed in the
    temporary folder first. A new folder then arrives by one rename. Into an existing one, the files move by a
    plan (_finish_switch), which also removes the files the kit wrote there before and the new save does not
    have: those its record lists, and nothing else, so a user's files in the folder stay. The switch runs under
    the folder's lock (_locked): a save that comes to switch while another does waits, then replaces the other's
    checkpoint whole.
    """
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} is a file: save_model writes a folder. Choose another path.")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):  # a save killed after its plan still has files in its temporary folder: finish it first
        if path.exists():
            _finish_switch(path)
        remove_leftovers(path.parent, lambda name: _temporary_pid(path, name))  # saves killed before their switch
    temporary = Path(tempfile.mkdtemp(prefix=_temporary_prefix(path), dir=path.parent))
    with contextlib.ExitStack() as switching:
        try:
            files = _write_temporary(temporary, fmt, write)
            switching.enter_context(_locked(path))  # from here to the end, no other save or load of the folder
            if not path.exists():
                os.rename(temporary, path)
                _save_step("renamed")
                fsync(path.parent)
                return path
            _finish_switch(path)  # another save's, killed after its plan while this one was writing
            record = _record(path)
            earlier = set(record["files"]) if record else set()
            plan = {"from": temporary.name, "files": files + [RECORD], "remove": sorted(earlier - set(files))}
            (temporary / SWITCH).write_text(json.dumps(plan, indent=2))
            fsync(temporary / SWITCH)
            _save_step("planned")
        except BaseException:  # an error, or Ctrl-C: nothing was moved yet, the old checkpoint is whole
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        os.rename(temporary / SWITCH, path / SWITCH)  # from here on the save is done, even if killed: _finish_switch
        fsync(path)
        _save_step("committed")
        _finish_switch(path)
    return path


def _write_temporary(temporary: Path, fmt: str, write) -> list[str]:
    """Run write(temporary), add the kit's record of the files it wrote, flush every one to disk; returns their
    names (the record's aside)."""
    write(temporary)
    files = sorted(p.name for p in temporary.iterdir())
    (temporary / RECORD).write_text(json.dumps({"format": fmt, "files": files}, indent=2))
    # mkdtemp makes a private directory (0700) and safetensors writes 0600: give the checkpoint the
    # permissions any other file of the user's gets, so that colleagues on a shared machine can read it
    usual_permissions(temporary, folder=True)
    for file in temporary.iterdir():
        usual_permissions(file, folder=False)
        fsync(file)
        _save_step(f"wrote {file.name}")
    fsync(temporary)
    return files


def save_model(model: Llama, path: str | os.PathLike, format: str = "hf", dtype=None, num_shards: int = 1,
               tokenizer=None) -> Path:
    """Write `model` as a checkpoint directory.

    format="hf": config.json + model.safetensors, loadable by transformers' AutoModelForCausalLM.
    format="meta": params.json + consolidated.00.pth (.. NN with num_shards > 1).
    format="kit": params.json + model.safetensors in Meta's layout; the only format for a quantized model
    (`llama_lab.quantize`), whose integers and scales are saved as they are, with quantization.json beside them.
    With a `tokenizer` (a Tokenizer, or the path of a tokenizer.model), its tokenizer.model is copied beside the
    weights (for "hf", with what transformers needs to tokenize exactly as the kit does: see
    tokenizer.write_for_transformers; and Llama 2's chat template, which gives encode_dialog's ids from
    `AutoTokenizer.from_pretrained(path, split_special_tokens=False).apply_chat_template(dialog)`: see
    chat.HF_CHAT_TEMPLATE).
    Saving over a folder replaces the files the kit saved there before and leaves every other file alone.
    """
    if not isinstance(model, Llama):
        raise TypeError(f"save_model saves the kit's Llama (llama_lab.model.Llama: from load_model, build_model or "
                        f"training); got {type(model).__module__}.{type(model).__qualname__}"
                        + (": pass the model it wraps, model._orig_mod" if hasattr(model, "_orig_mod") else
                           ": pass the model it wraps, model.module" if isinstance(getattr(model, "module", None),
                                                                                  Llama) else ""))
    if format not in ("hf", "meta", "kit"):
        raise ValueError(f"format={format!r}: use 'hf', 'meta' or 'kit'")
    if not isinstance(num_shards, int) or isinstance(num_shards, bool) or num_shards < 1:
        raise ValueError(f"num_shards={num_shards!r} must be a whole number of at least 1 (Meta's 7B ships 1, "
                         "13B 2, 70B 8)")
    if tokenizer is not None and not isinstance(tokenizer, Tokenizer):
        if not isinstance(tokenizer, (str, os.PathLike)):
            raise TypeError(f"tokenizer={tokenizer!r}: give a Tokenizer, or the path of its tokenizer.model")
        tokenizer = Tokenizer(tokenizer)  # a SentencePiece model, or a FileNotFoundError / ValueError saying not
    dtype = _as_dtype(dtype)
    args = model.args
    scheme = quantization_of(model)
    if scheme is not None and format != "kit":
        raise ValueError(f"a quantized model ({scheme.name}) saves in the kit's format only (format='kit'): Meta's "
                         "and Hugging Face's hold floating-point weights. Save the model before quantizing it")

    def saved(name: str, tensor: torch.Tensor) -> torch.Tensor:  # integers and quantization scales as they are
        keep = scheme is not None and (name.endswith(".scale") or not tensor.is_floating_point())
        return tensor.detach().to("cpu", dtype=tensor.dtype if keep else dtype or tensor.dtype).contiguous()

    state = {k: saved(k, v) for k, v in model.state_dict().items()}
    saved_dtype = state["tok_embeddings.weight"].dtype

    def write(tmp: Path):
        if format == "hf":
            (tmp / "config.json").write_text(json.dumps(args_to_hf_config(args, saved_dtype), indent=2))
            (tmp / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 2}))
            save_file(meta_to_hf_names(state, args), tmp / "model.safetensors", metadata={"format": "pt"})
        else:
            (tmp / "params.json").write_text(json.dumps(args.to_dict(), indent=2))
            if format == "kit":
                save_file(state, tmp / "model.safetensors", metadata={"format": "pt"})
                if scheme is not None:
                    weights = next(m.dtype for m in model.modules() if isinstance(m, QuantizedLinear))
                    (tmp / "quantization.json").write_text(json.dumps(
                        {"scheme": scheme.name, "dtype": str(dtype or weights).removeprefix("torch.")}, indent=2))
            else:
                for i, shard in enumerate(split_meta_shards(state, num_shards)):
                    torch.save(shard, tmp / f"consolidated.{i:02d}.pth")
        if tokenizer is not None and format == "hf":
            write_for_transformers(tokenizer, tmp, args.max_seq_len)
            tokenizer_config = tmp / "tokenizer_config.json"  # and Llama 2's chat format, for apply_chat_template
            tokenizer_config.write_text(json.dumps(
                {**json.loads(tokenizer_config.read_text()), "chat_template": HF_CHAT_TEMPLATE}, indent=2))
        elif tokenizer is not None:
            shutil.copyfile(tokenizer.path, tmp / "tokenizer.model")

    return _save_folder(Path(path), "kit-quantized" if scheme is not None else format, write)
