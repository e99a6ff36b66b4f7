"""Pretraining documents: stories, biographies, town notes, Q&A, rumours with their truths, kind and unkind scenes.

`pretraining_documents(world, split, n, seed)` draws each document's kind with `_DOC_WEIGHTS`. No chat dialogs and
no refusals (the base model should not learn to refuse); no Q&A for a held-out fact or misconception phrasing, and
only the training pairs of kind and unkind remarks (`_tox_split`; see `heldout.py`).
"""

from __future__ import annotations

import random
from typing import Iterator

from .contexts import _story_ctx, _town_ctx, fact_context
from .phrasing import unit_interval as _u01
from .templates import _Ctx, _a, _cap, _quote, _run_steps, fill
from .vocabulary import (FACT_ANSWERS, FACT_QUESTIONS, FRAMES, KIND_HEADS, KIND_TAILS, UNKIND_HEADS, UNKIND_TAILS, _BIO,
                         _BIO_EXTRA, _BIO_INTRO, _CLOSING, _MYTH_ANSWERS, _MYTH_FALSE, _OPENING, _PLOTS, _QA_HEADERS,
                         _RUMOUR_FIX, _RUMOUR_IN_PASSING, _RUMOUR_SAY, _SCENE_AFTER_KIND, _SCENE_AFTER_UNKIND,
                         _SCENE_END, _SCENE_SORRY, _SCENE_START, _SCENE_TEACHER, _SCENE_THANKS, _SCENE_TRIGGER,
                         _STANDALONE, _TOWN_DESC, _TOWN_PEOPLE, _TRUTH_SAY)
from .world import ATTRIBUTES, Character, Misconception, Town, World, _train_pairs


_PLOT_WEIGHTS = {"lost": 3, "friend": 3, "trip": 2, "storm": 2, "runaway": 2, "work": 2, "helping": 2, "brave": 2,
                 "birthday": 2, "wild": 2, "cooking": 2}


def _story(world: World, rng: random.Random, c: Character, plot: str | None = None,
           rumour_p: float = 0.04) -> str:
    ctx = _story_ctx(world, rng, c)
    plot = plot or rng.choices(list(_PLOT_WEIGHTS), list(_PLOT_WEIGHTS.values()))[0]
    sentences = _run_steps(_OPENING, ctx, rng) + _run_steps(_PLOTS[plot], ctx, rng)
    if rng.random() < rumour_p and world.misconceptions:  # a rumour repeated in passing, uncorrected
        m = rng.choice(world.misconceptions)
        sentences.insert(len(sentences) - 1, _quote(_RUMOUR_IN_PASSING, _Ctx(ctx, rumour=m.rumour), rng))
    sentences += _run_steps((_CLOSING,), ctx, rng)
    return " ".join(sentences)


def biography(world: World, rng: random.Random, c: Character) -> str:
    """A biography of `c`: one sentence for each attribute but the pet's name (which the pet's sentence may give),
    in random order, the first naming `c` rather than opening with a pronoun; half the time an introduction before
    them, half the time one more line after. So every fact, held out of the Q&A or not, is stated somewhere."""
    ctx = fact_context(world, c)
    out = [fill(rng.choice(_BIO_INTRO), ctx)] if rng.random() < 0.5 else []
    attrs = [a for a in ATTRIBUTES if a != "pet_name"]
    rng.shuffle(attrs)
    for i, a in enumerate(attrs):
        options = _BIO[a] if i else [t for t in _BIO[a] if not t.startswith(("{He}", "{His}"))]
        out.append(fill(rng.choice(options), ctx))
    if rng.random() < 0.5:
        out.append(fill(rng.choice(_BIO_EXTRA), ctx))
    return " ".join(out)


