"""The assignment notebooks: student versions are generated from the instructor versions by nbgrader's rule, the
nbgrader metadata is what nbgrader accepts, and each notebook matches its graded parts in the package."""

import copy
import json

import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import ClearSolutions

from llama_lab import grading
from llama_lab.grading import assignments
from support import REPO

INSTRUCTOR = REPO / "notebooks" / "assignments" / "instructor"
STUDENT = REPO / "notebooks" / "assignments" / "student"
NAMES = sorted(grading.ASSIGNMENTS)


def read(path):
    return nbformat.read(path, as_version=4)


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


def test_one_instructor_and_one_student_notebook_per_assignment():
    assert [p.stem for p in sorted(INSTRUCTOR.glob("*.ipynb"))] == NAMES
    assert [p.stem for p in sorted(STUDENT.glob("*.ipynb"))] == NAMES
    assert len(NAMES) >= 6


@pytest.mark.parametrize("name", NAMES)
def test_committed_student_version_is_exactly_the_generated_one(name):
    committed = (STUDENT / f"{name}.ipynb").read_text(encoding="utf-8")
    assert committed == assignments.student_text(INSTRUCTOR / f"{name}.ipynb"), (
        f"student/{name}.ipynb is stale: run python -m llama_lab.assignments make-student "
        "notebooks/assignments/instructor notebooks/assignments/student")


def test_check_command_agrees(capsys):
    assert assignments.main(["check", str(INSTRUCTOR), str(STUDENT)]) == 0


@pytest.mark.parametrize("name", NAMES)
def test_generator_follows_nbgraders_clear_solutions(name):
    instructor = read(INSTRUCTOR / f"{name}.ipynb")
    theirs, _ = ClearSolutions().preprocess(copy.deepcopy(instructor), {})
    ours = assignments.make_student(instructor)
    assert [c.source for c in ours.cells] == [c.source for c in theirs.cells]


@pytest.mark.parametrize("name", NAMES)
def test_nbgrader_accepts_the_metadata(name):
    nb = read(INSTRUCTOR / f"{name}.ipynb")
    MetadataValidator().validate_nb(nb)  # raises on a cell nbgrader would reject
    ids = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), "nbgrader needs unique grade_ids"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_and_package_agree_on_parts_and_points(name):
    nb = read(INSTRUCTOR / f"{name}.ipynb")
    assert nb.metadata["llama_lab"]["assignment"] == name
    solutions = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c).get("solution")]
    checks = {nbgrader_meta(c)["grade_id"]: nbgrader_meta(c)["points"] for c in nb.cells
              if nbgrader_meta(c).get("grade")}
    parts = grading.load(name).PARTS
    assert solutions == [p.name for p in parts]
    for part in parts:
        points = sum(case.points for case in part.cases())
        assert checks[f"{part.name}_check"] == points, f"{part.name}: the check cell's points differ from the cases'"


@pytest.mark.parametrize("name", NAMES)
def test_student_version_has_stubs_where_the_solutions_were(name):
    nb = read(STUDENT / f"{name}.ipynb")
    for cell in nb.cells:
        assert "### BEGIN SOLUTION" not in cell.source
        if nbgrader_meta(cell).get("solution"):
            assert "raise NotImplementedError()" in cell.source
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_stub_keeps_the_indentation_and_the_code_around_it():
    source = "def f(x):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\nY = 2"
    cleared, found = assignments.clear_solution(source, assignments.CODE_STUB)
    assert found
    assert cleared == "def f(x):\n    \"\"\"Doc.\"\"\"\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\nY = 2"


@pytest.mark.parametrize("source, message", [
    ("### BEGIN SOLUTION\nx = 1", "without its"),
    ("x = 1\n### END SOLUTION", "without its"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
])
def test_broken_markers_are_errors(source, message):
    with pytest.raises(ValueError, match=message):
        assignments.clear_solution(source, assignments.CODE_STUB)


def test_a_solution_region_outside_a_solution_cell_is_an_error():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")])
    with pytest.raises(ValueError, match="not a solution cell"):
        assignments.make_student(nb)


def test_make_student_writes_and_check_notices_a_stale_copy(tmp_path, capsys):
    source = INSTRUCTOR / "04_sampling.ipynb"
    assert assignments.main(["make-student", str(source), str(tmp_path / "s.ipynb")]) == 0
    assert assignments.main(["check", str(source), str(tmp_path / "s.ipynb")]) == 0
    nb = json.loads((tmp_path / "s.ipynb").read_text())
    nb["cells"][0]["source"] = "edited"
    (tmp_path / "s.ipynb").write_text(json.dumps(nb))
    assert assignments.main(["check", str(source), str(tmp_path / "s.ipynb")]) == 1
    assert "make-student" in capsys.readouterr().err
