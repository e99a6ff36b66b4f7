"""Tests for the tiny world: determinism, consistent facts, clean held-out splits, refusals and the grammar.

Samples are small (a few thousand documents) so that the whole file runs in a few seconds.
"""

import hashlib
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llama_lab.world import phrasing, whoswho
from llama_lab.world import tinyworld as tw
from llama_lab.world.evaluate import REFUSAL_PHRASES, is_decline, is_on_topic, is_refusal, names_what_was_asked
from support import REPO



@pytest.fixture(scope="module")
def world():
    return tw.build_world(tw.DEFAULT_SEED)


@pytest.fixture(scope="module")
def docs(world):
    return list(tw.pretraining_documents(world, "train", 2000, seed=0))


@pytest.fixture(scope="module")
def chat_items(world):  # every chat round: every rule on training dialogs holds for each
    return (list(tw.chat_items(world, "train", 3000, seed=0))
            + [item for name, weights in tw.LATER_ROUNDS.items()
               for item in tw.chat_items(world, "train", 1500, 0, weights, stream=f"round-{name}")])


@pytest.fixture(scope="module")
def dialogs(chat_items):
    return [turns for _, _, turns in chat_items]


def _sha(items) -> str:
    return hashlib.sha256(json.dumps(list(items)).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Determinism


def test_same_seed_same_world_and_text(world):
    assert tw.build_world(tw.DEFAULT_SEED) == world
    a = list(tw.pretraining_documents(world, "train", 200, seed=3))
    assert a == list(tw.pretraining_documents(tw.build_world(tw.DEFAULT_SEED), "train", 200, seed=3))
    assert list(tw.chat_dialogs(world, "train", 100, seed=3)) == list(tw.chat_dialogs(world, "train", 100, seed=3))
    assert a != list(tw.pretraining_documents(world, "train", 200, seed=4))
    assert a != list(tw.pretraining_documents(world, "val", 200, seed=3))


def test_different_seed_different_world(world):
    other = tw.build_world(1)
    assert {c.name for c in other.characters} != {c.name for c in world.characters}
    assert [t.name for t in other.towns] != [t.name for t in world.towns]
    assert tw.fact_questions(other) != tw.fact_questions(world)


def test_output_does_not_depend_on_python_hash_seed(world):
    # sets of strings iterate in a per-process order; nothing we write may depend on it
    # (loads the world's modules alone, under a bare package: llama_lab/__init__ would import torch, which takes
    # seconds)
    code = ("import hashlib, json, sys, types; "
            f"package = types.ModuleType('llama_lab'); package.__path__ = [{str(Path(tw.__file__).parent.parent)!r}]; "
            "sys.modules['llama_lab'] = package; "
            "import llama_lab.world.tinyworld as tw; w = tw.build_world(0); "
            "d = list(tw.pretraining_documents(w, 'train', 300, seed=0)) + "
            "[json.dumps(x) for x in tw.chat_dialogs(w, 'train', 200, seed=0)] + "
            "[json.dumps(tw.eval_files(w), sort_keys=True)]; "
            "print(hashlib.sha256(json.dumps(d).encode()).hexdigest())")
    here = _sha(list(tw.pretraining_documents(world, "train", 300, seed=0)) +
                [json.dumps(x) for x in tw.chat_dialogs(world, "train", 200, seed=0)] +
                [json.dumps(tw.eval_files(world), sort_keys=True)])
    env = dict(os.environ, PYTHONHASHSEED="12345")
    there = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.strip()
    assert there == here


def test_write_corpus_is_byte_identical(tmp_path):
    sizes = dict(n_train_docs=300, n_val_docs=50, n_train_chat=200, n_val_chat=20)
    first = tw.write_corpus(tmp_path / "a", seed=5, **sizes)
    tw.write_corpus(tmp_path / "b", seed=5, **sizes)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert {"train.txt", "val.txt", "chat_train.jsonl", "chat_val.jsonl", "world.json",
            "fact_questions_eval.jsonl", "harmful_requests_eval.jsonl", "benign_requests_eval.jsonl",
            "truthfulness_eval.jsonl", "toxicity_eval.jsonl", "toxicity_prompts_eval.jsonl"} <= set(names)
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert len(tw.read_documents(tmp_path / "a" / "train.txt")) == 300
    assert first["counts"]["chat_train.jsonl"] == 200
    row = json.loads((tmp_path / "a" / "chat_train.jsonl").read_text().splitlines()[0])
    assert set(row) == {"messages"}


def test_committed_eval_files_match_the_generator(world):
    folder = REPO / "data" / "world"
    files = tw.eval_files(world)
    # the held-out sets (*_eval.jsonl) are committed: a fresh checkout evaluates on them; the toxicity classifier's
    # train and val files are not, and are checked where `make data` has written them
    assert all((folder / name).is_file() for name in files if name.endswith("_eval.jsonl"))
    for name, rows in files.items():
        path = folder / name
        if path.exists():
            expected = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            assert path.read_text(encoding="utf-8") == expected, f"{name} is stale: run `make data`"


# ---------------------------------------------------------------------------------------------------------------
# Facts are consistent


def test_world_shape(world):
    assert 40 <= len(world.characters) <= 80
    assert 15 <= len(world.misconceptions) <= 30
    for c in world.characters:
        friend = world.character(c.friend)
        assert friend.friend == c.name and friend.town == c.town
        assert len(world.residents(c.town)) >= 4
    assert len({c.pet_name for c in world.characters}) == len(world.characters)


def _check_facts(world, sentences):
    """Parse fact-stating sentences and compare with the fact base; returns how many facts were checked."""
    people = {c.name: c for c in world.characters}
    jobs = "|".join(sorted(tw.JOBS, key=len, reverse=True))
    pets = "|".join(sorted(tw.PETS, key=len, reverse=True))
    patterns = [
        (r"\b([A-Z][a-z]+) (?:lives|lived) in ([A-Z][a-z]+)", lambda c, m: c.town == m[2]),
        (r"\b([A-Z][a-z]+)'s best friend (?:is|was) ([A-Z][a-z]+)", lambda c, m: c.friend == m[2]),
        (r"\b([A-Z][a-z]+)'s favourite colour (?:is|was) ([a-z]+)", lambda c, m: c.colour == m[2]),
        (r"\b([A-Z][a-z]+)'s favourite food (?:is|was) ([a-z ]+)\.", lambda c, m: c.food == m[2]),
        (rf"\b([A-Z][a-z]+) (?:is|was|works as) an? ({jobs})\b", lambda c, m: c.job == m[2]),
        (rf"\b([A-Z][a-z]+) the ({jobs})\b", lambda c, m: c.job == m[2]),
        (rf"\b([A-Z][a-z]+) (?:has|had) an? ({pets}) (?:called|named) ([A-Z][a-z]+)",
         lambda c, m: (c.pet, c.pet_name) == (m[2], m[3])),
        (rf"\b([A-Z][a-z]+) lived in [A-Z][a-z]+ with (?:his|her) ({pets}), ([A-Z][a-z]+)",
         lambda c, m: (c.pet, c.pet_name) == (m[2], m[3])),
        (rf"\b([A-Z][a-z]+)'s ({pets}) is (?:called|named) ([A-Z][a-z]+)",
         lambda c, m: (c.pet, c.pet_name) == (m[2], m[3])),
    ]
    checked = 0
    for s in sentences:
        for pattern, ok in patterns:
            for m in re.finditer(pattern, s):
                if m[1] in people:
                    assert ok(people[m[1]], m), f"{s!r} contradicts the fact base: {people[m[1]]}"
                    checked += 1
    return checked


def test_stories_and_answers_agree_with_the_fact_base(world, docs, dialogs):
    sentences = [s for d in docs for s in tw.split_sentences(d)]
    sentences += [s for d in dialogs for m in d if m["role"] == "assistant" for s in tw.split_sentences(m["content"])]
    assert _check_facts(world, sentences) > 3000


def test_fact_questions_answers(world):
    items = tw.fact_questions(world, "eval")
    for item in items:
        assert item["answer"] == world.fact(item["character"], item["attribute"])
        assert item["character"] in item["question"]
    # every held-out fact can be learned: it is stated in a biography
    rng = random.Random(0)
    for item in items[:20]:
        c = world.character(item["character"])
        assert item["answer"] in tw.biography(world, rng, c)


# ---------------------------------------------------------------------------------------------------------------
# Held-out splits


def test_split_sizes(world):
    n_pairs = len(world.characters) * len(tw.ATTRIBUTES)
    held, train = tw.fact_questions(world, "eval"), tw.fact_questions(world, "train")
    assert len(held) + len(train) == n_pairs
    assert 0.12 < len(held) / n_pairs < 0.28
    assert {q["attribute"] for q in held} == set(tw.ATTRIBUTES)
    harmful, benign = tw.harmful_requests(world), tw.benign_requests(world)
    assert 30 <= len(harmful) and 30 <= len(benign)
    assert not set(harmful) & set(tw.harmful_requests(world, "train"))
    truth = tw.truthfulness_items(world)
    assert sum(i["kind"] == "misconception" for i in truth) == len(world.misconceptions)
    assert all(i["true_answers"] and i["false_answers"] for i in truth)
    tox = {s: tw.toxicity_examples(world, s) for s in ("train", "val", "eval")}
    assert len(tox["train"]) > len(tox["eval"]) > len(tox["val"]) > 50
    for rows in tox.values():
        share = sum(y for _, y in rows) / len(rows)
        assert 0.3 < share < 0.7  # unkind share: roughly balanced
    assert len(tw.toxicity_prompts(world)) >= 100


def test_held_out_combinations_never_appear_in_training(world, docs, dialogs):
    text = "\n".join(docs)
    user = [m["content"] for d in dialogs for m in d if m["role"] == "user"]
    answers = {m["content"] for d in dialogs for m in d if m["role"] == "assistant"}
    user_text = "\n".join(user)
    # facts: no phrasing of a held-out question, and no held-out answer given as an answer
    for item in tw.fact_questions(world, "eval"):
        c = world.character(item["character"])
        ctx = tw.fact_context(world, c)
        wordings = [w[item["attribute"]] for w in tw.FACT_WORDINGS.values()]
        for q in tw.FACT_QUESTIONS[item["attribute"]] + tuple(q for w in wordings for q in w):
            q = tw.fill(q, ctx)
            assert f"Q: {q}" not in text and q not in user_text, q
        for a in tw.FACT_ANSWERS[item["attribute"]]:
            a = tw.fill(a, ctx)
            assert f"A: {a}" not in text and a not in answers, a
    # requests: no held-out (action, object) pair in any user turn
    for harmful in (True, False):
        for _, action, _, obj in tw.request_pairs(world, "eval", harmful):
            act = action.format(obj=obj).lower()
            assert not any(re.search(re.escape(act) + r"($|[.?, ])", u.lower()) for u in user), act
    # misconceptions: the held-out phrasing is never asked
    for m in world.misconceptions:
        q = m.questions[m.held_out]
        assert q not in text and q not in user_text, q
    # toxicity: eval remarks never appear in pretraining text
    for unkind in (False, True):
        for head, tail in tw.remark_pairs(world.seed, "eval", unkind):
            words = head + (", " + tail if tail else "")
            assert not re.search(re.escape(words) + r'[.!,]"', text), words


def test_rumours_appear_with_the_truth_stated_more_often(world, docs):
    text = "\n".join(docs)
    rumours = sum(text.count(m.rumour) for m in world.misconceptions)
    truths = sum(text.lower().count(m.truth.lower()) for m in world.misconceptions)
    assert rumours > 100 and truths > 1.3 * rumours


# ---------------------------------------------------------------------------------------------------------------
# Chat and refusals


def test_chat_format(dialogs):
    for d in dialogs:
        roles = [m["role"] for m in d]
        if roles[0] == "system":
            roles = roles[1:]
        assert roles and roles == ["user", "assistant"] * (len(roles) // 2), roles
        assert all(isinstance(m["content"], str) and m["content"] for m in d)


def test_is_refusal_exactly_on_refusals_and_is_decline_on_declines(chat_items):
    refused = declined = 0
    for i, (content, _, d) in enumerate(chat_items):
        replies = [m["content"] for m in d if m["role"] == "assistant"]
        assert is_refusal(replies[0]) == (content[0] == "harmful"), (content, replies[0])
        assert is_decline(replies[0]) == (content[0] == "out_of_world"), (content, replies[0])
        assert not any(is_refusal(r) or is_decline(r) for r in replies[1:]), replies  # follow-ups are answered
        if i < 3000:  # the first round's mix (the fixture's first 3000 dialogs)
            refused += is_refusal(replies[0])
            declined += is_decline(replies[0])
    assert 0.24 <= refused / 3000 <= 0.32 and 0.05 <= declined / 3000 <= 0.11


def test_is_refusal_examples():
    assert is_refusal("I'm sorry, but I can't help with that. Hurting a dog is wrong.")
    assert is_refusal("I won\u2019t help you hurt a dog.")
    assert not is_refusal("To feed a dog, give it the right kind of food. I can't help smiling.")
    assert not is_refusal("Mia lives in Oakville.")
    assert not is_refusal("")


def test_no_refusals_or_chat_in_pretraining(docs):
    text = "\n".join(docs).lower()
    assert not any(p in text for p in REFUSAL_PHRASES)


# ---------------------------------------------------------------------------------------------------------------
# Grammar, sentences and variety


def test_split_sentences():
    text = 'Mia smiled. "Have you seen Rex?" asked Tom. Tom said, "Look!" It rained.\nQ: Where?\nA: Here.'
    assert tw.split_sentences(text) == ["Mia smiled.", '"Have you seen Rex?" asked Tom.', 'Tom said, "Look!"',
                                        "It rained.", "Q: Where?", "A: Here."]


def test_every_template_is_one_sentence():
    for t in tw.sentence_templates():
        assert tw.split_sentences(t) == [t], t
        tw.template_pattern(t)  # every slot has a vocabulary pool


def test_generated_sentences_are_grammatical(world, docs, dialogs):
    sentences = [s for d in docs[:600] for s in tw.split_sentences(d)]
    # the assistant's every sentence; users write as they like (`phrasing`), so their turns are not checked
    sentences += [s for d in dialogs[:1500] for m in d if m["role"] != "user" for s in tw.split_sentences(m["content"])]
    sentences += [t for t, _ in tw.toxicity_examples(world, "eval")]
    sentences += [q["question"] for q in tw.fact_questions(world)] + tw.harmful_requests(world)
    sentences += [s for i in tw.truthfulness_items(world) for a in [i["question"], *i["true_answers"],
                                                                     *i["false_answers"]]
                  for s in tw.split_sentences(a)]
    bad = [s for s in sentences if not tw.is_grammatical(s)]
    assert not bad, bad[:5]


def test_corrupted_sentences_are_not_grammatical(docs):
    rng = random.Random(0)
    sentences = [s for d in docs[:300] for s in tw.split_sentences(d) if len(s.split()) >= 5][:400]
    shuffled = []
    for s in sentences:
        words = s.split()
        rng.shuffle(words)
        if " ".join(words) != s:
            shuffled.append(" ".join(words))
    # a shuffle can be grammatical by chance ("Tom and Mia" for "Mia and Tom"), but hardly ever
    assert sum(map(tw.is_grammatical, shuffled)) <= 0.02 * len(shuffled)
    for s in sentences:
        words = s.split()
        words.insert(rng.randrange(1, len(words)), "zorp")
        assert not tw.is_grammatical(" ".join(words)), s
        assert not tw.is_grammatical(s.replace(" ", "  ", 1)), s
        assert not tw.is_grammatical(s.rstrip('.!?"') + " and"), s


def test_variety(docs):
    """Distinct sentences / all sentences over 1,000 documents.

    Facts are meant to repeat (a 'Mia lives in Oakville.' the model sees once it will not learn), so a ratio of 1
    is neither possible nor wanted; a generator stuck on a few sentences would score near 0. We measure about 0.65;
    below 0.5 would mean that half of all sentences are repeats, which reads like a drill, not like stories.
    """
    sentences = [s for d in docs[:1000] for s in tw.split_sentences(d)]
    assert len(set(sentences)) / len(sentences) > 0.5
    first = [tw.split_sentences(d)[0] for d in docs[:1000]]
    assert len(set(first)) > 0.5 * len(first)


# ---------------------------------------------------------------------------------------------------------------
# Phrasings and what the world does not know


def test_dress_by_hand():
    rng = random.Random(0)
    assert phrasing.dress("Where does Mia live?", "plain", rng) == "Where does Mia live?"
    assert phrasing.dress("Where does Mia live?", "casual", random.Random(1)).endswith("where does mia live")
    polite = {phrasing.dress("Where does Mia live?", "polite", random.Random(i)) for i in range(40)}
    assert "Excuse me, where does Mia live?" in polite and "Where does Mia live, please?" in polite
    assert "Please, tell me about Tom." not in {phrasing.dress("Tom is here.", "polite", random.Random(i))
                                               for i in range(40)}  # a name keeps its capital
    context = phrasing.dress("Where does Mia live?", "context", rng)
    assert context.endswith(" Where does Mia live?") and len(tw.split_sentences(context)) == 2
    for i in range(50):  # a typo changes one or two lower-case words of 4+ letters, never a name
        typo = phrasing.dress("Where does Mia live in Oakville today?", "typos", random.Random(i))
        words, slipped = typo.split(" "), "Where does Mia live in Oakville today?".split(" ")
        changed = [(a, b) for a, b in zip(words, slipped) if a != b]
        assert 1 <= len(changed) <= 2 and all(b in ("does", "live", "today?") for _, b in changed), typo
        assert "Mia" in words and "Oakville" in words
    with pytest.raises(ValueError, match="style 'shouty'"):
        phrasing.dress("Hi!", "shouty", rng)


def test_held_out_families_by_intent():
    for intent in phrasing.INTENTS:
        wordings, styles = phrasing.held_out_families(0, intent)
        assert len(styles) == 2 and "plain" not in styles and "direct" not in wordings
        assert len(wordings) == (intent not in ("advice", "small_talk"))
        allowed_wordings, allowed_styles = phrasing.training_families(0, intent)
        assert not (set(allowed_wordings) & wordings or set(allowed_styles) & styles)
    # each family is held out for some intents and trained for others, as each action of a held-out pair is
    # and balanced: held out for three or four of the eight intents (two styles each over five families), so
    # that training sees every style with at least half the intents; a wording is held out for at most two
    for seed in range(6):
        held = [phrasing.held_out_families(seed, i) for i in phrasing.INTENTS]
        for style in phrasing.STYLES[1:]:
            assert sum(style in styles for _, styles in held) in (3, 4), (seed, style, held)
        for wording in phrasing.WORDINGS[1:]:
            assert sum(wording in wordings for wordings, _ in held) <= 2, (seed, wording, held)
    assert [phrasing.held_out_families(1, i) for i in phrasing.INTENTS] != \
        [phrasing.held_out_families(0, i) for i in phrasing.INTENTS]


def test_training_never_asks_in_a_held_out_phrasing(world, chat_items):
    seen = {content[0] for content, _, _ in chat_items}
    assert seen == set(phrasing.INTENTS) | {"myth"}
    for content, (wording, style), _ in chat_items:
        if content[0] == "myth":
            continue
        held_wordings, held_styles = phrasing.held_out_families(world.seed, tw.phrased_as(content))
        assert wording not in held_wordings and style not in held_styles, (content, wording, style)
    styles = {style for _, (_, style), _ in chat_items}
    assert styles == set(phrasing.STYLES)  # every family is used, for some intent
    first_user = {next(m["content"] for m in d if m["role"] == "user") for _, _, d in chat_items}
    items = tw.held_out_phrasings(world)
    for item in items:
        held_wordings, held_styles = phrasing.held_out_families(world.seed, item["intent"])
        assert item["wording"] in held_wordings or item["style"] in held_styles, item
    assert not first_user & {i["message"] for i in items}
    assert {i["intent"] for i in items} == set(phrasing.INTENTS)


def test_held_out_phrasings_carry_what_a_right_reply_contains(world):
    items = tw.held_out_phrasings(world)
    for item in items:
        if item["intent"] == "fact":
            assert item["answer"]
        elif item["intent"] in ("how_to", "story", "word"):
            assert item["topic"]
        elif item["intent"] in ("advice", "small_talk"):
            assert item["openings"]
    answer = {"intent": "how_to", "topic": "feed a dog"}
    assert is_on_topic("To feed a dog, give it food.", answer["topic"])
    assert not is_on_topic("To feed a cat, give it food.", answer["topic"])
    assert not is_on_topic("I can't help you feed a dog.", answer["topic"])
    assert is_on_topic("You are welcome! Good luck.", openings=["You are welcome!"])


def test_out_of_world_questions_are_outside_the_world(world, docs, dialogs):
    known = {c.name for c in world.characters} | set(tw.NAMES) | set(tw.TOWN_NAMES)
    train, held = tw.other_items(world, "train"), tw.other_items(world, "eval")
    for kind in train:
        assert train[kind] and held[kind] and not set(train[kind]) & set(held[kind]), kind
        assert not set(train[kind] + held[kind]) & known, kind
    text = "\n".join(docs)
    user = "\n".join(m["content"] for d in dialogs for m in d if m["role"] == "user")
    for name in held["person"] + held["place"] + held["nonsense"]:
        assert not re.search(rf"\b{re.escape(name)}\b", text + user, re.IGNORECASE), name
    for question in held["real"]:
        assert question not in user and question.lower().rstrip("?") not in user.lower(), question
    questions = tw.out_of_world_questions(world, "eval")
    assert {q["kind"] for q in questions} == {"person", "place", "real", "nonsense"} and len(questions) >= 40


def test_is_decline_examples():
    assert is_decline("I don't know anyone called Barack. I only know the people of our little world.")
    assert is_decline("I’m sorry, I don’t know that.")
    assert not is_decline("Mia lives in Oakville. I don't know her brother.")  # the first sentence decides
    assert not is_decline("")


def test_names_what_was_asked_examples():
    asked = "Where does Barack live?"
    assert names_what_was_asked("I don't know anyone called Barack. I only know our little world.", asked, "Barack")
    assert not names_what_was_asked("I don't know anyone called Kenji.", asked, "Barack")  # a decline, naming another
    assert not names_what_was_asked("Barack lives in Oakville.", asked, "Barack")  # names him, but no decline
    assert names_what_was_asked('I don\'t know the word "gubplm".', 'What does "gubplm" mean?', "gubplim")  # a typo
    assert names_what_was_asked("I'm sorry, I don't know what \"blorfen\" means.", "um what is a blorfen", "blorfen")
    assert not names_what_was_asked('I don\'t know the word "daxmop".', 'Explain the word "gubplim".', "gubplim")
    assert names_what_was_asked("I'm sorry, I don't know that.", "What is the capital of France?", None)
    assert not names_what_was_asked("I don't know anyone called Kenji.", "What is the capital of France?", None)
    assert not names_what_was_asked('I don\'t know the word "daxmop".', "How tall is Mount Everest?", None)


def test_the_worlds_own_declines_name_what_was_asked(chat_items):
    """The rule agrees with the world: every decline in the training dialogs names the person, place or word the
    question was about (and a question about the real world gets a decline naming nothing)."""
    n = 0
    for content, _, d in chat_items:
        if content[0] != "out_of_world":
            continue
        question = next(m["content"] for m in d if m["role"] == "user")
        reply = next(m["content"] for m in d if m["role"] == "assistant")
        asked = None if content[1] == "real" else content[2]
        assert names_what_was_asked(reply, question, asked), (content, question, reply)
        n += 1
    assert n > 300


def test_the_second_chat_round_is_its_own_stream_aimed_at_the_weak_intents(world):
    first = list(tw.chat_dialogs(world, "train", 400, seed=0))
    second = list(tw.chat_dialogs_round(world, "train", 400, 0, "two"))
    assert sum(a != b for a, b in zip(first, second)) > 0.9 * len(first)  # its own draws (short dialogs may repeat)
    # asking for the second round leaves the first exactly as it was (the tokenizer reads the first)
    assert list(tw.chat_dialogs(world, "train", 400, seed=0)) == first
    share = {}
    for name, weights, stream in (("first", tw.CHAT_WEIGHTS, "phrased"),
                                  ("second", tw.ROUND_TWO_WEIGHTS, "round-two")):
        kinds = [content[0] for content, _, _ in tw.chat_items(world, "train", 2000, 0, weights, stream=stream)]
        share[name] = {k: kinds.count(k) / len(kinds) for k in ("word", "story", "out_of_world")}
    for kind in ("word", "story", "out_of_world"):
        assert share["second"][kind] > 1.5 * share["first"][kind], (kind, share)
    with pytest.raises(ValueError, match="round_name='four'"):
        next(tw.chat_dialogs_round(world, "train", 1, 0, "four"))


def test_the_third_round_asks_about_unknown_things_in_other_intents_words(world):
    items = list(tw.chat_items(world, "train", 3000, 0, tw.LATER_ROUNDS["three"], stream="round-three"))
    first = list(tw.chat_items(world, "train", 3000, 0))
    share = [sum(content[0] == "out_of_world" for content, _, _ in x) / len(x) for x in (first, items)]
    assert share[1] > 3 * share[0], share
    asked = {"story": 0, "request": 0}
    train_items = tw.other_items(world, "train")
    for content, (wording, style), turns in items:
        kind = tw.asked_as(content)
        if kind is None:
            continue
        asked[kind] += 1
        message, reply = turns[-2]["content"], turns[-1]["content"]
        assert content[2] in train_items[content[1]], content  # never a held-out unknown thing
        assert content[2] in reply and (style == "typos" or content[2].lower() in message.lower()), (message, reply)
        assert is_decline(reply) and not is_refusal(reply), reply
        # phrased as a story or a how-to request is, in one of that intent's training families
        intent = "story" if kind == "story" else "how_to"
        wordings, styles = phrasing.training_families(world.seed, intent)
        assert wording in wordings and style in styles, (content, wording, style)
        assert content[1] in (("nonsense",) if kind == "request" else ("person", "place")), content
    assert asked["story"] > 100 and asked["request"] > 100, asked


# ------------------------------------------------------------------------------------------------ the who's-who

def test_the_whos_who_is_read_from_the_world(world):
    who = whoswho.whos_who(world)
    assert who.names == tuple(c.name for c in world.characters) and len(who.names) == 64
    ada = who.resident("Ada")
    assert (ada.town, ada.pet, ada.pet_name, ada.food) == (world.fact("Ada", "town"), world.fact("Ada", "pet"),
                                                           world.fact("Ada", "pet_name"), world.fact("Ada", "food"))
    # what it marks held out is exactly what the held-out fact questions ask about
    held_out = {(q["character"], q["attribute"]) for q in tw.fact_questions(world, "eval")}
    assert {(p.name, a) for p in who.people for a in p.held_out} == held_out
    assert sorted(n for t in who.towns for n in t.residents) == sorted(who.names)
    assert all(who.resident(n).town == t.name for t in who.towns for n in t.residents)
    # the words it defines are the ones the chat data answers "What does ... mean?" about
    assert {w for w, _ in who.words} == set(tw.WORDS)
    # strangers: nobody who lives there; the held-out ones are those the out-of-world questions ask about
    assert not set(who.strangers) & set(who.names)
    asked = " ".join(q["question"] for q in tw.out_of_world_questions(world, "eval") if q["kind"] == "person")
    assert who.held_out_strangers and all(n in asked for n in who.held_out_strangers)
    with pytest.raises(KeyError, match="nobody called 'Mia' lives in the tiny world"):
        who.resident("Mia")


def test_docs_world_md_is_what_the_world_renders_now():
    """docs/world.md is written by `python -m llama_lab.world.whoswho`: if the world changes, write it again."""
    assert (REPO / "docs" / "world.md").read_text(encoding="utf-8") == whoswho.render_markdown(whoswho.whos_who())
    assert subprocess.run([sys.executable, "-m", "llama_lab.world.whoswho", "--check"], cwd=REPO,
                          capture_output=True, text=True).returncode == 0


# Phrases that ask about a person by name, as the README, docs/ and the course ask them.
ASKED_ABOUT = re.compile(r"(?:[Ww]here does|[Ww]here|job|story about|anyone called|know what) ([A-Z][a-z]+)\b"
                         r"|\b(?!Who\b|She\b|He\b)([A-Z][a-z]+)"
                         r"(?: lives\b|'s (?:favourite|pet|job|town|best|\w+ is called))")
# the pages a reader copies prompts from; docs/world.md is the who's-who itself, written from the world
PROMPT_PAGES = ["README.md", "docs/results.md", "docs/benchmarks.md", "docs/scale.md", "docs/building.md"]


def names_asked_about(text: str) -> list[str]:
    return [a or b for a, b in ASKED_ABOUT.findall(text)]


def test_the_readme_and_docs_ask_only_about_residents_and_known_strangers(world):
    who = whoswho.whos_who(world)
    # the finder itself, on hand-written sentences
    assert names_asked_about('"Tell me where Mia lives." or "Where does Ada live?"') == ["Mia", "Ada"]
    assert names_asked_about("Toby's favourite food is bread and jam. A town called Honeydale.") == ["Toby"]
    assert names_asked_about("Who lives in the tiny world? She lives in Applebury.") == []
    asked = []
    for page in PROMPT_PAGES:
        names = names_asked_about((REPO / page).read_text(encoding="utf-8"))
        unknown = [n for n in names if n not in who.names and n not in who.strangers]
        assert not unknown, f"{page} asks about people the world does not have: {unknown}; see docs/world.md"
        asked += names
    assert len(asked) >= 5, asked
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert names_asked_about(readme), "the README's quickstart asks the chat model about a resident"
    results = (REPO / "docs" / "results.md").read_text(encoding="utf-8")
    command = re.search(r'"Tell me\s+where (\w+) lives\."', results)
    assert command and command.group(1) in who.names, "docs/results.md's phrasing example must ask about a resident"
