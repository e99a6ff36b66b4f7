"""The kit's hand-written kernels: the weight-only int8 and int4 products on an x86 CPU (`quantized_linear.c`).

Decoding with int8 weights (`llama_lab.quantize`) is faster than with float32 only if the product reads the int8
bytes as they are stored. torch has such an operator (`aten._weight_int8pack_mm`), but on a CPU without AVX-512
it multiplies one number at a time, and Inductor's code for "widen, then multiply" loads 8 bytes through a slow
partial-vector path: both stream 1-4 GB/s, against the 20+ GB/s the memory gives a float32 product here
(docs/benchmarks.md). The int8 product in `quantized_linear.c` is 40 lines of AVX2: it reads 22 GB/s. The int4
product there reads the packed 4-bit codes as stored, half a byte a weight, with a scale and a zero per group of 32
to 128 columns; torch's CPU int4 operator (`aten._weight_int4pack_mm_for_cpu`) is 5 to 15 times slower here, and
stays as the fallback (`TorchInt4Linear`).

The kernels are compiled on first use with the machine's C compiler (the one torch.compile uses on a CPU) into
the user's cache (~/.cache/llama_lab/kernels/, named by a hash of the source and flags), and registered with
torch as the operators `llama_lab::int8_linear` and `llama_lab::int4_linear`, so that a compiled decoding step calls
them like any other. Where they cannot be built (no compiler, no AVX2, not x86), `int8_kernel_problem()` says why and
decoding runs the quantized layers' own forward (int4: torch's operator): the same numbers, slower.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
from pathlib import Path

import torch
from torch import nn

from ..files import replacing
from ..quantize import QuantizedLinear, unpack_int4

SOURCE = Path(__file__).with_name("quantized_linear.c")
FLAGS = ("-O3", "-mavx2", "-mfma", "-fopenmp", "-shared", "-fPIC")


def cache_dir() -> Path:
    """Where built kernels are kept: $XDG_CACHE_HOME/llama_lab/kernels, else ~/.cache/llama_lab/kernels."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "llama_lab" / "kernels"


class KernelUnavailable(Exception):
    """The kernel cannot run on this machine; the message says why."""


@functools.cache  # a shared library is loaded once per process, as a module is imported once
def _library() -> ctypes.CDLL:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        raise KernelUnavailable(f"the int8 kernel is for x86 CPUs; this one is {platform.machine()}")
    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in ("AVX2", "AVX512"):
        raise KernelUnavailable(f"the int8 kernel needs AVX2; torch finds {capability} on this CPU")
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        raise KernelUnavailable("no C compiler found (set CC, or install gcc): the int8 kernel is built on first use")
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source + " ".join(FLAGS).encode()).hexdigest()[:16]
    target = cache_dir() / f"int8_linear-{digest}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with replacing(target) as building:
                built = subprocess.run([compiler, *FLAGS, str(SOURCE), "-o", str(building)], capture_output=True,
                                       text=True)
                if built.returncode:
                    raise KernelUnavailable(f"{compiler} could not build {SOURCE.name}: "
                                            f"{(built.stderr.strip().splitlines() or ['no message'])[-1]}")
        except OSError as error:
            raise KernelUnavailable(f"could not build the int8 kernel into {target.parent}: {error}") from error
    library = ctypes.CDLL(str(target))
    library.int8_linear.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int64] * 3
    library.int8_linear.restype = None
    library.int4_linear.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_int64] * 4
    library.int4_linear.restype = None
    return library


def int8_kernel_problem() -> str | None:
    """None when the int8 kernel runs here (building it if need be), else why not, in one sentence."""
    try:
        _library()
    except KernelUnavailable as why:
        return str(why)
    return None


