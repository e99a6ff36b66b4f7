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
(llama_lab/grading/sandbox.py: bubblewrap): as user nobody, with its own copy of the notebook as the only thing
it can write, no network, no view of the home directories, the other submissions or the grades file, and a
process namespace of its own, so that it cannot signal the grader and nothing it starts outlives it. The sandbox
is what keeps the instructor's machine and the other submissions safe; without bwrap the grader refuses to run
unless told `--no-sandbox` (for notebooks you wrote yourself).

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
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
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

from .. import grading
from ..files import replacing
from .checks import Fresh, PartResult, format_part, fresh_cases, judge, prepare, untrue_to_fresh
from .harness import RESULTS_MARKER, part_step


@dataclass
class Limits:
    """Seconds a notebook may take in all, one cell, and one graded case."""

    time_limit: float = 300.0
    cell_timeout: float = 60.0
    case_timeout: float = 20.0


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
        nb = _read(path)
        assignment = assignment_of(nb, path)
        module = grading.load(assignment)
        cells = _code_cells(nb, path)
    except GradingError as error:
        return NotebookGrade(str(path), None, "", 0.0, 0.0, error=str(error))
    except Exception as error:  # anything else about this file: its grade says so, the other notebooks go on
        return NotebookGrade(str(path), None, "", 0.0, 0.0,
                             error=f"{path.name} could not be graded ({type(error).__name__}: {error})")
    if sandboxed:
        sandbox.bwrap()  # a machine without bwrap is the grader's problem, not this notebook's: it raises
    grade = NotebookGrade(str(path), assignment, module.TITLE, 0.0, 0.0)
    try:
        _grade_in_kernels(path, nb.cells, cells, module, limits, sandboxed, grade)
    except Exception as error:  # a bug of the grader's, or a notebook it did not foresee: this notebook only
        grade.error = f"{path.name}: grading stopped ({type(error).__name__}: {error})"
    grade.points = sum(p.points for p in grade.parts)
    grade.max_points = sum(p.max_points for p in grade.parts)
    grade.seconds = round(time.monotonic() - start, 1)
    return grade


