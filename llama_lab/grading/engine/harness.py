"""The grader's hands inside the student's kernel: run a part's cases on the student's code and write down what
happened, whatever that code does.

Student code may raise, loop, print megabytes, or change the libraries it shares a process with (set
`torch.softmax = ...`, patch `llama_lab.model.Attention.forward`, change the default dtype). So, per case:
the libraries are put back as they were before the notebook ran (`snapshot` then `restore`), printing goes
nowhere, an alarm stops the case after a few seconds, and any exception becomes a message. Outputs are reduced
to plain tensors, numbers and strings, saved with torch.save and read back by the grader with
`weights_only=True`, so nothing the student's code returns can run in the grader's process.

In the grader's kernel, the set-up step (`setup_step`, before the notebook's first cell) only takes the
snapshot. Each part is graded by a cell made by `part_step`: it loads the grading package anew from the kit's
files, so `grade_part` runs with objects the notebook could not reach before, and that first looks for what the
notebook did to the grading (tampering.py: grading modules, Part objects or the snapshot altered, copies of the
kit's code, notebook threads), puts the libraries back, runs the cases, and saves the outcomes with what it
found. Nothing here is
secret, and nothing here decides a grade: the grader judges what is saved, outside, against its own answers and
this run's fresh cases. While a case runs, the kit's own implementation of the part is tripwired (tripwire.py):
a student's function that calls it, even through a reference taken before grading, loses the case. All this
runs in the student's own process, so code written to take it apart can still do it: run.py says what stops
what, and what does not.
"""

from __future__ import annotations

import builtins
import contextlib
import copy
import functools
import hashlib
import io
import math
import os
import secrets
import signal
import sys
import textwrap
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, FunctionType
from typing import Any

import torch

from .catalog import load
from .checks import Part
from .tampering import (SHARED_PACKAGE, changed_kit_code, copies_of_kit_code, held_kit_code, is_snapshot,
                        notebook_threads, qualname, tampering)
from .tripwire import KitCalled, is_student_frame, tripwires

_MISSING = object()


class CaseTimeout(BaseException):
    """Raised by the alarm inside student code; a BaseException so that `except Exception` cannot swallow it."""


class StudentError(Exception):
    """The student's notebook lacks what a part needs (a name not defined, or not a function)."""


def find(namespace: dict, part: Part) -> Any:
    """The student's implementation of `part`: the object named `part.name` in the notebook's namespace."""
    if part.name not in namespace:
        raise StudentError(f"`{part.name}` is not defined: run the cell that defines it, and keep its name")
    impl = namespace[part.name]
    if not callable(impl):
        raise StudentError(f"`{part.name}` is a {type(impl).__name__}, not a function or class")
    inner = impl
    while isinstance(inner, functools.partial):  # functools.partial(the kit's function) is the kit's function
        inner = inner.func
    if (getattr(inner, "__module__", None) or "").startswith("llama_lab"):
        raise StudentError(f"`{part.name}` is the kit's own {inner.__module__}.{qualname(inner)}: "
                           "the assignment is to write it yourself")
    if isinstance(impl, type) and isinstance(part.reference, type) and issubclass(impl, part.reference):
        raise StudentError(f"`{part.name}` subclasses the kit's own {part.reference.__module__}."
                           f"{part.reference.__qualname__}: the assignment is to write it yourself")
    return impl


