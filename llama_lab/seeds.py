"""Seeds: the one check that a seed is one torch can use, and the random generator it starts.

    generator = seeded_generator(42)          # the same numbers at every run
    generator = seeded_generator(None)        # None: torch's global generator, a different draw each time
"""

from __future__ import annotations

import operator

import torch

# torch.Generator.manual_seed takes any whole number in this range (a negative one is read as its unsigned twin).
SEED_RANGE = (-(2**63), 2**64 - 1)


def check_seed(seed) -> int | None:
    """`seed` as an int (or None), once it is known to be a whole number torch can seed with: a str such as "42",
    a float such as 1.5 or a bool would otherwise fail inside torch, or (True) seed with 1 unnoticed."""
    if seed is None:
        return None
    whole = not isinstance(seed, bool) and "bool" not in str(getattr(seed, "dtype", ""))
    try:
        value = operator.index(seed) if whole else None
    except TypeError:
        value = None
    if value is None or not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise ValueError(f"seed={seed!r} must be a whole number (an int, such as 42) from {SEED_RANGE[0]} to "
                         f"{SEED_RANGE[1]}, or None for a different draw each time"
                         + (f": give seed={seed} without the quotes" if isinstance(seed, str)
                            and seed.strip().lstrip("-").isdigit() else ""))
    return value


def seeded_generator(seed, device=None) -> torch.Generator | None:
    """A torch.Generator on `device` seeded with `seed`, or None (torch's global generator) when seed is None."""
    seed = check_seed(seed)
    return None if seed is None else torch.Generator(device=device).manual_seed(seed)