def _int8_linear(x: torch.Tensor, qweight: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x (..., K) float32 times the int8 weight qweight (N, K) with one float32 scale per row (N,):
    (..., N) float32, the numbers of F.linear(x, qweight * scale[:, None]) summed in another order."""
    x = x.contiguous()
    out = x.new_empty(x.shape[:-1] + (qweight.shape[0],))
    _library().int8_linear(x.data_ptr(), qweight.data_ptr(), scale.data_ptr(), out.data_ptr(),
                           x.numel() // x.shape[-1], qweight.shape[0], qweight.shape[1])
    return out


def _int4_linear(x: torch.Tensor, qweight: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor,
                 group_size: int) -> torch.Tensor:
    """x (..., K) float32 times the groupwise int4 weight: qweight (N, K / 2) packed (packing.pack_int4), scale
    (N, K / group_size) float32, zero (N, K / group_size) uint8: (..., N) float32, the numbers of
    F.linear(x, (q - zero) * scale) summed in another order."""
    x = x.contiguous()
    out = x.new_empty(x.shape[:-1] + (qweight.shape[0],))
    _library().int4_linear(x.data_ptr(), qweight.data_ptr(), scale.data_ptr(), zero.data_ptr(), out.data_ptr(),
                           x.numel() // x.shape[-1], qweight.shape[0], x.shape[-1], group_size)
    return out


# The operator torch.ops.llama_lab.int8_linear: defined with torch.library (a third of torch.library.custom_op's
# cost per call, which a decoding step pays 25 times for the 50M model), with its shape rule for torch.compile.
_OPERATORS = torch.library.Library("llama_lab", "DEF")
_OPERATORS.define("int8_linear(Tensor x, Tensor qweight, Tensor scale) -> Tensor")
_OPERATORS.define("int4_linear(Tensor x, Tensor qweight, Tensor scale, Tensor zero, int group_size) -> Tensor")
_OPERATORS.impl("int8_linear", _int8_linear, "CPU")
_OPERATORS.impl("int4_linear", _int4_linear, "CPU")


@torch.library.register_fake("llama_lab::int8_linear")
def _(x, qweight, scale):
    return x.new_empty(x.shape[:-1] + (qweight.shape[0],))


@torch.library.register_fake("llama_lab::int4_linear")
def _(x, qweight, scale, zero, group_size):
    return x.new_empty(x.shape[:-1] + (qweight.shape[0],))


class Int8KernelLinear(nn.Module):
    """An int8 QuantizedLinear whose product runs on `int8_linear` (it shares the layer's buffers)."""

    def __init__(self, layer: QuantizedLinear):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float32:  # the kernel multiplies float32 rows
            return self.layer(x)
        return torch.ops.llama_lab.int8_linear(x, self.layer.qweight, self.layer.scale)


class Int4KernelLinear(nn.Module):
    """An int4 QuantizedLinear whose product runs on the kit's `int4_linear` (it shares the layer's buffers)."""

    def __init__(self, layer: QuantizedLinear):
        super().__init__()
        self.layer, self.group_size = layer, layer.scheme.group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float32:  # the kernel multiplies float32 rows
            return self.layer(x)
        return torch.ops.llama_lab.int4_linear(x, self.layer.qweight, self.layer.scale, self.layer.zero,
                                               self.group_size)


class TorchInt4Linear(nn.Module):
    """An int4 QuantizedLinear whose product runs on torch's CPU int4 operator (`aten._weight_int4pack_mm_for_cpu`,
    outside torch's public API, used here alone), where the kit's kernel cannot. The operator takes its own packing
    of the 4-bit values and, per group, a scale and an offset with W = (q - 8) * scale + offset, i.e. offset =
    (8 - zero) * scale: made here, once, from the layer's buffers (a copy of the weight in that layout)."""

    def __init__(self, layer: QuantizedLinear):
        super().__init__()
        self.layer, self.group_size = layer, layer.scheme.group_size
        q = unpack_int4(layer.qweight).to(torch.int32)  # (out, in), values 0..15
        self.register_buffer("packed", torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, 1))
        scale = layer.scale.float()
        offset = (8 - layer.zero.float()) * scale
        self.register_buffer("scales_and_offsets", torch.stack((scale, offset), -1).transpose(0, 1).contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float32:
            return self.layer(x)
        rows = x.reshape(-1, x.shape[-1])  # (M, in)
        out = torch.ops.aten._weight_int4pack_mm_for_cpu(rows, self.packed, self.group_size, self.scales_and_offsets)
        return out.reshape(*x.shape[:-1], out.shape[-1])


def with_kernel(layer: QuantizedLinear) -> nn.Module:
    """`layer` as decoding runs it on a CPU: int8 and int4 on the kit's kernels where they run (int4 otherwise on
    torch's CPU int4 operator); elsewhere, or otherwise, the layer itself. (All take float32 inputs; others go to
    the layer.)"""
    if layer.qweight.device.type != "cpu":
        return layer
    kit_kernel = (layer.scale.dtype == torch.float32 and layer.qweight.is_contiguous() and layer.scale.is_contiguous()
                  and int8_kernel_problem() is None)
    if layer.scheme.bits == 4:
        usable = kit_kernel and layer.scheme.group_size % 32 == 0 and layer.zero.is_contiguous()
        return Int4KernelLinear(layer) if usable else TorchInt4Linear(layer)
    return Int8KernelLinear(layer) if kit_kernel else layer
