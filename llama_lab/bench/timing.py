"""Timing: wall-clock seconds of one call (waiting for the GPU), contenders timed in turns, and greedy decoding timed
without its prompt's pass."""

from __future__ import annotations

import functools
import time

import torch

from ..generate import iter_generate


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


def kit_decode(decoder, prompt: list[int], new_tokens: int) -> tuple[float, list[int]]:
    """(seconds, tokens): the kit's greedy decode loop (generate.iter_generate) after `prompt`, timed from the first
    new token (chosen from the prompt's pass, untimed) through `new_tokens` steps, each a one-token step of the
    decoder and the choice of the next token."""
    steps = iter_generate(decoder, [prompt], new_tokens + 1, temperature=0, eos_id=None, logprobs=False)
    tokens = [next(steps)[0][0]]  # the prompt's pass
    start = time.perf_counter()
    tokens += [step[0][0] for step in steps]
    return time.perf_counter() - start, tokens
