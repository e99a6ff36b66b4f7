"""The Llama 2 model, readable top to bottom.

References:
1) "Llama 2: Open Foundation and Fine-Tuned Chat Models", Touvron et al. 2023 (the model card's numbers).
2) Meta's reference implementation (llama/model.py): the parameter names below are exactly its names, so the
   keys of a real checkpoint (`layers.0.attention.wq.weight`, ...) map one to one onto this code.
3) RoFormer (Su et al. 2021) for rotary embeddings, GQA (Ainslie et al. 2023) for grouped-query attention,
   GLU Variants Improve Transformer (Shazeer 2020) for SwiGLU, RMSNorm (Zhang & Sennrich 2019).

Shapes in comments use: B batch, T new tokens, S keys attended to (cache + new), D model dim,
H query heads, Hkv key/value heads, hd head dim, V vocabulary.
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelArgs:
    """Hyper-parameters, named as in Meta's `params.json`."""

    dim: int = 4096
    n_layers: int = 32
    n_heads: int = 32
    n_kv_heads: int | None = None  # None means n_heads (plain multi-head attention)
    vocab_size: int = 32000
    multiple_of: int = 256  # the SwiGLU hidden size is rounded up to a multiple of this
    ffn_dim_multiplier: float | None = None
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_seq_len: int = 4096

    def __post_init__(self):
        sizes = {"dim": self.dim, "n_layers": self.n_layers, "n_heads": self.n_heads, "n_kv_heads": self.kv_heads,
                 "multiple_of": self.multiple_of, "max_seq_len": self.max_seq_len}
        not_sizes = [f"{name}={value!r}" for name, value in sizes.items()
                     if not isinstance(value, int) or isinstance(value, bool) or value <= 0]
        if not_sizes:  # checked first: the checks below divide by them
            raise ValueError(f"invalid ModelArgs: {', '.join(not_sizes)}: each must be a positive whole number")
        problems = []
        if self.dim % self.n_heads:
            problems.append(f"dim={self.dim} is not divisible by n_heads={self.n_heads}")
        elif (self.dim // self.n_heads) % 2:
            problems.append(f"head dim {self.dim // self.n_heads} must be even for rotary embeddings")
        if self.n_heads % self.kv_heads:
            problems.append(f"n_heads={self.n_heads} is not a multiple of n_kv_heads={self.kv_heads}")
        if self.vocab_size <= 0:
            problems.append(f"vocab_size={self.vocab_size} must be positive (Meta's params.json says -1: "
                            "pass the tokenizer's n_words)")
        if problems:
            raise ValueError("invalid ModelArgs: " + "; ".join(problems))

    @property
    def kv_heads(self) -> int:
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def hidden_dim(self) -> int:
        """SwiGLU hidden size, Meta's rule: 2/3 of 4*dim, scaled, rounded up to `multiple_of`."""
        hidden = int(2 * (4 * self.dim) / 3)
        if self.ffn_dim_multiplier is not None:
            hidden = int(self.ffn_dim_multiplier * hidden)
        return self.multiple_of * ((hidden + self.multiple_of - 1) // self.multiple_of)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, params: dict, **overrides) -> "ModelArgs":
        """Build from a `params.json` dict; keys this class does not know (e.g. `use_scaled_rope`) are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in {**params, **overrides}.items() if k in known}
        return cls(**values)

    def with_(self, **changes) -> "ModelArgs":
        return replace(self, **changes)


# The model card's three sizes, with the params.json Meta ships (vocab_size there is -1: the tokenizer's 32000).
LLAMA2_7B = ModelArgs(dim=4096, n_layers=32, n_heads=32, multiple_of=256)
LLAMA2_13B = ModelArgs(dim=5120, n_layers=40, n_heads=40, multiple_of=256)
LLAMA2_70B = ModelArgs(dim=8192, n_layers=80, n_heads=64, n_kv_heads=8, multiple_of=4096, ffn_dim_multiplier=1.3)


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight, computed in float32 whatever the input dtype."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()  # (B, T, D); the mean of squares of a bfloat16 vector loses too much
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight  # Meta's order: round to x's dtype, then scale


def rope_tables(head_dim: int, max_seq_len: int, theta: float = 10000.0, device=None):
    """cos and sin of the rotation angle m * theta^(-2i/hd), each (max_seq_len, hd/2), in float32."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    positions = torch.arange(max_seq_len, device=device, dtype=torch.float32)
    angles = torch.outer(positions, inv_freq)  # (max_seq_len, hd/2)
    return angles.cos(), angles.sin()


def apply_rotary_emb(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each interleaved pair (x[2i], x[2i+1]) of every head by its position's angle.

    This is Meta's layout (it views the pairs as complex numbers); Hugging Face permutes wq/wk so that it can
    rotate halves instead, and `checkpoint.py` undoes that permutation on load.
    x: (B, T, nh, hd); cos, sin: (T, hd/2).
    """
    if torch.compiler.is_compiling():  # real arithmetic, which the compiler fuses into neighbouring kernels
        x_even, x_odd = x.float().unflatten(-1, (-1, 2)).unbind(-1)  # (B, T, nh, hd/2) each
        cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)  # (T, 1, hd/2): broadcast over heads
        rotated = torch.stack((x_even * cos - x_odd * sin, x_even * sin + x_odd * cos), dim=-1)
        return rotated.flatten(-2).type_as(x)  # (B, T, nh, hd)
    # eagerly, one complex product: (a + ib)(cos + i sin) = (a cos - b sin) + i(a sin + b cos)
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))  # (B, T, nh, hd/2)
    rotation = torch.complex(cos.float(), sin.float()).unsqueeze(-2)  # (T, 1, hd/2)
    return torch.view_as_real(pairs * rotation).flatten(-2).type_as(x)


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Share each key/value head among n_rep query heads: (B, Hkv, S, hd) -> (B, Hkv * n_rep, S, hd)."""
    if n_rep == 1:
        return x
    return x.repeat_interleave(n_rep, dim=1)


def by_columns(w: torch.Tensor) -> torch.Tensor:
    """The matrix w (rows, cols) stored column by column: same shape and values, strides (1, rows).

    The rearranged numbers are written back into w's own memory (through a temporary copy), so that the model
    still holds one copy of them. So w itself must be held by nothing else, which would read the rearranged
    numbers in the old order.
    """
    if w.stride() == (1, w.shape[0]):
        return w
    transposed = w.t().contiguous()  # (cols, rows)
    if not w.is_contiguous():
        return transposed.t()
    return w.view(transposed.shape).copy_(transposed).t()


def join_weights(*linears: nn.Linear) -> torch.Tensor:
    """The weights of `linears` stacked into one matrix stored by columns; each Linear's weight becomes a view of it.

    Example: wq (64, 64), wk (16, 64), wv (16, 64) -> one (96, 64) matrix whose rows 0-63 are wq.weight, 64-79
    wk.weight and 80-95 wv.weight. The numbers are held once and the state dict still shows wq, wk and wv; one
    matrix-vector product then computes what three did, reading each column as one long run (see
    Llama.store_weights_for_decoding for why that matters).
    """
    first = linears[0].weight
    rows = sum(linear.out_features for linear in linears)
    joined = torch.empty(first.shape[1], rows, dtype=first.dtype, device=first.device).t()  # (rows, in), by columns
    start = 0
    for linear in linears:
        end = start + linear.out_features
        with torch.no_grad():
            joined[start:end] = linear.weight
        linear.weight = nn.Parameter(joined[start:end], requires_grad=linear.weight.requires_grad)
        start = end
    return joined


SPREAD_FROM = 2**18  # numbers in a weight (1 MiB in float32) from which `linear` spreads a product over the cores


def linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x @ weight.T, as F.linear; when decoding a few rows through a large weight on a CPU, on every core.

    Decoding multiplies a few vectors by each weight, so its speed is the speed at which the weights stream from
    memory. MKL runs such a product on one core: on a 2-core EPYC it streams about 22 GB/s, while the two cores
    together read about 45 GB/s. Cut into one slice of outputs per core, the product becomes a batch that
    torch.bmm runs one slice per core: each output is still the dot product of its row with x, and weights of a
    megabyte or more are read 1.2-1.5 times sooner (decoding a 50M-parameter model, 1.3 times). Smaller weights
    stay with F.linear: waking the other cores would cost more than it saves. Example with 2 cores: a (32000, 512)
    output head becomes two (16000, 512) products run side by side.
    """
    parts = torch.get_num_threads() if not torch.compiler.is_compiling() else 1
    out_features, in_features = weight.shape
    rows = x.numel() // in_features
    if (parts == 1 or rows > 16 or out_features % parts or weight.numel() < SPREAD_FROM or x.device.type != "cpu"
            or torch.is_grad_enabled()):
        return F.linear(x, weight)
    if weight.stride(0) == 1:  # stored by columns: each slice's columns are runs of out_features / parts
        slices = weight.t().view(in_features, parts, -1).transpose(0, 1)  # (parts, in, out / parts)
    else:
        slices = weight.view(parts, -1, in_features).transpose(1, 2)  # (parts, in, out / parts)
    y = torch.bmm(x.reshape(1, rows, in_features).expand(parts, -1, -1), slices)  # (parts, rows, out / parts)
    return y.transpose(0, 1).reshape(*x.shape[:-1], out_features)


class Linear(nn.Linear):
    """nn.Linear without a bias whose product is `linear`: the same module, on every core when decoding."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(in_features, out_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight)


class KVCache:
    """Keys and values of every layer, preallocated for `max_seq_len` positions.

    Decoding one token at a time then costs one new key/value per layer instead of recomputing the prefix.
    k, v: (n_layers, B, Hkv, max_seq_len, hd). Positions are written in place by `update`.
    """

    def __init__(self, args: ModelArgs, batch_size: int, max_seq_len: int, device=None, dtype=torch.float32):
        shape = (args.n_layers, batch_size, args.kv_heads, max_seq_len, args.head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        # each layer's part, (B, Hkv, max_seq_len, hd), taken once here rather than by indexing at every step
        self.k_layers = [self.k[layer] for layer in range(args.n_layers)]
        self.v_layers = [self.v[layer] for layer in range(args.n_layers)]

    @property
    def max_seq_len(self) -> int:
        return self.k.shape[3]

    def update(self, layer: int, start_pos: int | torch.Tensor, k: torch.Tensor, v: torch.Tensor):
        """Store k, v (B, Hkv, T, hd) at positions start_pos.. and return the keys/values to attend to.

        With an int start_pos: those so far, (B, Hkv, S, hd) with S = start_pos + T (views, no copy).
        With a tensor start_pos (the compiled decode step): the whole cache, (B, Hkv, max_seq_len, hd), so that
        every step has the same shapes; the attention mask hides the positions not written yet.
        """
        if isinstance(start_pos, torch.Tensor):
            positions = start_pos + torch.arange(k.shape[2], device=k.device)  # (T,)
            # index_copy_ into the layer's own view: compiled, that writes T slots in place. Assigning through
            # self.k[layer, :, :, positions] made Inductor copy the whole cache at every step (1.7x slower decoding
            # of the 50M model at batch 8).
            k_cache, v_cache = self.k_layers[layer], self.v_layers[layer]
            k_cache.index_copy_(2, positions, k)
            v_cache.index_copy_(2, positions, v)
            return k_cache, v_cache
        end = start_pos + k.shape[2]
        k_cache, v_cache = self.k_layers[layer], self.v_layers[layer]
        k_cache[:, :, start_pos:end] = k
        v_cache[:, :, start_pos:end] = v
        return k_cache[:, :, :end], v_cache[:, :, :end]


class Attention(nn.Module):
    """Causal self-attention with rotary embeddings and grouped-query heads (Hkv <= H)."""

    def __init__(self, args: ModelArgs, layer_id: int):
        super().__init__()
        self.layer_id = layer_id
        self.n_heads, self.n_kv_heads, self.head_dim = args.n_heads, args.kv_heads, args.head_dim
        self.n_rep = self.n_heads // self.n_kv_heads  # query heads per key/value head
        self.wq = Linear(args.dim, self.n_heads * self.head_dim)
        self.wk = Linear(args.dim, self.n_kv_heads * self.head_dim)
        self.wv = Linear(args.dim, self.n_kv_heads * self.head_dim)
        self.wo = Linear(self.n_heads * self.head_dim, args.dim)
        # wq, wk and wv joined into one matrix (join_weights), set by Llama.store_weights_for_decoding
        self.register_buffer("wqkv", None, persistent=False)

    def forward(self, x, cos, sin, mask=None, start_pos=0, cache: KVCache | None = None, need_weights=False):
        """x (B, T, D); cos, sin (T, hd/2); mask (T, S) bool, True where a query may see a key, or None: all."""
        B, T, _ = x.shape
        H, Hkv, hd = self.n_heads, self.n_kv_heads, self.head_dim
        if self.wqkv is not None and not torch.is_grad_enabled():  # decoding: one product with the joined matrix
            qkv = linear(x, self.wqkv)  # (B, T, (H + 2 Hkv) * hd)
        else:  # the Linears themselves, so that gradients reach wq, wk and wv
            qkv = torch.cat((self.wq(x), self.wk(x), self.wv(x)), dim=-1)  # (B, T, (H + 2 Hkv) * hd)
        qkv = qkv.view(B, T, H + 2 * Hkv, hd)  # query heads, then key heads, then value heads
        q, k = apply_rotary_emb(qkv[:, :, :H + Hkv], cos, sin).split((H, Hkv), dim=2)  # one rotation for both
        v = qkv[:, :, H + Hkv:]  # (B, T, Hkv, hd)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # heads first: (B, nh, T, hd)
        if cache is not None:
            k, v = cache.update(self.layer_id, start_pos, k, v)  # (B, Hkv, S, hd)

        if need_weights:  # the explicit path: every step written out, and the probabilities handed back
            k, v = repeat_kv(k, self.n_rep), repeat_kv(v, self.n_rep)  # (B, H, S, hd)
            scores = (q.float() @ k.float().transpose(-2, -1)) / math.sqrt(self.head_dim)  # (B, H, T, S)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            probs = F.softmax(scores, dim=-1)  # each row sums to 1 over the keys it may see
            out = (probs @ v.float()).type_as(q)  # (B, H, T, hd)
        elif T == 1:  # one new token: the fused kernel, and GQA by a reshape instead of copies of the cache
            # The n_rep query heads that share a key/value head become n_rep queries to that one head.
            q = q.reshape(B, Hkv, self.n_rep, hd)  # (B, Hkv, n_rep, hd)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, Hkv, n_rep, hd)
            return self.wo(out.reshape(B, 1, H * hd)), None  # heads in order: (B, 1, H * hd)
        else:  # the fused path: same numbers, one kernel (flash attention), key/value heads shared in place
            probs = None
            # When the keys are just the new tokens (a prompt, a training batch) the mask is the plain causal
            # triangle, and is_causal lets the kernel skip the blocks above the diagonal.
            square = k.shape[2] == T
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=None if square else mask, is_causal=square,
                                                 enable_gqa=True)  # (B, H, T, hd)
        out = out.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim)  # (B, T, H * hd)
        return self.wo(out), probs


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.w1 = Linear(dim, hidden_dim)  # gate
        self.w2 = Linear(hidden_dim, dim)  # down
        self.w3 = Linear(dim, hidden_dim)  # up
        # w1 and w3 joined into one matrix (join_weights), set by Llama.store_weights_for_decoding
        self.register_buffer("w13", None, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.w13 is not None and not torch.is_grad_enabled():  # decoding: one product with the joined matrix
            gate, up = linear(x, self.w13).chunk(2, dim=-1)  # (B, T, hidden) each
        else:  # the Linears themselves, so that gradients reach w1 and w3
            gate, up = self.w1(x), self.w3(x)
        return self.w2(F.silu(gate) * up)


class TransformerBlock(nn.Module):
    """Pre-norm residual block: h = x + attn(norm(x)); out = h + ffn(norm(h))."""

    def __init__(self, args: ModelArgs, layer_id: int):
        super().__init__()
        self.layer_id = layer_id
        self.attention = Attention(args, layer_id)
        self.feed_forward = FeedForward(args.dim, args.hidden_dim)
        self.attention_norm = RMSNorm(args.dim, eps=args.norm_eps)
        self.ffn_norm = RMSNorm(args.dim, eps=args.norm_eps)

    def store_weights_for_decoding(self) -> "TransformerBlock":
        """Join wq, wk, wv into one matrix and w1, w3 into another (join_weights); see Llama's method of this name."""
        attention, feed_forward = self.attention, self.feed_forward
        attention.wqkv = join_weights(attention.wq, attention.wk, attention.wv)
        feed_forward.w13 = join_weights(feed_forward.w1, feed_forward.w3)
        return self

    def forward(self, x, cos, sin, mask=None, start_pos=0, cache=None, need_weights=False):
        attn_out, probs = self.attention(self.attention_norm(x), cos, sin, mask, start_pos, cache, need_weights)
        h = x + attn_out
        out = h + self.feed_forward(self.ffn_norm(h))
        return out, probs


class Llama(nn.Module):
    """Token ids (B, T) -> logits (B, T, V).

    `model(tokens)` runs the whole sequence with no cache. For incremental decoding pass a `KVCache` from
    `model.new_cache(...)` and the position of the first token: `model(tokens, start_pos=p, cache=cache)`.
    `return_attention=True` takes the explicit attention path and also returns each layer's probabilities.
    """

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.tok_embeddings = nn.Embedding(args.vocab_size, args.dim)
        self.layers = nn.ModuleList(TransformerBlock(args, i) for i in range(args.n_layers))
        self.norm = RMSNorm(args.dim, eps=args.norm_eps)
        self.output = Linear(args.dim, args.vocab_size)
        self.decoding_layout = False  # see store_weights_for_decoding
        self.init_rope()

    def store_weights_for_decoding(self) -> "Llama":
        """Lay the weights out in memory for decoding: join wq, wk, wv into one matrix and w1, w3 into another
        (`join_weights`), and store those and the output head column by column.

        Same shapes, same values, same state dict: only where the numbers sit in memory changes. A decoding step
        multiplies one vector per row by every weight, so its speed is the speed at which the weights stream from
        memory, and on a CPU MKL streams a matrix-vector product fastest along long contiguous runs. Stored by
        columns, a matrix's runs are as long as its outputs: 1536 for a joined wq/wk/wv of a 512-wide model instead
        of 512 for each, 32000 for the output head instead of the 512 of its rows. On a 2-core EPYC that reads a
        512-wide model's weights 1.15 times faster overall, and the joined products also halve the calls per
        block. Training keeps separate row-major weights (the joined matrices are used only where no gradient is
        recorded, so training a loaded model still works), so `load_model` does this and `Llama(args)` does not;
        `python -m llama_lab.bench` measures the effect.
        """
        for layer in self.layers:
            layer.store_weights_for_decoding()
        weight = self.output.weight
        self.output.weight = nn.Parameter(by_columns(weight.detach()), requires_grad=weight.requires_grad)
        self.decoding_layout = True
        return self

    def _apply(self, fn, recurse=True):
        # .to(), .half(), .cuda() convert each weight on its own, which would part wq, wk, wv (w1, w3) from the
        # matrix they are views of: drop the joined matrices before and join the converted weights again after
        if not self.decoding_layout:
            return super()._apply(fn, recurse)
        for layer in self.layers:
            layer.attention.wqkv = layer.feed_forward.w13 = None
        super()._apply(fn, recurse)
        return self.store_weights_for_decoding()

    def __deepcopy__(self, memo):
        # a Parameter deep-copies its numbers on its own, parting wq, wk, wv (w1, w3) from the copied joined
        # matrix: copy as usual, then join the copied weights again
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        clone.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return clone.store_weights_for_decoding() if clone.decoding_layout else clone

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        if assign and self.decoding_layout:  # new tensors replaced the joined weights' views
            self.store_weights_for_decoding()
        return result

    def init_rope(self, device=None):
        """(Re)compute the rotary tables; needed after a model built on the meta device gets its weights."""
        if device is None:
            device = self.tok_embeddings.weight.device
        if torch.device(device).type == "meta":  # shapes only; the tables are computed when real weights arrive
            cos = sin = torch.empty(self.args.max_seq_len, self.args.head_dim // 2, device=device)
        else:
            cos, sin = rope_tables(self.args.head_dim, self.args.max_seq_len, self.args.rope_theta, device=device)
        self.register_buffer("rope_cos", cos, persistent=False)  # (max_seq_len, hd/2)
        self.register_buffer("rope_sin", sin, persistent=False)

    def new_cache(self, batch_size: int, max_seq_len: int | None = None, dtype=None) -> KVCache:
        weight = self.tok_embeddings.weight
        max_seq_len = self.args.max_seq_len if max_seq_len is None else max_seq_len
        return KVCache(self.args, batch_size, max_seq_len, device=weight.device, dtype=dtype or weight.dtype)

    def forward(self, tokens: torch.Tensor, start_pos: int | torch.Tensor = 0, cache: KVCache | None = None,
                return_attention: bool = False, last_only: bool = False, head: bool = True):
        """last_only: the logits of the last position alone, (B, 1, V): all that choosing the next token needs.
        head=False: what the output head would read (the final RMSNorm's output, (B, T, D)) instead of the logits,
        for a loss that applies the head itself (train.LinearCrossEntropy)."""
        B, T = tokens.shape
        device = tokens.device
        if isinstance(start_pos, torch.Tensor):
            # The compiled decode step (generate.py) passes the position as a tensor, so that no step differs
            # from the next in shape: it attends to every slot of the cache, and the mask hides those not written.
            positions = start_pos + torch.arange(T, device=device)  # (T,)
            cos, sin = self.rope_cos[positions], self.rope_sin[positions]  # (T, hd/2)
            mask = torch.arange(cache.max_seq_len, device=device) <= positions[:, None]  # (T, S)
        else:
            end = start_pos + T
            limit = cache.max_seq_len if cache is not None else self.args.max_seq_len
            if end > limit:
                raise ValueError(f"positions {start_pos}..{end - 1} do not fit: the "
                                 f"{'cache' if cache else 'model'} holds {limit} positions. "
                                 "Shorten the input or raise max_seq_len.")
            cos, sin = self.rope_cos[start_pos:end], self.rope_sin[start_pos:end]  # (T, hd/2)
            mask = None  # one new token sees every key there is
            if T > 1:  # causal attention, indexed by position: the query at position i sees keys at positions <= i
                keys = torch.arange(0 if cache is not None else start_pos, end, device=device)  # (S,)
                mask = keys <= torch.arange(start_pos, end, device=device)[:, None]  # (T, S)
        h = self.tok_embeddings(tokens)  # (B, T, D)
        attentions = []
        for layer in self.layers:
            h, probs = layer(h, cos, sin, mask, start_pos, cache, need_weights=return_attention)
            attentions.append(probs)
        if last_only:
            h = h[:, -1:]  # (B, 1, D)
        h = self.norm(h)  # (B, T, D)
        out = self.output(h).float() if head else h  # logits (B, T, V), or the hidden states (B, T, D)
        return (out, attentions) if return_attention else out

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def device(self) -> torch.device:
        """Where the weights are (read off the token embedding's): inputs go here."""
        return self.tok_embeddings.weight.device

    @property
    def dtype(self) -> torch.dtype:
        """The weights' dtype (read off the token embedding's), e.g. torch.bfloat16 for a loaded 7B."""
        return self.tok_embeddings.weight.dtype


def build_model(args: ModelArgs, device=None, dtype=None) -> Llama:
    """Build a Llama; on device="meta" nothing is allocated, so even 70B's parameters can be counted."""
    with torch.device(device or "cpu"):
        model = Llama(args)
    if dtype is not None:
        model = model.to(dtype)
    return model


def init_weights(model: Llama, std: float = 0.02, seed: int | None = None) -> Llama:
    """Random normal weights (std 0.02, as GPT-2 and most Llama reproductions), norms at 1. For training."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=generator) * std)
    return model


@contextlib.contextmanager
def capture_residual_stream(model: Llama) -> Iterator[dict[int, torch.Tensor]]:
    """Record the residual stream after every block, without touching the model's code.

    Inside the `with`, each forward pass fills the dict: key -1 is the embeddings (the stream entering block 0),
    key i the stream leaving block i, each (B, T, D), detached. Forward hooks are removed on exit.

    Example:
        with capture_residual_stream(model) as resid:
            model(tokens)
        resid[3].shape  # (B, T, D)
    """
    captured: dict[int, torch.Tensor] = {}
    handles = [model.tok_embeddings.register_forward_hook(lambda m, i, out: captured.__setitem__(-1, out.detach()))]
    for layer in model.layers:
        def hook(module, inputs, output, i=layer.layer_id):
            captured[i] = output[0].detach()
        handles.append(layer.register_forward_hook(hook))
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def edit_residual_stream(model: Llama, edit, layers=None):
    """Change the residual stream as it leaves the given blocks: `edit(layer_index, h) -> new h` (B, T, D).

    The tool behind activation steering: add a direction, or project one out, while the model runs.
    """
    layers = range(len(model.layers)) if layers is None else layers
    handles = []
    for i in layers:
        def hook(module, inputs, output, i=i):
            return (edit(i, output[0]), output[1])
        handles.append(model.layers[i].register_forward_hook(hook))
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()
