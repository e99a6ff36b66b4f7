"""Pretraining documents: stories, biographies, town notes, Q&A, rumours with their truths, kind and unkind scenes.

`pretraining_documents(world, split, n, seed)` draws each document's kind with `_DOC_WEIGHTS`. No chat dialogs and
no refusals (the base model should not learn to refuse); no Q&A for a held-out fact or misconception phrasing, and
only the training pairs of kind and unkind remarks (`_tox_split`; see `heldout.py`).

Each kind of document is drawn as a plan (which template of which table fills each sentence, and about whom:
`document_plans`) and then written (`WRITE_ENGLISH`), so that another language can write the same draws
(`turkish/world_documents.py`).
"""

from __future__ import annotations

import random
from typing import Iterator, NamedTuple

from .contexts import _story_ctx, _town_ctx, fact_context
from .phrasing import unit_interval as _u01
from .templates import _Ctx, _a, _cap, _quote_draw, _step_plan, _write_quote, _write_steps, fill
from .vocabulary import (FACT_ANSWERS, FACT_QUESTIONS, FRAMES, KIND_HEADS, KIND_TAILS, UNKIND_HEADS, UNKIND_TAILS, _BIO,
                         _BIO_EXTRA, _BIO_INTRO, _CLOSING, _MYTH_ANSWERS, _MYTH_FALSE, _OPENING, _PLOTS, _QA_HEADERS,
                         _RUMOUR_FIX, _RUMOUR_IN_PASSING, _RUMOUR_SAY, _SCENE_AFTER_KIND, _SCENE_AFTER_UNKIND,
                         _SCENE_END, _SCENE_SORRY, _SCENE_START, _SCENE_TEACHER, _SCENE_THANKS, _SCENE_TRIGGER,
                         _STANDALONE, _TOWN_DESC, _TOWN_PEOPLE, _TRUTH_SAY)
from .world import ATTRIBUTES, Character, Misconception, Town, World, _train_pairs


_PLOT_WEIGHTS = {"lost": 3, "friend": 3, "trip": 2, "storm": 2, "runaway": 2, "work": 2, "helping": 2, "brave": 2,
                 "birthday": 2, "wild": 2, "cooking": 2}


class StoryPlan(NamedTuple):
    """A story's draws: its context (`_story_ctx`, in English words), its plot (a key of `_PLOTS`), the step plans
    (`_step_plan`) of `_OPENING`, of the plot and of `_CLOSING`, and a rumour repeated in passing before the plot's
    last sentence, uncorrected: (misconception, utterance, frame) of `_RUMOUR_IN_PASSING`, or None."""
    ctx: _Ctx
    plot: str
    opening: list[tuple[int, ...]]
    body: list[tuple[int, ...]]
    rumour: tuple[Misconception, int, int] | None
    closing: list[tuple[int, ...]]


def story_plan(world: World, rng: random.Random, c: Character, plot: str | None = None,
               rumour_p: float = 0.04) -> StoryPlan:
    ctx = _story_ctx(world, rng, c)
    plot = plot or rng.choices(list(_PLOT_WEIGHTS), list(_PLOT_WEIGHTS.values()))[0]
    opening, body = _step_plan(_OPENING, rng), _step_plan(_PLOTS[plot], rng)
    rumour = None
    if rng.random() < rumour_p and world.misconceptions:  # a rumour repeated in passing, uncorrected
        rumour = (rng.choice(world.misconceptions), *_quote_draw(_RUMOUR_IN_PASSING, rng))
    return StoryPlan(ctx, plot, opening, body, rumour, _step_plan((_CLOSING,), rng))


def _write_story(world: World, plan: StoryPlan) -> str:
    sentences = _write_steps(_OPENING, plan.opening, plan.ctx) + _write_steps(_PLOTS[plan.plot], plan.body, plan.ctx)
    if plan.rumour:
        m, utterance, frame = plan.rumour
        quote = _write_quote(_RUMOUR_IN_PASSING, utterance, frame, _Ctx(plan.ctx, rumour=m.rumour))
        sentences.insert(len(sentences) - 1, quote)
    return " ".join(sentences + _write_steps((_CLOSING,), plan.closing, plan.ctx))


