"""The grader's hands inside the student's kernel: run a part's cases on the student's code and write down what
happened, whatever that code does.

Student code may raise, loop, print megabytes, or change the libraries it shares a process with (set
`torch.softmax = ...`, patch `llama_lab.model.Attention.forward`, change the default dtype). So, per case:
the libraries are put back as they were before the notebook ran (`snapshot` then `restore`), printing goes
nowhere, an alarm stops the case after a few seconds, and any exception becomes a message. Outputs are reduced
to plain tensors, numbers and strings, saved with torch.save and read back by the grader with
`weights_only=True`, so nothing the student's code returns can run in the grader's process.

In the grader's kernel, the set-up step (before the notebook's first cell) only takes the snapshot. Each part
is graded by a cell made by `part_step`: it loads this package anew from the kit's files, so `grade_part` runs
with objects the notebook could not reach before, and that first looks for what the notebook did to the grading
(`tampering`: grading modules, Part objects or the snapshot altered, copies of the kit's code, notebook
threads), puts the libraries back, runs the cases, and saves the outcomes with what it found. Nothing here is
secret, and nothing here decides a grade: the grader judges what is saved, outside, against its own answers and
this run's fresh cases. While a case runs, the kit's own implementation of the part is tripwired (tripwire.py):
a student's function that calls it, even through a reference taken before grading, loses the case. All this
runs in the student's own process, so code written to take it apart can still do it:
llama_lab/grading/grade.py says what stops what, and what does not.
"""

from __future__ import annotations

import builtins
import contextlib
import copy
import functools
import gc
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
from types import BuiltinFunctionType, CodeType, FrameType, FunctionType, MethodType, ModuleType
from typing import Any

import torch

from .checks import Part
from .tripwire import KitCalled, is_kit_file, is_student_frame, tripwires

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
        raise StudentError(f"`{part.name}` is the kit's own {inner.__module__}.{_qualname(inner)}: "
                           "the assignment is to write it yourself")
    if isinstance(impl, type) and isinstance(part.reference, type) and issubclass(impl, part.reference):
        raise StudentError(f"`{part.name}` subclasses the kit's own {part.reference.__module__}."
                           f"{part.reference.__qualname__}: the assignment is to write it yourself")
    return impl


def _qualname(obj: Any) -> str:
    return getattr(obj, "__qualname__", type(obj).__qualname__)


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
        from .. import load
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


