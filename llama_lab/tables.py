"""Tables as text: aligned columns for a notebook's output, Markdown rows for the docs.

The callers format their own cells (a number's digits are theirs to choose); this module only lays the cells
out. Example: text_table(["model", "GiB"], [["7B", "12.6"], ["70B", "128.5"]], align="<>") ->
    model    GiB
    7B      12.6
    70B    128.5
"""

from __future__ import annotations

from typing import Sequence


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "<") -> str:
    """Columns padded to their widest cell and parted by two spaces, the header first.

    `align` gives each column "<" (left) or ">" (right); its last character holds for the columns after it, so
    "<" puts every column to the left and "<>" the first to the left and the rest to the right.
    """
    lines = [list(header)] + [list(row) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    sides = [align[min(i, len(align) - 1)] for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) if side == "<" else cell.rjust(w)
                               for cell, w, side in zip(line, widths, sides)) for line in lines)


def markdown_row(cells: Sequence[str]) -> str:
    """One row of a Markdown table. Example: ["50M", "1.20x"] -> "| 50M | 1.20x |"."""
    return "| " + " | ".join(cells) + " |"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table: the header, the rule under it ("|---|---|"), then one line per row."""
    return [markdown_row(header), "|" + "---|" * len(header)] + [markdown_row(row) for row in rows]
