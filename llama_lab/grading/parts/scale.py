"""Assignment 08: 70B within reach: a model's weight bytes from its shape, int8 row by row, and the feed-forward
block cut across ranks (notebook 07).

    weight_bytes(shape, scheme)       -> bytes of a Llama's weights: every linear layer at `scheme` ("bf16": 2 bytes
                                         a weight; "int8": 1 byte a weight plus a float32 scale per output row),
                                         the token embedding and the norms in bfloat16
    quantize_int8(weight)             -> (q, scale): the levels (out, in) as torch.int8 and one float32 scale per
                                         output row (out,): scale = max|w| / 127.5, q = clamp(round(w / scale),
                                         -128, 127)
    parallel_feed_forward(x, w1, w2,  -> (ranks, ..., D): each rank's partial output of w2(silu(w1 x) * w3 x), with
                          w3, ranks)     w1 and w3 cut by rows (fairscale's ColumnParallelLinear) and w2 by columns
                                         (RowParallelLinear), in contiguous blocks as torch.chunk cuts them; their
                                         sum, the all-reduce, is the whole block

The right answers are the kit's: `quantize.weight_bytes` and `quantize.quantize_int8` (whose scales and levels
tests/engine/test_quantize.py checks against torchao's), and the cut of `llama_lab.parallel` (Meta's shards are
contiguous blocks; tests/grading/test_grading_edges.py checks that the partial outputs add up to the kit's
FeedForward).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn.functional as F

from ... import quantize
from ..engine.checks import Case, Part
from ..engine.harness import StudentError

TITLE = "70B within reach: bytes per weight, int8 by hand, a layer cut across ranks"


# ----------------------------------------------------------------------------------------------- weight_bytes

def _args(shape: dict) -> SimpleNamespace:
    """A shape dict as quantize.weight_bytes reads a ModelArgs: head_dim = dim / n_heads."""
    return SimpleNamespace(dim=shape["dim"], n_layers=shape["n_layers"], vocab_size=shape["vocab_size"],
                           hidden_dim=shape["hidden_dim"], kv_heads=shape["n_kv_heads"],
                           head_dim=shape["dim"] // shape["n_heads"])


def reference_weight_bytes(shape, scheme):
    return quantize.weight_bytes(_args(shape), None if scheme == "bf16" else scheme)


def _counted(shape, scheme, kv_outputs=None, output_head=True, embedding=True, norms=True, scale_bytes=4,
             scale_per="row", embedding_quantized=False, ffn_matrices=3):
    """Weight bytes counted with one thing changed: what each mistake below gets."""
    D, L, V, F_ = shape["dim"], shape["n_layers"], shape["vocab_size"], shape["hidden_dim"]
    kv = shape["n_kv_heads"] * (D // shape["n_heads"]) if kv_outputs is None else kv_outputs(shape)
    linear = [(D, D), (kv, D), (kv, D), (D, D)] + [(F_, D), (D, F_), (F_, D)][:ffn_matrices]
    linear = linear * L + ([(V, D)] if output_head else [])
    if embedding_quantized:
        linear.append((V, D))
    floating = (V * D if embedding and not embedding_quantized else 0) + ((2 * L + 1) * D if norms else 0)
    total = 2 * floating
    for out_features, in_features in linear:
        if scheme == "bf16":
            total += 2 * out_features * in_features
        else:
            total += out_features * in_features + scale_bytes * (out_features if scale_per == "row" else in_features)
    return total


WEIGHT_MISTAKES = {
    "wk and wv are counted as (D, D): with grouped-query attention they have n_kv_heads * head_dim outputs "
    "(70B: 8 heads of 128, not 8192)":
        lambda shape, scheme: _counted(shape, scheme, kv_outputs=lambda s: s["dim"]),
    "the output head is left out: Llama 2's output layer (vocab_size x dim) is a linear layer of its own, not "
    "the embedding's transpose":
        lambda shape, scheme: _counted(shape, scheme, output_head=False),
    "the token embedding is left out: its table is stored whole (in bfloat16), though a step reads one row":
        lambda shape, scheme: _counted(shape, scheme, embedding=False),
    "the norms are left out: two RMSNorm weights per layer and the final one, dim numbers each, in bfloat16":
        lambda shape, scheme: _counted(shape, scheme, norms=False),
    "the int8 scales are left out: each output row stores a float32 scale, 4 bytes":
        lambda shape, scheme: _counted(shape, scheme, scale_bytes=0),
    "the int8 scales are counted in 2 bytes: they are float32, 4 bytes each":
        lambda shape, scheme: _counted(shape, scheme, scale_bytes=2),
    "one scale per input column: int8 keeps one scale per output row (out_features of them)":
        lambda shape, scheme: _counted(shape, scheme, scale_per="column"),
    "the embedding is quantized too: only the linear layers are; the embedding and the norms stay in bfloat16":
        lambda shape, scheme: _counted(shape, scheme, embedding_quantized=True),
    "the feed-forward has two matrices here: SwiGLU has three, w1, w2 and w3":
        lambda shape, scheme: _counted(shape, scheme, ffn_matrices=2),
}


def _run_weight_bytes(impl, inputs):
    return impl(dict(inputs["shape"]), inputs["scheme"])


def _shape(dim, n_layers, n_heads, n_kv_heads, hidden_dim, vocab_size):
    return dict(dim=dim, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv_heads, hidden_dim=hidden_dim,
                vocab_size=vocab_size)


LLAMA2_SHAPES = {"7B": _shape(4096, 32, 32, 32, 11008, 32000), "13B": _shape(5120, 40, 40, 40, 13824, 32000),
                 "70B": _shape(8192, 80, 64, 8, 28672, 32000)}


def _weight_cases():
    small = _shape(8, 1, 2, 1, 16, 10)
    return [
        Case("by hand: dim 8, 1 layer, 2 heads sharing 1 key/value head (head_dim 4), hidden 16, vocab 10, bf16 "
             "(answer: (64 + 32 + 32 + 64 + 3 x 128 + 80 linear + 80 embedding + 24 norms) x 2 = 1,520)",
             dict(shape=small, scheme="bf16")),
        Case("the same shape in int8 (answer: 656 bytes of levels, 4 x 74 of scales, 2 x 104 of embedding and "
             "norms = 1,160)", dict(shape=small, scheme="int8")),
        Case("Llama 2 7B in bf16 (every matrix of 7B: 32 heads, 32 key/value heads)",
             dict(shape=LLAMA2_SHAPES["7B"], scheme="bf16")),
        Case("Llama 2 70B in bf16 (64 query heads, 8 key/value heads of 128)",
             dict(shape=LLAMA2_SHAPES["70B"], scheme="bf16")),
        Case("Llama 2 70B in int8", dict(shape=LLAMA2_SHAPES["70B"], scheme="int8")),
        Case("Llama 2 13B in int8", dict(shape=LLAMA2_SHAPES["13B"], scheme="int8")),
    ]


# ----------------------------------------------------------------------------------------------- quantize_int8

def reference_quantize_int8(weight):
    return quantize.quantize_int8(weight)


def _int8_with(scale_of=lambda w: w.abs().amax(dim=1, keepdim=True) / 127.5, level=torch.round, clamp=True,
               store=torch.int8, smallest=quantize.SMALLEST_SCALE):
    def quantize_int8(weight):
        scale = scale_of(weight.float())
        if smallest:
            scale = scale.clamp(min=smallest)
        q = level(weight.float() / scale)
        if clamp:
            q = q.clamp(-128, 127)
        return q.to(store), scale.flatten()
    return quantize_int8


INT8_MISTAKES = {
    "one scale for the whole matrix: int8 keeps one scale per output row, so that a row of small weights is not "
    "quantized with a large row's step":
        _int8_with(scale_of=lambda w: (w.abs().max() / 127.5).expand(w.shape[0], 1)),
    "one scale per input column: the scale is per output row, max over the row's inputs (dim=1)":
        _int8_with(scale_of=lambda w: w.abs().amax(dim=0, keepdim=True) / 127.5),
    "max(w) instead of max|w|: a row's most negative weight may be its largest in size":
        _int8_with(scale_of=lambda w: w.amax(dim=1, keepdim=True) / 127.5),
    "the scale divides by 127: the kit (as torchao) spreads the 256 levels -128..127 over [-max|w|, max|w|], "
    "scale = max|w| / 127.5":
        _int8_with(scale_of=lambda w: w.abs().amax(dim=1, keepdim=True) / 127),
    "no clamp: the largest weight is 127.5 steps out and rounds to 128, which int8 cannot hold (it wraps to -128)":
        _int8_with(clamp=False),
    "the levels are cut toward zero (.to(torch.int8) or .long() truncates): round to the nearest level first":
        _int8_with(level=torch.trunc),
    "the levels are kept as floats: store them as torch.int8, one byte a weight":
        _int8_with(store=torch.float32),
}


def _run_int8(impl, inputs):
    weight = inputs["weight"]
    out = impl(weight.clone())
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise StudentError(f"returned {type(out).__name__}, not a pair: return (q, scale)")
    q, scale = (torch.as_tensor(t) for t in out)
    scale = scale.float().reshape(-1)
    if scale.numel() == 1:  # one number for the whole matrix: as if every row had it
        scale = scale.expand(weight.shape[0])
    if q.shape != weight.shape or scale.shape != (weight.shape[0],):
        raise StudentError(f"q has shape {tuple(q.shape)} and scale {tuple(scale.shape)}: expected q of the "
                           f"weight's shape {tuple(weight.shape)} and one scale per output row, ({weight.shape[0]},)")
    read_back = q.float() * scale[:, None]  # what the layer multiplies with
    zero_rows = weight.abs().amax(dim=1) == 0  # any positive scale serves a row of zeros
    return {"q": q, "dtype of q": str(q.dtype).removeprefix("torch."), "read back": read_back,
            "scale": torch.where(zero_rows, 0.0, scale)}


def _largest_positive(weight: torch.Tensor) -> torch.Tensor:
    """The rows with their largest |w| made positive: that weight then sits exactly 127.5 steps out, and the
    clamp (not the rounding of a tie) decides its level, so dividing and multiplying by 1 / scale agree."""
    largest = weight.gather(1, weight.abs().argmax(dim=1, keepdim=True))  # (out, 1)
    return weight * torch.where(largest < 0, -1.0, 1.0)


def _int8_cases():
    g = torch.Generator().manual_seed(81)
    outlier = torch.randn(4, 16, generator=g) * 0.02
    outlier[1] *= 100  # one row of large weights among small ones
    zero_row = torch.randn(3, 8, generator=g) * 0.05
    zero_row[1] = 0
    return [
        Case("by hand: the rows [1, -0.5, 0.25, 0], [0.2, -0.03, 0.05, -0.11] and [-2, 1, 0.5, 0] (answer: "
             "scales 1/127.5, 0.2/127.5 and 2/127.5; q [127, -64, 32, 0], [127, -19, 32, -70] and [-127, 64, 32, 0])",
             dict(weight=torch.tensor([[1.0, -0.5, 0.25, 0.0], [0.2, -0.03, 0.05, -0.11], [-2.0, 1.0, 0.5, 0.0]])),
             atol=1e-12,
             rtol=1e-6, points=2),
        Case("8 rows of 32 weights of Llama's size (about 0.02)",
             dict(weight=_largest_positive(torch.randn(8, 32, generator=g) * 0.02)), atol=1e-12, rtol=1e-6,
             points=2),
        Case("4 rows of 16, one of them 100 times larger than the others (a per-row scale keeps the small rows' "
             "precision)", dict(weight=_largest_positive(outlier)), atol=1e-12, rtol=1e-6),
        Case("3 rows of 8, the middle one all zeros", dict(weight=_largest_positive(zero_row)), atol=1e-12,
             rtol=1e-6),
        Case("2 rows of 4,096 inputs (a row of Llama 2 7B's wq)",
             dict(weight=_largest_positive(torch.randn(2, 4096, generator=g) * 0.02)), atol=1e-12, rtol=1e-6),
    ]


# ----------------------------------------------------------------------------------------- parallel_feed_forward

def reference_parallel_feed_forward(x, w1, w2, w3, ranks):
    partial = []
    for w1_rank, w3_rank, w2_rank in zip(w1.chunk(ranks, dim=0), w3.chunk(ranks, dim=0), w2.chunk(ranks, dim=1)):
        hidden = F.silu(x @ w1_rank.T) * (x @ w3_rank.T)  # (..., hidden / ranks): this rank's units alone
        partial.append(hidden @ w2_rank.T)  # (..., D): a partial sum of the output
    return torch.stack(partial)


def _interleaved(x, w1, w2, w3, ranks):
    return torch.stack([(F.silu(x @ w1[r::ranks].T) * (x @ w3[r::ranks].T)) @ w2[:, r::ranks].T
                        for r in range(ranks)])


PARALLEL_MISTAKES = {
    "the partial outputs are added already: return each rank's own partial sum, one per rank; adding them is "
    "the all-reduce's job":
        lambda x, w1, w2, w3, ranks: reference_parallel_feed_forward(x, w1, w2, w3, ranks).sum(0, keepdim=True)
        .expand(ranks, *x.shape[:-1], w2.shape[0]),
    "the ranks' shares are interleaved (rank r takes rows r, r + N, ...): as Meta's shards and torch.chunk, each "
    "rank holds one contiguous block":
        _interleaved,
    "w1 and w3 are swapped: silu acts on the gate, w1 x; w3 x is the up projection it multiplies":
        lambda x, w1, w2, w3, ranks: reference_parallel_feed_forward(x, w3, w2, w1, ranks),
    "w2's blocks do not line up with w1's: rank r's columns of w2 must be the ones for its own hidden units":
        lambda x, w1, w2, w3, ranks: reference_parallel_feed_forward(x, w1, w2.flip(1), w3, ranks),
    "the partial outputs are divided by the number of ranks: the all-reduce sums them, it does not average":
        lambda x, w1, w2, w3, ranks: reference_parallel_feed_forward(x, w1, w2, w3, ranks) / ranks,
}


def _run_parallel(impl, inputs):
    out = impl(inputs["x"], inputs["w1"], inputs["w2"], inputs["w3"], inputs["ranks"])
    if isinstance(out, (list, tuple)):
        out = torch.stack([torch.as_tensor(t) for t in out])
    return torch.as_tensor(out)


def _parallel_cases():
    g = torch.Generator().manual_seed(82)

    def weights(dim, hidden):
        return dict(w1=torch.randn(hidden, dim, generator=g) / dim ** 0.5,
                    w2=torch.randn(dim, hidden, generator=g) / hidden ** 0.5,
                    w3=torch.randn(hidden, dim, generator=g) / dim ** 0.5)

    return [
        Case("by hand: x [[1, 2]], w1 = w3 = [[1, 0], [0, 1]] (hidden 2), w2 [[1, 2], [3, 4]], 2 ranks (answer: "
             "rank 0 silu(1) x 1 x [1, 3] = [0.731, 2.193], rank 1 silu(2) x 2 x [2, 4] = [7.046, 14.092])",
             dict(x=torch.tensor([[1.0, 2.0]]), w1=torch.eye(2), w2=torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
                  w3=torch.eye(2), ranks=2)),
        Case("x of shape (2, 3, 16) (a batch of 2, 3 tokens), hidden 32, 2 ranks",
             dict(x=torch.randn(2, 3, 16, generator=g), **weights(16, 32), ranks=2), points=2),
        Case("x of shape (1, 5, 24), hidden 64, 4 ranks", dict(x=torch.randn(1, 5, 24, generator=g),
                                                                **weights(24, 64), ranks=4), points=2),
        Case("1 rank (nothing to cut: the whole block), x of shape (3, 12), hidden 20",
             dict(x=torch.randn(3, 12, generator=g), **weights(12, 20), ranks=1)),
    ]


PARTS = [
    Part("weight_bytes", "a model's weight bytes from its shape", reference_weight_bytes, _run_weight_bytes,
         _weight_cases, WEIGHT_MISTAKES, kit=(quantize.weight_bytes,),
         hint="Per layer wq and wo are (dim, dim), wk and wv (n_kv_heads * head_dim, dim), w1 and w3 (hidden_dim, "
              "dim), w2 (dim, hidden_dim); then the output head (vocab_size, dim), the embedding (vocab_size, dim) "
              "and 2 * n_layers + 1 norms of dim, both in bfloat16"),
    Part("quantize_int8", "int8, one scale per output row", reference_quantize_int8, _run_int8, _int8_cases,
         INT8_MISTAKES, kit=(quantize.quantize_int8,),
         hint="scale = w.abs().amax(dim=1) / 127.5 (kept above 0), q = clamp(round(w / scale[:, None]), -128, "
              "127) as torch.int8"),
    Part("parallel_feed_forward", "the feed-forward block cut across ranks", reference_parallel_feed_forward,
         _run_parallel, _parallel_cases, PARALLEL_MISTAKES,
         hint="Rank r: w1.chunk(ranks, dim=0)[r] and w3's, w2.chunk(ranks, dim=1)[r]; its partial output is "
              "(silu(x @ w1_r.T) * (x @ w3_r.T)) @ w2_r.T; return the ranks' partial outputs stacked",
         error_hints={"cannot be multiplied": "a cut along the wrong dimension: w1 and w3 by rows (dim 0, their "
                                              "outputs), w2 by columns (dim 1, its inputs)"}),
]
