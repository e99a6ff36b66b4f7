"""The LoRA-ranks experiment (`course.lora_ranks`): the new town is new to the tiny world's training text, its
questions are asked in phrasings training never used, LoRA's trainable parameters and AdamW's state are what the
hand formulas say, the machinery writes the shipped file's fields, and the shipped figures agree with their counts."""

import copy

import pytest
import torch

from llama_lab.course import lora_ranks
from llama_lab.course.alignment import wilson_interval
from llama_lab.lora import add_lora, trainable_parameters
from llama_lab.optim import Recipe
from llama_lab.world import tinyworld
from llama_lab.world.phrasing import held_out_families, training_families
from llama_lab.world.tiny import load_tiny

WORLD = tinyworld.build_world(tinyworld.DEFAULT_SEED)
TOWN = lora_ranks.new_town(WORLD)
# The tiny chat model's shape (data/tiny-chat/params.json): dim 192, 8 heads of 24 of which 2 for keys and values,
# so wk and wv give 2 * 24 = 48; SwiGLU's hidden size int(2 * 4 * 192 / 3) = 512 is already a multiple of 32.
# Per block, r * (d_in + d_out) summed over wq (192, 192), wk (192, 48), wv (192, 48), wo (192, 192), w1 (192, 512),
# w3 (192, 512) and w2 (512, 192): r * (384 + 240 + 240 + 384 + 704 + 704 + 704) = 3360 r; six blocks: 20160 r.
LORA_PARAMETERS_PER_RANK = 6 * (384 + 240 + 240 + 384 + 3 * 704)


