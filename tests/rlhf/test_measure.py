"""How good the reward models are and how progress was judged: the measuring stages, by hand and on the tiny models,
and the figures they put in data/rlhf.json."""
import json
import math

import pytest
import torch

from llama_lab.rlhf import measure, pipeline
from llama_lab.rlhf.rejection import forgotten, keep_best, round_line
from llama_lab.world import preferences as P
from llama_lab.world import tinyworld
from llama_lab.world.tiny import DATA, load_tiny

WORLD = tinyworld.build_world(tinyworld.DEFAULT_SEED)
ADA = {"intent": "fact", "answer": "Applebury", "dialog": [{"role": "user", "content": "Where does Ada live?"}]}


# ------------------------------------------------------------------------------------------------ by hand

def test_nested_subsets_are_prefixes():
    assert measure.nested_subsets(list(range(8)), (0.25, 0.5, 1)) == [[0, 1], [0, 1, 2, 3], list(range(8))]
    assert measure.nested_subsets(list(range(3)), (0.1,)) == [[0]]  # at least one
    with pytest.raises(ValueError, match="shares"):
        measure.nested_subsets([1, 2], (0, 1))


def test_win_rate_counts_a_tie_as_half():
    assert measure.win_rate([3, 2, 1, 0], [1, 2, 3, 0]) == 0.5
    assert measure.win_rate([0.9, 0.8], [0.1, 0.85]) == 0.5
    assert measure.win_rate([2, 2, 2], [1, 1, 1]) == 1.0
    with pytest.raises(ValueError, match="one score per prompt"):
        measure.win_rate([1, 2], [1])


def test_pairwise_agreement_by_hand():
    assert measure.pairwise_agreement({"a": [3], "b": [1]}, {"a": [0.2], "b": [0.7]}) == {"agree": 0.0, "n": 1}
    # two prompts, three models: the judge separates (a, b) and (a, c) on prompt 0, (b, c) on prompt 1
    judge = {"a": [3, 2], "b": [1, 1], "c": [1, 3]}
    reward = {"a": [0.9, 0.5], "b": [0.4, 0.6], "c": [0.95, 0.7]}
    # prompt 0: a over b, the reward agrees; a over c, it disagrees; b and c tie, not counted. prompt 1: a over b,
    # the reward disagrees; c over a and c over b, it agrees: 3 of 5
    assert measure.pairwise_agreement(judge, reward) == {"agree": 3 / 5, "n": 5}
    assert math.isnan(measure.pairwise_agreement({"a": [1], "b": [1]}, {"a": [0.1], "b": [0.2]})["agree"])


def test_a_round_keeps_the_best_of_all_rounds_or_of_the_latest():
    earlier = {0: {"reply": "x", "reward": 0.9}}
    this_round = [{"reply": "y", "reward": 0.6}, {"reply": "z", "reward": 0.7}]
    assert keep_best(earlier, this_round, "all") == {0: {"reply": "x", "reward": 0.9}, 1: this_round[1]}
    assert keep_best(earlier, this_round, "latest") == {0: this_round[0], 1: this_round[1]}
    assert earlier == {0: {"reply": "x", "reward": 0.9}}  # not changed
    with pytest.raises(ValueError, match="keep='best'"):
        keep_best(earlier, this_round, "best")


def test_what_a_round_forgot_by_reward_and_by_the_judge():
    right = {"item": ADA, "reply": "Ada lives in Applebury.", "reward": 0.9}
    honest = {"item": ADA, "reply": "I don't know anyone called Ada.", "reward": 0.6}
    assert P.score(ADA, right["reply"]) == 3 and P.score(ADA, honest["reply"]) == 1
    assert forgotten({0: right}, {0: honest}) == {"prompts": 1, "judged_worse": 1}
    assert forgotten({0: right}, {0: right}) == {"prompts": 0, "judged_worse": 0}
    wrong_but_liked = {"item": ADA, "reply": "Ada lives in Oakville.", "reward": 0.95}
    assert forgotten({0: wrong_but_liked}, {0: right}) == {"prompts": 1, "judged_worse": 0}  # the judge gained


def test_a_latest_only_round_reads_as_such():
    record = {"round": 2, "best": 0.7452, "median": 0.7111, "kept": 240, "final_loss": 0.41234, "keep": "latest"}
    assert round_line(record) == ("round 2: mean best reward 0.745, mean median 0.711; fine-tuned on this round's "
                                  "240 best replies (final loss 0.412)")


# ------------------------------------------------------------------------------------ on the tiny models

@pytest.fixture(scope="module")
def chat():
    torch.manual_seed(0)
    return load_tiny("chat")


