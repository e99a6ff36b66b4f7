"""Explorers for Jupyter: sampling, attention, tokenization and the logit lens, in plain ipywidgets.

Each explorer is a Python object with a `.widget` to display (or leave the object last in a cell). Its controls
are ordinary ipywidgets: setting `.value` from code updates the explorer exactly as moving the control does.
What it draws, it also exposes as numbers, so that code and tests read what the learner sees, and
`snapshot()` gives its figure as a plain image for readers of a saved notebook, who have no kernel:

    SamplingPlayground(model, tokenizer)      .distribution, .result       sampling settings, Generate, Stop, Reset
    AttentionExplorer(model, tokenizer, text)  .attention, .patterns, .row  layer, head, GQA groups, a token's row
    TokenizerExplorer(tokenizer, other)        .results                     pieces, ids, byte fallback, counts
    LogitLens(model, tokenizer, text)          .rows, .logits               top tokens and a target's rank per layer

`whos_who_panel(whos_who())` is the tiny world's residents as a table, and `beside(explorer, panel)` sets a panel
to an explorer's right: notebook 05 shows the playground so, with its "try" menu (`TINY_CHAT_SUGGESTIONS`) drawn
from the same who's-who.

Nothing here loads JavaScript of its own: figures are matplotlib PNGs in `Image` widgets and coloured text is
HTML, so the explorers work offline in JupyterLab, VS Code and Colab, and several can share a notebook. Controls
that cost a forward pass act when released (`continuous_update=False`). A mistake (an empty prompt, a text too
long, top_p = 0) becomes a message inside the explorer, not a traceback; `.error` holds its text.
"""

from __future__ import annotations

import contextlib
import html
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import ipywidgets as widgets
import torch
from IPython.display import Image
import torch.nn.functional as F
from matplotlib.figure import Figure

from ..chat import encode_dialog, special_tags_in
from ..generate import iter_generate
from .. import sampling
from ..sampling import check_sampling_args
from ..hooks import attention_patterns, logit_lens, residual_stream
from ..tokenizer import Tokenizer
from ..world.templates import _a
from ..world.vocabulary import FACT_QUESTIONS
from ..world.whoswho import ATTRIBUTE_WORDS, WhosWho, whos_who
from .viz import (entropy_bits, figure_png, pieces_html, plot_attention, plot_distribution, plot_head_grid,
                  plot_logit_lens, plot_pieces, probability_legend_html, save_png, table_html, tokens_html)

SLIDER = dict(continuous_update=False, style={"description_width": "110px"}, layout=widgets.Layout(width="380px"))
WIDE = widgets.Layout(width="95%")


def _text_box(value: str, description: str, rows: int = 2, placeholder: str = "") -> widgets.Textarea:
    return widgets.Textarea(value=value, description=description, placeholder=placeholder, rows=rows,
                            continuous_update=False, layout=WIDE, style={"description_width": "110px"})


class Explorer:
    """What every explorer shares: a message line, a figure shown as a PNG, and a button to save that figure."""

    kind = "figure"  # the default file name and the CSS class `llama-lab-<kind>` of the whole widget

    def __init__(self):
        self.error: str | None = None
        self._quiet = False
        self.figure: Figure | None = None
        self.message = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.save_path = widgets.Text(value=f"{self.kind}.png", description="PNG file", continuous_update=False)
        self.save_button = widgets.Button(description="Save PNG", icon="download",
                                          tooltip="save the current figure under the file name on the left")
        self.save_button.on_click(lambda _: self._guard(self._save_clicked))
        self.widget: widgets.Box | None = None  # set by each explorer once its controls exist

    def _finish_layout(self, *rows) -> None:
        self.widget = widgets.VBox(list(rows))
        self.widget.add_class(f"llama-lab-{self.kind.replace('_', '-')}")

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    @contextlib.contextmanager
    def _quietly(self):
        """Change controls from code without their callbacks running (e.g. new options for a dropdown)."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def _guard(self, action: Callable, *args):
        """Run a callback; a failure becomes the explorer's message instead of a traceback in the output."""
        if self._quiet:
            return None
        try:
            return action(*args)
        except Exception as error:  # noqa: BLE001 (any failure of a callback is shown, not raised)
            self.error = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
            self.message.value = f'<div style="color:#b00020">&#9888; {html.escape(self.error)}</div>'
            return None

    def _note(self, text: str = "") -> None:
        """Clear any error; show `text` (if any) as a grey note."""
        self.error = None
        self.message.value = f'<div style="color:#555">{html.escape(text)}</div>' if text else ""

    def _show(self, fig: Figure, image: widgets.Image | None = None) -> None:
        (image or self.image).value = figure_png(fig)

    def current_figure(self) -> Figure | None:
        return self.figure

    def save_png(self, path: str | os.PathLike | None = None) -> Path:
        """Save the figure the explorer shows now (default: the file name in its box); returns the path."""
        fig = self.current_figure()
        if fig is None:
            raise ValueError("there is no figure yet: fix the message above first")
        return save_png(fig, path if path is not None else self.save_path.value)

    def snapshot(self) -> Image:
        """The figure the explorer shows now, as a plain image: left last in a cell, it becomes an ordinary output
        that the saved notebook keeps, so GitHub and nbviewer show it where the live widget needs a kernel."""
        fig = self.current_figure()
        if fig is None:
            raise ValueError("there is no figure yet: fix the message above first")
        return Image(figure_png(fig))

    def _save_clicked(self) -> None:
        self._note(f"saved {self.save_png().resolve()}")