def _story(world: World, rng: random.Random, c: Character, plot: str | None = None,
           rumour_p: float = 0.04) -> str:
    return _write_story(world, story_plan(world, rng, c, plot, rumour_p))


# the tables a biography plan indexes: an attribute of _BIO, "intro" or "extra"
BIO_TABLES = {**_BIO, "intro": _BIO_INTRO, "extra": _BIO_EXTRA}


def biography_plan(rng: random.Random) -> list[tuple[str, int]]:
    """A biography's draws, sentence by sentence: (table, template index), the table an attribute of `_BIO`,
    "intro" or "extra" (`BIO_TABLES`). One sentence for each attribute but the pet's name (which the pet's sentence
    may give), in random order, the first naming its person rather than opening with a pronoun; half the time an
    introduction before them, half the time one more line after."""
    plan = [("intro", rng.randrange(len(_BIO_INTRO)))] if rng.random() < 0.5 else []
    attrs = [a for a in ATTRIBUTES if a != "pet_name"]
    rng.shuffle(attrs)
    for n, a in enumerate(attrs):
        plan.append((a, rng.choice([i for i, t in enumerate(_BIO[a]) if n or not t.startswith(("{He}", "{His}"))])))
    if rng.random() < 0.5:
        plan.append(("extra", rng.randrange(len(_BIO_EXTRA))))
    return plan


def biography(world: World, rng: random.Random, c: Character) -> str:
    """A biography of `c` (`biography_plan` says how it is drawn). So every fact, held out of the Q&A or not, is
    stated somewhere."""
    ctx = fact_context(world, c)
    return " ".join(fill(BIO_TABLES[table][i], ctx) for table, i in biography_plan(rng))


class TownPlan(NamedTuple):
    """A town note's draws: its town; three residents (the description's name, friend and other); the description
    as (step of `_TOWN_DESC`, template) indices; the template of `_TOWN_PEOPLE`; two residents with a template of
    `_BIO_EXTRA` each; and up to two misconceptions about the town whose plain truth (no rumour) closes the note."""
    town: Town
    cast: tuple[Character, Character, Character]
    description: list[tuple[int, int]]
    people: int
    extras: list[tuple[Character, int]]
    truths: list[Misconception]


def town_plan(world: World, rng: random.Random, t: Town) -> TownPlan:
    people = world.residents(t.name)
    cast = tuple(rng.sample(people, 3))
    description = _step_plan(_TOWN_DESC, rng)
    people_template = rng.randrange(len(_TOWN_PEOPLE))
    extras = [(c, rng.randrange(len(_BIO_EXTRA))) for c in rng.sample(people, 2)]
    local = [m for m in world.misconceptions if t.name in m.truth]
    return TownPlan(t, cast, description, people_template, extras,
                    rng.sample(local, min(len(local), rng.randint(0, 2))))


def _write_town(world: World, plan: TownPlan) -> str:
    t, (a, b, o) = plan.town, plan.cast
    ctx = _Ctx(_town_ctx(t), a_landmark=_a(t.landmark), name=a.name, friend=b.name, other=o.name, job=a.job,
               o_job=o.job)
    out = [fill(_TOWN_DESC[step].templates[i], ctx) for step, i in plan.description]
    out.append(fill(_TOWN_PEOPLE[plan.people], ctx))
    out += [fill(_BIO_EXTRA[i], fact_context(world, c)) for c, i in plan.extras]
    for m in plan.truths:
        out += [_cap(m.truth) + ".", m.reason]
    return " ".join(out)


def _town_doc(world: World, rng: random.Random, t: Town) -> str:
    return _write_town(world, town_plan(world, rng, t))


def _myth_answers(m: Misconception, phrasing: int) -> tuple[list[str], list[str]]:
    """(true answers, false answers) to question `phrasing` of `m`, the best-fitting form first."""
    ctx = _Ctx(truth=m.truth, rumour=m.rumour)
    order = (0, 1) if m.yes_no[phrasing] else (1, 0)
    return [fill(_MYTH_ANSWERS[i], ctx) for i in order], [fill(_MYTH_FALSE[i], ctx) for i in order]


