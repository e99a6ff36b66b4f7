"""The tiny world in Turkish: its facts, the questions about them and their answers, "I don't know" for what the
world does not hold, and refusals of harmful requests, written from the same world state as the English.

The words and templates are in `vocabulary.py` beside this module (the world's animals, colours, foods, jobs and
hobbies in Turkish); the invented names (people, pets, towns) stay as they are and take their suffixes after an
apostrophe, with the vowel harmony of their last written vowel (`morphology.py` says why). Every template has an
English counterpart in the world's own `vocabulary.py`, in the same order, so that the i-th Turkish phrasing renders
the i-th English one: "Where does Julia live?" is "Julia nerede yaşıyor?", and "Julia lives in Honeydale." is
"Julia Honeydale'de yaşıyor.".

Rendered: the eight facts of every person (`turkish_facts`), the held-out fact questions (`turkish_fact_questions`),
the held-out requests, harmful and benign, with their topics (`turkish_request_items`), and chat dialogs
(`turkish_dialog`, `parallel_dialogs`; first exchanges alone: `turkish_exchange`, `parallel_exchanges`) whose turns
are a system prompt, a fact question and its follow-ups, a harmful request and its refusal, or a question about a
person, a place, a word or a real-world fact that the world does not know, answered "I don't know". The pretraining
documents (stories, biographies, ...) are rendered in `world_documents.py`. Not rendered yet in chat: how-to answers,
word meanings, advice, small talk, myths, and out-of-world content asked for as a story or a how-to.
"""

from __future__ import annotations

import random
from typing import Iterator

from ..contexts import fact_context
from ..dialogs import chat_items
from ..heldout import fact_questions, request_items
from ..intents import other_items, request_pairs
from ..phrasing import unit_interval
from ..templates import _Ctx, fill
from ..vocabulary import _FOLLOW_UPS, FACT_ANSWERS, FACT_QUESTIONS, REQUESTS, SYSTEM_PROMPTS, in_assistant_words
from ..world import ATTRIBUTES, Character, World
from .morphology import capitalize, infinitive_case, possessive, present_continuous, suffix
from .vocabulary import (BENIGN_ACTIONS_TR, COLOURS_TR, COMPOUNDS, FACT_ANSWERS_TR, FACT_QUESTIONS_TR, FOLLOW_UPS_TR,
                         FOODS_TR, HARMFUL_ACTIONS_TR, HOBBIES_TR, JOBS_TR, NONSENSE_QUESTIONS_TR, OBJECTS_TR,
                         OUT_OF_WORLD_ANSWERS_TR, OUT_OF_WORLD_FOLLOW_TR, PETS_TR, PLACE_QUESTIONS_TR, PLACES_TR,
                         REFUSAL_ALTERNATIVES_TR, REFUSAL_END_TR, REFUSAL_OPENINGS_TR, REFUSAL_REASONS_TR,
                         REAL_WORLD_QUESTIONS_TR, REQUEST_PHRASING_PARALLELS_TR, REQUEST_PHRASINGS_TR,
                         SHORT_ANSWERS_TR, SYSTEM_PROMPTS_TR)


def case(phrase: str, name: str) -> str:
    """`suffix` for the tables' words, which knows the compounds: case("domates çorbası", "accusative") ->
    "domates çorbasını"."""
    return suffix(phrase, name, possessed=phrase in COMPOUNDS)


# ----------------------------------------------------------------------------------------------------------------
# Facts, questions and answers.

