"""What the suite measures besides time: the weight bytes a decoding step reads, the memory bandwidth that bounds
it (BandwidthProbe), and the peak resident memory of a block of code (PeakRSS)."""

from __future__ import annotations

import ctypes
import gc
import statistics
import threading
import time
from pathlib import Path

import torch
from torch import nn

from ..fast.layout import by_columns, linear
from ..model import Llama
from ..quantize import quantization_of, weight_bytes
from .timing import seconds


def weight_bytes_per_step(model: Llama) -> int:
    """Bytes of weights one decoding step of `model` reads, in its dtype and at its quantization scheme:
    quantize.weight_bytes without the embedding table (a step reads one row of it per token)."""
    scheme = quantization_of(model)
    if scheme is not None and any(isinstance(m, nn.Linear) for m in model.modules()):
        raise ValueError(f"the model keeps some linear layers in floating point beside its {scheme.name} ones: "
                         "weight_bytes_per_step counts a model quantized whole (quantize_model without skip)")
    return weight_bytes(model.args, scheme, model.dtype.itemsize, embedding=False)


class BandwidthProbe:
    """Bytes per second a large matrix-vector product streams from memory (the decode's inner loop).

    The product is the kit's own `linear`, with the threads in use: on a CPU with several cores it reads with all of
    them, as decoding does, so the bound is what the machine can stream, not what one core can. The matrix is
    stored by columns, as the laid-out decoder stores the large weights it decodes with.
    """

    def __init__(self, device: torch.device, dtype: torch.dtype, mib: int):
        n = int((mib * 2**20 / torch.finfo(dtype).bits * 8) ** 0.5)
        self.matrix = by_columns(torch.randn(n, n, device=device).to(dtype))
        self.vector = torch.randn(1, n, device=device).to(dtype)
        # several calls per sample: on a GPU so that a launch is not what is timed, on a CPU so that a sample
        # spans a few hundred milliseconds, as a decoding run does
        self.calls = 20 if device.type == "cuda" else 16
        self.device = device
        self.samples: list[float] = []

    def __call__(self):
        """One sample (appended to self.samples)."""
        with torch.inference_mode():
            elapsed = seconds(lambda: [linear(self.vector, self.matrix) for _ in range(self.calls)], self.device)
        self.samples.append(self.matrix.numel() * self.matrix.element_size() * self.calls / elapsed)

    def measure(self, repeats: int = 7) -> float:
        self()  # a warm-up
        self.samples.clear()
        for _ in range(repeats):
            self()
        return statistics.median(self.samples)


def _rss_bytes(field: str) -> int:
    """VmRSS (now) or VmHWM (the peak) of this process, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise OSError(f"{field} not in /proc/self/status")


def release_free_memory() -> None:
    """Hand the memory that freed tensors left in the C heap back to the system (glibc), so that RSS counts anew."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to hand back this way
        pass


class PeakRSS:
    """The peak resident memory of this process while the `with` block runs.

    Linux lets a process reset its own high-water mark (write "5" to /proc/self/clear_refs); where that is
    refused, a thread samples the resident size every millisecond instead.
    """

    def __enter__(self):
        self.before = _rss_bytes("VmRSS")
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.sampler = None
        except OSError:
            self.samples, self.running = [self.before], True
            self.sampler = threading.Thread(target=self._sample, daemon=True)
            self.sampler.start()
        return self

    def _sample(self):
        while self.running:
            self.samples.append(_rss_bytes("VmRSS"))
            time.sleep(0.001)

    def __exit__(self, *exc):
        if self.sampler is None:
            self.peak = _rss_bytes("VmHWM")
        else:
            self.running = False
            self.sampler.join()
            self.peak = max(self.samples + [_rss_bytes("VmRSS")])
        self.added = self.peak - self.before



def peak_memory_added(fn, device: torch.device) -> int:
    """Bytes a call of `fn` adds at its peak over what was held before it: on a GPU torch's allocated memory
    (max_memory_allocated), on a CPU the process's resident memory (PeakRSS, after handing freed memory back)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    release_free_memory()
    with PeakRSS() as memory:
        fn()
    return memory.added
