"""The grades as a reader gets them: one notebook's text report, the table of a folder's, and all of them as JSON
(what `--output` holds)."""

from __future__ import annotations

import json
from dataclasses import replace

from .checks import format_part
from .grades import NotebookGrade


def format_grade(grade: NotebookGrade) -> str:
    """The text report of one notebook. Every name and message in it is one line (see shown): a file named
    "x.ipynb\\nalice.ipynb: 13/13 points" cannot add a line of its own."""
    head = f"{shown(grade.path)}: "
    if grade.error and not grade.parts:
        return head + f"not graded: {shown(grade.error)}"
    lines = [head + f"{grade.points:g}/{grade.max_points:g} points  ({grade.title}; {grade.seconds:g} s)"]
    lines += [format_part(replace(part, cases=[replace(case, label=shown(case.label), message=shown(case.message))
                                               for case in part.cases]), indent="  ") for part in grade.parts]
    if grade.error:
        lines.append(f"  grading stopped early: {shown(grade.error)}")
    if grade.problems:
        lines.append("  notebook cells that did not run cleanly:")
        lines += [f"    - {shown(problem)}" for problem in grade.problems]
    if grade.flags:
        lines.append("  FLAGGED, read this notebook: it tried to get points without doing the work:")
        lines += [f"    - {shown(flag)}" for flag in grade.flags]
    return "\n".join(lines)


def format_summary(grades: list[NotebookGrade]) -> str:
    names = [shown(g.path) for g in grades]
    width = max(len(name) for name in names)
    lines = [f"{'notebook':<{width}}  points"]
    for name, g in zip(names, grades):
        lines.append(f"{name:<{width}}  " + (f"{g.points:g}/{g.max_points:g}" if not g.error or g.parts
                                             else "not graded"))
    lines.append(f"{'total':<{width}}  {sum(g.points for g in grades):g}/{sum(g.max_points for g in grades):g}")
    return "\n".join(lines)


def shown(text: str) -> str:
    """`text` as it is, or, when it holds a character that is not printable (a newline, a terminal's escape
    sequence, bytes that are not UTF-8), as Python writes it in quotes: 'a\\nb.ipynb' is a name, not two lines."""
    return text if text.isprintable() else repr(text)


def report_json(grades: list[NotebookGrade], pending: list[str]) -> str:
    """The grades as JSON (file names as they are): the notebooks graded, and those not graded yet (`pending`:
    while grading, or after an interrupt)."""
    return json.dumps({"points": sum(g.points for g in grades), "max_points": sum(g.max_points for g in grades),
                       "notebooks": [g.to_dict() for g in grades], "pending": pending}, indent=2)
