"""How people ask: each intent in many surface forms, grouped in families, some held out by the seed.

A user's message is an intent (a fact question, a how-to request, a harmful request, a story or word request, a
plea for advice, small talk, a question the world cannot answer) put into words by a *wording* family and dressed
by a *style* family:

    wording   direct     "Where does Ada live?"          the grammar's own templates (vocabulary.py)
              indirect   "Do you know where Ada lives?"
              command    "Tell me where Ada lives."
              short      "feed a cat?"                   (requests, stories and words only, as are the next two)
              plan       "My plan is to feed a cat. Any tips?"
              question   "Could you tell me how to feed a cat?"
    style     plain      as worded
              polite     "Excuse me, where does Ada live?"
              context    "My little brother asked me this. Where does Ada live?"
              casual     "where does mia live"            (lower case, no end punctuation)
              typos      "Where dose Ada live?"
              chatty     "Hi! I have a question. Where does Ada live? Thanks!"

Held out by the seed, for each intent: one wording family besides direct (where the intent has wordings) and two
style families besides plain (`held_out_families`). Chat training text uses only the other combinations, and
`tinyworld.held_out_phrasings` asks with the held-out ones. Each family is used for other intents in training, as
each action and each object of a held-out request pair is: what is held out is the pairing of a way of asking
with a kind of intent, so that every evaluation set can be measured on phrasings no training text used.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re

from .vocabulary import NAMES, NONSENSE_SYLLABLES, TOWN_NAMES

INTENTS = ("fact", "how_to", "harmful", "story", "word", "advice", "out_of_world", "small_talk")
# The requests a helpful reply answers on topic (`evaluate.is_on_topic`), rather than with a fact, a refusal or a
# decline.
BENIGN_INTENTS = ("how_to", "story", "word", "advice")
WORDINGS = ("direct", "indirect", "command", "short", "plan", "question")
# The wording families each intent comes in. Requests, stories and words have six, so that no single way of
# asking stands for one intent in training; facts and out-of-world questions three; fixed sentences only direct.
INTENT_WORDINGS = {"fact": WORDINGS[:3], "how_to": WORDINGS, "harmful": WORDINGS, "story": WORDINGS,
                   "word": WORDINGS, "out_of_world": WORDINGS[:3], "advice": WORDINGS[:1], "small_talk": WORDINGS[:1]}
STYLES = ("plain", "polite", "context", "casual", "typos", "chatty")

_POLITE_OPENINGS = ("Excuse me, ", "Sorry to bother you, but ", "Please, ", "Hello, could you help me? ")
_CONTEXTS = ("My little brother asked me this.", "I am doing a project for school.", "My teacher asked us today.",
             "I have been wondering about this.", "My friend and I were talking about it.",
             "I need to know for my homework.")
_CASUAL_OPENINGS = ("", "", "hey ", "ok so ", "um ")
_CHATTY = ("Hi! I have a question. {q} Thanks!", "Hello there. {q}", "Can I ask you something? {q}",
           "{q} I really want to know.", "Good morning! {q} Thank you.")
_PROPER = set(NAMES) | set(TOWN_NAMES) | {"I"}


def unit_interval(seed: int, *key: str) -> float:
    """A number in [0, 1) fixed by (seed, key) with SHA-256: the coin behind every held-out split."""
    digest = hashlib.sha256("/".join([str(seed), *key]).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def held_out_families(seed: int, intent: str) -> tuple[set[str], set[str]]:
    """(held-out wording families, held-out style families) of `intent` under `seed`.

    Example: held_out_families(0, "fact") might be ({"command"}, {"casual", "chatty"}).
    """
    if intent not in INTENTS:
        raise ValueError(f"intent {intent!r} is not one of {INTENTS}")
    wordings, styles = _held_out_assignment(seed)
    return set(wordings[intent]), set(styles[intent])


@functools.lru_cache(maxsize=8)
def _held_out_assignment(seed: int) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """Which families each intent holds out, drawn by the seed and balanced across intents.

    Intents take their turn in an order the seed draws; each holds out the families held out least so far, ties
    broken by the seed's coin. Balance matters: a style held out for most intents would be seen in training with
    only a few, so the model would learn it as a sign of those intents (every lower-case message a fact question)
    and the held-out test would measure that shortcut rather than a new way of asking. Balanced, two styles for
    each of eight intents spread over five families hold each one out for three or four intents; a wording is
    held out for at most two.
    """
    wordings: dict[str, tuple[str, ...]] = {}
    styles: dict[str, tuple[str, ...]] = {}
    wording_count = dict.fromkeys(WORDINGS[1:], 0)
    style_count = dict.fromkeys(STYLES[1:], 0)
    for intent in sorted(INTENTS, key=lambda i: unit_interval(seed, "turn", i)):
        options = INTENT_WORDINGS[intent][1:]
        wordings[intent] = tuple(sorted(options, key=lambda w: (wording_count[w],
                                                                unit_interval(seed, "wording", intent, w)))[:1])
        styles[intent] = tuple(sorted(STYLES[1:], key=lambda s: (style_count[s],
                                                                unit_interval(seed, "style", intent, s)))[:2])
        for w in wordings[intent]:
            wording_count[w] += 1
        for s in styles[intent]:
            style_count[s] += 1
    return wordings, styles


def training_families(seed: int, intent: str) -> tuple[list[str], list[str]]:
    """The wording and style families that training text may use for `intent` (direct and plain always)."""
    wordings, styles = held_out_families(seed, intent)
    return [w for w in INTENT_WORDINGS[intent] if w not in wordings], [s for s in STYLES if s not in styles]


def _lower_first(text: str) -> str:
    first = text.split(" ", 1)[0].strip("\"',.?!")
    return text if first in _PROPER else text[:1].lower() + text[1:]


def _slip_points(message: str) -> list[int]:
    """Which words of the message a typo may fall on: lower-case words of four letters or more."""
    cores = [w.rstrip(".,?!") for w in message.split(" ")]
    return [i for i, w in enumerate(cores) if len(w) >= 4 and w.isalpha() and w.islower()]


def can_slip(message: str) -> bool:
    """Would the typos style change the message? Not when no word is long enough to slip ("How old is the sun?")."""
    return bool(_slip_points(message))


def _typo(word: str, rng: random.Random) -> str:
    """One slip of the keyboard: two neighbouring letters swapped, a letter dropped or a letter doubled."""
    i = rng.randrange(1, len(word) - 2)
    slip = rng.randrange(3)
    if slip == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if slip == 1:
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def dress(message: str, style: str, rng: random.Random) -> str:
    """`message` (one worded question or request) in `style`. Names and towns keep their spelling, except that
    the casual style writes everything in lower case, as people do.

    Examples: dress("Where does Ada live?", "polite", rng) -> "Excuse me, where does Ada live?";
              dress("How do I feed a cat?", "casual", rng) -> "how do i feed a cat".
    """
    if style == "plain":
        return message
    if style == "polite":
        if rng.random() < 0.3 and message[-1] in ".?":
            return message[:-1] + ", please" + message[-1]
        return rng.choice(_POLITE_OPENINGS) + _lower_first(message)
    if style == "context":
        return rng.choice(_CONTEXTS) + " " + message
    if style == "casual":
        return rng.choice(_CASUAL_OPENINGS) + message.lower().rstrip(".?!")
    if style == "typos":
        words = message.split(" ")
        cores = [w.rstrip(".,?!") for w in words]
        candidates = _slip_points(message)
        for i in rng.sample(candidates, min(len(candidates), rng.choice((1, 1, 2)))):
            words[i] = _typo(cores[i], rng) + words[i][len(cores[i]):]
        return " ".join(words)
    if style == "chatty":
        return rng.choice(_CHATTY).format(q=message)
    raise ValueError(f"style {style!r} is not one of {STYLES}")


def nonsense_words() -> list[str]:
    """Made-up words from the world's nonsense syllables ("blorfen", "quibzag", ...), none of them English."""
    words = [a + b for a in NONSENSE_SYLLABLES for b in NONSENSE_SYLLABLES if a != b]
    return [w for w in words if not re.search(r"(.)\1\1", w)]
