"""Drawing for the explorers in `widgets/`: matplotlib figures and small HTML fragments.

Every function here takes plain numbers (lists, NumPy arrays) and returns a `matplotlib.figure.Figure` or an HTML
string; none of them runs a model. Figures are built without pyplot, so no global state is touched and a figure
nobody keeps is simply garbage-collected: draw as many as you like in one notebook. (Their size follows their
content, in inches, so they make their own figure.)

The course's plots elsewhere (family, lessons, safety, probes) share one convention, `figure_and_axes`: a plot
with one panel takes `ax=None` and draws a pyplot figure of its own, which the notebook shows, or draws into the
`ax` given (a panel of a figure of yours); every plot returns its figure.

Colours: a token's probability runs from red (unlikely, 0) through yellow to green (likely, 1), lightened so
that the text on top stays readable.
"""

from __future__ import annotations

import html
import io
import math
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..files import replacing

PROBABILITY_CMAP = "RdYlGn"
ATTENTION_CMAP = "viridis"
MODEL_COLOUR, SAMPLER_COLOUR, CHOSEN_COLOUR = "#a8a8a8", "#2f6fad", "#d62728"
PIECE_PALETTE = ["#cfe2f3", "#fde3c8", "#d9ead3", "#ead1dc", "#fff2cc", "#d0e0e3"]


# ------------------------------------------------------------------------------------------------ helpers

def figure_and_axes(ax=None, figsize: tuple[float, float] = (6.4, 4.8)):
    """(figure, axes) for a course plot with one panel: the `ax` given and its figure, or, for ax=None, a new
    pyplot figure of `figsize` inches with one axes (pyplot, so that a notebook shows it)."""
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)


def probability_colour(p: float, lighten: float = 0.45) -> str:
    """CSS colour for a probability in [0, 1]: red (0) -> yellow -> green (1), mixed with white by `lighten`."""
    r, g, b, _ = colormaps[PROBABILITY_CMAP](float(min(max(p, 0.0), 1.0)))
    mix = lambda c: c + (1.0 - c) * lighten  # noqa: E731 (a one-line blend toward white)
    return to_hex((mix(r), mix(g), mix(b)))


def piece_label(piece: str, limit: int = 12) -> str:
    """A token piece as an axis label: newlines and tabs made visible, long pieces shortened."""
    label = piece.replace("\n", "\\n").replace("\t", "\\t")
    return label if len(label) <= limit else label[: limit - 1] + "…"


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (what an `ipywidgets.Image` shows)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # pieces in scripts DejaVu lacks (CJK, emoji) draw as boxes: no need to warn
        warnings.filterwarnings("ignore", message="Glyph .* missing", category=UserWarning)
        fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def save_png(fig: Figure, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Write `fig` as a PNG file at `path` and return the path.

    The name comes from a text box a learner types into, so a slip must not cost a file: the name has to end in
    .png, an existing file is replaced only if it is a PNG itself, and the new picture is written beside it and
    renamed over it in one step (a failed save leaves the old file as it was).
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"{str(path)!r} does not end in .png: give the picture a name ending in .png")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder: give a file name ending in .png")
    if path.exists():
        with open(path, "rb") as existing:
            if existing.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
                raise ValueError(f"{str(path)!r} exists and is not a PNG picture: it was left as it is; "
                                 "choose another name")
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        tmp.write_bytes(figure_png(fig, dpi=dpi))
    return path


def entropy_bits(probs) -> float:
    """Shannon entropy of a distribution in bits: 0 for a sure thing, log2(n) for n equally likely tokens."""
    p = np.asarray(probs, dtype=np.float64)
    p = p[p > 0]
    return max(0.0, float(-(p * np.log2(p)).sum()))  # max: a sure thing is 0 bits, not -0.0


# --------------------------------------------------------------------------------------------------- HTML

def tokens_html(texts: Sequence[str], probs: Sequence[float], prefix: str = "", selected: int | None = None,
                extra: Sequence[str] | None = None) -> str:
    """Generated text with each token on a background coloured by its probability; hover for the numbers.

    `texts[i]` is what token i adds to the text ("" for a byte that waits for the rest of its character),
    `prefix` the prompt (shown in grey), `selected` a token to outline, `extra[i]` more words for the tooltip.
    """
    spans = []
    for i, (text, p) in enumerate(zip(texts, probs)):
        tip = f"token {i}: p = {p:.3f}" + (f"; {extra[i]}" if extra else "")
        outline = "outline:2px solid #222;" if i == selected else ""
        shown = html.escape(text) if text else "&#183;"  # a pending byte still gets a visible place
        spans.append(f'<span title="{html.escape(tip)}" style="background:{probability_colour(p)};{outline}'
                     f'border-radius:3px;padding:0 1px">{shown}</span>')
    return ('<div style="font-family:monospace;white-space:pre-wrap;line-height:1.7">'
            f'<span style="color:#888">{html.escape(prefix)}</span>{"".join(spans)}</div>')


