"""The grammar's checker: could the world's grammar have written this sentence? And how text splits into sentences.

Every sentence comes from a template registered with `_t` (or an utterance registered with `_q`): a one-sentence
string whose `{slots}` are filled from a fixed vocabulary. The vocabulary and the templates are in
`vocabulary.py`; this module adds the sentences registered whole (remarks, advice, system prompts, small talk).
Example: "{Name} lived in {town} with {his} {pet}, {pet_name}." -> "Ada lived in Applebury with her guinea pig, Lucky."
`is_grammatical(sentence)` compiles each template into a regex over the vocabulary
(-> "(?:Ada|Tom|...) lived in (?:Applebury|...) with (?:his|her) (?:dog|...), (?:Rex|...)\\.") and asks whether any
matches the whole sentence. Quoted speech and clauses are matched in two steps: the frame first
('{speaker} said, "{say}."', "How do I {act}?"), then the captured words against the utterance or clause templates
("hurt a dog": each action with its own objects). So it answers "could this grammar have produced this sentence?",
whatever the facts of a particular world; text from another world's seed is grammatical too.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache

from .phrasing import nonsense_words
from .templates import _a, _cap
from .vocabulary import (ADVICE, COLOURS, EVENTS, FOODS, FRUIT_SEEDS, GIFTS, HOBBIES, HOME_SPOTS, INDOOR, JOBS,
                         KIND_HEADS, KIND_TAILS, KNOWN_FOR, LANDMARKS, MORALS, NAMES, NATURE, NEAR, NERVOUS,
                         OTHER_NAMES, OTHER_PLACES, PETS, PET_NAMES, PLACES, REQUESTS, SAD, SCENE_ACTS, SMALL_TALK,
                         SPOTS, SYSTEM_PROMPTS, THINGS, TIMES, TOWN_NAMES, TROUBLES, UNKIND_HEADS, UNKIND_TAILS,
                         WEATHER, WILD, WILD_DOING, WORDS, _CLAUSES, _SENTENCES, _UTTERANCES, _q, _t,
                         in_assistant_words)


_BOUNDARY = re.compile(r'([.!?]"?)[ \t]+(?=["A-Z])')


def split_sentences(text: str) -> list[str]:
    """Split at line breaks and after . ! ? (and a closing quote) followed by a capital or an opening quote.

    Example: 'Ada smiled. "Have you seen Rex?" asked Tom.\\nQ: Where?' ->
             ['Ada smiled.', '"Have you seen Rex?" asked Tom.', 'Q: Where?']
    (A quote followed by "asked"/"said" stays in its sentence because the next word is lower case.)
    """
    out = []
    for line in text.splitlines():
        start = 0
        for m in _BOUNDARY.finditer(line):
            out.append(line[start:m.end(1)].strip())
            start = m.end()
        out.append(line[start:].strip())
    return [s for s in out if s]


# Sentences the grammar knows besides the templates of vocabulary.py: the kind and unkind remarks that documents
# quote (`documents._remark`), and the advice, system prompts and small talk of the chat data, sentence by sentence.
_q("say", "name", "{Kind_head}", "{Kind_head}, {kind_tail}", listener="other")
_q("say", "name", "{Unkind_head}", "{Unkind_head}, {unkind_tail}", listener="other")
_q("cry", "name", "{Kind_head}", "{Kind_head}, {kind_tail}", "{Unkind_head}", "{Unkind_head}, {unkind_tail}")
for _asks, _answers in ADVICE.values():
    for _text in _asks + _answers:
        _t(*split_sentences(_text))
for _text in SYSTEM_PROMPTS + tuple(SMALL_TALK) + tuple(a for v in SMALL_TALK.values() for a in v):
    _t(*split_sentences(_text))


# Which pool each slot draws from (for is_grammatical). Keys are matched after dropping a role prefix
# ("f_", "o_", "v_"), a trailing digit and the capital: "{F_his}" -> "his", "{town2}" -> "town".
_POOLS: dict[str, tuple[str, ...]] = {
    "name": NAMES, "friend": NAMES, "other": NAMES, "speaker": NAMES, "listener": NAMES, "visitor": NAMES,
    "he": ("he", "she"), "his": ("his", "her"), "him": ("him", "her"), "himself": ("himself", "herself"),
    "town": TOWN_NAMES, "near": tuple(n for n, _ in NEAR), "landmark": tuple(LANDMARKS),
    "material": tuple(sorted(set(LANDMARKS.values()))), "known_for": KNOWN_FOR,
    "water": tuple(w for _, w in NEAR if w),
    "job": tuple(JOBS), "a_job": tuple(_a(j) for j in JOBS), "workplace": tuple(sorted({w for w, _ in JOBS.values()})),
    "job_act": tuple(a for _, acts in JOBS.values() for a in acts),
    "pet": tuple(PETS), "a_pet": tuple(_a(p) for p in PETS), "pets": tuple(v[0] for v in PETS.values()),
    "pet_name": PET_NAMES, "pet_sound": tuple(sorted({v[1] for v in PETS.values()})),
    "pet_joy": tuple(sorted({v[2] for v in PETS.values()})),
    "food": FOODS, "colour": COLOURS, "hobby": HOBBIES, "thing": THINGS, "place": PLACES, "spot": SPOTS,
    "home_spot": HOME_SPOTS, "time": TIMES, "weather": WEATHER, "sad": SAD, "nervous": NERVOUS, "event": EVENTS,
    "trouble": TROUBLES, "indoor": INDOOR, "a_gift": GIFTS, "moral": MORALS, "wild": tuple(WILD),
    "a_wild": tuple(_a(w) for w in WILD), "wilds": tuple(v[0] for v in WILD.values()),
    "wild_go": tuple(sorted({v[1] for v in WILD.values()})), "wild_doing": WILD_DOING, "nature": NATURE,
    "scene_act": SCENE_ACTS, "fruit_seed": FRUIT_SEEDS,
    "kind_head": KIND_HEADS, "kind_tail": KIND_TAILS[1:], "unkind_head": UNKIND_HEADS, "unkind_tail": UNKIND_TAILS[1:],
}
_POOLS["a_landmark"] = tuple(_a(lm) for lm in LANDMARKS)
_ALL_OBJECTS = tuple(sorted({o for h, b in REQUESTS.values() for a in h for o in a[2]} |
                            {o for h, b in REQUESTS.values() for a in b for o in a[1]}))
_POOLS["obj_you"] = tuple(dict.fromkeys(map(in_assistant_words, _ALL_OBJECTS)))
_POOLS["word"] = tuple(WORDS)
_POOLS["who"], _POOLS["where"], _POOLS["made_up"] = OTHER_NAMES, OTHER_PLACES, tuple(nonsense_words())
_POOLS["definition"] = tuple(d for d, _ in WORDS.values())
_POOLS["example"] = tuple(e for _, e in WORDS.values())


def sentence_templates() -> tuple[str, ...]:
    """Every one-sentence template the grammar knows, in the order registered: the vocabulary's first, then the
    advice, system prompts and small talk split into sentences. Quoted words and clauses have tables of their own."""
    return tuple(_SENTENCES)


def _slot_values(key: str) -> tuple[str, ...]:
    base = re.sub(r"^(f_|o_|v_)", "", key[:1].lower() + key[1:])
    base = base.rstrip("0123456789")
    if base not in _POOLS:
        raise KeyError(f"slot {{{key}}} has no vocabulary pool; add it to _POOLS")
    values = _POOLS[base]
    return tuple(_cap(v) for v in values) if key[:1].isupper() else values


def _sub_grammar(key: str) -> str | None:
    """The table that checks a slot filled by a whole sub-template (quoted words, a clause), or None."""
    low = key[:1].lower() + key[1:]
    return low if low in _UTTERANCES or low in _CLAUSES else None


def template_pattern(template: str, lazy: bool = False) -> str:
    """Regex text for a template. Vocabulary slots become alternations of their pool; a sub-grammar slot becomes
    a capture group, checked afterwards against its own table (so `{act}` is not pasted into every template).
    Example: '{Name} asked, "{ask}?"' -> '(?:Ada|Tom|...)\\ asked,\\ "([^"]+)\\?"'."""
    out = []
    for literal, key, _, _ in string.Formatter().parse(template):
        out.append(re.escape(literal))
        if key is None:
            continue
        sub = _sub_grammar(key)
        if sub in _UTTERANCES:
            out.append('([^"]+)')
        elif sub:
            out.append("(.+?)" if lazy else "(.+)")
        else:
            values = sorted(set(_slot_values(key)), key=len, reverse=True)
            out.append("(?:" + "|".join(map(re.escape, values)) + ")")
    return "".join(out)


def _first_words(template: str) -> set[str]:
    """The words a template's sentences can start with ('"' for a quote), to look up candidate templates fast."""
    literal, key, _, _ = next(iter(string.Formatter().parse(template)))
    if literal:
        return {'"'} if literal[0] == '"' else {re.match(r"[A-Za-z]+", literal).group()}
    sub = _sub_grammar(key)
    if sub:
        return {_cap(w) if key[:1].isupper() else w for t in _CLAUSES[sub] for w in _first_words(t)}
    return {re.match(r"[A-Za-z]+", v).group() for v in _slot_values(key)}


