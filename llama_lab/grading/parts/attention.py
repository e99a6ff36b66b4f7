"""Assignment 03: attention with grouped-query heads and a KV cache, then the student's Attention in the model.

    repeat_kv(x, n_rep)                      -> (B, Hkv, S, hd) to (B, Hkv * n_rep, S, hd), each head n_rep times
    attention(q, k, v)                       -> causal softmax(q k^T / sqrt(hd)) v; the T queries are the last T
                                                of the S positions, so query i sees keys 0 .. S - T + i
    cache_update(cache_k, cache_v, start_pos, k, v) -> write k, v at start_pos.., return all keys/values so far
    class Attention(nn.Module)               -> forward(x, cos, sin, start_pos=0, cache=None) -> (B, T, D),
                                                written with the three above, in place of the kit's Attention

The right answers: the kit's `repeat_kv`, `KVCache.update` and the kit's model itself (llama_lab/model.py);
`attention` is the kit's explicit attention path written as a function.
"""

from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F
from torch import nn

from ... import model as kit
from ...generate import generate_tokens
from ..engine.checks import Case, Part
from .models import random_llama, random_prompt


TITLE = "Attention with grouped-query heads and a KV cache"

# --------------------------------------------------------------------------------------------- repeat_kv

REPEAT_MISTAKES = {
    "the heads are tiled (x.repeat): query head h must share key/value head h // n_rep, so each head is "
    "repeated n_rep times in a row (repeat_interleave on dim 1)":
        lambda x, n_rep: x.repeat(1, n_rep, 1, 1),
    "the positions are repeated instead of the heads: repeat along dim 1 (heads), not dim 2":
        lambda x, n_rep: x.repeat_interleave(n_rep, dim=2),
}


def _repeat_cases():
    g = torch.Generator().manual_seed(4)
    return [
        Case("x of shape (1, 2, 3, 4), n_rep=2", dict(x=torch.randn(1, 2, 3, 4, generator=g), n_rep=2)),
        Case("x of shape (2, 3, 5, 4), n_rep=4", dict(x=torch.randn(2, 3, 5, 4, generator=g), n_rep=4)),
        Case("x of shape (1, 2, 3, 4), n_rep=1 (plain multi-head attention: nothing to share)",
             dict(x=torch.randn(1, 2, 3, 4, generator=g), n_rep=1)),
        Case("x of shape (1, 8, 1, 128), bfloat16, n_rep=8: one position (a decoding step) of Llama 2 70B, whose "
             "64 query heads share 8 key/value heads (the result stays bfloat16)",
             dict(x=torch.randn(1, 8, 1, 128, generator=g).bfloat16(), n_rep=8), exact_dtype=True),
    ]


# --------------------------------------------------------------------------------------------- attention

def _attend(q, k, v, mask=None, scale=None, fill=float("-inf"), dim=-1, dtype=None):
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q.float() @ k.float().transpose(-2, -1)) * scale  # (B, H, T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, fill)
    return (F.softmax(scores, dim=dim) @ v.float()).to(q.dtype if dtype is None else dtype)


def _causal(q, k, diagonal_shift=0):
    T, S = q.shape[-2], k.shape[-2]
    return torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T + diagonal_shift)


def reference_attention(q, k, v):
    """Causal attention of T queries over S keys, as the kit's explicit path: query i sits at position S - T + i."""
    return _attend(q, k, v, _causal(q, k))


ATTENTION_MISTAKES = {
    "no causal mask: each query also sees the keys after it":
        lambda q, k, v: _attend(q, k, v),
    "the mask is shifted by one: a query must see its own key (the diagonal is allowed)":
        lambda q, k, v: _attend(q, k, v, _causal(q, k, -1)),
    "the mask lets each query see one key into the future":
        lambda q, k, v: _attend(q, k, v, _causal(q, k, +1)),
    "the mask ignores the cached keys: with S keys and T queries, query i sits at position S - T + i and sees "
    "keys 0 .. S - T + i (torch.ones(T, S).tril(diagonal=S - T))":
        lambda q, k, v: _attend(q, k, v, torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()),
    "the mask is upside down: it hides the past and shows the future (use tril, not triu)":
        lambda q, k, v: _attend(q, k, v, torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool)
                                .triu(diagonal=k.shape[-2] - q.shape[-2])),
    "the softmax is over the queries (dim=-2): each query's weights over the keys must sum to 1 (dim=-1)":
        lambda q, k, v: _attend(q, k, v, _causal(q, k), dim=-2),
    "the scores are not scaled: divide q k^T by sqrt(head_dim)":
        lambda q, k, v: _attend(q, k, v, _causal(q, k), scale=1.0),
    "the scores are divided by head_dim: the scale is 1 / sqrt(head_dim)":
        lambda q, k, v: _attend(q, k, v, _causal(q, k), scale=1 / q.shape[-1]),
    "masked scores are set to 0 instead of -inf: exp(0) = 1, so hidden keys still get weight":
        lambda q, k, v: _attend(q, k, v, _causal(q, k), fill=0.0),
    "the result is float32: compute in float32 if you like, but return q's dtype (`.type_as(q)`), as the rest "
    "of a bfloat16 model expects":
        lambda q, k, v: _attend(q, k, v, _causal(q, k), dtype=torch.float32),
}


