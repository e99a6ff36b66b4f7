"""Assignment 09: LoRA and NF4 by hand: the adapted layer's forward, merging the update into the weight, and
QLoRA's 4-bit NormalFloat weights block by block (notebook 08).

    lora_forward(x, W0, A, B, alpha, r,  -> x W0^T + scaling * x A^T B^T, with scaling = alpha / r (the paper), or
                 rslora=False)              alpha / sqrt(r) when rslora is True; W0 (out, in), A (r, in), B (out, r)
    merge(W0, A, B, alpha, r)            -> W0 + (alpha / r) B A, (out, in): the weight of the merged layer
    quantize_nf4(weight)                 -> (codes, absmax): per block of 64 consecutive inputs of a row, absmax =
                                            max |w| (out, in / 64), and each weight's code, the index 0..15 of the
                                            NF4 level nearest to w / absmax (out, in)
    dequantize_nf4(codes, absmax)        -> NF4_LEVELS[codes] * absmax of the code's block, (out, in) float32

The right answers are the kit's: `llama_lab.lora.LoraLinear` (its forward and its merge) and
`llama_lab.nf4.quantize_nf4` / `dequantize_nf4` (whose levels, codes and dequantized weights tests/engine/test_nf4.py
checks against the QLoRA paper's table and against torchao's NF4).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ... import nf4
from ...lora import LoraLinear, LoraSettings
from ..engine.checks import Case, Part
from ..engine.harness import StudentError

TITLE = "LoRA and NF4 by hand: the adapted layer, merging, 4-bit NormalFloat"


# ----------------------------------------------------------------------------------------------- lora_forward

def _lora_layer(W0, A, B, alpha, r, rslora=False) -> LoraLinear:
    """The kit's LoraLinear holding W0 as its frozen base, with A and B as its adapter."""
    base = nn.Linear(W0.shape[1], W0.shape[0], bias=False, dtype=W0.dtype)
    layer = LoraLinear(base, LoraSettings(r=r, alpha=alpha, rslora=rslora))
    with torch.no_grad():
        base.weight.copy_(W0)
        layer.lora_A.copy_(A)
        layer.lora_B.copy_(B)
    return layer


def reference_lora_forward(x, W0, A, B, alpha, r, rslora=False):
    with torch.no_grad():
        return _lora_layer(W0, A, B, alpha, r, rslora)(x)


def _forward_with(scaling=lambda alpha, r, rslora: alpha / math.sqrt(r) if rslora else alpha / r,
                  update=lambda x, A, B: x @ A.T @ B.T, base=lambda x, W0: x @ W0.T):
    def lora_forward(x, W0, A, B, alpha, r, rslora=False):
        return base(x, W0) + scaling(alpha, r, rslora) * update(x, A, B)
    return lora_forward


