"""The grading run: each handed-in assignment notebook runs in a fresh kernel and each part is scored with the
package's tests (grade_notebook; grade_notebooks for a folder, several at once).

    python -m llama_lab.grade notebooks/assignments/student/01_rmsnorm_swiglu.ipynb
    python -m llama_lab.grade submissions/ --output grades.json     # every notebook in a folder

How one notebook is graded:
1. The grader builds every case of every part (llama_lab/grading/parts/) and computes, in its own process, the
   right answer and what each known mistake would answer (once per assignment, alone: see checks.reference_state).
   Nothing the notebook does can change these.
2. A fresh Jupyter kernel (nbclient) runs the notebook's code cells in order, except nbgrader's test cells (the
   tests are the package's, so a student cannot edit them away). A cell that raises is noted and the next one
   runs; a cell still running after `cell_timeout` seconds is stopped: the kernel is killed, a new one replays
   the cells before it, and grading goes on without it. A watchdog kills the kernel once the notebook has used
   `time_limit` seconds in all, whatever it is doing (kernels.py).
3. Then, part by part, the grader draws fresh cases for this run (the fixed cases' values in orders drawn now,
   their right answers computed outside the kernel like the others), writes the part's inputs into the
   sandbox's folder, and has the kernel run them: a fresh copy of the harness (harness.py), loaded anew from the
   kit's files, puts back the libraries the notebook may have patched, runs the cases on the student's function
   with an alarm per case, and saves the outputs. The grader reads that file as a stranger's (no links, no
   FIFOs, at most 64 MiB: submissions.py), with torch.load(weights_only=True), and judges the outputs.
   Each part is graded alone: the other parts' functions are the reference ones while it runs, so one part's
   bug costs that part only.

What protects what. The notebooks are strangers' code, so each kernel runs in an OS sandbox (sandbox.py:
bubblewrap): as a host user without privileges, with its own copy of the notebook as the only thing it can
write, no network, no view of the home directories, the other submissions or the grades file, at most
`process_limit` processes and `memory_limit` bytes per process, and a process namespace of its own, so that it
cannot signal the grader and nothing it starts outlives it. The sandbox is what keeps the instructor's machine
and the other submissions safe; without bwrap the grader refuses to run unless told `--no-sandbox` (for
notebooks you wrote yourself). Before any sandbox, the handed-in files themselves are strangers' too: the grader
reads a notebook only if it is a regular file of at most MAX_NOTEBOOK_BYTES, opened without following links
(submissions.read_submission); a link, a pipe or a device gets a grade saying what it is. Each notebook is graded
in a folder of its own (folders.py), removed afterwards.

Inside its sandbox the notebook shares a process with the harness, so nothing the kernel holds is trusted: it
holds no secret (the notebook can read whatever its process holds: IPython keeps the source of every cell run,
the grader's included), and what it saves is data that the grader judges against answers it computed itself.
A right answer therefore has to be computed at grading time, and what stops the ways to do that without the
work:
- answers prepared in advance (a table, precomputed outputs handed back by altered grading objects) fail the
  fresh cases, whose inputs exist only once the part's step starts: a part right on its fixed cases and wrong on
  the fresh ones drawn from them gets nothing and is flagged;
- the grading objects the notebook could reach before (the harness module, its Part objects and their
  functions, the snapshot the libraries are put back from) are not the ones a part step grades with: it loads
  its own copies from the kit's files, and checks the shared ones (tampering.py): anything replaced or altered
  by the notebook's code gets the part nothing and is flagged, and so do replaced functions of sys, gc or the
  import machinery (which the checks use), a notebook thread still running while a part is graded, and a copy
  of the kit's code, or its code object, kept by the notebook (`types.FunctionType(kit_function.__code__, ...)`);
- the kit's own implementation of the part being graded is tripwired while a case runs (tripwire.py), so a
  student's function that calls it, or a copy of its code (the kit's file compiled again), or a notebook thread
  that does, loses the case, and the notebook is flagged;
- results that are missing although the step ended, or not the file the step saved last (it prints the digest
  of each save; the grader compares), get the part nothing and are flagged.
These are checks, not walls: the code that does them runs in the notebook's process, so code written on purpose
against them (replacing Python's import machinery before the step loads its copies, switching off the profile
hook, rewriting frames, the kit's source pasted in, a little changed, as the notebook's own) can still get past
them; parts whose inputs have no values to reorder (BPE's texts, rope_tables' sizes, the models built from a
seed) get no fresh cases, so answers prepared in advance inside the student's own function pass there. Reading
the flagged notebooks, and the code of the surprising scores, stays part of grading.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import secrets
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import torch

from . import sandbox
from .catalog import load
from .checks import Fresh, PartResult, fresh_cases, judge, prepare, untrue_to_fresh
from .folders import grading_folder, remove_leftovers
from .grades import GradingError, GradingInterrupted, Limits, NotebookGrade
from .harness import part_step, setup_step
from .kernels import GradingRun, Step, execute, worker
from .report import shown
from .submissions import assignment_of, cell_label, code_cells, read_notebook, read_results, read_submission


def grade_notebook(path: str | os.PathLike, limits: Limits | None = None, sandboxed: bool = True) -> NotebookGrade:
    """Grade one notebook; never raises for anything the notebook does (see the module's docstring): whatever
    goes wrong with this notebook becomes its grade's `error`, naming the file.

    `sandboxed=False` runs the kernel with the grader's own permissions: only for notebooks you wrote yourself.
    Raises sandbox.SandboxError when the sandbox cannot be made here (nothing to do with the notebook).
    """
    limits = limits or Limits()
    path = Path(path)
    start = time.monotonic()
    try:
        content = read_submission(path)
        nb = read_notebook(path, content)
        assignment = assignment_of(nb, path)
        module = load(assignment)
        cells = code_cells(nb, path)
    except GradingError as error:
        return NotebookGrade(str(path), None, "", 0.0, 0.0, error=str(error))
    except Exception as error:  # anything else about this file: its grade says so, the other notebooks go on
        return NotebookGrade(str(path), None, "", 0.0, 0.0,
                             error=f"{shown(path.name)} could not be graded ({type(error).__name__}: {error})")
    if sandboxed:
        sandbox.bwrap()  # a machine without bwrap is the grader's problem, not this notebook's: it raises
    grade = NotebookGrade(str(path), assignment, module.TITLE, 0.0, 0.0)
    try:
        _grade_in_kernels(path, content, nb.cells, cells, module, limits, sandboxed, grade)
    except Exception as error:  # a bug of the grader's, or a notebook it did not foresee: this notebook only
        grade.error = f"{shown(path.name)}: grading stopped ({type(error).__name__}: {error})"
    grade.points = sum(p.points for p in grade.parts)
    grade.max_points = sum(p.max_points for p in grade.parts)
    grade.seconds = round(time.monotonic() - start, 1)
    return grade


def _grade_in_kernels(path: Path, content: bytes, all_cells: list, cells: list[int], module, limits: Limits,
                      sandboxed: bool, grade: NotebookGrade) -> None:
    """Run the notebook's code cells and the grading steps in kernels; put each part's result in `grade`.

    Layout of the grading folder (the sandbox's only writable folder): notebook/ its own copy of the notebook
    (`content`), where the kernel starts; kernel/ the connection file; sockets/ the kernel's sockets; parts/ each
    part's inputs, written when its step starts (after every notebook cell ran), with this run's fresh cases, and
    the results its step saves; OWNER the grader's process (see grading_folder). Everything the kernel saves is
    read as a stranger's data (`_outcomes`): it decides no grade by itself.
    """
    assignment = grade.assignment
    prepared = _prepared_cases(assignment)
    parts = {part.name: part for part in module.PARTS}
    fresh: dict[str, list[Fresh]] = {}  # part -> the cases drawn for this run, once its step starts
    unwritable: dict[str, str] = {}  # part -> why its inputs could not be written
    with grading_folder(path.name, content) as folder:
        # the grader reaches parts/ through this descriptor only: the notebook may put a link in its place
        parts_dir = os.open(folder / "parts", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            # names drawn now: nothing the notebook prepared can sit where the grader writes or reads
            files = {name: (f"{name}.{secrets.token_hex(8)}.in.pt", f"{name}.{secrets.token_hex(8)}.out.pt")
                     for name in parts}
            steps = [Step("setup", "setup", setup_step(assignment))]
            steps += [Step("cell", cell_label(i, all_cells[i]), all_cells[i].source) for i in cells]
            for name, (inputs, outputs) in files.items():
                steps.append(Step("part", name, part_step(assignment, name, str(folder / "parts" / inputs),
                                                          str(folder / "parts" / outputs), limits.case_timeout),
                                  cases=len(prepared[name])))

            def before(step: Step) -> None:
                """Just before a part's step: draw its fresh cases and write its inputs."""
                if step.kind != "part":
                    return
                fresh[step.label] = fresh_cases(parts[step.label], prepared[step.label], secrets.randbits(63))
                inputs = [item.case.inputs for item in prepared[step.label]]
                inputs += [item.prepared.case.inputs for item in fresh[step.label]]
                step.cases = len(inputs)
                try:
                    _write_new(parts_dir, files[step.label][0], inputs)
                except OSError as error:  # the folder is the notebook's too: it may have removed parts/
                    unwritable[step.label] = f"the grader could not write the part's inputs ({error.strerror})"

            try:
                execute(steps, folder, limits, sandboxed, cwd=folder / "notebook" if sandboxed else path.parent,
                        before=before)
            except GradingError as error:
                grade.error = str(error)
            by_name = {step.label: step for step in steps if step.kind == "part"}
            for part in module.PARTS:
                results = (None, unwritable[part.name]) if part.name in unwritable else \
                    read_results(parts_dir, files[part.name][1])
                grade.parts.append(_judged(part, prepared[part.name], fresh.get(part.name, []), by_name[part.name],
                                           results, limits, grade.flags))
        finally:
            os.close(parts_dir)
    grade.problems = [step.problem(limits) for step in steps if step.kind == "cell" and step.problem(limits)]


_PREPARED: dict[str, dict] = {}
_PREPARED_LOCK = threading.Lock()


def _prepared_cases(assignment: str) -> dict[str, list]:
    """Every part's cases with their right outputs: computed once per assignment in this process (they do not
    depend on the notebook, nor on what other threads do: see checks.reference_state)."""
    with _PREPARED_LOCK:
        if assignment not in _PREPARED:
            _PREPARED[assignment] = {part.name: prepare(part) for part in load(assignment).PARTS}
        return _PREPARED[assignment]


def _judged(part, prepared: list, fresh: list, step: "Step", results: tuple[bytes | None, str | None],
            limits: Limits, flags: list[str]) -> PartResult:
    """The part's result from what its step saved; `flags` gets what a person should read. The part gets nothing
    when its results are missing or rewritten, when its step found the grading tampered with, or when its
    answers are right on the fixed cases and wrong on the fresh ones drawn from them."""
    outcomes, found = _outcomes(results, step, len(prepared) + len(fresh), limits)
    if outcomes is None:
        found = [found[0] + ": the notebook replaced the grader's code or wrote its files"]
    result = judge(part, prepared, outcomes[:len(prepared)]) if outcomes is not None else None
    if result is not None and not found:
        untrue = untrue_to_fresh(prepared, fresh, result, outcomes[len(prepared):])
        found = [untrue] if untrue else []
    if found:  # one flag per part, saying all that was found
        flags.append(f"{part.name}: " + "; ".join(found[:5]) + (f"; and {len(found) - 5} more" if found[5:] else ""))
        return judge(part, prepared, [{"error": "not graded: the notebook tampered with the grading (see the "
                                                 "flags)"}] * len(prepared))
    flags += [f"{part.name}: {case.label}: {case.message}" for case in result.cases
              if case.message.startswith(("calls the kit's own", "subclasses the kit's own"))]
    return result


def _write_new(directory: int, name: str, value) -> None:
    """Save `value` (torch.save) as a new file `name` in the folder open as `directory`, never through a link;
    readable by the sandbox's user (the inputs are no secret: the kernel is given them)."""
    buffer = io.BytesIO()
    torch.save(value, buffer)
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=directory)
    with os.fdopen(fd, "wb") as file:
        file.write(buffer.getvalue())


def grade_path(path: str | os.PathLike, limits: Limits | None = None, jobs: int = 1,
               sandboxed: bool = True) -> list[NotebookGrade]:
    """Grade a notebook, or every notebook under a folder (in `jobs` kernels at once), in name order."""
    return grade_notebooks(find_notebooks(Path(path)), limits, jobs, sandboxed)


def grade_notebooks(notebooks: list[Path], limits: Limits | None = None, jobs: int = 1, sandboxed: bool = True,
                    on_grade=None) -> list[NotebookGrade]:
    """Grade `notebooks` (find_notebooks's), `jobs` at a time, and call `on_grade(grade)` as each one is finished.

    First the grading folders that killed graders left behind are removed (remove_leftovers). Ctrl-C (a
    KeyboardInterrupt, or a subclass of it raised by a signal handler) stops the grading: the kernels are
    killed, and GradingInterrupted carries the grades finished before it.
    """
    remove_leftovers()
    if sandboxed:
        sandbox.bwrap()  # raises SandboxError, saying what to install, before any notebook runs
    run, slots = GradingRun(), queue.SimpleQueue()
    for slot in range(max(1, jobs)):
        slots.put(slot)

    def grade_one(notebook: Path) -> NotebookGrade:
        slot = slots.get()
        worker.run, worker.slot = run, slot
        try:
            return grade_notebook(notebook, limits, sandboxed)
        finally:
            worker.run = None
            slots.put(slot)

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    futures = {pool.submit(grade_one, notebook): notebook for notebook in notebooks}
    finished: dict[Path, NotebookGrade] = {}
    try:
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: notebooks.index(futures[f])):
                finished[futures[future]] = future.result()
                if on_grade:
                    on_grade(finished[futures[future]])
    except BaseException as stop:
        run.interrupt()  # every kernel, with its sandbox, is killed; the notebooks not started never start
        pool.shutdown(wait=False, cancel_futures=True)
        wait(set(futures) - {f for f in futures if futures[f] in finished}, timeout=20)  # their folders go
        if not isinstance(stop, KeyboardInterrupt):
            raise
        grades = [finished[p] for p in notebooks if p in finished]
        raise GradingInterrupted(grades, len(notebooks), [str(p) for p in notebooks if p not in finished],
                                 getattr(stop, "signum", signal.SIGINT)) from None
    pool.shutdown()
    return [finished[p] for p in notebooks]