def probability_legend_html() -> str:
    stops = ", ".join(probability_colour(p) for p in np.linspace(0, 1, 6))
    return ('<div style="font-size:smaller;color:#555">token colour = the model\'s probability of that token '
            f'(before temperature and filtering): 0 <span style="display:inline-block;width:120px;height:0.8em;'
            f'background:linear-gradient(to right, {stops})"></span> 1</div>')


def pieces_html(pieces: Sequence[str], ids: Sequence[int], is_byte: Sequence[bool]) -> str:
    """Token pieces as coloured boxes with their ids underneath; byte-fallback pieces get a dashed red frame."""
    boxes = []
    for i, (piece, token_id, byte) in enumerate(zip(pieces, ids, is_byte)):
        background = PIECE_PALETTE[i % len(PIECE_PALETTE)]
        frame = "border:1px dashed #d62728" if byte else "border:1px solid #bbb"
        label = "byte " if byte else ""
        boxes.append(f'<span title="{label}id {token_id}" style="display:inline-block;margin:2px;padding:1px 3px;'
                     f'background:{background};{frame};border-radius:3px;text-align:center">'
                     f'<span style="font-family:monospace;white-space:pre">{html.escape(piece)}</span><br>'
                     f'<span style="font-size:75%;color:#555">{label}{token_id}</span></span>')
    return f'<div style="line-height:1.2">{"".join(boxes)}</div>'


