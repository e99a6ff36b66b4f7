"""The tokenizer explorer: a text's pieces and ids under one tokenizer or two side by side, byte-fallback pieces
marked, with the counts (characters, tokens, words) that compare them."""

from __future__ import annotations

import html
from dataclasses import dataclass

import ipywidgets as widgets
from matplotlib.figure import Figure

from ...tokenizer import Tokenizer
from ..viz import pieces_html, plot_pieces, table_html
from .base import Explorer, text_box

@dataclass
class Tokenized:
    """One tokenizer's view of a text (BOS left out: the counts are about the text)."""

    name: str
    ids: list[int]
    pieces: list[str]
    is_byte: list[bool]
    n_chars: int
    n_words: int

    @property
    def n_tokens(self) -> int:
        return len(self.ids)

    @property
    def n_byte_pieces(self) -> int:
        return sum(self.is_byte)

    @property
    def tokens_per_word(self) -> float:
        return self.n_tokens / self.n_words if self.n_words else float("nan")


def tokenize_for_display(tokenizer: Tokenizer, text: str, name: str = "") -> Tokenized:
    ids = tokenizer.encode(text, bos=False)
    return Tokenized(name, ids, [tokenizer.id_to_piece(i) for i in ids], [tokenizer.is_byte(i) for i in ids],
                     len(text), len(text.split()))


class TokenizerExplorer(Explorer):
    """Text in; each tokenizer's pieces out, coloured, with their ids; byte-fallback pieces framed in red.

    Give a second tokenizer (`other`) to compare them side by side, e.g. the kit's and Llama 2's. The counts
    table shows characters, tokens, words and tokens per word; `.results[name]` holds the numbers.
    """

    kind = "tokens"

    def __init__(self, tokenizer: Tokenizer, other: Tokenizer | None = None, names: tuple[str, ...] | None = None,
                 text: str = "Tokenizers split text into pieces: naïve café, 12345, 東京, 🙂!",
                 max_chars: int = 2000):
        super().__init__()
        self.tokenizers = [tokenizer] + ([other] if other is not None else [])
        names = names or [f"tokenizer {i + 1} ({t.n_words:,} pieces)" for i, t in enumerate(self.tokenizers)]
        if len(names) != len(self.tokenizers):
            raise ValueError(f"{len(names)} names for {len(self.tokenizers)} tokenizers: give one name each")
        self.names = list(names)
        self.max_chars = max_chars
        self.results: dict[str, Tokenized] = {}

        self.text = text_box(text, "text", rows=3)
        self.views = [widgets.HTML() for _ in self.tokenizers]
        self.counts = widgets.HTML()
        columns = [widgets.VBox([widgets.HTML(f"<b>{html.escape(n)}</b>"), v], layout=widgets.Layout(flex="1"))
                   for n, v in zip(self.names, self.views)]
        self.text.observe(lambda _: self._guard(self._update), names="value")
        self._finish_layout(
            widgets.HTML("<b>Tokenizer explorer</b>: hover a piece for its id; red dashed frame: byte fallback"),
            self.text, self.message, widgets.HBox(columns), self.counts,
            widgets.HBox([self.save_path, self.save_button]))
        self._guard(self._update)

    def _update(self) -> None:
        self.results = {}
        text = self.text.value
        if not text.strip():
            raise ValueError("the text is empty: type something to tokenize")
        if len(text) > self.max_chars:
            raise ValueError(f"the text has {len(text):,} characters; this explorer shows up to {self.max_chars:,} "
                             f"(pass max_chars= to raise the limit): shorten it")
        self.results = {name: tokenize_for_display(tok, text, name) for name, tok in zip(self.names, self.tokenizers)}
        for view, r in zip(self.views, self.results.values()):
            view.value = pieces_html(r.pieces, r.ids, r.is_byte)
        self.counts.value = table_html(
            ["tokenizer", "characters", "tokens", "words", "tokens per word", "characters per token", "byte pieces"],
            [[r.name, r.n_chars, r.n_tokens, r.n_words, f"{r.tokens_per_word:.2f}",
              f"{r.n_chars / max(r.n_tokens, 1):.2f}", r.n_byte_pieces] for r in self.results.values()])
        self._note()

    def current_figure(self) -> Figure | None:
        """The pieces drawn with matplotlib (made on demand: the explorer itself shows HTML)."""
        if not self.results:
            return None
        self.figure = plot_pieces([(r.name, r.pieces, r.ids, r.is_byte) for r in self.results.values()])
        return self.figure
