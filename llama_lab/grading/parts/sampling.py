"""Assignment 04: from logits to the next token: temperature, top-k, top-p (nucleus), then inside generation.

    softmax_with_temperature(logits, temperature) -> softmax(logits / T) over the vocabulary; T = 0 is greedy
    top_k_filter(probs, k)                        -> the k likeliest tokens kept, renormalised
    top_p_filter(probs, p)                        -> Meta's nucleus: keep tokens until their mass reaches p,
                                                     including the token that crosses p; renormalised
    next_token_probs(logits, temperature=1.0, top_k=None, top_p=1.0) -> temperature, then top-k, then top-p

The right answers are the kit's `next_token_probs`, `top_k_filter` and `top_p_filter` (llama_lab/sampling.py).
"""

from __future__ import annotations


import torch
import torch.nn.functional as F

from ..engine.checks import Case, Part
from .models import random_llama, random_prompt, replaced

from ... import sampling as kit
from ...generate import generate_tokens
_kit_next_token_probs = kit.next_token_probs  # held here: the generation case swaps the module's for the student's


TITLE = "Sampling: temperature, top-k, top-p"

# ------------------------------------------------------------------------------ softmax_with_temperature

def kit_softmax_with_temperature(logits, temperature):
    return _kit_next_token_probs(logits, temperature=temperature)


def _greedy_or(fn):
    """A mistake made on temperature > 0 only: T = 0 still gives the one-hot argmax."""
    return lambda logits, t: kit_softmax_with_temperature(logits, 0) if t == 0 else fn(logits, t)


def _spread_over_ties(logits):
    """Greedy done as "all the likeliest tokens", which is one token unless the largest logit is tied."""
    likeliest = (logits == logits.max(-1, keepdim=True).values).float()
    return likeliest / likeliest.sum(-1, keepdim=True)


TEMPERATURE_MISTAKES = {
    "the temperature is applied after the softmax (softmax(logits) / T): divide the logits by T, then take "
    "the softmax": _greedy_or(lambda logits, t: F.softmax(logits.float(), dim=-1) / t),
    "the temperature is applied after the softmax and then renormalised, which cancels it: divide the logits "
    "by T before the softmax": _greedy_or(lambda logits, t: F.softmax(logits.float(), dim=-1)),
    "the logits are multiplied by the temperature: divide by it (T < 1 sharpens, T > 1 flattens)":
        _greedy_or(lambda logits, t: F.softmax(logits.float() * t, dim=-1)),
    "the softmax is over the batch (dim=0): each row is one distribution over the vocabulary (dim=-1)":
        _greedy_or(lambda logits, t: F.softmax(logits.float() / t, dim=0)),
    "temperature 0 is not handled: it means greedy, all probability on the likeliest token "
    "(logits / 0 gives inf and NaN)":
        lambda logits, t: F.softmax(logits.float() / t, dim=-1),
    "the softmax is written out without subtracting the largest logit: at a small temperature logits / T exceed "
    "88 and exp overflows float32 to inf (inf / inf = NaN); use F.softmax, or subtract each row's max first":
        _greedy_or(lambda logits, t: (lambda e: e / e.sum(-1, keepdim=True))(torch.exp(logits.float() / t))),
    "at temperature 0 every tied likeliest token gets probability: greedy takes one, the first of them "
    "(torch.argmax, as Meta's generate); use F.one_hot(logits.argmax(-1), V)":
        lambda logits, t: _spread_over_ties(logits) if t == 0 else kit_softmax_with_temperature(logits, t),
    "the softmax is computed in the logits' bfloat16 (3 significant digits): cast the logits to float32 first "
    "(logits.float()), as the kit does before sampling":
        _greedy_or(lambda logits, t: F.softmax(logits / t, dim=-1).float()),
}


