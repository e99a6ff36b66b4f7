"""The kit's hand-written kernels: the weight-only int8, int4 and NF4 products on an x86 CPU (`quantized_linear.c`).

Decoding with int8 or int4 weights (`llama_lab.quantize`) is faster than with float32 only if the product reads the
integers as they are stored, a quarter or an eighth of float32's bytes, and turns them into floats in registers.
torch has such operators for a CPU (`aten._weight_int8pack_mm`, `aten._weight_int4pack_mm_for_cpu`), but on this
kit's 2-core AMD EPYC they run 4 and 15 times slower than the kit's products (4096 x 11008, one row of x), and
Inductor's code for "widen, then multiply" loads 8 bytes through a slow partial-vector path (docs/benchmarks.md).
`quantized_linear.c` multiplies in tiles of four rows of weights by up to four rows of x, so that each weight is
made a float once for every row of x; its 4-bit products read the packed codes, half a byte a weight, with a scale
and (int4) a zero per group of 32 to 128 columns, or (NF4, `llama_lab.nf4`) an absmax per block of 64 and the 16
levels. torch's CPU int4 operator stays as the fallback (`TorchInt4Linear`).

The same source is built for AVX-512 and for AVX2 (INSTRUCTION_SETS), on first use, with the machine's C compiler
(the one torch.compile uses on a CPU), into the user's cache (~/.cache/llama_lab/kernels/, named by the
instruction set and a hash of the source and flags); the best one this CPU runs is used. The kernels are
registered with torch as the operators `llama_lab::int8_linear`, `llama_lab::int4_linear` and
`llama_lab::nf4_linear`, so that a compiled decoding step calls them like any other. Where they cannot be built (no
compiler, no AVX2, not x86), `int8_kernel_problem()` says why and decoding runs the quantized layers' own forward
(int4: torch's operator): the same numbers, slower.
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
from ..nf4 import BLOCK_SIZE, NF4, NF4Linear
from ..quantize import QuantizedLinear, unpack_int4

SOURCE = Path(__file__).with_name("quantized_linear.c")
COMMON_FLAGS = ("-O3", "-fopenmp", "-shared", "-fPIC")
# The instruction sets the kernels are built for, best first: the same source, compiled with each one's flags.
INSTRUCTION_SETS = {
    "avx512": ("-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx2", "-mfma"),
    "avx2": ("-mavx2", "-mfma"),
}


def cache_dir() -> Path:
    """Where built kernels are kept: $XDG_CACHE_HOME/llama_lab/kernels, else ~/.cache/llama_lab/kernels."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "llama_lab" / "kernels"


class KernelUnavailable(Exception):
    """The kernel cannot run on this machine; the message says why."""


