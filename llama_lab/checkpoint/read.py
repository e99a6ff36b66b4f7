"""Reading a checkpoint's files safely, and telling its format from them.

Tensors come from safetensors or from `torch.load(weights_only=True, mmap=True)`, so a pickle can never run code;
anything wrong with a file raises `CheckpointError` naming it. A safetensors file's tensors stay in the file until
they are needed (`Unread`), then are read straight into memory of their own, with one read each and no mapping. A
.pth file is mapped into memory; the pages of a tensor whose numbers have been copied elsewhere are handed back
(`_let_go`). Either way memory holds about one copy of the weights while a model loads.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import pickle
import re
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from ..modules import replace_by_name

class CheckpointError(Exception):
    """A checkpoint that cannot be loaded: the message names the file and what is wrong with it."""


DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16, "half": torch.float16}
# The dtypes the model computes in. Integer and float8 weights are quantized: they mean something only with scales
# the kit does not read, and torch's matrix products refuse them anyway.
SUPPORTED = "supported: float32, float16, bfloat16"


def _as_dtype(dtype) -> torch.dtype | None:
    """`dtype` as a torch.dtype the model computes in (None stays None: keep the checkpoint's), or a ValueError."""
    if dtype is None or dtype in DTYPES.values():
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not {SUPPORTED} (also by the names {sorted(DTYPES)})")
    return DTYPES[dtype]


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
_MADV_HUGEPAGE = 14  # Linux's
_HUGE_PAGE = 2**21  # bytes: a transparent huge page on x86-64 and most arm64 Linux systems
_SLICE = 2**18  # numbers copied at a time out of a mapped file (1 MiB in float32): see _copy_out


def _in_file(tensor: torch.Tensor) -> bool:
    """Whether the numbers of `tensor` are pages of a checkpoint file mapped into memory (it or a view of it)."""
    start = tensor.data_ptr()
    return any(m.data_ptr() <= start < m.data_ptr() + m.nbytes for m in list(_MAPPED.values()))


def _advise(tensor: torch.Tensor, advice: int, page: int = mmap.PAGESIZE) -> None:
    """madvise(advice) on the whole pages of `page` bytes that lie inside `tensor`'s numbers."""
    first = -(-tensor.data_ptr() // page) * page
    end = (tensor.data_ptr() + tensor.numel() * tensor.element_size()) // page * page
    if end > first:
        _LIBC.madvise(ctypes.c_void_p(first), ctypes.c_size_t(end - first), advice)


def _let_go(tensor: torch.Tensor) -> None:
    """Hand back the memory pages of a mapped checkpoint tensor whose numbers now live elsewhere (copied, joined).

    Pages read from a mapped file count as the process's memory for as long as the mapping lives, which is as long
    as any tensor of the file does: without this, loading Meta's .pth would hold the file's copy of every weight it
    rearranges as well as the rearranged one. These pages were never written, so dropping them loses nothing (read
    again, they would come from the file); tensors that are not views of a mapped file are left alone.
    """
    if _LIBC is not None and _in_file(tensor):
        _advise(tensor, _MADV_DONTNEED)


def _empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised tensor for a checkpoint's numbers to be copied into.

    Most of the cost of copying a file into fresh memory is the first touch of each page, which the kernel must find
    and zero: on Linux a large tensor asks for transparent huge pages (2 MiB), touched 512 times less often than
    4 KiB ones. The kernel gives them where it has them free, and small pages otherwise.
    """
    tensor = torch.empty(shape, dtype=dtype)
    if sys.platform == "linux" and _LIBC is not None and tensor.nbytes >= 2 * _HUGE_PAGE:
        _advise(tensor, _MADV_HUGEPAGE, _HUGE_PAGE)
    return tensor


def _copy_out(tensor: torch.Tensor) -> torch.Tensor:
    """A copy of a mapped tensor in the process's own memory, made a slice at a time, each slice's pages handed back
    once copied: memory never holds the file's copy and ours of the whole tensor at once."""
    if not tensor.is_contiguous():
        copy = tensor.contiguous()
    else:
        # small pages here: copied a slice at a time out of a mapped file, the 50M model's .pth loaded in 0.47 s into
        # huge pages (_empty) against 0.10 s into small ones
        copy = torch.empty_like(tensor)
        source, target = tensor.view(-1), copy.view(-1)
        for start in range(0, source.numel(), _SLICE):
            target[start:start + _SLICE] = source[start:start + _SLICE]
            if _LIBC is not None:
                _advise(source[start:start + _SLICE], _MADV_DONTNEED)
    _let_go(tensor)
    return copy


def _own(module: nn.Module) -> None:
    """Copy every parameter of `module` that still reads a mapped checkpoint file into memory of its own.

    A model reading its file would change when the file is overwritten, and die of SIGBUS at its next forward
    pass when the file is truncated: a loaded model must not depend on the file staying as it was.
    """
    for name, parameter in list(module.named_parameters()):
        if _in_file(parameter):
            replace_by_name(module, name, nn.Parameter(_copy_out(parameter.detach()),
                                                       requires_grad=parameter.requires_grad))


def read_pth(path: Path) -> dict[str, torch.Tensor]:
    """A `.pth`/`.bin` state dict, loaded without running any pickled code; mapped into memory, read when used.

    A file holding anything but a dict of tensors, or one truncated or corrupt, raises CheckpointError naming it.
    """
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


# safetensors' names for the dtypes it stores ("dtype" in a file's header) that torch has under the same meaning.
SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                      "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
                      "U8": torch.uint8, "BOOL": torch.bool}


class _OpenFile:
    """A file open for reading until nothing reads it any more: what is read from it is what it held when opened,
    whatever is renamed over it meanwhile (a save switching files)."""

    def __init__(self, path: Path):
        self.path = path
        self.file = open(path, "rb", buffering=0)  # a raw file: readinto is one read() into the buffer given
        weakref.finalize(self, self.file.close)

    def read_into(self, tensor: torch.Tensor, offset: int) -> torch.Tensor:
        """Fill `tensor` (contiguous) with the bytes at `offset` in the file, read straight into its memory."""
        target = memoryview(tensor.view(-1).view(torch.uint8).numpy())
        self.file.seek(offset)
        done = 0
        while done < len(target):  # a read returns at most about 2 GiB on Linux, and less at the end of the file
            count = self.file.readinto(target[done:])
            if not count:
                raise CheckpointError(f"{self.path}: the file ends {len(target) - done:,} bytes before the tensor "
                                      "its header announces: it was truncated. Download or copy it again.")
            done += count
        return tensor


def read_safetensors(path: Path) -> dict[str, Unread]:
    """The tensors of a .safetensors file, unread: the header is checked now, and each tensor is read into memory of
    its own when needed, one read() straight from the file into the tensor: no mapping, no second copy."""
    _regular(path)
    try:
        # safetensors checks the header: its tensors' offsets tile the rest of the file, each as long as its shape
        file = safe_open(path, framework="pt", device="cpu")
        shapes = {key: tuple(file.get_slice(key).get_shape()) for key in file.keys()}
        opened = _OpenFile(path)
        header_bytes = int.from_bytes(opened.file.read(8), "little")
        header = json.loads(opened.file.read(header_bytes))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{path}: truncated or corrupt safetensors file ({error})") from error

    def read(key):
        (begin, _), dtype = header[key]["data_offsets"], SAFETENSORS_DTYPES.get(header[key]["dtype"])
        if dtype is None:  # float8 and the like: as safetensors gives them, a view of its mapping of the file
            tensor = file.get_tensor(key)
            _MAPPED[id(tensor)] = tensor
            return tensor
        return opened.read_into(_empty(shapes[key], dtype), 8 + header_bytes + begin)

    return {key: Unread(shape, lambda key=key: read(key)) for key, shape in shapes.items()}


# What save_model wrote into a folder, so that saving again replaces those files and no others, and loading reads
# them and no others: {"format": "hf", "files": ["config.json", ...]}.
RECORD = ".llama_lab.json"
FORMATS = ("meta", "hf", "kit", "kit-quantized")


def _record(path: Path) -> dict | None:
    """The kit's record of the checkpoint it saved in `path`; None if there is none, or if its files have gone."""
    try:
        record = json.loads(_regular(path / RECORD).read_text())
        names = list(record["files"])
        fmt = record["format"]
    except (OSError, ValueError, KeyError, TypeError, CheckpointError):
        return None
    if fmt not in FORMATS or not all(_plain_name(n) and (path / n).is_file() for n in names):
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
