"""What every weight-only quantizer of the kit shares: the weight it may take, and 4-bit codes packed two a byte.

`llama_lab.quantize` (int8, int4) and `llama_lab.nf4` (QLoRA's NormalFloat 4) both build on these, and on
`frozen_product`, the product that makes a frozen weight from its codes in each pass that needs it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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


class _FrozenProduct(torch.autograd.Function):
    """layer.product(x) = x W^T, where W is a frozen weight that the layer stores as integers. The backward pass
    needs W again, for x's gradient only (W itself never trains), and makes it again with `layer.dequantize`:
    nothing the size of W is kept between the passes."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, layer: nn.Module) -> torch.Tensor:
        ctx.layer = layer
        return layer.product(x)  # autograd records nothing inside: (..., in) -> (..., out)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return grad_output @ ctx.layer.dequantize(grad_output.dtype), None  # (..., out) -> (..., in)


def frozen_product(x: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    """x W^T (..., in) -> (..., out) for a quantized layer's frozen weight W: `layer.product(x)`, which makes W (or
    its rows' part) from the codes for this product alone.

    Where a gradient flows back through x (LoRA or QLoRA training: adapters below this layer, or on it), autograd
    would keep the floating-point W that the product made until the backward pass reaches it: a float copy of every
    frozen matrix at the step's peak, what storing them as integers was meant to save. As QLoRA's paper runs it,
    the backward pass makes W again instead. The numbers are the product's either way.
    """
    if torch.is_grad_enabled() and x.requires_grad:
        return _FrozenProduct.apply(x, layer)
    return layer.product(x)
