"""The Llama 2 model, readable top to bottom.

References:
1) "Llama 2: Open Foundation and Fine-Tuned Chat Models", Touvron et al. 2023 (the model card's numbers).
2) Meta's reference implementation (llama/model.py): the parameter names below are exactly its names, so the
   keys of a real checkpoint (`layers.0.attention.wq.weight`, ...) map one to one onto this code.
3) RoFormer (Su et al. 2021) for rotary embeddings, GQA (Ainslie et al. 2023) for grouped-query attention,
   GLU Variants Improve Transformer (Shazeer 2020) for SwiGLU, RMSNorm (Zhang & Sennrich 2019).

Shapes in comments use: B batch, T new tokens, S keys attended to (cache + new), D model dim,
H query heads, Hkv key/value heads, hd head dim, V vocabulary.

Speed lives elsewhere (`llama_lab.fast`), and so does reading the model while it runs (`llama_lab.hooks`): a
forward hook on any module here fires on every pass.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, fields, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .seeds import seeded_generator


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
        not_sizes = [f"{name}={value!r}" for name, value in sizes.items() if not _is_whole(value) or value <= 0]
        if not_sizes:  # checked first: the checks below divide by them
            raise ValueError(f"invalid ModelArgs: {', '.join(not_sizes)}: each must be a positive whole number")
        if not _is_whole(self.vocab_size):
            raise ValueError(f"invalid ModelArgs: vocab_size={self.vocab_size!r} must be a whole number (the "
                             "tokenizer's n_words)")
        # norm_eps is added to a mean of squares before its square root; rope_theta is raised to a power; the
        # multiplier scales the feed-forward's width: each must be a positive number, and a finite one
        positive = {"norm_eps": self.norm_eps, "rope_theta": self.rope_theta,
                    "ffn_dim_multiplier": 1.0 if self.ffn_dim_multiplier is None else self.ffn_dim_multiplier}
        not_numbers = [f"{name}={getattr(self, name)!r}" for name, value in positive.items()
                       if not (isinstance(value, numbers.Real) and not isinstance(value, bool)
                               and math.isfinite(value) and value > 0)]
        if not_numbers:
            raise ValueError(f"invalid ModelArgs: {', '.join(not_numbers)}: give a positive finite number (a JSON "
                             "number, not a string): Llama 2's norm_eps is 1e-5, its rope_theta 10000.0; "
                             "ffn_dim_multiplier may also be None")
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


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int to Python, not a size here


# The model card's three sizes, with the params.json Meta ships (vocab_size there is -1: the tokenizer's 32000).
LLAMA2_7B = ModelArgs(dim=4096, n_layers=32, n_heads=32, multiple_of=256)
LLAMA2_13B = ModelArgs(dim=5120, n_layers=40, n_heads=40, multiple_of=256)
LLAMA2_70B = ModelArgs(dim=8192, n_layers=80, n_heads=64, n_kv_heads=8, multiple_of=4096, ffn_dim_multiplier=1.3)
# The kit's own tiny Llama 2 (llama_lab/world/tiny.py: data/tiny-base, data/tiny-chat), 3,897,792 parameters, with
# the 4,096-piece tokenizer `make data` trains on the tiny world.
TINY = ModelArgs(dim=192, n_layers=6, n_heads=8, n_kv_heads=2, vocab_size=4096, multiple_of=32, max_seq_len=256)
# Two more sizes the benchmark and the memory planner measure: about 50M parameters with Llama 2's 32000-token
# vocabulary (the output head alone is 16M of them), and a toy small enough for a test to run a whole suite in seconds.
SMALL_50M = ModelArgs(dim=512, n_layers=6, n_heads=8, vocab_size=32000, max_seq_len=1024)
TOY = ModelArgs(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=512, multiple_of=32, max_seq_len=128)


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
    """Rotate each interleaved pair (x[2i], x[2i+1]) of every head by its position's angle (RoFormer, eq. 34).

    This is Meta's layout (its code views the pairs as complex numbers and multiplies); Hugging Face permutes wq/wk
    so that it can rotate halves instead, and `checkpoint/hf.py` undoes that permutation on load.
    x: (B, T, nh, hd); cos, sin: (T, hd/2).
    """
    x_even, x_odd = x.float().unflatten(-1, (-1, 2)).unbind(-1)  # (B, T, nh, hd/2) each
    cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)  # (T, 1, hd/2): the same angle for every head
    rotated = torch.stack((x_even * cos - x_odd * sin, x_even * sin + x_odd * cos), dim=-1)  # (B, T, nh, hd/2, 2)
    return rotated.flatten(-2).type_as(x)  # (B, T, nh, hd)


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Share each key/value head among n_rep query heads: (B, Hkv, S, hd) -> (B, Hkv * n_rep, S, hd)."""
    if n_rep == 1:
        return x
    return x.repeat_interleave(n_rep, dim=1)


