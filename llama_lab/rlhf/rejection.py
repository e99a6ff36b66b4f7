"""Rejection sampling fine-tuning (Llama 2, section 3.2.3): sample K replies, keep the best, fine-tune on it.

For each prompt the model samples K replies, the reward model scores them, and the best one becomes a new
training answer; the model is then fine-tuned on those answers as in SFT. Until RLHF-V4, rejection sampling was
Llama 2's only RLHF step; from then on the two were combined sequentially, PPO applied on top of the
rejection-sampling checkpoint before sampling again. Each round sampled from the latest model and kept the best
samples of every round so far. Two effects show what it can buy. The paper's Figure 7: the *maximum* reward among
N samples grows with N while the median stays put, so the gain is in exploring. Its Figure 8: the best
temperature for exploring is not the one used for answering, and it is not constant during iterative model
updates (for Llama 2-Chat, the best temperature with 10 to 100 outputs is T in [1.2, 1.3]). In the kit's panel of
Figure 8 (`course.alignment.plot_reward_curves`), read which temperature gives the highest maximum at each N: the
lowest temperatures lead at N = 1, the highest ones overtake them as N grows.

Here the reward is Llama 2's piecewise R_c (`ppo.llama2_reward`): the safety reward model for safety prompts or a
reply it scores below 0.15, the helpfulness one otherwise.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..progress import progress
from ..replies import replies
from ..train import finetune_on_dialogs
from ..world import preferences
from .ppo import llama2_reward
from .reward import RewardModel
from .sequences import text_row


def sample_replies(model, tokenizer, requests: Sequence, n: int, system: str | None = None,
                   temperature: float = 1.0, top_p: float = 1.0, max_new_tokens: int = 48, seed: int = 0,
                   batch_size: int = 64) -> list[list[str]]:
    """n sampled replies per request, [[reply 1, ..., reply n] for each request]: reply j of every request comes
    from one batched call seeded `seed * 1009 + j`. A request is a user message (with `system` in front) or a
    dialog ending on the user's turn, as `replies` takes them."""
    columns = [replies(model, tokenizer, list(requests), system=system, max_new_tokens=max_new_tokens,
                       temperature=temperature, top_p=top_p, seed=seed * 1009 + j, batch_size=batch_size)
               for j in range(n)]
    return [list(row) for row in zip(*columns)]


def reward_of(safety_rm: RewardModel, helpfulness_rm: RewardModel, tokenizer, items: Sequence[dict],
              samples: Sequence[Sequence[str]]) -> torch.Tensor:
    """R_c of every sample, (prompts, K), as a probability."""
    k = len(samples[0])
    flat_items = [item for item in items for _ in range(k)]
    rows = [text_row(tokenizer, item["dialog"], text, safety_rm.args.max_seq_len)
            for item, row in zip(items, samples) for text in row]
    is_safety = torch.tensor([preferences.prompt_kind(item) == "safety" for item in flat_items])
    return llama2_reward(safety_rm, helpfulness_rm, rows, is_safety, tokenizer.eos_id)["combined"].view(len(items), k)


def reward_curve(rewards: torch.Tensor, ns: Sequence[int]) -> dict[str, list[float]]:
    """The mean over prompts of the maximum and of the median reward among each prompt's first N samples, for each
    N in `ns` (the paper's Figure 7). rewards: (prompts, K) with K >= max(ns). The median of an even number of
    samples is the mean of the middle two. Example: one prompt, rewards [0.2, 0.9, 0.4] -> N=1: max 0.2, median
    0.2; N=3: max 0.9, median 0.4."""
    out: dict[str, list[float]] = {"n": list(ns), "max": [], "median": []}
    for n in ns:
        first = rewards[:, :n]
        out["max"].append(first.max(-1).values.mean().item())
        out["median"].append(first.quantile(0.5, dim=-1).mean().item())
    return out


def best_samples(items: Sequence[dict], samples: Sequence[Sequence[str]], rewards: torch.Tensor) -> list[dict]:
    """For each prompt, its highest-reward sample: {"item", "reply", "reward"}."""
    best = rewards.argmax(-1).tolist()
    return [{"item": item, "reply": row[b], "reward": rewards[i, b].item()}
            for i, (item, row, b) in enumerate(zip(items, samples, best))]


KEEPS = ("all", "latest")  # what a round fine-tunes on: the best reply of every round so far, or of this round