def kernel_instruction_set() -> str:
    """The best of INSTRUCTION_SETS this CPU runs, as torch finds it ("avx512" or "avx2"), else KernelUnavailable."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        raise KernelUnavailable(f"the kernels are for x86 CPUs; this one is {platform.machine()}")
    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in ("AVX2", "AVX512"):
        raise KernelUnavailable(f"the kernels need AVX2; torch finds {capability} on this CPU")
    return capability.lower()


@functools.cache  # a shared library is loaded once per process, as a module is imported once
def _library(instruction_set: str | None = None) -> ctypes.CDLL:
    best = kernel_instruction_set()
    instruction_set = instruction_set or best
    if list(INSTRUCTION_SETS).index(instruction_set) < list(INSTRUCTION_SETS).index(best):
        raise KernelUnavailable(f"this CPU runs {best}, not {instruction_set}")
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        raise KernelUnavailable("no C compiler found (set CC, or install gcc): the kernels are built on first use")
    flags = (*COMMON_FLAGS, *INSTRUCTION_SETS[instruction_set])
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source + " ".join(flags).encode()).hexdigest()[:16]
    target = cache_dir() / f"quantized_linear-{instruction_set}-{digest}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with replacing(target) as building:
                built = subprocess.run([compiler, *flags, str(SOURCE), "-o", str(building)], capture_output=True,
                                       text=True)
                if built.returncode:
                    raise KernelUnavailable(f"{compiler} could not build {SOURCE.name}: "
                                            f"{(built.stderr.strip().splitlines() or ['no message'])[-1]}")
        except OSError as error:
            raise KernelUnavailable(f"could not build the kernels into {target.parent}: {error}") from error
    library = ctypes.CDLL(str(target))
    library.int8_linear.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int64] * 3
    library.int8_linear.restype = None
    library.int4_linear.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_int64] * 4
    library.int4_linear.restype = None
    library.nf4_linear.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_int64] * 4
    library.nf4_linear.restype = None
    return library


def int8_kernel_problem() -> str | None:
    """None when the kernels run here (building them if need be), else why not, in one sentence."""
    try:
        _library()
    except KernelUnavailable as why:
        return str(why)
    return None


def int8_product(x: torch.Tensor, qweight: torch.Tensor, scale: torch.Tensor,
                 instruction_set: str | None = None) -> torch.Tensor:
    """x (..., K) float32 times the int8 weight qweight (N, K) with one float32 scale per row (N,):
    (..., N) float32, the numbers of F.linear(x, qweight * scale[:, None]) summed in another order. On the kernels
    built for `instruction_set` (INSTRUCTION_SETS; by default the best this CPU runs)."""
    x = x.contiguous()
    out = x.new_empty(x.shape[:-1] + (qweight.shape[0],))
    _library(instruction_set).int8_linear(x.data_ptr(), qweight.data_ptr(), scale.data_ptr(), out.data_ptr(),
                                          x.numel() // x.shape[-1], qweight.shape[0], qweight.shape[1])
    return out


def int4_product(x: torch.Tensor, qweight: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, group_size: int,
                 instruction_set: str | None = None) -> torch.Tensor:
    """x (..., K) float32 times the groupwise int4 weight: qweight (N, K / 2) packed (packing.pack_int4), scale
    (N, K / group_size) float32, zero (N, K / group_size) uint8: (..., N) float32, the numbers of
    F.linear(x, (q - zero) * scale) summed in another order (with AVX2, each group's zero is taken off through the
    group's sum of x, so that they agree to rounding). On the kernels built for `instruction_set`."""
    x = x.contiguous()
    out = x.new_empty(x.shape[:-1] + (qweight.shape[0],))
    _library(instruction_set).int4_linear(x.data_ptr(), qweight.data_ptr(), scale.data_ptr(), zero.data_ptr(),
                                          out.data_ptr(), x.numel() // x.shape[-1], qweight.shape[0], x.shape[-1],
                                          group_size)
    return out


def nf4_product(x: torch.Tensor, qweight: torch.Tensor, absmax: torch.Tensor, levels: torch.Tensor, block_size: int,
                instruction_set: str | None = None) -> torch.Tensor:
    """x (..., K) float32 times the NF4 weight: qweight (N, K / 2) packed codes (packing.pack_int4), absmax
    (N, K / block_size) float32, levels (16,) float32: (..., N) float32, the numbers of
    F.linear(x, levels[codes] * absmax) summed in another order. On the kernels built for `instruction_set`."""
    x = x.contiguous()
    out = x.new_empty(x.shape[:-1] + (qweight.shape[0],))
    _library(instruction_set).nf4_linear(x.data_ptr(), qweight.data_ptr(), absmax.data_ptr(), levels.data_ptr(),
                                         out.data_ptr(), x.numel() // x.shape[-1], qweight.shape[0], x.shape[-1],
                                         block_size)
    return out


# The operator torch.ops.llama_lab.int8_linear: defined with torch.library (a third of torch.library.custom_op's
# cost per call, which a decoding step pays 25 times for the 50M model), with its shape rule for torch.compile.
_OPERATORS = torch.library.Library("llama_lab", "DEF")
_OPERATORS.define("int8_linear(Tensor x, Tensor qweight, Tensor scale) -> Tensor")
_OPERATORS.define("int4_linear(Tensor x, Tensor qweight, Tensor scale, Tensor zero, int group_size) -> Tensor")
_OPERATORS.define("nf4_linear(Tensor x, Tensor qweight, Tensor absmax, Tensor levels, int block_size) -> Tensor")
_OPERATORS.impl("int8_linear", int8_product, "CPU")
_OPERATORS.impl("int4_linear", int4_product, "CPU")
_OPERATORS.impl("nf4_linear", nf4_product, "CPU")


@torch.library.register_fake("llama_lab::int8_linear")
def _(x, qweight, scale):
    return x.new_empty(x.shape[:-1] + (qweight.shape[0],))


@torch.library.register_fake("llama_lab::int4_linear")
def _(x, qweight, scale, zero, group_size):
    return x.new_empty(x.shape[:-1] + (qweight.shape[0],))


@torch.library.register_fake("llama_lab::nf4_linear")
def _(x, qweight, absmax, levels, block_size):
    return x.new_empty(x.shape[:-1] + (qweight.shape[0],))


def _float32_scale(layer: QuantizedLinear) -> torch.Tensor:
    """The layer's scales as the kernels read them, float32 and contiguous: the layer's own tensor where it is so,
    else a copy (a model quantized in bfloat16 keeps bfloat16 scales: 2 more bytes per group of weights)."""
    return layer.scale.to(torch.float32).contiguous()


class Int8KernelLinear(nn.Module):
    """An int8 QuantizedLinear whose product runs on `int8_linear` (it shares the layer's buffers). The kernel
    multiplies float32 rows: other inputs (a bfloat16 model's) are multiplied as float32 and the output rounded
    back to their dtype."""

    def __init__(self, layer: QuantizedLinear):
        super().__init__()
        self.layer, self.scale = layer, _float32_scale(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.llama_lab.int8_linear(x.float(), self.layer.qweight, self.scale).to(x.dtype)


class Int4KernelLinear(nn.Module):
    """An int4 QuantizedLinear whose product runs on the kit's `int4_linear` (it shares the layer's buffers, and
    its scales where they are float32). Inputs of other dtypes are multiplied as float32, as by Int8KernelLinear."""

    def __init__(self, layer: QuantizedLinear):
        super().__init__()
        self.layer, self.group_size, self.scale = layer, layer.scheme.group_size, _float32_scale(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.llama_lab.int4_linear(x.float(), self.layer.qweight, self.scale, self.layer.zero,
                                               self.group_size).to(x.dtype)


class NF4KernelLinear(nn.Module):
    """An NF4Linear (`llama_lab.nf4`) whose product runs on the kit's `nf4_linear`: it shares the layer's codes and
    holds its absmaxes in float32 (a double-quantized layer's, dequantized once: 4 bytes per 64 weights) and its
    16 levels. Inputs of other dtypes are multiplied as float32, as by Int8KernelLinear."""

    def __init__(self, layer: NF4Linear):
        super().__init__()
        self.layer = layer
        self.absmax = layer.block_absmax().to(torch.float32).contiguous()  # (out, in / 64)
        self.levels = NF4.to(torch.float32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.llama_lab.nf4_linear(x.float(), self.layer.qweight, self.absmax, self.levels,
                                              BLOCK_SIZE).to(x.dtype)


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


def with_kernel(layer: QuantizedLinear | NF4Linear) -> nn.Module:
    """`layer` as decoding runs it on a CPU: int8, int4 and NF4 on the kit's kernels where they run (int4 otherwise
    on torch's CPU int4 operator, which takes float32 inputs and leaves others to the layer); elsewhere, or
    otherwise, the layer itself."""
    if layer.qweight.device.type != "cpu":
        return layer
    kit_kernel = layer.qweight.is_contiguous() and int8_kernel_problem() is None
    if isinstance(layer, NF4Linear):
        return NF4KernelLinear(layer) if kit_kernel else layer
    if layer.scheme.bits == 4:
        usable = kit_kernel and layer.scheme.group_size % 32 == 0 and layer.zero.is_contiguous()
        return Int4KernelLinear(layer) if usable else TorchInt4Linear(layer)
    return Int8KernelLinear(layer) if kit_kernel else layer
