"""Grading one part in the running kernel, without the autograder: the student's self-check, and the test cell
that nbgrader scores (`check` returns the points, which nbgrader reads as partial credit).

Example, in a notebook cell:
    check("01_rmsnorm_swiglu", "rms_norm", globals())   # prints "rms_norm: 7/7  (RMSNorm)"
"""

from __future__ import annotations

import contextlib
import io
import warnings

from .catalog import get_part
from .checks import Part, PartResult, format_part, judge, prepare
from .harness import StudentError, find, one_thread, run_cases


def grade_part_here(part: Part, namespace: dict, seconds: float = 20.0) -> PartResult:
    """Grade one part on the code in `namespace`, in this process (no kernel, no protection from global changes).

    Nothing goes to stderr (warnings included): nbgrader scores a test cell that writes there 0.
    """
    with one_thread(), contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare(part)
        try:
            impl = find(namespace, part)
            outcomes = list(run_cases(part, impl, [item.case.inputs for item in prepared], namespace, seconds))
        except StudentError as error:
            outcomes = [{"error": str(error)} for _ in prepared]
        return judge(part, prepared, outcomes)


def check(assignment: str, part: str, namespace: dict, seconds: float = 20.0) -> float:
    """Grade one part in this notebook, print what is wrong, and return the points (nbgrader's partial credit)."""
    result = grade_part_here(get_part(assignment, part), namespace, seconds)
    print(format_part(result))
    return result.points
