"""Tripwires on the kit's own implementation of the part being graded: a student's function that only calls it
is not the student's work.

A part lists the kit's functions that do its job (`Part.kit`: `llama_lab.model.apply_rotary_emb`,
`RMSNorm.forward`, ...). While one of its cases runs, each of them is swapped for a tripwire: called by the kit
(the model the part's `run` builds calls `rope_tables`), it answers as before; called by the student's code,
directly or through other kit code (a `Llama` whose norms are the kit's), it raises KitCalled and the case scores
0 with "calls the kit's own llama_lab.model.apply_rotary_emb: the assignment is to write it yourself".

Example, in a notebook: `from llama_lab.model import apply_rotary_emb as kits` before grading, then
`def apply_rotary_emb(x, cos, sin): return kits(x, cos, sin)` loses every case: the reference `kits` is the
same function object, and its code is what is swapped.

A thread of the notebook's that calls a tripwired function trips it too, whatever case is running (its stack
holds the notebook's code and never reaches the case). What the tripwire cannot see, the part step looks for
before the cases run (harness.grade_part): a function made from a kit function's code object
(`types.FunctionType(kit_function.__code__, ...)`) answers without passing through the swapped code, and a
thread may call the kit between two cases, when no tripwire is set; both cost the part and flag the notebook.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import secrets
import sys
import sysconfig
import threading
from pathlib import Path
from types import CodeType, FunctionType

from .checks import Part

PACKAGE_DIR = str(Path(__file__).resolve().parent.parent.parent)  # llama_lab/
_LIBRARY_DIRS = tuple({sysconfig.get_paths()[key] for key in ("stdlib", "purelib", "platlib")})
_MISSING = object()


def is_kit_file(filename: str) -> bool:
    """Whether code from `filename` is the kit's own (llama_lab/)."""
    return filename.startswith(PACKAGE_DIR + os.sep)


def is_student_frame(filename: str) -> bool:
    """Whether code from `filename` is the student's: not the kit's, not a library's."""
    return not filename.startswith(PACKAGE_DIR) and not filename.startswith(_LIBRARY_DIRS) \
        and "site-packages" not in filename and not filename.startswith("<frozen")


class KitCalled(BaseException):
    """Raised where the student's code calls the kit's implementation of the part being graded; a BaseException
    so that `except Exception` does not hide it (and run_case marks the case even if it is caught)."""


# a kit file: its frames are not the student's
_TRIPWIRE_FILE = os.path.join(PACKAGE_DIR, "grading", "engine", "<tripwire>")
_TRIPWIRE_NAME = f"_llama_lab_tripwire_{secrets.token_hex(8)}"  # where the tripwire finds its handler


@contextlib.contextmanager
def tripwires(part: Part, boundary, calls: list[str]):
    """While the block runs, each of `part.kit`'s functions answers as before, except when student code called
    it: then the call raises KitCalled and its name goes into `calls`.

    The function's `__code__` is swapped, not its name in a module, so a reference the notebook took before
    grading (`from llama_lab.model import apply_rotary_emb`) hits the tripwire too. Who called is read from the
    stack, up to `boundary` (run_case's frame): a student frame (a notebook cell) above the call trips it, and
    so do the kit's functions that student code calls on the way (`Llama.forward` reaching `RMSNorm.forward`);
    the kit's own callers (the part's `run` building a model) and the reference implementations the grader
    hands the notebook for the other parts (`Part.uses`) do not.

    A copy of a kit function (`types.FunctionType(kit_function.__code__, ...)`, or the kit's file compiled
    again) runs the original code without passing through the swapped one: a profile hook on this thread (and
    on the threads started meanwhile) sees every call of code equal to a kit function's, and trips it the same
    way when the student's code is behind it.
    """
    functions = [f for f in part.kit if isinstance(f, FunctionType)]
    if not functions:
        yield
        return
    handed_in = {f.__code__ for f in part.uses.values() if isinstance(f, FunctionType)}
    codes = [f.__code__ for f in functions]
    signatures = [f.__dict__.get("__signature__", _MISSING) for f in functions]
    twins = [_twin(f) for f in functions]  # the original functions, under other names

    def on_call(index: int, args: tuple, kwargs: dict, caller=None):
        # the caller of the tripwire: 0 is this frame, 1 the tripwire, 2 its caller
        if _called_by_student(caller or sys._getframe(2), boundary, handed_in):
            name = f"{functions[index].__module__}.{functions[index].__qualname__}"
            calls.append(name)
            raise KitCalled(f"calls the kit's own {name}: the assignment is to write it yourself")
        return twins[index](*args, **kwargs) if caller is None else None

    originals = {code: index for index, code in enumerate(codes) if is_kit_file(code.co_filename)}
    original_names = {code.co_name for code in originals}

    def on_profile(frame, event, arg):
        code = frame.f_code
        if event == "call" and code.co_name in original_names and code in originals \
                and frame.f_back is not None and frame.f_back.f_code is not on_call.__code__:
            on_call(originals[code], (), {}, caller=frame.f_back)  # raises when the student's code called

    previous_profiles = sys.getprofile(), threading.getprofile()
    try:
        if originals:
            sys.setprofile(on_profile)
            threading.setprofile(on_profile)
        for index, function in enumerate(functions):
            # inspect.signature keeps answering as before (the kit itself reads Attention.forward's)
            function.__signature__ = inspect.signature(function)
            function.__globals__[_TRIPWIRE_NAME] = on_call
            function.__code__ = _tripwire_code(function, index)
        yield
    finally:
        if originals:
            sys.setprofile(previous_profiles[0])
            threading.setprofile(previous_profiles[1])
        for function, code, signature in zip(functions, codes, signatures):
            function.__code__ = code
            function.__globals__.pop(_TRIPWIRE_NAME, None)
            if signature is _MISSING:
                function.__dict__.pop("__signature__", None)
            else:
                function.__signature__ = signature


def _twin(function: FunctionType) -> FunctionType:
    twin = FunctionType(function.__code__, function.__globals__, function.__name__, function.__defaults__,
                        function.__closure__)
    twin.__kwdefaults__ = function.__kwdefaults__
    return twin


@functools.lru_cache(maxsize=None)
def _tripwire_template(name: str, free: tuple[str, ...], index: int) -> CodeType:
    """`def name(*args, **kwargs): return handler(index, args, kwargs)`, with the free variables of the function
    it stands in for (a function's code can only be swapped for code with as many)."""
    lines = ["def _outer():", *(f"    {v} = None" for v in free), f"    def {name}(*args, **kwargs):"]
    lines += [f"        {', '.join(free)}"] if free else []
    lines += [f"        return {_TRIPWIRE_NAME}({index}, args, kwargs)", f"    return {name}"]
    namespace: dict = {}
    exec(compile("\n".join(lines), _TRIPWIRE_FILE, "exec"), namespace)
    return namespace["_outer"]().__code__


def _tripwire_code(function: FunctionType, index: int) -> CodeType:
    name = function.__name__ if function.__name__.isidentifier() else "kit_function"
    return _tripwire_template(name, function.__code__.co_freevars, index)


def _called_by_student(frame, boundary, handed_in: set) -> bool:
    """Whether student code, not the kit, is behind this call: the nearest frame, from `frame` up to `boundary`,
    that is either the student's or a function the grader handed in decides."""
    while frame is not None and frame is not boundary:
        if frame.f_code in handed_in:
            return False
        if is_student_frame(frame.f_code.co_filename):
            return True
        frame = frame.f_back
    return False