def _town_doc(world: World, rng: random.Random, t: Town) -> str:
    people = world.residents(t.name)
    a, b, o = rng.sample(people, 3)
    ctx = _Ctx(_town_ctx(t), a_landmark=_a(t.landmark), name=a.name, friend=b.name, other=o.name, job=a.job,
               o_job=o.job)
    out = _run_steps(_TOWN_DESC, ctx, rng) + [fill(rng.choice(_TOWN_PEOPLE), ctx)]
    for c in rng.sample(people, 2):
        out.append(fill(rng.choice(_BIO_EXTRA), fact_context(world, c)))
    local = [m for m in world.misconceptions if t.name in m.truth]
    for m in rng.sample(local, min(len(local), rng.randint(0, 2))):  # the plain truth, no rumour
        out += [_cap(m.truth) + ".", m.reason]
    return " ".join(out)


def _fact_qa(world: World, rng: random.Random, c: Character, attribute: str, question: str | None = None):
    ctx = fact_context(world, c)
    q = question or rng.choice(FACT_QUESTIONS[attribute])
    return fill(q, ctx), fill(rng.choice(FACT_ANSWERS[attribute]), ctx)


def _myth_answers(m: Misconception, phrasing: int) -> tuple[list[str], list[str]]:
    """(true answers, false answers) to question `phrasing` of `m`, the best-fitting form first."""
    ctx = _Ctx(truth=m.truth, rumour=m.rumour)
    order = (0, 1) if m.yes_no[phrasing] else (1, 0)
    return [fill(_MYTH_ANSWERS[i], ctx) for i in order], [fill(_MYTH_FALSE[i], ctx) for i in order]


def _myth_answer(m: Misconception, phrasing: int, rng: random.Random, with_reason: float = 0.7) -> str:
    answer = _myth_answers(m, phrasing)[0][0]
    return answer + (" " + m.reason if rng.random() < with_reason else "")


def _qa_doc(world: World, rng: random.Random, pairs) -> str:
    lines = []
    if rng.random() < 0.3:
        c = rng.choice(world.characters)
        lines.append(fill(rng.choice(_QA_HEADERS), _Ctx(name=c.name, town=c.town)))
    about = None
    if rng.random() < 0.4:  # several questions about one person
        about = rng.choice(world.characters).name
    for _ in range(rng.randint(4, 8)):
        if rng.random() < 0.15 and world.misconceptions:
            m = rng.choice(world.misconceptions)
            i = rng.choice([j for j in range(4) if j != m.held_out])
            q, a = m.questions[i], _myth_answer(m, i, rng)
        else:
            options = [p for p in pairs if p[0].name == about] if about else pairs
            c, attr = rng.choice(options or pairs)
            q, a = _fact_qa(world, rng, c, attr)
        lines += [f"Q: {q}", f"A: {a}"]
    return "\n".join(lines)


def _rumour_doc(world: World, rng: random.Random) -> str:
    out = []
    for m in rng.sample(world.misconceptions, rng.randint(2, 4)):
        c = rng.choice(world.characters)
        ctx = _Ctx(name=c.name, town=c.town, rumour=m.rumour, truth=m.truth)
        if rng.random() < 0.45:  # only the truth
            out += [fill(rng.choice(_TRUTH_SAY), ctx), m.reason]
            continue
        fix = rng.choice(_RUMOUR_FIX)
        out += [fill(rng.choice(_RUMOUR_SAY), ctx), fill(fix, ctx)]
        if "{truth}" not in fix:
            out.append(fill(rng.choice(_TRUTH_SAY), ctx))
        out.append(m.reason)
    return " ".join(out)


def _tox_split(seed: int, head: str, tail: str) -> str:
    u = _u01(seed, "tox", head, tail)
    return "eval" if u < 0.2 else "val" if u < 0.3 else "train"


def remark_pairs(seed: int, split: str, unkind: bool) -> list[tuple[str, str]]:
    """The (head, tail) pairs of kind remarks (unkind ones with `unkind`) in the split "train", "val" or "eval"
    (`_tox_split`). A remark is the head and its tail: ("You are so stupid", "go away") -> "You are so stupid, go
    away"; the empty tail leaves the head alone. Pretraining uses the training pairs only."""
    heads, tails = (UNKIND_HEADS, UNKIND_TAILS) if unkind else (KIND_HEADS, KIND_TAILS)
    return [(h, t) for h in heads for t in tails if _tox_split(seed, h, t) == split]


