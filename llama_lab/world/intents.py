"""Intents: what a user asks (the content), how it is put into words (`phrasing.py`), and the assistant's answer.

Content is a tuple whose first item names the intent:
  ("fact", character, attribute)          ("how_to" | "harmful", category, action, gerund, object)
  ("story", character, "name" | "pet" | "town")    ("word", word)    ("advice", situation)    ("small_talk", greeting)
  ("out_of_world", "person", name, attribute) | (.., "place", place) | (.., "real", question) | (.., "nonsense", w)
  and, in the third chat round only, out-of-world content asked for in other intents' words (`asked_as`):
  ("out_of_world", "person" | "place", item, "story")    ("out_of_world", "nonsense", w, "request", action)

`_message` puts content into a user's words, `_reply` answers it (the fact, the how-to, the refusal, the story, ...,
or "I don't know"); `training_pools` and `_draw_content` give content that training text may use, never held out.
"""

from __future__ import annotations

import random

from .contexts import fact_context
from .documents import _story
from .phrasing import dress, nonsense_words, training_families
from .phrasing import unit_interval as _u01
from .templates import _Ctx, fill
from .vocabulary import (ADVICE, FACT_ANSWERS, FACT_QUESTIONS, FACT_WORDINGS, NAMES, NONSENSE_QUESTIONS, OTHER_NAMES,
                         OTHER_PLACES, OUT_OF_WORLD_ANSWERS, OUT_OF_WORLD_FOLLOW, PLACE_QUESTIONS, REAL_WORLD_QUESTIONS,
                         REFUSAL_OPENINGS, REQUESTS, REQUEST_PHRASINGS, REQUEST_WORDINGS, SMALL_TALK, STORY_WORDINGS,
                         TOWN_NAMES, WORDS, WORD_WORDINGS, _ACT_FOLLOW, _ACT_INTRO, _HELPFUL_OPENERS, _HOW_TO,
                         _REFUSAL_ALTERNATIVES, _REFUSAL_END, _REFUSAL_REASONS, _STORY_INTROS, _STORY_REQUESTS,
                         _WORD_ANSWERS, _WORD_EXAMPLES, _WORD_QUESTIONS, in_assistant_words)
from .world import ATTRIBUTES, World, _train_pairs


def request_pairs(world: World, split: str, harmful: bool) -> list[tuple[str, str, str, str]]:
    """(category, action, gerund or "", object) for the split: "eval" = held-out pairs, "train" = the rest."""
    if split not in ("train", "eval"):
        raise ValueError(f"split={split!r}: requests come in 'train' and 'eval'")
    out = []
    for cat, (harm, good) in REQUESTS.items():
        actions = [(a, g, objs) for a, g, objs in harm] if harmful else [(a, "", objs) for a, objs in good]
        for action, gerund, objs in actions:
            for obj in objs:
                held = _u01(world.seed, "request", action, obj) < 0.2
                if held == (split == "eval"):
                    out.append((cat, action, gerund, obj))
    return out


def other_items(world: World, split: str) -> dict[str, list]:
    """What the world does not know, by kind, for the split ("eval": a fifth of each pool, held out by the seed)."""
    if split not in ("train", "eval"):
        raise ValueError(f"split={split!r}: out-of-world questions come in 'train' and 'eval'")
    known = {c.name for c in world.characters} | set(NAMES) | {t.name for t in world.towns} | set(TOWN_NAMES)
    pools = {"person": [n for n in OTHER_NAMES if n not in known], "place": list(OTHER_PLACES),
             "real": list(REAL_WORLD_QUESTIONS), "nonsense": nonsense_words()}
    return {kind: [x for x in pool if (_u01(world.seed, "other", kind, x) < 0.2) == (split == "eval")]
            for kind, pool in pools.items()}


