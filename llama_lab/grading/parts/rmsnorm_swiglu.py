"""Assignment 01: RMSNorm and the SwiGLU feed-forward, as functions, then inside the model.

    rms_norm(x, weight, eps=1e-5)    -> x / sqrt(mean(x^2) + eps) * weight, computed in float32, returned in x's dtype
    feed_forward(x, w1, w2, w3)      -> w2(silu(w1 x) * w3 x), weights in nn.Linear's (out, in) layout

The right answers are the kit's `RMSNorm` and `FeedForward` (llama_lab/model.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...model import FeedForward, RMSNorm
from ..engine.checks import Case, Part
from .models import logits_and_greedy, random_llama, random_prompt

TITLE = "RMSNorm and the SwiGLU feed-forward"


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------- rms_norm

def kit_rms_norm(x, weight, eps=1e-5):
    norm = RMSNorm(x.shape[-1], eps=eps).to(weight.dtype)
    with torch.no_grad():
        norm.weight.copy_(weight)
    return norm(x)


def _ms(x):
    return x.pow(2).mean(-1, keepdim=True)


RMS_MISTAKES = {
    "eps is missing: without it a row of zeros gives 0/0 = NaN and tiny rows are blown up; "
    "use rsqrt(mean(x²) + eps)":
        lambda x, w, eps=1e-5: (x.float() * torch.rsqrt(_ms(x.float()))).type_as(x) * w,
    "eps is added outside the square root: it belongs inside, sqrt(mean(x²) + eps)":
        lambda x, w, eps=1e-5: (x.float() / (_ms(x.float()).sqrt() + eps)).type_as(x) * w,
    "the square root is missing: divide by sqrt(mean(x²) + eps), the root mean square":
        lambda x, w, eps=1e-5: (x.float() / (_ms(x.float()) + eps)).type_as(x) * w,
    "the sum of squares is used instead of their mean":
        lambda x, w, eps=1e-5: (x.float() * torch.rsqrt(x.float().pow(2).sum(-1, keepdim=True) + eps)).type_as(x) * w,
    "the mean is subtracted (that is LayerNorm): RMSNorm only rescales, it does not centre":
        lambda x, w, eps=1e-5: ((x.float() - x.float().mean(-1, keepdim=True))
                                * torch.rsqrt(x.float().var(-1, keepdim=True, unbiased=False) + eps)).type_as(x) * w,
    "the weight is not applied: multiply the normalised x by weight":
        lambda x, w, eps=1e-5: (x.float() * torch.rsqrt(_ms(x.float()) + eps)).type_as(x),
    "the mean is taken over all of x: it is over the last dimension (the features of one position), "
    "with keepdim=True":
        lambda x, w, eps=1e-5: (x.float() * torch.rsqrt(x.float().pow(2).mean() + eps)).type_as(x) * w,
    "computed in the input's low precision: x² overflows float16 above 256 and loses digits in bfloat16; "
    "compute in float32 (x.float()) and cast the result back":
        lambda x, w, eps=1e-5: x * torch.rsqrt(_ms(x) + eps) * w,
    "the result is float32: cast it back to the input's dtype (`.type_as(x)`) as the kit does":
        lambda x, w, eps=1e-5: x.float() * torch.rsqrt(_ms(x.float()) + eps) * w.float(),
}


def use_rms_norm(model, rms_norm):
    """Make every RMSNorm of `model` call rms_norm(x, norm.weight, norm.eps) instead of the kit's; returns model."""
    for module in model.modules():
        if isinstance(module, RMSNorm):
            module.forward = lambda x, m=module: rms_norm(x, m.weight, m.eps)
    return model


def _run_rms_norm(impl, inputs):
    if "prompt" in inputs:
        return logits_and_greedy(use_rms_norm(random_llama(seed=inputs["seed"]), impl), inputs["prompt"])
    with torch.no_grad():
        return impl(inputs["x"], inputs["weight"], inputs["eps"])


def _rms_cases():
    g = _seeded(1)
    small = torch.randn(3, 8, generator=g) * 1e-3
    small[0] = 0.0
    weight = lambda n, dtype=torch.float32: (1 + 0.3 * torch.randn(n, generator=g)).to(dtype)
    return [
        Case("x of shape (2, 3, 8), float32", dict(x=torch.randn(2, 3, 8, generator=g), weight=weight(8), eps=1e-5)),
        Case("x with a row of zeros and rows of tiny values (about 1e-3), eps=1e-5",
             dict(x=small, weight=weight(8), eps=1e-5)),
        Case("x of shape (2, 16), float16, values in the hundreds (x² overflows float16 above 256)",
             dict(x=(torch.randn(2, 16, generator=g) * 400).half(), weight=weight(16, torch.float16), eps=1e-5),
             atol=1e-3, rtol=1e-2, exact_dtype=True),
        Case("x of shape (2, 4, 32), bfloat16, eps=1e-6",
             dict(x=(torch.randn(2, 4, 32, generator=g) * 3).bfloat16(), weight=weight(32, torch.bfloat16),
                  eps=1e-6), atol=1e-2, rtol=1e-2, exact_dtype=True),
        Case("x of shape (1, 1, 4096), bfloat16: one position of Llama 2 7B's 4,096 features (a batch of one, a "
             "one-token prompt)", dict(x=(torch.randn(1, 1, 4096, generator=g) * 2).bfloat16(),
                                        weight=weight(4096, torch.bfloat16), eps=1e-5),
             atol=1e-2, rtol=1e-2, exact_dtype=True),
        Case("x and weight in float64 (the result stays float64)",
             dict(x=torch.randn(3, 16, generator=g, dtype=torch.float64), weight=weight(16, torch.float64),
                  eps=1e-5), exact_dtype=True),
        Case("inside the model: every RMSNorm of a small Llama calls your rms_norm (logits of a 10-token prompt, "
             "then 8 greedy tokens)", dict(seed=11, prompt=random_prompt(11, 10)), atol=1e-4, rtol=1e-4),
    ]