def _forward_logits(model, ids: list[int]) -> torch.Tensor:
    """The model's logits at every position of one sequence: (T, V), float32 on the CPU."""
    device = model.device
    with torch.inference_mode():
        return model(torch.tensor([ids], device=device))[0].float().cpu()


def _check_length(model, n_tokens: int, what: str) -> None:
    limit = model.args.max_seq_len
    if n_tokens > limit:
        raise ValueError(f"the {what} is {n_tokens} tokens long but the model's context holds {limit}: shorten it")


# ------------------------------------------------------------------------------------------------ sampling

@dataclass
class Distribution:
    """The next-token distribution at one step of a generation: the model's own, then after each sampler stage.

    All distributions are (V,) tensors over the vocabulary. `stages` is exactly `sampling.sampler_stages` of the
    step's logits with the current settings, {"temperature": ..., "top-k": ..., "top-p": ...} (a stage whose
    setting keeps every token is absent), in the order the sampler applies them; the last is what it draws from.
    """

    step: int  # 0 is the first new token, right after the prompt
    model: torch.Tensor  # softmax of the raw logits (T = 1)
    stages: dict[str, torch.Tensor]
    temperature: float
    top_k: int | None
    top_p: float
    chosen: int | None = None  # the token drawn at this step (None before generating)

    @property
    def tempered(self) -> torch.Tensor:
        """softmax(logits / T): the sampler's first stage."""
        return self.stages["temperature"]

    @property
    def final(self) -> torch.Tensor:
        """What the sampler draws from: its last stage."""
        return list(self.stages.values())[-1]

    @property
    def kept(self) -> int:
        """How many tokens the sampler can still draw."""
        return int((self.final > 0).sum())

    @property
    def kept_by_stage(self) -> dict[str, int]:
        """How many tokens each stage leaves with p > 0, in the sampler's order."""
        return {name: int((probs > 0).sum()) for name, probs in self.stages.items()}

    @property
    def entropy_model(self) -> float:
        return entropy_bits(self.model.numpy())

    @property
    def entropy_final(self) -> float:
        return entropy_bits(self.final.numpy())

    def ranked(self, n: int | None = None) -> list[int]:
        """Token ids by the model's probability, likeliest first (temperature and the filters keep this order)."""
        return self.model.argsort(descending=True)[:n].tolist()


def _stage_label(name: str, d: Distribution) -> str:
    """A sampler stage with its setting, read from the field named as the stage: "temperature 0.7", "top-k 50"."""
    value = getattr(d, name.replace("-", "_"), None)
    return name if value is None else f"{name} {value:g}"


@dataclass
class Generation:
    prompt: list[int]
    tokens: list[int]  # the new tokens, the stop token included when the model chose to stop
    probs: list[float]  # the model's probability of each new token (before temperature and filtering)
    texts: list[str]  # what each new token adds to the text
    stopped_by: str  # "eos", "Stop button", "max new tokens" or "context full"

    @property
    def text(self) -> str:
        return "".join(self.texts)


