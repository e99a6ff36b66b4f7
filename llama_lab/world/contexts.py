"""Contexts: the slot values a text about the world may use, bound once per text so that it stays consistent.

A person's values (`_person`: name, pronouns, job, pet, ...), a town's (`_town_ctx`), the facts about one person
(`fact_context`) and a story's whole cast and scenery (`_story_ctx`: the hero, the best friend, a neighbour, the
weather, a trip to another town and its visitor).
"""

from __future__ import annotations

import random

from .templates import _Ctx, _a, fill
from .vocabulary import (EVENTS, GIFTS, HOME_SPOTS, INDOOR, JOBS, MORALS, NATURE, NERVOUS, PETS, PLACES, SAD,
                         SCENE_ACTS, SPOTS, STORMS, THINGS, TIMES, TROUBLES, WEATHER, WILD, WILD_DOING)
from .world import Character, Town, World


def _person(c: Character, prefix: str) -> dict[str, str]:
    """Slot values for one character; prefix "" is the hero, "f_" the hero's best friend, "o_" anyone else."""
    workplace, acts = JOBS[c.job]
    plural, sound, joy = PETS[c.pet]
    values = {"he": c.he, "his": c.his, "him": c.him, "himself": c.him + "self", "town": c.town, "job": c.job,
              "a_job": _a(c.job), "workplace": workplace, "pet": c.pet, "a_pet": _a(c.pet), "pet_name": c.pet_name,
              "pet_sound": sound, "pet_joy": joy, "food": c.food, "colour": c.colour, "hobby": c.hobby}
    ctx = {prefix + k: v for k, v in values.items()}
    ctx[{"": "name", "f_": "friend", "o_": "other"}[prefix]] = c.name
    return ctx


def _town_ctx(t: Town, suffix: str = "") -> dict[str, str]:
    return {"town" + suffix: t.name, "near" + suffix: t.near, "landmark" + suffix: t.landmark,
            "material" + suffix: t.material, "known_for" + suffix: t.known_for}


def _story_ctx(world: World, rng: random.Random, c: Character, other: Character | None = None) -> _Ctx:
    """Everything a story about `c` may mention, bound once so that the story stays consistent."""
    friend = world.character(c.friend)
    if other is None:
        neighbours = [x for x in world.residents(c.town) if x.name not in (c.name, c.friend)]
        other = rng.choice(neighbours or [friend])
    ctx = _Ctx(_person(c, ""))
    ctx.update(_person(friend, "f_"))
    ctx.update(_person(other, "o_"))
    ctx.update(_town_ctx(world.town(c.town)))
    wild = rng.choice(list(WILD))
    places = rng.sample(PLACES, 2)
    spots = rng.sample(SPOTS, 2)
    ctx.update(
        time=rng.choice(TIMES), weather=rng.choice(WEATHER), thing=rng.choice(THINGS), place=places[0],
        place2=places[1], spot=spots[0], spot2=spots[1], home_spot=rng.choice(HOME_SPOTS),
        sad=rng.choice(SAD), nervous=rng.choice(NERVOUS), event=rng.choice(EVENTS), trouble=rng.choice(TROUBLES),
        indoor=rng.choice(INDOOR), a_gift=rng.choice(GIFTS), moral=rng.choice(MORALS), wild=wild,
        a_wild=_a(wild), wilds=WILD[wild][0], wild_go=WILD[wild][1], wild_doing=rng.choice(WILD_DOING),
        nature=rng.choice(NATURE), job_act=rng.choice(JOBS[c.job][1]), scene_act=rng.choice(SCENE_ACTS))
    ctx["job_act2"] = rng.choice([a for a in JOBS[c.job][1] if a != ctx["job_act"]])
    ctx["storm"] = fill(rng.choice(STORMS), ctx)
    elsewhere = rng.choice([t for t in world.towns if t.name != c.town])  # for trips
    ctx.update(_town_ctx(elsewhere, "2"))
    v = rng.choice(world.residents(elsewhere.name))
    ctx.update(visitor=v.name, v_a_job=_a(v.job), v_pet=v.pet, v_pet_name=v.pet_name, v_his=v.his)
    return ctx


def fact_context(world: World, c: Character) -> _Ctx:
    """The slot values that questions and answers about `c` are filled from: the person's own (name, pronouns, job,
    pet, ...), their town's and their best friend's name as `{friend}`."""
    ctx = _Ctx(_person(c, ""))
    ctx.update(_town_ctx(world.town(c.town)))
    ctx["friend"] = c.friend
    return ctx
