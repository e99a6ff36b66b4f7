"""The tokenizer explorer: a text's pieces and ids under one tokenizer or two side by side, byte-fallback pieces
marked, with the counts (characters, tokens, words) that compare them; given the same content in a second language
(English and Turkish by default), both texts side by side, with what the second costs over the first."""

from __future__ import annotations

import html
from dataclasses import dataclass

import ipywidgets as widgets
from matplotlib.figure import Figure

from ...tokenizer import Tokenizer
from ..tokenizer_cost import EVERYDAY, cost, count_words, same_text_tokens
from ..viz import pieces_html, plot_pieces, table_html
from .base import Explorer, text_box

# An everyday sentence and its Turkish (tokenizer_cost's parallel text): ş, ü and ı are byte pieces for the kit's
# tokenizer, trained on English alone
PARALLEL_EXAMPLE = EVERYDAY[3]

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
                     len(text), count_words(text))


class TokenizerExplorer(Explorer):
    """Text in; each tokenizer's pieces out, coloured, with their ids; byte-fallback pieces framed in red.

    Give a second tokenizer (`other`) to compare them side by side, e.g. the kit's and Llama 2's. The counts
    table shows characters, tokens, words and tokens per word; `.results[name]` holds the numbers.

    Give `translation`, the same content in a second language, to see what each language costs: a second text box,
    each tokenizer's pieces for both texts, and a counts table with a row per tokenizer and language (`cost`'s
    measures, as docs/languages.md has them) and the second language's tokens over the first's. `languages` names
    the two; `.translated[name]` holds the second text's pieces, `.costs[name][language]` the counts and
    `.ratios[name]` the ratio. `TokenizerExplorer(tok, text=PARALLEL_EXAMPLE[0], translation=PARALLEL_EXAMPLE[1])`
    starts from an everyday sentence.
    """

    kind = "tokens"

    def __init__(self, tokenizer: Tokenizer, other: Tokenizer | None = None, names: tuple[str, ...] | None = None,
                 text: str = "Tokenizers split text into pieces: naïve café, 12345, 東京, 🙂!",
                 max_chars: int = 2000, translation: str | None = None,
                 languages: tuple[str, str] = ("English", "Türkçe")):
        super().__init__()
        self.tokenizers = [tokenizer] + ([other] if other is not None else [])
        names = names or [f"tokenizer {i + 1} ({t.n_words:,} pieces)" for i, t in enumerate(self.tokenizers)]
        if len(names) != len(self.tokenizers):
            raise ValueError(f"{len(names)} names for {len(self.tokenizers)} tokenizers: give one name each")
        self.names = list(names)
        if len(languages) != 2 or languages[0] == languages[1]:
            raise ValueError(f"languages={languages!r}: give two different names, the text's and the translation's")
        self.languages = tuple(languages)
        self.max_chars = max_chars
        self.results: dict[str, Tokenized] = {}
        self.translated: dict[str, Tokenized] = {}  # with a translation: its pieces, per tokenizer
        self.costs: dict[str, dict[str, dict[str, float]]] = {}  # {tokenizer: {language: cost}}
        self.ratios: dict[str, float] = {}  # {tokenizer: second language's tokens / first's}

        two = translation is not None
        self.text = text_box(text, self.languages[0] if two else "text", rows=3)
        self.translation = text_box(translation, self.languages[1], rows=3) if two else None
        self.views = [widgets.HTML() for _ in self.tokenizers]
        self.translated_views = [widgets.HTML() for _ in self.tokenizers] if two else []
        self.counts = widgets.HTML()
        columns = []
        for i, name in enumerate(self.names):
            rows = [widgets.HTML(f"<b>{html.escape(name)}</b>"), self.views[i]]
            if two:
                rows[1:] = [widgets.HTML(f"<i>{html.escape(self.languages[0])}</i>"), self.views[i],
                            widgets.HTML(f"<i>{html.escape(self.languages[1])}</i>"), self.translated_views[i]]
            columns.append(widgets.VBox(rows, layout=widgets.Layout(flex="1")))
        boxes = [self.text] + ([self.translation] if two else [])
        for box in boxes:
            box.observe(lambda _: self._guard(self._update), names="value")
        self._finish_layout(
            widgets.HTML("<b>Tokenizer explorer</b>: hover a piece for its id; red dashed frame: byte fallback"),
            *boxes, self.message, widgets.HBox(columns), self.counts,
            widgets.HBox([self.save_path, self.save_button]))
        self._guard(self._update)

    def _checked(self, text: str, what: str) -> str:
        if not text.strip():
            raise ValueError(f"the {what} is empty: type something to tokenize")
        if len(text) > self.max_chars:
            raise ValueError(f"the {what} has {len(text):,} characters; this explorer shows up to {self.max_chars:,} "
                             f"(pass max_chars= to raise the limit): shorten it")
        return text

    def _update(self) -> None:
        self.results, self.translated, self.costs, self.ratios = {}, {}, {}, {}
        if self.translation is None:
            text = self._checked(self.text.value, "text")
        else:
            text = self._checked(self.text.value, f"{self.languages[0]} text")
            translation = self._checked(self.translation.value, f"{self.languages[1]} text (the translation)")
        self.results = {name: tokenize_for_display(tok, text, name) for name, tok in zip(self.names, self.tokenizers)}
        for view, r in zip(self.views, self.results.values()):
            view.value = pieces_html(r.pieces, r.ids, r.is_byte)
        if self.translation is not None:
            self._update_translation(text, translation)
            return
        self.counts.value = table_html(
            ["tokenizer", "characters", "tokens", "words", "tokens per word", "characters per token", "byte pieces"],
            [[r.name, r.n_chars, r.n_tokens, r.n_words, f"{r.tokens_per_word:.2f}",
              f"{r.n_chars / max(r.n_tokens, 1):.2f}", r.n_byte_pieces] for r in self.results.values()])
        self._note()

    def _update_translation(self, text: str, translation: str) -> None:
        """Both texts' pieces, and the counts of each language with `cost`, the measure docs/languages.md uses."""
        first, second = self.languages
        rows = []
        for name, tok in zip(self.names, self.tokenizers):
            self.translated[name] = tokenize_for_display(tok, translation, name)
            self.costs[name] = {first: cost(tok, [text]), second: cost(tok, [translation])}
            self.ratios[name] = same_text_tokens(self.costs[name][first], self.costs[name][second])
            for language, c in self.costs[name].items():
                rows.append([name, language, c["words"], c["tokens"], f"{c['tokens per word']:.2f}",
                             f"{c['bytes per token']:.2f}", f"{c['byte fallback %']:.1f}%",
                             f"{self.ratios[name]:.2f}x" if language == second else ""])
        for view, r in zip(self.translated_views, self.translated.values()):
            view.value = pieces_html(r.pieces, r.ids, r.is_byte)
        self.counts.value = table_html(
            ["tokenizer", "language", "words", "tokens", "tokens per word", "bytes per token", "byte fallback",
             f"{second} / {first} tokens"], rows)
        self._note()

    def current_figure(self) -> Figure | None:
        """The pieces drawn with matplotlib (made on demand: the explorer itself shows HTML)."""
        if not self.results:
            return None
        shown = [(r.name, r) for r in self.results.values()]
        if self.translated:  # each tokenizer's two texts, one after the other
            first, second = self.languages
            shown = [(f"{r.name}, {language}", r) for name in self.results
                     for language, r in ((first, self.results[name]), (second, self.translated[name]))]
        self.figure = plot_pieces([(label, r.pieces, r.ids, r.is_byte) for label, r in shown])
        return self.figure