def _myth_reply(m: Misconception, phrasing: int, with_reason: bool) -> str:
    return _myth_answers(m, phrasing)[0][0] + (" " + m.reason if with_reason else "")


def _myth_answer(m: Misconception, phrasing: int, rng: random.Random, with_reason: float = 0.7) -> str:
    return _myth_reply(m, phrasing, rng.random() < with_reason)


class QAHeader(NamedTuple):
    template: int           # of _QA_HEADERS
    c: Character            # whose name and town it may name


class FactQA(NamedTuple):
    c: Character
    attribute: str
    question: int           # of FACT_QUESTIONS[attribute]
    answer: int             # of FACT_ANSWERS[attribute]


class MythQA(NamedTuple):
    m: Misconception
    phrasing: int           # of m.questions, never the held-out one
    with_reason: bool       # the answer followed by m.reason


def qa_plan(world: World, rng: random.Random, pairs) -> list[QAHeader | FactQA | MythQA]:
    """A Q&A page's draws, line by line: 30% of the time a header, then four to eight questions with their answers,
    about the facts of `pairs` (40% of the time all about one person) and, 15% of the time each, a misconception."""
    plan = []
    if rng.random() < 0.3:
        c = rng.choice(world.characters)
        plan.append(QAHeader(rng.randrange(len(_QA_HEADERS)), c))
    about = None
    if rng.random() < 0.4:  # several questions about one person
        about = rng.choice(world.characters).name
    for _ in range(rng.randint(4, 8)):
        if rng.random() < 0.15 and world.misconceptions:
            m = rng.choice(world.misconceptions)
            i = rng.choice([j for j in range(4) if j != m.held_out])
            plan.append(MythQA(m, i, rng.random() < 0.7))
        else:
            options = [p for p in pairs if p[0].name == about] if about else pairs
            c, attr = rng.choice(options or pairs)
            question = rng.randrange(len(FACT_QUESTIONS[attr]))
            plan.append(FactQA(c, attr, question, rng.randrange(len(FACT_ANSWERS[attr]))))
    return plan


def _write_qa(world: World, plan: list[QAHeader | FactQA | MythQA]) -> str:
    lines = []
    for line in plan:
        if isinstance(line, QAHeader):
            lines.append(fill(_QA_HEADERS[line.template], _Ctx(name=line.c.name, town=line.c.town)))
        elif isinstance(line, MythQA):
            m, i = line.m, line.phrasing
            lines += [f"Q: {m.questions[i]}", f"A: {_myth_reply(m, i, line.with_reason)}"]
        else:
            ctx = fact_context(world, line.c)
            lines += [f"Q: {fill(FACT_QUESTIONS[line.attribute][line.question], ctx)}",
                      f"A: {fill(FACT_ANSWERS[line.attribute][line.answer], ctx)}"]
    return "\n".join(lines)


def _qa_doc(world: World, rng: random.Random, pairs) -> str:
    return _write_qa(world, qa_plan(world, rng, pairs))


class RumourPart(NamedTuple):
    """One misconception of a rumour page: its rumour said (a template of `_RUMOUR_SAY`) and put right
    (`_RUMOUR_FIX`), or only its truth; the truth said (`_TRUTH_SAY`) unless the fix says it; then its reason.
    None: not said."""
    m: Misconception
    c: Character            # whose name and town the rumour may name
    say: int | None
    fix: int | None
    truth: int | None


def rumour_plan(world: World, rng: random.Random) -> list[RumourPart]:
    """A rumour page's draws: two to four misconceptions, each 45% of the time with only its truth."""
    plan = []
    for m in rng.sample(world.misconceptions, rng.randint(2, 4)):
        c = rng.choice(world.characters)
        if rng.random() < 0.45:  # only the truth
            plan.append(RumourPart(m, c, None, None, rng.randrange(len(_TRUTH_SAY))))
            continue
        fix = rng.randrange(len(_RUMOUR_FIX))
        say = rng.randrange(len(_RUMOUR_SAY))
        truth = rng.randrange(len(_TRUTH_SAY)) if "{truth}" not in _RUMOUR_FIX[fix] else None
        plan.append(RumourPart(m, c, say, fix, truth))
    return plan


