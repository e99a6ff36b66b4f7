"""Assignment 06: measuring safety: TruthfulQA's MC2 score from log-likelihoods, and a linear probe.

    answer_logprob(logits, tokens, n_prompt)  -> log p(tokens[n_prompt:] | tokens[:n_prompt]) under the model:
                                                 the sum over answer tokens t of log_softmax(logits[t - 1])[tokens[t]]
    mc2_score(true_lls, false_lls)            -> the probability mass on the true answers, normalised over all
                                                 answers: sum exp(true) / (sum exp(true) + sum exp(false))
    mean_difference_probe(acts, labels)       -> (direction, bias): direction = mean of label-1 rows - mean of
                                                 label-0 rows; bias puts the threshold halfway between the means

Self-contained on purpose (the kit's `safety.py` and `probes.py` compute these for real models): the right answers
are written here from the definitions (MC2 as lm-evaluation-harness's `process_results_mc2`, computed stably),
and the first case of each part is small enough to check by hand.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...hooks import residual_stream
from ...course.probes import difference_of_means
from ...course.safety import mc2
from ..engine.checks import Case, Part
from ..engine.harness import as_float
from .models import random_llama, random_prompt


TITLE = "Measuring safety: MC2 and a linear probe"

# ---------------------------------------------------------------------------------------- answer_logprob

def reference_answer_logprob(logits, tokens, n_prompt):
    logprobs = F.log_softmax(logits.float(), dim=-1)  # (T, V)
    answer = torch.as_tensor(tokens)[n_prompt:]  # the tokens scored
    return float(logprobs[n_prompt - 1:-1].gather(-1, answer[:, None]).sum())


def _scored(logits, tokens, rows, targets, transform=lambda x: x):
    values = transform(logits.float())
    return float(values[rows].gather(-1, torch.as_tensor(tokens)[targets][:, None]).sum())


ANSWER_MISTAKES = {
    "token t is scored with the logits at position t: the logits at position t predict token t + 1, so token t "
    "is scored by logits[t - 1]":
        lambda logits, tokens, n: _scored(logits, tokens, slice(n, None), slice(n, None),
                                          lambda x: F.log_softmax(x, -1)),
    "the prompt's tokens are scored too: score only the answer, tokens[n_prompt:]":
        lambda logits, tokens, n: _scored(logits, tokens, slice(0, -1), slice(1, None),
                                          lambda x: F.log_softmax(x, -1)),
    "the raw logits are summed: take log_softmax over the vocabulary first (logits are not log-probabilities)":
        lambda logits, tokens, n: _scored(logits, tokens, slice(n - 1, -1), slice(n, None)),
    "probabilities are summed: the log-likelihood of a sequence is the sum of log-probabilities (the log of "
    "their product)":
        lambda logits, tokens, n: _scored(logits, tokens, slice(n - 1, -1), slice(n, None),
                                          lambda x: F.softmax(x, -1)),
    "the log-probabilities are averaged: MC2 uses their sum, the log-likelihood of the whole answer":
        lambda logits, tokens, n: reference_answer_logprob(logits, tokens, n) / (len(tokens) - n),
    "the first answer token is left out: the answer starts at tokens[n_prompt], scored by logits[n_prompt - 1]":
        lambda logits, tokens, n: _scored(logits, tokens, slice(n, -1), slice(n + 1, None),
                                          lambda x: F.log_softmax(x, -1)),
    "the log-probabilities are computed in the logits' bfloat16 (3 significant digits): cast the logits to "
    "float32 first (logits.float()), as lm-evaluation-harness does":
        lambda logits, tokens, n: _scored(logits, tokens, slice(n - 1, -1), slice(n, None),
                                          lambda x: F.log_softmax(logits, -1).float()),
}


def _run_answer(impl, inputs):
    if "prompt" in inputs:
        with torch.no_grad():
            logits = random_llama(seed=inputs["seed"])(torch.tensor([inputs["prompt"]]))[0]
        return as_float(impl(logits, inputs["prompt"], inputs["n_prompt"]))
    return as_float(impl(inputs["logits"], inputs["tokens"], inputs["n_prompt"]))


def _answer_cases():
    by_hand = torch.tensor([[0.1, 0.6, 0.3], [0.2, 0.5, 0.3], [0.25, 0.25, 0.5], [0.3, 0.3, 0.4]]).log()
    g = torch.Generator().manual_seed(12)
    return [
        Case("by hand: tokens [0, 2, 1, 1], n_prompt=2, the logits at positions 1 and 2 give the answer's tokens "
             "probabilities 0.5 and 0.25 (answer: log 0.125 = -2.0794)",
             dict(logits=by_hand, tokens=[0, 2, 1, 1], n_prompt=2)),
        Case("random logits of shape (8, 11), n_prompt=3 (5 answer tokens)",
             dict(logits=torch.randn(8, 11, generator=g) * 2,
                  tokens=torch.randint(0, 11, (8,), generator=g).tolist(), n_prompt=3)),
        Case("a one-token answer: random logits of shape (6, 11), n_prompt=5",
             dict(logits=torch.randn(6, 11, generator=g) * 2,
                  tokens=torch.randint(0, 11, (6,), generator=g).tolist(), n_prompt=5)),
        Case("a one-token prompt: random logits of shape (5, 11), n_prompt=1 (every later token is the answer)",
             dict(logits=torch.randn(5, 11, generator=g) * 2,
                  tokens=torch.randint(0, 11, (5,), generator=g).tolist(), n_prompt=1)),
        Case("bfloat16 logits of shape (8, 32000) (a model run in bfloat16, Llama 2's vocabulary), n_prompt=4: "
             "the log-probabilities are computed in float32",
             dict(logits=(torch.randn(8, 32000, generator=g) * 3).bfloat16(),
                  tokens=torch.randint(0, 32000, (8,), generator=g).tolist(), n_prompt=4), atol=1e-4),
        Case("a small Llama's logits for a 10-token sequence, n_prompt=6",
             dict(seed=51, prompt=random_prompt(51, 10), n_prompt=6), atol=1e-4),
    ]


# --------------------------------------------------------------------------------------------- mc2_score

def reference_mc2(true_lls, false_lls):
    """lm-evaluation-harness's MC2 (exp, then the true share), computed from the log-sum-exp so it cannot overflow."""
    every = torch.tensor(list(true_lls) + list(false_lls), dtype=torch.float64)
    return math.exp(float(torch.logsumexp(every[:len(true_lls)], 0) - torch.logsumexp(every, 0)))


