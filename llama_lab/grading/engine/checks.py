"""What a graded part is, and how one answer is judged: against the right answer and against known mistakes.

A part is one function (or class) that the student writes. It has cases: inputs, each worth some points. The
right output of a case is what the reference implementation (the kit's own, where the kit has one) gives through
the very same `run` that later runs the student's code, so the harness itself cannot make a right answer wrong.
Each plausible mistake is an implementation too; an answer that matches a mistake's output on a case where that
mistake differs from the right output is told the mistake's name.

Example: rms_norm without eps gives NaN on a zero row; the answer's NaN matches that mistake's output exactly,
so the message says "eps is missing" rather than only "expected 0.0, got nan".

The right outputs do not depend on what else runs in the process: they are computed one part at a time, under a
lock, on one thread, from a fixed seed (the grader grades several notebooks at once, in threads, and a part's
`run` may swap a module's function while it runs). Each grading run also draws fresh cases (`fresh_cases`): the
same inputs with their values in an order drawn for that run, so that a table of answers prepared in advance
cannot pass them.
"""

from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch


@dataclass
class Case:
    """One input of a part, with the points it is worth and how closely the answer must match."""

    label: str  # the input in words, shown when the answer is wrong: "x of shape (2, 3, 8), float32"
    inputs: dict  # handed to the part's `run` (tensors, numbers, strings, lists and dicts of them)
    points: float = 1.0
    atol: float = 1e-5
    rtol: float = 1e-4
    exact_dtype: bool = False  # the answer's dtype must be the right answer's (e.g. bfloat16 in, bfloat16 out)


@dataclass
class Part:
    """One graded function or class of an assignment; `name` is also the grade_id of its solution cell."""

    name: str
    title: str
    reference: Any  # the right implementation
    run: Callable[[Any, dict], Any]  # (implementation, case inputs) -> output
    cases: Callable[[], list[Case]]
    mistakes: dict[str, Any] = field(default_factory=dict)  # what a mistake is called -> an implementation making it
    uses: dict[str, Any] = field(default_factory=dict)  # other parts' names the student's code calls: while this
    # part runs they are the reference implementations, so that one part's bug costs that part only
    kit: tuple = ()  # the kit's own functions (and methods) that do this part's job: while the part is graded,
    # a call to one of them from the student's code costs the case (a wrapper is not the student's own work)
    hint: str = ""  # said when an answer is wrong in a way no known mistake explains
    error_hints: dict[str, str] = field(default_factory=dict)  # text in an error message -> the mistake behind it


@dataclass
class CaseResult:
    label: str
    points: float
    max_points: float
    message: str = ""  # empty when the answer is right
    mistake: str | None = None  # the known mistake the answer matches, if any


@dataclass
class PartResult:
    name: str
    title: str
    points: float
    max_points: float
    cases: list[CaseResult]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Prepared:
    """A case with its right output and the output of every mistake that gives something else."""

    case: Case
    expected: Any
    mistakes: dict[str, Any]


_REFERENCE_LOCK = threading.RLock()  # one part's reference outputs at a time in this process


@contextlib.contextmanager
def reference_state():
    """Compute reference outputs alone: under the lock, on one thread, from seed 0; torch's global random state
    and thread count are put back afterwards. A part's `run` may swap a module's function for the one it runs
    (the sampling part swaps `llama_lab.sampling.next_token_probs`): two at once would see each other's."""
    with _REFERENCE_LOCK:
        threads, rng = torch.get_num_threads(), torch.get_rng_state()
        torch.set_num_threads(1)
        torch.manual_seed(0)
        try:
            yield
        finally:
            torch.set_rng_state(rng)
            torch.set_num_threads(threads)


def prepare(part: Part) -> list[Prepared]:
    """Build the part's cases and compute, for each, the right output and each known mistake's output."""
    with reference_state():
        return [_prepared(part, case) for case in part.cases()]


def _prepared(part: Part, case: Case, mistakes: bool = True) -> Prepared:
    expected = part.run(part.reference, case.inputs)
    wrong = {}
    for message, implementation in part.mistakes.items() if mistakes else ():
        try:
            output = part.run(implementation, case.inputs)
        except Exception:  # this mistake crashes on this input: the error message will speak for itself
            continue
        if difference(expected, output, case) is not None:
            wrong[message] = output
    return Prepared(case, expected, wrong)


# ------------------------------------------------------------------------------------------------ fresh cases

@dataclass
class Fresh:
    """A case drawn for one grading run from the fixed case `source` (an index into the part's cases)."""

    source: int
    prepared: Prepared