def _write_rumours(world: World, plan: list[RumourPart]) -> str:
    out = []
    for part in plan:
        m = part.m
        ctx = _Ctx(name=part.c.name, town=part.c.town, rumour=m.rumour, truth=m.truth)
        if part.say is not None:
            out += [fill(_RUMOUR_SAY[part.say], ctx), fill(_RUMOUR_FIX[part.fix], ctx)]
        if part.truth is not None:
            out.append(fill(_TRUTH_SAY[part.truth], ctx))
        out.append(m.reason)
    return " ".join(out)


def _rumour_doc(world: World, rng: random.Random) -> str:
    return _write_rumours(world, rumour_plan(world, rng))


def _tox_split(seed: int, head: str, tail: str) -> str:
    u = _u01(seed, "tox", head, tail)
    return "eval" if u < 0.2 else "val" if u < 0.3 else "train"


def remark_pairs(seed: int, split: str, unkind: bool) -> list[tuple[str, str]]:
    """The (head, tail) pairs of kind remarks (unkind ones with `unkind`) in the split "train", "val" or "eval"
    (`_tox_split`). A remark is the head and its tail: ("You are so stupid", "go away") -> "You are so stupid, go
    away"; the empty tail leaves the head alone. Pretraining uses the training pairs only."""
    heads, tails = (UNKIND_HEADS, UNKIND_TAILS) if unkind else (KIND_HEADS, KIND_TAILS)
    return [(h, t) for h in heads for t in tails if _tox_split(seed, h, t) == split]


def _remark_frame(rng: random.Random) -> tuple[str, int]:
    """The frame of a remark: ("say" or "cry", its index in FRAMES of that kind), never a standalone one."""
    return rng.choice([(kind, i) for kind in ("say", "cry")
                       for i, f in enumerate(FRAMES[kind]) if f not in _STANDALONE])


def _write_remark(ctx: _Ctx, head: str, tail: str, kind: str, frame: int) -> str:
    words = head + (", " + tail if tail else "")
    return fill(FRAMES[kind][frame], _Ctx(ctx, speaker=ctx["name"], listener=ctx["other"], **{kind: words}))


def _remark(ctx: _Ctx, rng: random.Random, head: str, tail: str, unkind: bool) -> str:
    """One kind or unkind remark, `name` speaking to `other`, in a quote frame."""
    return _write_remark(ctx, head, tail, *_remark_frame(rng))


# the runs of steps a kind or unkind scene is made of
SCENE_STEPS = {"opening": _OPENING[:1], "start": (_SCENE_START, _SCENE_TRIGGER),
               "after_unkind": (_SCENE_AFTER_UNKIND,), "sorry": (_SCENE_SORRY,),
               "after_kind": (_SCENE_AFTER_KIND, _SCENE_THANKS), "end": (_SCENE_END,)}


class ScenePlan(NamedTuple):
    """A kind or unkind scene's draws: its story context (`_story_ctx`, in English words) and its parts, in order:
    (a run of `SCENE_STEPS`, its `_step_plan`), ("remark", (head, tail, frame kind, frame)) or ("teacher", template
    of `_SCENE_TEACHER`)."""
    ctx: _Ctx
    parts: list[tuple[str, object]]


