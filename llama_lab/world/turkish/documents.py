"""Documents in Turkish and in English, parallel sentence for sentence, about the world's people: the text a model
reads to learn Turkish (continued pretraining) and the held-out text its Turkish is measured on (bits per byte).

Two kinds, drawn half and half:
    a profile      every fact of one person, in a random order, each in a drawn phrasing:
                   "Ada Applebury'da yaşıyor. Ada'nın en sevdiği renk mavi. ..."
    questions      three to five questions about one person, each followed by its answer, one a line:
                   "S: Ada nerede yaşıyor?\\nC: Ada Applebury'da yaşıyor." (S: soru, C: cevap; Q and A in English)
The English side says the same in the same order, in the phrasings the Turkish ones render (`renderings.py`), so a
document's two sides hold the same facts and differ only in their language.

The people are split: the documents of `held_out_people` are never training text, so a model measured on them reads
Turkish sentences about people whose facts it has read only in English.
"""

from __future__ import annotations

import random

from ..contexts import fact_context
from ..phrasing import unit_interval
from ..templates import fill
from ..vocabulary import FACT_ANSWERS, FACT_QUESTIONS
from ..world import ATTRIBUTES, Character, World
from .renderings import _say, person_slots
from .vocabulary import FACT_ANSWERS_TR, FACT_QUESTIONS_TR

HELD_OUT_SHARE = 0.15  # of the world's people, whose documents are held out (9 of the 64 of the default seed)
LABELS = {"english": ("Q", "A"), "turkish": ("S", "C")}  # question and answer, as a Q&A page marks them


def held_out_people(world: World) -> list[str]:
    """The names of the people whose documents are held out: a fixed share of the world's people, chosen by name."""
    return [c.name for c in world.characters if unit_interval(world.seed, "turkish-held-out", c.name) < HELD_OUT_SHARE]


def _people(world: World, split: str) -> list[Character]:
    if split not in ("train", "val"):
        raise ValueError(f"split={split!r}: the documents come in 'train' and 'val' (the held-out people)")
    held = set(held_out_people(world))
    return [c for c in world.characters if (c.name in held) == (split == "val")]


def _sentence_pair(world: World, c: Character, templates_en, templates_tr, i: int) -> tuple[str, str]:
    return fill(templates_en[i], fact_context(world, c)), _say(templates_tr[i], person_slots(c))


def profile(world: World, rng: random.Random, c: Character) -> tuple[str, str]:
    """(English, Turkish): every fact of `c` in a random order, each phrasing drawn once for both languages."""
    english, turkish = [], []
    for attribute in rng.sample(ATTRIBUTES, len(ATTRIBUTES)):
        en, tr = _sentence_pair(world, c, FACT_ANSWERS[attribute], FACT_ANSWERS_TR[attribute],
                                rng.randrange(len(FACT_ANSWERS_TR[attribute])))
        english.append(en)
        turkish.append(tr)
    return " ".join(english), " ".join(turkish)


def questions(world: World, rng: random.Random, c: Character) -> tuple[str, str]:
    """(English, Turkish): three to five questions about `c` and their answers, one a line."""
    lines = {"english": [], "turkish": []}
    for attribute in rng.sample(ATTRIBUTES, rng.randint(3, 5)):
        asked = _sentence_pair(world, c, FACT_QUESTIONS[attribute], FACT_QUESTIONS_TR[attribute],
                               rng.randrange(len(FACT_QUESTIONS_TR[attribute])))
        answered = _sentence_pair(world, c, FACT_ANSWERS[attribute], FACT_ANSWERS_TR[attribute],
                                  rng.randrange(len(FACT_ANSWERS_TR[attribute])))
        for language, question, answer in zip(LABELS, asked, answered):
            q, a = LABELS[language]
            lines[language] += [f"{q}: {question}", f"{a}: {answer}"]
    return "\n".join(lines["english"]), "\n".join(lines["turkish"])


def parallel_documents(world: World, split: str, n: int, seed: int = 0) -> list[tuple[str, str]]:
    """`n` (English, Turkish) documents about the split's people ("train": all but the held-out; "val": the
    held-out), each a profile or questions, half and half, from a random stream named by the arguments."""
    people = _people(world, split)
    rng = random.Random(f"tinyworld/{world.seed}/{split}/{seed}/turkish-documents")
    return [(profile if rng.random() < 0.5 else questions)(world, rng, rng.choice(people)) for _ in range(n)]


__all__ = ["HELD_OUT_SHARE", "held_out_people", "profile", "questions", "parallel_documents"]
