"""`python -m llama_lab.grade`: the published name of `python -m llama_lab.grading` (llama_lab/grading/grade.py),
kept because the README and every assignment notebook name it. The code lives there; this file only runs it."""

import runpy

if __name__ == "__main__":
    runpy.run_module("llama_lab.grading", run_name="__main__", alter_sys=True)