def fresh_cases(part: Part, prepared: list[Prepared], seed: int) -> list[Fresh]:
    """New cases for this run: each fixed case whose floating-point tensors have an axis longer than 1, with
    the values along every such axis in an order drawn from `seed`, and its right output computed anew.

    One order per axis length, the same for every tensor of the case, so that what belongs together stays
    together (cos and sin, the keys and the values, logprobs and their mask): the inputs hold the same values,
    as well-formed as before (a row of probabilities still sums to 1), only where they sit changes. A case whose
    right output comes out the same (a loss averaged over the batch) tells nothing new and is left out.
    Example: probs of shape (3, 8) -> its rows, and the 8 tokens of every row, in another order.
    """
    generator = torch.Generator().manual_seed(seed)
    fresh = []
    with reference_state():
        for index, item in enumerate(prepared):
            orders: dict[int, torch.Tensor] = {}
            inputs = _reordered(item.case.inputs, orders, generator)
            if not orders:
                continue
            case = Case(f"{item.case.label}; its values reordered for this run", inputs, item.case.points,
                        item.case.atol, item.case.rtol, item.case.exact_dtype)
            drawn = _prepared(part, case, mistakes=False)
            if difference(item.expected, drawn.expected, case) is not None:
                fresh.append(Fresh(index, drawn))
    return fresh


def _reordered(value: Any, orders: dict[int, torch.Tensor], generator: torch.Generator) -> Any:
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        for axis, size in enumerate(value.shape):
            if size > 1:
                if size not in orders:
                    order = torch.randperm(size, generator=generator)
                    while bool((order == torch.arange(size)).all()):  # an order that changes nothing
                        order = torch.randperm(size, generator=generator)
                    orders[size] = order
                value = value.index_select(axis, orders[size])
        return value.clone()
    if isinstance(value, dict):
        return {key: _reordered(v, orders, generator) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_reordered(v, orders, generator) for v in value)
    return value


def untrue_to_fresh(prepared: list[Prepared], fresh: list[Fresh], result: "PartResult",
                    outcomes: list[dict]) -> str | None:
    """What is wrong when the answers are right on fixed cases and not on the fresh ones drawn from them (None
    when nothing is): answers that were not computed by the notebook's code at grading time, most likely."""
    missed = []
    for item, outcome in zip(fresh, outcomes):
        if result.cases[item.source].points < result.cases[item.source].max_points:
            continue  # the fixed case is wrong too: an honest mistake, judged there
        if "error" in outcome:
            missed.append(f"{item.prepared.case.label}: {outcome['error']}")
            continue
        try:
            problem = difference(item.prepared.expected, outcome.get("value"), item.prepared.case)
        except Exception as error:  # an answer too strange to compare
            problem = f"the answer could not be compared ({error})"
        if problem is not None:
            missed.append(f"{item.prepared.case.label}: {problem}")
    if not missed:
        return None
    return (f"right on the fixed cases, wrong on {len(missed)} of the {len(fresh)} drawn for this run from the "
            f"same values (first: {missed[0][:300]}): answers that this code did not compute at grading time?")


# ------------------------------------------------------------------------------------------------ judging

def judge(part: Part, prepared: list[Prepared], outcomes: list[dict]) -> PartResult:
    """Score each case from what the student's code did on it: {"value": output} or {"error": text}.

    When several known mistakes give the same wrong output on a case, the one named is the mistake that
    agrees with the answers on the most cases of the part (one piece of code has one bug more often than two):
    a mistake that would also have got a case wrong that the student got right is a worse explanation.
    """
    failures = []  # (index, what is wrong, mistakes matching the answer)
    results = []
    disagreements = dict.fromkeys(part.mistakes, 0)  # mistake -> cases where it would answer otherwise
    for i, (item, outcome) in enumerate(zip(prepared, outcomes)):
        case = item.case
        results.append(CaseResult(case.label, 0.0, case.points))
        if "error" in outcome:
            message = outcome["error"]
            hints = [advice for text, advice in part.error_hints.items() if text in message]
            if hints:  # an error that a known mistake typically raises names that mistake
                message, results[i].mistake = f"{message}. Likely mistake: {hints[0]}", hints[0]
            results[i].message = message
            continue
        try:
            problem = difference(item.expected, outcome["value"], case)
            matching = [m for m, output in item.mistakes.items()
                        if difference(output, outcome["value"], case) is None]
        except Exception as error:  # an answer too strange to compare (a complex tensor, a ragged list)
            problem, matching = f"the answer could not be compared with the right one ({error})", []
        for m in part.mistakes:  # a mistake missing from item.mistakes gets this case right
            agrees = (m in matching) if m in item.mistakes else problem is None
            disagreements[m] += not agrees
        if problem is None:
            results[i].points = case.points
        else:
            failures.append((i, problem, matching))
    for i, problem, matching in failures:
        if matching:
            mistake = min(matching, key=lambda m: disagreements[m])  # min keeps the first of equals: dict order
            results[i].message, results[i].mistake = f"{problem}. Likely mistake: {mistake}", mistake
        elif problem.startswith(("expected shape", "expected dtype", "expected a ")):
            results[i].message = problem  # says all there is to say
        else:
            results[i].message = f"{problem}. {part.hint}".rstrip(". ") + "."
    return PartResult(part.name, part.title, sum(r.points for r in results), sum(r.max_points for r in results),
                      results)