FORWARD_MISTAKES = {
    "the update is scaled by alpha: the paper scales it by alpha / r, so that alpha need not change with r":
        _forward_with(scaling=lambda alpha, r, rslora: alpha),
    "the update is scaled by r / alpha: the scaling is alpha / r":
        _forward_with(scaling=lambda alpha, r, rslora: r / alpha),
    "the update is not scaled: multiply B A x by alpha / r":
        _forward_with(scaling=lambda alpha, r, rslora: 1.0),
    "alpha // r, a whole-number division: with alpha below r it is 0 (alpha 8, r 16 scale by 0.5)":
        _forward_with(scaling=lambda alpha, r, rslora: alpha // r),
    "alpha / sqrt(r) with rslora=False: that is rsLoRA's scaling; the paper's is alpha / r":
        _forward_with(scaling=lambda alpha, r, rslora: alpha / math.sqrt(r)),
    "rslora=True is ignored: rsLoRA scales by alpha / sqrt(r), not alpha / r":
        _forward_with(scaling=lambda alpha, r, rslora: alpha / r),
    "the update is x (B A), transposed: a weight stored (out, in) applies as x W^T, so the update is "
    "x (B A)^T = x A^T B^T (A first: x A^T is the (..., r) bottleneck)":
        _forward_with(update=lambda x, A, B: x @ B @ A),
    "W0 is applied as x W0: a weight stored (out, in) applies as x W0^T":
        _forward_with(base=lambda x, W0: x @ W0),
    "the frozen layer's output x W0^T is left out: LoRA adds the update to it":
        _forward_with(base=lambda x, W0: torch.zeros(*x.shape[:-1], W0.shape[0], dtype=x.dtype)),
}


def _run_forward(impl, inputs):
    with torch.no_grad():
        out = impl(inputs["x"].clone(), inputs["W0"].clone(), inputs["A"].clone(), inputs["B"].clone(),
                   inputs["alpha"], inputs["r"], **({"rslora": True} if inputs["rslora"] else {}))
    return torch.as_tensor(out)


def _adapter(g, out_features, in_features, r, trained=True):
    """W0, A and B for a layer (out, in) with rank r: A as the kit draws it, B trained (non-zero) or fresh (zero)."""
    W0 = torch.randn(out_features, in_features, generator=g) / in_features ** 0.5
    A = (torch.rand(r, in_features, generator=g) * 2 - 1) / in_features ** 0.5
    B = torch.randn(out_features, r, generator=g) * 0.5 if trained else torch.zeros(out_features, r)
    return dict(W0=W0, A=A, B=B)


# The worked example of both LoRA parts: in 3, out 2, r 2, alpha 4 (scaling 2).
BY_HAND = dict(W0=torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), A=torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
               B=torch.tensor([[1.0, 0.0], [1.0, 1.0]]), alpha=4, r=2)


def _forward_cases():
    g = torch.Generator().manual_seed(91)
    return [
        Case("by hand: x [[1, 2, 3]], W0 [[1, 0, 0], [0, 1, 0]], A [[1, 0, 0], [0, 0, 1]], B [[1, 0], [1, 1]], "
             "alpha 4, r 2 (answer: x W0^T = [1, 2], x A^T = [1, 3], x A^T B^T = [1, 4], times 4 / 2: [3, 10])",
             dict(x=torch.tensor([[1.0, 2.0, 3.0]]), **BY_HAND, rslora=False), points=2),
        Case("x of shape (2, 5, 16) (a batch of 2, 5 positions), W0 (16, 16) as wq, r 4, alpha 8, a trained B",
             dict(x=torch.randn(2, 5, 16, generator=g), **_adapter(g, 16, 16, 4), alpha=8, r=4, rslora=False),
             points=2),
        Case("x of shape (3, 24), W0 (40, 24) as w1 (more outputs than inputs), r 8, alpha 16",
             dict(x=torch.randn(3, 24, generator=g), **_adapter(g, 40, 24, 8), alpha=16, r=8, rslora=False)),
        Case("alpha 8 below r 16 (scaling 0.5), x of shape (4, 32), W0 (32, 32)",
             dict(x=torch.randn(4, 32, generator=g), **_adapter(g, 32, 32, 16), alpha=8, r=16, rslora=False)),
        Case("rslora=True: r 16, alpha 16 (scaling 16 / sqrt(16) = 4), x of shape (2, 32), W0 (32, 32)",
             dict(x=torch.randn(2, 32, generator=g), **_adapter(g, 32, 32, 16), alpha=16, r=16, rslora=True)),
        Case("a fresh adapter (B all zeros), x of shape (2, 3, 16), W0 (16, 16): the output is the frozen layer's",
             dict(x=torch.randn(2, 3, 16, generator=g), **_adapter(g, 16, 16, 8, trained=False), alpha=16, r=8,
                  rslora=False)),
    ]


# ----------------------------------------------------------------------------------------------- merge

def reference_merge(W0, A, B, alpha, r):
    layer = _lora_layer(W0, A, B, alpha, r)
    layer.merge()
    return layer.base.weight.detach()


def _merge_with(scaling=lambda alpha, r: alpha / r, update=lambda A, B: B @ A, sign=1.0, base=True):
    def merge(W0, A, B, alpha, r):
        return (W0 if base else torch.zeros_like(W0)) + sign * scaling(alpha, r) * update(A, B)
    return merge


