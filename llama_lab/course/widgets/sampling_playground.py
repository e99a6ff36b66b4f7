"""The sampling playground: generate from a prompt and see how temperature, top-k and top-p reshape each
next-token distribution, the very stages the kit's sampler applies (`sampling.sampler_stages`)."""

from __future__ import annotations

import html
import math
import threading
from dataclasses import dataclass
from typing import Callable, Sequence

import ipywidgets as widgets
import torch
import torch.nn.functional as F

from ... import sampling
from ...chat import encode_dialog, special_tags_in
from ...generate import iter_generate
from ...sampling import check_sampling_args
from ...tokenizer import Tokenizer
from ..viz import entropy_bits, plot_distribution, probability_legend_html, table_html, tokens_html
from .base import SLIDER, Explorer, text_box

def _forward_logits(model, ids: list[int]) -> torch.Tensor:
    """The model's logits at every position of one sequence: (T, V), float32 on the CPU."""
    device = model.device
    with torch.inference_mode():
        return model(torch.tensor([ids], device=device))[0].float().cpu()



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


class Detokenizer:
    """New token ids -> the text each one adds after the prompt's ids `context`, with the space that starts it
    (Tokenizer.decode_continuation). A character split over byte tokens appears with its last byte.

    Example: the four byte tokens of "🙂" add "", "" and "", then the character itself with the last one; `add`
    returns what each token adds, `texts` keeps them all.
    """

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
        self.system = text_box(system, "system", placeholder="an optional system prompt")
        self.prompt = text_box(prompt, "prompt", rows=3)
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
        detokenizer = Detokenizer(self.tokenizer, ids)
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
