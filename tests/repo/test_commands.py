"""The console scripts pyproject.toml declares: each resolves as the installed script resolves it, answers --help,
and exits 0 after a run that went well, as `python -m` does."""

import os
import subprocess
import sys
import tomllib
from importlib.metadata import EntryPoint

import pytest

from llama_lab import commands
from support import REPO

SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
# what each script runs, as `python -m` names it: the README, docs/ and the assignments' README use the scripts
EXPECTED = {"llama-lab-grade": "llama_lab.grade", "llama-lab-train": "llama_lab.train",
            "llama-lab-finetune": "llama_lab.finetune",
            "llama-lab-bench": "llama_lab.bench", "llama-lab-eval": "llama_lab.evaluate",
            "llama-lab-rlhf": "llama_lab.rlhf.pipeline", "llama-lab-data": "llama_lab.world.build"}


def run_script(name: str, *arguments: str, monkeypatch) -> int:
    """Run a console script in this process as its installed wrapper does: `sys.exit(function())`, with the command
    line in sys.argv. Resolved from pyproject.toml rather than the installed metadata, which may be another
    checkout's."""
    function = EntryPoint(name=name, value=SCRIPTS[name], group="console_scripts").load()
    monkeypatch.setattr(sys, "argv", [name, *arguments])
    with pytest.raises(SystemExit) as stopped:
        sys.exit(function())
    return stopped.value.code or 0


# the commands whose `main` returns figures to Python callers, and the function that runs each as a script
RETURNS_FIGURES = {"llama-lab-train": "train_main", "llama-lab-eval": "evaluate_main", "llama-lab-bench": "bench_main",
                   "llama-lab-finetune": "finetune_main"}


def test_pyproject_declares_every_command():
    assert set(SCRIPTS) == set(EXPECTED)
    for name in RETURNS_FIGURES:  # not the module's main itself: its figures would become the exit status
        assert SCRIPTS[name].startswith("llama_lab.commands:"), SCRIPTS[name]


def without_usage(help_text: str) -> str:
    """A --help text from its description on: the usage line names the program, which differs by how it ran."""
    return help_text.split("\n\n", 1)[1]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_script_answers_help_as_python_m_does(name, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps its help to the terminal's width
    assert run_script(name, "--help", monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:") and "--help" in out, out[:200]
    module = subprocess.run([sys.executable, "-m", EXPECTED[name], "--help"], cwd=REPO, capture_output=True,
                            text=True, env={**os.environ, "COLUMNS": "100"})
    assert module.returncode == 0, module.stderr
    assert without_usage(out) == without_usage(module.stdout)


@pytest.mark.parametrize("name, module_main", sorted(RETURNS_FIGURES.items()))
def test_a_script_whose_main_returns_figures_exits_0(name, module_main, monkeypatch, capsys):
    """These mains return a dict to Python callers; `sys.exit(a_dict)` would print it and exit with status 1."""
    ran = []
    monkeypatch.setattr(commands, module_main, lambda: ran.append(sys.argv[1:]) or {"loss": 1.25})
    assert run_script(name, "--steps", "2", monkeypatch=monkeypatch) == 0
    assert ran == [["--steps", "2"]]
    assert capsys.readouterr().err == ""


def test_a_scripts_mistake_is_its_modules_one_line(monkeypatch, capsys):
    """The scripts run the modules' own command lines: a wrong flag is answered as `python -m llama_lab.train`
    answers it."""
    assert run_script("llama-lab-train", "--stepz", "2", monkeypatch=monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unrecognized arguments: --stepz 2") and err.count("\n") == 1, err
