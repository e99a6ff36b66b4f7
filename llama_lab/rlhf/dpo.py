"""Direct Preference Optimization (Rafailov et al. 2023): the preference pairs, without a reward model or sampling.

PPO learns a reward model, then maximises it with a KL penalty to the SFT model. DPO showed that the policy that
optimum defines can be trained on the comparisons directly: the policy's own log-ratio to the reference model acts
as the reward, r(x, y) = beta * log(pi(y|x) / pi_ref(y|x)), and the ranking loss of the reward model applies to it:

    L = -log sigmoid(beta * [(log pi(y_c|x) - log pi_ref(y_c|x)) - (log pi(y_r|x) - log pi_ref(y_r|x))])

beta plays the KL coefficient's part: the smaller it is, the further the policy may move from the reference.
It came after Llama 2 (May 2023) and was used for Llama 3's post-training; here it runs on the same comparisons as
the reward models, so that the two methods can be compared on the same measures.
"""
from __future__ import annotations

import copy
import math
from typing import Sequence

import torch
import torch.nn.functional as F

from ..model import Llama
from .reward import comparison_rows
from .sequences import epoch_order, reply_logprobs


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, reference_chosen: torch.Tensor,
             reference_rejected: torch.Tensor, beta: float = 0.1) -> torch.Tensor:
    """The DPO loss of each pair (B,), from the summed log-probabilities of the chosen and rejected replies under
    the policy and the reference. Example: a policy that moved log 2 towards the chosen reply and log 2 away from
    the rejected one, with beta 1: -log sigmoid(2 log 2) = log(1 + 1/4) = 0.2231."""
    log_ratios = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)  # (B,)
    return -F.logsigmoid(beta * log_ratios)


def train_dpo(sft_model: Llama, tokenizer, records: Sequence[dict], beta: float = 0.1, epochs: float = 1.0,
              batch_size: int = 16, lr: float = 1e-5, seed: int = 0) -> tuple[Llama, dict]:
    """A copy of `sft_model` trained with DPO on the comparisons (`preferences.sample_pairs` records), with the
    frozen `sft_model` as reference. AdamW at a constant `lr` after a short warm-up. Returns (policy in eval mode,
    {"loss": per step, "accuracy": per step, the share of pairs whose implicit reward ranks the chosen first}).
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
    optimizer = torch.optim.AdamW(policy.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    warm = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warm))
    history = {"loss": [], "accuracy": []}
    for step in range(steps):
        picked = order[step * batch_size:(step + 1) * batch_size]
        logps = reply_logprobs(policy, [chosen[i] for i in picked] + [rejected[i] for i in picked], tokenizer.eos_id)
        pi_chosen, pi_rejected = logps[:len(picked)], logps[len(picked):]
        losses = dpo_loss(pi_chosen, pi_rejected, ref_chosen[picked], ref_rejected[picked], beta)
        optimizer.zero_grad(set_to_none=True)
        losses.mean().backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        margin = (pi_chosen - ref_chosen[picked]) - (pi_rejected - ref_rejected[picked])
        history["loss"].append(losses.mean().item())
        history["accuracy"].append((margin > 0).float().mean().item())
    return policy.eval(), history
