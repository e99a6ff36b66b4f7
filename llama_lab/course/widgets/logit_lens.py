"""The logit lens explorer: each layer's residual stream read as if it were the last, through the model's final
RMSNorm and output head, with the top tokens and a target token's rank at every layer."""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets
import torch
import torch.nn.functional as F

from ...hooks import logit_lens, residual_stream
from ...tokenizer import Tokenizer
from ..viz import plot_logit_lens
from .base import Explorer, check_length, text_box

@dataclass
class LensRow:
    """What the model would predict if it stopped after one layer: that stream, through the final norm and head."""

    layer: str  # "embeddings" or "layer i"
    top_ids: list[int]
    top_pieces: list[str]
    top_probs: list[float]
    target_rank: int  # 1 = the likeliest token
    target_prob: float


class LogitLens(Explorer):
    """The logit lens: read each layer's residual stream as if it were the last.

    For the chosen position, the stream after the embeddings and after every block goes through the model's
    final RMSNorm and output head; the figure shows the top tokens at each layer and the rank of a target
    token (by default the text's next token, or at the last position the model's final guess). `.rows` holds
    the table, `.logits` the (n_layers + 1, V) logits; its last row is the model's own output.
    """

    kind = "logit_lens"

    def __init__(self, model, tokenizer: Tokenizer, text: str = "The capital of France is", target: str = "",
                 top: int = 5, max_tokens: int = 128):
        super().__init__()
        self.model, self.tokenizer, self.top, self.max_tokens = model, tokenizer, top, max_tokens
        self.tokens: list[int] = []
        self.rows: list[LensRow] = []
        self.logits: torch.Tensor | None = None
        self.target_id: int | None = None
        self._stream: torch.Tensor | None = None  # (L + 1, T, D)

        self.text = text_box(text, "text", rows=2)
        self.position = widgets.Dropdown(options=[], description="position", style={"description_width": "110px"})
        self.target = widgets.Text(value=target, description="target token", continuous_update=False,
                                   placeholder="empty: the next token of the text (or the model's final guess)",
                                   style={"description_width": "110px"}, layout=widgets.Layout(width="60%"))
        self.text.observe(lambda _: self._guard(self._text_changed), names="value")
        for control in (self.position, self.target):
            control.observe(lambda _: self._guard(self._update), names="value")
        self._finish_layout(
            widgets.HTML("<b>Logit lens</b>: what each layer would predict if it were the last"),
            self.text, widgets.HBox([self.position, self.target]), self.message, self.image,
            widgets.HBox([self.save_path, self.save_button]))
        self._guard(self._text_changed)

    def _text_changed(self) -> None:
        self._stream, self.rows, self.logits = None, [], None
        text = self.text.value
        if not text.strip():
            raise ValueError("the text is empty: type a sentence for the model to read")
        ids = self.tokenizer.encode(text, bos=True)
        if len(ids) > self.max_tokens:
            raise ValueError(f"the text is {len(ids)} tokens long; the logit lens takes up to {self.max_tokens} "
                             "(pass max_tokens= to raise the limit): shorten it")
        check_length(self.model, len(ids), "text")
        self.tokens = ids
        self._stream = residual_stream(self.model, [ids])[:, 0]  # (L + 1, T, D)
        options = [(f"{i}: {self.tokenizer.id_to_piece(t)}", i) for i, t in enumerate(ids)]
        with self._quietly():
            self.position.options, self.position.value = options, len(ids) - 1
        self._update()

    def target_token(self, logits: torch.Tensor) -> int:
        """The target's id: a piece written as the vocabulary has it ("\u2581Paris", "<0x0A>"), or a word whose
        first piece is taken ("Paris" -> "\u2581Paris"); empty: the text's next token, or the final top-1."""
        text = self.target.value
        if not text:
            p = self.position.value
            return self.tokens[p + 1] if p + 1 < len(self.tokens) else int(logits[-1].argmax())
        if text.startswith(("\u2581", "<")):
            token = self.tokenizer.piece_to_id(text)
            if self.tokenizer.id_to_piece(token) == text:
                return token
        ids = self.tokenizer.encode(text, bos=False)
        if not ids:
            raise ValueError(f"the target {text!r} gives no token: type a word or a piece such as '\u2581Paris'")
        return ids[0]

    def _update(self) -> None:
        if self._stream is None or self.position.value is None:
            return
        model, p = self.model, self.position.value
        self.logits = logit_lens(model, self._stream[:, p]).cpu()  # (L + 1, V)
        probs = F.softmax(self.logits, -1)
        self.target_id = self.target_token(self.logits)
        names = ["embeddings"] + [f"layer {i}" for i in range(len(model.layers))]
        self.rows = []
        for name, layer_logits, layer_probs in zip(names, self.logits, probs):
            top = layer_probs.topk(self.top)
            rank = int((layer_logits > layer_logits[self.target_id]).sum()) + 1
            self.rows.append(LensRow(name, top.indices.tolist(), [self.tokenizer.id_to_piece(i) for i in top.indices],
                                     top.values.tolist(), rank, float(layer_probs[self.target_id])))
        target_piece = self.tokenizer.id_to_piece(self.target_id)
        context = self.tokenizer.id_to_piece(self.tokens[p])
        self.figure = plot_logit_lens(names, [r.top_pieces for r in self.rows], [r.top_probs for r in self.rows],
                                      [r.target_rank for r in self.rows], target_piece,
                                      f"Logit lens at position {p} ({context!r}): target {target_piece!r}, "
                                      f"final rank {self.rows[-1].target_rank}")
        self._show(self.figure)
        words = self.target.value
        note = ""
        if words and not words.startswith(("\u2581", "<")) and len(self.tokenizer.encode(words, bos=False)) > 1:
            note = f"{words!r} is several tokens; the lens follows its first, {target_piece!r}"
        self._note(note)
