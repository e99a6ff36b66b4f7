"""How far the reward models can be trusted (Llama 2, sections 3.2.2 and 3.4.1): how their accuracy grows with the
comparisons they learn from, and how their verdict on each stage's replies compares with the world judge's.

Llama 2's reward models reached about 64% on Meta's own test sets (Table 7) and were still improving with more data
and larger models (Figure 6). To say whether RLHF made progress, Meta scored each version's replies with the same
reward models (Figure 11, left) and, because a measure that is also the target stops measuring (Goodhart's law),
asked GPT-4 too (Figure 11, right), where the wins were smaller. Here the judge made of the world's rules plays the
people and GPT-4: it is what the reward models were trained to imitate, so where the two part, the reward models are
being fooled.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..progress import progress
from ..replies import replies
from ..world import preferences
from .ppo import llama2_reward
from .reward import RewardModel, accuracy, train_reward_model, training_mix
from .sequences import text_row


def nested_subsets(records: Sequence, fractions: Sequence[float]) -> list[list]:
    """The first `fraction` of `records` for each fraction, at least one record each: every smaller set is inside
    the larger ones, as Meta's reward models saw each new batch of comparisons added to the earlier ones.
    Example: 8 records, fractions (0.25, 0.5, 1) -> their first 2, 4 and 8."""
    bad = [f for f in fractions if not 0 < f <= 1]
    if bad:
        raise ValueError(f"fractions {bad}: give shares of the comparisons in (0, 1], such as 0.25")
    return [list(records[:max(1, round(f * len(records)))]) for f in fractions]


def reward_scaling(chat_model, tokenizer, pairs: dict, fractions: Sequence[float], margin: str = "small",
                   epochs: float = 2.0, seed: int = 0, whole: dict | None = None, log=None) -> dict[str, list[dict]]:
    """Held-out accuracy of reward models trained on growing shares of the comparisons (the paper's Figure 6, at
    toy scale): for each kind, the kind's training mix (`reward.training_mix`) cut to each fraction
    (`nested_subsets`), a reward model trained on it with the reward stage's recipe, measured on the same held-out
    comparisons of that kind. pairs: the pairs stage's {"train": [...], "eval": [...]}. whole: {kind: the reward
    stage's row for this margin} ({"accuracy", "n_train"}), whose model is the one fraction 1 would train again
    (the same mix, recipe and seed): its accuracy is taken instead. Returns {kind: [{"fraction", "n_train",
    "accuracy": `reward.accuracy`'s result, "trained_here"}, ...]}."""
    out: dict[str, list[dict]] = {}
    for kind in ("helpfulness", "safety"):
        mix = training_mix(pairs["train"], kind, seed)
        held = [r for r in pairs["eval"] if preferences.prompt_kind(r["item"]) == kind]
        known = (whole or {}).get(kind)
        if known is not None and known["n_train"] != len(mix):
            raise ValueError(f"the reward stage's {kind} model learned from {known['n_train']} comparisons, this mix "
                             f"holds {len(mix)}: they are not the same comparisons, so train it again (whole=None)")
        out[kind] = []
        for fraction, subset in zip(fractions, nested_subsets(mix, fractions)):
            if known is not None and len(subset) == len(mix):
                out[kind].append({"fraction": fraction, "n_train": len(subset), "accuracy": known["accuracy"],
                                  "trained_here": False})
                continue
            model, _ = train_reward_model(chat_model, tokenizer, subset, margin=margin, epochs=epochs, seed=seed)
            result = accuracy(model, tokenizer, held)
            out[kind].append({"fraction": fraction, "n_train": len(subset), "accuracy": result, "trained_here": True})
            if log is not None:
                log(f"  {kind} reward model on {len(subset):,} comparisons: held-out accuracy {result['overall']:.3f}")
    return out


def win_rate(scores: Sequence[float], against: Sequence[float]) -> float:
    """Share of prompts where `scores` beats `against`, a tie counting half (Figure 11's win-rate, ties split).
    Example: (3, 2, 1, 0) against (1, 2, 3, 0) -> (1 + 0.5 + 0 + 0.5) / 4 = 0.5."""
    if len(scores) != len(against) or not scores:
        raise ValueError(f"{len(scores)} scores against {len(against)}: give one score per prompt on each side")
    return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(scores, against)) / len(scores)


def pairwise_agreement(judge: dict[str, Sequence[int]], reward: dict[str, Sequence[float]]) -> dict:
    """How often the reward model orders two models' replies to one prompt as the judge does, over every prompt
    and every pair of models whose replies the judge scores differently (the reward models' accuracy, measured on
    the stages' own replies instead of the comparisons they were tested on).
    judge, reward: model name -> one score per prompt, in the same order. Returns {"agree": share, "n": pairs}.
    Example: judge {"a": [3], "b": [1]}, reward {"a": [0.2], "b": [0.7]} -> {"agree": 0.0, "n": 1}."""
    names = list(judge)
    right = total = 0
    for x, first in enumerate(names):
        for second in names[x + 1:]:
            for j1, j2, r1, r2 in zip(judge[first], judge[second], reward[first], reward[second]):
                if j1 != j2:
                    total += 1
                    right += (j1 > j2) == (r1 > r2)
    return {"agree": right / total if total else float("nan"), "n": total}


def judged_stages(models: dict, tokenizer, safety_rm: RewardModel, helpfulness_rm: RewardModel,
                  prompts: Sequence[dict], reference: str = "SFT", max_new_tokens: int = 48) -> dict:
    """Each model's greedy replies to the held-out `prompts`, scored twice: by the reward models (Llama 2's R_c, the
    safety model on safety prompts or a reply it scores below 0.15, the helpfulness one otherwise) and by the world
    judge (0-3, under the prompt's own annotation); with each model's win-rate against `reference` by either.

    Returns {"rows": {name: {"reward": mean R_c, "judge": mean judge score, "reward by kind", "judge by kind",
    "win_rate": {"reward", "judge"}}}, "agreement": `pairwise_agreement` of the two over all models' replies,
    "scores": {name: {"reward": [...], "judge": [...]}, one per prompt}, "reference", "n": prompts}."""
    if reference not in models:
        raise ValueError(f"reference {reference!r} is not among the models {list(models)}")
    is_safety = torch.tensor([preferences.prompt_kind(p) == "safety" for p in prompts])
    judge, reward = {}, {}
    for name, model in progress(models.items(), "judged stages", total=len(models), unit="model"):
        texts = replies(model, tokenizer, [p["dialog"] for p in prompts], max_new_tokens=max_new_tokens)
        rows = [text_row(tokenizer, p["dialog"], t, safety_rm.args.max_seq_len) for p, t in zip(prompts, texts)]
        reward[name] = llama2_reward(safety_rm, helpfulness_rm, rows, is_safety, tokenizer.eos_id)["combined"].tolist()
        judge[name] = [preferences.score(p, t) for p, t in zip(prompts, texts)]
    table = {}
    for name in models:
        table[name] = {"reward": sum(reward[name]) / len(prompts), "judge": sum(judge[name]) / len(prompts),
                       "reward by kind": preferences.mean_by_kind(prompts, reward[name]),
                       "judge by kind": preferences.mean_by_kind(prompts, judge[name]),
                       "win_rate": {"reward": win_rate(reward[name], reward[reference]),
                                    "judge": win_rate(judge[name], judge[reference])}}
    return {"rows": table, "agreement": pairwise_agreement(judge, reward), "reference": reference,
            "n": len(prompts), "scores": {name: {"reward": reward[name], "judge": judge[name]} for name in models}}