def _attention_cases():
    g = torch.Generator().manual_seed(5)

    def qkv(T, S):
        return dict(q=torch.randn(1, 2, T, 8, generator=g) * 2, k=torch.randn(1, 2, S, 8, generator=g) * 2,
                    v=torch.randn(1, 2, S, 8, generator=g))

    return [
        Case("q, k, v of 5 positions each (B=1, H=2, head_dim=8): a whole prompt, no cache", qkv(5, 5)),
        Case("one query after 6 cached keys (T=1, S=7): a decoding step", qkv(1, 7)),
        Case("3 queries after 4 cached keys (T=3, S=7): a chunk of new tokens", qkv(3, 7)),
        Case("one query after 4,095 cached keys (T=1, S=4096): the last decoding step of Llama 2's context",
             qkv(1, 4096)),
        Case("a one-token prompt (T=S=1): the token sees only itself, so its output is its own value", qkv(1, 1)),
        Case("q, k, v in bfloat16, 4 positions (a model run in bfloat16: the result stays bfloat16)",
             {name: x.bfloat16() for name, x in qkv(4, 4).items()}, atol=1e-2, rtol=1e-2, exact_dtype=True),
    ]


# ------------------------------------------------------------------------------------------ cache_update

def reference_cache_update(cache_k, cache_v, start_pos, k, v):
    """The kit's KVCache.update for one layer: cache_k, cache_v (B, Hkv, max_seq_len, hd)."""
    end = start_pos + k.shape[2]
    cache_k[:, :, start_pos:end] = k
    cache_v[:, :, start_pos:end] = v
    return cache_k[:, :, :end], cache_v[:, :, :end]


def _forgets_offset(cache_k, cache_v, start_pos, k, v):
    T = k.shape[2]
    cache_k[:, :, :T], cache_v[:, :, :T] = k, v
    return cache_k[:, :, :start_pos + T], cache_v[:, :, :start_pos + T]


def _only_new(cache_k, cache_v, start_pos, k, v):
    reference_cache_update(cache_k, cache_v, start_pos, k, v)
    return k, v


def _whole_cache(cache_k, cache_v, start_pos, k, v):
    reference_cache_update(cache_k, cache_v, start_pos, k, v)
    return cache_k, cache_v


def _not_in_place(cache_k, cache_v, start_pos, k, v):
    return (torch.cat((cache_k[:, :, :start_pos], k), dim=2), torch.cat((cache_v[:, :, :start_pos], v), dim=2))


def _one_short(cache_k, cache_v, start_pos, k, v):
    end = start_pos + k.shape[2]
    reference_cache_update(cache_k, cache_v, start_pos, k, v)
    return cache_k[:, :, :end - 1], cache_v[:, :, :end - 1]


CACHE_MISTAKES = {
    "the cache forgot the offset: the new keys were written at position 0, but they belong at "
    "start_pos .. start_pos + T - 1": _forgets_offset,
    "only the new keys and values are returned: attention must also see the cached ones, positions "
    "0 .. start_pos + T - 1": _only_new,
    "the whole cache is returned, including positions not written yet: return positions "
    "0 .. start_pos + T - 1 only": _whole_cache,
    "the cache itself is not updated: write the new keys into cache_k[:, :, start_pos:start_pos + T] "
    "(in place) so that the next step finds them": _not_in_place,
    "one position short: the returned keys must end with the new ones (start_pos + T positions in all)": _one_short,
}


def _run_cache(impl, inputs):
    cache_k, cache_v = inputs["cache_k"].clone(), inputs["cache_v"].clone()
    keys, values = impl(cache_k, cache_v, inputs["start_pos"], inputs["k"], inputs["v"])
    return {"keys": keys, "values": values, "cache_k after the call": cache_k, "cache_v after the call": cache_v}


