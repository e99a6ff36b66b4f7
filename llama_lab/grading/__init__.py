"""The graded tests of the course assignments (notebooks/assignments/): the grading engine (engine/) and, one
module per assignment, the graded parts (parts/).

They live in the package, not in the notebooks, so a student cannot edit them away. Two ways to run them:

- `python -m llama_lab.grade PATH` runs a handed-in notebook in a fresh kernel and grades each part there
  (see llama_lab/grading/engine/run.py);
- `check(assignment, part, globals())` in a notebook cell grades one part in the running kernel: the student's
  self-check, and the test cell that nbgrader scores (it returns the points, which nbgrader reads as partial
  credit).

Example, in a notebook cell:
    check("01_rmsnorm_swiglu", "rms_norm", globals())   # prints "rms_norm: 7/7  (RMSNorm)"

The modules beside engine/ and parts/ are the names notebooks and instructors already use: models, attention,
rotary, rmsnorm_swiglu and bpe (the helpers the assignment notebooks import), coverage (which case catches which
mistake) and assignments (student notebooks from instructor ones).
"""

from .engine.catalog import ASSIGNMENTS, get_part, load
from .engine.checks import Case, Part, PartResult
from .engine.self_check import check, grade_part_here

__all__ = ["ASSIGNMENTS", "Case", "Part", "PartResult", "check", "get_part", "grade_part_here", "load"]