def _temperature_cases():
    g = torch.Generator().manual_seed(7)
    return [
        Case("logits of shape (2, 5), temperature 0.5", dict(logits=torch.randn(2, 5, generator=g) * 2, t=0.5)),
        Case("logits of shape (3, 6), temperature 2.0", dict(logits=torch.randn(3, 6, generator=g) * 2, t=2.0)),
        Case("logits of shape (2, 4), temperature 0 (greedy)", dict(logits=torch.randn(2, 4, generator=g), t=0.0)),
        Case("logits [[3, 2.99, 0.5, -1], [-2, 1, 1.5, 1.49]], temperature 0.01: logits / T reach 300, and in each "
             "row the two likeliest, 0.01 apart, still share the probability about 0.73 : 0.27",
             dict(logits=torch.tensor([[3.0, 2.99, 0.5, -1.0], [-2.0, 1.0, 1.5, 1.49]]), t=0.01)),
        Case("logits of shape (2, 6), temperature 100 (almost flat)",
             dict(logits=torch.randn(2, 6, generator=g) * 2, t=100.0)),
        Case("logits [[1, 3, 0, 3]], temperature 0, two tokens tied for the largest logit: greedy takes the first "
             "of them, index 1 (torch.argmax's rule, as in Meta's generate)",
             dict(logits=torch.tensor([[1.0, 3.0, 0.0, 3.0]]), t=0.0)),
        Case("bfloat16 logits of shape (2, 8) (a model run in bfloat16), temperature 0.7: the probabilities are "
             "computed in float32", dict(logits=(torch.randn(2, 8, generator=g) * 2).bfloat16(), t=0.7)),
    ]


# ------------------------------------------------------------------------------------------- top_k_filter

def _keep(probs, keep, renormalise=True):
    kept = torch.where(keep, probs, torch.zeros_like(probs))
    return kept / kept.sum(-1, keepdim=True) if renormalise else kept


def _rank(probs):
    """Rank of each entry in its row, 0 for the likeliest."""
    return probs.argsort(-1, descending=True).argsort(-1)


TOP_K_MISTAKES = {
    "the kept probabilities are not renormalised: divide them by their sum so they add up to 1":
        lambda probs, k: _keep(probs, _rank(probs) < k, renormalise=False),
    "k + 1 tokens are kept: keep exactly the k likeliest":
        lambda probs, k: _keep(probs, _rank(probs) < k + 1),
    "k - 1 tokens are kept: keep exactly the k likeliest":
        lambda probs, k: _keep(probs, _rank(probs) < k - 1),
    "the k least likely tokens are kept: keep the k likeliest (torch.topk gives the largest)":
        lambda probs, k: _keep(probs, _rank(-probs) < k),
    "only the k probabilities are returned: return a distribution over the whole vocabulary, zero outside "
    "the top k":
        lambda probs, k: (lambda v: v / v.sum(-1, keepdim=True))(torch.topk(probs, min(k, probs.shape[-1])).values),
    "on a tie at the k-th place only k tokens are kept: keep every token as likely as the k-th (probs >= the k-th "
    "largest), as the kit and Hugging Face do, so that no tied token is dropped at random":
        lambda probs, k: _keep(probs, torch.zeros_like(probs, dtype=torch.bool).scatter(
            -1, torch.topk(probs, min(k, probs.shape[-1])).indices, True)),
}


def _top_k_cases():
    g = torch.Generator().manual_seed(8)
    return [
        Case("probs of shape (1, 6), k=2", dict(probs=F.softmax(torch.randn(1, 6, generator=g) * 2, -1), k=2)),
        Case("probs of shape (3, 8), k=3", dict(probs=F.softmax(torch.randn(3, 8, generator=g) * 2, -1), k=3)),
        Case("probs of shape (2, 5), k=10 (more than the vocabulary: keep all)",
             dict(probs=F.softmax(torch.randn(2, 5, generator=g), -1), k=10)),
        Case("probs [0.4, 0.2, 0.2, 0.1, 0.1], k=2, a tie at the k-th place: every token as likely as the k-th is "
             "kept (the kit's rule, and Hugging Face's), so 3 survive: [0.5, 0.25, 0.25, 0, 0]",
             dict(probs=torch.tensor([[0.4, 0.2, 0.2, 0.1, 0.1]]), k=2)),
        Case("probs of shape (1, 7), k=1 (only the likeliest token: the same as greedy)",
             dict(probs=F.softmax(torch.randn(1, 7, generator=g) * 2, -1), k=1)),
    ]


