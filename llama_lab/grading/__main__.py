"""`python -m llama_lab.grading`, published as `python -m llama_lab.grade`: the autograder (grade.py)."""

import sys

if __name__ == "__main__":
    try:
        from .engine.grade import command
    except ModuleNotFoundError as missing:  # without the lab extra: grade.py's one line says what to install
        sys.exit(f"error: {missing}")
    command()