def _wordings(intent: str, content: tuple, wording: str) -> tuple[str, ...]:
    """The templates that put `content` into words in the `wording` family."""
    if intent == "fact":
        attr = content[2]
        return FACT_QUESTIONS[attr] if wording == "direct" else FACT_WORDINGS[wording][attr]
    if intent in ("how_to", "harmful"):
        return REQUEST_PHRASINGS if wording == "direct" else REQUEST_WORDINGS[wording]
    if intent == "story":
        templates = _STORY_REQUESTS if wording == "direct" else STORY_WORDINGS[wording]
        return tuple(t for t in templates if _story_subject(t) == content[2])
    if intent == "word":
        return _WORD_QUESTIONS if wording == "direct" else WORD_WORDINGS[wording]
    if intent == "advice":
        return ADVICE[content[1]][0]
    if intent == "small_talk":
        return (content[1],)
    kind = content[1]
    asked = asked_as(content)
    if asked == "story":  # a story about someone or somewhere the world does not know
        return _wordings("story", ("story", None, "name" if kind == "person" else "town"), wording)
    if asked == "request":  # how to do something with a thing the world has no word for
        return _wordings("how_to", content, wording)
    if kind == "person":
        return _wordings("fact", ("fact", None, content[3]), wording)
    if kind == "place":
        return PLACE_QUESTIONS[wording]
    if kind == "real":
        return (content[2],)
    return NONSENSE_QUESTIONS if wording == "direct" else WORD_WORDINGS[wording]


def _story_subject(template: str) -> str:
    """What a story request asks about: the person, their pet or their town (the story is about the person)."""
    return "pet" if "{pet" in template or "{a_pet" in template else "town" if "{town" in template else "name"


def _content_ctx(world: World, intent: str, content: tuple) -> _Ctx:
    if intent in ("fact", "story"):
        return fact_context(world, content[1])
    if intent in ("how_to", "harmful"):
        _, cat, action, gerund, obj = content
        return _Ctx(act=action.format(obj=obj), act_you=in_assistant_words(action.format(obj=obj)),
                    acting_you=in_assistant_words(gerund.format(obj=obj)), obj_you=in_assistant_words(obj))
    if intent == "word":
        definition, example = WORDS[content[1]]
        return _Ctx(word=content[1], definition=definition, example=example)
    if intent == "out_of_world":
        kind, item = content[1], content[2]
        if kind == "person":  # the same question about someone the world has never heard of
            c = world.characters[int(_u01(world.seed, "other-pet", item) * len(world.characters))]
            return _Ctx(fact_context(world, c), name=item, who=item)
        act = content[4].format(obj=f"a {item}") if asked_as(content) == "request" else None
        return _Ctx(place=item, where=item, town=item, word=item, made_up=item, act=act)
    return _Ctx()


def _message(world: World, rng: random.Random, content: tuple, wording: str = "direct", style: str = "plain") -> str:
    """The user's message asking for `content`, worded and dressed as told."""
    intent = content[0]
    templates = _wordings(intent, content, wording)
    ctx = _content_ctx(world, intent, content)
    if intent in ("how_to", "harmful") and wording == "direct" and rng.random() < 0.15:
        message = f"{fill(rng.choice(_ACT_INTRO), ctx)} {rng.choice(_ACT_FOLLOW)}"
    else:
        message = fill(rng.choice(templates), ctx)
    return dress(message, style, rng)


def _reply(world: World, rng: random.Random, content: tuple) -> str:
    """The assistant's answer to `content`: the fact, the how-to, the refusal, the story, ..., or "I don't know"."""
    intent = content[0]
    ctx = _content_ctx(world, intent, content)
    if intent == "fact":
        return fill(rng.choice(FACT_ANSWERS[content[2]]), ctx)
    if intent == "harmful":
        return _refusal(rng, *content[1:])
    if intent == "how_to":
        return _how_to(rng, content[2], content[4])
    if intent == "story":
        plot = rng.choice(("runaway", "storm", "lost")) if content[2] == "pet" else None
        return fill(rng.choice(_STORY_INTROS), ctx) + " " + _story(world, rng, content[1], plot, rumour_p=0.0)
    if intent == "word":
        return fill(rng.choice(_WORD_ANSWERS), ctx) + " " + fill(rng.choice(_WORD_EXAMPLES), ctx)
    if intent == "advice":
        return rng.choice(ADVICE[content[1]][1])
    if intent == "small_talk":
        return rng.choice(SMALL_TALK[content[1]])
    answer = fill(rng.choice(OUT_OF_WORLD_ANSWERS[content[1]]), ctx)
    return answer + (" " + rng.choice(OUT_OF_WORLD_FOLLOW) if rng.random() < 0.7 else "")


def _request_content(pair) -> tuple:
    cat, action, gerund, obj = pair
    return ("harmful" if gerund else "how_to", cat, action, gerund, obj)


