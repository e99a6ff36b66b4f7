"""NF4: QLoRA's 4-bit NormalFloat weights, the frozen base that LoRA adapters train on.

Reference: "QLoRA: Efficient Finetuning of Quantized LLMs", Dettmers et al. 2023 (arXiv 2305.14314), section 3.

A trained weight matrix is close to normally distributed, so int4's 16 evenly spaced levels (`llama_lab.quantize`)
spend some of themselves on values that rarely occur. NF4 places its 16 levels at quantiles of the standard normal
instead, so that each level stands for about as many weights, scaled to [-1, 1], with 0 exactly a level:

    8 positive levels: the normal's quantiles at 9 evenly spaced probabilities from OFFSET down to 1/2, less
                       the last (the quantile of 1/2 is 0)
    7 negative levels: minus its quantiles at 8 evenly spaced probabilities from OFFSET down to 1/2, less the last
    0 once, then all divided by the largest, so that the ends are -1 and 1

One more level on the positive side than on the negative: 16 levels with 0 among them cannot be symmetric.

OFFSET = (1 - 1/(2 * 15) + 1 - 1/(2 * 16)) / 2 = 0.9677...: the quantile of 1 is infinite, so the ends stop short of
it, halfway between the centres of the last of 15 and of 16 equal slices of probability. This is how bitsandbytes
builds the table that the paper prints in its appendix E (NF4_PUBLISHED below; the tests check one against the
other, to float32's rounding).

Weights are quantized in blocks of 64 consecutive inputs of a row, each scaled by its absolute maximum:

    absmax  = max |W| over the block          the block's largest weight becomes level -1 or 1
    code    = the index 0..15 of the level nearest to W / absmax (a tie to the lower index, as torchao's)
    W      ~= NF4[code] * absmax

A float32 absmax per 64 weights costs 32 / 64 = 0.5 bits a weight. Double quantization (section 3, "Double
Quantization") quantizes the absmaxes themselves, in blocks of 256, to 8 bits each, after subtracting their mean
(they are all positive; centred, they use both signs of the 8 bits): 8 / 64 + 32 / (64 * 256) = 0.127 bits a weight.
The paper's second quantization is bitsandbytes' 8-bit float; the kit's is torchao's (`to_nf4`), a symmetric int8
per block of 256 absmaxes, and the tests check codes and dequantized values against torchao's.

    from llama_lab.quantize import quantize_model
    quantize_model(model, "nf4")       # in place: every nn.Linear becomes an NF4Linear
    quantize_model(model, "nf4-dq")    # with the absmaxes double-quantized
    add_lora(model, targets=("wq", "wk", "wv", "wo", "w1", "w2", "w3"))   # QLoRA: adapters on a frozen NF4 base

An NF4Linear's forward dequantizes its weight and multiplies, in the input's dtype: readable, not fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .packing import frozen_product, pack_int4, unpack_int4, weight_to_quantize

BLOCK_SIZE = 64  # weights per absmax (the paper's)
SCALE_BLOCK_SIZE = 256  # absmaxes per scale of the double quantization (the paper's)
OFFSET = (1 - 1 / (2 * 15) + 1 - 1 / (2 * 16)) / 2

# The table of the paper's appendix E (as bitsandbytes stores it, in float32).
NF4_PUBLISHED = (-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                 -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                 0.7229568362236023, 1.0)


def normal_quantile(p: torch.Tensor) -> torch.Tensor:
    """The standard normal's quantile function (the inverse of its CDF): sqrt(2) * erfinv(2p - 1)."""
    return 2 ** 0.5 * torch.special.erfinv(2 * p - 1)


def nf4_levels() -> torch.Tensor:
    """The 16 NF4 levels, ascending, float32, from -1 to 1 with 0 at index 7 (see the module's docstring)."""
    positive = normal_quantile(torch.linspace(OFFSET, 0.5, 9, dtype=torch.float64)[:-1])  # 8, largest first
    negative = -normal_quantile(torch.linspace(OFFSET, 0.5, 8, dtype=torch.float64)[:-1])  # 7, most negative first
    levels = torch.cat((positive, torch.zeros(1, dtype=torch.float64), negative)).sort().values
    return (levels / levels.max()).float()


