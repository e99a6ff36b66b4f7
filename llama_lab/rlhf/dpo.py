"""Direct Preference Optimization (Rafailov et al. 2023): the preference pairs, without a reward model or sampling.

RLHF with PPO learns a reward model, then maximises it with a KL penalty to a reference model (PPO's "original
policy"). DPO showed that the policy that optimum defines can be trained on the comparisons directly: the
policy's own log-ratio to the reference model acts as the reward, r(x, y) = beta * log(pi(y|x) / pi_ref(y|x)), and
the ranking loss of the reward model applies to it:

    L = -log sigmoid(beta * [(log pi(y_c|x) - log pi_ref(y_c|x)) - (log pi(y_r|x) - log pi_ref(y_r|x))])

beta plays the KL coefficient's part: the smaller it is, the further the policy may move from the reference.
DPO appeared in May 2023 (arXiv 2305.18290), two months before Llama 2 (July 2023); Llama 2 did not use it (its
RLHF is rejection sampling and PPO), and Llama 3's post-training did. Here it runs on the same comparisons as the
reward models, with the tiny chat model (the kit's SFT model) as reference, so that the two methods can be
compared on the same measures.

`iterative_dpo` runs it as Llama 2 ran RLHF, in rounds: each round, fresh prompts are answered by the latest model,
the replies are judged, and the next model learns from those comparisons (section 3.2.1: new preference data is
gathered "using the latest Llama 2-Chat iterations", so that it stays on the distribution the model now writes).
It adds Llama 3's guard against the chosen replies becoming less likely too: the chosen reply's negative
log-likelihood, weighted 0.2, beside the DPO loss (Llama 3 paper, section 4.1.4).
"""
from __future__ import annotations

import copy
import math
from typing import Sequence

import torch
import torch.nn.functional as F

from ..model import Llama
from ..optim import Recipe
from ..progress import progress
from ..replies import replies
from ..world import preferences
from .reward import comparison_rows
from .sequences import epoch_order, reply_logprobs

BETA = 0.1  # the weight of the log-ratios (the KL coefficient's part) in every DPO run of the kit


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, reference_chosen: torch.Tensor,
             reference_rejected: torch.Tensor, beta: float = BETA) -> torch.Tensor:
    """The DPO loss of each pair (B,), from the summed log-probabilities of the chosen and rejected replies under
    the policy and the reference. Example: a policy that moved log 2 towards the chosen reply and log 2 away from
    the rejected one, with beta 1: -log sigmoid(2 log 2) = log(1 + 1/4) = 0.2231."""
    log_ratios = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)  # (B,)
    return -F.logsigmoid(beta * log_ratios)


