"""`python -m llama_lab.assignments`: the published name of `python -m llama_lab.grading.assignments`
(llama_lab/grading/assignments.py), kept because the assignments' README and the tests name it. The code lives
there; this file only runs it."""

import runpy

if __name__ == "__main__":
    runpy.run_module("llama_lab.grading.assignments", run_name="__main__", alter_sys=True)