def run_case(part: Part, impl: Any, inputs: dict, namespace: dict | None, seconds: float) -> dict:
    """Run one case on the student's implementation: {"value": plain output} or {"error": what went wrong}."""
    kit_calls: list[str] = []  # the kit's own functions the student's code called (see tripwire.py)
    try:
        with _uses(namespace, part.uses), tripwires(part, sys._getframe(), kit_calls), _quiet(), \
                _time_limit(seconds):
            torch.manual_seed(0)
            outcome = {"value": plain(part.run(impl, copy.deepcopy(inputs)))}
    except CaseTimeout:
        outcome = {"error": f"stopped after {seconds:g} s without an answer: an endless loop, or far too slow?"}
    except NotImplementedError:
        outcome = {"error": f"not implemented yet (`{part.name}` raises NotImplementedError)"}
    except (StudentError, KitCalled) as error:
        outcome = {"error": str(error)}
    except KeyboardInterrupt:
        outcome = {"error": "interrupted"}
    except BaseException as error:  # SystemExit too: a student's exit() must not end the grading
        outcome = {"error": describe_error(error)}
    if kit_calls:  # even when the student's code caught the exception and answered something else
        outcome = {"error": f"calls the kit's own {kit_calls[0]}: the assignment is to write it yourself"}
    return outcome


def run_cases(part: Part, impl: Any, all_inputs: list[dict], namespace: dict | None, seconds: float,
              before_each=None):
    """Yield the outcome of each case in turn; once a case runs out of time the others get 2 s each."""
    for inputs in all_inputs:
        if before_each:
            before_each()
        outcome = run_case(part, impl, inputs, namespace, seconds)
        if outcome.get("error", "").startswith("stopped after"):
            seconds = min(seconds, 2.0)
        yield outcome


def describe_error(error: BaseException) -> str:
    """'ZeroDivisionError: division by zero (line 4 of your rms_norm: `return x / ms`)'."""
    text = f"raised {type(error).__name__}: {error}".strip()
    if len(text) > 400:
        text = text[:400] + " ..."
    frames = [f for f in traceback.extract_tb(error.__traceback__) if is_student_frame(f.filename)]
    if frames:
        where = frames[-1]
        code = f": `{where.line.strip()}`" if where.line else ""
        text += f" (line {where.lineno} of your {where.name}{code})"
    return text


def plain(value: Any, depth: int = 0) -> Any:
    """The output as plain data that torch.load(weights_only=True) accepts: tensors, numbers, str, list, dict."""
    if depth > 20:
        raise StudentError("the output is nested more than 20 levels deep")
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().as_subclass(torch.Tensor).clone()
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if type(value).__module__ == "numpy":
        return plain(torch.as_tensor(value).clone() if hasattr(value, "shape") and value.shape else value.item(),
                     depth + 1)
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    raise StudentError(f"returned an object of type {type(value).__name__}, which the grader cannot read "
                       "(give back tensors, numbers, strings, or lists of them)")


def as_float(value: Any) -> float:
    """A number the student's function returned, as a float: 0.75, torch.tensor(0.75) and np.float64(0.75) all do."""
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        raise StudentError(f"returned {type(value).__name__} {str(value)[:60]!r}, not a number: return a float") \
            from None