class KVCache:
    """Keys and values of every layer, preallocated for `max_seq_len` positions.

    Decoding one token at a time then costs one new key/value per layer instead of recomputing the prefix.
    k, v: (n_layers, B, Hkv, max_seq_len, hd). Positions are written in place by `update`.
    """

    def __init__(self, args: ModelArgs, batch_size: int, max_seq_len: int, device=None, dtype=torch.float32,
                 kv_heads: int | None = None):
        # kv_heads: the key/value heads this process holds (a share of them when the model is cut across processes)
        shape = (args.n_layers, batch_size, kv_heads or args.kv_heads, max_seq_len, args.head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)

    @property
    def max_seq_len(self) -> int:
        return self.k.shape[3]

    def attention_mask(self, start_pos: int, T: int) -> torch.Tensor:
        """Which keys each of T new queries at start_pos.. may see: (T, S) bool with S = start_pos + T, True where
        the key's position is at or before the query's (causal attention, indexed by position)."""
        end = start_pos + T
        if end > self.max_seq_len:
            raise ValueError(f"positions {start_pos}..{end - 1} do not fit: the cache holds {self.max_seq_len} "
                             "positions. Shorten the input or make a longer cache (model.new_cache).")
        keys = torch.arange(end, device=self.k.device)  # (S,)
        return keys <= torch.arange(start_pos, end, device=self.k.device)[:, None]  # (T, S)

    def update(self, layer: int, start_pos: int, k: torch.Tensor, v: torch.Tensor):
        """Store k, v (B, Hkv, T, hd) at positions start_pos.. and return every key/value so far,
        (B, Hkv, S, hd) with S = start_pos + T (views, no copy)."""
        end = start_pos + k.shape[2]
        self.k[layer, :, :, start_pos:end] = k
        self.v[layer, :, :, start_pos:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]


class Attention(nn.Module):
    """Causal self-attention with rotary embeddings and grouped-query heads (Hkv <= H)."""

    def __init__(self, args: ModelArgs, layer_id: int):
        super().__init__()
        self.layer_id = layer_id
        self.n_heads, self.n_kv_heads, self.head_dim = args.n_heads, args.kv_heads, args.head_dim
        self.n_rep = self.n_heads // self.n_kv_heads  # query heads per key/value head
        self.wq = nn.Linear(args.dim, self.n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(args.dim, self.n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(args.dim, self.n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(self.n_heads * self.head_dim, args.dim, bias=False)

    def forward(self, x, cos, sin, mask=None, start_pos=0, cache: KVCache | None = None, need_weights=False):
        """x (B, T, D); cos, sin (T, hd/2); mask (T, S) bool, True where a query may see a key, or None when the
        keys are the queries themselves (the causal triangle). Returns the output (B, T, D) and, with
        need_weights, the attention probabilities (B, H, T, S) (else None)."""
        B, T, _ = x.shape
        q = self.wq(x).view(B, T, self.n_heads, self.head_dim)  # (B, T, H, hd)
        k = self.wk(x).view(B, T, self.n_kv_heads, self.head_dim)  # (B, T, Hkv, hd)
        v = self.wv(x).view(B, T, self.n_kv_heads, self.head_dim)
        q, k = apply_rotary_emb(q, cos, sin), apply_rotary_emb(k, cos, sin)  # positions enter here, and only here
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # heads first: (B, nh, T, hd)
        if cache is not None:
            k, v = cache.update(self.layer_id, start_pos, k, v)  # (B, Hkv, S, hd)
        causal = mask is None or k.shape[2] == T  # the keys are the queries: mask is the causal triangle

        if need_weights:  # the explicit path: every step written out, and the probabilities handed back
            k, v = repeat_kv(k, self.n_rep), repeat_kv(v, self.n_rep)  # (B, H, S, hd)
            scores = (q.float() @ k.float().transpose(-2, -1)) / math.sqrt(self.head_dim)  # (B, H, T, S)
            if causal:
                mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            scores = scores.masked_fill(~mask, float("-inf"))
            probs = F.softmax(scores, dim=-1)  # each row sums to 1 over the keys it may see
            out = (probs @ v.float()).type_as(q)  # (B, H, T, hd)
        else:  # the same numbers in one fused kernel; each key/value head is shared by n_rep query heads in place
            probs = None
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=None if causal else mask,
                                                 is_causal=causal and T > 1, enable_gqa=True)  # (B, H, T, hd)
        out = out.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim)  # (B, T, H * hd)
        return self.wo(out), probs


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)  # gate
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)  # down
        self.w3 = nn.Linear(dim, hidden_dim, bias=False)  # up

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))  # (B, T, D) -> (B, T, hidden) -> (B, T, D)