def _first_word(sentence: str) -> str:
    if sentence.startswith('"'):
        return '"'
    m = re.match(r"[A-Za-z]+", sentence)
    return m.group() if m else ""


@dataclass
class _Rule:
    regexes: tuple[re.Pattern, ...]           # greedy, and lazy too when a clause capture could split two ways
    groups: tuple[tuple[str, bool], ...]      # per capture group: (sub-grammar table, capitalised?)


@lru_cache(maxsize=None)
def _grammar() -> dict[str, dict[str, list[_Rule]]]:
    """{"sentence" | "say" | "ask" | "cry" | clause name: {first word: [rules]}}; compiled once, on first use."""
    tables = {}
    for name, templates in [("sentence", _SENTENCES), *_UTTERANCES.items(), *_CLAUSES.items()]:
        table: dict[str, list[_Rule]] = {}
        for template in dict.fromkeys(templates):
            keys = [k for _, k, _, _ in string.Formatter().parse(template) if k and _sub_grammar(k)]
            groups = tuple((_sub_grammar(k), k[:1].isupper()) for k in keys)
            regexes = [re.compile(template_pattern(template))]
            if any(g not in _UTTERANCES for g, _ in groups):
                regexes.append(re.compile(template_pattern(template, lazy=True)))
            rule = _Rule(tuple(regexes), groups)
            for w in _first_words(template):
                table.setdefault(w, []).append(rule)
        tables[name] = table
    return tables


def _matches(text: str, table: str) -> bool:
    for rule in _grammar()[table].get(_first_word(text), ()):
        for regex in rule.regexes:
            m = regex.fullmatch(text)
            if m and all(_matches(m.group(i + 1)[:1].lower() + m.group(i + 1)[1:] if cap else m.group(i + 1), sub)
                         for i, (sub, cap) in enumerate(rule.groups)):
                return True
    return False


def is_grammatical(sentence: str) -> bool:
    """True when some template of the world's grammar, filled from its vocabulary, gives exactly `sentence`.

    A leading "Q: " or "A: " is ignored. Example: is_grammatical("Ada lived in Applebury with her guinea pig,
    Lucky.") is True; is_grammatical("Ada lived Applebury in with her guinea pig, Lucky.") is False.
    """
    s = sentence.strip()
    if s.startswith(("Q: ", "A: ")):
        s = s[3:]
    return _matches(s, "sentence")
