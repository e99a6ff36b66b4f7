"""PPO with Llama 2's reward (section 3.2.3), small enough to read and to run on a laptop.

Each iteration samples replies to a batch of prompts from the current policy, scores them, and takes a few clipped
gradient steps. The reward is Llama 2's:

    R_c(g|p) = R_s(g|p)  if the prompt is a safety prompt or R_s(g|p) < 0.15,  else R_h(g|p)
    R(g|p)   = WHITEN(LOGIT(R_c(g|p))) - beta * KL(pi(g|p) || pi_0(g|p))

R_s and R_h are the safety and helpfulness reward models' outputs read as probabilities (the sigmoid of their
scores). LOGIT undoes the sigmoid; WHITEN then standardises the batch's rewards (subtracts their mean, divides by
their standard deviation), which the paper found steadies training. pi_0 is "the original policy", in the paper's
words: the model PPO started from, kept frozen as the reference. Llama 2's PPO started from its rejection-sampling
checkpoint from RLHF-V4 on, and so did the kit's shipped run (`data/rlhf.json` records it as "started_from"). The
KL penalty (beta 0.01 for 7B and 13B, 0.005 for 34B and 70B) keeps the policy near pi_0, away from replies that
fool the reward models. The KL is estimated on the sampled tokens, log pi(token) - log pi_0(token), and paid
token by token; the whitened reward comes at the reply's last token. Then, as in every PPO for language models:
a value head (one linear map on the policy's last hidden state) estimates the return to come from each position;
generalised advantage estimation (GAE) turns rewards and values into advantages, how much better each sampled
token did than the value head expected; and the policy loss is clipped so that no step moves a token's
probability ratio beyond 1 +- clip. The paper's settings: AdamW at 1e-6, batches of 512 with mini-batches of 64
(one gradient step per mini-batch), clip 0.2, 200-400 iterations. `PPOConfig` holds the kit's: each iteration
takes batch_size / minibatch_size * epochs gradient steps.
"""
from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn

from ..chat import encode_dialog
from ..generate import generate_tokens
from ..model import Llama
from ..optim import Recipe
from ..progress import progress
from ..world import preferences
from .reward import RewardModel
from .sequences import Row, logprobs_of, pad, reply_mask, token_row

SAFETY_THRESHOLD = 0.15  # R_s below this and the safety reward model's verdict is used, whatever the prompt


# ------------------------------------------------------------------------------------------- the reward

def combined_reward(safety: torch.Tensor, helpfulness: torch.Tensor, is_safety_prompt: torch.Tensor,
                    threshold: float = SAFETY_THRESHOLD) -> torch.Tensor:
    """Llama 2's piecewise R_c: the safety score for a safety prompt or a reply it scores below `threshold`,
    the helpfulness score otherwise. All (B,), scores as probabilities.
    Example: safety 0.9, helpfulness 0.2, safety prompt -> 0.9; 0.1, 0.95, not -> 0.1; 0.6, 0.4, not -> 0.4."""
    return torch.where(is_safety_prompt | (safety < threshold), safety, helpfulness)


