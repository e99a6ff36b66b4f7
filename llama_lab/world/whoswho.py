"""The tiny world's who's-who: who lives there, where, with what pet and job, and the words it defines.

A learner's own prompts should be about the world's own residents: asked about a name the world never uses
("Where does Mia live?"), the chat model rightly says it does not know anyone called that. Everything here is read
from the world itself (`tinyworld.build_world`), so it cannot disagree with the text the tiny models were trained
on. A fact marked *held out* is never asked or answered as a question in any training text (the stories and
biographies still state it): asking about it is a fair test of what the model learned, not of what it memorised.

    whos_who(world)       -> WhosWho: people, towns, defined words, and names the world does not know
    render_markdown(who)  -> the text of docs/world.md
    people_table(who)     -> a compact text table of the residents, for a notebook

`python -m llama_lab.world.whoswho` writes docs/world.md (`--check` only says whether it is up to date).
Example: a row of the people table for seed 0 reads
    | Ada | Applebury | vet | guinea pig, Lucky | pancakes | Kai | painting | blue | town, pet's name |
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from ..files import replacing
from ..tables import markdown_table, text_table
from .intents import other_items
from .vocabulary import WORDS
from .world import ATTRIBUTES, DEFAULT_SEED, World, build_world

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = ROOT / "docs" / "world.md"
# how a held-out attribute reads in a table (ATTRIBUTES' names are the code's)
ATTRIBUTE_WORDS = {"town": "town", "job": "job", "pet": "pet", "pet_name": "pet's name", "food": "favourite food",
                   "colour": "colour", "friend": "friend", "hobby": "hobby"}


@dataclass(frozen=True)
class Resident:
    name: str
    town: str
    job: str
    pet: str  # the kind of animal: "guinea pig"
    pet_name: str
    food: str
    friend: str
    hobby: str
    colour: str
    held_out: tuple[str, ...]  # the attributes (ATTRIBUTES' names) whose questions training never asks


@dataclass(frozen=True)
class TownEntry:
    name: str
    near: str
    landmark: str
    known_for: str
    residents: tuple[str, ...]


@dataclass(frozen=True)
class WhosWho:
    seed: int
    people: tuple[Resident, ...]
    towns: tuple[TownEntry, ...]
    words: tuple[tuple[str, str], ...]  # (word, definition) for every word the world defines
    strangers: tuple[str, ...]  # people the world never mentions; it should answer "I don't know anyone called ..."
    held_out_strangers: tuple[str, ...]  # of those, the ones no training dialog asks about

    def resident(self, name: str) -> Resident:
        for person in self.people:
            if person.name == name:
                return person
        raise KeyError(f"nobody called {name!r} lives in the tiny world of seed {self.seed}; "
                       f"its residents: {', '.join(p.name for p in self.people)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.people)


def whos_who(world: World | None = None) -> WhosWho:
    """The who's-who of `world` (default: the world of the kit's seed, the one its tiny models read)."""
    world = world or build_world(DEFAULT_SEED)
    people = tuple(Resident(c.name, c.town, c.job, c.pet, c.pet_name, c.food, c.friend, c.hobby, c.colour,
                            tuple(a for a in ATTRIBUTES if world.is_held_out(c.name, a)))
                   for c in world.characters)
    towns = tuple(TownEntry(t.name, t.near, t.landmark, t.known_for, tuple(c.name for c in world.residents(t.name)))
                  for t in world.towns)
    strangers = {split: other_items(world, split)["person"] for split in ("train", "eval")}
    return WhosWho(world.seed, people, towns, tuple((word, meaning) for word, (meaning, _) in WORDS.items()),
                   tuple(sorted(strangers["train"] + strangers["eval"])), tuple(sorted(strangers["eval"])))


def _held_out_words(person: Resident) -> str:
    return ", ".join(ATTRIBUTE_WORDS[a] for a in person.held_out)


def people_table(who: WhosWho) -> str:
    """The residents as an aligned text table (name, town, job, pet, favourite food, held-out facts)."""
    return text_table(["name", "town", "job", "pet", "favourite food", "held out"],
                      [[p.name, p.town, p.job, f"{p.pet} {p.pet_name}", p.food, _held_out_words(p)]
                       for p in who.people])


def render_markdown(who: WhosWho) -> str:
    """docs/world.md: the who's-who as Markdown."""
    example = next(p for p in who.people if "town" in p.held_out)
    lines = [
        "# Who lives in the tiny world",
        "",
        f"The kit's tiny models were trained on a world the kit writes from a seed (seed {who.seed}, "
        "`llama_lab/world/tinyworld.py`). This page lists what that world holds, so that your own prompts can be "
        "about its residents: asked about anyone else, the chat model should say that it does not know them. "
        "It is written by `python -m llama_lab.world.whoswho` from the world itself; a test checks that it "
        "matches.",
        "",
        "*Held out* marks a fact that no training text asks or answers as a question (stories and biographies "
        f"still state it): asking it is a fair test. For example {example.name}'s town is held out, so "
        f'"Where does {example.name} live?" asks the chat model for something it read only in stories.',
        "",
        f"## {len(who.people)} people",
        "",
        *markdown_table(["name", "town", "job", "pet", "favourite food", "best friend", "hobby", "colour",
                         "held out"],
                        [[p.name, p.town, p.job, f"{p.pet}, {p.pet_name}", p.food, p.friend, p.hobby, p.colour,
                          _held_out_words(p)] for p in who.people]),
        "",
        f"## {len(who.towns)} towns",
        "",
        *markdown_table(["town", "near", "landmark", "known for", "residents"],
                        [[t.name, t.near, t.landmark, t.known_for, ", ".join(t.residents)] for t in who.towns]),
        "",
        f"## {len(who.words)} words it defines",
        "",
        'Ask what any of them means ("What does "brave" mean?"); a word not on this list should get "I don\'t know '
        'the word".',
        "",
        *markdown_table(["word", "meaning"], [[word, meaning] for word, meaning in who.words]),
        "",
        "## People it does not know",
        "",
        "The chat model was taught to decline questions about these names (and real places, real-world facts and "
        "made-up words). The names in italics are held out: no training dialog mentions them.",
        "",
        ", ".join(f"*{n}*" if n in who.held_out_strangers else n for n in who.strangers) + ".",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Write the tiny world's who's-who (docs/world.md).")
    parser.add_argument("--out", default=str(DOCS), help="where to write it (default: docs/world.md)")
    parser.add_argument("--check", action="store_true", help="only say whether the file is up to date")
    args = parser.parse_args(argv)
    text, out = render_markdown(whos_who()), Path(args.out)
    if args.check:
        current = out.read_text(encoding="utf-8") if out.exists() else None
        if current != text:
            print(f"error: {out} is not what the world renders now: run python -m llama_lab.world.whoswho",
                  file=sys.stderr)
            return 1
        print(f"{out} is up to date")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with replacing(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(f"wrote {out}: {len(text.splitlines())} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