@contextlib.contextmanager
def _uses(namespace: dict | None, substitutes: dict):
    """Put the reference implementations in the notebook's namespace under the names in `substitutes`."""
    if not namespace or not substitutes:
        yield
        return
    missing = object()
    saved = {name: namespace.get(name, missing) for name in substitutes}
    namespace.update(substitutes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value


class _Sink(io.TextIOBase):
    """Swallows text: what student code prints while it is graded is not part of the answer."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(_Sink()), contextlib.redirect_stderr(_Sink()):
        yield


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Raise CaseTimeout in the main thread after `seconds` (elsewhere no alarm: the kernel's limit still holds)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def alarm(signum, frame):
        raise CaseTimeout()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.1)  # and again every 0.1 s, for code that swallows the first
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def one_thread():
    """Small tensors are fastest on one thread (and a shared machine's other cores stay free)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# ------------------------------------------------------------------------ the libraries, as they were

@dataclass
class Snapshot:
    """The libraries as they were: each watched object's attributes, the code of the kit's functions (a notebook
    may swap a function's `__code__`), the default dtype, grad mode and streams, and the modules."""

    attributes: list[tuple[Any, dict]]
    codes: list[tuple[FunctionType, CodeType]]
    state: dict


_LATEST: list[Snapshot] = []  # the last snapshot, for restore() without one


def _watched() -> list:
    """Modules and classes whose attributes student code might replace."""
    import llama_lab  # noqa: F401 (loads the package's modules into sys.modules)
    import torch.nn.functional  # noqa: F401
    modules = [builtins, math, torch, torch.nn, torch.nn.functional, torch.linalg, torch.testing]
    modules += [m for name, m in sorted(sys.modules.items()) if name.startswith("llama_lab") and m is not None]
    objects = list(modules) + [torch.Tensor, torch.nn.Module, torch.nn.Linear, torch.nn.Embedding]
    for module in modules:
        if module.__name__.startswith("llama_lab"):
            objects += [v for v in vars(module).values()
                        if isinstance(v, type) and v.__module__ == module.__name__]
    return objects


def snapshot(assignment: str | None = None) -> Snapshot:
    """Remember the libraries as they are now: called before the notebook's first cell."""
    if assignment is not None:
        load(assignment)  # its module too: the parts' run functions live there
    objects = _watched()
    taken = Snapshot(
        attributes=[(obj, dict(vars(obj))) for obj in objects],
        codes=[(f, f.__code__) for obj in objects for f in list(vars(obj).values())
               if isinstance(f, FunctionType) and (f.__module__ or "").startswith("llama_lab")],
        state=dict(dtype=torch.get_default_dtype(), grad=torch.is_grad_enabled(), stdout=sys.stdout,
                   stderr=sys.stderr, modules={name: m for name, m in sys.modules.items()
                                               if name == "torch" or name.startswith(("torch.nn", "llama_lab"))}))
    _LATEST[:] = [taken]
    return taken


def restore(taken: Snapshot | None = None) -> None:
    """Put back every attribute the notebook replaced or deleted, the kit's functions' code, the default dtype,
    grad mode and streams (from `taken`, else the last snapshot).

    Attributes the notebook added to a class are deleted (`torch.Tensor.sum = ...` hides the real method); those
    added to a module are left alone (deleting them could remove lazily loaded submodules).
    """
    taken = taken or (_LATEST[0] if _LATEST else None)
    if taken is None:
        return
    for obj, saved in taken.attributes:
        current = vars(obj)
        changed = [name for name, value in saved.items() if current.get(name, _MISSING) is not value]
        added = [name for name in current if name not in saved] if isinstance(obj, type) else []
        for name in changed:
            with contextlib.suppress(AttributeError, TypeError):
                setattr(obj, name, saved[name])
        for name in added:
            with contextlib.suppress(AttributeError, TypeError):
                delattr(obj, name)
    for function, code in taken.codes:
        if function.__code__ is not code:
            with contextlib.suppress(ValueError, TypeError):
                function.__code__ = code
    torch.set_default_dtype(taken.state["dtype"])
    torch.set_grad_enabled(taken.state["grad"])
    sys.stdout, sys.stderr = taken.state["stdout"], taken.state["stderr"]
    sys.modules.update(taken.state["modules"])


# ------------------------------------------------------------------------ the kernel's side of grading

RESULTS_MARKER = "llama-lab results sha256"  # the line a part step prints after each save, with the file's digest


def setup_step(assignment: str) -> str:
    """The code of the cell that runs before the notebook's first: it loads the assignment's parts and takes the
    snapshot of the libraries, in this module as the notebook shares it (where the part steps look for it)."""
    return f"__import__({__name__!r}, fromlist=['snapshot']).snapshot({assignment!r});\n"


def part_step(assignment: str, part_name: str, inputs_path: str, outputs_path: str, seconds: float) -> str:
    """The code of the cell that grades one part in the kernel (made in the grader's process).

    It loads the grading package anew from the kit's files, as modules under a name drawn now, so that the
    objects it grades with are none the notebook could reach before (the notebook may have replaced or altered
    this module, its closures, the Part instances); then `grade_part` of that fresh copy runs the part.
    """
    package = f"llama_lab._grading_{secrets.token_hex(8)}"
    folder = Path(__file__).resolve().parent.parent  # llama_lab/grading/
    harness = f"{package}.{__name__.split('.', 2)[2]}"  # this module's name in the fresh copy
    return textwrap.dedent(f"""\
        def _llama_lab_grade_part(namespace):
            import importlib, importlib.util, sys
            spec = importlib.util.spec_from_file_location({package!r}, {str(folder / "__init__.py")!r},
                                                          submodule_search_locations=[{str(folder)!r}])
            sys.modules[{package!r}] = package = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(package)
                importlib.import_module({harness!r}).grade_part(
                    {assignment!r}, {part_name!r}, {inputs_path!r}, {outputs_path!r}, {seconds!r}, namespace)
            finally:
                for name in [n for n in sys.modules if n == {package!r} or n.startswith({package + "."!r})]:
                    del sys.modules[name]
        _llama_lab_grade_part(globals())
        del _llama_lab_grade_part
        """)


def grade_part(assignment: str, part_name: str, inputs_path: str, outputs_path: str, seconds: float,
               namespace: dict) -> None:
    """Run one part's cases on the notebook's code (in `namespace`) and save what happened at `outputs_path`.

    Called in a fresh copy of this package (see `part_step`). Before the cases, it looks for what the notebook
    did to the grading: the grader's modules or Part objects replaced or altered, copies of the kit's own code
    made outside the kit, threads of the notebook still running; what it finds goes into the results as
    `tampering`, and the grader gives the part nothing for it. Then the libraries are put back as they were
    before the notebook ran, and the cases run one by one; after each, the outcomes so far are saved (a case
    that kills the kernel loses only itself) and the file's digest printed, for the grader to compare.
    """
    part = {p.name: p for p in load(assignment).PARTS}[part_name]
    shared = sys.modules.get(f"{SHARED_PACKAGE}.{__name__.split('.', 2)[2]}")  # this module, as the notebook has it
    taken = next(iter(getattr(shared, "_LATEST", None) or []), None)
    found = tampering(part, taken)
    put_back = (lambda: restore(taken)) if is_snapshot(taken) else (lambda: None)
    put_back()
    found += [f"the kit's {name} is not the code of its file, even after the libraries were put back"
              for name in changed_kit_code(part)]
    found += copies_of_kit_code(part) + held_kit_code(part, namespace) + notebook_threads()
    all_inputs = torch.load(inputs_path, weights_only=True)
    outcomes: list[dict] = []
    try:
        impl = find(namespace, part)
    except StudentError as error:
        impl, outcomes = None, [{"error": str(error)} for _ in all_inputs]
    if impl is not None:
        for outcome in run_cases(part, impl, all_inputs, namespace, seconds, before_each=put_back):
            outcomes.append(outcome)
            put_back()
            write_results(outputs_path, outcomes, found)
    found += [problem + " (when the cases had run)" for problem in notebook_threads()]
    write_results(outputs_path, outcomes, found)


def write_results(path: str, outcomes: list, found: list[str]) -> None:
    """Save {"outcomes": ..., "tampering": ...} with torch.save (atomically), then print its digest."""
    buffer = io.BytesIO()
    try:
        torch.save({"outcomes": outcomes, "tampering": found}, buffer)
    except Exception as error:  # an output torch cannot save: keep the message instead
        outcomes[-1] = {"error": f"the grader could not save the output ({type(error).__name__}: {error})"}
        buffer = io.BytesIO()
        torch.save({"outcomes": outcomes, "tampering": found}, buffer)
    data = buffer.getvalue()
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as file:
        file.write(data)
    os.replace(tmp, path)
    print(f"{RESULTS_MARKER} {hashlib.sha256(data).hexdigest()}", file=sys.stdout, flush=True)
