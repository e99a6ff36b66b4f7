"""The graded tests of the course assignments (notebooks/assignments/), one module per assignment.

They live in the package, not in the notebooks, so a student cannot edit them away. Two ways to run them:

- `python -m llama_lab.grade PATH` runs a handed-in notebook in a fresh kernel and grades each part there
  (see `llama_lab/grading/grade.py`);
- `check(assignment, part, globals())` in a notebook cell grades one part in the running kernel: the student's
  self-check, and the test cell that nbgrader scores (it returns the points, which nbgrader reads as partial
  credit).

Example, in a notebook cell:
    check("01_rmsnorm_swiglu", "rms_norm", globals())   # prints "rms_norm: 7/7  (RMSNorm)"
"""

from __future__ import annotations

import contextlib
import importlib
import io
import warnings
from types import ModuleType

from .engine.checks import Part, PartResult, format_part, judge, prepare
from .engine.harness import StudentError, find, one_thread, run_cases

# assignment (the notebook's name) -> the module with its graded parts
ASSIGNMENTS = {
    "01_rmsnorm_swiglu": "rmsnorm_swiglu",
    "02_rotary_embeddings": "rotary",
    "03_attention_kv_cache": "attention",
    "04_sampling": "sampling",
    "05_bpe_tokenizer": "bpe",
    "06_safety_mc2_probe": "mc2_probe",
    "07_rlhf_losses": "rlhf_losses",
}


def load(assignment: str) -> ModuleType:
    """The module of an assignment; it defines TITLE and PARTS (a list of `Part`)."""
    if assignment not in ASSIGNMENTS:
        raise KeyError(f"no assignment named {assignment!r}: the assignments are {', '.join(ASSIGNMENTS)}")
    return importlib.import_module(f"{__name__}.parts.{ASSIGNMENTS[assignment]}")


def get_part(assignment: str, name: str) -> Part:
    parts = {part.name: part for part in load(assignment).PARTS}
    if name not in parts:
        raise KeyError(f"assignment {assignment} has no part {name!r}: its parts are {', '.join(parts)}")
    return parts[name]


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
