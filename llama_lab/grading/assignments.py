"""Instructor notebooks to student notebooks: each solution gives way to a stub the student replaces.

    python -m llama_lab.assignments make-student notebooks/assignments/instructor notebooks/assignments/student
    python -m llama_lab.assignments check notebooks/assignments/instructor notebooks/assignments/student

The rule is nbgrader's (its ClearSolutions step), so a course that runs nbgrader gets the same student version
from `nbgrader generate_assignment`: in a solution cell (metadata nbgrader.solution = true) the lines from
`### BEGIN SOLUTION` to `### END SOLUTION` become the stub below, indented like the BEGIN line; a solution cell
without markers is replaced whole. Outputs and execution counts are cleared.

Example:
    def rms_norm(x, weight, eps=1e-5):            def rms_norm(x, weight, eps=1e-5):
        ### BEGIN SOLUTION                            # YOUR CODE HERE
        x32 = x.float()                     ->        raise NotImplementedError()
        ...
        ### END SOLUTION
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
TEXT_STUB = ["YOUR ANSWER HERE"]


def is_solution(cell) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


def clear_solution(source: str, stub: list[str]) -> tuple[str, bool]:
    """The source with every BEGIN/END SOLUTION region replaced by `stub`; and whether there was one."""
    out, inside, found = [], False, False
    for line in source.split("\n"):
        if BEGIN in line:
            if inside:
                raise ValueError(f"a {BEGIN} inside another solution region:\n{source}")
            inside = found = True
            indent = re.match(r"\s*", line).group(0)
            out += [indent + s for s in stub]
        elif END in line:
            if not inside:
                raise ValueError(f"an {END} without its {BEGIN}:\n{source}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"a {BEGIN} without its {END}:\n{source}")
    return "\n".join(out), found


def make_student(nb):
    """The student version of an instructor notebook (a new notebook; `nb` is not changed)."""
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells):
        stub = CODE_STUB if cell.cell_type == "code" else TEXT_STUB
        source, found = clear_solution(cell.source, stub)
        if found and not is_solution(cell):
            raise ValueError(f"cell {i + 1} has a solution region but is not a solution cell: give it nbgrader "
                             "metadata with \"solution\": true (as nbgrader requires)")
        if is_solution(cell):
            cell.source = source if found else "\n".join(stub)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
    nb.metadata.pop("celltoolbar", None)
    return nb


def student_text(instructor: str | Path) -> str:
    """The student notebook's file contents for an instructor notebook's path."""
    return nbformat.writes(make_student(nbformat.read(instructor, as_version=4))) + "\n"


def _pairs(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    if src.is_dir():
        return [(p, dst / p.relative_to(src)) for p in sorted(src.rglob("*.ipynb"))
                if ".ipynb_checkpoints" not in p.parts]
    if src.is_file():
        return [(src, dst / src.name if dst.is_dir() else dst)]
    raise FileNotFoundError(f"{src} does not exist: give an instructor notebook or a folder of them")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llama_lab.assignments",
                                     description="Make student notebooks from instructor notebooks.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("make-student", "write the student version of SRC (a notebook or a folder) to DST"),
                       ("check", "exit with 1 if DST is not exactly the student version of SRC")):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("src", type=Path)
        command.add_argument("dst", type=Path)
    args = parser.parse_args(argv)
    try:
        pairs = _pairs(args.src, args.dst)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stale = []
    for src, dst in pairs:
        text = student_text(src)
        if args.command == "make-student":
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(text, encoding="utf-8")
            print(f"{src} -> {dst}")
        elif not dst.is_file() or dst.read_text(encoding="utf-8") != text:
            stale.append(dst)
    for dst in stale:
        print(f"{dst} is not the student version of its instructor notebook: run make-student again",
              file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
