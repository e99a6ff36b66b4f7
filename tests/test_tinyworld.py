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

from llama_lab.world import tinyworld as tw
from llama_lab.world.evaluate import REFUSAL_PHRASES, is_refusal

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world():
    return tw.build_world(tw.DEFAULT_SEED)


@pytest.fixture(scope="module")
def docs(world):
    return list(tw.pretraining_documents(world, "train", 2000, seed=0))


@pytest.fixture(scope="module")
def dialogs(world):
    return list(tw.chat_dialogs(world, "train", 2000, seed=0))


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
    if not (folder / "fact_questions_eval.jsonl").exists():
        pytest.skip("data/world has not been generated")
    for name, rows in tw.eval_files(world).items():
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
        assert item["answer"] in tw._biography(world, rng, c)


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
        ctx = tw._fact_ctx(world, c)
        for q in tw.FACT_QUESTIONS[item["attribute"]]:
            q = tw._fill(q, ctx)
            assert f"Q: {q}" not in text and q not in user_text, q
        for a in tw.FACT_ANSWERS[item["attribute"]]:
            a = tw._fill(a, ctx)
            assert f"A: {a}" not in text and a not in answers, a
    # requests: no held-out (action, object) pair in any user turn
    for harmful in (True, False):
        for _, action, _, obj in tw._request_pairs(world, "eval", harmful):
            act = action.format(obj=obj)
            assert not any(u.endswith(act + "?") or act + "." in u for u in user), act
    # misconceptions: the held-out phrasing is never asked
    for m in world.misconceptions:
        q = m.questions[m.held_out]
        assert q not in text and q not in user_text, q
    # toxicity: eval remarks never appear in pretraining text
    for unkind in (False, True):
        for head, tail in tw._tox_cores(world.seed, "eval", unkind):
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


def test_is_refusal_exactly_on_refusals(world, dialogs):
    harmful_acts = {action.format(obj=obj) for _, action, _, obj in tw._request_pairs(world, "train", True)}
    refused = 0
    for d in dialogs:
        turns = [m for m in d if m["role"] != "system"]
        for user, reply in zip(turns[::2], turns[1::2]):
            asked_harm = any(user["content"].endswith(a + "?") or a + "." in user["content"] for a in harmful_acts)
            assert is_refusal(reply["content"]) == asked_harm, (user["content"], reply["content"])
        refused += any(is_refusal(m["content"]) for m in turns if m["role"] == "assistant")
    assert 0.25 <= refused / len(dialogs) <= 0.35


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
    for t in tw._SENTENCES:
        assert tw.split_sentences(t) == [t], t
        tw._pattern(t)  # every slot has a vocabulary pool


def test_generated_sentences_are_grammatical(world, docs, dialogs):
    sentences = [s for d in docs[:600] for s in tw.split_sentences(d)]
    sentences += [s for d in dialogs[:600] for m in d for s in tw.split_sentences(m["content"])]
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