def training_text(n_dialogs: int = 3000, n_documents: int = 400) -> str:
    """A sample of everything the tiny models were trained on: pretraining documents and chat dialogs of all three
    rounds, from the world's own generators."""
    documents = list(tinyworld.pretraining_documents(WORLD, "train", n_documents, seed=1))
    dialogs = list(tinyworld.chat_dialogs(WORLD, "train", n_dialogs, seed=1))
    for round_name in tinyworld.LATER_ROUNDS:
        dialogs += list(tinyworld.chat_dialogs_round(WORLD, "train", n_dialogs // 3, 1, round_name))
    return "\n".join(documents + [turn["content"] for dialog in dialogs for turn in dialog])


def test_the_new_town_and_its_people_are_absent_from_the_training_text():
    text = training_text()
    words = set(text.replace(".", " ").replace(",", " ").replace("?", " ").replace("'s", " ").split())
    new_names = [c.name for c in TOWN.characters] + [TOWN.towns[0].name]
    assert not {c.name for c in TOWN.characters} & {c.name for c in WORLD.characters}
    assert TOWN.towns[0].name not in {t.name for t in WORLD.towns}
    assert [name for name in new_names if name in words] == []
    # ...while the people of the world are there, so the sample is large enough to have found them
    assert all(c.name in words for c in WORLD.characters)
    # every answer is a word (or words) the model has read
    answers = {getattr(c, attribute) for c in TOWN.characters for attribute in lora_ranks.ASKED}
    assert [answer for answer in answers if answer not in text] == []


def test_new_facts_are_asked_in_phrasings_no_training_dialog_used():
    held_wordings, held_styles = held_out_families(WORLD.seed, "fact")
    train_wordings, train_styles = training_families(WORLD.seed, "fact")
    questions = lora_ranks.new_fact_questions(TOWN)
    assert len(questions) == 2 * len(TOWN.characters) * len(lora_ranks.ASKED)
    for q in questions:  # each pairs a held-out wording or a held-out style with the other
        assert q["wording"] in held_wordings or q["style"] in held_styles
        assert not (q["wording"] in train_wordings and q["style"] in train_styles)
    dialogs = lora_ranks.new_fact_dialogs(TOWN)
    asked_in_training = {d[0]["content"] for d in dialogs}
    assert not asked_in_training & {q["question"] for q in questions}
    # every training question is about one of the new facts, answered with it
    for dialog in dialogs:
        assert [turn["role"] for turn in dialog] == ["user", "assistant"]
    facts = {(q["character"], q["answer"]) for q in questions}
    assert all(any(name.lower() in d[0]["content"].lower() and answer in d[1]["content"] for name, answer in facts)
               for d in dialogs)  # lower case: the casual style writes names so


def test_the_held_out_phrasing_pairs_are_those_of_the_worlds_held_out_phrasings():
    # the world's own held-out phrasings of fact questions use exactly these (wording, style) pairs
    world_pairs = {(i["wording"], i["style"]) for i in tinyworld.held_out_phrasings(WORLD) if i["intent"] == "fact"}
    assert world_pairs == set(lora_ranks.held_out_fact_phrasings(WORLD.seed))


@pytest.mark.parametrize("rank", [2, 8, 32])
def test_trainable_parameters_are_r_times_in_plus_out_per_adapted_layer(rank):
    model, _ = load_tiny("chat")
    adapted = add_lora(model, targets=lora_ranks.TARGETS, r=rank, alpha=2 * rank, seed=0)
    by_hand = sum(rank * (layer.in_features + layer.out_features)
                  for layer in (m for m in adapted.modules() if type(m).__name__ == "LoraLinear"))
    assert trainable_parameters(adapted)[0] == by_hand == LORA_PARAMETERS_PER_RANK * rank


def test_optimizer_state_is_two_float32_moments_per_trainable_parameter():
    model, tokenizer = load_tiny("chat")
    adapted = add_lora(copy.deepcopy(model), targets=lora_ranks.TARGETS, r=2, alpha=4, seed=0)
    optimizer = Recipe(lr=1e-3, steps=1, min_lr_ratio=1.0, grad_clip=None).optimizer(adapted)
    ids = torch.tensor([tokenizer.encode("Ada lives in Applebury.")])  # (1, T)
    adapted(ids[:, :-1]).sum().backward()
    optimizer.step()
    moments = sum(state[key].nbytes for state in optimizer.state.values() for key in ("exp_avg", "exp_avg_sq"))
    assert moments == lora_ranks.optimizer_state_bytes(trainable_parameters(adapted)[0]) == 8 * 2 * 20160


def keys(tree, prefix=""):
    """Every path of keys in a JSON tree, lists entered by their first element."""
    if isinstance(tree, dict):
        return set().union(*({prefix + k} | keys(v, prefix + k + "/") for k, v in tree.items()))
    if isinstance(tree, list) and tree and isinstance(tree[0], dict):
        return keys(tree[0], prefix + "[]/")
    return set()


def test_a_short_run_writes_the_shipped_files_fields(tmp_path):
    results = lora_ranks.run_experiment(steps=2, ranks=(2,), limit=2)
    path = lora_ranks.write_results(results, tmp_path / "lora_ranks.json")
    written = lora_ranks.read_lora_ranks(path)
    assert keys(written) == keys(lora_ranks.read_lora_ranks())
    assert [run["method"] for run in written["runs"]] == ["LoRA r=2", "full fine-tuning"]
    assert written["runs"][0]["trainable_parameters"] == 2 * LORA_PARAMETERS_PER_RANK
    table = lora_ranks.lora_ranks_table(written).splitlines()
    assert len(table) == 1 + 1 + 2 and table[2].startswith("LoRA r=2")


def test_the_shipped_figures_agree_with_their_counts():
    results = lora_ranks.read_lora_ranks()
    model, _ = load_tiny("chat")
    assert results["new_town"]["people"] == [c.name for c in TOWN.characters]
    assert results["new_town"]["facts"] == len(TOWN.characters) * len(lora_ranks.ASKED)
    assert results["sets"]["new_facts_held_out"] == len(lora_ranks.new_fact_questions(TOWN))
    evaluations = [results["before"]] + [run["evaluation"] for run in results["runs"]]
    for evaluation in evaluations:
        for name, measure in evaluation.items():
            set_name = {"out_of_world_declined": "out_of_world", "phrasings_right": "phrasings"}.get(name, name)
            assert measure["n"] == results["sets"][set_name]
            assert measure["share"] == pytest.approx(measure["hits"] / measure["n"])
            assert measure["interval"] == pytest.approx(list(wilson_interval(measure["hits"], measure["n"])))
    for run in results["runs"]:
        assert run["optimizer_state_bytes"] == 8 * run["trainable_parameters"]
        expected = model.num_parameters() if run["rank"] is None else LORA_PARAMETERS_PER_RANK * run["rank"]
        assert run["trainable_parameters"] == expected
        # the adapters are parameters of their own, beside the model's
        assert run["all_parameters"] == model.num_parameters() + (expected if run["rank"] else 0)
    assert sorted(run["rank"] for run in results["runs"] if run["rank"]) == list(lora_ranks.RANKS)


def test_a_mistaken_command_line_gets_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        lora_ranks.main(["--ranks", "two"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --ranks 'two': give whole numbers separated by commas, such as 2,8,32"]