NF4 = nf4_levels()


@dataclass(frozen=True)
class NF4Scheme:
    """NF4 in blocks of 64 weights, with the absmaxes in float32 or double-quantized ("nf4" / "nf4-dq")."""

    double_quant: bool = False

    @property
    def name(self) -> str:
        return "nf4-dq" if self.double_quant else "nf4"

    @classmethod
    def parse(cls, scheme) -> "NF4Scheme | None":
        """An NF4Scheme for "nf4" or "nf4-dq" (or one given), None for any other name."""
        if isinstance(scheme, NF4Scheme):
            return scheme
        name = str(scheme).strip().lower()
        return cls(name == "nf4-dq") if name in ("nf4", "nf4-dq") else None

    def stored_bytes(self, out_features: int, in_features: int) -> int:
        """Bytes of one quantized weight (out, in): half a byte a weight, plus its absmaxes (float32 each, or
        one byte each plus a float32 scale per 256 of them and one float32 mean)."""
        n_blocks = out_features * in_features // BLOCK_SIZE
        if not self.double_quant:
            return out_features * in_features // 2 + 4 * n_blocks
        return out_features * in_features // 2 + n_blocks + 4 * -(-n_blocks // SCALE_BLOCK_SIZE) + 4


def quantize_nf4(weight: torch.Tensor, levels: torch.Tensor = NF4) -> tuple[torch.Tensor, torch.Tensor]:
    """W (out, in) -> codes (out, in) uint8 with values 0..15, and absmax (out, in / 64) float32, with
    W ~= levels[codes] * absmax block by block. `levels`: the 16 levels (the kit's NF4; a test passes torchao's).

    Example: the block [0.5, -0.25, 0, ...] (absmax 0.5) scales to [1, -0.5, 0, ...], codes [15, 2, 7, ...]
    (-0.5 is nearest to level 2, -0.525).
    """
    out_features, in_features = weight.shape
    if in_features % BLOCK_SIZE:
        raise ValueError(f"a weight with {in_features} inputs does not split into NF4's blocks of {BLOCK_SIZE}: "
                         "keep this layer in floating point (quantize_model(..., skip=(name,)))")
    blocks = weight.float().reshape(out_features, -1, BLOCK_SIZE)  # (out, n_blocks, 64)
    absmax = blocks.abs().amax(dim=-1)  # (out, n_blocks)
    scaled = blocks / absmax.clamp(min=torch.finfo(torch.float32).tiny)[..., None]  # in [-1, 1]
    codes = torch.empty(scaled.shape, dtype=torch.uint8, device=scaled.device)
    for rows in range(0, out_features, 256):  # a few rows at a time: the distances are 16 floats per weight
        distance = (scaled[rows:rows + 256, ..., None] - levels.to(scaled.device)).abs()  # (rows, n_blocks, 64, 16)
        codes[rows:rows + 256] = distance.argmin(dim=-1)
    return codes.reshape(out_features, in_features), absmax


def dequantize_nf4(codes: torch.Tensor, absmax: torch.Tensor, levels: torch.Tensor = NF4) -> torch.Tensor:
    """codes (out, in) and absmax (out, in / 64) -> the weight they stand for, (out, in) float32."""
    out_features, in_features = codes.shape
    values = levels.to(absmax.device)[codes.long()].reshape(out_features, -1, BLOCK_SIZE)  # (out, n_blocks, 64)
    return (values * absmax[..., None]).reshape(out_features, in_features)