def part_step(assignment: str, part_name: str, inputs_path: str, outputs_path: str, seconds: float) -> str:
    """The code of the cell that grades one part in the kernel (made in the grader's process).

    It loads the grading package anew from the kit's files, as modules under a name drawn now, so that the
    objects it grades with are none the notebook could reach before (the notebook may have replaced or altered
    this module, its closures, the Part instances); then `grade_part` of that fresh copy runs the part.
    """
    package = f"llama_lab._grading_{secrets.token_hex(8)}"
    folder = Path(__file__).resolve().parent.parent  # llama_lab/grading/
    return textwrap.dedent(f"""\
        def _llama_lab_grade_part(namespace):
            import importlib, importlib.util, sys
            spec = importlib.util.spec_from_file_location({package!r}, {str(folder / "__init__.py")!r},
                                                          submodule_search_locations=[{str(folder)!r}])
            sys.modules[{package!r}] = package = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(package)
                importlib.import_module({package + ".engine.harness"!r}).grade_part(
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
    from .. import load
    part = {p.name: p for p in load(assignment).PARTS}[part_name]
    shared = sys.modules.get(__package__.split(".")[0] + ".grading.engine.harness")
    taken = next(iter(getattr(shared, "_LATEST", None) or []), None)
    found = tampering(part, taken)
    put_back = (lambda: restore(taken)) if _is_snapshot(taken) else (lambda: None)
    put_back()
    found += [f"the kit's {name} is not the code of its file, even after the libraries were put back"
              for name in _changed_kit_code(part)]
    found += _copies_of_kit_code(part) + _held_kit_code(part, namespace) + _notebook_threads()
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
    found += [problem + " (when the cases had run)" for problem in _notebook_threads()]
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


# ------------------------------------------------------------------------ what the notebook did to the grading

def tampering(part: Part, taken: Any) -> list[str]:
    """What the notebook replaced or altered among the grading objects it could reach: the functions the checks
    rely on, the modules of llama_lab.grading (in sys.modules), every Part object (found with gc), the snapshot
    of the libraries."""
    found = _replaced_tools()
    if not _is_snapshot(taken):  # the set-up step takes one before the notebook's first cell
        found.append(f"the grader's snapshot of the libraries is gone (found {type(taken).__name__} instead)")
    else:
        for obj, saved in taken.attributes:
            found += [f"the grader's snapshot of the libraries was altered: it would put back the notebook's "
                      f"{_qualname(value)} as {getattr(obj, '__name__', type(obj).__name__)}.{name}"
                      for name, value in list(saved.items()) if _notebook_made(value)]
        found += [f"the grader's snapshot of the libraries was altered: it would give {function.__qualname__} "
                  "code of the notebook's" for function, code in taken.codes if _notebook_code(code)]
    root = __package__.split(".")[0] + ".grading"  # the shared package, not this fresh copy
    for name, module in list(sys.modules.items()):
        if name != root and not name.startswith(root + "."):
            continue
        if not isinstance(module, ModuleType):
            found.append(f"sys.modules[{name!r}] is the notebook's {type(module).__name__}, not the kit's module")
            continue
        for attribute, value in list(vars(module).items()):
            if _notebook_made(value):
                found.append(f"{name}.{attribute} was replaced by the notebook's {_qualname(value)}")
            elif isinstance(value, type) and value.__module__ == name:
                found += [f"{name}.{value.__qualname__}.{key} was replaced by the notebook's {_qualname(v)}"
                          for key, v in list(vars(value).items()) if _notebook_made(v)]
    for obj in gc.get_objects():
        if type(obj).__name__ == "Part" and type(obj).__module__.endswith(".checks") and obj is not part:
            fields = {"reference": obj.reference, "run": obj.run, "cases": obj.cases, **{
                f"mistake {k[:40]!r}": v for k, v in obj.mistakes.items()}, **{
                f"uses[{k!r}]": v for k, v in obj.uses.items()}, **{f"kit[{i}]": v for i, v in enumerate(obj.kit)}}
            found += [f"the grader's Part {obj.name!r} was altered: its {key} is the notebook's {_qualname(value)}"
                      for key, value in fields.items() if _notebook_made(value)]
    return found


def _replaced_tools() -> list[str]:
    """The functions these checks and the part step rely on that are not the interpreter's own any more: the
    built-ins of sys and gc, and the import machinery the step loads this package with."""
    import importlib
    import importlib.util
    found = []
    for module, names in ((sys, ("_current_frames", "_getframe")), (gc, ("get_objects", "get_referrers", "collect"))):
        for name in names:
            tool = getattr(module, name, None)
            if not isinstance(tool, BuiltinFunctionType) or tool.__self__ is not module:
                found.append(f"{module.__name__}.{name} was replaced by the notebook's {_qualname(tool)}")
    for module, names in ((importlib, ("import_module",)), (importlib.util, ("spec_from_file_location",
                                                                            "module_from_spec"))):
        for name in names:
            tool = getattr(module, name, None)
            if not isinstance(tool, FunctionType) or _notebook_code(tool.__code__):
                found.append(f"{module.__name__}.{name} was replaced by the notebook's {_qualname(tool)}")
    return found


def _is_snapshot(obj: Any) -> bool:
    """A Snapshot of any copy of this module (the set-up step's is the shared module's, not this fresh one's)."""
    return type(obj).__name__ == "Snapshot" and type(obj).__module__.endswith(".harness") and all(
        isinstance(getattr(obj, name, None), kind) for name, kind in (("attributes", list), ("codes", list),
                                                                      ("state", dict)))


def _notebook_made(value: Any) -> bool:
    """Whether `value` is code the notebook made: a function, method, partial or class from a notebook cell, or
    an object of such a class."""
    while isinstance(value, functools.partial):
        value = value.func
    if isinstance(value, MethodType):
        value = value.__func__
    if isinstance(value, FunctionType):
        return _notebook_code(value.__code__)
    if isinstance(value, (ModuleType, BuiltinFunctionType)) or value is None:
        return False
    cls = value if isinstance(value, type) else type(value)
    return cls.__module__ == "__main__" or any(
        isinstance(v, FunctionType) and _notebook_code(v.__code__) for v in list(vars(cls).values()))


# the methods dataclasses write (their code comes from "<string>"): the kit's dataclasses have them
_DATACLASS_METHODS = {"__init__", "__repr__", "__eq__", "__setattr__", "__delattr__", "__hash__", "__lt__", "__le__",
                      "__gt__", "__ge__", "__getstate__", "__setstate__"}


def _notebook_code(code: CodeType) -> bool:
    """Whether `code` is neither the kit's, nor a library's, nor a method that dataclasses wrote."""
    return is_student_frame(code.co_filename) and not (code.co_filename == "<string>"
                                                        and code.co_name in _DATACLASS_METHODS)


def _kit_functions(part: Part) -> list[FunctionType]:
    """The part's kit functions written in the kit's own files (those the tripwire guards)."""
    return [f for f in part.kit if isinstance(f, FunctionType) and is_kit_file(f.__code__.co_filename)]


def _changed_kit_code(part: Part) -> list[str]:
    """The part's kit functions whose code is not what their file compiles to (a `__code__` swapped)."""
    changed = []
    for function in _kit_functions(part):
        code = function.__code__
        compiled = _compiled(code.co_filename).get((code.co_name, code.co_firstlineno))
        if compiled is None or compiled != code:
            changed.append(f"{function.__module__}.{function.__qualname__}")
    return changed


@functools.lru_cache(maxsize=None)
def _compiled(filename: str) -> dict:
    """(name, first line) -> code object, for every function in a kit file, compiled from the file."""
    table, todo = {}, [compile(Path(filename).read_text(encoding="utf-8"), filename, "exec")]
    while todo:
        code = todo.pop()
        table[(code.co_name, code.co_firstlineno)] = code
        todo += [c for c in code.co_consts if isinstance(c, CodeType)]
    return table


def _copies_of_kit_code(part: Part) -> list[str]:
    """Functions other than the kit's own that run the code of the part's kit functions: copies the notebook
    made before grading (`types.FunctionType(kit_function.__code__, ...)`), which the tripwire cannot see."""
    functions = _kit_functions(part)
    names = {f.__code__: f"{f.__module__}.{f.__qualname__}" for f in functions}
    originals = {id(f) for f in functions}
    found = set()
    gc.collect()  # the tripwire's own copies, from the cases of earlier parts, are garbage by now
    for obj in gc.get_objects():
        if isinstance(obj, FunctionType) and id(obj) not in originals and obj.__code__ in names:
            found.add(f"the notebook holds a copy of the kit's own {names[obj.__code__]} (a function made from its "
                      "code), which would answer for it without the tripwire seeing")
    # whatever else holds the code objects themselves (a list, a module's attributes, an object of the
    # notebook's), besides the kit's functions and the snapshot's pairs (function, its code)
    for holder in gc.get_referrers(*names):
        if holder is names or id(holder) in originals or isinstance(holder, FrameType) or (
                isinstance(holder, tuple) and len(holder) == 2 and id(holder[0]) in originals):
            continue
        held = holder.values() if isinstance(holder, dict) else holder if isinstance(holder, (list, tuple, set)) \
            else vars(holder).values() if hasattr(holder, "__dict__") else ()
        found.update(_holds(names[code]) for code in list(held) if isinstance(code, CodeType) and code in names)
    return sorted(found)


def _holds(name: str) -> str:
    return (f"the notebook holds the code of the kit's own {name}, the makings of a copy that would answer for it "
            "without the tripwire seeing")


def _held_kit_code(part: Part, namespace: dict) -> list[str]:
    """The part's kit code objects (or equal copies) that the notebook keeps in its namespace, in containers
    there, or in its functions' closures and defaults: the makings of a function that runs the kit's code
    without the tripwire. (`_copies_of_kit_code` finds the holders gc tracks; a dict or tuple holding only
    such objects is not one of them.)"""
    names = {f.__code__: f"{f.__module__}.{f.__qualname__}" for f in _kit_functions(part)}
    found, seen = set(), set()
    todo = [(value, 0) for value in list(namespace.values())]
    while todo and len(seen) < 200_000:  # a notebook's data (long lists) need not be walked to the end
        value, depth = todo.pop()
        if id(value) in seen or depth > 4:
            continue
        seen.add(id(value))
        if isinstance(value, CodeType):
            if value in names:
                found.add(_holds(names[value]))
            continue
        if isinstance(value, FunctionType) and _notebook_code(value.__code__):
            inside = list(value.__defaults__ or ()) + list((value.__kwdefaults__ or {}).values())
            inside += [cell.cell_contents for cell in value.__closure__ or () if _has_contents(cell)]
        elif isinstance(value, dict):
            inside = list(value.values())
        elif isinstance(value, (list, tuple, set, frozenset)):
            inside = list(value)
        elif not isinstance(value, (ModuleType, type)) and type(value).__module__ in ("__main__", "types"):
            inside = list(getattr(value, "__dict__", {}).values())  # an object of the notebook's, a SimpleNamespace
        else:
            continue
        todo += [(v, depth + 1) for v in inside]
    return sorted(found)


def _has_contents(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:  # a cell not filled yet
        return False
    return True


def _notebook_threads() -> list[str]:
    """A line for each thread other than this one that runs the notebook's code."""
    found = []
    for ident, frame in sys._current_frames().items():
        if ident == threading.get_ident():
            continue
        stack = []
        while frame is not None:
            stack.append(frame)
            frame = frame.f_back
        mine = [f for f in stack if is_student_frame(f.f_code.co_filename)]
        if mine:
            found.append(f"a thread of the notebook's (in {mine[-1].f_code.co_name}) is running while the part "
                         "is graded: it could read the inputs and write the results")
    return found
