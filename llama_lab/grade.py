"""`python -m llama_lab.grade` and the console script `llama-lab-grade` (`llama_lab.grade:main`): the autograder's
command line, published under the name the README and every assignment notebook give. The code lives in
llama_lab/grading/ (engine/cli.py; engine/run.py says how a notebook is graded)."""

import sys


def main() -> None:
    """Grade the notebooks the command line names, then exit with the grader's status."""
    try:  # the grader needs the lab extra (nbformat, nbclient, ipykernel): without it, one line says what to install
        from .grading.engine.cli import command
    except ModuleNotFoundError as missing:
        sys.exit(f"error: {missing}")
    command()


if __name__ == "__main__":
    main()