def keep_best(kept: dict[int, dict], best: Sequence[dict], keep: str = "all") -> dict[int, dict]:
    """The replies a round fine-tunes on, by prompt index: with keep="all", each prompt's best reply of any round so
    far (what Llama 2 did from RLHF-V4 on); with "latest", this round's best alone (up to RLHF-V3, which regressed).

    kept: what the previous round kept ({} before the first); best: this round's `best_samples`, one per prompt.
    Returns a new dict. Example: kept {0: reward 0.9}, this round's best [0.6, 0.7] -> "all": {0: 0.9, 1: 0.7};
    "latest": {0: 0.6, 1: 0.7}.
    """
    if keep not in KEEPS:
        raise ValueError(f"keep={keep!r}: a round keeps the best replies of {' or '.join(map(repr, KEEPS))} rounds")
    out = dict(kept) if keep == "all" else {}
    for i, sample in enumerate(best):
        if i not in out or sample["reward"] > out[i]["reward"]:
            out[i] = sample
    return out


def forgotten(best_so_far: dict[int, dict], kept: dict[int, dict]) -> dict[str, int]:
    """What a round dropped: the prompts whose best reply of all rounds so far (by reward) is not the one kept,
    and of those, how many the world judge scores lower in the reply kept instead. Always 0 with keep="all".
    Example: best so far {0: "Ada lives in Applebury." (reward 0.9)}, kept {0: "I don't know anyone called Ada."
    (reward 0.6)}, for "Where does Ada live?" -> {"prompts": 1, "judged_worse": 1} (the judge: 3, then 1)."""
    dropped = [i for i, b in best_so_far.items() if kept.get(i, {}).get("reply") != b["reply"]]
    worse = sum(i in kept and preferences.score(kept[i]["item"], kept[i]["reply"])
                < preferences.score(best_so_far[i]["item"], best_so_far[i]["reply"]) for i in dropped)
    return {"prompts": len(dropped), "judged_worse": worse}


def round_line(record: dict) -> str:
    """One round of `rejection_sampling` (its record) as a sentence for the log."""
    which = "this round's" if record.get("keep") == "latest" else "the"
    so_far = "" if record.get("keep") == "latest" else " so far"
    return (f"round {record['round']}: mean best reward {record['best']:.3f}, mean median {record['median']:.3f}; "
            f"fine-tuned on {which} {record['kept']:,} best replies{so_far} (final loss {record['final_loss']:.3f})")


def rejection_sampling(sft_model, tokenizer, safety_rm: RewardModel, helpfulness_rm: RewardModel,
                       prompts: Sequence[dict], rounds: int = 2, k: int = 8, temperature: float = 1.0,
                       steps: int = 150, lr: float = 5e-5, seed: int = 0, log=None, keep: str = "all"):
    """Rounds of rejection sampling: each samples k replies per prompt from the latest model, keeps the best, and
    fine-tunes the SFT model on the best replies of every round so far (Llama 2 kept the top samples of all
    earlier iterations after finding that training on the latest alone regressed; keep="latest" does that instead,
    `keep_best`). Returns (the last model, one record per round: the mean best and mean median reward of the
    samples, the kept replies, and with keep="latest" what the round dropped, `forgotten`)."""
    if keep not in KEEPS:
        raise ValueError(f"keep={keep!r}: a round keeps the best replies of {' or '.join(map(repr, KEEPS))} rounds")
    model, kept, best_so_far, history = sft_model, {}, {}, []
    for r in progress(range(rounds), "rejection sampling", unit="round"):
        samples = sample_replies(model, tokenizer, [p["dialog"] for p in prompts], k, temperature=temperature,
                                 seed=seed + 100 * r)
        rewards = reward_of(safety_rm, helpfulness_rm, tokenizer, prompts, samples)
        best = best_samples(prompts, samples, rewards)
        kept, best_so_far = keep_best(kept, best, keep), keep_best(best_so_far, best, "all")
        dialogs = [[*b["item"]["dialog"], {"role": "assistant", "content": b["reply"]}]
                   for b in kept.values() if b["reply"]]
        model, losses = finetune_on_dialogs(sft_model, tokenizer, dialogs, steps=steps, lr=lr, seed=seed + r)
        record = {"round": r + 1, "best": rewards.max(-1).values.mean().item(),
                  "median": rewards.quantile(0.5, dim=-1).mean().item(), "kept": len(dialogs),
                  "final_loss": sum(losses[-10:]) / len(losses[-10:])}
        if keep == "latest":
            record.update(keep=keep, forgotten=forgotten(best_so_far, kept))
        history.append(record)
        if log is not None:
            log(record)
    return model, history