def table_html(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    cell = 'style="padding:2px 8px;text-align:right"'
    head = "".join(f"<th {cell}>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td {cell}>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


# ------------------------------------------------------------------------------------------------ figures
# Margins are fixed in inches rather than found by matplotlib's constrained layout: a slider redraws a figure
# each time it moves, and the layout search costs as much as the drawing itself.

def _axes_at(fig: Figure, left: float, bottom: float, width: float, height: float):
    """Axes placed in inches from the figure's lower-left corner."""
    W, H = fig.get_size_inches()
    return fig.add_axes((left / W, bottom / H, width / W, height / H))


def _label_inches(labels: Sequence[str], fontsize: float) -> float:
    """About how long the longest label is when drawn, in inches."""
    return max((len(label) for label in labels), default=1) * fontsize * 0.62 / 72


def plot_distribution(labels: Sequence[str], model_probs, sampler_probs, cutoffs: Sequence[tuple[str, int]] = (),
                      chosen: int | None = None, title: str = "",
                      legend: tuple[str, str] = ("model (T = 1)", "sampler")) -> Figure:
    """Bars for the top candidates: the model's own probability beside the sampler's, cut-offs as dashed lines.

    `cutoffs` holds (name, rank) pairs: the first `rank` candidates are kept by that filter; a line is drawn
    between rank and rank + 1 when it falls among the bars. `chosen` is the index of the token that was drawn.
    """
    labels = [piece_label(label) for label in labels]
    bottom = 0.55 + _label_inches(labels, 9) * 0.71  # labels at 45 degrees
    fig = Figure(figsize=(8.5, 2.9 + bottom))
    ax = _axes_at(fig, 0.7, bottom, 7.6, 2.5)
    x = np.arange(len(labels))
    ax.bar(x - 0.2, model_probs, 0.4, color=MODEL_COLOUR, label=legend[0])
    ax.bar(x + 0.2, sampler_probs, 0.4, color=SAMPLER_COLOUR, label=legend[1])
    top = max(max(model_probs, default=0), max(sampler_probs, default=0), 1e-3) * 1.18
    names_at: dict[int, list[str]] = {}  # filters that cut at the same rank share one line
    for name, rank in cutoffs:
        names_at.setdefault(rank, []).append(name)
    for (rank, names), style in zip(sorted(names_at.items()), ("--", ":")):
        if rank < len(labels):
            ax.axvline(rank - 0.5, color="#444", linestyle=style, linewidth=1.2)
            ax.text(rank - 0.45, top * 0.97, f"{' and '.join(names)} cut-off", va="top", fontsize=8, color="#444")
    ax.set_xticks(x, labels, rotation=45, ha="right", rotation_mode="anchor", fontsize=9)
    if chosen is not None and 0 <= chosen < len(labels):
        tick = ax.get_xticklabels()[chosen]
        tick.set_color(CHOSEN_COLOUR)
        tick.set_fontweight("bold")
    ax.set_ylim(0, top)
    ax.set_xlim(-0.7, len(labels) - 0.3)
    ax.set_xlabel("candidate next token, ranked by the model's probability (drawn token in red)")
    ax.set_ylabel("probability")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    return fig


def plot_attention(matrix, row_labels: Sequence[str], col_labels: Sequence[str], title: str = "",
                   vmax: float = 1.0, highlight_row: int | None = None) -> Figure:
    """Heatmap of one attention pattern (T queries x S keys); the masked future is grey."""
    matrix = np.asarray(matrix, dtype=np.float64)
    T, S = matrix.shape
    fontsize = 9 if max(T, S) <= 24 else 7 if max(T, S) <= 48 else 5
    row_labels = [piece_label(p) for p in row_labels]
    col_labels = [piece_label(p) for p in col_labels]
    cell = min(0.25, 6.0 / max(T, S))  # inches per token
    left = 0.45 + _label_inches(row_labels, fontsize)
    bottom = 0.45 + _label_inches(col_labels, fontsize)
    fig = Figure(figsize=(left + cell * S + 1.3, bottom + cell * T + 0.4))
    ax = _axes_at(fig, left, bottom, cell * S, cell * T)
    future = np.triu(np.ones((T, S), dtype=bool), k=S - T + 1)  # what the causal mask hides
    cmap = colormaps[ATTENTION_CMAP].with_extremes(bad="#e8e8e8")
    image = ax.imshow(np.ma.masked_array(matrix, future), cmap=cmap, vmin=0.0, vmax=vmax, aspect="auto",
                      interpolation="nearest")
    ax.set_xticks(range(S), col_labels, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(T), row_labels, fontsize=fontsize)
    ax.set_xlabel("key: the token attended to")
    ax.set_ylabel("query: the token attending")
    if highlight_row is not None:
        ax.add_patch(Rectangle((-0.5, highlight_row - 0.5), S, 1, fill=False, edgecolor=CHOSEN_COLOUR,
                               linewidth=2))
    colour_bar = _axes_at(fig, left + cell * S + 0.2, bottom, 0.15, cell * T)
    fig.colorbar(image, cax=colour_bar, label="attention probability")
    ax.set_title(title, fontsize=10)
    return fig


def plot_head_grid(patterns, groups: Sequence[Sequence[int]], vmax: Sequence[float], title: str = "") -> Figure:
    """All heads of a layer as thumbnails, one row per key/value head so that GQA's sharing is visible.

    patterns (H, T, S); groups[g] lists the query heads that share KV head g; vmax[h] is head h's colour limit.
    With plain multi-head attention (one query head per KV head) the heads are laid out in a near-square grid.
    """
    patterns = np.asarray(patterns, dtype=np.float64)
    n_heads = patterns.shape[0]
    sharing = not all(len(g) == 1 for g in groups)
    if sharing:
        rows_of_heads = [list(g) for g in groups]
    else:
        cols = math.ceil(math.sqrt(n_heads))
        rows_of_heads = [list(range(r, min(r + cols, n_heads))) for r in range(0, n_heads, cols)]
    cols, n_rows = max(len(r) for r in rows_of_heads), len(rows_of_heads)
    thumb = 1.3 if cols <= 8 else 0.9
    width, height = 0.5 + thumb * cols, 0.6 + thumb * n_rows
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.4 / width, right=1 - 0.1 / width, bottom=0.1 / height, top=1 - 0.5 / height,
                        wspace=0.15, hspace=0.3)
    axes = fig.subplots(n_rows, cols, squeeze=False)
    for r, heads in enumerate(rows_of_heads):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(heads):
                ax.set_axis_off()
                continue
            h = heads[c]
            ax.imshow(patterns[h], cmap=ATTENTION_CMAP, vmin=0.0, vmax=vmax[h], interpolation="nearest")
            ax.set_title(f"head {h}", fontsize=7, pad=2)
        if sharing:
            axes[r][0].set_ylabel(f"KV head {r}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def plot_logit_lens(layer_names: Sequence[str], top_labels: Sequence[Sequence[str]], top_probs,
                    target_ranks: Sequence[int], target_label: str, title: str = "") -> Figure:
    """Left: each layer's top tokens (text) coloured by probability. Right: the target token's rank per layer."""
    top_probs = np.asarray(top_probs, dtype=np.float64)
    n_layers, k = top_probs.shape
    row = 0.42 if n_layers <= 16 else 0.3
    left, bottom = 0.4 + _label_inches(layer_names, 10), 1.1
    fig = Figure(figsize=(left + 1.25 * k + 2.6, bottom + row * n_layers + 0.5))
    table = _axes_at(fig, left, bottom, 1.25 * k, row * n_layers)
    ranks = _axes_at(fig, left + 1.25 * k + 0.25, bottom, 2.2, row * n_layers)
    table.imshow(top_probs, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    for layer in range(n_layers):
        for j in range(k):
            dark = top_probs[layer, j] > 0.55
            table.text(j, layer, f"{piece_label(top_labels[layer][j], 10)}\n{top_probs[layer, j]:.2f}",
                       ha="center", va="center", fontsize=7, color="white" if dark else "black")
    table.set_xticks(range(k), [f"#{j + 1}" for j in range(k)])
    table.set_yticks(range(n_layers), layer_names)
    table.set_xlabel("rank at that layer (cell colour: probability, white 0 to dark blue 1)")
    table.set_ylabel("residual stream read after")
    ranks.plot(target_ranks, range(n_layers), marker="o", color=CHOSEN_COLOUR)
    ranks.set_xscale("log")
    ranks.set_xlim(0.8, max(max(target_ranks, default=1) * 1.5, 10))
    ranks.set_ylim(n_layers - 0.5, -0.5)  # the same rows as the table, first layer on top
    ranks.set_yticks(range(n_layers), [])
    ranks.set_xlabel(f"rank of {piece_label(target_label)!r}\n(1 = the top token; log scale)")
    ranks.grid(True, which="major", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return fig


def plot_pieces(panels: Sequence[tuple[str, Sequence[str], Sequence[int], Sequence[bool]]],
                width: int = 90, max_pieces: int = 240) -> Figure:
    """Each tokenizer's pieces as boxes (id underneath, byte pieces framed red), one panel per tokenizer.

    panels: (name, pieces, ids, is_byte) per tokenizer. Lines wrap at `width` characters.
    """
    layouts = []
    for name, pieces, ids, is_byte in panels:
        placed, col, row = [], 0, 0
        for i, (piece, token_id, byte) in enumerate(list(zip(pieces, ids, is_byte))[:max_pieces]):
            span = max(len(piece), len(str(token_id))) + 1
            if col + span > width and col > 0:
                col, row = 0, row + 1
            placed.append((col, row, span, piece, token_id, byte, i))
            col += span
        layouts.append((name, placed, row + 1, len(pieces) > max_pieces))
    line, inches_per_char = 0.55, 0.1
    heights = [0.45 + line * n_rows for _, _, n_rows, _ in layouts]
    fig = Figure(figsize=(inches_per_char * width + 0.4, sum(heights) + 0.1))
    top = sum(heights) + 0.1
    for name, placed, n_rows, cut in layouts:
        height = line * n_rows
        top -= 0.45 + height
        ax = _axes_at(fig, 0.2, top, inches_per_char * width, height)
        for col, row, span, piece, token_id, byte, i in placed:
            ax.add_patch(Rectangle((col, -row - 0.9), span - 0.2, 0.85, facecolor=PIECE_PALETTE[i % len(PIECE_PALETTE)],
                                   edgecolor=CHOSEN_COLOUR if byte else "#999", linestyle="--" if byte else "-"))
            ax.text(col + (span - 0.2) / 2, -row - 0.35, piece_label(piece, 40), ha="center", va="center",
                    fontsize=8, family="monospace")
            ax.text(col + (span - 0.2) / 2, -row - 0.75, str(token_id), ha="center", va="center", fontsize=6,
                    color=CHOSEN_COLOUR if byte else "#555")
        ax.set_xlim(0, width)
        ax.set_ylim(-n_rows, 0)
        ax.set_axis_off()
        ax.set_title(name + (f" (first {max_pieces} pieces)" if cut else "") + "; red dashed: byte fallback",
                     fontsize=9, loc="left")
    return fig