def double_quantize(absmax: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """absmax (any shape, float32) -> (q int8 (n,), scale float32 (ceil(n / 256),), mean float32 ()), with
    absmax.flatten() ~= q / scale + mean block of 256 by block (the last block may be shorter).

    As torchao's: subtract the mean, then each block's q = clamp(round(x * 128 / max|x|), -128, 127)."""
    mean = absmax.mean()
    centred = absmax.flatten() - mean  # (n,)
    n = centred.numel()
    padded = F.pad(centred, (0, -n % SCALE_BLOCK_SIZE)).reshape(-1, SCALE_BLOCK_SIZE)  # zeros leave max|x| alone
    scale = 256 / (2 * padded.abs().amax(dim=-1))  # (n_scale_blocks,): 128 / max|x|
    q = (padded * scale[:, None]).round().clamp(-128, 127)
    return q.flatten()[:n].to(torch.int8), scale, mean


def double_dequantize(q: torch.Tensor, scale: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """The absmaxes (n,) float32 that double_quantize's (q, scale, mean) stand for."""
    n = q.numel()
    padded = F.pad(q.float(), (0, -n % SCALE_BLOCK_SIZE)).reshape(-1, SCALE_BLOCK_SIZE)
    return (padded / scale[:, None]).flatten()[:n] + mean


class NF4Linear(nn.Module):
    """A frozen bias-free linear layer whose weight is stored in NF4 (see the module's docstring).

    Buffers: `qweight` (out, in / 2) uint8, two codes a byte (llama_lab.packing.pack_int4's order); without double
    quantization `absmax` (out, in / 64) float32; with it `absmax_q` (out * in / 64,) int8, `absmax_scale`
    (ceil(out * in / 64 / 256),) float32 and `absmax_mean` () float32. forward(x) is
    F.linear(x, dequantize()) (packing.frozen_product: in training, the backward pass makes the weight again).
    """

    def __init__(self, in_features: int, out_features: int, scheme: NF4Scheme, dtype=torch.float32, device=None):
        super().__init__()
        self.in_features, self.out_features, self.scheme = in_features, out_features, scheme
        self.dtype = dtype  # the weights' dtype before quantizing: dequantize's
        n_blocks = out_features * in_features // BLOCK_SIZE
        self.register_buffer("qweight", torch.empty(out_features, in_features // 2, dtype=torch.uint8, device=device))
        if scheme.double_quant:
            self.register_buffer("absmax_q", torch.empty(n_blocks, dtype=torch.int8, device=device))
            self.register_buffer("absmax_scale", torch.empty(-(-n_blocks // SCALE_BLOCK_SIZE), device=device))
            self.register_buffer("absmax_mean", torch.empty((), device=device))
        else:
            self.register_buffer("absmax", torch.empty(out_features, in_features // BLOCK_SIZE, device=device))

    @classmethod
    def from_linear(cls, linear: nn.Linear, scheme: "str | NF4Scheme" = "nf4") -> "NF4Linear":
        """The NF4 twin of `linear` (a bias-free nn.Linear), on its device."""
        if NF4Scheme.parse(scheme) is None:
            raise ValueError(f"NF4 scheme {scheme!r}: use 'nf4' (float32 absmaxes) or 'nf4-dq' (double-quantized)")
        scheme = NF4Scheme.parse(scheme)
        weight = weight_to_quantize(linear, cls.__name__)
        module = cls(weight.shape[1], weight.shape[0], scheme, dtype=weight.dtype, device=weight.device)
        codes, absmax = quantize_nf4(weight)
        module.qweight = pack_int4(codes)
        if scheme.double_quant:
            module.absmax_q, module.absmax_scale, module.absmax_mean = double_quantize(absmax)
        else:
            module.absmax = absmax
        return module

    def block_absmax(self) -> torch.Tensor:
        """Each block's absmax (out, in / 64) float32, double-dequantized where it is stored in 8 bits."""
        if not self.scheme.double_quant:
            return self.absmax
        return double_dequantize(self.absmax_q, self.absmax_scale, self.absmax_mean).reshape(self.out_features, -1)

    def dequantize(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The weight the codes stand for, (out, in), in `dtype` (by default the weights' dtype before quantizing)."""
        return dequantize_nf4(unpack_int4(self.qweight), self.block_absmax()).to(dtype or self.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return frozen_product(x, self)  # (..., in) -> (..., out); in training, W is made again for the backward pass

    def product(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.dequantize(x.dtype))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, scheme={self.scheme.name}"