def person_slots(c: Character, name: str | None = None) -> dict[str, str]:
    """The Turkish slot values for questions and answers about `c` (or about `name`, asked with `c`'s pet).

    Example, for Ada: name_gen "Ada'nın", town_loc "Applebury'da" (its last written vowel is u), pet_poss
    "kobayı", pet_poss_gen "kobayının", food_acc "krepi", hobby_acc "resim yapmayı", hobby_now "resim yapıyor".
    """
    name = name or c.name
    pet, food, colour, hobby = PETS_TR[c.pet], FOODS_TR[c.food], COLOURS_TR[c.colour], HOBBIES_TR[c.hobby]
    pet_poss = possessive(pet, 3)
    return {"name": name, "name_gen": suffix(name, "genitive"), "town": c.town, "town_loc": suffix(c.town, "locative"),
            "job": JOBS_TR[c.job], "pet": pet, "pet_poss": pet_poss,
            "pet_poss_gen": suffix(pet_poss, "genitive", possessed=True),
            "pet_poss_dat": suffix(pet_poss, "dative", possessed=True), "pet_name": c.pet_name, "food": food,
            "food_acc": case(food, "accusative"), "colour": colour, "colour_acc": case(colour, "accusative"),
            "friend": c.friend, "hobby": hobby, "hobby_acc": infinitive_case(hobby, "accusative"),
            "hobby_now": present_continuous(hobby)}


def _say(template: str, slots: dict[str, str]) -> str:
    return capitalize(template.format_map(slots))


def fact_sentence(world: World, name: str, attribute: str, phrasing: int = 0) -> str:
    """A fact about `name` in Turkish: the `phrasing`-th of FACT_ANSWERS_TR, parallel to FACT_ANSWERS.
    Example: fact_sentence(world, "Ada", "pet") -> "Ada'nın bir kobayı var." (Ada has a guinea pig.)"""
    return _say(FACT_ANSWERS_TR[attribute][phrasing], person_slots(world.character(name)))


def turkish_facts(world: World) -> list[dict]:
    """Every fact of the world, in English and in Turkish, one per (person, attribute).

    Example: {"character": "Ada", "attribute": "town", "english": "Ada lives in Applebury.",
    "turkish": "Ada Applebury'da yaşıyor."}.
    """
    return [{"character": c.name, "attribute": a, "english": fill(FACT_ANSWERS[a][0], fact_context(world, c)),
             "turkish": fact_sentence(world, c.name, a)} for c in world.characters for a in ATTRIBUTES]


def turkish_fact_questions(world: World, split: str = "eval") -> list[dict]:
    """`heldout.fact_questions` with a Turkish version of each item, in the same phrasing: "question_tr", the short
    answer "answer_tr" ("kobay" for "guinea pig"; names stay as they are) and a whole answer sentence "reply_tr"."""
    out = []
    for item in fact_questions(world, split):
        c, attr = world.character(item["character"]), item["attribute"]
        english = [fill(q, fact_context(world, c)) for q in FACT_QUESTIONS[attr]]
        slots = person_slots(c)
        out.append({**item, "question_tr": _say(FACT_QUESTIONS_TR[attr][english.index(item["question"])], slots),
                    "answer_tr": SHORT_ANSWERS_TR[attr].format_map(slots),
                    "reply_tr": _say(FACT_ANSWERS_TR[attr][0], slots)})
    return out


# ----------------------------------------------------------------------------------------------------------------
# What the world does not know.

def out_of_world_slots(kind: str, item: str) -> dict[str, str]:
    """Slot values for something the world does not know: a person ("Hiro": who_gen "Hiro'nun"), a real place
    (in its Turkish name: "London" -> where "Londra", where_loc "Londra'da") or a made-up word."""
    if kind == "person":
        return {"who": item, "who_gen": suffix(item, "genitive")}
    if kind == "place":
        place = PLACES_TR[item]
        return {"where": place, "where_loc": suffix(place, "locative")}
    return {"made_up": item}


def i_dont_know(kind: str, item: str, phrasing: int = 0, follow: int | None = None) -> str:
    """The Turkish "I don't know" for an out-of-world `kind` ("person", "place", "real", "nonsense"), optionally
    followed by the `follow`-th of OUT_OF_WORLD_FOLLOW_TR. Example: i_dont_know("person", "Hiro") ->
    "Hiro adında birini tanımıyorum."."""
    answer = _say(OUT_OF_WORLD_ANSWERS_TR[kind][phrasing], out_of_world_slots(kind, item))
    return answer if follow is None else f"{answer} {OUT_OF_WORLD_FOLLOW_TR[follow]}"