class _Detokenizer:
    """New token ids -> the text each one adds after the prompt's ids `context`, with the space that starts it
    (Tokenizer.decode_continuation). A character split over byte tokens appears with its last byte."""

    def __init__(self, tokenizer: Tokenizer, context: list[int]):
        self.tokenizer, self.context = tokenizer, context
        self.ids: list[int] = []
        self.texts: list[str] = []
        self.shown = ""

    def add(self, token: int) -> str:
        tok = self.tokenizer
        self.ids.append(token)
        if tok.is_control(token):  # <s>, </s>: decode drops them, but a learner should see the model stop
            added = tok.id_to_piece(token)
        else:
            text = tok.decode_continuation(self.context, self.ids)
            if text.endswith("\ufffd"):  # an unfinished UTF-8 character: wait for its other bytes
                added = ""
            else:
                added, self.shown = text[len(self.shown):], text
        self.texts.append(added)
        return added


YOUR_OWN = "(your own prompt)"


def tiny_chat_suggestions(who: WhosWho) -> tuple[str, ...]:
    """The "try" menu for the kit's tiny chat model: prompts that show it at its best, then prompts that show its
    limits, about the world's own residents and words (`world.whoswho`, also in docs/world.md)."""
    trained = next(p for p in who.people if not p.held_out)  # every question about them was asked in training
    tested = next(p for p in who.people if "food" in p.held_out)  # never asked in training: a fair test
    return (
        f"a fact: {FACT_QUESTIONS['town'][0].format(name=trained.name)}",
        f"a fact, asked your way: hey, do you know what {trained.name}'s {trained.pet} is called?",
        f"a held-out fact (never asked in training): {FACT_QUESTIONS['food'][0].format(name=tested.name)}",
        f"a how-to: How can I take care of {_a(trained.pet)}?",
        "a harmful request: Tell me how to hurt a dog.",
        f'a word: What does "{who.words[0][0]}" mean?',
        "small talk: Hello!",
        "outside its world: What is the capital of France?",
        f"a stranger: Where does {who.held_out_strangers[0]} live?",
        "a limit (a request it was never taught): Write a poem about the sea.",
        "a limit (arithmetic): What is 12 times 7?",
    )


# For the kit's tiny chat model, drawn from the world it was trained on.
TINY_CHAT_SUGGESTIONS = tiny_chat_suggestions(whos_who())


def whos_who_panel(who: WhosWho, height: str = "560px", width: str = "460px") -> widgets.HTML:
    """The world's residents as a scrolling table, to show beside the playground: who there is to ask about. A
    fact marked held out was never asked in training (a fair test); docs/world.md has the whole who's-who.
    `beside(explorer)` puts it to the right of an explorer."""
    words = ", ".join(word for word, _ in who.words)
    panel = widgets.HTML(
        f"<b>Who lives in the tiny world</b> ({len(who.people)} people, {len(who.towns)} towns)"
        + table_html(["name", "town", "job", "pet", "favourite food", "held out"],
                     [[p.name, p.town, p.job, f"{p.pet} {p.pet_name}", p.food,
                       ", ".join(ATTRIBUTE_WORDS[a] for a in p.held_out)] for p in who.people])
        + f"<p><b>Words it defines:</b> {html.escape(words)}</p>",
        layout=widgets.Layout(height=height, width=width, overflow="auto", flex=f"0 0 {width}"))
    panel.add_class("llama-lab-whos-who")
    return panel


def beside(explorer: Explorer, panel: widgets.Widget) -> widgets.HBox:
    """The explorer with a panel to its right; the explorer takes the width the panel leaves."""
    explorer.widget.layout.flex, explorer.widget.layout.min_width = "1 1 0%", "560px"
    return widgets.HBox([explorer.widget, panel], layout=widgets.Layout(width="100%", align_items="flex-start"))