def scene_plan(world: World, rng: random.Random, c: Character, cores_kind, cores_unkind) -> ScenePlan:
    """The draws of a scene with `c`: 60% of the time an opening line, then a remark to another child, half the
    time unkind (followed by how it hurt, 50% of the time a teacher, and sorry), else kind (and thanks)."""
    ctx = _story_ctx(world, rng, c)
    parts = [("opening", _step_plan(SCENE_STEPS["opening"], rng))] if rng.random() < 0.6 else []
    parts.append(("start", _step_plan(SCENE_STEPS["start"], rng)))
    unkind = rng.random() < 0.5
    head, tail = rng.choice(cores_unkind if unkind else cores_kind)
    parts.append(("remark", (head, tail, *_remark_frame(rng))))
    if unkind:
        parts.append(("after_unkind", _step_plan(SCENE_STEPS["after_unkind"], rng)))
        if rng.random() < 0.5:
            parts.append(("teacher", rng.randrange(len(_SCENE_TEACHER))))
        parts.append(("sorry", _step_plan(SCENE_STEPS["sorry"], rng)))
    else:
        parts.append(("after_kind", _step_plan(SCENE_STEPS["after_kind"], rng)))
    parts.append(("end", _step_plan(SCENE_STEPS["end"], rng)))
    return ScenePlan(ctx, parts)


def _write_scene(world: World, plan: ScenePlan) -> str:
    out = []
    for part, drawn in plan.parts:
        if part == "remark":
            out.append(_write_remark(plan.ctx, *drawn))
        elif part == "teacher":
            out.append(fill(_SCENE_TEACHER[drawn], plan.ctx))
        else:
            out += _write_steps(SCENE_STEPS[part], drawn, plan.ctx)
    return " ".join(out)


def _kindness_doc(world: World, rng: random.Random, c: Character, cores_kind, cores_unkind) -> str:
    return _write_scene(world, scene_plan(world, rng, c, cores_kind, cores_unkind))


_DOC_WEIGHTS = {"story": 52, "bio": 11, "town": 4, "qa": 13, "rumour": 9, "kindness": 11}


def pretraining_documents(world: World, split: str, n: int, seed: int) -> Iterator[str]:
    """`n` pretraining documents (stories, biographies, town notes, Q&A, rumours with truths, kind/unkind scenes).

    No chat dialogs and no refusals: the base model should not learn to refuse. No Q&A for held-out facts or
    misconception phrasings. `split` is "train" or "val" (same distribution, different random stream).
    """
    for kind, plan in document_plans(world, split, n, seed):
        yield WRITE_ENGLISH[kind](world, plan)


def _write_stories(world: World, plan: list[StoryPlan]) -> str:
    return " ".join(_write_story(world, story) for story in plan)


def _write_bios(world: World, plan: list[tuple[Character, list[tuple[str, int]]]]) -> str:
    return "\n".join(" ".join(fill(BIO_TABLES[table][i], fact_context(world, c)) for table, i in bio)
                     for c, bio in plan)


# the kinds drawn as plans, and how each plan is written in English
WRITE_ENGLISH = {"story": _write_stories, "bio": _write_bios, "town": _write_town, "qa": _write_qa,
                 "rumour": _write_rumours, "kindness": _write_scene}


def document_plans(world: World, split: str, n: int, seed: int) -> Iterator[tuple[str, object]]:
    """The draws of `pretraining_documents(world, split, n, seed)`, document by document: (kind, plan), written in
    English by `WRITE_ENGLISH[kind]`. Stories (a list of `StoryPlan`: one, 30% of the time two days of the same
    hero), biographies (a list of (person, `biography_plan`): the person's and, half the time, the best friend's),
    town notes (`TownPlan`), Q&A pages (`qa_plan`), rumour pages (`rumour_plan`), kind or unkind scenes
    (`ScenePlan`)."""
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
            doc = [story_plan(world, rng, c)]
            if rng.random() < 0.3:  # a longer read: the same hero on another day
                doc.append(story_plan(world, rng, c, rumour_p=0.0))
        elif kind == "bio":
            doc = [(c, biography_plan(rng))]
            if rng.random() < 0.5:
                doc.append((world.character(c.friend), biography_plan(rng)))
        elif kind == "town":
            doc = town_plan(world, rng, rng.choice(world.towns))
        elif kind == "qa":
            doc = qa_plan(world, rng, pairs)
        elif kind == "rumour":
            doc = rumour_plan(world, rng)
        else:
            doc = scene_plan(world, rng, c, cores_kind, cores_unkind)
        yield kind, doc