class TransformerBlock(nn.Module):
    """Pre-norm residual block: h = x + attn(norm(x)); out = h + ffn(norm(h))."""

    def __init__(self, args: ModelArgs, layer_id: int):
        super().__init__()
        self.layer_id = layer_id
        self.attention = Attention(args, layer_id)
        self.feed_forward = FeedForward(args.dim, args.hidden_dim)
        self.attention_norm = RMSNorm(args.dim, eps=args.norm_eps)
        self.ffn_norm = RMSNorm(args.dim, eps=args.norm_eps)

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
    `model.gradient_checkpointing = True` recomputes each block in the backward pass instead of keeping its
    activations (for training; a forward without gradients, or with a cache, runs as usual).
    """

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.tok_embeddings = nn.Embedding(args.vocab_size, args.dim)
        self.layers = nn.ModuleList(TransformerBlock(args, i) for i in range(args.n_layers))
        self.norm = RMSNorm(args.dim, eps=args.norm_eps)
        self.output = nn.Linear(args.dim, args.vocab_size, bias=False)
        self.local_kv_heads = args.kv_heads  # the key/value heads this process holds (llama_lab.parallel cuts them)
        # Training keeps every block's activations for the backward pass; with this on, it keeps only each block's
        # input and recomputes the block during backward: less memory, about one more forward of compute.
        self.gradient_checkpointing = False
        self.init_rope()

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
        max_seq_len = self.args.max_seq_len if max_seq_len is None else max_seq_len
        return KVCache(self.args, batch_size, max_seq_len, device=self.device, dtype=dtype or self.dtype,
                       kv_heads=self.local_kv_heads)

    def forward(self, tokens: torch.Tensor, start_pos: int = 0, cache: KVCache | None = None,
                return_attention: bool = False, last_only: bool = False, head: bool = True):
        """last_only: the logits of the last position alone, (B, 1, V): all that choosing the next token needs.
        head=False: what the output head would read (the final RMSNorm's output, (B, T, D)) instead of the logits,
        for a loss that applies the head itself (fast.loss.LinearCrossEntropy)."""
        B, T = tokens.shape
        if cache is None:  # the keys are the queries: attention is the causal triangle
            if start_pos + T > self.args.max_seq_len:
                raise ValueError(f"positions {start_pos}..{start_pos + T - 1} do not fit: the model holds "
                                 f"{self.args.max_seq_len} positions. Shorten the input or raise max_seq_len.")
            mask = None
        else:
            mask = cache.attention_mask(start_pos, T)  # (T, S)
        positions = start_pos + torch.arange(T, device=tokens.device)  # (T,)
        cos, sin = self.rope_cos[positions], self.rope_sin[positions]  # (T, hd/2)
        h = self.tok_embeddings(tokens)  # (B, T, D)
        attentions = []
        recompute = self.gradient_checkpointing and torch.is_grad_enabled() and cache is None
        for layer in self.layers:
            if recompute:
                h, probs = checkpoint(layer, h, cos, sin, mask, start_pos, cache, return_attention, use_reentrant=False)
            else:
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
    generator = seeded_generator(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=generator) * std)
    return model
