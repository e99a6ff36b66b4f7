"""The autograder: run a handed-in assignment notebook in a fresh kernel and score each part with the package's tests.

    python -m llama_lab.grade notebooks/assignments/student/01_rmsnorm_swiglu.ipynb
    python -m llama_lab.grade submissions/ --output grades.json     # every notebook in a folder

How one notebook is graded:
1. The grader builds every case of every part (llama_lab/grading/) and computes, in its own process, the right
   answer and what each known mistake would answer (once per assignment, alone: see checks.reference_state).
   Nothing the notebook does can change these.
2. A fresh Jupyter kernel (nbclient) runs the notebook's code cells in order, except nbgrader's test cells (the
   tests are the package's, so a student cannot edit them away). A cell that raises is noted and the next one
   runs; a cell still running after `cell_timeout` seconds is stopped: the kernel is killed, a new one replays
   the cells before it, and grading goes on without it. A watchdog kills the kernel once the notebook has used
   `time_limit` seconds in all, whatever it is doing.
3. Then, part by part, the grader draws fresh cases for this run (the fixed cases' values in orders drawn now,
   their right answers computed outside the kernel like the others), writes the part's inputs into the
   sandbox's folder, and has the kernel run them: a fresh copy of the harness (llama_lab/grading/harness.py),
   loaded anew from the kit's files, puts back the libraries the notebook may have patched, runs the cases on
   the student's function with an alarm per case, and saves the outputs. The grader reads that file as a
   stranger's (no links, no FIFOs, at most 64 MiB), with torch.load(weights_only=True), and judges the outputs.
   Each part is graded alone: the other parts' functions are the reference ones while it runs, so one part's
   bug costs that part only.

What protects what. The notebooks are strangers' code, so each kernel runs in an OS sandbox
(llama_lab/grading/sandbox.py: bubblewrap): as a host user without privileges, with its own copy of the notebook
as the only thing it can write, no network, no view of the home directories, the other submissions or the grades
file, at most `process_limit` processes and `memory_limit` bytes per process, and a process namespace of its
own, so that it cannot signal the grader and nothing it starts outlives it. The sandbox is what keeps the
instructor's machine and the other submissions safe; without bwrap the grader refuses to run unless told
`--no-sandbox` (for notebooks you wrote yourself). Before any sandbox, the handed-in files themselves are
strangers' too: the grader reads a notebook only if it is a regular file of at most MAX_NOTEBOOK_BYTES, opened
without following links (read_submission); a link, a pipe or a device gets a grade saying what it is.

The command line stops on Ctrl-C or SIGTERM: the kernels are killed, the grades finished so far are printed and
written to `--output` (which is checked before the first notebook and rewritten, atomically, after each one), and
the exit status is 130 or 143. Each notebook is graded in a folder of the temporary folder named TEMP_PREFIX...
that names its grader; a grader killed outright (SIGKILL) leaves it behind, and the next one removes it.

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
  its own copies from the kit's files, and checks the shared ones: anything replaced or altered by the
  notebook's code gets the part nothing and is flagged, and so do replaced functions of sys, gc or the import
  machinery (which the checks use), a notebook thread still running while a part is graded, and a copy of the
  kit's code, or its code object, kept by the notebook (`types.FunctionType(kit_function.__code__, ...)`);
- the kit's own implementation of the part being graded is tripwired while a case runs, so a student's function
  that calls it, or a copy of its code (the kit's file compiled again), or a notebook thread that does, loses
  the case, and the notebook is flagged;
- results that are missing although the step ended, or not the file the step saved last (it prints the digest
  of each save; the grader compares), get the part nothing and are flagged.
These are checks, not walls: the code that does them runs in the notebook's process, so code written on purpose
against them (replacing Python's import machinery before the step loads its copies, switching off the profile
hook, rewriting frames, the kit's source pasted in, a little changed, as the notebook's own) can still get past
them; parts whose inputs have no values to
reorder (BPE's texts, rope_tables' sizes, the models built from a seed) get no fresh cases, so answers prepared
in advance inside the student's own function pass there. Reading the flagged notebooks, and the code of the
surprising scores, stays part of grading.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import secrets
import queue
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from . import sandbox
except ModuleNotFoundError as missing:  # the kit was installed without its `lab` extra
    _LAB = (f"the grader runs notebooks with nbformat, nbclient and ipykernel, and {missing.name} is not installed: "
            "install the kit's lab extra, `pip install -e '.[lab]'` in the kit's folder (or `make venv`)")
    if __name__ == "__main__":
        sys.exit(f"error: {_LAB}")
    raise ModuleNotFoundError(_LAB, name=missing.name) from missing

from ... import grading
from ...files import replacing
from .checks import Fresh, PartResult, format_part, fresh_cases, judge, prepare, untrue_to_fresh
from .harness import RESULTS_MARKER, part_step


MAX_NOTEBOOK_BYTES = 20_000_000  # a handed-in notebook larger than this is not read (outputs of megabytes?)
READ_SECONDS = 30.0  # reading one handed-in notebook (a stalled network drive must not stop the grading)
TEMP_PREFIX = "llama-lab-grade-"  # the grading folders in the temporary folder; each holds OWNER
OWNER = "owner"  # "PID START": the grader process the folder belongs to, and when it started


@dataclass
class Limits:
    """Seconds a notebook may take in all, one cell, and one graded case; in the sandbox, processes and threads,
    and bytes of address space per process (sandbox.py says how they are enforced)."""

    time_limit: float = 300.0
    cell_timeout: float = 60.0
    case_timeout: float = 20.0
    process_limit: int = sandbox.PROCESS_LIMIT
    memory_limit: int = sandbox.MEMORY_LIMIT


@dataclass
class NotebookGrade:
    path: str
    assignment: str | None
    title: str
    points: float
    max_points: float
    parts: list[PartResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what went wrong outside the graded parts
    flags: list[str] = field(default_factory=list)  # attempts to get points without the work, for a person to read
    seconds: float = 0.0
    error: str | None = None  # set when the notebook could not be graded at all

    def to_dict(self) -> dict:
        return asdict(self)


class GradingError(Exception):
    """The notebook cannot be graded (not an assignment, unreadable, no kernel)."""


class GradingInterrupted(Exception):
    """Grading stopped on a signal (Ctrl-C, SIGTERM): `grades` are the notebooks finished before it, in name
    order, of `total`; the kernels and sandboxes of the others are gone."""

    def __init__(self, grades: list[NotebookGrade], total: int, pending: list[str], signum: int):
        super().__init__(f"grading was interrupted ({signal.Signals(signum).name}) after {len(grades)} of "
                         f"{total} notebooks")
        self.grades, self.total, self.pending, self.signum = grades, total, pending, signum


# ------------------------------------------------------------------------------------------------ grading

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
        nb = _read(path, content)
        assignment = assignment_of(nb, path)
        module = grading.load(assignment)
        cells = _code_cells(nb, path)
    except GradingError as error:
        return NotebookGrade(str(path), None, "", 0.0, 0.0, error=str(error))
    except Exception as error:  # anything else about this file: its grade says so, the other notebooks go on
        return NotebookGrade(str(path), None, "", 0.0, 0.0,
                             error=f"{_shown(path.name)} could not be graded ({type(error).__name__}: {error})")
    if sandboxed:
        sandbox.bwrap()  # a machine without bwrap is the grader's problem, not this notebook's: it raises
    grade = NotebookGrade(str(path), assignment, module.TITLE, 0.0, 0.0)
    try:
        _grade_in_kernels(path, content, nb.cells, cells, module, limits, sandboxed, grade)
    except Exception as error:  # a bug of the grader's, or a notebook it did not foresee: this notebook only
        grade.error = f"{_shown(path.name)}: grading stopped ({type(error).__name__}: {error})"
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
            steps = [_Step("setup", "setup", f"__import__('llama_lab.grading.engine.harness', fromlist=['snapshot'])"
                                             f".snapshot({assignment!r});\n")]
            steps += [_Step("cell", _cell_label(i, all_cells[i]), all_cells[i].source) for i in cells]
            for name, (inputs, outputs) in files.items():
                steps.append(_Step("part", name, part_step(assignment, name, str(folder / "parts" / inputs),
                                                           str(folder / "parts" / outputs), limits.case_timeout),
                                   cases=len(prepared[name])))

            def before(step: _Step) -> None:
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
                _execute(steps, folder, limits, sandboxed, cwd=folder / "notebook" if sandboxed else path.parent,
                         before=before)
            except GradingError as error:
                grade.error = str(error)
            by_name = {step.label: step for step in steps if step.kind == "part"}
            for part in module.PARTS:
                results = (None, unwritable[part.name]) if part.name in unwritable else \
                    _read_results(parts_dir, files[part.name][1])
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
            _PREPARED[assignment] = {part.name: prepare(part) for part in grading.load(assignment).PARTS}
        return _PREPARED[assignment]


def _judged(part, prepared: list, fresh: list, step: "_Step", results: tuple[bytes | None, str | None],
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


RESULTS_LIMIT = 64 * 2**20  # bytes: a part's results are small tensors; anything bigger is not the grader's


def _read_results(directory: int, name: str, limit: int = RESULTS_LIMIT) -> tuple[bytes | None, str | None]:
    """(contents, None) of the results file `name` in `directory`; (None, None) when there is none; (None, what
    is wrong) when it is not a plain file of at most `limit` bytes (see read_plain_file)."""
    try:
        return read_plain_file(name, limit, directory), None
    except FileNotFoundError:
        return None, None
    except NotPlainFile as problem:
        if problem.size is not None:
            return None, f"its results file is over {limit} bytes"
        return None, "its results file is not a plain file (a FIFO, a device, a folder?)"
    except OSError as error:
        return None, f"its results file could not be opened ({error.strerror}: a link?)"


class NotPlainFile(Exception):
    """read_plain_file found something other than a plain file of at most its limit: `mode` is what it found
    (os.stat's st_mode), or `size` the bytes it read before giving up."""

    def __init__(self, mode: int | None = None, size: int | None = None):
        super().__init__(f"not a plain file (mode {mode:o})" if mode is not None else f"{size} bytes or more")
        self.mode, self.size = mode, size


def read_plain_file(path: str | os.PathLike, limit: int, directory: int | None = None) -> bytes:
    """The bytes of a file someone else may have placed (a notebook handed in, what a kernel saved): `path`,
    inside the folder open as `directory` if given, read only if it is a regular file, and never more than
    `limit` bytes of it. It is opened without following a link (OSError ELOOP) and without waiting (a FIFO), so
    a link to /dev/zero or to the instructor's files, or a pipe that never ends, costs nothing. Raises
    FileNotFoundError when there is none, NotPlainFile for anything else found there."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=directory)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotPlainFile(mode=mode)
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise NotPlainFile(size=size)
        return b"".join(chunks)
    finally:
        os.close(fd)


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
    run, slots = _Run(), queue.SimpleQueue()
    for slot in range(max(1, jobs)):
        slots.put(slot)

    def grade_one(notebook: Path) -> NotebookGrade:
        slot = slots.get()
        _worker.run, _worker.slot = run, slot
        try:
            return grade_notebook(notebook, limits, sandboxed)
        finally:
            _worker.run = None
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


class _Run:
    """One call of grade_path: whether it is stopping, and the kernels running for it, so that an interrupt can
    end them all from the main thread while the worker threads wait on their kernels."""

    def __init__(self):
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._kernels: set[int] = set()

    def started(self, pid: int | None) -> None:
        with self._lock:
            if pid is not None:
                self._kernels.add(pid)
            if self.stop.is_set():  # started while the others were being killed
                _kill_group(pid)

    def ended(self, pid: int | None) -> None:
        with self._lock:
            self._kernels.discard(pid)

    def interrupt(self) -> None:
        with self._lock:
            self.stop.set()
            for pid in self._kernels:
                _kill_group(pid)


# which run (and which sandbox slot: one per notebook graded at once) the current worker thread grades for;
# grade_notebook called directly has none: slot 0, and nothing can interrupt it but its own limits
_worker = threading.local()


# ------------------------------------------------------------------------------------------------ files

def read_submission(path: Path) -> bytes:
    """The bytes of a handed-in notebook: a regular file of at most MAX_NOTEBOOK_BYTES, opened without following
    links (a student's link could point to the instructor's files, /dev/zero or a pipe that never ends), read
    within READ_SECONDS. Anything else raises GradingError saying what the path is, never what a link points to.
    """
    name = _shown(path.name)
    try:
        info = os.lstat(path)
    except OSError as error:
        raise GradingError(f"{name} could not be read ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise GradingError(_not_a_file(name, path, info.st_mode))
    if info.st_size > MAX_NOTEBOOK_BYTES:
        raise GradingError(_too_large(name, info.st_size))
    outcome: list = []

    def read() -> None:
        try:
            outcome.append(read_plain_file(path, MAX_NOTEBOOK_BYTES))
        except NotPlainFile as problem:  # replaced since lstat, or grown
            outcome.append(GradingError(_too_large(name, problem.size) if problem.size is not None
                                        else _not_a_file(name, path, problem.mode)))
        except OSError as error:  # ELOOP: it became a link since lstat
            outcome.append(GradingError(f"{name} could not be read ({error.strerror})"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(READ_SECONDS)
    if not outcome:
        raise GradingError(f"{name} could not be read within {READ_SECONDS:g} s (a stalled network drive?): "
                           "copy it to a local folder and grade it there")
    if isinstance(outcome[0], GradingError):
        raise outcome[0]
    return outcome[0]


def _not_a_file(name: str, path: Path, mode: int) -> str:
    if stat.S_ISLNK(mode):
        if os.path.isdir(path):
            return (f"{name} is a symbolic link to a folder: the grader does not follow links; copy the notebooks "
                    "themselves in")
        return f"{name} is a symbolic link: hand in the notebook file itself (the grader does not follow links)"
    kind = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device", stat.S_IFBLK:
            "a block device", stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}.get(stat.S_IFMT(mode),
                                                                                   "not a regular file")
    return f"{name} is {kind}, not a notebook file: hand in the notebook file itself"


def _too_large(name: str, size: int) -> str:
    return (f"{name} is {size / 1e6:.1f} MB or more, larger than the {MAX_NOTEBOOK_BYTES / 1e6:g} MB a notebook "
            "may be: clear its outputs (Edit > Clear Outputs of All Cells), save it and hand it in again")


@contextlib.contextmanager
def grading_folder(name: str, content: bytes):
    """A new folder in which one notebook is graded, holding notebook/`name` (`content`) and an empty parts/;
    removed afterwards. Its name starts with TEMP_PREFIX and its file OWNER names this process, so that when
    the grader is killed before it can remove the folder, the next grader recognises it (remove_leftovers)."""
    folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    try:
        (folder / OWNER).write_text(_process_id(os.getpid()) or str(os.getpid()))
        (folder / "notebook").mkdir()
        (folder / "parts").mkdir()
        (folder / "notebook" / name).write_bytes(content)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_leftovers() -> list[Path]:
    """Remove the grading folders that graders killed before they could (SIGKILL, a power cut) left behind: only
    this user's folders named TEMP_PREFIX... in the temporary folder whose OWNER is a process that has ended.
    A folder without OWNER, or of a grader still running, is left alone. Returns the folders removed."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(TEMP_PREFIX + "*"):
        with contextlib.suppress(OSError, ValueError, IndexError, NotPlainFile):
            info = folder.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                continue
            owner = read_plain_file(folder / OWNER, 100).decode("ascii").strip()
            pid = int(owner.split()[0])
            if pid <= 0 or _process_id(pid) == owner or (" " not in owner and _alive(pid)):
                continue  # its grader still runs
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


def _process_id(pid: int) -> str | None:
    """'PID START', START being when the process started (Linux's /proc): a process that ended and a later one
    given the same pid differ; None where there is no /proc, or no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            after_name = f.read().rsplit(b")", 1)[1].split()
        return f"{pid} {int(after_name[19])}"  # field 22 of stat: the start time, in clock ticks after boot
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def assignment_of(nb, path: Path) -> str:
    """The assignment a notebook belongs to: its metadata says so; else its file name starts with the name."""
    name = nb.metadata.get("llama_lab", {}).get("assignment")  # a dict: _read checked
    if name in grading.ASSIGNMENTS:
        return name
    for known in grading.ASSIGNMENTS:
        if path.stem.startswith(known) or path.stem.startswith(known[:2] + "_"):
            return known
    raise GradingError(f"{_shown(path.name)} is not one of the assignments ({', '.join(grading.ASSIGNMENTS)}): its "
                       "metadata has no llama_lab.assignment and its name does not start with an assignment's")


def _read(path: Path, content: bytes):
    """The notebook in `content` (read_submission's), with the metadata the grader reads checked: nbformat
    accepts odd values that would otherwise stop the grader (`"llama_lab": "04_sampling"`, `"nbgrader": "yes"`)."""
    name = _shown(path.name)
    try:
        nb = nbformat.reads(content.decode("utf-8"), as_version=4)
    except Exception as error:  # not UTF-8, not JSON, not a notebook
        raise GradingError(f"{name} could not be read as a notebook ({type(error).__name__}: {error})")
    if not isinstance(nb.get("metadata"), dict) or not isinstance(nb.get("cells"), list):
        raise GradingError(f"{name} is not a notebook: it needs an object `metadata` and a list `cells`")
    if not isinstance(nb.metadata.get("llama_lab", {}), dict):
        raise GradingError(f"{name}: its metadata `llama_lab` is {_kind(nb.metadata['llama_lab'])}, not an "
                           'object such as {"assignment": "04_sampling"}: fix the metadata, or remove it and '
                           "name the file after its assignment")
    return nb


def _code_cells(nb, path: Path) -> list[int]:
    """The indices of the cells the kernel runs: code, not empty, not nbgrader's test cells."""
    indices = []
    for i, cell in enumerate(nb.cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        if not isinstance(cell.get("source"), str):
            raise GradingError(f"{_shown(path.name)}: cell {i + 1}'s source is {_kind(cell.get('source'))}, not text: "
                               "open the notebook in Jupyter and save it again")
        metadata = cell.get("metadata", {})
        nbgrader = metadata.get("nbgrader", {}) if isinstance(metadata, dict) else metadata
        if not isinstance(nbgrader, dict):
            raise GradingError(f"{_shown(path.name)}: cell {i + 1}'s metadata `nbgrader` is {_kind(nbgrader)}, not an "
                               'object such as {"grade": true, "solution": false}: was it edited by hand?')
        if cell.source.strip() and not _is_test_cell(cell):
            indices.append(i)
    return indices


def _kind(value) -> str:
    """'an int (42)', 'a str ('04_sampling')': what was found, for a message."""
    name, text = type(value).__name__, repr(value)
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name} ({text[:40] + ' ...' if len(text) > 40 else text})"


def _is_test_cell(cell) -> bool:
    """nbgrader's autograder tests: graded, not a solution. The package runs its own tests instead."""
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def _cell_label(index: int, cell) -> str:
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    return f"cell {index + 1} (`{first[:50]}{'...' if len(first) > 50 else ''}`)"


def _outcomes(results: tuple[bytes | None, str | None], step: "_Step", count: int,
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


# -------------------------------------------------------------------------------- running the notebook

@dataclass
class _Step:
    kind: str  # "setup" (the harness), "cell" (the notebook's), "part" (grading one part)
    label: str
    code: str
    status: str = "pending"  # ok, error, timeout, died, skipped
    error: str = ""
    cases: int = 0  # for a part: how many cases it runs
    cell: dict = field(default_factory=dict)  # the cell it last ran as, with what it printed and displayed

    @property
    def digest(self) -> str | None:
        """For a part: the digest of its results that the step printed last (see harness.write_results)."""
        text = "".join(o.get("text", "") for o in self.cell.get("outputs", [])
                       if o.get("output_type") == "stream" and o.get("name") == "stdout")
        said = [line.split()[-1] for line in text.splitlines() if line.startswith(RESULTS_MARKER + " ")]
        return said[-1] if said else None

    def problem(self, limits: Limits) -> str:
        """A line for the report about a notebook cell that did not run cleanly ('' if it did)."""
        if self.status == "error" and not self.error.startswith("NotImplementedError"):
            return f"{self.label} raised {self.error}"
        if self.status == "timeout":
            return f"{self.label} was still running after {limits.cell_timeout:g} s: it was stopped and skipped"
        if self.status == "died":
            return f"{self.label} killed the kernel (a crash, or it ended the process): it was skipped"
        if self.status == "skipped":
            return f"{self.label} did not run: the notebook used up its time limit ({limits.time_limit:g} s)"
        return ""


class _Client(NotebookClient):
    """nbclient's client, keeping at most `max_output_chars` of output per cell: a cell that prints megabytes
    costs the grader nothing but time (errors are always kept: they say how the cell ended)."""

    max_output_chars = 20_000

    def __init__(self, *args, box: Path | None = None, cwd: Path, limits: Limits, slot: int, **kwargs):
        super().__init__(*args, **kwargs)
        self._output_used: dict[int, int] = {}
        self.box, self.cwd = box, cwd  # box: the folder of the sandbox the kernel runs in (None: no sandbox)
        self.limits, self.slot = limits, slot

    def create_kernel_manager(self):
        if self.box is None:
            return super().create_kernel_manager()
        self.km = sandbox.SandboxedKernelManager.for_folder(
            self.box, self.cwd, _kernel_env(sandboxed=True), self.limits.process_limit, self.limits.memory_limit,
            self.slot)
        return self.km

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = len(str(content.get("text", ""))) + sum(len(str(v)) for v in content.get("data", {}).values())
        used = self._output_used.get(cell_index, 0) + size
        self._output_used[cell_index] = used
        if used > self.max_output_chars and msg.get("msg_type") != "error":
            return None
        return super().output(outs, msg, display_id, cell_index)


def _kernel_env(sandboxed: bool) -> dict:
    """The kernel's environment: in the sandbox only these (the grader's own variables may hold secrets)."""
    settings = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg", "TQDM_DISABLE": "1",
                "LLAMA_LAB_GRADING": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    return settings if sandboxed else {**os.environ, **settings}


def _execute(steps: list[_Step], folder: Path, limits: Limits, sandboxed: bool, cwd: Path, before=None) -> None:
    """Run the steps in kernels, one after another, until all have run or the time limit is reached; each kernel
    in a sandbox whose writable folder is `folder` unless `sandboxed` is False, starting in `cwd`; `before(step)`
    is called just before each step runs the first time.

    A step that times out or kills its kernel is marked so and dropped; the next kernel replays the setup and
    the notebook cells that had run (not the parts already graded) and carries on from the step after it.
    """
    deadline = time.monotonic() + limits.time_limit
    run, slot = getattr(_worker, "run", None) or _Run(), getattr(_worker, "slot", 0)
    todo, ran = list(steps), []  # ran: setup and cells, replayed in each new kernel
    while todo and time.monotonic() < deadline and not run.stop.is_set():
        client = _Client(nbformat.v4.new_notebook(), timeout_func=lambda cell: cell.metadata["seconds"],
                         kernel_name="python3", allow_errors=True, shutdown_kernel="immediate",
                         interrupt_on_timeout=False, startup_timeout=120, iopub_timeout=10,
                         box=folder if sandboxed else None, cwd=cwd, limits=limits, slot=slot)
        current, replaying = None, False
        try:
            # the kernel's own log lines (stderr) are not the notebook's output: they go nowhere
            with client.setup_kernel(env=_kernel_env(sandboxed), cwd=str(cwd), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL):
                pid = _kernel_pid(client)
                run.started(pid)  # from now on an interrupt kills it
                watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _kill_group, [pid])
                watchdog.daemon = True
                watchdog.start()
                try:
                    replaying = True
                    for current in list(ran):
                        _run_step(client, current, len(steps) + ran.index(current), limits)
                    replaying = False
                    while todo:
                        current = todo[0]
                        if before is not None:
                            before(current)
                        _run_step(client, current, steps.index(current), limits)
                        if current.kind == "setup" and current.status != "ok":
                            raise GradingError(f"the grader's harness did not start in the kernel: {current.error}"
                                               " (is llama_lab installed in the kernel's Python?)")
                        todo.pop(0)
                        if current.kind != "part":
                            ran.append(current)
                finally:
                    watchdog.cancel()
                    _kill_group(pid)
                    run.ended(pid)
        except GradingError:
            raise
        except (CellTimeoutError, DeadKernelError, RuntimeError, OSError, TimeoutError) as error:
            if isinstance(error, sandbox.SandboxError):
                raise
            out_of_time = time.monotonic() >= deadline - 0.5
            if current is None:  # the kernel did not start
                raise GradingError(f"no Jupyter kernel could be started ({type(error).__name__}: {error})")
            if current.kind == "setup":
                raise GradingError(f"the kernel stopped while the grader's harness started ({error})")
            if replaying:  # a cell that ran before does not finish now: drop it as well
                ran.remove(current)
            else:
                todo.remove(current)
            current.status = "skipped" if out_of_time else (
                "timeout" if isinstance(error, CellTimeoutError) else "died")
    for step in todo:
        step.status = "skipped"


def _run_step(client: _Client, step: _Step, index: int, limits: Limits) -> None:
    cell = nbformat.v4.new_code_cell(step.code)
    # a notebook cell gets cell_timeout; the harness's setup imports torch (slow on a busy machine); a part runs
    # each of its cases under its own alarm, so it gets all of theirs
    cell.metadata["seconds"] = int(max(1, {"cell": limits.cell_timeout, "setup": max(limits.cell_timeout, 120),
                                           "part": step.cases * limits.case_timeout + 60}[step.kind]))
    client._output_used[index] = 0
    step.cell = cell  # its outputs stay, even when the kernel dies during the step
    while len(client.nb.cells) <= index:  # nbclient stores each executed cell at its index
        client.nb.cells.append(nbformat.v4.new_code_cell(""))
    client.execute_cell(cell, index, store_history=False)
    errors = [o for o in cell.outputs if o.get("output_type") == "error"]
    if errors:
        step.status, step.error = "error", f"{errors[0].get('ename', 'Error')}: {errors[0].get('evalue', '')}"[:300]
    else:
        step.status, step.error = "ok", ""


def _kernel_pid(client: NotebookClient) -> int | None:
    process = getattr(getattr(client.km, "provisioner", None), "process", None)
    return getattr(process, "pid", None)


def _kill_group(pid: int | None) -> None:
    """Kill the kernel and whatever it started (the kernel leads its own process group)."""
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        if os.getpgid(pid) == pid and pid != os.getpgid(0):
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------------------------------------ reports

def format_grade(grade: NotebookGrade) -> str:
    """The text report of one notebook. Every name and message in it is one line (see _shown): a file named
    "x.ipynb\\nalice.ipynb: 13/13 points" cannot add a line of its own."""
    head = f"{_shown(grade.path)}: "
    if grade.error and not grade.parts:
        return head + f"not graded: {_shown(grade.error)}"
    lines = [head + f"{grade.points:g}/{grade.max_points:g} points  ({grade.title}; {grade.seconds:g} s)"]
    lines += [format_part(replace(part, cases=[replace(case, label=_shown(case.label), message=_shown(case.message))
                                               for case in part.cases]), indent="  ") for part in grade.parts]
    if grade.error:
        lines.append(f"  grading stopped early: {_shown(grade.error)}")
    if grade.problems:
        lines.append("  notebook cells that did not run cleanly:")
        lines += [f"    - {_shown(problem)}" for problem in grade.problems]
    if grade.flags:
        lines.append("  FLAGGED, read this notebook: it tried to get points without doing the work:")
        lines += [f"    - {_shown(flag)}" for flag in grade.flags]
    return "\n".join(lines)


def format_summary(grades: list[NotebookGrade]) -> str:
    names = [_shown(g.path) for g in grades]
    width = max(len(name) for name in names)
    lines = [f"{'notebook':<{width}}  points"]
    for name, g in zip(names, grades):
        lines.append(f"{name:<{width}}  " + (f"{g.points:g}/{g.max_points:g}" if not g.error or g.parts
                                             else "not graded"))
    lines.append(f"{'total':<{width}}  {sum(g.points for g in grades):g}/{sum(g.max_points for g in grades):g}")
    return "\n".join(lines)


def _shown(text: str) -> str:
    """`text` as it is, or, when it holds a character that is not printable (a newline, a terminal's escape
    sequence, bytes that are not UTF-8), as Python writes it in quotes: 'a\\nb.ipynb' is a name, not two lines."""
    return text if text.isprintable() else repr(text)


def report_json(grades: list[NotebookGrade], pending: list[str]) -> str:
    """The grades as JSON (file names as they are): the notebooks graded, and those not graded yet (`pending`:
    while grading, or after an interrupt)."""
    return json.dumps({"points": sum(g.points for g in grades), "max_points": sum(g.max_points for g in grades),
                       "notebooks": [g.to_dict() for g in grades], "pending": pending}, indent=2)


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
    """Raised in the main thread by SIGINT or SIGTERM while the command grades: grade_path stops, as on Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def main(argv: list[str] | None = None) -> int:
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


if __name__ == "__main__":
    command()