def _grade_in_kernels(path: Path, all_cells: list, cells: list[int], module, limits: Limits, sandboxed: bool,
                      grade: NotebookGrade) -> None:
    """Run the notebook's code cells and the grading steps in kernels; put each part's result in `grade`.

    Layout of the grading folder (the sandbox's only writable folder): notebook/ its own copy of the notebook,
    where the kernel starts; kernel/ the connection file and sockets; parts/ each part's inputs, written when its
    step starts (after every notebook cell ran), with this run's fresh cases, and the results its step saves.
    Everything the kernel saves is read as a stranger's data (`_outcomes`): it decides no grade by itself.
    """
    assignment = grade.assignment
    prepared = _prepared_cases(assignment)
    parts = {part.name: part for part in module.PARTS}
    fresh: dict[str, list[Fresh]] = {}  # part -> the cases drawn for this run, once its step starts
    unwritable: dict[str, str] = {}  # part -> why its inputs could not be written
    with tempfile.TemporaryDirectory(prefix="llama-lab-grade-") as tmp:
        folder = Path(tmp)
        (folder / "notebook").mkdir()
        (folder / "parts").mkdir()
        shutil.copyfile(path, folder / "notebook" / path.name)
        # the grader reaches parts/ through this descriptor only: the notebook may put a link in its place
        parts_dir = os.open(folder / "parts", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            # names drawn now: nothing the notebook prepared can sit where the grader writes or reads
            files = {name: (f"{name}.{secrets.token_hex(8)}.in.pt", f"{name}.{secrets.token_hex(8)}.out.pt")
                     for name in parts}
            steps = [_Step("setup", "setup", f"__import__('llama_lab.grading.harness', fromlist=['snapshot'])"
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
    """Save `value` (torch.save) as a new file `name` in the folder open as `directory`, never through a link."""
    buffer = io.BytesIO()
    torch.save(value, buffer)
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=directory)
    with os.fdopen(fd, "wb") as file:
        file.write(buffer.getvalue())


RESULTS_LIMIT = 64 * 2**20  # bytes: a part's results are small tensors; anything bigger is not the grader's


def _read_results(directory: int, name: str, limit: int = RESULTS_LIMIT) -> tuple[bytes | None, str | None]:
    """(contents, None) of the results file `name` in `directory`; (None, None) when there is none; (None, what
    is wrong) when it is not a plain file of at most `limit` bytes. Never follows a link, never waits (a FIFO),
    never reads more than `limit` bytes (a file that grows, a link to /dev/zero)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=directory)
    except FileNotFoundError:
        return None, None
    except OSError as error:
        return None, f"its results file could not be opened ({error.strerror}: a link?)"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "its results file is not a plain file (a FIFO, a device, a folder?)"
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            return None, f"its results file is over {limit} bytes"
        return b"".join(chunks), None
    finally:
        os.close(fd)


def grade_path(path: str | os.PathLike, limits: Limits | None = None, jobs: int = 1,
               sandboxed: bool = True) -> list[NotebookGrade]:
    """Grade a notebook, or every notebook under a folder (in `jobs` kernels at once), in name order."""
    path = Path(path)
    if path.is_dir():
        notebooks = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    elif path.is_file():
        notebooks = [path]
    else:
        raise FileNotFoundError(f"{path} does not exist: give a notebook (.ipynb) or a folder of them")
    if not notebooks:
        raise FileNotFoundError(f"no notebooks (.ipynb) under {path}")
    if sandboxed:
        sandbox.bwrap()  # raises SandboxError, saying what to install, before any notebook runs
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda p: grade_notebook(p, limits, sandboxed), notebooks))


def assignment_of(nb, path: Path) -> str:
    """The assignment a notebook belongs to: its metadata says so; else its file name starts with the name."""
    name = nb.metadata.get("llama_lab", {}).get("assignment")  # a dict: _read checked
    if name in grading.ASSIGNMENTS:
        return name
    for known in grading.ASSIGNMENTS:
        if path.stem.startswith(known) or path.stem.startswith(known[:2] + "_"):
            return known
    raise GradingError(f"{path.name} is not one of the assignments ({', '.join(grading.ASSIGNMENTS)}): its "
                       "metadata has no llama_lab.assignment and its name does not start with an assignment's")


def _read(path: Path):
    """The notebook, with the metadata the grader reads checked: nbformat accepts odd values that would
    otherwise stop the grader (`"llama_lab": "04_sampling"`, a cell's `"nbgrader": "yes"`)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:  # not JSON, not a notebook, unreadable
        raise GradingError(f"{path.name} could not be read as a notebook ({type(error).__name__}: {error})")
    if not isinstance(nb.get("metadata"), dict) or not isinstance(nb.get("cells"), list):
        raise GradingError(f"{path.name} is not a notebook: it needs an object `metadata` and a list `cells`")
    if not isinstance(nb.metadata.get("llama_lab", {}), dict):
        raise GradingError(f"{path.name}: its metadata `llama_lab` is {_kind(nb.metadata['llama_lab'])}, not an "
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
            raise GradingError(f"{path.name}: cell {i + 1}'s source is {_kind(cell.get('source'))}, not text: "
                               "open the notebook in Jupyter and save it again")
        metadata = cell.get("metadata", {})
        nbgrader = metadata.get("nbgrader", {}) if isinstance(metadata, dict) else metadata
        if not isinstance(nbgrader, dict):
            raise GradingError(f"{path.name}: cell {i + 1}'s metadata `nbgrader` is {_kind(nbgrader)}, not an "
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

    def __init__(self, *args, box: Path | None = None, cwd: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self._output_used: dict[int, int] = {}
        self.box, self.cwd = box, cwd  # box: the folder of the sandbox the kernel runs in (None: no sandbox)

    def create_kernel_manager(self):
        if self.box is None:
            return super().create_kernel_manager()
        self.km = sandbox.SandboxedKernelManager.for_folder(self.box, self.cwd, _kernel_env(sandboxed=True))
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
    todo, ran = list(steps), []  # ran: setup and cells, replayed in each new kernel
    while todo and time.monotonic() < deadline:
        client = _Client(nbformat.v4.new_notebook(), timeout_func=lambda cell: cell.metadata["seconds"],
                         kernel_name="python3", allow_errors=True, shutdown_kernel="immediate",
                         interrupt_on_timeout=False, startup_timeout=120, iopub_timeout=10,
                         box=folder if sandboxed else None, cwd=cwd)
        current, replaying = None, False
        try:
            # the kernel's own log lines (stderr) are not the notebook's output: they go nowhere
            with client.setup_kernel(env=_kernel_env(sandboxed), cwd=str(cwd), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL):
                pid = _kernel_pid(client)
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
    head = f"{grade.path}: "
    if grade.error and not grade.parts:
        return head + f"not graded: {grade.error}"
    lines = [head + f"{grade.points:g}/{grade.max_points:g} points  ({grade.title}; {grade.seconds:g} s)"]
    lines += [format_part(part, indent="  ") for part in grade.parts]
    if grade.error:
        lines.append(f"  grading stopped early: {grade.error}")
    if grade.problems:
        lines.append("  notebook cells that did not run cleanly:")
        lines += [f"    - {problem}" for problem in grade.problems]
    if grade.flags:
        lines.append("  FLAGGED, read this notebook: it tried to get points without doing the work:")
        lines += [f"    - {flag}" for flag in grade.flags]
    return "\n".join(lines)


def format_summary(grades: list[NotebookGrade]) -> str:
    width = max(len(g.path) for g in grades)
    lines = [f"{'notebook':<{width}}  points"]
    for g in grades:
        lines.append(f"{g.path:<{width}}  " + (f"{g.points:g}/{g.max_points:g}" if not g.error or g.parts
                                               else "not graded"))
    lines.append(f"{'total':<{width}}  {sum(g.points for g in grades):g}/{sum(g.max_points for g in grades):g}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llama_lab.grade", description=(
        "Grade llama-lab assignment notebooks: each runs in a fresh kernel and every part is scored by the "
        "package's tests, with a message naming what is wrong."))
    parser.add_argument("path", help="a notebook (.ipynb) or a folder of them (searched recursively)")
    parser.add_argument("--json", action="store_true", help="print the grades as JSON instead of text")
    parser.add_argument("--output", metavar="FILE", help="also write the grades as JSON to FILE, once every "
                        "notebook is graded (atomically: FILE is either the old one or the whole new one)")
    parser.add_argument("--no-sandbox", action="store_true", help="run the kernels with your own permissions, "
                        "without bubblewrap: only for notebooks you wrote yourself, never for students' ones")
    parser.add_argument("--time-limit", type=float, default=Limits.time_limit,
                        help="seconds one notebook may take in all (default %(default)s)")
    parser.add_argument("--cell-timeout", type=float, default=Limits.cell_timeout,
                        help="seconds one cell may run (default %(default)s)")
    parser.add_argument("--case-timeout", type=float, default=Limits.case_timeout,
                        help="seconds one graded case may run (default %(default)s)")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks graded at once (default 1)")
    args = parser.parse_args(argv)
    try:
        grades = grade_path(args.path, Limits(args.time_limit, args.cell_timeout, args.case_timeout), args.jobs,
                            sandboxed=not args.no_sandbox)
    except (FileNotFoundError, sandbox.SandboxError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # every kernel, and every sandbox with whatever it started, is gone by now
    total, best = sum(g.points for g in grades), sum(g.max_points for g in grades)
    report = json.dumps({"points": total, "max_points": best, "notebooks": [g.to_dict() for g in grades]}, indent=2)
    if args.output:
        with replacing(args.output) as tmp:  # the old grades or the new ones, never half of them
            tmp.write_text(report + "\n", encoding="utf-8")
    if args.json:
        print(report)
    else:
        print("\n\n".join(format_grade(g) for g in grades))
        if len(grades) > 1:
            print("\n" + format_summary(grades))
    return 1 if any(g.error and not g.parts for g in grades) else 0


if __name__ == "__main__":
    sys.exit(main())
