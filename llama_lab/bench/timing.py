"""Timing: wall-clock seconds of one call (waiting for the GPU), and contenders timed in turns."""

from __future__ import annotations

import functools
import time

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds(fn, device: torch.device) -> float:
    """Wall-clock time of one call, waiting for the GPU to finish."""
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def take_turns(contenders: dict, repeats: int, device: torch.device) -> dict[str, list[float]]:
    """Time each contender `repeats` times, in turns (a, b, a, b, ...), after one untimed warm-up each."""
    return take_timed_turns({name: functools.partial(seconds, fn, device) for name, fn in contenders.items()}, repeats)


def take_timed_turns(contenders: dict, repeats: int) -> dict[str, list[float]]:
    """take_turns for contenders that time themselves: each call returns the seconds of the part of it worth
    counting (a decoding run without its prompt's prefill, say)."""
    for fn in contenders.values():
        fn()
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            times[name].append(fn())
    return times
