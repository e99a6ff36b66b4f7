"""Progress for long work: a bar while it runs, one line when it ends.

    for doc in progress(documents, "train.txt", total=72_000):   # a tqdm bar on a terminal
        ...
    summary("corpus", "72,000 documents and 72,800 dialogs", seconds)   # "corpus: 72,000 ... (1.4 min)"

The bars are tqdm's, drawn on stderr only when stderr is a terminal (tqdm's `disable=None`): a notebook, a test or
a log file gets no bar, and no notebook's saved output changes. The summary line is always written, to stderr,
through tqdm so that it does not tear a bar that is still drawn.
"""

from __future__ import annotations

import sys
from typing import Iterable, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], what: str, total: int | None = None, unit: str = "it") -> Iterable[T]:
    """`iterable`, with a bar labelled `what` on a terminal; the bar is cleared when it ends (the summary stays)."""
    return tqdm(iterable, desc=what, total=total, unit=unit, disable=None, leave=False, dynamic_ncols=True,
                file=sys.stderr)


def count(n: int, noun: str) -> str:
    """A number of things in words. Example: (1, "step") -> "1 step", (1200, "step") -> "1,200 steps"."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def duration(seconds: float) -> str:
    """Seconds as a person reads them. Example: 42.0 -> "42 s", 95.0 -> "1.6 min", 4000 -> "1.1 h"."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def say(line: str) -> None:
    """Print a line of a stage's log (to stdout, as print does) without tearing a bar that is drawn."""
    tqdm.write(line)


def summary(stage: str, what: str, seconds: float) -> str:
    """Write the one line that ends a stage, "stage: what (time)", to stderr; returns it."""
    line = f"{stage}: {what} ({duration(seconds)})"
    tqdm.write(line, file=sys.stderr)
    return line
