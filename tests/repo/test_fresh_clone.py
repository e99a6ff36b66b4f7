"""The repository stands alone: a fresh clone with nothing beside it has everything the kit and its course use.

Llama 2's own tokenizer and weights are the user's (Meta's download): the kit reaches them only through the
settings a user gives (LLAMA2_TOKENIZER, LLAMA2_DIR), never through a path outside the repository. The notebooks'
committed outputs are a fresh clone's, so `make test` runs them with those settings removed.
"""

import json
import re

from support import REPO

# a notebook (in notebooks/ or below) that names a path two levels up has left the repository
NOTEBOOK_CLIMB = re.compile(r"\.\./\.\./")
# a module that climbs from its own file: `.parent` n times, or `../` in a literal path
MODULE_CLIMB = re.compile(r"__file__\)?(?:\.resolve\(\))?((?:\.parent)+)|\.\./")


def _module_leaves_repository(path, source: str) -> str | None:
    """The first climb in a module's source that ends above the repository (None if none does)."""
    depth = len(path.relative_to(REPO).parts)  # llama_lab/x.py: 2 (.parent twice is the repository)
    for found in MODULE_CLIMB.finditer(source):
        if found.group(1) is None or found.group(1).count(".parent") > depth:
            return found.group()
    return None


def _notebook_code(path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells)


def test_no_notebook_reaches_outside_the_repository():
    notebooks = sorted((REPO / "notebooks").rglob("*.ipynb"))
    assert len(notebooks) >= 6
    for path in notebooks:
        found = NOTEBOOK_CLIMB.search(_notebook_code(path))
        assert found is None, f"{path.relative_to(REPO)} names a path outside the repository: {found.group()!r}"


def test_no_module_reaches_outside_the_repository():
    modules = sorted((REPO / "llama_lab").rglob("*.py"))
    assert len(modules) >= 20
    for path in modules:
        found = _module_leaves_repository(path, path.read_text())
        assert found is None, f"{path.relative_to(REPO)} names a path outside the repository: {found!r}"


def test_the_patterns_catch_what_they_are_for():
    assert NOTEBOOK_CLIMB.search('Path("../../llama2/tokenizer.model")')
    module, nested = REPO / "llama_lab" / "x.py", REPO / "llama_lab" / "grading" / "x.py"
    above = 'Path(__file__).resolve().parent.parent.parent / "llama2"'
    assert _module_leaves_repository(module, above) == "__file__).resolve().parent.parent.parent"
    assert _module_leaves_repository(nested, above) is None  # from llama_lab/grading/ that is the repository
    assert _module_leaves_repository(module, 'Path(__file__).resolve().parent.parent / "data"') is None
    assert _module_leaves_repository(module, 'Path("../tokenizer.model")') == "../"


def test_make_test_runs_the_notebooks_as_a_fresh_clone_would():
    """The notebooks' outputs are the tiny models'; a user's Llama 2 settings must not reach nbval's kernels."""
    makefile = (REPO / "Makefile").read_text()
    commands = makefile.replace("\\\n", " ").splitlines()  # a command continued over lines is one line
    nbval_line = next(line for line in commands if "--nbval" in line)
    for setting in ("LLAMA2_DIR", "LLAMA2_BASE_DIR", "LLAMA2_CHAT_DIR", "LLAMA2_TOKENIZER"):
        assert f"-u {setting}" in nbval_line, f"the Makefile's nbval run keeps {setting}"
