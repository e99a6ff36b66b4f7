"""Which case catches which known mistake: tables that show a part's cases reach every mistake it names.

A case catches a mistake when the mistake's code loses that case's points: its output differs from the right
one beyond the case's tolerance, or it raises. A case is the *first* to catch a mistake when no earlier case of
the part (in the order the student sees them) caught it. A mistake that no case catches is dead weight: the
grader can never name it, and a student who makes it gets full marks.

    python -m llama_lab.grading.coverage            # the tables, in Markdown, for every assignment

Example row: | 04_sampling | `top_p_filter` | 4. probs [0.125, 0.5, ...], p=0.75 ... | 6 | 1 |: six mistakes lose
this case's points, and one of them (a token dropped when the tokens above it hold exactly p) loses no earlier one.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from .engine.catalog import ASSIGNMENTS, load
from .engine.checks import Part, difference
from .engine.harness import one_thread


@dataclass
class CaseCatches:
    label: str
    caught: list[str] = field(default_factory=list)  # the mistakes that lose this case's points
    first: list[str] = field(default_factory=list)  # those of them that no earlier case caught


def catches(part: Part) -> list[CaseCatches]:
    """For each case of `part`, in order, the mistakes it catches and those it is the first to catch."""
    rows, seen = [], set()
    with one_thread():
        for case in part.cases():
            expected = part.run(part.reference, case.inputs)
            row = CaseCatches(case.label)
            for name, mistake in part.mistakes.items():
                try:
                    caught = difference(expected, part.run(mistake, case.inputs), case) is not None
                except Exception:  # the mistake raises on this input: it loses the case too
                    caught = True
                if caught:
                    row.caught.append(name)
                    if name not in seen:
                        row.first.append(name)
                        seen.add(name)
            rows.append(row)
    return rows


def uncaught(part: Part) -> list[str]:
    """The part's named mistakes that none of its cases catches."""
    caught = {name for row in catches(part) for name in row.caught}
    return [name for name in part.mistakes if name not in caught]


def tables(assignments=None) -> tuple[str, str]:
    """Two Markdown tables: one row per part (its cases, its named mistakes, how many of them a case catches);
    then one row per case (how many mistakes it catches, and how many of those it is the first to catch)."""
    summary = ["| assignment | part | cases | named mistakes | caught by a case |", "|---|---|---|---|---|"]
    lines = ["| assignment | part | case | caught | first to catch |", "|---|---|---|---|---|"]
    for name in assignments or ASSIGNMENTS:
        for part in load(name).PARTS:
            rows = catches(part)
            for i, row in enumerate(rows, 1):
                label = row.label if len(row.label) <= 90 else row.label[:87] + "..."
                lines.append(f"| {name} | `{part.name}` | {i}. {label} | {len(row.caught)} | {len(row.first)} |")
            caught = sum(len(row.first) for row in rows)
            summary.append(f"| {name} | `{part.name}` | {len(rows)} | {len(part.mistakes)} | {caught} |")
    return "\n".join(summary), "\n".join(lines)


if __name__ == "__main__":
    print(*tables(sys.argv[1:] or None), sep="\n\n")