def find_notebooks(path: Path) -> list[Path]:
    """The notebooks to grade, in name order: `path` itself, or the .ipynb files under the folder `path`.

    Under the folder nothing is followed: a link (named .ipynb, or to a folder) is listed, so that its grade says
    what it is, and never read (read_submission); .ipynb_checkpoints folders are Jupyter's copies, not work.
    """
    if not path.is_dir():  # the path the instructor gave (a link to a folder is followed, once, at the top)
        if not path.exists() and not path.is_symlink():
            raise FileNotFoundError(f"{path} does not exist: give a notebook (.ipynb) or a folder of them")
        return [path]
    found = []
    folders = [path]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_symlink():
                    if entry.name.endswith(".ipynb") or os.path.isdir(entry.path):
                        found.append(Path(entry.path))
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name != ".ipynb_checkpoints":
                        folders.append(Path(entry.path))
                elif entry.name.endswith(".ipynb"):
                    found.append(Path(entry.path))
    if not found:
        raise FileNotFoundError(f"no notebooks (.ipynb) under {path}")
    return sorted(found)


def _outcomes(results: tuple[bytes | None, str | None], step: "Step", count: int,
              limits: Limits) -> tuple[list[dict] | None, list[str]]:
    """(outcomes of the `count` cases, what the step found tampered with) from the results file's contents, each
    case it did not reach given the reason; (None, [why]) when the results cannot be the step's own: missing
    although the step ended (ran or raised), unreadable, or not the file whose digest the step printed last."""
    data, problem = results
    if problem is not None:
        return None, [problem]
    if data is None and step.status in ("ok", "error"):
        return None, ["the grader's step left no results" + (f" (it raised {step.error})"
                                                             if step.status == "error" else "")]
    outcomes, found = [], []
    if data is not None:
        if step.digest != hashlib.sha256(data).hexdigest():
            return None, ["its results file is not the one the grader's step saved last (the digests differ)"]
        try:
            saved = torch.load(io.BytesIO(data), weights_only=True)
            outcomes, found = saved["outcomes"], saved["tampering"]
        except Exception:
            saved = None
        if saved is None or not isinstance(outcomes, list) or not all(
                isinstance(o, dict) and (isinstance(o.get("error"), str) or "value" in o) for o in outcomes) \
                or not isinstance(found, list) or not all(isinstance(f, str) for f in found):
            return None, ["its results file does not hold what the grader's step saves"]
    outcomes = outcomes[:count]
    if len(outcomes) < count:
        reason = {"timeout": f"stopped: this case was still running long after its {limits.case_timeout:g} s "
                             "(an endless loop that catches the alarm?)",
                  "died": "the kernel died on this case (a crash, or the code ended the process)",
                  "skipped": f"not graded: the notebook used up its time limit ({limits.time_limit:g} s)",
                  "error": f"the grader could not run this part: {step.error}",
                  "pending": "not graded: grading stopped before this part (see the error above)"}.get(
            step.status, f"the grader could not run this part ({step.status})")
        outcomes.append({"error": reason})
        after = "not run: an earlier case of this part stopped the kernel" if step.status in ("timeout", "died") \
            else reason
        outcomes += [{"error": after}] * (count - len(outcomes))
    return outcomes, [text[:500] for text in found]
