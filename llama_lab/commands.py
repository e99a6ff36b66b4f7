"""The console scripts that installing the kit puts beside Python (pyproject.toml's `[project.scripts]`), for the
commands whose `main` is also called from Python.

A console script exits with whatever its function returns. `train.main`, `finetune.main`, `evaluate.main` and
`bench.main` return what they measured, for the Python code that calls them (`make data` reads training's summary
and the evaluation's figures); handed to `sys.exit`, a dict is printed to stderr as status 1, a failure after a run that went well. So
each script here runs its module's `main` as `python -m` does, and keeps only its exit status. `llama-lab-rlhf` and
`llama-lab-data` point at their modules' own `main`, which returns nothing.

    llama-lab-train --help          # the same as: python -m llama_lab.train --help
"""

import runpy

from .bench import main as bench_main
from .evaluate import main as evaluate_main
from .finetune import main as finetune_main
from .train import main as train_main


def train() -> None:
    """`llama-lab-train`: `python -m llama_lab.train`, training's summary left out of the exit status."""
    train_main()


def finetune() -> None:
    """`llama-lab-finetune`: `python -m llama_lab.finetune`, the run's summary left out of the exit status."""
    finetune_main()


def evaluate() -> None:
    """`llama-lab-eval`: `python -m llama_lab.evaluate`, the figures printed and not returned."""
    evaluate_main()


def bench() -> None:
    """`llama-lab-bench`: `python -m llama_lab.bench` (`make bench`), the table printed and not returned."""
    bench_main()


def grade() -> None:
    """`llama-lab-grade`: `python -m llama_lab.grade`, run as that command runs, so that a kit installed without its
    lab extra is told in one line what to install (the grader's module cannot be imported without it)."""
    runpy.run_module("llama_lab.grade", run_name="__main__", alter_sys=True)