# ------------------------------------------------------------------------------------------- top_p_filter

def _by_rank(probs, keep_sorted, renormalise=True):
    """Apply a rule written on the sorted probabilities (descending) back in vocabulary order."""
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    keep = torch.zeros_like(probs, dtype=torch.bool).scatter(-1, order, keep_sorted(sorted_probs))
    return _keep(probs, keep, renormalise)


def _drops_crossing(probs, p):
    return _by_rank(probs, lambda s: torch.cumsum(s, -1) <= p)


def _unsorted(probs, p):
    return _keep(probs, torch.cumsum(probs, -1) - probs <= p)


def _left_sorted(probs, p):
    sorted_probs, _ = torch.sort(probs, dim=-1, descending=True)
    kept = sorted_probs.masked_fill(torch.cumsum(sorted_probs, -1) - sorted_probs > p, 0.0)
    return kept / kept.sum(-1, keepdim=True)


TOP_P_MISTAKES = {
    "the token that carries the total across p is dropped: Meta's rule keeps it (a token is dropped only when "
    "the tokens ranked above it already hold more than p)": _drops_crossing,
    "the kept probabilities are not renormalised: divide them by their sum so they add up to 1":
        lambda probs, p: _by_rank(probs, lambda s: torch.cumsum(s, -1) - s <= p, renormalise=False),
    "the running total is taken in vocabulary order: sort the probabilities from the likeliest down first":
        _unsorted,
    "the result is left in sorted order: scatter the kept probabilities back to their tokens' positions":
        _left_sorted,
    "the mask is inverted: the likeliest tokens are the ones to keep": lambda probs, p: _by_rank(
        probs, lambda s: torch.cumsum(s, -1) - s > p),
    "a token is dropped when the tokens above it hold exactly p: Meta's rule drops it only when they hold more "
    "than p (mass_before > p, not >=)": lambda probs, p: _by_rank(probs, lambda s: torch.cumsum(s, -1) - s < p),
}


def _top_p_cases():
    g = torch.Generator().manual_seed(9)
    return [
        Case("probs [0.5, 0.3, 0.2], p=0.6 (0.5 alone is below 0.6, so 0.3 is kept too)",
             dict(probs=torch.tensor([[0.5, 0.3, 0.2]]), p=0.6)),
        Case("probs of shape (2, 6) in no particular order, p=0.9",
             dict(probs=F.softmax(torch.randn(2, 6, generator=g) * 1.5, -1), p=0.9)),
        Case("probs [0.1, 0.6, 0.3], p=0.3 (the likeliest token alone crosses p)",
             dict(probs=torch.tensor([[0.1, 0.6, 0.3]]), p=0.3)),
        Case("probs [0.125, 0.5, 0.0625, 0.25, 0.0625] (exact in binary), p=0.75: the two likeliest hold exactly "
             "0.75, and Meta's rule drops a token only when the ones above it hold more than p, so 0.125 is kept "
             "too (Hugging Face's rule would drop it): [1/7, 4/7, 0, 2/7, 0]",
             dict(probs=torch.tensor([[0.125, 0.5, 0.0625, 0.25, 0.0625]]), p=0.75)),
    ]


# --------------------------------------------------------------------------------------- next_token_probs

def _ordered(first, second):
    def probs(logits, temperature=1.0, top_k=None, top_p=1.0):
        p = kit_softmax_with_temperature(logits, temperature)
        steps = {"k": lambda x: kit.top_k_filter(x, top_k) if top_k is not None else x,
                 "p": lambda x: kit.top_p_filter(x, top_p) if top_p < 1.0 else x}
        return steps[second](steps[first](p))
    return probs


def _filters_on_logits(logits, temperature=1.0, top_k=None, top_p=1.0):
    x = logits.float()
    if top_k is not None:
        x = kit.top_k_filter(x, top_k)
    if top_p < 1.0:
        x = kit.top_p_filter(x, top_p)
    return kit_softmax_with_temperature(x, temperature)