# ------------------------------------------------------------------------------------------ feed_forward

def kit_feed_forward(x, w1, w2, w3):
    ffn = FeedForward(w1.shape[1], w1.shape[0])
    with torch.no_grad():
        for linear, w in ((ffn.w1, w1), (ffn.w2, w2), (ffn.w3, w3)):
            linear.weight.copy_(w)
    return ffn(x)


FFN_MISTAKES = {
    "gate and up are swapped: SiLU goes on w1 x (the gate), and w3 x is the plain branch":
        lambda x, w1, w2, w3: F.linear(F.silu(F.linear(x, w3)) * F.linear(x, w1), w2),
    "ReLU instead of SiLU: SwiGLU's gate is silu(z) = z * sigmoid(z)":
        lambda x, w1, w2, w3: F.linear(F.relu(F.linear(x, w1)) * F.linear(x, w3), w2),
    "GELU instead of SiLU: SwiGLU's gate is silu(z) = z * sigmoid(z)":
        lambda x, w1, w2, w3: F.linear(F.gelu(F.linear(x, w1)) * F.linear(x, w3), w2),
    "sigmoid instead of SiLU: silu(z) is z * sigmoid(z), not sigmoid(z) alone":
        lambda x, w1, w2, w3: F.linear(torch.sigmoid(F.linear(x, w1)) * F.linear(x, w3), w2),
    "SiLU is applied after the product: it goes on the gate only, silu(w1 x) * (w3 x)":
        lambda x, w1, w2, w3: F.linear(F.silu(F.linear(x, w1) * F.linear(x, w3)), w2),
    "SiLU is applied to both branches: only the gate w1 x goes through it":
        lambda x, w1, w2, w3: F.linear(F.silu(F.linear(x, w1)) * F.silu(F.linear(x, w3)), w2),
    "the w3 branch is missing: SwiGLU multiplies the gate by a second projection, silu(w1 x) * (w3 x)":
        lambda x, w1, w2, w3: F.linear(F.silu(F.linear(x, w1)), w2),
    "the down projection w2 is missing: the output must be back in the model's dimension":
        lambda x, w1, w2, w3: F.silu(F.linear(x, w1)) * F.linear(x, w3),
}


def use_feed_forward(model, feed_forward):
    """Make every feed-forward of `model` call feed_forward(x, w1, w2, w3) with its weights; returns model."""
    for layer in model.layers:
        ffn = layer.feed_forward
        ffn.forward = lambda x, f=ffn: feed_forward(x, f.w1.weight, f.w2.weight, f.w3.weight)
    return model


def _run_feed_forward(impl, inputs):
    if "prompt" in inputs:
        return logits_and_greedy(use_feed_forward(random_llama(seed=inputs["seed"]), impl), inputs["prompt"])
    with torch.no_grad():
        return impl(inputs["x"], inputs["w1"], inputs["w2"], inputs["w3"])


def _ffn_cases():
    g = _seeded(2)

    def weights(dim, hidden):
        return dict(w1=torch.randn(hidden, dim, generator=g) / dim ** 0.5,
                    w2=torch.randn(dim, hidden, generator=g) / hidden ** 0.5,
                    w3=torch.randn(hidden, dim, generator=g) / dim ** 0.5)

    return [
        Case("x of shape (2, 3, 8); w1, w3 of shape (24, 8) and w2 (8, 24)",
             dict(x=torch.randn(2, 3, 8, generator=g), **weights(8, 24))),
        Case("x of shape (4, 16) with large values (std 3); hidden size 40",
             dict(x=torch.randn(4, 16, generator=g) * 3, **weights(16, 40)), atol=1e-4),
        Case("x of shape (1, 1, 16): one position, a batch of one", dict(x=torch.randn(1, 1, 16, generator=g),
                                                                     **weights(16, 40))),
        Case("inside the model: every feed-forward of a small Llama calls your feed_forward (logits of a "
             "10-token prompt, then 8 greedy tokens)", dict(seed=12, prompt=random_prompt(12, 10)),
             atol=1e-4, rtol=1e-4),
    ]


PARTS = [
    Part("rms_norm", "RMSNorm", kit_rms_norm, _run_rms_norm, _rms_cases, RMS_MISTAKES, kit=(RMSNorm.forward,),
         hint="Check the formula x / sqrt(mean(x²) over the last dimension + eps) * weight, in float32"),
    Part("feed_forward", "the SwiGLU feed-forward", kit_feed_forward, _run_feed_forward, _ffn_cases, FFN_MISTAKES,
         kit=(FeedForward.forward,),
         hint="Check the formula w2(silu(w1 x) * (w3 x)), with each weight used as nn.Linear does (x @ w.T)",
         error_hints={"cannot be multiplied": "nn.Linear keeps weights as (out_features, in_features): "
                                              "multiply by the transpose, x @ w1.T, or use F.linear(x, w1)"}),
]