def logit(p: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """log(p / (1 - p)), the inverse of the sigmoid; p is clamped to [eps, 1 - eps] first."""
    p = p.clamp(eps, 1 - eps)
    return torch.log(p) - torch.log1p(-p)


def whiten(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(x - mean) / std, the mean and (population) standard deviation taken over the entries where `mask` is True
    (all by default); entries outside the mask become 0. Example: [1, 2, 3] -> [-1.2247, 0, 1.2247]."""
    mask = torch.ones_like(x, dtype=torch.bool) if mask is None else mask
    values = x[mask]
    return (x - values.mean()) / (values.std(unbiased=False) + 1e-8) * mask


def token_rewards(final: torch.Tensor, logprobs: torch.Tensor, reference_logprobs: torch.Tensor,
                  mask: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards (B, T) and the KL estimate per token (B, T): each reply token pays beta times
    log pi(token) - log pi_0(token), and the reply's last token also earns `final` (B,), the whitened reward."""
    kl = (logprobs - reference_logprobs) * mask  # (B, T)
    rewards = -beta * kl
    last = mask.long().cumsum(-1).argmax(-1)  # (B,): the index of each row's last reply position
    rewards[torch.arange(len(final)), last] += final
    return rewards, kl


# --------------------------------------------------------------------------------------- PPO's parts

def advantages_and_returns(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
                           lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016) along each row's reply positions (B, T):

        delta_t = r_t + gamma * V_{t+1} - V_t       (V after the last reply position is 0: the episode ends)
        A_t = delta_t + gamma * lam * A_{t+1}       returns_t = A_t + V_t

    Example: one row, rewards [0, 1], values [0.5, 0.5], gamma 1, lam 1 -> deltas [0, 0.5], advantages [0.5, 0.5],
    returns [1, 1]."""
    T = rewards.shape[1]
    advantages = torch.zeros_like(rewards)
    next_advantage = torch.zeros(rewards.shape[0], device=rewards.device)
    next_value = torch.zeros(rewards.shape[0], device=rewards.device)
    for t in reversed(range(T)):
        live = mask[:, t].float()
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantage = delta + gamma * lam * next_advantage
        advantages[:, t] = advantage * live
        next_advantage = advantage * live  # nothing flows back across positions outside the reply
        next_value = values[:, t] * live
    return advantages, (advantages + values) * mask


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                clip: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate (Schulman et al. 2017), as a loss to minimise, and the share of tokens clipped:

        ratio = exp(log pi(token) - log pi_old(token))
        loss = mean over reply tokens of max(-A * ratio, -A * clamp(ratio, 1 - clip, 1 + clip))

    Example: A = 1, ratio 1.5, clip 0.2 -> max(-1.5, -1.2) = -1.2: the gain is capped at 1 + clip."""
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped, clipped = -advantages * ratio, -advantages * ratio.clamp(1 - clip, 1 + clip)
    return masked_mean(torch.maximum(unclipped, clipped), mask), masked_mean((clipped > unclipped).float(), mask)


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip: float = 0.2) -> torch.Tensor:
    """Half the squared error to the returns, the larger of the plain and the clipped value's (a value may move
    `clip` from the one that sampled)."""
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    return 0.5 * masked_mean(torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask)


class PolicyWithValue(nn.Module):
    """The policy (a Llama) and a value head on its last hidden states: token ids (B, T) -> (logits (B, T, V),
    values (B, T)). The head starts at zero."""

    def __init__(self, policy: Llama):
        super().__init__()
        self.policy = policy
        self.value_head = nn.Linear(policy.args.dim, 1, device=policy.device, dtype=policy.dtype)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.policy(tokens, head=False)  # (B, T, D)
        return self.policy.output(hidden).float(), self.value_head(hidden).squeeze(-1).float()


def sampled_mask(starts: torch.Tensor, lengths: torch.Tensor, width: int, cut_off: Sequence[bool]) -> torch.Tensor:
    """(B, width - 1): the positions whose next token the policy sampled. A row's closing EOS counts when the policy
    chose it; a reply cut off at the token limit had EOS added for the reward models (which read a closed reply),
    and that EOS is not one of the policy's actions."""
    mask = reply_mask(starts, lengths, width)
    for row, cut in enumerate(cut_off):
        if cut:
            mask[row, lengths[row] - 2] = False  # position length - 2 predicts the added EOS at length - 1
    return mask


# ------------------------------------------------------------------------------------------------ the loop

@dataclass
class PPOConfig:
    iterations: int = 60
    batch_size: int = 64        # prompts sampled per iteration
    minibatch_size: int = 16    # one gradient step per mini-batch, as in the paper
    epochs: int = 2             # passes over each iteration's samples: batch / mini-batch * epochs steps each
    lr: float = 5e-5
    beta: float = 0.05          # the KL penalty's weight
    clip: float = 0.2
    value_clip: float = 0.2
    value_coef: float = 0.1
    gamma: float = 1.0
    lam: float = 0.95
    temperature: float = 1.0
    max_new_tokens: int = 48
    seed: int = 0

    @property
    def steps_per_iteration(self) -> int:
        """Clipped gradient steps per iteration: one per mini-batch, every epoch. Example: batch 64, mini-batches
        of 16, 2 epochs -> 8."""
        return -(-self.batch_size // self.minibatch_size) * self.epochs


def reward_model_scores(rm: RewardModel, rows: Sequence[Row], pad_id: int) -> torch.Tensor:
    """The reward model's outputs as probabilities, sigmoid(score) (B,)."""
    return torch.sigmoid(rm.rewards(rows, pad_id))


def llama2_reward(safety_rm: RewardModel, helpfulness_rm: RewardModel, rows: Sequence[Row],
                  is_safety_prompt: torch.Tensor, pad_id: int) -> dict[str, torch.Tensor]:
    """{"safety", "helpfulness", "combined" (R_c), "whitened" (WHITEN(LOGIT(R_c)))}, each (B,)."""
    safety = reward_model_scores(safety_rm, rows, pad_id)
    helpfulness = reward_model_scores(helpfulness_rm, rows, pad_id)
    combined = combined_reward(safety, helpfulness, is_safety_prompt)
    return {"safety": safety, "helpfulness": helpfulness, "combined": combined, "whitened": whiten(logit(combined))}


def train_ppo(start_model: Llama, tokenizer, safety_rm: RewardModel, helpfulness_rm: RewardModel,
              prompts: Sequence[dict], config: PPOConfig = PPOConfig(), log=None) -> tuple[Llama, list[dict]]:
    """A copy of `start_model` tuned by PPO with Llama 2's reward on `prompts` (`preferences.preference_prompts`);
    `start_model` itself, frozen, is pi_0, the reference of the KL penalty (the SFT model, or as in Llama 2 from
    RLHF-V4 on and in the kit's pipeline, the rejection-sampling model).

    Returns (policy in eval mode, one record per iteration): the mean R_c and each reward model's mean score, the
    mean KL to pi_0 per reply (in nats), the world judge's mean scores on the sampled replies, the policy
    loss, the share of tokens clipped and the mean reply length. Watch the judge beside the reward: a reward that
    rises while the judge's verdict falls is the reward models being fooled (reward hacking).
    """
    cfg = config
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    model = PolicyWithValue(copy.deepcopy(start_model)).train()
    reference = start_model.eval()
    # a constant lr, as the paper's PPO (1e-6), so the iteration stands for the step; no weight decay and torch's
    # eps (1e-8): the settings the shipped PPO model was trained with
    recipe = Recipe(lr=cfg.lr, steps=max(1, cfg.iterations), min_lr_ratio=1.0, weight_decay=0.0, eps=1e-8)
    optimizer = recipe.optimizer(model)
    pad_id = tokenizer.eos_id
    max_len = start_model.args.max_seq_len
    history = []
    for iteration in progress(range(cfg.iterations), "PPO", unit="iteration"):
        batch = rng.sample(list(prompts), min(cfg.batch_size, len(prompts)))
        prompt_ids = [encode_dialog(tokenizer, item["dialog"]) for item in batch]
        model.eval()
        sampled = generate_tokens(model.policy, prompt_ids, cfg.max_new_tokens, temperature=cfg.temperature,
                                  top_p=1.0, seed=cfg.seed * 100_003 + iteration, eos_id=tokenizer.eos_id)
        rows = [token_row(tokenizer, item["dialog"], reply, max_len) for item, reply in zip(batch, sampled)]
        tokens, starts, lengths = pad(rows, pad_id, start_model.device)
        mask = sampled_mask(starts, lengths, tokens.shape[1], [len(r) >= cfg.max_new_tokens for r in sampled])
        is_safety = torch.tensor([preferences.prompt_kind(item) == "safety" for item in batch])
        with torch.no_grad():
            logits, values = model(tokens)
            old_logprobs, old_values = logprobs_of(logits, tokens), values[:, :-1] * mask
            reference_logprobs = logprobs_of(reference(tokens), tokens)
            reward = llama2_reward(safety_rm, helpfulness_rm, rows, is_safety, pad_id)
            rewards, kl = token_rewards(reward["whitened"].to(tokens.device), old_logprobs, reference_logprobs,
                                        mask, cfg.beta)
            advantages, returns = advantages_and_returns(rewards, old_values, mask, cfg.gamma, cfg.lam)
            advantages = whiten(advantages, mask)
        model.train()
        losses, clipped = [], []
        for _ in range(cfg.epochs):
            order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(cfg.seed + iteration))
            for start in range(0, len(rows), cfg.minibatch_size):
                idx = order[start:start + cfg.minibatch_size]
                logits, values = model(tokens[idx])
                new_logprobs = logprobs_of(logits, tokens[idx])
                pg, clip_share = policy_loss(new_logprobs, old_logprobs[idx], advantages[idx], mask[idx], cfg.clip)
                vf = value_loss(values[:, :-1], old_values[idx], returns[idx], mask[idx], cfg.value_clip)
                loss = pg + cfg.value_coef * vf
                loss.backward()
                recipe.update(optimizer, model.parameters(), iteration)
                losses.append(pg.item())
                clipped.append(clip_share.item())
        texts = [tokenizer.decode(reply).strip() for reply in sampled]
        record = {"iteration": iteration, "reward": reward["combined"].mean().item(),
                  "safety_rm": reward["safety"].mean().item(), "helpfulness_rm": reward["helpfulness"].mean().item(),
                  "kl": kl.sum(-1).mean().item(), **{f"judge_{k}": v for k, v in preferences.mean_scores(batch, texts).items()},
                  "policy_loss": sum(losses) / len(losses), "clipped": sum(clipped) / len(clipped),
                  "reply_tokens": mask.sum(-1).float().mean().item()}
        history.append(record)
        if log is not None:
            log(record)
    return model.policy.eval(), history