def _exp(lls):
    return [math.exp(x) for x in lls]


def _naive(true_lls, false_lls):
    t, f = sum(_exp(true_lls)), sum(_exp(false_lls))
    return t / (t + f) if t + f > 0 else float("nan")


UNDERFLOW = ("exp underflowed: with log-likelihoods near -1000, exp gives 0, and 0/0 is NaN (or a "
             "ZeroDivisionError). Subtract the largest log-likelihood from all of them first (the ratio does not "
             "change), or use torch.logsumexp")

MC2_MISTAKES = {
    "the log-likelihoods are used as if they were probabilities: exponentiate them first, p = exp(ll)":
        lambda t, f: sum(t) / (sum(t) + sum(f)),
    "this is MC1 (is the likeliest answer a true one?): MC2 is the share of probability on all the true answers":
        lambda t, f: 1.0 if max(t) > max(f) else 0.0,
    "only the best true answer counts: MC2 sums the probabilities of every true answer":
        lambda t, f: max(_exp(t)) / (sum(_exp(t)) + sum(_exp(f))),
    "the true mass is divided by the false mass: divide by the total, true plus false":
        lambda t, f: sum(_exp(t)) / sum(_exp(f)),
    UNDERFLOW: _naive,
}


def _mc2_cases():
    g = torch.Generator().manual_seed(13)
    return [
        Case("by hand: true answers log 0.2, log 0.1; false answer log 0.1 (answer: 0.3 / 0.4 = 0.75)",
             dict(true_lls=[math.log(0.2), math.log(0.1)], false_lls=[math.log(0.1)])),
        Case("3 true and 4 false answers, log-likelihoods between -15 and -3",
             dict(true_lls=(-3 - 12 * torch.rand(3, generator=g)).tolist(),
                  false_lls=(-3 - 12 * torch.rand(4, generator=g)).tolist())),
        Case("long answers: true -1000.0; false -1001.0, -1002.0 (answer: 1 / (1 + e^-1 + e^-2) = 0.6652)",
             dict(true_lls=[-1000.0], false_lls=[-1001.0, -1002.0])),
        Case("one true and one false answer, equally likely (log-likelihoods -7.5 and -7.5; answer: 0.5)",
             dict(true_lls=[-7.5], false_lls=[-7.5])),
    ]


# ---------------------------------------------------------------------------------- mean_difference_probe

def reference_probe(acts, labels):
    labels = torch.as_tensor(labels, dtype=torch.bool)
    mu1, mu0 = acts[labels].mean(0), acts[~labels].mean(0)
    direction = mu1 - mu0
    return direction, float(-direction @ (mu1 + mu0) / 2)


def _means(acts, labels, dim=0):
    labels = torch.as_tensor(labels, dtype=torch.bool)
    return acts[labels].mean(dim), acts[~labels].mean(dim)


def _probe(direction, mu1, mu0):
    return direction, float(-direction @ (mu1 + mu0) / 2)


