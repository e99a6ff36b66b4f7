"""The grading engine, from the bottom up:

- checks.py: what a graded part is (Part, Case) and how one answer is judged, against the right answer and the
  known mistakes; the fresh cases drawn for each run;
- tripwire.py, harness.py, tampering.py: the grader's side inside the notebook's kernel: the kit's own code
  tripwired while a case runs, the cases run on the student's code with the libraries put back, and what the
  notebook did to the grading looked for;
- catalog.py: the assignments (ASSIGNMENTS), each a module of llama_lab/grading/parts/;
- self_check.py: one part graded in the running kernel (`check`, nbgrader's test cells);
- sandbox.py: the OS sandbox (bubblewrap) a handed-in notebook's kernel runs in;
- grades.py, submissions.py, folders.py, kernels.py, run.py: the autograder: its limits and grades, the handed-in
  files read as strangers', the folders notebooks are graded in, the kernels that run them, and the run that
  grades a notebook or a folder of them (run.py says how, and what protects what);
- report.py, cli.py: the grades as text and JSON, and the command line `python -m llama_lab.grade`.
"""