def test_judged_stages_score_the_same_replies_twice(chat):
    from llama_lab.replies import replies
    from llama_lab.rlhf.reward import load_reward_model
    model, tokenizer = chat
    safety_rm, _ = load_reward_model(DATA / pipeline.SHIPPED["safety"])
    helpfulness_rm, _ = load_reward_model(DATA / pipeline.SHIPPED["helpfulness"])
    prompts = P.preference_prompts(WORLD, "eval", 6, seed=0)
    judged = measure.judged_stages({"SFT": model, "again": model}, tokenizer, safety_rm, helpfulness_rm, prompts)
    texts = replies(model, tokenizer, [p["dialog"] for p in prompts], max_new_tokens=48)
    assert judged["scores"]["SFT"]["judge"] == [P.score(p, t) for p, t in zip(prompts, texts)]
    assert judged["scores"]["again"] == judged["scores"]["SFT"]  # greedy: the same replies, the same scores
    row = judged["rows"]["SFT"]
    assert row["win_rate"] == {"reward": 0.5, "judge": 0.5}  # against itself: every prompt a tie
    assert row["judge"] == pytest.approx(sum(judged["scores"]["SFT"]["judge"]) / 6)
    assert all(0 < r < 1 for r in judged["scores"]["SFT"]["reward"])  # R_c is a probability
    assert judged["agreement"]["n"] == 0 and judged["n"] == 6
    with pytest.raises(ValueError, match="reference"):
        measure.judged_stages({"a": model}, tokenizer, safety_rm, helpfulness_rm, prompts)


def test_reward_scaling_trains_on_nested_shares_and_tests_on_one_set(chat):
    model, tokenizer = chat
    items = P.preference_prompts(WORLD, "train", 16, seed=0) + P.preference_prompts(WORLD, "eval", 4, seed=0)
    records = [{"item": item, "chosen": "Ada lives in Applebury.", "rejected": "the the the", "rating": "better"}
               for item in items]
    pairs = {"train": records[:16], "eval": records[16:]}
    from llama_lab.rlhf.reward import training_mix
    mix = training_mix(pairs["train"], "helpfulness", 0)
    known = {"helpfulness": {"n_train": len(mix), "accuracy": {"overall": 0.25, "n": 3, "by rating": {}}}}
    scaling = measure.reward_scaling(model, tokenizer, pairs, (0.5, 1.0), epochs=0.5, seed=0, whole=known)
    held = {kind: sum(P.prompt_kind(r["item"]) == kind for r in pairs["eval"]) for kind in ("helpfulness", "safety")}
    for kind, points in scaling.items():
        assert [p["fraction"] for p in points] == [0.5, 1.0]
        assert points[0]["n_train"] < points[1]["n_train"]
        assert points[0]["accuracy"]["n"] == held[kind] and points[0]["trained_here"]
    # the whole helpfulness mix is the reward stage's model: its figures are taken, not trained again
    taken = {"fraction": 1.0, "n_train": len(mix), "accuracy": known["helpfulness"]["accuracy"], "trained_here": False}
    assert scaling["helpfulness"][1] == taken
    assert scaling["safety"][1]["trained_here"] and scaling["safety"][1]["accuracy"]["n"] == held["safety"]
    with pytest.raises(ValueError, match="not the same comparisons"):
        measure.reward_scaling(model, tokenizer, pairs, (1.0,), whole={"helpfulness": {**known["helpfulness"],
                                                                                       "n_train": 99}})


# ------------------------------------------------------------------------------- merging into rlhf.json

def test_merge_writes_only_the_measuring_stages(tmp_path):
    data, out = tmp_path / "data", tmp_path / "run"
    data.mkdir()
    out.mkdir()
    shipped = {"reward": {"models": {"x": 1}}, "settings": {"a": 1}, "judged": {"old": True}}
    (data / "rlhf.json").write_text(json.dumps(shipped))
    (out / "results.json").write_text(json.dumps({"reward": {"models": {"x": 2}}, "judged": {"new": True},
                                                  "reward_scaling": {"by_kind": {}}, "settings": {"a": 2}}))
    assert pipeline.merge(out, ["judged", "reward_scaling"], data) == ["judged", "reward_scaling"]
    merged = json.loads((data / "rlhf.json").read_text())
    assert merged == {"reward": {"models": {"x": 1}}, "settings": {"a": 1}, "judged": {"new": True},
                      "reward_scaling": {"by_kind": {}}}
    before = (data / "rlhf.json").read_bytes()
    with pytest.raises(SystemExit, match="--ship"):
        pipeline.merge(out, ["reward"], data)
    with pytest.raises(SystemExit, match="rejection_rounds"):
        pipeline.merge(out, ["rejection_rounds"], data)
    assert (data / "rlhf.json").read_bytes() == before