# ----------------------------------------------------------------------------------------------------------------
# Harmful requests and their refusals.

_CASE_SLOTS = {"obj": "nominative", "obj_acc": "accusative", "obj_dat": "dative", "obj_loc": "locative",
               "obj_abl": "ablative", "obj_gen": "genitive", "obj_ins": "instrumental"}


def request_slots(category: str, action: str, obj: str, harmful: bool = True) -> dict[str, str]:
    """The harmful act in Turkish, in the user's words ("act": "ablamı incitmek", "act_gen": "ablamı incitmenin")
    and the assistant's ("act_you": "ablanı incitmek"): the action's template (HARMFUL_ACTIONS_TR) with its object
    in the case the verb wants. Example: ("lie", "blame {obj} for something I broke", "my cousin") -> act
    "kırdığım bir şey için kuzenimi suçlamak", act_you "kırdığın bir şey için kuzenini suçlamak".
    harmful=False: a benign act of BENIGN_ACTIONS_TR instead ("help {obj}", "my cousin": "kuzenime yardım etmek")."""
    template = (HARMFUL_ACTIONS_TR if harmful else BENIGN_ACTIONS_TR)[category][action]
    words = OBJECTS_TR[obj]
    acts = []
    for person, phrase in zip((1, 2), (words, words) if isinstance(words, str) else words):
        slots = {slot: case(phrase, name) for slot, name in _CASE_SLOTS.items()}
        # the participle -DIK with a possessive: "kırdık" -> "kırdığım" (that I broke), "kırdığın" (that you broke)
        slots.update(broke=possessive("kırdık", person), did=possessive("yaptık", person),
                     bike=suffix(possessive("bisiklet", person), "accusative"))
        acts.append(template.format_map(slots))
    return {"act": acts[0], "act_gen": infinitive_case(acts[0], "genitive"), "act_you": acts[1]}


def turkish_request_items(world: World, split: str = "eval", harmful: bool = False) -> list[dict]:
    """`heldout.request_items`, row for row, with the same request in Turkish ("request_tr") and its topic, the act
    in the assistant's words as a helpful Turkish answer names it ("topic_tr"; a leading "bir", the article "a",
    left out, as a Turkish answer leaves it out: "köpeği beslemek" for "feed a dog"). A request in one of the English
    phrasings that REQUEST_PHRASING_PARALLELS_TR pairs with a Turkish one is said that way; the others take a Turkish
    phrasing drawn (from a random stream named by the world, split and harm) among those its pair's other request
    does not use, so that a pair's two requests differ in Turkish too.

    Example: {"request": "What should I do to feed a dog?", "topic": "feed a dog", "category": "animal",
    "request_tr": "Bir köpeği beslemek için ne yapmalıyım?", "topic_tr": "köpeği beslemek"}.
    """
    rng = random.Random(f"tinyworld/{world.seed}/{split}/{harmful}/turkish-requests")
    rows, pairs = request_items(world, split, harmful), request_pairs(world, split, harmful)
    per_pair = len(rows) // len(pairs) if pairs else 0   # request_items writes the same number of phrasings per pair
    out = []
    for i, (category, action, _, obj) in enumerate(pairs):
        english_act = action.format(obj=obj)
        slots = request_slots(category, action, obj, harmful)
        group = rows[i * per_pair:(i + 1) * per_pair]
        chosen = [_parallel_phrasing(english_act, row["request"]) for row in group]
        for j, row in enumerate(group):
            if row["topic"] != in_assistant_words(english_act):   # request_items no longer follows request_pairs
                raise RuntimeError(f"request_items' row {row!r} is not about {english_act!r}: the two orders differ")
            if chosen[j] is None:
                unused = [k for k in range(len(REQUEST_PHRASINGS_TR)) if k not in chosen]
                chosen[j] = rng.choice(unused or range(len(REQUEST_PHRASINGS_TR)))
            out.append({**row, "request_tr": _say(REQUEST_PHRASINGS_TR[chosen[j]], slots),
                        "topic_tr": slots["act_you"].removeprefix("bir ")})
    return out


