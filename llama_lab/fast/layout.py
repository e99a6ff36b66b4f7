"""Decoding on a CPU with the weights laid out for it: the `LaidOutDecoder`.

A decoding step multiplies one vector per row by every weight, so its speed is the speed at which the weights
stream from memory. On a CPU two things make them stream faster (docs/benchmarks.md has the figures):
- long contiguous runs: a matrix stored column by column is read in runs as long as its outputs, and wq, wk, wv
  joined into one matrix (w1, w3 into another) make the runs longer still and the products fewer;
- every core: MKL runs a matrix-vector product on one core, so `linear` cuts a large one into a slice of outputs
  per core and lets torch.bmm run the slices side by side.
A quantized model (`llama_lab.quantize`) gets the same joins, made of its integer rows and their scales, which the
model's layers then share (views of the joined rows), so that its weights are held once; its products run on the
weight-only kernels, which read the integers as they are stored.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..model import apply_rotary_emb
from ..nf4 import NF4Linear
from ..quantize import QuantizedLinear
from .decoder import FastDecoder, weights_state
from .kernels import with_kernel

SPREAD_FROM = 2**18  # numbers in a weight (1 MiB in float32) from which `linear` spreads a product over the cores


def by_columns(*weights: torch.Tensor) -> torch.Tensor:
    """The matrices `weights` (each (rows_i, cols)) stacked into one (sum rows_i, cols) stored column by column:
    a new tensor with strides (1, rows), the same values as torch.cat(weights).

    Example: wq (64, 64), wk (16, 64), wv (16, 64) -> one (96, 64) matrix whose rows 0-63 are wq, 64-79 wk and
    80-95 wv; one product with it computes what three did.
    """
    first = weights[0]
    rows = sum(w.shape[0] for w in weights)
    joined = torch.empty(first.shape[1], rows, dtype=first.dtype, device=first.device).t()  # (rows, cols)
    start = 0
    for w in weights:
        joined[start:start + w.shape[0]] = w
        start += w.shape[0]
    return joined


def linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x @ weight.T, as F.linear; for a few rows through a large weight on a CPU, on every core.

    Cut into one slice of outputs per core, the product becomes a batch that torch.bmm runs one slice per core:
    each output is still the dot product of its row with x. Smaller weights stay with F.linear: waking the other
    cores would cost more than it saves. Example with 2 cores: a (32000, 512) output head becomes two
    (16000, 512) products run side by side.
    """
    parts = torch.get_num_threads() if not torch.compiler.is_compiling() else 1  # compiled: Inductor's kernels
    out_features, in_features = weight.shape
    rows = x.numel() // in_features
    if parts == 1 or rows > 16 or out_features % parts or weight.numel() < SPREAD_FROM or x.device.type != "cpu":
        return F.linear(x, weight)
    if weight.stride(0) == 1:  # stored by columns: each slice's columns are runs of out_features / parts
        slices = weight.t().view(in_features, parts, -1).transpose(0, 1)  # (parts, in, out / parts)
    else:
        slices = weight.view(parts, -1, in_features).transpose(1, 2)  # (parts, in, out / parts)
    y = torch.bmm(x.reshape(1, rows, in_features).expand(parts, -1, -1), slices)  # (parts, rows, out / parts)
    return y.transpose(0, 1).reshape(*x.shape[:-1], out_features)


class SpreadLinear(nn.Module):
    """A bias-free linear layer run by `linear` (on every core): on a model's own weight, shared, or on a copy
    laid out for decoding."""

    def __init__(self, weight: nn.Parameter):
        super().__init__()
        self.weight = weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight)


