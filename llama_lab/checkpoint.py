"""Checkpoints in, checkpoints out: Meta's format, Hugging Face's, and the kit's own.

- Meta: `params.json` + `consolidated.00.pth` (.. `consolidated.NN.pth` for model-parallel shards: 13B ships 2,
  70B 8). Each shard holds a slice of every split weight; `MERGE_DIM` says along which dimension.
- Hugging Face: `config.json` + `*.safetensors` (or `pytorch_model*.bin`), with its own names and with wq/wk
  permuted so that rotary embeddings can rotate halves of each head instead of interleaved pairs.
- The kit: `params.json` + `model.safetensors`, Meta's names and layout, one file.

Loading is safe and lean: tensors come from safetensors or from `torch.load(weights_only=True, mmap=True)` (a
pickle can never run code); the model is built on the meta device and receives the tensors one at a time, each laid out for
decoding as it arrives, so memory holds about one copy of the weights. Anything wrong raises `CheckpointError`
naming the file.
Saving writes into a temporary directory and renames it into place, so a crash never leaves half a checkpoint.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import pickle
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from unittest import mock
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .model import Llama, ModelArgs


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


def _suffix(name: str) -> str:
    """'layers.3.attention.wq.weight' -> 'attention.wq.weight'."""
    return re.sub(r"^layers\.\d+\.", "", name)


def _as_dtype(dtype) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not one of {sorted(DTYPES)}")
    return DTYPES[dtype]


# ------------------------------------------------------------------------------------------- reading files

def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{path}: not readable JSON ({error})") from error


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


def _let_go(tensor: torch.Tensor) -> None:
    """Hand back the memory pages of a mapped checkpoint tensor whose numbers now live elsewhere (copied, joined).

    Pages read from a mapped file count as the process's memory for as long as the mapping lives, which is as long
    as any tensor of the file does: without this, loading Meta's .pth would hold the file's copy of every weight it
    rearranges as well as the rearranged one. These pages were never written, so dropping them loses nothing (read
    again, they would come from the file); tensors that are not views of a mapped file are left alone.
    """
    if _LIBC is None or _MAPPED.get(id(tensor)) is not tensor:
        return
    first = -(-tensor.data_ptr() // mmap.PAGESIZE) * mmap.PAGESIZE  # whole pages inside the tensor only
    end = (tensor.data_ptr() + tensor.numel() * tensor.element_size()) // mmap.PAGESIZE * mmap.PAGESIZE
    if end > first:
        _LIBC.madvise(ctypes.c_void_p(first), ctypes.c_size_t(end - first), _MADV_DONTNEED)


def _read_pth(path: Path) -> dict[str, torch.Tensor]:
    """A `.pth`/`.bin` state dict, loaded without running any pickled code; mapped into memory, read when used."""
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


def detect_format(path: str | os.PathLike) -> str:
    """'meta', 'hf' or 'kit', from the files in the directory."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a directory. Point load_model at the folder that holds the "
                              "checkpoint (params.json + consolidated.*.pth, config.json + *.safetensors, ...)")
    names = {p.name for p in path.iterdir()}
    if "params.json" in names and any(re.fullmatch(r"consolidated\.\d+\.pth", n) for n in names):
        return "meta"
    if "params.json" in names and "model.safetensors" in names:
        return "kit"
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
    if params.get("vocab_size", -1) <= 0:  # Meta's params.json says -1: the tokenizer decides
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
    files = sorted(path.glob("consolidated.*.pth"))
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


def hf_config_to_args(config: dict, source: Path) -> ModelArgs:
    try:
        rope = config.get("rope_parameters") or {}
        if (config.get("rope_scaling") or rope.get("rope_type", "default")) not in (None, "default"):
            raise CheckpointError(f"{source}: rope scaling {config.get('rope_scaling') or rope} is not Llama 2's")
        dim = config["hidden_size"]
        return ModelArgs(
            dim=dim, n_layers=config["num_hidden_layers"], n_heads=config["num_attention_heads"],
            n_kv_heads=config.get("num_key_value_heads"), vocab_size=config["vocab_size"],
            norm_eps=config.get("rms_norm_eps", 1e-5),
            rope_theta=config.get("rope_theta", rope.get("rope_theta", 10000.0)),
            max_seq_len=config.get("max_position_embeddings", 4096),
            **_hf_ffn_args(dim, config["intermediate_size"]))
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