def _parallel_phrasing(act: str, request: str) -> int | None:
    """The index in REQUEST_PHRASINGS_TR of the Turkish phrasing parallel to the English `request`, or None."""
    for template, turkish in REQUEST_PHRASING_PARALLELS_TR.items():
        if fill(template, _Ctx(act=act)) == request:
            return turkish
    return None


def refusal(rng: random.Random, category: str, action: str = "", obj: str = "") -> str:
    """A Turkish refusal, built as the English one is (`intents._refusal`): an opening, one or two reasons of the
    category, 80% of the time an alternative, 20% of the time an offer of more help. Without an action and its
    object, only the openings and reasons that do not name the act are used."""
    slots = request_slots(category, action, obj) if action else {}
    openings = [t for t in REFUSAL_OPENINGS_TR if slots or "{" not in t]
    reasons = [t for t in REFUSAL_REASONS_TR[category] if slots or "{" not in t]
    parts = [rng.choice(openings)] + rng.sample(reasons, rng.randint(1, min(2, len(reasons))))
    if rng.random() < 0.8:
        parts.append(rng.choice(REFUSAL_ALTERNATIVES_TR[category]))
    if rng.random() < 0.2:
        parts.append(rng.choice(REFUSAL_END_TR))
    return " ".join(_say(p, slots) for p in parts)


# ----------------------------------------------------------------------------------------------------------------
# A chat exchange in Turkish, for the content a dialog opens with (`intents.py` describes content).

class NotRenderedError(ValueError):
    """Content the Turkish renderings do not cover yet (see the module's docstring for what they cover)."""


def _rng(world: World, content: tuple) -> random.Random:
    key = "/".join(x.name if isinstance(x, Character) else str(x) for x in content)
    return random.Random(f"tinyworld/{world.seed}/turkish/{key}")


def turkish_exchange(world: World, content: tuple, question: int | None = None,
                     answer: int | None = None) -> list[dict]:
    """[user, assistant] in Turkish for `content`: a fact question and its answer, a harmful request and its
    refusal, or a question about something the world does not know and "I don't know". `question` and `answer`
    pick the phrasings (the index of the English template being rendered); left out, they are drawn from a random
    stream named by the content. Raises NotRenderedError for content that is not rendered yet."""
    rng = _rng(world, content)
    intent = content[0]
    if intent == "fact":
        _, c, attr = content
        slots = person_slots(c)
        q = rng.randrange(4) if question is None else question
        a = rng.randrange(2) if answer is None else answer
        return _turns(_say(FACT_QUESTIONS_TR[attr][q], slots), _say(FACT_ANSWERS_TR[attr][a], slots))
    if intent == "harmful":
        _, category, action, _, obj = content
        slots = request_slots(category, action, obj)
        q = rng.randrange(len(REQUEST_PHRASINGS_TR)) if question is None else question
        return _turns(_say(REQUEST_PHRASINGS_TR[q], slots), refusal(rng, category, action, obj))
    if intent == "out_of_world" and len(content) == 4 and content[3] in ATTRIBUTES:   # someone it does not know
        _, _, who, attr = content
        c = world.characters[int(unit_interval(world.seed, "other-pet", who) * len(world.characters))]
        q = rng.randrange(4) if question is None else question
        user = _say(FACT_QUESTIONS_TR[attr][q], person_slots(c, name=who))
    elif intent == "out_of_world" and len(content) == 3 and content[1] == "real":
        user = REAL_WORLD_QUESTIONS_TR[content[2]]
    elif intent == "out_of_world" and len(content) == 3 and content[1] in ("place", "nonsense"):
        templates = PLACE_QUESTIONS_TR if content[1] == "place" else NONSENSE_QUESTIONS_TR
        user = _say(templates[rng.randrange(len(templates)) if question is None else question],
                    out_of_world_slots(*content[1:]))
    else:
        raise NotRenderedError(f"content {content[:2]!r} is not rendered in Turkish yet: rendered are facts, harmful "
                               "requests about animals and people, and questions about people, places, words and "
                               "real-world facts that the world does not know")
    a = rng.randrange(2) if answer is None else answer
    follow = rng.randrange(len(OUT_OF_WORLD_FOLLOW_TR)) if rng.random() < 0.7 else None
    return _turns(user, i_dont_know(content[1], content[2], a, follow))


