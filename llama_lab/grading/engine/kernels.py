"""Running a notebook's steps in Jupyter kernels: the harness's setup, the notebook's code cells, then one step per
graded part, each kernel in its sandbox (sandbox.py). A cell still running after its timeout, or one that kills
its kernel, is dropped: a new kernel replays the cells before it and goes on; a watchdog kills the kernel once the
notebook has used its time limit; an interrupt kills every kernel of the run (GradingRun)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from . import sandbox
from .grades import GradingError, Limits
from .harness import RESULTS_MARKER


class GradingRun:
    """One call of grade_notebooks: whether it is stopping, and the kernels running for it, so that an interrupt can
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
                kill_group(pid)

    def ended(self, pid: int | None) -> None:
        with self._lock:
            self._kernels.discard(pid)

    def interrupt(self) -> None:
        with self._lock:
            self.stop.set()
            for pid in self._kernels:
                kill_group(pid)


# which run (and which sandbox slot: one per notebook graded at once) the current worker thread grades for;
# grade_notebook called directly has none: slot 0, and nothing can interrupt it but its own limits
worker = threading.local()


@dataclass
class Step:
    """One cell the kernel runs for the grader, and how it went."""

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


class KernelClient(NotebookClient):
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
            self.box, self.cwd, kernel_env(sandboxed=True), self.limits.process_limit, self.limits.memory_limit,
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


def kernel_env(sandboxed: bool) -> dict:
    """The kernel's environment: in the sandbox only these (the grader's own variables may hold secrets)."""
    settings = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg", "TQDM_DISABLE": "1",
                "LLAMA_LAB_GRADING": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    return settings if sandboxed else {**os.environ, **settings}


def execute(steps: list[Step], folder: Path, limits: Limits, sandboxed: bool, cwd: Path, before=None) -> None:
    """Run the steps in kernels, one after another, until all have run or the time limit is reached; each kernel
    in a sandbox whose writable folder is `folder` unless `sandboxed` is False, starting in `cwd`; `before(step)`
    is called just before each step runs the first time.

    A step that times out or kills its kernel is marked so and dropped; the next kernel replays the setup and
    the notebook cells that had run (not the parts already graded) and carries on from the step after it.
    """
    deadline = time.monotonic() + limits.time_limit
    run, slot = getattr(worker, "run", None) or GradingRun(), getattr(worker, "slot", 0)
    todo, ran = list(steps), []  # ran: setup and cells, replayed in each new kernel
    while todo and time.monotonic() < deadline and not run.stop.is_set():
        client = KernelClient(nbformat.v4.new_notebook(), timeout_func=lambda cell: cell.metadata["seconds"],
                              kernel_name="python3", allow_errors=True, shutdown_kernel="immediate",
                              interrupt_on_timeout=False, startup_timeout=120, iopub_timeout=10,
                              box=folder if sandboxed else None, cwd=cwd, limits=limits, slot=slot)
        current, replaying = None, False
        try:
            # the kernel's own log lines (stderr) are not the notebook's output: they go nowhere
            with client.setup_kernel(env=kernel_env(sandboxed), cwd=str(cwd), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL):
                pid = _kernel_pid(client)
                run.started(pid)  # from now on an interrupt kills it
                watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), kill_group, [pid])
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
                    kill_group(pid)
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


def _run_step(client: KernelClient, step: Step, index: int, limits: Limits) -> None:
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


def kill_group(pid: int | None) -> None:
    """Kill the kernel and whatever it started (the kernel leads its own process group)."""
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        if os.getpgid(pid) == pid and pid != os.getpgid(0):
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