def hf_to_meta_names(state: dict[str, torch.Tensor], args: ModelArgs) -> dict[str, torch.Tensor]:
    to_meta = {hf: meta for meta, hf in HF_TOP_NAMES.items()}
    for i in range(args.n_layers):
        to_meta.update({f"model.layers.{i}.{hf}": f"layers.{i}.{meta}" for meta, hf in HF_LAYER_NAMES.items()})
    out = {}
    for key, tensor in state.items():
        if key.endswith("rotary_emb.inv_freq"):
            continue  # older checkpoints store the rotary frequencies; we recompute them
        name = to_meta.get(key, key)
        if name.endswith("attention.wq.weight") and len(tensor.shape) == 2:
            tensor = _then(tensor, lambda w: _rotary_unpermute(w, args.n_heads))
        elif name.endswith("attention.wk.weight") and len(tensor.shape) == 2:
            tensor = _then(tensor, lambda w: _rotary_unpermute(w, args.kv_heads))
        out[name] = tensor
    if "output.weight" not in out and "tok_embeddings.weight" in out:  # tied embeddings: the kit's are two
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
    args = hf_config_to_args(_read_json(path / "config.json"), path / "config.json")
    files = sorted(path.glob("*.safetensors")) or sorted(path.glob("pytorch_model*.bin"))
    state: dict[str, torch.Tensor] = {}
    for file in files:
        part = _read_safetensors(file) if file.suffix == ".safetensors" else _read_pth(file)
        clash = set(part) & set(state)
        if clash:
            raise CheckpointError(f"{file}: shards disagree: {sorted(clash)[:5]} also appear in another file")
        state.update(part)
    return args, hf_to_meta_names(state, args)


# ------------------------------------------------------------------------------------------------- kit

def _load_kit(path: Path) -> tuple[ModelArgs, dict[str, torch.Tensor]]:
    state = _read_safetensors(path / "model.safetensors")
    params = _read_json(path / "params.json")
    return _meta_args(params, state, path / "params.json"), state


# ------------------------------------------------------------------------------------------ public API

def _check_state_dict(state: dict[str, torch.Tensor], model: Llama, source: Path) -> None:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = [f"{k}: file {tuple(state[k].shape)} vs model {expected[k]}"
                 for k in sorted(set(expected) & set(state)) if tuple(state[k].shape) != expected[k]]
    problems = []
    if missing:
        problems.append(f"missing tensors ({len(missing)}): {missing[:8]}")
    if unexpected:
        problems.append(f"unexpected tensors ({len(unexpected)}): {unexpected[:8]}")
    if misshaped:
        problems.append(f"mis-shaped tensors ({len(misshaped)}): {misshaped[:8]}")
    if problems:
        raise CheckpointError(f"{source}: the weights do not match the configuration: " + "; ".join(problems))


def load_state(path: str | os.PathLike) -> tuple[ModelArgs, dict[str, torch.Tensor]]:
    """The configuration and the state dict (Meta's names and layout) of a checkpoint, in any format."""
    path = Path(path)
    fmt = detect_format(path)
    return {"meta": _load_meta, "hf": _load_hf, "kit": _load_kit}[fmt](path)


def load_model(path: str | os.PathLike, device=None, dtype=None, max_seq_len: int | None = None) -> Llama:
    """Load a checkpoint (Meta, Hugging Face or the kit's format) into a `Llama` in eval mode.

    dtype: None keeps the checkpoint's dtype; or torch.float32 / "bfloat16" / ... . device: "cpu" by default.
    max_seq_len overrides the context length (e.g. to use less memory for the rotary tables).
    The weights come laid out for decoding (Llama.store_weights_for_decoding).
    """
    dtype = _as_dtype(dtype)
    path = Path(path)
    args, state = load_state(path)
    if max_seq_len is not None:
        args = args.with_(max_seq_len=max_seq_len)
    # Build the skeleton on the meta device (no memory). The embedding's random init is skipped: the checkpoint
    # replaces it, and normal_ on a meta tensor imports torch._dynamo, which alone costs over a second.
    with torch.device("meta"), mock.patch.object(nn.Embedding, "reset_parameters", lambda self: None):
        model = Llama(args)
    _check_state_dict(state, model, path)
    device = torch.device(device or "cpu")

    def take(name: str) -> torch.Tensor:
        """The tensor `name`, read if need be, on the device and in the dtype asked for; the state lets go of it."""
        tensor = state.pop(name)
        tensor = tensor.read() if isinstance(tensor, Unread) else tensor
        converted = tensor.to(device=device, dtype=dtype or tensor.dtype)
        if converted is not tensor:
            _let_go(tensor)
        return converted

    def place(module: nn.Module, prefix: str = "") -> list[torch.Tensor]:
        """Give `module` its parameters from the state; returns the tensors as they came."""
        placed = []
        for name in [name for name, _ in module.named_parameters()]:
            owner, _, attribute = name.rpartition(".")
            placed.append(take(prefix + name))
            setattr(module.get_submodule(owner), attribute, nn.Parameter(placed[-1]))
        return placed

    # The weights arrive one at a time and are laid out for decoding as they come, so that memory never holds much
    # more than one copy of them: the output head first, while little else is in memory, since it is copied into
    # its layout by columns; then each block, whose wq, wk, wv (w1, w3) are joined into one matrix as soon as they
    # are read, after which the tensors they came in are let go.
    head = take("output.weight")  # (V, D)
    # (D, V) in plain row order, filled from the head's transpose: torch copies a transposed matrix into contiguous
    # memory block by block, 1.2x sooner than writing column by column (a 32000 x 512 head: 63 ms against 77 ms)
    columns = torch.empty(head.shape[1], head.shape[0], dtype=head.dtype, device=head.device).copy_(head.t())
    model.output.weight = nn.Parameter(columns.t())  # (V, D), stored by columns
    _let_go(head)
    for i, layer in enumerate(model.layers):
        placed = place(layer, prefix=f"layers.{i}.")
        layer.store_weights_for_decoding()
        kept = {p.data_ptr() for p in layer.parameters()}
        for tensor in placed:
            if tensor.data_ptr() not in kept:  # copied into a joined matrix
                _let_go(tensor)
    place(model.tok_embeddings, "tok_embeddings.")
    place(model.norm, "norm.")
    model.decoding_layout = True  # what store_weights_for_decoding does, done above a piece at a time
    model.init_rope(device)
    return model.eval()