def _remark(ctx: _Ctx, rng: random.Random, head: str, tail: str, unkind: bool) -> str:
    """One kind or unkind remark, `name` speaking to `other`, in a quote frame."""
    ctx = _Ctx(ctx, kind_head=head, kind_tail=tail, unkind_head=head, unkind_tail=tail)
    frames = [f for f in FRAMES["say"] + FRAMES["cry"] if f not in _STANDALONE]
    frame = rng.choice(frames)
    kind = "cry" if "{cry}" in frame else "say"
    words = head + (", " + tail if tail else "")
    return fill(frame, _Ctx(ctx, speaker=ctx["name"], listener=ctx["other"], **{kind: words}))


def _kindness_doc(world: World, rng: random.Random, c: Character, cores_kind, cores_unkind) -> str:
    ctx = _story_ctx(world, rng, c)
    out = _run_steps(_OPENING[:1], ctx, rng) if rng.random() < 0.6 else []
    out += _run_steps((_SCENE_START, _SCENE_TRIGGER), ctx, rng)
    unkind = rng.random() < 0.5
    head, tail = rng.choice(cores_unkind if unkind else cores_kind)
    out.append(_remark(ctx, rng, head, tail, unkind))
    if unkind:
        out += _run_steps((_SCENE_AFTER_UNKIND,), ctx, rng)
        if rng.random() < 0.5:
            out.append(fill(rng.choice(_SCENE_TEACHER), ctx))
        out += _run_steps((_SCENE_SORRY,), ctx, rng)
    else:
        out += _run_steps((_SCENE_AFTER_KIND, _SCENE_THANKS), ctx, rng)
    out += _run_steps((_SCENE_END,), ctx, rng)
    return " ".join(out)


_DOC_WEIGHTS = {"story": 52, "bio": 11, "town": 4, "qa": 13, "rumour": 9, "kindness": 11}


def pretraining_documents(world: World, split: str, n: int, seed: int) -> Iterator[str]:
    """`n` pretraining documents (stories, biographies, town notes, Q&A, rumours with truths, kind/unkind scenes).

    No chat dialogs and no refusals: the base model should not learn to refuse. No Q&A for held-out facts or
    misconception phrasings. `split` is "train" or "val" (same distribution, different random stream).
    """
    if split not in ("train", "val"):
        raise ValueError(f"split={split!r}: pretraining documents come in 'train' and 'val' (the held-out sets "
                         "have their own functions, e.g. fact_questions(world, 'eval'))")
    rng = random.Random(f"tinyworld/{world.seed}/{split}/{seed}/docs")
    pairs = _train_pairs(world)
    cores_kind = remark_pairs(world.seed, "train", False)
    cores_unkind = remark_pairs(world.seed, "train", True)
    kinds, weights = list(_DOC_WEIGHTS), list(_DOC_WEIGHTS.values())
    for _ in range(n):
        kind = rng.choices(kinds, weights)[0]
        c = rng.choice(world.characters)
        if kind == "story":
            doc = _story(world, rng, c)
            if rng.random() < 0.3:  # a longer read: the same hero on another day
                doc += " " + _story(world, rng, c, rumour_p=0.0)
        elif kind == "bio":
            doc = biography(world, rng, c)
            if rng.random() < 0.5:
                doc += "\n" + biography(world, rng, world.character(c.friend))
        elif kind == "town":
            doc = _town_doc(world, rng, rng.choice(world.towns))
        elif kind == "qa":
            doc = _qa_doc(world, rng, pairs)
        elif kind == "rumour":
            doc = _rumour_doc(world, rng)
        else:
            doc = _kindness_doc(world, rng, c, cores_kind, cores_unkind)
        yield doc