def difference(expected: Any, got: Any, case: Case) -> str | None:
    """None when `got` is the right answer within the case's tolerance, else what is wrong, in words."""
    if isinstance(expected, torch.Tensor):
        return _tensor_difference(expected, got, case)
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return f"expected a dict with keys {sorted(expected)}, got {_short(got)}"
        for key in expected:
            problem = difference(expected[key], got[key], case)
            if problem:
                return f"{key}: {problem}"
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return f"expected a list of {len(expected)}, got {_short(got)}"
        if all(isinstance(e, (int, str)) and not isinstance(e, bool) for e in expected):
            return _sequence_difference(list(expected), list(got))
        if len(got) != len(expected):
            return f"expected {len(expected)} items, got {len(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            problem = difference(e, g, case)
            if problem:
                return f"item {i}: {problem}"
        return None
    if isinstance(expected, float):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return f"expected a number, {_number(expected)}, got {_short(got)}"
        if math.isnan(expected) and math.isnan(got):
            return None
        if math.isclose(got, expected, rel_tol=case.rtol, abs_tol=case.atol):
            return None
        return f"expected {_number(expected)}, got {_number(got)}"
    return None if got == expected else f"expected {_short(expected)}, got {_short(got)}"


def _tensor_difference(expected: torch.Tensor, got: Any, case: Case) -> str | None:
    if not isinstance(got, torch.Tensor):
        return f"expected a tensor of shape {tuple(expected.shape)}, got {_short(got)}"
    if got.shape != expected.shape:
        return f"expected shape {tuple(expected.shape)}, got shape {tuple(got.shape)}"
    if case.exact_dtype and got.dtype != expected.dtype:
        return f"expected dtype {_dtype(expected)} (the input's), got {_dtype(got)}"
    if got.dtype == torch.bool or expected.dtype == torch.bool or not (got.is_floating_point()
                                                                      or expected.is_floating_point()):
        wrong = got.to(torch.int64) != expected.to(torch.int64)
    else:
        wrong = ~torch.isclose(got.double(), expected.double(), rtol=case.rtol, atol=case.atol, equal_nan=True)
    if not bool(wrong.any()):
        return None
    if expected.numel() <= 8:  # small enough to show whole
        return f"expected {_values(expected)}, got {_values(got)}"
    nan = got.double().isnan() & ~expected.double().isnan()
    if bool(nan.any()):
        where = divmod_index(int(nan.flatten().nonzero()[0]), expected.shape)
        return (f"got NaN in {int(nan.sum())} of {expected.numel()} values, the first at {list(where)} "
                f"(expected {_number(expected[where].item())})")
    gap = (got.double() - expected.double()).abs().masked_fill(~wrong, -1)
    where = divmod_index(int(gap.flatten().argmax()), expected.shape)
    return (f"{int(wrong.sum())} of {expected.numel()} values differ; the largest difference is at {list(where)}: "
            f"expected {_number(expected[where].item())}, got {_number(got[where].item())}")


def _sequence_difference(expected: list, got: list) -> str | None:
    if got == expected:
        return None
    first = next((i for i, (e, g) in enumerate(zip(expected, got)) if e != g), min(len(expected), len(got)))
    return f"expected {_short(expected)}, got {_short(got)} (first difference at position {first})"


def divmod_index(flat: int, shape) -> tuple:
    """Flat index -> tuple index: 7 in shape (2, 3, 2) -> (1, 0, 1)."""
    index = []
    for size in reversed(shape):
        flat, rest = divmod(flat, size)
        index.append(rest)
    return tuple(reversed(index))


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def _number(x: float) -> str:
    return f"{x:.6g}" if isinstance(x, float) else repr(x)


def _values(t: torch.Tensor) -> str:
    return "[" + ", ".join(_number(v) for v in t.detach().flatten().tolist()) + "]"


def _short(x: Any, limit: int = 120) -> str:
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {tuple(x.shape)}"
    text = repr(x)
    return text if len(text) <= limit else text[:limit - 5] + " ...]"


# ------------------------------------------------------------------------------------------------ reports

def format_part(result: PartResult, indent: str = "") -> str:
    """A part's points, then one line per case that lost points: what the input was and what went wrong."""
    lines = [f"{indent}{result.name}: {_points(result.points)}/{_points(result.max_points)}  ({result.title})"]
    failed = [c for c in result.cases if c.points < c.max_points]
    # a part that is not written yet says so once, not once per case
    if failed and all("not implemented yet" in c.message for c in failed):
        return lines[0] + f"\n{indent}  - {failed[0].message}"
    for c in failed:
        lines.append(f"{indent}  - {c.label}: {c.message}")
    return "\n".join(lines)


def _points(x: float) -> str:
    return f"{x:g}"