def _cache_cases():
    g = torch.Generator().manual_seed(6)

    def case(start_pos, T, max_len=10):
        cache_k, cache_v = torch.zeros(1, 2, max_len, 4), torch.zeros(1, 2, max_len, 4)
        cache_k[:, :, :start_pos] = torch.randn(1, 2, start_pos, 4, generator=g)  # earlier steps' keys
        cache_v[:, :, :start_pos] = torch.randn(1, 2, start_pos, 4, generator=g)
        return dict(cache_k=cache_k, cache_v=cache_v, start_pos=start_pos,
                    k=torch.randn(1, 2, T, 4, generator=g), v=torch.randn(1, 2, T, 4, generator=g))

    return [
        Case("an empty cache of 10 positions, start_pos=0, 4 new keys (the prompt)", case(0, 4)),
        Case("4 positions cached, start_pos=4, 1 new key (a decoding step)", case(4, 1)),
        Case("5 positions cached, start_pos=5, 3 new keys", case(5, 3)),
        Case("an empty cache, start_pos=0, 1 new key (a one-token prompt)", case(0, 1)),
        Case("a cache of Llama 2's 4,096 positions with 4,095 cached, start_pos=4095, 1 new key (it fills the last "
             "position)", case(4095, 1, max_len=4096)),
    ]


# ------------------------------------------------------------------------------------ Attention in the model

