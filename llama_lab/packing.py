"""What every weight-only quantizer of the kit shares: the weight it may take, and 4-bit codes packed two a byte.

`llama_lab.quantize` (int8, int4) and `llama_lab.nf4` (QLoRA's NormalFloat 4) both build on these.
"""

from __future__ import annotations

import torch
from torch import nn

FLOAT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def weight_to_quantize(linear: nn.Linear, layer: str) -> torch.Tensor:
    """The weight (out, in) of a bias-free floating-point nn.Linear, detached; a ValueError for any other, saying
    why the quantized `layer` (a class name) cannot stand for it."""
    if linear.bias is not None:
        raise ValueError(f"{layer} has no bias: Llama 2's linear layers have none")
    weight = linear.weight.detach()
    if weight.dtype not in FLOAT_DTYPES:
        raise ValueError(f"cannot quantize a {weight.dtype} weight: give a float32, bfloat16 or float16 one")
    return weight


def pack_int4(q: torch.Tensor) -> torch.Tensor:
    """Two 4-bit values a byte: q (out, in) with values 0..15 -> (out, in / 2) uint8, column 2i in the low four
    bits of byte i and column 2i+1 in the high four. Example: [[1, 2, 15, 0]] -> [[0x21, 0x0F]]."""
    q = q.to(torch.uint8)
    return q[:, 0::2] | (q[:, 1::2] << 4)


def unpack_int4(packed: torch.Tensor) -> torch.Tensor:
    """The inverse of pack_int4: (out, in / 2) uint8 -> (out, in) uint8 with values 0..15."""
    return torch.stack((packed & 0x0F, packed >> 4), dim=-1).flatten(1)
