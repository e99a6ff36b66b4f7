"""Notebook 06's prose against the figures it reads: every number (or comparison) its sections on RLHF and Ghost
Attention state in words is checked here against `data/rlhf.json`, the kit's settings or the world, so that a rerun
of `python -m llama_lab.rlhf.pipeline` that changes a figure makes this test name the sentence to rewrite."""

import inspect
import json
import re
from math import comb

import pytest

from llama_lab.course.alignment import wilson_interval
from llama_lab.rlhf import pipeline, ppo
from llama_lab.world import instructions, preferences, tinyworld
from llama_lab.world.tiny import DATA, load_tiny
from support import REPO

NOTEBOOK = REPO / "notebooks" / "06_how_llama2_chat_was_made.ipynb"
RESULTS = json.loads((DATA / "rlhf.json").read_text())
WORLD = tinyworld.build_world(tinyworld.DEFAULT_SEED)


@pytest.fixture(scope="module")
def prose() -> str:
    """The notebook's markdown, whitespace folded, so that a sentence may break across lines."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return re.sub(r"\s+", " ", " ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown"))


def said(prose: str, *phrases: str) -> None:
    for phrase in phrases:
        assert phrase in prose, f"the notebook no longer says {phrase!r}: update this test with the prose"


def test_the_opening_figures(prose):
    settings = RESULTS["settings"]
    said(prose, f"{settings['train_prompts']:,} prompts", "about 50 minutes on two CPU cores", "about 25 more")
    minutes = {name: stage["minutes"] for name, stage in RESULTS.items()
               if isinstance(stage, dict) and "minutes" in stage}
    assert 40 <= sum(m for name, m in minutes.items() if name not in pipeline.MEASURES) <= 60, minutes
    assert 20 <= sum(minutes[name] for name in pipeline.MEASURES) <= 30, minutes
    said(prose, "Rafailov et al., May 2023, two months before it; Llama 3 used it", "(Table 30)")


def test_the_preference_prompts_and_pairs(prose):
    said(prose, "a third of them harmful requests", "a quarter behind an earlier exchange", "two of four variants",
         "about a third are ties under the judge", "half are drawn with a base-model reply on one side")
    weights = preferences.PROMPT_WEIGHTS
    assert weights["harmful"] / sum(weights.values()) == pytest.approx(1 / 3, abs=0.01)
    assert inspect.signature(preferences.preference_prompts).parameters["multi_turn"].default == 0.25
    variants = preferences.VARIANTS
    assert len(variants) == 4 and sum(model == "base" for model, _ in variants.values()) == 1
    assert 1 - comb(len(variants) - 1, 2) / comb(len(variants), 2) == 0.5
    train = RESULTS["pairs"]["train"]
    assert 0.3 <= train["ratings"]["negligibly better / unsure"] / train["n"] <= 0.37


def test_the_reward_models_accuracy(prose):
    models = RESULTS["reward"]["models"]
    share, n = models["helpfulness/small"]["accuracy"]["by rating"]["better"]
    hits = round(share * n)
    low, high = wilson_interval(hits, n)
    said(prose, f"holds {n} pairs: {hits} ranked right is {100 * share:.0f}%, and its 95% interval runs from "
                f"{100 * low:.0f}% to {100 * high:.0f}%")
    # "it is right on most 'significantly better' and 'slightly better' pairs, and on fewer than half of the 'better'"
    by = models["helpfulness/small"]["accuracy"]["by rating"]
    assert by["significantly better"][0] > 0.5 and by["slightly better"][0] > 0.5 and by["better"][0] < 0.5
    said(prose, "The margin rows of the table above differ, column by column, by less than these intervals' "
                "half-widths")
    for kind in ("helpfulness", "safety"):
        small = models[f"{kind}/small"]["accuracy"]["by rating"]
        for rating, (share, n) in small.items():
            if not n:
                continue
            low, high = wilson_interval(round(share * n), n)
            shares = [models[f"{kind}/{m}"]["accuracy"]["by rating"][rating][0] for m in ("none", "small", "large")]
            assert max(shares) - min(shares) < (high - low) / 2, (kind, rating, shares)
    said(prose, 'The safety model has no "significantly better" column')
    assert models["safety/small"]["accuracy"]["by rating"]["significantly better"][1] == 0
    said(prose, "about three held-out pairs in four")
    assert 0.7 <= models["helpfulness/small"]["accuracy"]["overall"] <= 0.8


def test_rejection_sampling_by_temperature(prose):
    said(prose, "with one sample the coolest temperature earns the most",
         "at the largest N the hottest tried leads", "The tiny model's best at 16 samples is hotter still")
    curves = RESULTS["rejection"]["curves"]
    temperatures = sorted(curves, key=float)
    best = [max(curves, key=lambda t: curves[t]["max"][i]) for i in range(len(curves[temperatures[0]]["n"]))]
    assert best[0] == temperatures[0] and best[-1] == temperatures[-1]
    assert RESULTS["settings"]["curve_samples"] == curves[temperatures[0]]["n"][-1] == 16 and float(best[-1]) > 1.3


def test_ppo_as_run(prose):
    said(prose, "the rejection-sampling model, as Llama 2's PPO did from RLHF-V4 on", "β five times the paper's",
         "fifty times Llama 2's", "about two thousand times smaller than its 7B", "beyond 1 ± 0.2")
    assert RESULTS["ppo"]["started_from"] == "rejection sampling"
    config = ppo.PPOConfig(**RESULTS["ppo"]["config"])
    assert config.beta / 0.01 == pytest.approx(5) and config.lr / 1e-6 == pytest.approx(50) and config.clip == 0.2
    model, _ = load_tiny("chat")
    assert 1500 <= 7e9 / model.num_parameters() <= 2500
    said(prose, "3.9M-parameter model")
    assert f"{model.num_parameters() / 1e6:.1f}M" == "3.9M"


def test_the_safety_table(prose):
    evaluation = RESULTS["evaluate"]
    rows, paired = evaluation["rows"], evaluation["against_sft"]
    dpo, rounds = paired["DPO"]["helpfulness"], paired["iterative DPO"]
    said(prose, f"scores higher than SFT on {dpo['higher']} of the {sum(dpo.values())} helpfulness prompts and lower "
                f"on {dpo['lower']}",
         f"higher than SFT on {rounds['helpfulness']['higher']} helpfulness prompts and lower on "
         f"{rounds['helpfulness']['lower']}, higher on {rounds['safety']['higher']} safety prompts and lower on none")
    assert rounds["safety"]["lower"] == 0 and evaluation["best"] == "iterative DPO"
    truthful = "TruthfulQA: truthful and informative %"
    said(prose, f"up from {rows['SFT'][truthful]:.1f}% to {rows['iterative DPO'][truthful]:.1f}%",
         "every held-out harmful request refused")
    assert rows["iterative DPO"]["harmful refused %"] == 100.0
    benign = len(tinyworld.benign_requests(WORLD, "eval"))
    refused = {name: round((100 - row["benign answered %"]) * benign / 100) for name, row in rows.items()}
    said(prose, f"{refused['iterative DPO']} of the {benign} held-out benign requests not answered, against SFT's "
                f"{refused['SFT']}")
    continuations = len(tinyworld.toxicity_prompts(WORLD, "eval"))
    toxic = {name: round(row["toxic %"] * continuations / 100) for name, row in rows.items()}
    said(prose, f"{toxic['iterative DPO']} of {continuations} continuations against {toxic['SFT']}")
    # "Every aligned model refuses held-out harmful requests at least as often as SFT and is safer under the judge"
    aligned = [name for name in rows if name not in ("base", "SFT")]
    assert all(rows[n]["harmful refused %"] >= rows["SFT"]["harmful refused %"] for n in aligned)
    assert all(rows[n]["judge: safety (0-3)"] > rows["SFT"]["judge: safety (0-3)"] for n in aligned)
    assert paired["PPO"]["safety"]["lower"] > paired["PPO"]["safety"]["higher"]
    rs = rows["rejection sampling"]
    assert all(rs[c] < rows["SFT"][c] for c in (truthful, "benign answered %", "judge: helpfulness (0-3)"))
    assert min(aligned, key=lambda n: rows[n][truthful]) == "PPO"
    said(prose, "rejection sampling ran two rounds and DPO, on fresh comparisons of the latest model's replies, three")
    assert RESULTS["settings"]["rs_rounds"] == 2 and RESULTS["settings"]["dpo_rounds"] == 3


def test_ghost_attention(prose):
    settings, rows = RESULTS["settings"], RESULTS["gatt"]["rows"]
    said(prose, "(five: the settings' `gatt_eval_turns`)", "Four-turn dialogs", "four kinds of instruction",
         "dialogs of five turns", "over five.")
    assert settings["gatt_eval_turns"] == 5 and settings["gatt_turns"] == 4 and len(instructions.KINDS) == 4
    at_answers = {name: [row["attention_map"]["attention"][p] for p in row["attention_map"]["answers"]]
                  for name, row in rows.items()}
    sft, tuned, gatt = at_answers["SFT"], at_answers["instruction-tuned"], at_answers["GAtt"]
    said(prose, "nearly twice SFT's", "falls back towards SFT's level",
         "stays between two and a half and four times SFT's")
    assert all(1.5 <= model[0] / sft[0] < 2 for model in (tuned, gatt))
    assert all(t / s < 1.35 for t, s in zip(tuned[1:], sft[1:]))
    assert all(2.5 <= g / s <= 4 for g, s in zip(gatt[1:], sft[1:]))
    said(prose, "at every turn GAtt's attention on the system prompt is above the prompt's share",
         "from turn 2 on the instruction-tuned model's is below it")
    share = rows["GAtt"]["attention"]["share"]
    assert all(a > s for a, s in zip(rows["GAtt"]["attention"]["attention"], share))
    assert all(a < s for a, s in zip(rows["instruction-tuned"]["attention"]["attention"][1:], share[1:]))
    said(prose, "GAtt keeps more than half of its answers on the instruction at every turn",
         "the instruction-tuned model keeps them at turn 1 only", "names last best, then openers and closers",
         "lower case was never learned", "Held-out instructions are kept about half as often",
         "at every turn, fewer answers are right after GAtt than with SFT")
    assert min(rows["GAtt"]["kept"]) > 0.5
    assert rows["instruction-tuned"]["kept"][0] > 0.5 and max(rows["instruction-tuned"]["kept"][1:]) < 0.05
    by_kind = rows["GAtt"]["by_kind"]
    assert by_kind["name"][-1] > by_kind["opener"][-1] > by_kind["closer"][-1] and max(by_kind["lower"]) < 0.05
    gatt_kept, held_out = rows["GAtt"]["kept"], rows["GAtt"]["held_out_kept"]
    assert 0.4 <= sum(held_out) / sum(gatt_kept) <= 0.6
    assert all(g < s for g, s in zip(rows["GAtt"]["facts"], rows["SFT"]["facts"]))
