"""Assignment 02: rotary position embeddings, Meta's layout (interleaved pairs), then inside the model.

    rope_tables(head_dim, max_seq_len, theta=10000.0) -> cos, sin of the angles m * theta^(-2i/hd), each (T, hd/2)
    apply_rotary_emb(x, cos, sin)  -> each pair (x[2i], x[2i+1]) of x (B, T, n_heads, hd) turned by its angle

The right answers are the kit's `rope_tables` and `apply_rotary_emb` (llama_lab/model.py).
"""

from __future__ import annotations

import torch

from ... import model as kit
from ..engine.checks import Case, Part
from .models import logits_and_greedy, random_llama, random_prompt, replaced

TITLE = "Rotary position embeddings"


# ------------------------------------------------------------------------------------------- rope_tables

def _tables(inv_freq, positions):
    angles = torch.outer(positions, inv_freq)
    return angles.cos(), angles.sin()


def _arange(n):
    return torch.arange(n, dtype=torch.float32)


def _inv_freq(hd, theta):
    return 1.0 / theta ** (torch.arange(0, hd, 2).float() / hd)


TABLE_MISTAKES = {
    "the exponent is i/hd instead of 2i/hd: the frequencies are theta^(-2i/hd) for i = 0 .. hd/2 - 1 "
    "(torch.arange(0, hd, 2) / hd)":
        lambda hd, n, theta=10000.0: _tables(1.0 / theta ** (_arange(hd // 2) / hd), _arange(n)),
    "the exponent's sign is lost: the frequencies must fall with i, theta^(-2i/hd), not theta^(+2i/hd)":
        lambda hd, n, theta=10000.0: _tables(theta ** (torch.arange(0, hd, 2).float() / hd), _arange(n)),
    "positions start at 1: the first token is position 0 (its angle is 0, so cos = 1 and sin = 0)":
        lambda hd, n, theta=10000.0: _tables(1.0 / theta ** (torch.arange(0, hd, 2).float() / hd),
                                             _arange(n) + 1),
    "theta is ignored (always 10000): use the theta argument (Llama 3 and Code Llama use other values)":
        lambda hd, n, theta=10000.0: kit.rope_tables(hd, n, 10000.0),
    "cos and sin are swapped: return (cos, sin)":
        lambda hd, n, theta=10000.0: tuple(reversed(kit.rope_tables(hd, n, theta))),
    "the tables are hd wide (each frequency written twice, Hugging Face's layout): Meta's tables hold one "
    "column per pair, hd/2":
        lambda hd, n, theta=10000.0: tuple(t.repeat_interleave(2, dim=-1) for t in kit.rope_tables(hd, n, theta)),
    "the positions are bfloat16: it holds whole numbers exactly only up to 256, so far positions share a "
    "rounded angle (4095 becomes 4096); count positions in float32, torch.arange(max_seq_len, dtype=torch.float32)":
        lambda hd, n, theta=10000.0: _tables(_inv_freq(hd, theta), torch.arange(n, dtype=torch.bfloat16).float()),
    "the angles are computed in float16: its frequencies keep about 3 digits and it holds whole numbers exactly "
    "only up to 2048, so the angles drift and far positions are off by radians; compute the table in float32":
        lambda hd, n, theta=10000.0: tuple(t.float() for t in _tables(_inv_freq(hd, theta).half(),
                                                                       torch.arange(n, dtype=torch.float16))),
}


def use_rope_tables(model, rope_tables):
    """Give `model` the tables rope_tables(head_dim, max_seq_len, rope_theta) in place of the kit's; returns model."""
    cos, sin = rope_tables(model.args.head_dim, model.args.max_seq_len, model.args.rope_theta)
    model.rope_cos, model.rope_sin = cos.float(), sin.float()
    return model


def _run_tables(impl, inputs):
    if "prompt" in inputs:
        return logits_and_greedy(use_rope_tables(random_llama(seed=inputs["seed"]), impl), inputs["prompt"])
    cos, sin = impl(inputs["head_dim"], inputs["max_seq_len"], inputs["theta"])
    return {"cos": cos, "sin": sin}


def _table_cases():
    return [
        Case("head_dim=8, max_seq_len=6, theta=10000", dict(head_dim=8, max_seq_len=6, theta=10000.0), atol=1e-4),
        Case("head_dim=16, max_seq_len=12, theta=500000 (Llama 3's)",
             dict(head_dim=16, max_seq_len=12, theta=500000.0), atol=1e-4),
        # float32 rounds an angle near 4095 to 2.4e-4, so correct ways of computing it differ by that much
        Case("head_dim=128, max_seq_len=4096, theta=10000: Llama 2 7B's heads over its whole context (angles up "
             "to 4095 radians; float32 counts positions exactly that far, float16 and bfloat16 do not)",
             dict(head_dim=128, max_seq_len=4096, theta=10000.0), atol=1e-3),
        Case("head_dim=2, max_seq_len=1 (one pair, one position: cos [[1]], sin [[0]])",
             dict(head_dim=2, max_seq_len=1, theta=10000.0)),
        Case("inside the model: a small Llama whose tables are yours (logits of a 10-token prompt, then 8 greedy "
             "tokens)", dict(seed=21, prompt=random_prompt(21, 10)), atol=1e-4, rtol=1e-4),
    ]


# -------------------------------------------------------------------------------------- apply_rotary_emb

def _rotate_halves(x, cos, sin):
    half = x.shape[-1] // 2
    x1, x2 = x.float()[..., :half], x.float()[..., half:]
    cos, sin = cos[:, None, :], sin[:, None, :]
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).type_as(x)


def _pairs(x):
    pairs = x.float().unflatten(-1, (-1, 2))
    return pairs[..., 0], pairs[..., 1]


def _rotate_backwards(x, cos, sin):
    xe, xo = _pairs(x)
    cos, sin = cos[:, None, :], sin[:, None, :]
    return torch.stack((xe * cos + xo * sin, -xe * sin + xo * cos), dim=-1).flatten(-2).type_as(x)


def _written_as_halves(x, cos, sin):
    xe, xo = _pairs(x)
    cos, sin = cos[:, None, :], sin[:, None, :]
    return torch.cat((xe * cos - xo * sin, xe * sin + xo * cos), dim=-1).type_as(x)


def _angles_by_head(x, cos, sin):
    xe, xo = _pairs(x)  # (B, T, nh, hd/2): broadcasting cos (T, hd/2) pairs its rows with heads, not positions
    return torch.stack((xe * cos - xo * sin, xe * sin + xo * cos), dim=-1).flatten(-2).type_as(x)


def _float32_out(x, cos, sin):
    return kit.apply_rotary_emb(x.float(), cos, sin)


ROTATE_MISTAKES = {
    "the halves are rotated (x[..., :hd/2] with x[..., hd/2:], Hugging Face's layout): Meta's checkpoints, and "
    "this kit, rotate interleaved pairs (x[0], x[1]), (x[2], x[3]), ...": _rotate_halves,
    "the pairs turn the wrong way (by -angle): the rotation is (a cos - b sin, a sin + b cos)": _rotate_backwards,
    "the pairs are rotated right but written back as [all firsts..., all seconds...]: interleave them again "
    "(torch.stack(..., dim=-1).flatten(-2))": _written_as_halves,
    "cos and sin line up with the heads instead of the positions: x is (B, T, n_heads, hd), so give cos the "
    "shape (T, 1, hd/2) (cos[:, None, :])": _angles_by_head,
    "the result is float32: return x's dtype (`.type_as(x)`)": _float32_out,
}


def use_apply_rotary_emb(model, apply_rotary_emb):
    """Make the attention layers of `model` (and only this model's) rotate with apply_rotary_emb; returns model."""
    for layer in model.layers:
        def forward(*args, attention=layer.attention, **kwargs):
            with replaced(kit, "apply_rotary_emb", apply_rotary_emb):  # the kit's Attention calls this name
                return type(attention).forward(attention, *args, **kwargs)
        layer.attention.forward = forward
    return model


def _run_rotate(impl, inputs):
    if "prompt" in inputs:
        return logits_and_greedy(use_apply_rotary_emb(random_llama(seed=inputs["seed"]), impl), inputs["prompt"])
    return impl(inputs["x"], inputs["cos"], inputs["sin"])


def _rotate_cases():
    g = torch.Generator().manual_seed(3)
    cos8, sin8 = kit.rope_tables(8, 16)
    cos16, sin16 = kit.rope_tables(16, 16)
    cos128, sin128 = kit.rope_tables(128, 4096)  # Llama 2 7B's head size and context
    return [
        Case("x of shape (2, 5, 3, 8) (batch, positions, heads, head dim) at positions 0..4",
             dict(x=torch.randn(2, 5, 3, 8, generator=g), cos=cos8[:5], sin=sin8[:5])),
        Case("x of shape (1, 4, 4, 8) at positions 7..10 (as when decoding after 7 tokens): 4 positions "
             "and 4 heads", dict(x=torch.randn(1, 4, 4, 8, generator=g), cos=cos8[7:11], sin=sin8[7:11])),
        Case("x of shape (1, 3, 2, 16), bfloat16",
             dict(x=torch.randn(1, 3, 2, 16, generator=g).bfloat16(), cos=cos16[2:5], sin=sin16[2:5]),
             atol=1e-2, rtol=1e-2, exact_dtype=True),
        Case("x of shape (1, 1, 32, 128), float16: one token at position 4095, the last of Llama 2's 4,096 (a "
             "decoding step with a batch of one, 32 heads of 128)",
             dict(x=torch.randn(1, 1, 32, 128, generator=g).half(), cos=cos128[4095:], sin=sin128[4095:]),
             atol=1e-2, rtol=1e-2, exact_dtype=True),
        Case("x of shape (2, 6, 2, 128), float64, at positions 4090..4095 (the result stays float64)",
             dict(x=torch.randn(2, 6, 2, 128, generator=g, dtype=torch.float64), cos=cos128[4090:],
                  sin=sin128[4090:]), exact_dtype=True),
        Case("inside the model: a small Llama whose attention calls your apply_rotary_emb (logits of a 10-token "
             "prompt, then 8 greedy tokens decoded with the KV cache)", dict(seed=22, prompt=random_prompt(22, 10)),
             atol=1e-4, rtol=1e-4),
    ]


PARTS = [
    Part("rope_tables", "the rotation angles", kit.rope_tables, _run_tables, _table_cases, TABLE_MISTAKES,
         kit=(kit.rope_tables,),
         hint="Check the angle of position m and pair i: m * theta^(-2i/head_dim), as a (max_seq_len, hd/2) table"),
    Part("apply_rotary_emb", "rotating queries and keys", kit.apply_rotary_emb, _run_rotate, _rotate_cases,
         ROTATE_MISTAKES, kit=(kit.apply_rotary_emb,),
         hint="Check that pair i of each head at position t turns by the angle in cos[t, i], sin[t, i]"),
]