MERGE_MISTAKES = {
    "the update is not scaled: the merged weight is W0 + (alpha / r) B A, as the layer's forward computes it":
        _merge_with(scaling=lambda alpha, r: 1.0),
    "the update is scaled by alpha: the scaling is alpha / r":
        _merge_with(scaling=lambda alpha, r: alpha),
    "alpha // r, a whole-number division: with alpha below r it is 0":
        _merge_with(scaling=lambda alpha, r: alpha // r),
    "the update is transposed, (B A)^T = A^T B^T: B A is (out, in), as W0 is":
        _merge_with(update=lambda A, B: A.T @ B.T),
    "the update is subtracted: that is unmerging; merging adds it":
        _merge_with(sign=-1.0),
    "only the update is returned: the merged weight is W0 plus the update":
        _merge_with(base=False),
}


def _run_merge(impl, inputs):
    with torch.no_grad():
        out = impl(inputs["W0"].clone(), inputs["A"].clone(), inputs["B"].clone(), inputs["alpha"], inputs["r"])
    return torch.as_tensor(out)


def _merge_cases():
    g = torch.Generator().manual_seed(92)
    return [
        Case("by hand: W0 [[1, 0, 0], [0, 1, 0]], A [[1, 0, 0], [0, 0, 1]], B [[1, 0], [1, 1]], alpha 4, r 2 "
             "(answer: B A = [[1, 0, 0], [1, 0, 1]], W0 + 2 B A = [[3, 0, 0], [2, 1, 2]])",
             {**BY_HAND}, points=2),
        Case("W0 (16, 16) as wq, r 4, alpha 8, a trained B", dict(**_adapter(g, 16, 16, 4), alpha=8, r=4)),
        Case("W0 (40, 24) as w1 (more outputs than inputs), r 8, alpha 16", dict(**_adapter(g, 40, 24, 8), alpha=16,
                                                                              r=8)),
        Case("alpha 8 below r 16 (scaling 0.5), W0 (32, 32)", dict(**_adapter(g, 32, 32, 16), alpha=8, r=16)),
    ]


# ----------------------------------------------------------------------------------------------- quantize_nf4

BLOCK_SIZE = nf4.BLOCK_SIZE
LEVELS = nf4.NF4  # the 16 levels the notebook gives (the paper's appendix E table, as the kit builds it)


def reference_quantize_nf4(weight):
    return nf4.quantize_nf4(weight)


def _nearest(scaled):
    return (scaled[..., None] - LEVELS).abs().argmin(dim=-1)


def _quantize_with(absmax_of=lambda blocks: blocks.abs().amax(dim=-1, keepdim=True), code_of=_nearest):
    def quantize_nf4(weight):
        out_features, in_features = weight.shape
        blocks = weight.reshape(out_features, -1, BLOCK_SIZE)  # (out, n_blocks, 64)
        absmax = absmax_of(blocks).expand(out_features, blocks.shape[1], 1)  # (out, n_blocks, 1)
        codes = code_of(blocks / absmax.clamp(min=torch.finfo(torch.float32).tiny))
        return codes.reshape(out_features, in_features), absmax[..., 0]
    return quantize_nf4


QUANTIZE_MISTAKES = {
    "one absmax for the whole matrix: NF4 scales each block of 64 weights by its own absmax, so that one large "
    "weight coarsens 64 weights, not all of them":
        _quantize_with(absmax_of=lambda blocks: blocks.abs().amax().reshape(1, 1, 1)),
    "one absmax per row: NF4's blocks are 64 consecutive inputs of a row, each with its own absmax":
        _quantize_with(absmax_of=lambda blocks: blocks.abs().amax(dim=(1, 2), keepdim=True)),
    "max(w) instead of max|w|: a block's most negative weight may be its largest in size (it must scale to -1)":
        _quantize_with(absmax_of=lambda blocks: blocks.amax(dim=-1, keepdim=True)),
    "the scaled weight is rounded as if the levels were evenly spaced (int4's): NF4's levels are not; the code is "
    "the index of the nearest of the 16 levels":
        _quantize_with(code_of=lambda scaled: ((scaled + 1) * 7.5).round().clamp(0, 15)),
    "the code is the first level at or above the scaled weight (searchsorted), not the nearest level":
        _quantize_with(code_of=lambda scaled: torch.searchsorted(LEVELS, scaled.contiguous()).clamp(max=15)),
    "the codes are the levels' values: store each level's index 0..15 (4 bits), not the level itself":
        _quantize_with(code_of=lambda scaled: LEVELS[_nearest(scaled)]),
}


def _run_quantize(impl, inputs):
    weight = inputs["weight"]
    out = impl(weight.clone())
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise StudentError(f"returned {type(out).__name__}, not a pair: return (codes, absmax)")
    codes, absmax = (torch.as_tensor(t) for t in out)
    n_blocks = weight.shape[1] // BLOCK_SIZE
    absmax = absmax.float()
    if absmax.numel() == 1:  # one number for the whole matrix: as if every block had it
        absmax = absmax.reshape(1, 1).expand(weight.shape[0], n_blocks)
    elif absmax.shape in ((weight.shape[0],), (weight.shape[0], 1)):  # one a row: as if each of its blocks had it
        absmax = absmax.reshape(-1, 1).expand(weight.shape[0], n_blocks)
    if codes.shape != weight.shape or absmax.shape != (weight.shape[0], n_blocks):
        raise StudentError(f"codes have shape {tuple(codes.shape)} and absmax {tuple(absmax.shape)}: expected codes "
                           f"of the weight's shape {tuple(weight.shape)} and one absmax per block of {BLOCK_SIZE} "
                           f"inputs, ({weight.shape[0]}, {n_blocks})")
    if codes.is_floating_point() and bool((codes == codes.round()).all()):
        codes = codes.long()  # whole numbers kept as floats: the same codes
    result = {"codes": codes, "absmax": absmax}
    if not codes.is_floating_point() and bool(((codes >= 0) & (codes <= 15)).all()):
        result["read back"] = nf4.dequantize_nf4(codes, absmax)  # what the layer multiplies with
    else:
        result["read back"] = torch.full(weight.shape, math.nan)  # codes that are no indices read back as nothing
    return result


def _quantize_cases():
    g = torch.Generator().manual_seed(93)
    by_hand = torch.zeros(1, 64)
    by_hand[0, :4] = torch.tensor([0.5, -0.25, 0.0, 0.3])
    outlier = torch.randn(4, 128, generator=g) * 0.02
    outlier[2, 70] = 1.0  # one large weight: only its own block's other weights lose precision
    negative = torch.randn(3, 64, generator=g) * 0.02
    negative[:, 5] = -0.2  # each block's largest weight in size is negative
    return [
        Case("by hand: one block of 64 weights, [0.5, -0.25, 0, 0.3] then 60 zeros (answer: absmax 0.5; scaled "
             "[1, -0.5, 0, 0.6], codes [15, 2, 7, 13] (-0.5 is nearest to level 2, -0.525; 0.6 to level 13, "
             "0.5626), the zeros 7)", dict(weight=by_hand), points=2),
        Case("8 rows of 256 weights of Llama's size (about 0.02): 4 blocks a row",
             dict(weight=torch.randn(8, 256, generator=g) * 0.02), points=2),
        Case("4 rows of 128 with one weight 50 times the others (row 2, input 70): it sets its own block's absmax "
             "only", dict(weight=outlier)),
        Case("3 rows of 64 whose largest weight in size is negative (-0.2; it scales to level 0, -1)",
             dict(weight=negative)),
        Case("2 rows of 4,096 inputs (a row of Llama 2 7B's wq): 64 blocks a row",
             dict(weight=torch.randn(2, 4096, generator=g) * 0.02)),
    ]


# ----------------------------------------------------------------------------------------------- dequantize_nf4

def reference_dequantize_nf4(codes, absmax):
    return nf4.dequantize_nf4(codes, absmax)


DEQUANTIZE_MISTAKES = {
    "the levels are not multiplied by the block's absmax: NF4[code] is in [-1, 1], the weight is NF4[code] * "
    "absmax":
        lambda codes, absmax: LEVELS[codes.long()],
    "the levels are divided by the absmax: quantizing divided by it, reading back multiplies":
        lambda codes, absmax: LEVELS[codes.long()] / absmax.repeat_interleave(BLOCK_SIZE, dim=1),
    "the absmaxes are spread with repeat, which tiles them (block 0, 1, 0, 1, ...): each block's absmax covers "
    "its own 64 inputs, repeat_interleave(64, dim=1)":
        lambda codes, absmax: LEVELS[codes.long()] * absmax.repeat(1, BLOCK_SIZE),
    "the codes are read as evenly spaced levels (int4's, code / 7.5 - 1): the code indexes NF4's table":
        lambda codes, absmax: (codes.float() / 7.5 - 1) * absmax.repeat_interleave(BLOCK_SIZE, dim=1),
}


def _run_dequantize(impl, inputs):
    out = impl(inputs["codes"].clone(), inputs["absmax"].clone())
    return torch.as_tensor(out)


def _dequantize_cases():
    g = torch.Generator().manual_seed(94)
    codes_by_hand = torch.arange(16, dtype=torch.uint8).repeat(4).reshape(1, 64)

    def codes(out_features, in_features):
        return torch.randint(0, 16, (out_features, in_features), generator=g, dtype=torch.uint8)

    return [
        Case("by hand: one block whose codes are 0, 1, ..., 15 four times, absmax 2 (answer: twice NF4's table, "
             "[-2, -1.3924, -1.0501, ...], four times)", dict(codes=codes_by_hand, absmax=torch.tensor([[2.0]])),
             points=2),
        Case("2 rows of 128 (2 blocks each), absmaxes [[1, 0.5], [0.25, 2]]",
             dict(codes=codes(2, 128), absmax=torch.tensor([[1.0, 0.5], [0.25, 2.0]]))),
        Case("8 rows of 256 with absmaxes of Llama's size (about 0.05)",
             dict(codes=codes(8, 256), absmax=torch.rand(8, 4, generator=g) * 0.05 + 0.02)),
        Case("a row of 4,096 inputs (64 blocks), one block all zeros (absmax 0, its codes 7: the level 0)",
             dict(codes=codes(1, 4096).index_fill_(1, torch.arange(64, 128), 7),
                  absmax=(torch.rand(1, 64, generator=g) * 0.05 + 0.02).index_fill_(1, torch.tensor([1]), 0.0))),
    ]


PARTS = [
    Part("lora_forward", "the LoRA layer's forward", reference_lora_forward, _run_forward, _forward_cases,
         FORWARD_MISTAKES, kit=(LoraLinear.forward,),
         hint="x @ W0.T + scaling * (x @ A.T @ B.T), with scaling = alpha / r, or alpha / math.sqrt(r) when "
              "rslora is True",
         error_hints={"cannot be multiplied": "a matrix is transposed: W0 and the update B A are stored (out, in) "
                                              "and apply as x @ W.T; A is (r, in) and B (out, r), so the update "
                                              "is x @ A.T @ B.T"}),
    Part("merge", "merging the update into W0", reference_merge, _run_merge, _merge_cases, MERGE_MISTAKES,
         kit=(LoraLinear.merge, LoraLinear.delta_weight),
         hint="W0 + (alpha / r) * (B @ A): B (out, r) times A (r, in) is (out, in), W0's shape",
         error_hints={"cannot be multiplied": "the update is transposed or its factors swapped: B A is "
                                              "B (out, r) @ A (r, in), (out, in) as W0"}),
    Part("quantize_nf4", "NF4, one absmax per block of 64", reference_quantize_nf4, _run_quantize, _quantize_cases,
         QUANTIZE_MISTAKES, kit=(nf4.quantize_nf4,),
         hint="blocks = weight.reshape(out, -1, 64); absmax = blocks.abs().amax(dim=-1); the code of each "
              "scaled weight is (scaled[..., None] - NF4_LEVELS).abs().argmin(dim=-1)"),
    Part("dequantize_nf4", "reading NF4 back", reference_dequantize_nf4, _run_dequantize, _dequantize_cases,
         DEQUANTIZE_MISTAKES, kit=(nf4.dequantize_nf4,),
         hint="NF4_LEVELS[codes.long()] * absmax.repeat_interleave(64, dim=1)"),
]