def test_the_command_answers_merge_with_ship_in_one_line(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        pipeline.main(["--out", str(tmp_path / "run"), "--stages", "judged", "--ship", "--merge"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.strip().count("\n") == 0


def test_from_shipped_puts_the_shipped_models_where_a_run_makes_them(tmp_path):
    shipped = json.loads((DATA / "rlhf.json").read_text())
    written = pipeline.from_shipped(tmp_path / "run")
    best = pipeline.ALIGNED[shipped["evaluate"]["best"]]
    assert sorted(written) == sorted(str(tmp_path / "run" / f) for f in
                                     ("reward/helpfulness-small", "reward/safety-small", best))
    safety = tmp_path / "run" / "reward" / "safety-small" / "reward_model.safetensors"
    assert safety.read_bytes() == (DATA / pipeline.SHIPPED["safety"] / "reward_model.safetensors").read_bytes()
    assert pipeline.from_shipped(tmp_path / "run") == []  # what is there is kept
    # the reward stage's figures come along only for the shipped run's comparisons
    results = tmp_path / "run" / "results.json"
    results.write_text(json.dumps({"pairs": {**shipped["pairs"], "eval": {"n": 1}}}))
    assert pipeline.from_shipped(tmp_path / "run") == [] and "reward" not in json.loads(results.read_text())
    results.write_text(json.dumps({"pairs": {**shipped["pairs"], "minutes": 0.5}}))
    assert pipeline.from_shipped(tmp_path / "run") == [f"{results}: the reward stage's figures"]
    assert json.loads(results.read_text())["reward"] == shipped["reward"]


# ------------------------------------------------------------------------------- the shipped figures

RLHF = json.loads((DATA / "rlhf.json").read_text())


def test_the_shipped_scaling_curve_shares_one_held_out_set():
    scaling = RLHF["reward_scaling"]
    held = {"safety": RLHF["pairs"]["eval"]["safety"]}
    held["helpfulness"] = RLHF["pairs"]["eval"]["n"] - held["safety"]
    for kind, points in scaling["by_kind"].items():
        sizes = [p["n_train"] for p in points]
        assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes) >= 3
        assert all(p["accuracy"]["n"] == held[kind] for p in points)
        # the whole mix is the reward stage's: as many comparisons as the shipped reward model of that kind
        whole = RLHF["reward"]["models"][f"{kind}/small"]["n_train"]
        assert points[-1]["fraction"] == 1 and points[-1]["n_train"] == whole
        for p in points:
            by = p["accuracy"]["by rating"]
            right = sum(share * n for share, n in by.values() if n)
            assert right / p["accuracy"]["n"] == pytest.approx(p["accuracy"]["overall"])


def test_the_shipped_rounds_share_their_first_round():
    rounds = RLHF["rejection_rounds"]["rounds"]
    assert set(rounds) == {"all", "latest"} and len(rounds["all"]) == len(rounds["latest"]) >= 2
    first_all, first_latest = rounds["all"][0], rounds["latest"][0]
    same = ("best", "median", "kept")
    assert {k: first_all[k] for k in same} == {k: first_latest[k] for k in same}
    assert first_latest["forgotten"] == {"prompts": 0, "judged_worse": 0}  # nothing earlier to forget
    for r in rounds["latest"]:
        assert 0 <= r["forgotten"]["judged_worse"] <= r["forgotten"]["prompts"] <= r["kept"]


def test_the_shipped_judged_stages_agree_with_their_own_scores():
    judged = RLHF["judged"]
    assert {"base", "SFT"} <= set(judged["rows"]) and judged["reference"] == "SFT"
    for name, row in judged["rows"].items():
        scores = judged["scores"][name]
        assert len(scores["judge"]) == len(scores["reward"]) == judged["n"]
        assert row["judge"] == pytest.approx(sum(scores["judge"]) / judged["n"])
        assert row["reward"] == pytest.approx(sum(scores["reward"]) / judged["n"])
        for by in ("reward", "judge"):
            assert row["win_rate"][by] == pytest.approx(measure.win_rate(scores[by], judged["scores"]["SFT"][by]))
    both = {by: {name: s[by] for name, s in judged["scores"].items()} for by in ("judge", "reward")}
    assert judged["agreement"] == measure.pairwise_agreement(both["judge"], both["reward"])


def test_the_best_temperature_for_each_n_by_hand():
    from llama_lab.course.alignment import best_temperature
    curves = {"0.8": {"n": [1, 4], "max": [0.7, 0.75]}, "1.2": {"n": [1, 4], "max": [0.65, 0.8]}}
    assert best_temperature(curves) == {1: "0.8", 4: "1.2"}