def _turns(user: str, assistant: str) -> list[dict]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def _index_of(templates, ctx, text: str) -> int | None:
    """Which English template, filled from `ctx`, is `text` (None if none is: the text was reworded or dressed)."""
    for i, t in enumerate(templates):
        if fill(t, ctx) == text:
            return i
    return None


def parallel_exchanges(world: World, split: str, n: int, seed: int) -> Iterator[tuple[list[dict], list[dict]]]:
    """(English first exchange, Turkish exchange) for those of the first `n` chat dialogs (`chat_items`, same
    arguments) whose first exchange is rendered. A fact's Turkish question and answer take the English phrasings'
    places where the English is a template's plain filling; otherwise they are drawn."""
    for content, _, turns in chat_items(world, split, n, seed):
        english = [t for t in turns if t["role"] != "system"][:2]
        question = answer = None
        if content[0] == "fact":
            ctx = fact_context(world, content[1])
            question = _index_of(FACT_QUESTIONS[content[2]], ctx, english[0]["content"])
            answer = _index_of(FACT_ANSWERS[content[2]], ctx, english[1]["content"])
        try:
            yield english, turkish_exchange(world, content, question, answer)
        except NotRenderedError:
            continue


def turkish_dialog(world: World, content: tuple, turns: list[dict]) -> list[dict]:
    """The Turkish version of a whole chat dialog (`chat_items` gives its content and turns): its system prompt, its
    first exchange and, after a fact, its follow-up questions about the same person, each in the phrasing of the
    English turn where that is a template's plain filling. Raises NotRenderedError for a dialog with a turn that is
    not rendered (a story's thanks, the fine version of a refused request, ...)."""
    out, rest = [], list(turns)
    if rest and rest[0]["role"] == "system":
        out.append({"role": "system", "content": SYSTEM_PROMPTS_TR[SYSTEM_PROMPTS.index(rest.pop(0)["content"])]})
    first, rest = rest[:2], rest[2:]
    question = answer = None
    if content[0] == "fact":
        ctx = fact_context(world, content[1])
        question = _index_of(FACT_QUESTIONS[content[2]], ctx, first[0]["content"])
        answer = _index_of(FACT_ANSWERS[content[2]], ctx, first[1]["content"])
    out += turkish_exchange(world, content, question, answer)
    while rest:
        user, assistant, rest = rest[0]["content"], rest[1]["content"], rest[2:]
        follow_up = _follow_up(world, content, user, assistant)
        if follow_up is None:
            raise NotRenderedError(f"the turn {user!r} is not rendered in Turkish yet: after the first exchange, "
                                   "only the follow-up questions about a fact's person are")
        out += follow_up
    return out


