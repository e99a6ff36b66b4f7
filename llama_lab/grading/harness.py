"""The grader's hands inside the student's kernel: run a part's cases on the student's code and write down what
happened, whatever that code does.

Student code may raise, loop, print megabytes, or change the libraries it shares a process with (set
`torch.softmax = ...`, patch `llama_lab.model.Attention.forward`, change the default dtype). So, per case:
the libraries are put back as they were before the notebook ran (`snapshot` then `restore`), printing goes
nowhere, an alarm stops the case after a few seconds, and any exception becomes a message. Outputs are reduced
to plain tensors, numbers and strings, saved with torch.save and read back by the grader with
`weights_only=True`, so nothing the student's code returns can run in the grader's process.
"""

from __future__ import annotations

import builtins
import contextlib
import copy
import io
import math
import os
import signal
import sys
import sysconfig
import threading
import traceback
from pathlib import Path
from typing import Any

import torch

from .checks import Part

PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)  # llama_lab/
_LIBRARY_DIRS = tuple({sysconfig.get_paths()[key] for key in ("stdlib", "purelib", "platlib")})


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
    if (getattr(impl, "__module__", None) or "").startswith("llama_lab"):
        raise StudentError(f"`{part.name}` is the kit's own {impl.__module__}.{impl.__qualname__}: "
                           "the assignment is to write it yourself")
    return impl


def run_case(part: Part, impl: Any, inputs: dict, namespace: dict | None, seconds: float) -> dict:
    """Run one case on the student's implementation: {"value": plain output} or {"error": what went wrong}."""
    try:
        with _uses(namespace, part.uses), _quiet(), _time_limit(seconds):
            torch.manual_seed(0)
            value = part.run(impl, copy.deepcopy(inputs))
            return {"value": plain(value)}
    except CaseTimeout:
        return {"error": f"stopped after {seconds:g} s without an answer: an endless loop, or far too slow?"}
    except NotImplementedError:
        return {"error": f"not implemented yet (`{part.name}` raises NotImplementedError)"}
    except StudentError as error:
        return {"error": str(error)}
    except KeyboardInterrupt:
        return {"error": "interrupted"}
    except BaseException as error:  # SystemExit too: a student's exit() must not end the grading
        return {"error": describe_error(error)}


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
    frames = [f for f in traceback.extract_tb(error.__traceback__) if _is_student_frame(f.filename)]
    if frames:
        where = frames[-1]
        code = f": `{where.line.strip()}`" if where.line else ""
        text += f" (line {where.lineno} of your {where.name}{code})"
    return text


def _is_student_frame(filename: str) -> bool:
    return not filename.startswith(PACKAGE_DIR) and not filename.startswith(_LIBRARY_DIRS) \
        and "site-packages" not in filename and not filename.startswith("<frozen")


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

_SNAPSHOT: list[tuple[Any, dict]] = []
_STATE: dict = {}
_MISSING = object()


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


def snapshot(assignment: str | None = None) -> None:
    """Remember the libraries as they are now: called before the notebook's first cell."""
    if assignment is not None:
        from . import load
        load(assignment)  # its module too: the parts' run functions live there
    _SNAPSHOT[:] = [(obj, dict(vars(obj))) for obj in _watched()]
    _STATE.update(dtype=torch.get_default_dtype(), grad=torch.is_grad_enabled(), stdout=sys.stdout,
                  stderr=sys.stderr, modules={name: m for name, m in sys.modules.items()
                                              if name == "torch" or name.startswith(("torch.nn", "llama_lab"))})


def restore() -> None:
    """Put back every attribute the notebook replaced or deleted, the default dtype, grad mode and streams.

    Attributes the notebook added to a class are deleted (`torch.Tensor.sum = ...` hides the real method); those
    added to a module are left alone (deleting them could remove lazily loaded submodules).
    """
    for obj, saved in _SNAPSHOT:
        current = vars(obj)
        changed = [name for name, value in saved.items() if current.get(name, _MISSING) is not value]
        added = [name for name in current if name not in saved] if isinstance(obj, type) else []
        for name in changed:
            with contextlib.suppress(AttributeError, TypeError):
                setattr(obj, name, saved[name])
        for name in added:
            with contextlib.suppress(AttributeError, TypeError):
                delattr(obj, name)
    if _STATE:
        torch.set_default_dtype(_STATE["dtype"])
        torch.set_grad_enabled(_STATE["grad"])
        sys.stdout, sys.stderr = _STATE["stdout"], _STATE["stderr"]
        sys.modules.update(_STATE["modules"])


# ------------------------------------------------------------------------ the kernel's side of grading

def collect(assignment: str, part_name: str, inputs_path: str, outputs_path: str, namespace: dict,
            seconds: float) -> None:
    """Run every case of one part on the student's code and save the outcomes (after each case, so that a
    case that hangs the kernel loses only itself)."""
    from . import get_part
    restore()
    part = get_part(assignment, part_name)
    all_inputs = torch.load(inputs_path, weights_only=True)
    outcomes = []
    try:
        impl = find(namespace, part)
    except StudentError as error:
        impl, outcomes = None, [{"error": str(error)} for _ in all_inputs]
    if impl is not None:
        for outcome in run_cases(part, impl, all_inputs, namespace, seconds, before_each=restore):
            outcomes.append(outcome)
            _save(outcomes, outputs_path)
    restore()
    _save(outcomes, outputs_path)


def _save(outcomes: list, path: str) -> None:
    tmp = f"{path}.tmp"
    try:
        torch.save(outcomes, tmp)
    except Exception as error:  # an output torch cannot save: keep the message instead
        outcomes[-1] = {"error": f"the grader could not save the output ({type(error).__name__}: {error})"}
        torch.save(outcomes, tmp)
    os.replace(tmp, path)
