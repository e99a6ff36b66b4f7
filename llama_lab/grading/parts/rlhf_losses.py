"""Assignment 07: the two losses at the heart of Llama-2-Chat's RLHF.

    ranking_loss(chosen, rejected, margin)     -> one loss per comparison: -log sigmoid(r_chosen - r_rejected - m),
                                                  the reward model's binary ranking loss with Llama 2's margin
                                                  (section 3.2.2)
    ppo_clipped_loss(logprobs, old_logprobs,   -> PPO's clipped surrogate as a loss to minimise: the mean over the
                     advantages, mask, clip)      reply tokens (mask) of max(-A * ratio, -A * clamp(ratio, 1 - clip,
                                                  1 + clip)), ratio = exp(logprobs - old_logprobs) (section 3.2.3)

The right answers are the kit's `rlhf.reward.ranking_loss` and `rlhf.ppo.policy_loss` (which TRL's reward loss and
hand-worked cases check in tests/rlhf/test_rlhf.py). PPO's loss is graded on its value and on its gradient with respect
to the new log-probabilities, since the gradient is what the optimiser uses: a loss with the right value and no
gradient trains nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...rlhf.ppo import masked_mean, policy_loss
from ...rlhf.reward import MARGINS, RATINGS, ranking_loss
from ..engine.checks import Case, Part

TITLE = "RLHF's losses: the reward model's margin ranking loss and PPO's clipped objective"


# ----------------------------------------------------------------------------------------------- ranking_loss

def reference_ranking_loss(chosen, rejected, margin):
    return ranking_loss(chosen, rejected, margin)


def _difference(chosen, rejected):
    return chosen - rejected


RANKING_MISTAKES = {
    "the scores are the wrong way round: the loss must fall as r(chosen) rises above r(rejected), "
    "-log sigmoid(r_chosen - r_rejected - margin)":
        lambda c, r, m: F.softplus(-(r - c - m)),
    "the margin is added: it is subtracted, so that the chosen reply must win by at least the margin, "
    "sigmoid(r_chosen - r_rejected - margin)":
        lambda c, r, m: F.softplus(-(_difference(c, r) + m)),
    "the margin is ignored: subtract it from the difference of the scores":
        lambda c, r, m: F.softplus(-_difference(c, r)),
    "log(sigmoid(x)) underflows: sigmoid(-120) is 0 in float32 and its log is -inf; use F.logsigmoid(x) or "
    "-F.softplus(-x), which compute the same number without overflow":
        lambda c, r, m: -torch.log(torch.sigmoid(_difference(c, r) - m)),
    "the minus sign is missing: -log sigmoid(...) is the loss (positive, falling to 0); log sigmoid is the "
    "log-likelihood of the preference, which training maximises":
        lambda c, r, m: F.logsigmoid(_difference(c, r) - m),
    "the losses are averaged: return one loss per comparison (the training loop takes the mean)":
        lambda c, r, m: F.softplus(-(_difference(c, r) - m)).mean(),
    "a hinge loss, max(0, margin - difference): Llama 2's loss is the logistic -log sigmoid(difference - margin)":
        lambda c, r, m: (m - _difference(c, r)).clamp(min=0),
    "sigmoid without its log: the loss is -log sigmoid(...), the negative log-likelihood of the preference":
        lambda c, r, m: 1 - torch.sigmoid(_difference(c, r) - m),
}


def _run_ranking(impl, inputs):
    return impl(inputs["chosen"], inputs["rejected"], inputs["margin"])


def _ranking_cases():
    g = torch.Generator().manual_seed(71)
    ratings = [RATINGS[i % len(RATINGS)] for i in range(8)]
    small = ", ".join(f"{MARGINS['small'][r]:.3g}" for r in RATINGS)
    return [
        Case("by hand: chosen [1.5, 1.5], rejected [0.5, 0.5], margin [0, 1] (answer: [log(1 + e^-1), log 2] = "
             "[0.3133, 0.6931])", dict(chosen=torch.tensor([1.5, 1.5]), rejected=torch.tensor([0.5, 0.5]),
                                       margin=torch.tensor([0.0, 1.0]))),
        Case(f"8 comparisons with random scores, rated {', '.join(ratings[:4])}, ... in turn, with the margins of "
             f"Llama 2's small table ({small})",
             dict(chosen=torch.randn(8, generator=g), rejected=torch.randn(8, generator=g),
                  margin=torch.tensor([MARGINS["small"][r] for r in ratings]))),
        Case("the reward model far off: chosen [-60, 60], rejected [60, -60], margin [3, 3], float32 (answer: "
             "[123, about 0])", dict(chosen=torch.tensor([-60.0, 60.0]), rejected=torch.tensor([60.0, -60.0]),
                                     margin=torch.tensor([3.0, 3.0])), atol=1e-4),
        Case("a batch of shape (2, 3) with one margin for all (a plain number, 0.5)",
             dict(chosen=torch.randn(2, 3, generator=g) * 2, rejected=torch.randn(2, 3, generator=g) * 2,
                  margin=0.5)),
        Case("one comparison, the two replies scored the same, margin 0 (answer: [log 2] = [0.6931])",
             dict(chosen=torch.tensor([0.25]), rejected=torch.tensor([0.25]), margin=torch.tensor([0.0]))),
    ]


# ------------------------------------------------------------------------------------------- ppo_clipped_loss

def reference_ppo_loss(logprobs, old_logprobs, advantages, mask, clip=0.2):
    return policy_loss(logprobs, old_logprobs, advantages, mask, clip)[0]


def _ppo_with(ratio_of=None, combine=torch.maximum, average=masked_mean, clip_low=None, sign=1.0):
    def loss(logprobs, old, advantages, mask, clip=0.2):
        ratio = ratio_of(logprobs, old) if ratio_of else torch.exp(logprobs - old)
        low, high = (1 - clip, 1 + clip) if clip_low is None else (clip_low(clip), clip)
        unclipped, clipped = -advantages * ratio, -advantages * ratio.clamp(low, high)
        return sign * average(combine(unclipped, clipped), mask)
    return loss


def _row_means_then_mean(x, mask):
    return ((x * mask).sum(1) / mask.sum(1).clamp(min=1)).mean()


def _row_means_of_nothing(x, mask):
    return ((x * mask).sum(1) / mask.sum(1)).mean()  # a row without reply tokens is 0 / 0


PPO_MISTAKES = {
    "the ratio is inverted: it is pi_new / pi_old = exp(logprobs - old_logprobs)":
        _ppo_with(ratio_of=lambda new, old: torch.exp(old - new)),
    "the ratio is a difference of log-probabilities: exponentiate it, ratio = exp(logprobs - old_logprobs)":
        _ppo_with(ratio_of=lambda new, old: new - old),
    "the ratio divides log-probabilities: the ratio of probabilities is exp(logprobs - old_logprobs)":
        _ppo_with(ratio_of=lambda new, old: new / old),
    "nothing is clipped: PPO takes the worse of ratio * A and clamp(ratio, 1 - clip, 1 + clip) * A":
        _ppo_with(combine=lambda unclipped, clipped: unclipped),
    "the better of the two is taken: PPO is pessimistic, the loss is the max of -A * ratio and -A * clamp(...) "
    "(the min of the objectives)":
        _ppo_with(combine=torch.minimum),
    "the ratio is clamped to [-clip, clip]: it stays within [1 - clip, 1 + clip] of 1":
        _ppo_with(clip_low=lambda clip: -clip),
    "the advantages are clipped instead of the ratio: clamp(ratio, 1 - clip, 1 + clip) * A":
        lambda new, old, adv, mask, clip=0.2: masked_mean(torch.maximum(
            -adv * torch.exp(new - old), -adv.clamp(1 - clip, 1 + clip) * torch.exp(new - old)), mask),
    "the objective is returned: minimise the loss, its negative, -min(ratio * A, clamp(ratio) * A)":
        lambda new, old, adv, mask, clip=0.2: -reference_ppo_loss(new, old, adv, mask, clip),
    "padding is counted: average over the reply tokens only, sum(x * mask) / sum(mask)":
        _ppo_with(average=lambda x, mask: x.mean()),
    "each row is averaged first: average over all reply tokens of the batch at once, so that every token weighs "
    "the same (sum(x * mask) / sum(mask))":
        _ppo_with(average=_row_means_then_mean),
    "each row is averaged first, and a reply with no tokens gives 0 / 0 = NaN: average over all reply tokens of "
    "the batch at once, sum(x * mask) / sum(mask), which counts an empty reply as nothing":
        _ppo_with(average=_row_means_of_nothing),
    "no gradient reaches the new log-probabilities (a .detach(), .item() or torch.no_grad() too many): the "
    "optimiser needs d loss / d logprobs":
        lambda new, old, adv, mask, clip=0.2: reference_ppo_loss(new.detach(), old, adv, mask, clip),
}


def _run_ppo(impl, inputs):
    logprobs = inputs["logprobs"].clone().requires_grad_(True)
    loss = impl(logprobs, inputs["old_logprobs"], inputs["advantages"], inputs["mask"], inputs["clip"])
    if not isinstance(loss, torch.Tensor):
        raise TypeError(f"the loss is a {type(loss).__name__}: return a tensor (0-dimensional), so that "
                        "loss.backward() can train the policy")
    if loss.requires_grad:
        (gradient,) = torch.autograd.grad(loss.sum(), logprobs, allow_unused=True)
    else:
        gradient = None
    gradient = torch.zeros_like(logprobs) if gradient is None else gradient
    return {"loss": loss.detach(), "gradient": gradient}


def _ppo_cases():
    g = torch.Generator().manual_seed(72)
    old = -1 - torch.rand(3, 6, generator=g) * 3  # (B, T) log-probabilities of the sampled tokens
    lengths = torch.tensor([6, 4, 2])
    mask = (torch.arange(6)[None, :] < lengths[:, None]).float()  # (B, T): rows of 6, 4 and 2 reply tokens
    ratios = torch.tensor([1.5, 0.5, 1.1, 0.9])
    return [
        Case("by hand: one row, ratios [1.5, 0.5, 1.1, 0.9], advantages [1, -1, 1, -1], clip 0.2 (answer: mean of "
             "[-1.2, 0.8, -1.1, 0.9] = -0.15; gradient 0 on the two clipped tokens)",
             dict(logprobs=(ratios.log() - 1.0)[None], old_logprobs=torch.full((1, 4), -1.0),
                  advantages=torch.tensor([[1.0, -1.0, 1.0, -1.0]]), mask=torch.ones(1, 4), clip=0.2)),
        Case("3 rows of 6, 4 and 2 reply tokens (mask (3, 6), padding after), random advantages, new "
             "log-probabilities up to 0.4 from the old, clip 0.2",
             dict(logprobs=old + (torch.rand(3, 6, generator=g) - 0.5) * 0.8, old_logprobs=old,
                  advantages=torch.randn(3, 6, generator=g), mask=mask, clip=0.2)),
        Case("the first PPO step of an iteration: new log-probabilities equal to the old (ratio 1 everywhere), "
             "mask as above, clip 0.1",
             dict(logprobs=old.clone(), old_logprobs=old, advantages=torch.randn(3, 6, generator=g), mask=mask,
                  clip=0.1)),
        Case("a policy that moved far: new log-probabilities up to 2 from the old, mask as above, clip 0.3",
             dict(logprobs=old + (torch.rand(3, 6, generator=g) - 0.5) * 4, old_logprobs=old,
                  advantages=torch.randn(3, 6, generator=g), mask=mask, clip=0.3)),
        Case("one reply of one token: ratio 1.5, advantage 2, clip 0.2 (answer: max(-3, -2.4) = -2.4; gradient 0, "
             "the ratio is clipped)",
             dict(logprobs=torch.tensor([[1.5]]).log() - 2.0, old_logprobs=torch.full((1, 1), -2.0),
                  advantages=torch.tensor([[2.0]]), mask=torch.ones(1, 1), clip=0.2)),
        Case("a reply with no tokens at all (its row of the mask all 0) beside rows of 6 and 3, clip 0.2",
             dict(logprobs=old + (torch.rand(3, 6, generator=g) - 0.5) * 0.8, old_logprobs=old,
                  advantages=torch.randn(3, 6, generator=g), clip=0.2,
                  mask=(torch.arange(6)[None, :] < torch.tensor([6, 0, 3])[:, None]).float())),
    ]


PARTS = [
    Part("ranking_loss", "the reward model's ranking loss with a margin", reference_ranking_loss, _run_ranking,
         _ranking_cases, RANKING_MISTAKES, kit=(ranking_loss,),
         hint="One loss per comparison: -log sigmoid(chosen - rejected - margin), computed as "
              "softplus(-(chosen - rejected - margin)) or -F.logsigmoid(...)"),
    Part("ppo_clipped_loss", "PPO's clipped objective", reference_ppo_loss, _run_ppo, _ppo_cases, PPO_MISTAKES,
         kit=(policy_loss,),
         hint="ratio = exp(logprobs - old_logprobs); per token max(-A * ratio, -A * clamp(ratio, 1 - clip, "
              "1 + clip)); then sum(x * mask) / sum(mask)"),
]
