"""What a notebook did to the grading before a part step runs: the grading objects it could reach replaced or
altered, the tools the checks use replaced, copies of the kit's code kept, threads of its own still running.

The part step (harness.grade_part) runs these from a fresh copy of the grading package, against the shared one
the notebook could reach (SHARED_PACKAGE): the modules of llama_lab.grading in sys.modules, every Part object
(found with gc), the snapshot the libraries are put back from. What they find goes into the part's results as
`tampering`, and the grader gives the part nothing for it. They run in the notebook's own process, so code
written to get past them can (run.py says what stops what, and what does not).
"""

from __future__ import annotations

import functools
import gc
import sys
import threading
from pathlib import Path
from types import BuiltinFunctionType, CodeType, FrameType, FunctionType, MethodType, ModuleType
from typing import Any

from .checks import Part
from .tripwire import is_kit_file, is_student_frame

# the grading package the notebook shares; this module may be a fresh copy's (llama_lab._grading_...: see
# harness.part_step), whose checks look at the shared one
SHARED_PACKAGE = __name__.split(".")[0] + ".grading"


def qualname(obj: Any) -> str:
    return getattr(obj, "__qualname__", type(obj).__qualname__)


def tampering(part: Part, taken: Any) -> list[str]:
    """What the notebook replaced or altered among the grading objects it could reach: the functions the checks
    rely on, the modules of llama_lab.grading (in sys.modules), every Part object (found with gc), the snapshot
    of the libraries."""
    found = _replaced_tools()
    if not is_snapshot(taken):  # the set-up step takes one before the notebook's first cell
        found.append(f"the grader's snapshot of the libraries is gone (found {type(taken).__name__} instead)")
    else:
        for obj, saved in taken.attributes:
            found += [f"the grader's snapshot of the libraries was altered: it would put back the notebook's "
                      f"{qualname(value)} as {getattr(obj, '__name__', type(obj).__name__)}.{name}"
                      for name, value in list(saved.items()) if _notebook_made(value)]
        found += [f"the grader's snapshot of the libraries was altered: it would give {function.__qualname__} "
                  "code of the notebook's" for function, code in taken.codes if notebook_code(code)]
    for name, module in list(sys.modules.items()):
        if name != SHARED_PACKAGE and not name.startswith(SHARED_PACKAGE + "."):
            continue
        if not isinstance(module, ModuleType):
            found.append(f"sys.modules[{name!r}] is the notebook's {type(module).__name__}, not the kit's module")
            continue
        for attribute, value in list(vars(module).items()):
            if _notebook_made(value):
                found.append(f"{name}.{attribute} was replaced by the notebook's {qualname(value)}")
            elif isinstance(value, type) and value.__module__ == name:
                found += [f"{name}.{value.__qualname__}.{key} was replaced by the notebook's {qualname(v)}"
                          for key, v in list(vars(value).items()) if _notebook_made(v)]
    for obj in gc.get_objects():
        if type(obj).__name__ == "Part" and type(obj).__module__.endswith(".checks") and obj is not part:
            fields = {"reference": obj.reference, "run": obj.run, "cases": obj.cases, **{
                f"mistake {k[:40]!r}": v for k, v in obj.mistakes.items()}, **{
                f"uses[{k!r}]": v for k, v in obj.uses.items()}, **{f"kit[{i}]": v for i, v in enumerate(obj.kit)}}
            found += [f"the grader's Part {obj.name!r} was altered: its {key} is the notebook's {qualname(value)}"
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
                found.append(f"{module.__name__}.{name} was replaced by the notebook's {qualname(tool)}")
    for module, names in ((importlib, ("import_module",)), (importlib.util, ("spec_from_file_location",
                                                                            "module_from_spec"))):
        for name in names:
            tool = getattr(module, name, None)
            if not isinstance(tool, FunctionType) or notebook_code(tool.__code__):
                found.append(f"{module.__name__}.{name} was replaced by the notebook's {qualname(tool)}")
    return found


def is_snapshot(obj: Any) -> bool:
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
        return notebook_code(value.__code__)
    if isinstance(value, (ModuleType, BuiltinFunctionType)) or value is None:
        return False
    cls = value if isinstance(value, type) else type(value)
    return cls.__module__ == "__main__" or any(
        isinstance(v, FunctionType) and notebook_code(v.__code__) for v in list(vars(cls).values()))


# the methods dataclasses write (their code comes from "<string>"): the kit's dataclasses have them
_DATACLASS_METHODS = {"__init__", "__repr__", "__eq__", "__setattr__", "__delattr__", "__hash__", "__lt__", "__le__",
                      "__gt__", "__ge__", "__getstate__", "__setstate__"}


def notebook_code(code: CodeType) -> bool:
    """Whether `code` is neither the kit's, nor a library's, nor a method that dataclasses wrote."""
    return is_student_frame(code.co_filename) and not (code.co_filename == "<string>"
                                                        and code.co_name in _DATACLASS_METHODS)


def _kit_functions(part: Part) -> list[FunctionType]:
    """The part's kit functions written in the kit's own files (those the tripwire guards)."""
    return [f for f in part.kit if isinstance(f, FunctionType) and is_kit_file(f.__code__.co_filename)]


def changed_kit_code(part: Part) -> list[str]:
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


def copies_of_kit_code(part: Part) -> list[str]:
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


def held_kit_code(part: Part, namespace: dict) -> list[str]:
    """The part's kit code objects (or equal copies) that the notebook keeps in its namespace, in containers
    there, or in its functions' closures and defaults: the makings of a function that runs the kit's code
    without the tripwire. (`copies_of_kit_code` finds the holders gc tracks; a dict or tuple holding only
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
        if isinstance(value, FunctionType) and notebook_code(value.__code__):
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


def notebook_threads() -> list[str]:
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
