"""Keep nbval away from the assignment notebooks.

`make test` runs nbval on every notebook under notebooks/. The student versions stop at
`raise NotImplementedError()` by design, and neither version keeps outputs to compare, so nbval has nothing to
check here. tests/grading/test_grade.py runs both through the autograder instead: the instructor versions must get full
marks and the student versions zero.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path, config):
    if collection_path.suffix == ".ipynb" and HERE in collection_path.resolve().parents:
        return True
    return None
