"""The attention explorer: the causal attention pattern of every layer and head for a text, with the
grouped-query structure (which query heads share a key/value head) shown."""

from __future__ import annotations

import html

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from ...hooks import attention_patterns
from ...tokenizer import Tokenizer
from ..viz import plot_attention, plot_head_grid
from .base import SLIDER, Explorer, check_length, text_box

class AttentionExplorer(Explorer):
    """The causal attention pattern of every layer and head for a text, with the grouped-query structure shown.

    One heatmap for the chosen layer and head (queries down, keys across), a thumbnail of every head in the
    layer (one row per key/value head when heads share them), a token selector that outlines its row, and a
    shared (0 to 1) or per-head colour scale. `.attention` is the matrix drawn, `.patterns[layer]` all heads
    (H, T, T), `.groups[g]` the query heads that share KV head g. `max_tokens` and `max_layers` bound the cost.
    """

    kind = "attention"

    def __init__(self, model, tokenizer: Tokenizer, text: str = "The cat sat on the mat because it was tired.",
                 max_tokens: int = 48, max_layers: int | None = None, layer: int = 0, head: int = 0):
        super().__init__()
        self.model, self.tokenizer, self.max_tokens = model, tokenizer, max_tokens
        args = model.args
        self.n_layers = args.n_layers if max_layers is None else max(1, min(max_layers, args.n_layers))
        n_rep = args.n_heads // args.kv_heads  # query heads per KV head; repeat_kv gives head h KV head h // n_rep
        self.groups = [list(range(g * n_rep, (g + 1) * n_rep)) for g in range(args.kv_heads)]
        self.tokens: list[int] = []
        self.labels: list[str] = []
        self.patterns: dict[int, torch.Tensor] = {}
        self.attention: torch.Tensor | None = None  # (T, T), what the heatmap shows
        self.row: torch.Tensor | None = None  # (T,), the highlighted token's row
        self.grid_figure: Figure | None = None
        self._text_note = ""  # says when the text was cut to max_tokens

        self.text = text_box(text, "text", rows=2)
        self.layer = widgets.IntSlider(value=layer, min=0, max=self.n_layers - 1, description="layer", **SLIDER)
        self.head = widgets.IntSlider(value=head, min=0, max=args.n_heads - 1, description="head", **SLIDER)
        self.average_group = widgets.Checkbox(value=False, description="average the heads sharing this KV head",
                                              indent=False, disabled=n_rep == 1)
        self.token = widgets.Dropdown(options=[("(none)", -1)], value=-1, description="highlight row",
                                      style={"description_width": "110px"})
        self.scale = widgets.ToggleButtons(options=["shared", "per head"], value="shared",
                                           description="colour scale", style={"description_width": "110px"},
                                           tooltips=["every head on the same 0 to 1 scale",
                                                     "each head from 0 to its own maximum"])
        self.grid_image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.layer.add_class("llama-lab-layer")
        self.head.add_class("llama-lab-head")
        self.image.add_class("llama-lab-main-figure")
        self.grid_image.add_class("llama-lab-grid-figure")
        self.gqa_info = widgets.HTML(self._gqa_text())
        self.row_info = widgets.HTML()

        self.text.observe(lambda _: self._guard(self._text_changed), names="value")
        for control in (self.layer, self.scale):  # these change the grid of all heads too
            control.observe(lambda _: self._guard(self._redraw, True), names="value")
        for control in (self.head, self.average_group, self.token):
            control.observe(lambda _: self._guard(self._redraw, False), names="value")

        self._finish_layout(
            widgets.HTML("<b>Attention explorer</b>: who attends to whom, layer by layer and head by head"),
            self.text, widgets.HBox([self.layer, self.head]), widgets.HBox([self.average_group, self.scale]),
            self.token, self.gqa_info, self.message, self.image, self.row_info, self.grid_image,
            widgets.HBox([self.save_path, self.save_button]))
        self._guard(self._text_changed)

    def _gqa_text(self) -> str:
        args = self.model.args
        if args.kv_heads == args.n_heads:
            return (f"{args.n_heads} heads, each with its own keys and values (multi-head attention: "
                    "no sharing to see).")
        shares = "; ".join(f"KV head {g}: query heads {group[0]}&ndash;{group[-1]}"
                           for g, group in enumerate(self.groups))
        return (f"Grouped-query attention: {args.n_heads} query heads share {args.kv_heads} key/value heads, "
                f"{len(self.groups[0])} each ({shares}). Heads in a group attend with the same keys but their own "
                "queries, so their patterns differ.")

    def kv_head(self, head: int) -> int:
        return head // len(self.groups[0])

    def _text_changed(self) -> None:
        self.patterns, self.attention, self.row = {}, None, None
        text = self.text.value
        if not text.strip():
            raise ValueError("the text is empty: type a sentence to see its attention")
        ids = self.tokenizer.encode(text, bos=True)
        self._text_note = ""
        if len(ids) > self.max_tokens:
            self._text_note = (f"the text has {len(ids)} tokens; showing the first {self.max_tokens} "
                    f"(max_tokens={self.max_tokens} keeps the figures readable and fast)")
            ids = ids[: self.max_tokens]
        check_length(self.model, len(ids), "text")
        self.tokens = ids
        self.labels = [self.tokenizer.id_to_piece(i) for i in ids]
        self.patterns = attention_patterns(self.model, ids, self.n_layers)
        options = [("(none)", -1)] + [(f"{i}: {label}", i) for i, label in enumerate(self.labels)]
        selected = self.token.value if self.token.value < len(ids) else -1
        with self._quietly():
            self.token.options, self.token.value = options, selected
        self._redraw(True)

    def heads_shown(self) -> list[int]:
        """The query heads the heatmap shows: the chosen one, or its whole KV group when averaging."""
        head = self.head.value
        return self.groups[self.kv_head(head)] if self.average_group.value else [head]

    def _redraw(self, grid: bool) -> None:
        if not self.patterns:
            return
        layer, heads = self.layer.value, self.heads_shown()
        layer_patterns = self.patterns[layer]  # (H, T, T)
        self.attention = layer_patterns[heads].mean(0)  # (T, T)
        token = self.token.value
        self.row = self.attention[token] if token >= 0 else None
        kv = self.kv_head(heads[0])
        if len(heads) > 1:
            what = f"heads {heads[0]}-{heads[-1]} averaged (they share KV head {kv})"
        else:
            what = f"head {heads[0]}" + (f" (KV head {kv})" if len(self.groups) < self.model.args.n_heads else "")
        self.row_info.value = self._row_text(f"layer {layer}, {what}") if self.row is not None else ""
        per_head = self.scale.value == "per head"
        vmax = max(float(self.attention.max()), 1e-6) if per_head else 1.0
        self.figure = plot_attention(self.attention.numpy(), self.labels, self.labels,
                                     f"Layer {layer}, {what}", vmax=vmax, highlight_row=token if token >= 0 else None)
        self._show(self.figure)
        if grid:
            limits = [max(float(p.max()), 1e-6) if per_head else 1.0 for p in layer_patterns]
            self.grid_figure = plot_head_grid(layer_patterns.numpy(), self.groups, limits,
                                              title=f"Layer {layer}: every head ({self.scale.value} colour scale)")
            self._show(self.grid_figure, self.grid_image)
        self._note(self._text_note)

    def _row_text(self, where: str) -> str:
        token = self.token.value
        order = self.row.argsort(descending=True)[:5].tolist()
        parts = ", ".join(f"{self.labels[j]!r} {float(self.row[j]):.2f}" for j in order if self.row[j] > 0)
        return html.escape(f"{where}: token {token} {self.labels[token]!r} attends most to {parts}")
