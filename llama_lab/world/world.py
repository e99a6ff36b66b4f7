"""The tiny world itself: towns, people and misconceptions, invented from a seed.

Nothing is downloaded. `build_world(seed)` invents a small world (towns, ~60 people with a job, a pet, a favourite
food, colour and hobby, a best friend) and a handful of *misconceptions* bound to it ("owls in Applebury can talk").
Same seed, same world. Everything else in this package is text written about it (see `tinyworld.py` for the map).

Every held-out split is a deterministic function of the seed: `_u01(seed, *key)` (`phrasing.unit_interval`) maps a
key to a number in [0, 1) with SHA-256 (not Python's `hash`, which changes per process). A fact, the pair
(character, attribute), is held out when `_u01(seed, "fact", name, attribute) < 0.2` (`World.is_held_out`); the
other splits are described in `heldout.py`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .phrasing import unit_interval as _u01
from .templates import _Ctx, fill
from .vocabulary import (COLOURS, FOODS, FRUIT_SEEDS, HOBBIES, JOBS, KNOWN_FOR, LANDMARKS, NAMES, NAMES_SHE, NEAR, PETS,
                         PET_NAMES, TOWN_NAMES, WILD, _MYTHS, _MYTH_SHARED_QUESTIONS)


DEFAULT_SEED = 0
ATTRIBUTES = ("town", "job", "pet", "pet_name", "food", "colour", "friend", "hobby")


@dataclass(frozen=True)
class Character:
    name: str
    he: str            # "he" or "she"
    town: str
    job: str
    pet: str           # the kind of animal: "dog"
    pet_name: str
    food: str
    colour: str
    friend: str        # best friends come in pairs and live in the same town
    hobby: str

    @property
    def his(self) -> str:
        return "his" if self.he == "he" else "her"

    @property
    def him(self) -> str:
        return "him" if self.he == "he" else "her"


@dataclass(frozen=True)
class Town:
    name: str
    near: str          # "a river"
    water: str         # "river" or "" when the town is not by water
    landmark: str      # "clock tower"
    material: str      # what the landmark is really made of
    known_for: str


@dataclass(frozen=True)
class Misconception:
    key: str
    rumour: str                 # the false claim, as a clause: "owls in Applebury can talk"
    truth: str                  # the truth, as a clause: "owls cannot talk"
    reason: str                 # one more true sentence
    questions: tuple[str, ...]  # four phrasings; questions[held_out] is asked only in the eval split
    yes_no: tuple[bool, ...]    # per phrasing: answered "No, ..." (True) or with the plain truth (False)
    held_out: int


@dataclass(frozen=True)
class World:
    seed: int
    towns: tuple[Town, ...]
    characters: tuple[Character, ...]
    misconceptions: tuple[Misconception, ...]

    def character(self, name: str) -> Character:
        for c in self.characters:
            if c.name == name:
                return c
        raise KeyError(f"no character named {name!r} in the world of seed {self.seed}; "
                       f"known names: {', '.join(c.name for c in self.characters)}")

    def town(self, name: str) -> Town:
        for t in self.towns:
            if t.name == name:
                return t
        raise KeyError(f"no town named {name!r} in the world of seed {self.seed}")

    def residents(self, town: str) -> list[Character]:
        return [c for c in self.characters if c.town == town]

    def fact(self, name: str, attribute: str) -> str:
        """The short answer, e.g. fact("Ada", "town") -> "Applebury"."""
        if attribute not in ATTRIBUTES:
            raise ValueError(f"attribute {attribute!r} is not one of {ATTRIBUTES}")
        return getattr(self.character(name), attribute)

    def is_held_out(self, name: str, attribute: str) -> bool:
        return _u01(self.seed, "fact", name, attribute) < 0.2


def build_world(seed: int = DEFAULT_SEED) -> World:
    """Invent the world for `seed`: towns, people and misconceptions. Same seed, same world."""
    rng = random.Random(f"tinyworld/{seed}/world")
    towns = []
    for name in rng.sample(TOWN_NAMES, rng.randint(7, 9)):
        near, water = rng.choice(NEAR)
        landmarks = [lm for lm in LANDMARKS if lm != "lighthouse" or water == "sea"]
        landmark = rng.choice(landmarks)
        towns.append(Town(name, near, water, landmark, LANDMARKS[landmark], rng.choice(KNOWN_FOR)))
    n = 2 * rng.randint(29, 35)
    names = rng.sample(NAMES, n)
    pet_names = rng.sample(PET_NAMES, n)
    town_of = {}
    for i in range(0, n, 2):  # best friends come in pairs; pairs are dealt to towns in turn
        town_of[names[i]] = town_of[names[i + 1]] = towns[(i // 2) % len(towns)].name
    characters = []
    for i, name in enumerate(names):
        characters.append(Character(
            name=name, he="she" if name in NAMES_SHE else "he", town=town_of[name], job=rng.choice(list(JOBS)),
            pet=rng.choice(list(PETS)), pet_name=pet_names[i], food=rng.choice(FOODS), colour=rng.choice(COLOURS),
            friend=names[i + 1] if i % 2 == 0 else names[i - 1], hobby=rng.choice(HOBBIES)))
    characters.sort(key=lambda c: c.name)
    myths = []
    for key in rng.sample(sorted(_MYTHS), 22):
        rumour, truth, reason, specific, yes_no = _MYTHS[key]
        watery = [t for t in towns if t.water and (key != "waves" or t.water == "sea")]
        if key in ("milk", "waves") and not watery:
            continue
        town = rng.choice(watery if key in ("milk", "waves") else towns)
        wild = rng.choice(list(WILD))
        pet = rng.choice(list(PETS))
        ctx = _Ctx(town=town.name, landmark=town.landmark, material=town.material, water=town.water,
                   wilds=WILD[wild][0], pets=PETS[pet][0], food=rng.choice(FOODS), colour=rng.choice(COLOURS),
                   fruit_seed=rng.choice(FRUIT_SEEDS))
        ctx["rumour"] = fill(rumour, ctx)
        questions = tuple(fill(q, ctx) for q in specific + _MYTH_SHARED_QUESTIONS)
        myths.append(Misconception(key, ctx["rumour"], fill(truth, ctx), fill(reason, ctx), questions,
                                   yes_no + (True, True), int(_u01(seed, "myth", key) * 4)))
    return World(seed, tuple(towns), tuple(characters), tuple(myths))


def _train_pairs(world: World) -> list[tuple[Character, str]]:
    return [(c, a) for c in world.characters for a in ATTRIBUTES if not world.is_held_out(c.name, a)]
