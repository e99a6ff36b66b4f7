"""Filling a template: a one-sentence string whose `{slots}` take their values from a context, and the runs of
steps (some templates picked at random, or words quoted in a speech frame) that documents are made of.

`{Name}` is `{name}` with its first letter capitalised, so one context serves both.
Example: fill("{Name} lived in {town}.", _Ctx(name="ada", town="Applebury")) -> "Ada lived in Applebury."
The templates themselves are in `vocabulary.py`; which slot values a text about the world may use, in `contexts.py`.
"""

from __future__ import annotations

import random

from .vocabulary import FRAMES, _STANDALONE, _Step


def _a(word: str) -> str:
    """Indefinite article. Example: "owl" -> "an owl", "dog" -> "a dog"."""
    return ("an " if word[0] in "aeiou" else "a ") + word


class _Ctx(dict):
    """Slot values for one document. `{Name}` is `{name}` capitalised; a missing slot is a bug, so it raises."""

    def __missing__(self, key: str) -> str:
        low = key[:1].lower() + key[1:]
        if low != key and low in self:
            value = self[low]
            return value[:1].upper() + value[1:]
        raise KeyError(f"template slot {{{key}}} has no value in this context")


def fill(template: str, ctx: _Ctx) -> str:
    """The template with every slot filled from `ctx`.

    Example: fill("{Name} fed {his} {pet}.", _Ctx(name="ada", his="her", pet="cat")) -> "Ada fed her cat."
    """
    return template.format_map(ctx)


def _cap(text: str) -> str:
    """The text with its first letter capitalised: "owls cannot talk" -> "Owls cannot talk"."""
    return text[:1].upper() + text[1:]


_FACT_SLOTS = ("{pet_name}", "{colour}", "{food}", "{friend}", "{hobby}", "{job}", "{a_job}")


def _run_steps(steps, ctx: _Ctx, rng: random.Random) -> list[str]:
    """The sentences of a run of steps: each step, taken with its probability, adds some of its templates filled
    from `ctx` (with `fresh`, none that restates a fact slot already used), or one quote (`_quote`). Drawn by
    `_step_plan`, written by `_write_steps`."""
    return _write_steps(steps, _step_plan(steps, rng), ctx)


def _chosen(s: _Step, rng: random.Random, said: set[str]) -> list[int]:
    """Which templates step `s` adds, as indices into `s.templates`: `k` of them drawn (with `fresh`, none that
    restates a fact slot in `said`); `said` gains the fact slots they use."""
    fresh = [i for i, t in enumerate(s.templates) if not (s.fresh and any(f in t.lower() for f in said))]
    chosen = rng.sample(fresh, min(rng.randint(*s.k), len(fresh)))
    for i in chosen:
        said.update(f for f in _FACT_SLOTS if f in s.templates[i].lower())
    return chosen


def _step_plan(steps, rng: random.Random) -> list[tuple[int, ...]]:
    """The draws of a run of steps, sentence by sentence: (step, template) for a plain sentence, (step, utterance,
    frame) for a quote (`_quote_draw`), all indices, so that the same draws can fill the templates of another
    language that follow the steps' order."""
    plan, said = [], set()  # `said`: fact slots used so far, so that a document does not state a fact twice running
    for n, s in enumerate(steps):
        if s.p < 1.0 and rng.random() >= s.p:
            continue
        if s.kind:
            plan.append((n, *_quote_draw(s, rng)))
            continue
        plan += [(n, i) for i in _chosen(s, rng, said)]
    return plan


def _write_steps(steps, plan: list[tuple[int, ...]], ctx: _Ctx) -> list[str]:
    """The sentences of a step plan (`_step_plan`), filled from `ctx`."""
    out = []
    for n, *drawn in plan:
        out.append(_write_quote(steps[n], *drawn, ctx) if steps[n].kind else fill(steps[n].templates[drawn[0]], ctx))
    return out


def _quote_draw(s: _Step, rng: random.Random) -> tuple[int, int]:
    """The draws of a quote of step `s`: (utterance, frame), indices into `s.templates` and `FRAMES[s.kind]` (never
    a standalone frame, nor one with a listener when the step has none)."""
    utterance = rng.randrange(len(s.templates))
    frames = [i for i, f in enumerate(FRAMES[s.kind])
              if f not in _STANDALONE and ("{listener}" not in f or s.listener)]
    return utterance, rng.choice(frames)


def _write_quote(s: _Step, utterance: int, frame: int, ctx: _Ctx) -> str:
    slots = _Ctx(ctx, speaker=ctx[s.speaker], listener=ctx[s.listener] if s.listener else "")
    slots[s.kind] = fill(s.templates[utterance], ctx)
    return fill(FRAMES[s.kind][frame], slots)


def _quote(s: _Step, ctx: _Ctx, rng: random.Random) -> str:
    """One of the step's utterances, filled from `ctx`, in a speech frame of its kind, said by the step's speaker
    (to its listener, if it has one). Example: 'Ada said to Tom, "Look at the owl."'."""
    return _write_quote(s, *_quote_draw(s, rng), ctx)
