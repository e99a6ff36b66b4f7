"""The grading engine: what a part and a judged answer are (checks.py), the kernel's side of grading (harness.py,
tripwire.py), the OS sandbox a notebook's kernel runs in (sandbox.py), and the grader that runs handed-in notebooks
and reports their grades (grade.py). The graded assignments themselves are in llama_lab/grading/parts/."""
