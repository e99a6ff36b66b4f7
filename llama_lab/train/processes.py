"""Processes and devices: which device trains, joining torchrun's process group (gloo or NCCL), sums over all
processes, and bfloat16 autocast where it pays."""

from __future__ import annotations

import contextlib
import os

import torch
import torch.distributed as dist

from .config import TrainConfig


def is_distributed() -> bool:
    """Whether this process is one of several, joined by torchrun's process group."""
    return dist.is_available() and dist.is_initialized()


def barrier():
    """Wait here until every process has come here (nothing to wait for with one process)."""
    if is_distributed():
        dist.barrier()


def global_sums(*values: float) -> list[float]:
    """Each value summed over all processes (itself when there is one), in float64."""
    if not is_distributed():
        return list(values)
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"  # NCCL reduces GPU tensors, gloo CPU ones
    total = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.tolist()


def setup_processes(cfg: TrainConfig) -> tuple[int, int, torch.device]:
    """(rank, world size, device). Under torchrun (WORLD_SIZE set) join the process group: gloo or NCCL."""
    if cfg.device == "auto":
        kind = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    else:
        kind = cfg.device
    present = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not present.get(torch.device(kind).type, True):
        raise ValueError(f"device={cfg.device!r}: this machine has no such device: use --device auto or cpu")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, torch.device(kind)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if kind.startswith("cuda"):
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        device = torch.device(kind)
        dist.init_process_group("gloo")
    return rank, world, device


def autocast_for(cfg: TrainConfig, device: torch.device):
    """bfloat16 autocast where it pays: CUDA with bf16 support. CPU kernels gain little and lose precision."""
    if cfg.autocast == "auto":
        on = device.type == "cuda" and torch.cuda.is_bf16_supported()
    else:
        on = cfg.autocast == "on"
    return torch.autocast(device.type, dtype=torch.bfloat16) if on else contextlib.nullcontext()