COMPOSE_MISTAKES = {
    "top-p is applied before top-k: the kit's order (and Hugging Face's) is temperature, then top-k, then top-p":
        _ordered("p", "k"),
    "top_k is ignored: apply top_k_filter when top_k is not None":
        lambda logits, temperature=1.0, top_k=None, top_p=1.0: _ordered("k", "p")(logits, temperature, None, top_p),
    "top_p is ignored: apply top_p_filter when top_p < 1":
        lambda logits, temperature=1.0, top_k=None, top_p=1.0: _ordered("k", "p")(logits, temperature, top_k, 1.0),
    "the filters are applied to the logits: top_k_filter and top_p_filter take probabilities, so apply them "
    "after softmax_with_temperature": _filters_on_logits,
}


def _run_compose(impl, inputs):
    if "prompt" in inputs:  # the kit's sampler calls impl at every step
        with replaced(kit, "next_token_probs", impl):
            return generate_tokens(random_llama(seed=inputs["seed"]), [inputs["prompt"]], 12, temperature=0.9,
                                   top_k=20, top_p=0.8, seed=inputs["seed"], eos_id=None)[0]
    return impl(inputs["logits"], temperature=inputs["temperature"], top_k=inputs["top_k"], top_p=inputs["top_p"])


def _compose_cases():
    g = torch.Generator().manual_seed(10)
    return [
        Case("logits of shape (2, 10), temperature 0.8, top_k=5, top_p=0.7",
             dict(logits=torch.randn(2, 10, generator=g) * 2, temperature=0.8, top_k=5, top_p=0.7)),
        Case("logits = log [0.2, 0.22, 0.18, 0.21, 0.19], temperature 1, top_k=2, top_p=0.45 (top-k first leaves "
             "[0.512, 0.488], and then top-p keeps only the first)",
             dict(logits=torch.tensor([[0.2, 0.22, 0.18, 0.21, 0.19]]).log(), temperature=1.0, top_k=2, top_p=0.45)),
        Case("logits of shape (1, 12), temperature 1.5, top_k=None, top_p=0.9",
             dict(logits=torch.randn(1, 12, generator=g) * 2, temperature=1.5, top_k=None, top_p=0.9)),
        Case("logits of shape (2, 8), temperature 0, top_k=3, top_p=0.5 (greedy, whatever the filters)",
             dict(logits=torch.randn(2, 8, generator=g) * 2, temperature=0.0, top_k=3, top_p=0.5)),
        Case("inside generate_tokens: 12 tokens sampled with seed 41, temperature 0.9, top_k=20, top_p=0.8, from a "
             "small Llama (the same seed must give the same tokens)", dict(seed=41, prompt=random_prompt(41, 5))),
    ]


PARTS = [
    Part("softmax_with_temperature", "temperature", kit_softmax_with_temperature,
         lambda f, i: f(i["logits"], i["t"]), _temperature_cases, TEMPERATURE_MISTAKES,
         kit=(_kit_next_token_probs,),
         hint="Check softmax(logits / T) over the last dimension, and the one-hot argmax when T = 0"),
    Part("top_k_filter", "top-k", kit.top_k_filter, lambda f, i: f(i["probs"], i["k"]), _top_k_cases,
         TOP_K_MISTAKES, kit=(kit.top_k_filter,),
         hint="Check that exactly the k largest probabilities of each row survive, renormalised"),
    Part("top_p_filter", "top-p (nucleus)", kit.top_p_filter, lambda f, i: f(i["probs"], i["p"]), _top_p_cases,
         TOP_P_MISTAKES, kit=(kit.top_p_filter,),
         hint="Sort each row from the likeliest down, drop a token when the ones before it hold more than p, "
              "put the rest back in vocabulary order and renormalise"),
    Part("next_token_probs", "the whole sampler", _kit_next_token_probs, _run_compose, _compose_cases,
         COMPOSE_MISTAKES, kit=(_kit_next_token_probs,),
         uses={"softmax_with_temperature": kit_softmax_with_temperature, "top_k_filter": kit.top_k_filter,
               "top_p_filter": kit.top_p_filter},
         hint="Chain your functions: softmax_with_temperature, then top_k_filter if top_k is not None, then "
              "top_p_filter if top_p < 1"),
]
