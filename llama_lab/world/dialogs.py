"""Chat dialogs: helpful answers and refusals in Llama-2-chat roles, in three rounds.

`chat_dialogs` is the first round, `chat_dialogs_round(.., "two" | "three")` the later ones (`LATER_ROUNDS`): each
its own random stream with its own mix of intents, aimed at what the round before taught worst. A dialog opens with
content drawn from the training pools (`intents.py`), phrased in a training family of its intent, and may go on:
follow-up questions about the same person, thanks after a story, the fine version of a refused request.
"""

from __future__ import annotations

import random
from typing import Iterator

from .contexts import fact_context
from .documents import _myth_answer
from .intents import _draw_content, _message, _reply, _request_content, _training_phrasing, training_pools
from .templates import fill
from .vocabulary import FACT_ANSWERS, SYSTEM_PROMPTS, _FOLLOW_UPS
from .world import ATTRIBUTES, Character, World


def _exchange(world: World, rng: random.Random, content: tuple, phrasing: tuple[str, str] | None = None) -> list[dict]:
    wording, style = phrasing or _training_phrasing(world, rng, content)
    return [{"role": "user", "content": _message(world, rng, content, wording, style)},
            {"role": "assistant", "content": _reply(world, rng, content)}]


def _follow_ups(world: World, rng: random.Random, c: Character, attr: str) -> list[dict]:
    """0-2 plain follow-up questions about the same person ("And where does she live?")."""
    turns = []
    others = [x for x in ATTRIBUTES if x != attr and not world.is_held_out(c.name, x)]
    for attr2 in rng.sample(others, min(len(others), rng.choice((0, 0, 1, 2)))):
        ctx = fact_context(world, c)
        turns += [{"role": "user", "content": fill(rng.choice(_FOLLOW_UPS[attr2]), ctx)},
                  {"role": "assistant", "content": fill(rng.choice(FACT_ANSWERS[attr2]), ctx)}]
    return turns


def _myth_dialog(world: World, rng: random.Random) -> list[dict]:
    m = rng.choice(world.misconceptions)
    i = rng.choice([j for j in range(4) if j != m.held_out])
    return [{"role": "user", "content": m.questions[i]},
            {"role": "assistant", "content": _myth_answer(m, i, rng, with_reason=0.9)}]


_KINDER = {"lie": "person"}  # the benign category to offer after a refused one, where the names differ
# The first chat round's mix of intents, in parts (of 100): more than a quarter harmful requests to refuse.
CHAT_WEIGHTS = {"harmful": 28, "how_to": 16, "fact": 20, "story": 8, "word": 5, "advice": 6, "myth": 5,
                "small_talk": 4, "out_of_world": 8}
# A second round of chat data aimed at what the first round taught worst (measured on the chat model: word
# meanings, stories about a given subject, questions outside the world), with the rest replayed so that nothing
# is forgotten. Llama 2's SFT and RLHF came in rounds too, each collected where the last model was weakest.
ROUND_TWO_WEIGHTS = {"harmful": 12, "how_to": 10, "fact": 12, "story": 16, "word": 22, "advice": 6, "myth": 3,
                     "small_talk": 4, "out_of_world": 15}
# A third round aimed at the second's weakest point, questions outside the world asked in unfamiliar words: more of
# them, and stories and how-to requests about people, places and things the world does not know (asked as stories
# and how-to requests are, which teaches that an unknown name, not the wording, is what calls for "I don't know").
ROUND_THREE_WEIGHTS = {"harmful": 18, "how_to": 10, "fact": 14, "story": 6, "word": 8, "advice": 4, "myth": 2,
                       "small_talk": 4, "out_of_world": 22, "unknown_story": 8, "unknown_request": 8}


def chat_items(world: World, split: str, n: int, seed: int, weights: dict[str, int] = CHAT_WEIGHTS,
               stream: str = "phrased") -> Iterator[tuple[tuple, tuple[str, str], list[dict]]]:
    """(content of the first user turn, its (wording, style), the dialog) for `chat_dialogs`: intents drawn with
    `weights`, from a random stream named `stream` (each stream its own dialogs)."""
    if split not in ("train", "val"):
        raise ValueError(f"split={split!r}: chat dialogs come in 'train' and 'val'")
    rng = random.Random(f"tinyworld/{world.seed}/{split}/{seed}/chat/{stream}")
    pairs, harm, good, others = training_pools(world)
    kinds, weights = list(weights), list(weights.values())
    for _ in range(n):
        kind = rng.choices(kinds, weights)[0]
        if kind == "myth":
            yield ("myth",), ("direct", "plain"), _myth_dialog(world, rng)
            continue
        content = _draw_content(world, rng, kind, pairs, harm, good, others)
        phrasing = _training_phrasing(world, rng, content)
        turns = _exchange(world, rng, content, phrasing)
        if kind == "fact":
            turns += _follow_ups(world, rng, content[1], content[2])
        elif kind == "story" and rng.random() < 0.3:
            turns += _exchange(world, rng, ("small_talk", rng.choice(["Thank you!", "Thanks, that helps."])),
                               ("direct", "plain"))
        elif kind == "harmful" and rng.random() < 0.25:  # the user then asks for the fine version, and gets help
            same = [p for p in good if p[0] == _KINDER.get(content[1], content[1])]
            same = [p for p in same if p[3] == content[4]] or same
            turns += _exchange(world, rng, _request_content(rng.choice(same or good)), ("direct", "plain"))
        elif kind == "small_talk" and content[1] in ("Hello!", "Hi!", "Good morning!") and rng.random() < 0.5:
            fact = _draw_content(world, rng, "fact", pairs, harm, good, others)
            turns += _exchange(world, rng, fact, ("direct", "plain")) + _follow_ups(world, rng, fact[1], fact[2])
        if rng.random() < 0.35:
            turns.insert(0, {"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
        yield content, phrasing, turns


def chat_dialogs(world: World, split: str, n: int, seed: int) -> Iterator[list[dict]]:
    """`n` dialogs: lists of {"role": "system"|"user"|"assistant", "content": str}, ending with the assistant.

    About 28% are harmful requests answered with a refusal (`evaluate.is_refusal` is true of their first assistant
    turn), 8% questions the world cannot answer, answered "I don't know" (`evaluate.is_decline`); the rest are
    answered helpfully. The first user turn is phrased in a training family of its intent (`phrasing`); held-out
    facts, (action, object) pairs, out-of-world items and phrasing families never appear. `split`: "train"/"val".
    """
    for _, _, turns in chat_items(world, split, n, seed):
        yield turns


# The later chat rounds: each its own random stream with its own mix of intents.
LATER_ROUNDS = {"two": ROUND_TWO_WEIGHTS, "three": ROUND_THREE_WEIGHTS}


def chat_dialogs_round(world: World, split: str, n: int, seed: int, round_name: str) -> Iterator[list[dict]]:
    """`n` dialogs of a later chat round ("two" or "three"): as `chat_dialogs` (training phrasings and content
    only), from the round's own random stream, with the round's mix of intents (`LATER_ROUNDS`). Round two has
    more word meanings (22%), stories (16%) and out-of-world questions (15%); round three has out-of-world content
    in 37% of its dialogs (38 of 104 parts), 16 of those 38 asked as a story or a how-to request, in those intents'
    training phrasings."""
    if round_name not in LATER_ROUNDS:
        raise ValueError(f"round_name={round_name!r}: the later chat rounds are {sorted(LATER_ROUNDS)}")
    for _, _, turns in chat_items(world, split, n, seed, LATER_ROUNDS[round_name], stream=f"round-{round_name}"):
        yield turns
