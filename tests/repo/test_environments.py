"""The learner's and the instructor's environments, as pyproject.toml, the Makefile and environment.yml declare them.

A learner's environment (`make lab`, the lab extra) holds what the course notebooks import and nothing that prints
on import or adds menus: no torchao, no nbgrader, no test tools. The dev extra (`make dev`, `make test`) holds those.
"""

import importlib.metadata
import json
import re
import shutil
import sys
import tomllib
from pathlib import Path

import pytest

from support import REPO, names, recipe

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
# instructors' and contributors' tools, and torchao (peft imports it), whose import prints CUDA-library and pytree
# warnings
DEV_ONLY = {"torchao", "nbgrader", "pytest", "hypothesis", "nbval", "playwright", "lm-eval", "trl", "accelerate",
            "peft"}


def notebook_imports() -> set[str]:
    """The top-level modules every course notebook's code cells import (the assignments too: students run them)."""
    modules = set()
    for path in sorted((REPO / "notebooks").rglob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                source = "".join(cell["source"])
                modules |= set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", source, flags=re.MULTILINE))
    return modules


def test_the_lab_extra_leaves_out_the_instructors_tools():
    lab, dev = names(EXTRAS["lab"]), names(EXTRAS["dev"])
    assert not lab & DEV_ONLY, f"the learner's environment would get {sorted(lab & DEV_ONLY)}"
    assert DEV_ONLY <= dev, f"the dev extra lacks {sorted(DEV_ONLY - dev)}"
    assert not names(PYPROJECT["project"]["dependencies"]) & DEV_ONLY
    assert {"jupyterlab", "ipykernel"} <= lab


def test_the_lab_extra_has_what_the_notebooks_import():
    """Every module a notebook imports is the standard library's, the kit's, or comes with the kit's dependencies
    and its lab extra (matched to its distribution in the environment running this test, which has them all)."""
    provided = names(PYPROJECT["project"]["dependencies"]) | names(EXTRAS["lab"])
    distributions = importlib.metadata.packages_distributions()
    missing = {}
    for module in sorted(notebook_imports() - set(sys.stdlib_module_names) - {"llama_lab"}):
        found = names(distributions.get(module, [module]))
        if not found & provided:
            missing[module] = sorted(found)
    assert "transformers" in notebook_imports()  # notebook 01 loads a tokenizer into transformers
    assert not missing, f"notebooks import modules the learner's environment lacks: {missing}"


def test_the_license_is_an_spdx_expression():
    """setuptools 77 and later take `license` as an SPDX string and warn on the old table."""
    assert PYPROJECT["project"]["license"] == "MIT"
    setuptools = next(r for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools"))
    assert int(re.search(r">=(\d+)", setuptools).group(1)) >= 77


def test_make_lab_installs_the_lab_extra_and_make_test_the_dev_extra():
    makefile = (REPO / "Makefile").read_text()
    _, lab_install = recipe(makefile, "$(VENV)/.lab")
    assert '-e ".[lab]"' in lab_install and "dev" not in lab_install
    _, dev_install = recipe(makefile, "$(VENV)/.dev")
    assert '-e ".[lab,dev]"' in dev_install and "nbgrader_config.py" in dev_install
    assert recipe(makefile, "lab")[0].split() == ["$(VENV)/.lab"]
    for target in ("dev", "test", "test-fast"):
        assert recipe(makefile, target)[0].split() == ["$(VENV)/.dev"], target


def test_the_files_the_makefile_names_exist():
    makefile = (REPO / "Makefile").read_text()
    assert "notebooks/sanitize.cfg" not in makefile and not (REPO / "notebooks" / "sanitize.cfg").exists()
    for path in re.findall(r"(?:tests|scripts)/[\w./]+\.(?:cfg|py|sh)", makefile) + ["nbgrader_config.py"]:
        assert (REPO / path).is_file(), path


def test_conda_users_get_the_learners_environment():
    environment = (REPO / "environment.yml").read_text()
    assert "-e .[lab]" in environment and "-e .[lab,dev]" not in environment.split("dependencies:")[1]
    listed = set(re.findall(r"^\s+- ([A-Za-z][\w-]*)", environment.split("dependencies:")[1], flags=re.MULTILINE))
    assert not listed & DEV_ONLY, sorted(listed & DEV_ONLY)


def nbgrader_config_warnings(monkeypatch, config_folder) -> tuple[list[str], object]:
    """What nbgrader logs when it loads its configuration with `config_folder` among Jupyter's config folders."""
    import logging

    from nbgrader.apps.baseapp import NbGrader

    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(config_folder))
    app = NbGrader()
    warnings = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())
    app.log.addHandler(handler)
    try:
        app.load_cwd_config = False
        app.load_config_file()
        return warnings, app.config
    finally:
        app.log.removeHandler(handler)
        NbGrader.clear_instance()


def test_the_shipped_nbgrader_config_silences_nbgraders_warning(monkeypatch, tmp_path):
    """`make dev` copies nbgrader_config.py into the environment's etc/jupyter, a folder nbgrader searches; with
    it there, nbgrader no longer logs "No nbgrader_config.py file found"."""
    pytest.importorskip("nbgrader")
    from jupyter_core.paths import jupyter_config_path

    assert str(Path(sys.prefix) / "etc" / "jupyter") in jupyter_config_path()  # where the Makefile puts it
    (tmp_path / "with").mkdir()
    (tmp_path / "without").mkdir()
    shutil.copy(REPO / "nbgrader_config.py", tmp_path / "with")
    warnings, config = nbgrader_config_warnings(monkeypatch, tmp_path / "with")
    assert not any("No nbgrader_config.py" in w for w in warnings), warnings
    assert config.CourseDirectory.course_id == "llama-lab"
    if not (Path(sys.prefix) / "etc" / "jupyter" / "nbgrader_config.py").exists():  # an environment before make dev
        warnings, _ = nbgrader_config_warnings(monkeypatch, tmp_path / "without")
        assert any("No nbgrader_config.py" in w for w in warnings), warnings
