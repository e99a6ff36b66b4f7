"""What grading a notebook works with and gives: the limits it runs under (Limits), its grade (NotebookGrade), and
the errors that stop it (GradingError for one notebook, GradingInterrupted for a whole run)."""

from __future__ import annotations

import signal
from dataclasses import asdict, dataclass, field

from . import sandbox
from .checks import PartResult


@dataclass
class Limits:
    """Seconds a notebook may take in all, one cell, and one graded case; in the sandbox, processes and threads,
    and bytes of address space per process (sandbox.py says how they are enforced)."""

    time_limit: float = 300.0
    cell_timeout: float = 60.0
    case_timeout: float = 20.0
    process_limit: int = sandbox.PROCESS_LIMIT
    memory_limit: int = sandbox.MEMORY_LIMIT


@dataclass
class NotebookGrade:
    path: str
    assignment: str | None
    title: str
    points: float
    max_points: float
    parts: list[PartResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what went wrong outside the graded parts
    flags: list[str] = field(default_factory=list)  # attempts to get points without the work, for a person to read
    seconds: float = 0.0
    error: str | None = None  # set when the notebook could not be graded at all

    def to_dict(self) -> dict:
        return asdict(self)


class GradingError(Exception):
    """The notebook cannot be graded (not an assignment, unreadable, no kernel)."""


class GradingInterrupted(Exception):
    """Grading stopped on a signal (Ctrl-C, SIGTERM): `grades` are the notebooks finished before it, in name
    order, of `total`; the kernels and sandboxes of the others are gone."""

    def __init__(self, grades: list[NotebookGrade], total: int, pending: list[str], signum: int):
        super().__init__(f"grading was interrupted ({signal.Signals(signum).name}) after {len(grades)} of "
                         f"{total} notebooks")
        self.grades, self.total, self.pending, self.signum = grades, total, pending, signum