def train_dpo(sft_model: Llama, tokenizer, records: Sequence[dict], beta: float = BETA, epochs: float = 1.0,
              batch_size: int = 16, lr: float = 1e-5, seed: int = 0,
              nll_weight: float = 0.0) -> tuple[Llama, dict]:
    """A copy of `sft_model` trained with DPO on the comparisons (`preferences.sample_pairs` records), with the
    frozen `sft_model` as reference. AdamW at a constant `lr` after a short warm-up. `nll_weight` > 0 adds that
    times the chosen replies' negative log-likelihood per token (each reply's mean, averaged over the batch).
    Returns (policy in eval mode, {"loss": the DPO loss per step, "accuracy": per step, the share of pairs whose
    implicit reward ranks the chosen first, "nll": the chosen replies' NLL per token, per step}).
    """
    if not records:
        raise ValueError("no comparisons to train on")
    torch.manual_seed(seed)
    policy = copy.deepcopy(sft_model).train()
    reference = sft_model.eval()
    chosen, rejected = comparison_rows(tokenizer, records, sft_model.args.max_seq_len)
    with torch.no_grad():
        ref_chosen = torch.cat([reply_logprobs(reference, chosen[i:i + 64], tokenizer.eos_id)
                                for i in range(0, len(chosen), 64)])
        ref_rejected = torch.cat([reply_logprobs(reference, rejected[i:i + 64], tokenizer.eos_id)
                                  for i in range(0, len(rejected), 64)])
    steps = max(1, math.ceil(epochs * len(records) / batch_size))
    order = epoch_order(len(records), steps, batch_size, seed)
    # a warm-up over a tenth of the steps then a constant lr, no weight decay, torch's eps (1e-8): the settings the
    # shipped DPO models were trained with
    recipe = Recipe(lr=lr, steps=steps, warmup=max(1, steps // 10), min_lr_ratio=1.0, weight_decay=0.0, eps=1e-8)
    optimizer = recipe.optimizer(policy)
    history = {"loss": [], "accuracy": [], "nll": []}
    for step in progress(range(steps), "DPO", unit="step"):
        picked = order[step * batch_size:(step + 1) * batch_size]
        logps = reply_logprobs(policy, [chosen[i] for i in picked] + [rejected[i] for i in picked], tokenizer.eos_id)
        pi_chosen, pi_rejected = logps[:len(picked)], logps[len(picked):]
        losses = dpo_loss(pi_chosen, pi_rejected, ref_chosen[picked], ref_rejected[picked], beta)
        reply_lengths = torch.tensor([len(chosen[i].ids) - chosen[i].start for i in picked], dtype=torch.float32)
        nll = (-pi_chosen / reply_lengths).mean()  # per token of each chosen reply (its EOS included)
        loss = losses.mean() + nll_weight * nll
        loss.backward()
        recipe.update(optimizer, policy.parameters(), step)
        margin = (pi_chosen - ref_chosen[picked]) - (pi_rejected - ref_rejected[picked])
        history["loss"].append(losses.mean().item())
        history["accuracy"].append((margin > 0).float().mean().item())
        history["nll"].append(nll.item())
    return policy.eval(), history


def on_policy_comparisons(policy: Llama, sft_model: Llama, tokenizer, items: Sequence[dict], round_number: int,
                          candidates: int = 5, temperature: float = 1.0,
                          max_new_tokens: int = 48) -> tuple[list[dict], list[int]]:
    """One round's comparisons: each prompt answered `candidates` times and judged, its best reply against its
    worst (`preferences.best_and_worst`; prompts whose replies all score the same give none).

    The replies: the policy's greedy one, SFT's greedy one (from round 2, when the policy is no longer SFT), and
    samples of the policy at `temperature` for the rest, seeded by the round. Returns (`sample_pairs` records,
    the judge's score of the policy's greedy reply to each prompt).
    """
    dialogs = [item["dialog"] for item in items]

    def answer(model, **sampling) -> list[str]:
        return replies(model, tokenizer, dialogs, max_new_tokens=max_new_tokens, **sampling)

    answers = {"latest greedy": answer(policy)}
    if round_number > 1:
        answers["SFT greedy"] = answer(sft_model)
    for k in range(candidates - len(answers)):
        answers[f"latest T={temperature} #{k + 1}"] = answer(policy, temperature=temperature,
                                                             seed=100 * round_number + k)
    names = list(answers)
    records = [preferences.best_and_worst(item, [answers[n][i] for n in names], names)
               for i, item in enumerate(items)]
    greedy = [preferences.score(item, reply) for item, reply in zip(items, answers["latest greedy"])]
    return [r for r in records if r is not None], greedy


def iterative_dpo(sft_model: Llama, tokenizer, prompt_rounds: Sequence[Sequence[dict]], candidates: int = 5,
                  epochs: float = 3.0, nll_weight: float = 0.2, seed: int = 0, log=None,
                  **train_kwargs) -> tuple[Llama, list[dict]]:
    """DPO in rounds, one per list of prompts in `prompt_rounds`: each round's comparisons come from the latest
    model (`on_policy_comparisons`), and the model trained on them, with the latest model as its reference, is
    the next round's. Returns (the last model, per round: {"comparisons", "ratings", "greedy": the judge's mean
    score of the latest model's greedy replies to the round's prompts, by kind, before training on them, and
    `train_dpo`'s "loss", "accuracy", "nll"}).
    """
    policy, rounds = sft_model, []
    for number, items in enumerate(progress(prompt_rounds, "DPO rounds", unit="round"), start=1):
        records, greedy = on_policy_comparisons(policy, sft_model, tokenizer, items, number, candidates)
        policy, history = train_dpo(policy, tokenizer, records, epochs=epochs, nll_weight=nll_weight, seed=seed,
                                    **train_kwargs)
        rounds.append({"round": number, "comparisons": len(records), "ratings": preferences.rating_counts(records),
                       "greedy": preferences.mean_by_kind(items, greedy), **history})
        if log is not None:
            log(f"round {number}: {len(records)} comparisons; the latest model's greedy replies scored "
                + ", ".join(f"{kind} {v:.3f}" for kind, v in rounds[-1]["greedy"].items()))
    return policy, rounds