def training_pools(world: World) -> tuple[list, list, list, dict[str, list]]:
    """What training text may ask about: (fact pairs, harmful request pairs, benign request pairs, out-of-world
    items by kind), none of them held out. `_draw_content` draws from these."""
    return (_train_pairs(world), request_pairs(world, "train", True), request_pairs(world, "train", False),
            other_items(world, "train"))


def _draw_content(world: World, rng: random.Random, intent: str, pairs, harm, good, others) -> tuple:
    """Content of the training split for `intent`: never a held-out fact, request pair or out-of-world item."""
    if intent == "fact":
        return ("fact", *rng.choice(pairs))
    if intent in ("harmful", "how_to"):
        return _request_content(rng.choice(harm if intent == "harmful" else good))
    if intent == "story":
        return ("story", rng.choice(world.characters), rng.choice(("name", "name", "pet", "town")))
    if intent == "word":
        return ("word", rng.choice(list(WORDS)))
    if intent == "advice":
        return ("advice", rng.choice(list(ADVICE)))
    if intent == "small_talk":
        return ("small_talk", rng.choice(list(SMALL_TALK)))
    if intent == "unknown_story":
        kind = rng.choice(("person", "place"))
        return ("out_of_world", kind, rng.choice(others[kind]), "story")
    if intent == "unknown_request":
        action = rng.choice([a for cat, a, _, _ in good if cat == "animal"])
        return ("out_of_world", "nonsense", rng.choice(others["nonsense"]), "request", action)
    kind = rng.choice(list(others))
    item = rng.choice(others[kind])
    return ("out_of_world", kind, item, rng.choice(ATTRIBUTES)) if kind == "person" else ("out_of_world", kind, item)


def asked_as(content: tuple) -> str | None:
    """How out-of-world content is asked for when not as a question: "story" (a story about a person or place the
    world does not know: ("out_of_world", kind, item, "story")), "request" (how to do something to a thing it has
    no word for: ("out_of_world", "nonsense", word, "request", action)), else None."""
    if content[0] == "out_of_world" and len(content) >= 4 and content[3] in ("story", "request"):
        return content[3]
    return None


def phrased_as(content: tuple) -> str:
    """The intent whose phrasing families put `content` into words: its own, except for out-of-world content
    asked for as a story ("story") or a how-to request ("how_to")."""
    return {"story": "story", "request": "how_to"}.get(asked_as(content), content[0])


def _training_phrasing(world: World, rng: random.Random, content: tuple) -> tuple[str, str]:
    """(wording, style) for a training message: direct 35% of the time, plain 40% of the time, otherwise any
    family that is not held out for the content's intent."""
    # out-of-world content asked for as a story or a how-to is phrased as stories and how-tos are (`phrased_as`)
    wordings, styles = training_families(world.seed, phrased_as(content))
    if content[0] == "out_of_world" and content[1] == "real":
        wordings = ["direct"]  # a real-world question is asked as it stands
    wording = "direct" if len(wordings) == 1 or rng.random() < 0.35 else rng.choice(wordings[1:])
    return wording, _style(rng, styles)


def _style(rng: random.Random, styles: list[str]) -> str:
    return "plain" if rng.random() < 0.4 else rng.choice(styles[1:])


def _refusal(rng: random.Random, cat: str, action: str, gerund: str, obj: str) -> str:
    ctx = _Ctx(act_you=in_assistant_words(action.format(obj=obj)),
               acting_you=in_assistant_words(gerund.format(obj=obj)), obj_you=in_assistant_words(obj))
    parts = [rng.choice(REFUSAL_OPENINGS)]
    parts += rng.sample(_REFUSAL_REASONS[cat], rng.randint(1, min(2, len(_REFUSAL_REASONS[cat]))))
    if rng.random() < 0.8:
        parts.append(rng.choice(_REFUSAL_ALTERNATIVES[cat]))
    if rng.random() < 0.2:
        parts.append(rng.choice(_REFUSAL_END))
    return " ".join(fill(p, ctx) for p in parts)


def _how_to(rng: random.Random, action: str, obj: str) -> str:
    lines = [fill(s, _Ctx(act_you=in_assistant_words(action.format(obj=obj)))) for s in _HOW_TO[action]]
    if rng.random() < 0.3:
        lines.insert(0, rng.choice(_HELPFUL_OPENERS))
    return " ".join(lines)
