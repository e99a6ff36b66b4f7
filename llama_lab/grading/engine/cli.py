"""The autograder's command line, `python -m llama_lab.grade` (llama_lab/grade.py) or `python -m llama_lab.grading`:
its arguments checked before any notebook runs, the grades printed, and written to `--output` after each notebook.

It stops on Ctrl-C or SIGTERM: the kernels are killed, the grades finished so far are printed and written to
`--output` (which is checked before the first notebook and rewritten, atomically, after each one), and the exit
status is 130 or 143. A grader killed outright (SIGKILL) leaves its grading folders behind; the next one removes
them (folders.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from ...files import replacing

try:
    from . import sandbox
    from .run import find_notebooks, grade_notebooks
except ModuleNotFoundError as missing:  # the kit was installed without its `lab` extra
    raise ModuleNotFoundError(
        f"the grader runs notebooks with nbformat, nbclient and ipykernel, and {missing.name} is not installed: "
        "install the kit's lab extra, `pip install -e '.[lab]'` in the kit's folder (or `make venv`)",
        name=missing.name) from missing
from .grades import GradingInterrupted, Limits, NotebookGrade
from .report import format_grade, format_summary, report_json


def output_problem(output: str) -> str | None:
    """Why the grades could not be written to `output`, found before any notebook is graded; None if they can."""
    path = Path(output)
    if path.is_dir():
        return f"--output {output} is a folder: give the file to write, such as {path / 'grades.json'}"
    folder = path.parent
    if not folder.is_dir():
        return f"--output {output}: the folder {folder} does not exist: create it, or choose another file"
    try:  # the file is written beside itself, then renamed over it (llama_lab.files.replacing): try just that
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}.", suffix=".tmp"):
            pass
    except OSError as error:
        return f"--output {output}: cannot write in the folder {folder} ({error.strerror}): choose another file"
    return None


class _Stopped(KeyboardInterrupt):
    """Raised in the main thread by SIGINT or SIGTERM while the command grades: grade_notebooks stops, as on Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def main(argv: list[str] | None = None) -> int:
    """Grade what the command line `argv` names; the exit status: 0, 1 when a notebook could not be graded at all,
    2 for a mistake on the command line (one line on stderr), 128 + the signal after an interrupt."""
    parser = argparse.ArgumentParser(prog="python -m llama_lab.grade", description=(
        "Grade llama-lab assignment notebooks: each runs in a fresh kernel and every part is scored by the "
        "package's tests, with a message naming what is wrong. Ctrl-C or SIGTERM stops it: the notebooks "
        "finished so far are reported (and written to --output), and the exit status is 130 or 143."))
    parser.add_argument("path", help="a notebook (.ipynb) or a folder of them (searched recursively; links "
                        "under it are not followed)")
    parser.add_argument("--json", action="store_true", help="print the grades as JSON instead of text")
    parser.add_argument("--output", metavar="FILE", help="also write the grades as JSON to FILE, again after each "
                        "notebook, atomically (FILE is the old one or a whole new one); its `pending` lists the "
                        "notebooks not graded yet")
    parser.add_argument("--no-sandbox", action="store_true", help="run the kernels with your own permissions, "
                        "without bubblewrap: only for notebooks you wrote yourself, never for students' ones")
    parser.add_argument("--time-limit", type=float, default=Limits.time_limit,
                        help="seconds one notebook may take in all (default %(default)s)")
    parser.add_argument("--cell-timeout", type=float, default=Limits.cell_timeout,
                        help="seconds one cell may run (default %(default)s)")
    parser.add_argument("--case-timeout", type=float, default=Limits.case_timeout,
                        help="seconds one graded case may run (default %(default)s)")
    parser.add_argument("--memory-limit", type=float, default=Limits.memory_limit / 2**30, metavar="GIB",
                        help="GiB of memory (address space) each process of a notebook may have in the sandbox "
                        "(default %(default)g)")
    parser.add_argument("--process-limit", type=int, default=Limits.process_limit, metavar="N",
                        help="processes and threads a notebook may have in the sandbox (default %(default)s)")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks graded at once (default 1)")
    args = parser.parse_args(argv)
    problem = output_problem(args.output) if args.output else None
    if args.memory_limit <= 0 or args.process_limit < 1 or args.jobs < 1:
        problem = (f"--memory-limit {args.memory_limit:g}, --process-limit {args.process_limit} and --jobs "
                   f"{args.jobs} must all be positive")
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    limits = Limits(args.time_limit, args.cell_timeout, args.case_timeout, args.process_limit,
                    int(args.memory_limit * 2**30))
    finished: list[NotebookGrade] = []
    found: list[str] = []  # the notebooks' paths, in name order

    def write(grades: list[NotebookGrade]) -> None:
        if args.output:  # the old grades or the new ones, never half of them
            done = {g.path for g in grades}
            with replacing(args.output) as tmp:
                tmp.write_text(report_json(grades, [p for p in found if p not in done]) + "\n", encoding="utf-8")

    def on_grade(grade: NotebookGrade) -> None:
        finished.append(grade)
        write(sorted(finished, key=lambda g: found.index(g.path)))

    def stop(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # once is enough: the next ones must not cut the report
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise _Stopped(signum)

    interrupted = None
    signals = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
    previous = {signum: signal.signal(signum, stop) for signum in signals}
    try:
        try:
            notebooks = find_notebooks(Path(args.path))
            found += map(str, notebooks)
            grades = grade_notebooks(notebooks, limits, args.jobs, sandboxed=not args.no_sandbox,
                                     on_grade=on_grade)
        except (OSError, sandbox.SandboxError) as error:  # no notebooks there, no sandbox here
            print(f"error: {error}", file=sys.stderr)
            return 2
        except GradingInterrupted as stopped:
            grades, interrupted = stopped.grades, stopped
        except _Stopped as stopped:  # before grading started (while the notebooks were listed)
            grades, interrupted = [], GradingInterrupted([], len(found), found, stopped.signum)
        for signum in previous:
            signal.signal(signum, signal.SIG_IGN)  # the report is written whole, whatever arrives now
        # every kernel, and every sandbox with whatever it started, is gone by now
        write(grades)
        if args.json:
            print(report_json(grades, interrupted.pending if interrupted else []))
        elif grades:
            print("\n\n".join(format_grade(g) for g in grades))
            if len(grades) > 1:
                print("\n" + format_summary(grades))
        if interrupted:
            print(f"{interrupted}" + (f": the grades finished are above and in {args.output}" if args.output else
                                      ": the grades finished are above"), file=sys.stderr)
            return 128 + interrupted.signum
        return 1 if any(g.error and not g.parts for g in grades) else 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def command() -> None:
    """`python -m llama_lab.grade`: main(), then exit. After an interrupt, at once: a worker thread may still be
    waiting on a kernel that was killed, and the interpreter would wait for it (its folder goes next time)."""
    code = main()
    if code > 128:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
