"""Instructions a user gives once, for the whole dialog: what Ghost Attention (Llama 2, section 3.3) teaches a model
to keep following.

Llama 2's synthetic instructions were hobbies ("you enjoy tennis"), languages ("always speak in French") and
public figures to act as, each checked by people. The tiny world's are four kinds whose every reply can be checked
by a rule:

    opener   Begin every answer with "Ahoy!".            the reply starts with the words
    closer   End every answer with "Have a nice day!".   the reply ends with them
    lower    Write every answer in lower case.           the reply has letters, and no capital one
    name     Call me Ada in every answer.                the reply starts with "Ada, "

Each kind has three phrasings and (but for lower) a list of words to fill in. Held out for evaluation: the last
phrasing of each kind and two fillers of each, so that after training a model is measured on instructions it was
never given in those words.

Example: Instruction("opener", 'Begin every answer with "Ahoy!".', "Ahoy!").apply("Ada lives in Applebury.") ->
"Ahoy! Ada lives in Applebury."; .follows("Ahoy! Ada lives in Applebury.") -> True.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

from .vocabulary import NAMES

KINDS = ("opener", "closer", "lower", "name")
PHRASINGS = {
    "opener": ('Begin every answer with "{x}".', 'Always start your answers with "{x}".',
               'Start each reply with the words "{x}".'),
    "closer": ('End every answer with "{x}".', 'Always finish your answers with "{x}".',
               'Close each reply with the words "{x}".'),
    "lower": ("Write every answer in lower case.", "Use only small letters in your answers.",
              "Never use capital letters when you answer."),
    "name": ("Call me {x} in every answer.", "My name is {x}. Say my name at the start of each reply.",
             "Always address me as {x}."),
}
FILLERS = {
    "opener": ("Ahoy!", "Hooray!", "Well,", "Good question!", "Beep boop.", "Hello friend!", "Oh my!", "Listen:"),
    "closer": ("Have a nice day!", "Bye for now!", "Stay safe!", "Take care!", "That is all.", "See you soon!",
               "Keep smiling!", "Over and out."),
    "lower": ("",),
    "name": NAMES[::6],
}
HELD_OUT_FILLERS = 2  # the last two fillers of each kind (but lower) are asked only in evaluation


@dataclass(frozen=True)
class Instruction:
    kind: str
    text: str
    filler: str = ""

    def apply(self, reply: str) -> str:
        """The reply as someone following the instruction would write it."""
        if self.kind == "opener":
            return f"{self.filler} {reply}"
        if self.kind == "closer":
            return f"{reply} {self.filler}"
        if self.kind == "lower":
            return reply.lower()
        return f"{self.filler}, {_lower_first(reply)}"

    def follows(self, reply: str) -> bool:
        """Does the reply follow the instruction? The rule of its kind (module docstring), spaces ignored."""
        reply = reply.strip()
        if self.kind == "opener":
            return reply.startswith(self.filler)
        if self.kind == "closer":
            return reply.endswith(self.filler)
        if self.kind == "lower":
            return re.search("[a-z]", reply) is not None and reply == reply.lower()
        return reply.startswith(f"{self.filler},")


def _lower_first(text: str) -> str:
    first = text.split(" ", 1)[0].strip("\"',.?!")
    return text if first in NAMES or first == "I" or first.startswith("I'") else text[:1].lower() + text[1:]


def instructions(split: str) -> list[Instruction]:
    """Every instruction of a split: "train" (the first two phrasings of each kind with the training fillers) or
    "eval" (held out: the third phrasing with any filler, and any phrasing with a held-out filler)."""
    if split not in ("train", "eval"):
        raise ValueError(f"split={split!r}: instructions come in 'train' and 'eval'")
    out = []
    for kind in KINDS:
        fillers = FILLERS[kind]
        held_fillers = set(fillers[-HELD_OUT_FILLERS:]) if len(fillers) > 1 else set()
        for p, phrasing in enumerate(PHRASINGS[kind]):
            for filler in fillers:
                held = p == len(PHRASINGS[kind]) - 1 or filler in held_fillers
                if held == (split == "eval"):
                    out.append(Instruction(kind, phrasing.format(x=filler), filler))
    return out


def sample_instructions(split: str, n: int, seed: int) -> list[Instruction]:
    """n instructions of the split, each kind equally often (a kind, then one of its instructions)."""
    rng = random.Random(f"instructions/{split}/{seed}")
    by_kind = {}
    for instruction in instructions(split):
        by_kind.setdefault(instruction.kind, []).append(instruction)
    return [rng.choice(by_kind[rng.choice(KINDS)]) for _ in range(n)]