class OneAfterAnother(nn.Module):
    """Layers with the same inputs run one after another, their outputs side by side: what one joined weight
    computes, for NF4 layers, which are not joined (double-quantized absmaxes are stored in blocks that span rows)."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([layer(x) for layer in self.layers], dim=-1)


def laid_out(*layers: nn.Module, copy: bool = True) -> nn.Module:
    """`layers` (bias-free, the same inputs) as decoding runs them: one module computing their outputs one after
    another. Float layers: one weight stored by columns (copy=True), or the layer's own weight run by `linear`
    (copy=False, a single layer). Quantized ones: one QuantizedLinear of their rows and scales joined, which the
    layers then share (QuantizedLinear.join with share=True: each keeps a view of its rows, and its own copy is
    freed), on the kit's kernels where they run (`kernels.with_kernel`). NF4 ones: each on the kernels, one after
    another."""
    if all(isinstance(layer, QuantizedLinear) for layer in layers):
        return with_kernel(QuantizedLinear.join(list(layers), share=True) if len(layers) > 1 else layers[0])
    if all(isinstance(layer, NF4Linear) for layer in layers):
        return with_kernel(layers[0]) if len(layers) == 1 else OneAfterAnother([with_kernel(l) for l in layers])
    if any(isinstance(layer, (QuantizedLinear, NF4Linear)) for layer in layers):
        raise ValueError("cannot join quantized and floating-point layers: quantize the whole model")
    if copy:
        return SpreadLinear(nn.Parameter(by_columns(*(layer.weight for layer in layers)), requires_grad=False))
    if len(layers) > 1:
        raise ValueError("joining layers makes a new weight: copy=True")
    return SpreadLinear(layers[0].weight)


class DecodingLayout(nn.Module):
    """A model's weights laid out for decoding on a CPU, and the one-token step that reads them.

    It holds wq/wk/wv and w1/w3 of every block joined and stored by columns (`by_columns`), and the output head
    stored by columns: most of the model's weights a second time (the model keeps its own); wo and w2 are read
    where the model keeps them. A quantized model's joins are QuantizedLinears whose buffers the model's layers
    share: making the layout changes where the model's integers live (its layers' qweight, scale and zero become
    views of the joined ones, a block at a time, so that memory holds one copy of the weights plus one block's
    joins at most), not their values, and a second layout over them copies nothing. Its products run on the kit's
    kernels (`laid_out`). The numbers are the model's, so the tokens are the plain model's; the products add
    up in another order, so logits may differ in the last bits. `CompiledDecoder` freezes these weights into its
    CPU step too: Inductor's packed kernels also read the joined, column-stored matrices faster than the model's
    rows.
    """

    def __init__(self, model):
        super().__init__()
        with torch.no_grad():
            self.wqkv = nn.ModuleList(laid_out(layer.attention.wq, layer.attention.wk, layer.attention.wv)
                                      for layer in model.layers)
            self.wo = nn.ModuleList(laid_out(layer.attention.wo, copy=False) for layer in model.layers)
            self.w13 = nn.ModuleList(laid_out(layer.feed_forward.w1, layer.feed_forward.w3) for layer in model.layers)
            self.w2 = nn.ModuleList(laid_out(layer.feed_forward.w2, copy=False) for layer in model.layers)
            self.output = laid_out(model.output)

    def forward(self, model, tokens: torch.Tensor, start_pos, cache) -> torch.Tensor:
        """Llama.forward for one token per row, with the joined weights; tokens (B, 1) -> logits (B, V).

        start_pos: an int, or a 1-element tensor for the compiled step (a StaticKVCache, attended to whole).
        """
        B = tokens.shape[0]
        x = model.tok_embeddings(tokens)  # (B, 1, D)
        if isinstance(start_pos, torch.Tensor):  # the compiled step: every slot of the cache, unwritten ones masked
            cos, sin = model.rope_cos[start_pos], model.rope_sin[start_pos]  # (1, hd/2)
            mask = cache.attention_mask(start_pos, 1)  # (1, S)
        else:  # one new token sees every key written so far: no mask
            cos, sin = model.rope_cos[start_pos:start_pos + 1], model.rope_sin[start_pos:start_pos + 1]
            mask = None
        for layer, wqkv, wo, w13, w2 in zip(model.layers, self.wqkv, self.wo, self.w13, self.w2):
            attention = layer.attention
            H, Hkv, hd = attention.n_heads, attention.n_kv_heads, attention.head_dim
            qkv = wqkv(layer.attention_norm(x)).view(B, 1, H + 2 * Hkv, hd)  # query, key, value heads
            q, k = apply_rotary_emb(qkv[:, :, :H + Hkv], cos, sin).split((H, Hkv), dim=2)  # one rotation for both
            v = qkv[:, :, H + Hkv:]  # (B, 1, Hkv, hd)
            keys, values = cache.update(layer.layer_id, start_pos, k.transpose(1, 2), v.transpose(1, 2))
            # GQA by a reshape instead of copies of the cache: the n_rep query heads that share a key/value head
            # become n_rep queries to that one head.
            q = q.reshape(B, Hkv, H // Hkv, hd)  # (B, Hkv, n_rep, hd)
            out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)  # (B, Hkv, n_rep, hd)
            x = x + wo(out.reshape(B, 1, H * hd))  # heads in order: (B, 1, H * hd)
            gate, up = w13(layer.ffn_norm(x)).chunk(2, dim=-1)  # (B, 1, hidden) each
            x = x + w2(F.silu(gate) * up)
        return self.output(model.norm(x))[:, -1].float()  # (B, V)


class LaidOutDecoder(FastDecoder):
    """The one-token step of `model` run eagerly on its weights laid out for decoding (`DecodingLayout`).

    The layout is made on the first generation call and again whenever a weight changed since (weights_state,
    taken once the layout is made: a quantized model's layers then hold views of the layout's joined buffers).
    """

    def __init__(self, model):
        super().__init__(model)
        self._state = None
        self._layout: DecodingLayout | None = None

    def prepare(self, batch_size: int, max_seq_len: int):
        state = weights_state(self.model)
        if state is None or state != self._state:  # None: weights made under inference_mode can't be tracked
            self._layout = DecodingLayout(self.model)
            self._state = weights_state(self.model)
        return self.model.new_cache(batch_size, max_seq_len)

    def step(self, tokens: torch.Tensor, start_pos: int, cache) -> torch.Tensor:
        return self._layout(self.model, tokens, start_pos, cache)