def _atomic_directory(path: Path, write) -> Path:
    """Run write(tmp_dir), then move its files into `path`, each by an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        write(tmp)
        # mkdtemp makes a private directory (0700) and safetensors writes 0600: give the checkpoint the
        # permissions any other file of the user's gets, so that colleagues on a shared machine can read it
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        for file in tmp.iterdir():
            os.chmod(file, 0o666 & ~umask)
        if not path.exists():
            os.rename(tmp, path)
            return path
        written = {p.name for p in tmp.iterdir()}
        for stale in path.iterdir():  # weights of an earlier save that this one does not overwrite
            if stale.name not in written and re.fullmatch(
                    r"consolidated\.\d+\.pth|.*\.safetensors|pytorch_model.*\.bin|.*\.index\.json", stale.name):
                stale.unlink()
        for file in tmp.iterdir():
            os.replace(file, path / file.name)
        return path
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_model(model: Llama, path: str | os.PathLike, format: str = "hf", dtype=None, num_shards: int = 1,
               tokenizer=None) -> Path:
    """Write `model` as a checkpoint directory.

    format="hf": config.json + model.safetensors, loadable by transformers' AutoModelForCausalLM.
    format="meta": params.json + consolidated.00.pth (.. NN with num_shards > 1).
    format="kit": params.json + model.safetensors in Meta's layout.
    With a `tokenizer`, its tokenizer.model is copied beside the weights (and, for "hf", a tokenizer_config.json).
    """
    if format not in ("hf", "meta", "kit"):
        raise ValueError(f"format={format!r}: use 'hf', 'meta' or 'kit'")
    dtype = _as_dtype(dtype)
    args = model.args
    state = {k: v.detach().to("cpu", dtype=dtype or v.dtype).contiguous() for k, v in model.state_dict().items()}
    saved_dtype = next(iter(state.values())).dtype

    def write(tmp: Path):
        if format == "hf":
            (tmp / "config.json").write_text(json.dumps(args_to_hf_config(args, saved_dtype), indent=2))
            (tmp / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 2}))
            save_file(meta_to_hf_names(state, args), tmp / "model.safetensors", metadata={"format": "pt"})
        else:
            (tmp / "params.json").write_text(json.dumps(args.to_dict(), indent=2))
            if format == "kit":
                save_file(state, tmp / "model.safetensors", metadata={"format": "pt"})
            else:
                for i, shard in enumerate(split_meta_shards(state, num_shards)):
                    torch.save(shard, tmp / f"consolidated.{i:02d}.pth")
        if tokenizer is not None:
            shutil.copyfile(tokenizer.path, tmp / "tokenizer.model")
            if format == "hf":
                (tmp / "tokenizer_config.json").write_text(json.dumps({
                    "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>",
                    "unk_token": "<unk>", "add_bos_token": True, "add_eos_token": False,
                    "legacy": True, "model_max_length": args.max_seq_len}, indent=2))

    return _atomic_directory(Path(path), write)