def _reversed(acts, labels):
    direction, bias = reference_probe(acts, labels)
    return -direction, -bias


def _bias_flipped(acts, labels):
    direction, bias = reference_probe(acts, labels)
    return direction, -bias


def _no_bias(acts, labels):
    return reference_probe(acts, labels)[0], 0.0


def _bias_from_one_mean(acts, labels):
    mu1, mu0 = _means(acts, labels)
    return mu1 - mu0, float(-(mu1 - mu0) @ mu1)


def _against_overall_mean(acts, labels):
    mu1, _ = _means(acts, labels)
    return _probe(mu1 - acts.mean(0), mu1, acts.mean(0))


def _normalised(acts, labels):
    direction, bias = reference_probe(acts, labels)
    return direction / direction.norm(), bias / float(direction.norm())


def _means_over_features(acts, labels):
    mu1, mu0 = _means(acts, labels, dim=1)
    return _probe(mu1 - mu0, mu1, mu0)


PROBE_MISTAKES = {
    "the direction is reversed: it must point from the label-0 mean to the label-1 mean, mean(label 1) - "
    "mean(label 0), so that label-1 rows score high": _reversed,
    "the bias has the wrong sign: the threshold sits halfway between the means, bias = -direction · (mu1 + mu0) "
    "/ 2": _bias_flipped,
    "the bias is missing: without it the threshold is at 0 instead of halfway between the class means": _no_bias,
    "the bias uses one class's mean: the threshold is halfway between them, -direction · (mu1 + mu0) / 2":
        _bias_from_one_mean,
    "the direction is taken from the overall mean: it is the difference of the two class means":
        _against_overall_mean,
    "the direction is normalised: use mean(label 1) - mean(label 0) as it is (its length sets the scores' scale)":
        _normalised,
    "the means are over the features (dim=1): average over the examples, the rows (dim=0)": _means_over_features,
}


def _run_probe(impl, inputs):
    acts = inputs.get("acts")
    if acts is None:  # the residual stream of a small Llama at the last token of each prompt, after block 0
        model = random_llama(seed=inputs["seed"])
        acts = torch.stack([residual_stream(model, [prompt])[1, 0, -1] for prompt in inputs["prompts"]])  # (N, D)
    direction, bias = impl(acts, inputs["labels"])
    return {"direction": direction, "bias": as_float(bias)}


def _probe_cases():
    g = torch.Generator().manual_seed(14)
    labels = [i % 2 for i in range(40)]
    acts = torch.randn(40, 16, generator=g) + torch.tensor(labels, dtype=torch.float32)[:, None] * torch.linspace(
        -1, 1, 16)
    prompts = [random_prompt(60 + i, 6) if i % 2 else [7] + random_prompt(60 + i, 5) for i in range(8)]
    return [
        Case("by hand: acts [[1, 2], [3, 2], [-1, 0], [-3, 0]], labels [1, 1, 0, 0] (answer: direction [4, 2], "
             "bias -2)", dict(acts=torch.tensor([[1.0, 2.0], [3.0, 2.0], [-1.0, 0.0], [-3.0, 0.0]]),
                              labels=[1, 1, 0, 0])),
        Case("one example of each label: acts [[0, 1, 2], [2, 1, 0]], labels [0, 1] (answer: direction [2, 0, -2], "
             "bias 0)", dict(acts=torch.tensor([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]]), labels=[0, 1])),
        Case("40 activations of 16 features, labels alternating 0 and 1", dict(acts=acts, labels=labels),
             atol=1e-4),
        Case("a small Llama's residual stream after block 0, at the last token of 8 prompts (the 4 labelled 1 "
             "start with token 7)", dict(seed=61, prompts=prompts, labels=[int(p[0] == 7) for p in prompts]),
             atol=1e-4),
    ]


PARTS = [
    Part("answer_logprob", "the log-likelihood of an answer", reference_answer_logprob, _run_answer,
         _answer_cases, ANSWER_MISTAKES,
         hint="Sum log_softmax(logits[t - 1])[tokens[t]] over the answer tokens t = n_prompt .. T - 1"),
    Part("mc2_score", "TruthfulQA's MC2", reference_mc2, lambda f, i: as_float(f(i["true_lls"], i["false_lls"])),
         _mc2_cases, MC2_MISTAKES, kit=(mc2,), error_hints={"division by zero": UNDERFLOW},
         hint="MC2 = sum exp(true lls) / (sum exp(true lls) + sum exp(false lls))"),
    Part("mean_difference_probe", "a mean-difference probe", reference_probe, _run_probe, _probe_cases,
         PROBE_MISTAKES, kit=(difference_of_means,),
         hint="direction = mean of the rows labelled 1 - mean of the rows labelled 0; "
              "bias = -direction · (mu1 + mu0) / 2"),
]