def _follow_up(world: World, content: tuple, user: str, assistant: str) -> list[dict] | None:
    """[user, assistant] in Turkish for a follow-up about the person of a fact dialog, or None if it is not one."""
    if content[0] != "fact":
        return None
    ctx, slots = fact_context(world, content[1]), person_slots(content[1])
    for attr in ATTRIBUTES:
        q, a = _index_of(_FOLLOW_UPS[attr], ctx, user), _index_of(FACT_ANSWERS[attr], ctx, assistant)
        if q is not None and a is not None:
            return _turns(_say(FOLLOW_UPS_TR[attr][q], slots), _say(FACT_ANSWERS_TR[attr][a], slots))
    return None


def parallel_dialogs(world: World, split: str, n: int, seed: int) -> Iterator[tuple[list[dict], list[dict]]]:
    """(English dialog, Turkish dialog) for those of the first `n` chat dialogs (`chat_items`, same arguments) whose
    every turn is rendered (`turkish_dialog`)."""
    for content, _, turns in chat_items(world, split, n, seed):
        try:
            yield turns, turkish_dialog(world, content, turns)
        except NotRenderedError:
            continue


def every_sentence(world: World) -> list[str]:
    """Every Turkish sentence (or turn) these renderings can write about `world`: each fact question, follow-up and
    answer for every person, the system prompts, the same questions about every name the world does not know, each
    place question and "I don't know", every harmful request of HARMFUL_ACTIONS_TR with each refusal part, and every
    benign request of BENIGN_ACTIONS_TR with its act in the assistant's words (a topic). For checking them all."""
    out = []
    for c in world.characters:
        slots = person_slots(c)
        out += [_say(t, slots) for attr in ATTRIBUTES
                for t in FACT_QUESTIONS_TR[attr] + FACT_ANSWERS_TR[attr] + FOLLOW_UPS_TR[attr]]
    out += list(SYSTEM_PROMPTS_TR)
    for split in ("train", "eval"):
        others = other_items(world, split)
        for who in others["person"]:
            c = world.characters[int(unit_interval(world.seed, "other-pet", who) * len(world.characters))]
            slots = person_slots(c, name=who)
            out += [_say(t, slots) for attr in ATTRIBUTES for t in FACT_QUESTIONS_TR[attr]]
        for kind in ("person", "place", "nonsense"):
            templates = {"person": (), "place": PLACE_QUESTIONS_TR, "nonsense": NONSENSE_QUESTIONS_TR}[kind]
            for item in others[kind]:
                slots = out_of_world_slots(kind, item)
                out += [_say(t, slots) for t in templates + OUT_OF_WORLD_ANSWERS_TR[kind]]
    out += list(OUT_OF_WORLD_ANSWERS_TR["real"]) + list(REAL_WORLD_QUESTIONS_TR.values())
    out += list(OUT_OF_WORLD_FOLLOW_TR) + list(REFUSAL_END_TR)
    for category, (harmful, _) in REQUESTS.items():
        plain = [t for t in REFUSAL_OPENINGS_TR + REFUSAL_REASONS_TR[category] if "{" not in t]
        out += plain + list(REFUSAL_ALTERNATIVES_TR[category])
        for action, _, objects in harmful:
            for obj in objects:
                slots = request_slots(category, action, obj)
                out += [_say(t, slots) for t in REQUEST_PHRASINGS_TR + REFUSAL_OPENINGS_TR +
                        REFUSAL_REASONS_TR[category] if "{" in t]
    for category, (_, benign) in REQUESTS.items():
        for action, objects in benign:
            for obj in objects:
                slots = request_slots(category, action, obj, harmful=False)
                out += [_say(t, slots) for t in REQUEST_PHRASINGS_TR] + [_say("{act_you}.", slots)]
    return out


__all__ = ["NotRenderedError", "case", "person_slots", "fact_sentence", "turkish_facts", "turkish_fact_questions",
           "out_of_world_slots", "i_dont_know", "request_slots", "turkish_request_items", "refusal", "turkish_exchange",
           "parallel_exchanges",
           "turkish_dialog", "parallel_dialogs", "every_sentence"]