class Solution(nn.Module):
    """The assignment's Attention as the grader writes it: forward(x, cos, sin, start_pos=0, cache=None) -> out.

    Each known mistake below is this class with one step done wrong.
    """

    def __init__(self, args, layer_id: int):
        super().__init__()
        self.layer_id = layer_id
        self.n_heads, self.n_kv_heads, self.head_dim = args.n_heads, args.kv_heads, args.head_dim
        self.n_rep = self.n_heads // self.n_kv_heads
        self.wq = nn.Linear(args.dim, self.n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(args.dim, self.n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(args.dim, self.n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(self.n_heads * self.head_dim, args.dim, bias=False)

    def forward(self, x, cos, sin, start_pos=0, cache=None):
        B, T, _ = x.shape
        q = self.wq(x).view(B, T, self.n_heads, self.head_dim)  # (B, T, H, hd)
        k = self.wk(x).view(B, T, self.n_kv_heads, self.head_dim)  # (B, T, Hkv, hd)
        v = self.wv(x).view(B, T, self.n_kv_heads, self.head_dim)
        q, k = self.rotate(q, k, cos, sin)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, nh, T, hd)
        if cache is not None:
            k, v = self.remember(cache, start_pos, k, v)  # (B, Hkv, S, hd)
        k, v = kit.repeat_kv(k, self.n_rep), kit.repeat_kv(v, self.n_rep)  # (B, H, S, hd)
        out = reference_attention(q, k, v)  # (B, H, T, hd)
        return self.wo(self.merge_heads(out))

    def rotate(self, q, k, cos, sin):
        return kit.apply_rotary_emb(q, cos, sin), kit.apply_rotary_emb(k, cos, sin)

    def remember(self, cache, start_pos, k, v):
        return reference_cache_update(cache.k[self.layer_id], cache.v[self.layer_id], start_pos, k, v)

    def merge_heads(self, out):
        B, H, T, hd = out.shape
        return out.transpose(1, 2).reshape(B, T, H * hd)  # (B, T, H * hd)


class _SkipsCache(Solution):
    def remember(self, cache, start_pos, k, v):
        return k, v


class _NoRotaryOnKeys(Solution):
    def rotate(self, q, k, cos, sin):
        return kit.apply_rotary_emb(q, cos, sin), k


class _HeadsNotMovedBack(Solution):
    def merge_heads(self, out):
        B, H, T, hd = out.shape
        return out.reshape(B, T, H * hd)


ATTENTION_CLASS_MISTAKES = {
    "the cache is not used (or is written at position 0): with a cache, store this step's keys and values at "
    "start_pos, cache_update(cache.k[self.layer_id], cache.v[self.layer_id], start_pos, k, v), and attend to "
    "everything it returns": _SkipsCache,
    "the keys are not rotated: apply_rotary_emb goes on both q and k": _NoRotaryOnKeys,
    "the heads are not moved back before the output projection: transpose (B, H, T, hd) to (B, T, H, hd), "
    "then reshape to (B, T, H * hd)": _HeadsNotMovedBack,
}


class _Plugged(nn.Module):
    """Lets an Attention with the assignment's forward(x, cos, sin, start_pos, cache) -> out sit where the kit's
    TransformerBlock expects its own Attention (whatever extra arguments the kit passes, it wants (out, probs))."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x, cos, sin, *args, **kwargs):
        call = inspect.signature(kit.Attention.forward).bind(None, x, cos, sin, *args, **kwargs)
        call.apply_defaults()
        return self.inner(x, cos, sin, call.arguments["start_pos"], call.arguments["cache"]), None


def use_attention(model, attention_class):
    """Put `attention_class(args, layer_id)` in every layer of `model`, with the kit's weights; returns model.

    The class keeps the kit's parameter names (wq wk wv wo, Meta's), so each layer's weights load as they are.
    """
    for layer in model.layers:
        mine = attention_class(model.args, layer.layer_id).to(layer.attention.wq.weight.dtype)
        mine.load_state_dict(layer.attention.state_dict())  # strict: a renamed weight is an error
        layer.attention = _Plugged(mine.eval())
    return model


@torch.no_grad()
def _run_class(impl, inputs):
    model = random_llama(seed=inputs["seed"])
    if impl is not kit.Attention:  # the right answer is the kit's own model, untouched
        use_attention(model, impl)
    prompt = inputs["prompt"]
    tokens = torch.tensor([prompt])
    if inputs["what"] == "logits":
        return model(tokens)[0]
    if inputs["what"] == "cached":
        cache, prefill = model.new_cache(1, 16), inputs.get("prefill", 5)
        steps = [model(tokens[:, :prefill], start_pos=0, cache=cache)]  # prefill, then one token at a time
        steps += [model(tokens[:, p:p + 1], start_pos=p, cache=cache) for p in range(prefill, len(prompt))]
        return torch.cat(steps, dim=1)[0]
    return generate_tokens(model, [prompt], 8, temperature=0, eos_id=None)[0]


def _class_cases():
    prompt = random_prompt(31, 9)
    return [
        Case("a small Llama (4 query heads, 2 key/value heads) with your Attention in every layer: logits of a "
             "9-token prompt, no cache", dict(seed=31, prompt=prompt, what="logits"), atol=1e-4, rtol=1e-4),
        Case("the same prompt through the KV cache: 5 tokens, then one at a time (start_pos 5, 6, 7, 8)",
             dict(seed=31, prompt=prompt, what="cached"), atol=1e-4, rtol=1e-4),
        Case("the same prompt from its first token alone: a one-token prefill, then one token at a time (start_pos "
             "1 .. 8)", dict(seed=31, prompt=prompt, what="cached", prefill=1), atol=1e-4, rtol=1e-4),
        Case("greedy generation of 8 tokens with generate_tokens (which uses the cache)",
             dict(seed=32, prompt=random_prompt(32, 6), what="generate")),
    ]


PARTS = [
    Part("repeat_kv", "sharing key/value heads (GQA)", kit.repeat_kv, lambda f, i: f(i["x"], i["n_rep"]),
         _repeat_cases, REPEAT_MISTAKES, kit=(kit.repeat_kv,),
         hint="Check the shape (B, Hkv * n_rep, S, hd) and that head h of the output is head h // n_rep of x"),
    Part("attention", "causal attention", reference_attention, lambda f, i: f(i["q"], i["k"], i["v"]),
         _attention_cases, ATTENTION_MISTAKES,
         hint="Check softmax(q k^T / sqrt(hd)) over the keys, with key j hidden from query i when "
              "j > S - T + i, then the weighted sum of v"),
    Part("cache_update", "the KV cache", reference_cache_update, _run_cache, _cache_cases, CACHE_MISTAKES,
         kit=(kit.KVCache.update,),
         hint="Write k, v into positions start_pos .. start_pos + T - 1 of the cache, in place, and return "
              "positions 0 .. start_pos + T - 1"),
    Part("Attention", "your Attention inside the model", kit.Attention, _run_class, _class_cases,
         ATTENTION_CLASS_MISTAKES, kit=(kit.Attention.forward,),
         uses={"repeat_kv": kit.repeat_kv, "attention": reference_attention,
               "cache_update": reference_cache_update},
         hint="Follow the kit's order: project, view as heads, rotate q and k, move heads first, update the "
              "cache, repeat k and v, attend, move heads back, project with wo",
         error_hints={"Missing key": "keep the kit's parameter names wq, wk, wv, wo (they are Meta's)",
                      "Unexpected key": "keep the kit's parameter names wq, wk, wv, wo (they are Meta's)"}),
]