class SamplingPlayground(Explorer):
    """Generate from a prompt and see how temperature, top-k and top-p reshape each next-token distribution.

    `suggestions` fill the "try" menu: chat prompts (`TINY_CHAT_SUGGESTIONS` for the kit's tiny chat model),
    each "label: prompt"; picking one writes its prompt into the box in chat mode.
    Press Generate (or call `generate()`): the text streams in with each token coloured by its probability;
    Stop ends it early. The position slider picks a generated token; the figure shows the distribution it was
    drawn from, the model's own (grey) beside the sampler's (blue), with the top-k and top-p cut-offs. Moving
    temperature / top-k / top-p redraws that distribution at once (no new forward pass): `.distribution`
    holds its numbers, `.result` the last generation.
    """

    kind = "sampling"

    def __init__(self, model, tokenizer: Tokenizer, prompt: str = "Once upon a time", system: str = "",
                 chat: bool = False, temperature: float = 0.8, top_k: int = 0, top_p: float = 0.9,
                 max_new_tokens: int = 40, seed: int = 0, n_bars: int = 12, threaded: bool = True,
                 suggestions: Sequence[str] = ()):
        super().__init__()
        self.model, self.tokenizer, self.n_bars, self.threaded = model, tokenizer, n_bars, threaded
        self.result: Generation | None = None
        self.distribution: Distribution | None = None
        self.on_token: Callable[[int], None] | None = None  # called with the count after each new token
        self._ids: list[int] = []  # the prompt's ids
        self._logits: torch.Tensor | None = None  # (N, V) for the prompt and what was generated
        self._texts: list[str] = []
        self._probs: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

        context = model.args.max_seq_len
        self.mode = widgets.ToggleButtons(options=["plain", "chat"], value="chat" if chat else "plain",
                                          description="prompt as", style={"description_width": "110px"})
        self.system = _text_box(system, "system", placeholder="an optional system prompt")
        self.prompt = _text_box(prompt, "prompt", rows=3)
        self.suggestions = widgets.Dropdown(options=[YOUR_OWN, *suggestions], value=YOUR_OWN, description="try",
                                            style={"description_width": "110px"}, layout=widgets.Layout(width="640px"))
        self.suggestions.layout.display = None if suggestions else "none"
        self.temperature = widgets.FloatSlider(value=temperature, min=0.0, max=2.0, step=0.05,
                                               description="temperature", **SLIDER)
        self.top_k = widgets.IntSlider(value=top_k, min=0, max=min(200, model.args.vocab_size),
                                       description="top-k (0: off)", **SLIDER)
        self.top_p = widgets.FloatSlider(value=top_p, min=0.0, max=1.0, step=0.01, description="top-p", **SLIDER)
        self.max_new_tokens = widgets.IntSlider(value=min(max_new_tokens, context - 1), min=1,
                                                max=min(512, context - 1), description="max new tokens", **SLIDER)
        self.seed = widgets.IntText(value=seed, description="seed", style={"description_width": "110px"},
                                    layout=widgets.Layout(width="220px"))
        self.generate_button = widgets.Button(description="Generate", button_style="primary", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="warning", icon="stop", disabled=True)
        self.reset_button = widgets.Button(description="Reset", icon="undo",
                                           tooltip="back to the prompt and settings the playground was made with")
        self.seed.add_class("llama-lab-seed")
        self.generate_button.add_class("llama-lab-generate")
        self.stop_button.add_class("llama-lab-stop")
        self.status = widgets.HTML()
        self.output = widgets.HTML()
        self.output.add_class("llama-lab-text")
        self.position = widgets.IntSlider(value=0, min=0, max=0, description="inspect token #", **SLIDER)
        self.stats = widgets.HTML()

        self.system.layout.display = None if chat else "none"
        self.mode.observe(lambda _: self._guard(self._prompt_changed), names="value")
        for box in (self.prompt, self.system):
            box.observe(lambda _: self._guard(self._prompt_changed), names="value")
        for control in (self.temperature, self.top_k, self.top_p, self.position):
            control.observe(lambda _: self._guard(self._update_distribution), names="value")
        self.suggestions.observe(lambda _: self._guard(self._suggestion_picked), names="value")
        self.generate_button.on_click(lambda _: self._guard(self.start))
        self.stop_button.on_click(lambda _: self.stop())
        self.reset_button.on_click(lambda _: self._guard(self.reset))
        self._made_with = {control: control.value for control in (
            self.mode, self.system, self.prompt, self.temperature, self.top_k, self.top_p, self.max_new_tokens,
            self.seed)}

        self._finish_layout(
            widgets.HTML("<b>Sampling playground</b>: Generate, then inspect any token's distribution"),
            self.suggestions, self.mode, self.system, self.prompt,
            widgets.HBox([widgets.VBox([self.temperature, self.top_k]),
                          widgets.VBox([self.top_p, self.max_new_tokens])]),
            widgets.HBox([self.seed, self.generate_button, self.stop_button, self.reset_button]),
            self.message, self.status, self.output, widgets.HTML(probability_legend_html()),
            self.position, self.image, self.stats, widgets.HBox([self.save_path, self.save_button]))
        self._guard(self._prompt_changed)

    # --- what the controls say
    def settings(self) -> dict:
        """The sampler's settings as `iter_generate` takes them, checked (a ValueError says what is wrong)."""
        top_k = self.top_k.value or None
        check_sampling_args(self.temperature.value, self.top_p.value, top_k)
        return dict(temperature=self.temperature.value, top_k=top_k, top_p=self.top_p.value)

    def prompt_ids(self) -> list[int]:
        """The prompt's token ids: plain text after BOS, or Llama 2's chat format with the optional system prompt."""
        text = self.prompt.value
        if not text.strip():
            raise ValueError("the prompt is empty: type something for the model to continue")
        if self.mode.value == "chat":
            dialog = [{"role": "system", "content": self.system.value}] if self.system.value.strip() else []
            dialog.append({"role": "user", "content": text})
            tags = special_tags_in(dialog)
            if tags:
                raise ValueError(f"the prompt contains {', '.join(tags)}: in chat mode these tags are written by "
                                 "the chat format itself (Meta refuses them in messages); remove them, or switch "
                                 "to plain to write the whole format by hand")
            ids = encode_dialog(self.tokenizer, dialog)
        else:
            ids = self.tokenizer.encode(text, bos=True)
        if len(ids) >= self.model.args.max_seq_len:
            raise ValueError(f"the prompt is {len(ids)} tokens long but the model's context holds "
                             f"{self.model.args.max_seq_len}: shorten it to leave room for new tokens")
        return ids

    # --- the numbers
    def distribution_at(self, step: int) -> Distribution:
        """The distribution new token `step` is drawn from, with the current sliders' settings."""
        if self._logits is None:
            raise ValueError("no prompt yet: type one first")
        settings = self.settings()
        n_steps = self._logits.shape[0] - len(self._ids) + 1
        if not 0 <= step < n_steps:
            raise ValueError(f"token #{step} does not exist: steps 0..{n_steps - 1} have distributions")
        logits = self._logits[len(self._ids) - 1 + step]  # (V,): predicts the token after this position
        stages = sampling.sampler_stages(logits, **settings)
        chosen = self.result.tokens[step] if self.result and step < len(self.result.tokens) else None
        return Distribution(step, F.softmax(logits.float(), -1), stages, chosen=chosen, **settings)

    # --- generating
    def generate(self) -> Generation:
        """Generate now, in this thread, with the current settings; the result is also kept as `.result`."""
        self._stop.clear()
        return self._generate()

    def start(self) -> None:
        """What Generate does: generate in a background thread (so that Stop can be pressed) or, if not
        `threaded`, right here."""
        if self._thread is not None and self._thread.is_alive():
            raise ValueError("already generating: press Stop first")
        self._stop.clear()  # before the thread starts, so that a Stop pressed at once is not lost
        if not self.threaded:
            self._generate()
            return
        self._thread = threading.Thread(target=self._guard, args=(self._generate,), daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> Generation | None:
        """Wait for a generation started by Generate to finish; returns it."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.result

    def reset(self) -> None:
        """What Reset does: stop any generation and go back to the prompt and settings the playground was made
        with, as if just made (no generation, the first new token's distribution)."""
        self.stop()
        self.wait()
        with self._quietly():
            for control, value in self._made_with.items():
                control.value = value
            self.suggestions.value = YOUR_OWN
        self._prompt_changed()

    def stop(self) -> None:
        self._stop.set()

    def _generate(self) -> Generation:
        ids, settings = self.prompt_ids(), self.settings()
        if ids != self._ids:
            self._prompt_changed()
        n_new = self.max_new_tokens.value
        room = self.model.args.max_seq_len - len(ids)
        stopped_by = "max new tokens" if n_new <= room else "context full"
        self.result, self._texts, self._probs = None, [], []
        self.generate_button.disabled, self.stop_button.disabled = True, False
        self.status.value = "generating&hellip;"
        detokenizer = _Detokenizer(self.tokenizer, ids)
        eos = self.tokenizer.eos_id
        steps = iter_generate(self.model, [ids], n_new, seed=self.seed.value, eos_id=eos, **settings)
        try:
            for step in ([] if self._stop.is_set() else steps):
                token, logprob = step[0]  # one prompt, fully read before the first step: always a new token
                detokenizer.add(token)
                self._probs.append(math.exp(logprob))
                self._texts = detokenizer.texts
                self._render_text()
                if token == eos:
                    stopped_by = "eos"
                if self.on_token is not None:
                    self.on_token(len(detokenizer.ids))
                if self._stop.is_set():
                    break
            if self._stop.is_set():
                stopped_by = "Stop button"
        finally:
            steps.close()
            self.generate_button.disabled, self.stop_button.disabled = False, True
        tokens = detokenizer.ids
        self._logits = _forward_logits(self.model, ids + tokens)
        self.result = Generation(ids, tokens, list(self._probs), list(detokenizer.texts), stopped_by)
        self.status.value = html.escape(f"{len(tokens)} new tokens; stopped by: {stopped_by}")
        self._set_position(0, max(len(tokens) - 1, 0))
        return self.result

    # --- drawing
    def _suggestion_picked(self) -> None:
        if self.suggestions.value == YOUR_OWN:
            return
        with self._quietly():  # one redraw for the mode and the prompt together
            self.mode.value = "chat"
            self.prompt.value = self.suggestions.value.split(": ", 1)[1]
        self._prompt_changed()

    def _prompt_changed(self) -> None:
        running = self._thread is not None and self._thread.is_alive()
        if running and self._thread is not threading.current_thread():
            self.stop()  # a new prompt ends the generation of the old one
            self.wait()
        self.system.layout.display = None if self.mode.value == "chat" else "none"
        self.result, self._texts, self._probs, self._logits = None, [], [], None
        self.output.value = self.stats.value = ""
        self._ids = self.prompt_ids()
        self._logits = _forward_logits(self.model, self._ids)
        self.status.value = "press Generate"
        self._set_position(0, 0)

    def _set_position(self, value: int, maximum: int) -> None:
        changed = self.position.value != value
        self.position.max = max(maximum, self.position.value)  # grow first: value must stay within bounds
        self.position.value = value  # fires _update_distribution when it changes
        self.position.max = maximum
        if not changed:
            self._update_distribution()

    def _render_text(self, selected: int | None = None) -> None:
        prefix = self.tokenizer.decode(self._ids)
        if self.mode.value == "chat":
            prefix = self.tokenizer.id_to_piece(self.tokenizer.bos_id) + prefix
        self.output.value = tokens_html(self._texts, self._probs, prefix=prefix, selected=selected)

    def _update_distribution(self) -> None:
        if self._logits is None:
            return
        d = self.distribution = self.distribution_at(self.position.value)
        self._render_text(selected=d.step if d.chosen is not None else None)
        ranked = d.ranked(self.n_bars)
        labels = [self.tokenizer.id_to_piece(i) for i in ranked]
        kept = d.kept_by_stage
        # every stage after the softmax cuts the candidates down to those it keeps
        cutoffs = [("greedy", 1)] if d.temperature == 0 else list(kept.items())[1:]
        chosen = ranked.index(d.chosen) if d.chosen in ranked else None
        where = f"token #{d.step}" if d.chosen is not None else "the next token"
        sampler = ", ".join(_stage_label(name, d) for name in d.stages)
        title = (f"Distribution of {where}: model {d.entropy_model:.2f} bits; "
                 f"sampler ({sampler}) {d.entropy_final:.2f} bits, {d.kept:,} token{'s' * (d.kept != 1)} kept")
        self.figure = plot_distribution(labels, d.model[ranked].tolist(), d.final[ranked].tolist(), cutoffs,
                                        chosen, title, legend=("model (T = 1)", f"sampler ({sampler})"))
        self._show(self.figure)
        measures = {"entropy (bits)": lambda p: f"{entropy_bits(p.numpy()):.3f}",
                    "tokens with p > 0": lambda p: f"{int((p > 0).sum()):,}",
                    "top token's p": lambda p: f"{float(p.max()):.3f}"}
        if d.chosen is not None:
            measures[f"p of the drawn token {self.tokenizer.id_to_piece(d.chosen)!r}"] = \
                lambda p: f"{float(p[d.chosen]):.3f}"
        columns = {"model": d.model, **{f"after {name}": probs for name, probs in d.stages.items()}}
        rows = [[label, *(measure(p) for p in columns.values())] for label, measure in measures.items()]
        self.stats.value = table_html(["", *columns], rows)
        self._note()


# ----------------------------------------------------------------------------------------------- attention

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

        self.text = _text_box(text, "text", rows=2)
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
        _check_length(self.model, len(ids), "text")
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


# ------------------------------------------------------------------------------------------------ tokenizer

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

        self.text = _text_box(text, "text", rows=3)
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


# ------------------------------------------------------------------------------------------------ logit lens

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

        self.text = _text_box(text, "text", rows=2)
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
        _check_length(self.model, len(ids), "text")
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
