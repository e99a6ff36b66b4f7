"""Weight-only quantization: the model's matrices in 8 or 4 bits, everything else as it was.

Decoding one token reads every weight once, so it runs at the speed the weights stream from memory, and a model
fits on a device only if its weights do. Storing each number of a matrix in 8 bits instead of 16 halves both;
4 bits quarter them. Only the matrices of the linear layers are quantized (wq wk wv wo, w1 w2 w3 and the output
head: all but 0.1-4% of Llama 2's parameters); the token embedding (read one row per token), the norms and every
activation stay in floating point. Each product then multiplies floating-point inputs by integer weights and
one scale.

Two schemes, the usual one of each width (torchao's `Int8WeightOnlyConfig` and its affine int4; the tests check
the scales and the dequantized weights against torchao's own functions):

int8, symmetric, one scale per output channel (a row r of the weight, all its inputs j):
    scale_r = max_j |W_rj| / 127.5            the 256 levels -128..127 spread over [-max, max]
    q_rj    = clamp(round(W_rj / scale_r), -128, 127)
    W_rj   ~= q_rj * scale_r                  error at most scale_r / 2

int4, asymmetric, one scale and one zero point per group of `group_size` inputs of a row (32, 64 or 128):
    lo, hi  = min(min W, 0), max(max W, 0) over the group    (0 itself is a level)
    scale   = (hi - lo) / 15                  the 16 levels 0..15 spread over [lo, hi]
    zero    = clamp(round(-lo / scale), 0, 15)                the level that stands for 0.0
    q       = clamp(round(W / scale) + zero, 0, 15)
    W      ~= (q - zero) * scale

Smaller groups follow the weights more closely and store more scales: with a 16-bit scale and a one-byte zero
point a group of 128 costs 4.19 bits a weight, a group of 32 costs 4.75. "Divide by the scale" is computed as
multiplying by its reciprocal, as torchao does, so that the two round every tie the same way.

    from llama_lab.quantize import quantize_model
    quantize_model(model, "int8")      # in place: every nn.Linear becomes a QuantizedLinear
    quantize_model(model, "int4-g64")  # int4 in groups of 64
    quantize_model(model, "nf4")       # QLoRA's NormalFloat 4 in blocks of 64 (llama_lab.nf4)

A QuantizedLinear's forward dequantizes its weight and multiplies: the definition, on any device, smaller in
memory and not faster. Decoding faster is the speed layer's: `llama_lab.fast` runs int8 products on a CPU
kernel that reads the bytes as stored (`fast/kernels.py`), and on a GPU torch.compile fuses the dequantizing
into the product.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .modules import replace_by_name
from .nf4 import NF4Linear, NF4Scheme
from .packing import FLOAT_DTYPES, frozen_product, pack_int4, unpack_int4, weight_to_quantize

GROUP_SIZES = (32, 64, 128)


@dataclass(frozen=True)
class Scheme:
    """How to quantize: bits 8 (per output channel) or 4 (in groups of group_size inputs)."""

    bits: int
    group_size: int | None = None  # int4 only

    def __post_init__(self):
        if self.bits == 8 and self.group_size is None:
            return
        if self.bits == 4 and self.group_size in GROUP_SIZES:
            return
        raise ValueError(f"quantization scheme bits={self.bits}, group_size={self.group_size} is not one the kit "
                         f"has: use int8 (one scale per output channel) or int4 with a group size of "
                         f"{', '.join(map(str, GROUP_SIZES))}")

    @property
    def name(self) -> str:
        return "int8" if self.bits == 8 else f"int4-g{self.group_size}"

    @classmethod
    def parse(cls, scheme: "str | Scheme") -> "Scheme":
        """"int8", "int4" (groups of 128), "int4-g32" / "int4-g64" / "int4-g128", or a Scheme."""
        if isinstance(scheme, Scheme):
            return scheme
        match = re.fullmatch(r"int(8|4)(?:-g(\d+))?", str(scheme).strip().lower())
        if not match or (match[1] == "8" and match[2]):
            raise ValueError(f"quantization {scheme!r} is not one the kit knows: use 'int8', 'int4' (groups of "
                             f"128) or 'int4-g32', 'int4-g64', 'int4-g128'")
        if match[1] == "8":
            return cls(8)
        return cls(4, int(match[2] or 128))

    def bits_per_weight(self, scale_bytes: int = 2) -> float:
        """Bits stored per weight, scales and zero points included (a one-byte zero point per int4 group)."""
        if self.bits == 8:
            return 8.0  # one scale per row: a few thousand weights share it
        return 4 + 8 * (scale_bytes + 1) / self.group_size


# The smallest scale: float32's eps whatever the weights' dtype (bfloat16's eps, 0.0078, is larger than most of
# Llama's weights), so that only an all-zero row or group is kept from dividing by zero. torchao's int8 does so too.
SMALLEST_SCALE = torch.finfo(torch.float32).eps


# The largest |weight| a quantized checkpoint may stand for. The linear weights of a trained transformer are of
# order 0.01 to 1 (the kit's tiny models' largest is 0.43); 1e4 leaves orders of magnitude of room, and every
# weight the scales below allow (int4's reach 2e4) stays inside float16's range (65504), which the layers may
# dequantize to. A larger one is damage, not a weight.
LARGEST_WEIGHT = 1e4


def largest_scale(scheme: "str | Scheme") -> float:
    """The largest scale that quantizing weights no larger than LARGEST_WEIGHT gives: int8's is max|W| / 127.5,
    int4's is (hi - lo) / 15, and hi - lo spans at most twice the largest weight."""
    return LARGEST_WEIGHT / 127.5 if Scheme.parse(scheme).bits == 8 else 2 * LARGEST_WEIGHT / 15


def check_stored(name: str, tensor: torch.Tensor, scheme: "str | Scheme") -> None:
    """Raise a ValueError naming `name` if the stored tensor of a quantized layer (its `scale` or `zero`) holds a
    number that quantizing never writes: a weight is scale * (q - zero), so a scale must be > 0 (it is the step
    between two levels) and at most largest_scale(scheme), and an int4 zero point is one of the levels 0..15.
    int8's integers, and int4's packed pairs, are in range whatever their bytes."""
    if name.endswith(".scale") and tensor.numel():
        limit = largest_scale(scheme)
        for wrong, what in ((tensor <= 0, "that are not positive (a scale is the step between two levels)"),
                            (tensor > limit, f"above {limit:.4g}, which would make weights (scale * (q - zero)) "
                                             f"beyond {LARGEST_WEIGHT:g}, far from any trained model's")):
            if wrong.any():
                count = int(wrong.sum())
                raise ValueError(f"{name} holds {count:,} scale{'s' * (count > 1)} {what}, such as "
                                 f"{tensor[wrong][0].item():.4g}" + _REQUANTIZE)
    if name.endswith(".zero") and tensor.numel() and int(tensor.max()) > 15:
        wrong = tensor > 15
        count = int(wrong.sum())
        raise ValueError(f"{name} holds {count:,} zero point{'s' * (count > 1)} above 15, such as "
                         f"{int(tensor[wrong][0])}: an int4 zero point is one of the levels 0..15" + _REQUANTIZE)


_REQUANTIZE = (": the checkpoint is damaged. Quantize its floating-point weights again (load_model(original, "
               "quantize=...), then save_model(model, path, format='kit'))")


def quantize_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """W (out, in) -> q (out, in) int8 and scale (out,) float32, with W ~= q * scale[:, None].

    The scale is float32 whatever W's dtype (as torchao's): a row's largest weight divided by 127.5 in W's dtype,
    and the rounding done in float32. Example: the row [1.0, -0.5, 0.25] has scale 1/127.5 and q [127, -64, 32]
    (-0.5 * 127.5 = -63.75 -> -64).
    """
    scale = (weight.abs().amax(dim=1) / 127.5).float().clamp(min=SMALLEST_SCALE)  # (out,)
    q = (weight.float() * (1.0 / scale[:, None])).round_().clamp_(-128, 127)  # in place: one float copy of W
    return q.to(torch.int8), scale


def quantize_int4(weight: torch.Tensor, group_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """W (out, in) -> q (out, in) uint8 with values 0..15, scale and zero (out, in / group_size), the scale in
    W's dtype and the zero point a whole number 0..15 (uint8), with W ~= (q - zero) * scale group by group."""
    out_features, in_features = weight.shape
    if in_features % group_size:
        raise ValueError(f"a weight with {in_features} inputs does not split into groups of {group_size}: "
                         f"choose a group size that divides it ({', '.join(map(str, GROUP_SIZES))})")
    groups = weight.reshape(out_features, in_features // group_size, group_size)  # (out, n_groups, g)
    lo = groups.amin(dim=-1).clamp(max=0)  # (out, n_groups)
    hi = groups.amax(dim=-1).clamp(min=0)
    scale = ((hi - lo) / 15).clamp(min=SMALLEST_SCALE)
    zero = torch.clamp(-torch.round(lo / scale), 0, 15)
    # in place on one fresh product: memory holds one floating-point copy of W besides W, not four
    q = (groups * (1.0 / scale[..., None])).round_().add_(zero[..., None]).clamp_(0, 15)
    return q.reshape(out_features, in_features).to(torch.uint8), scale, zero.to(torch.uint8)


def one_after_another(parts: list[torch.Tensor]) -> torch.Tensor | None:
    """The tensor that `parts` (contiguous, with the same shape but for the first dimension) make together when
    they lie one after another in one storage, as the rows of one row-major tensor: a view, nothing copied. None
    when they do not."""
    first = parts[0]
    if first.device.type == "meta" or not all(
            part.is_contiguous() and part.dtype == first.dtype and part.shape[1:] == first.shape[1:]
            and part.untyped_storage().data_ptr() == first.untyped_storage().data_ptr() for part in parts):
        return None
    end = first.data_ptr()
    for part in parts:
        if part.data_ptr() != end:
            return None
        end += part.numel() * part.element_size()
    return first.as_strided((sum(part.shape[0] for part in parts), *first.shape[1:]), first.stride())


class QuantizedLinear(nn.Module):
    """An nn.Linear without bias whose weight is stored in 8 or 4 bits (see the module's docstring).

    Buffers (what a checkpoint stores): int8: `qweight` (out, in) int8 and `scale` (out,) float32; int4:
    `qweight` (out, in / 2) uint8 (pack_int4), `scale` (out, in / group_size) in the weights' dtype and `zero`
    (the same shape, uint8). forward(x) is
    F.linear(x, self.dequantize()), with an int8 row's scale applied to its output.
    """

    def __init__(self, in_features: int, out_features: int, scheme: Scheme, dtype=torch.float32, device=None):
        super().__init__()
        self.in_features, self.out_features, self.scheme = in_features, out_features, scheme
        self.dtype = dtype  # the weights' dtype before quantizing: dequantize's
        if scheme.bits == 8:
            self.register_buffer("qweight", torch.empty(out_features, in_features, dtype=torch.int8, device=device))
            self.register_buffer("scale", torch.empty(out_features, dtype=torch.float32, device=device))
        else:
            n_groups = in_features // scheme.group_size
            self.register_buffer("qweight", torch.empty(out_features, in_features // 2, dtype=torch.uint8,
                                                        device=device))
            self.register_buffer("scale", torch.empty(out_features, n_groups, dtype=dtype, device=device))
            self.register_buffer("zero", torch.empty(out_features, n_groups, dtype=torch.uint8, device=device))

    @classmethod
    def from_linear(cls, linear: nn.Linear, scheme: "str | Scheme") -> "QuantizedLinear":
        """The quantized twin of `linear` (a bias-free nn.Linear), on its device."""
        scheme = Scheme.parse(scheme)
        weight = weight_to_quantize(linear, cls.__name__)
        module = cls(weight.shape[1], weight.shape[0], scheme, dtype=weight.dtype, device=weight.device)
        if scheme.bits == 8:
            module.qweight, module.scale = quantize_int8(weight)
        else:
            q, module.scale, module.zero = quantize_int4(weight, scheme.group_size)
            module.qweight = pack_int4(q)
        return module

    @classmethod
    def join(cls, layers: list["QuantizedLinear"], share: bool = False) -> "QuantizedLinear":
        """One layer computing what `layers` (same inputs, same scheme) compute, their outputs one after another:
        the rows of a weight are quantized independently, so joining quantized rows is joining the weights.

        share=False: the joined layer's buffers are new tensors (torch.cat), and the layers keep their own.
        share=True: the weights are held once: each layer gives up its buffers for views of its rows of the joined
        ones (the rows of a row-major tensor lie one after another, so each layer's part is a contiguous tensor of
        its own shape), and its old buffers are freed, a buffer at a time. Layers whose buffers already lie one
        after another in one tensor (a join shared before) are joined without copying anything.
        Example: wq (64, 32) and wk (16, 32) int4 codes -> one (80, 32) tensor, wq.qweight its rows 0-63.
        """
        first = layers[0]
        if any(layer.scheme != first.scheme or layer.in_features != first.in_features for layer in layers):
            raise ValueError("only layers with the same inputs and the same scheme can be joined")
        joined = cls(first.in_features, sum(layer.out_features for layer in layers), first.scheme,
                     dtype=first.dtype, device="meta")
        # tensors (and views) the model may keep, made as ordinary ones even under inference_mode: they count their
        # in-place changes, and a load_state_dict may write into them later
        with torch.inference_mode(False):
            for name, _ in list(joined.named_buffers()):
                parts = [getattr(layer, name) for layer in layers]
                whole = one_after_another(parts) if share else None
                if whole is None:
                    whole = torch.cat(parts)
                setattr(joined, name, whole)
                if share:
                    start = 0
                    for layer, part in zip(layers, parts):
                        setattr(layer, name, whole[start:start + part.shape[0]])
                        start += part.shape[0]
                del parts
        return joined

    def dequantize(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The weight the integers stand for, (out, in), in `dtype` (by default the weights' dtype before
        quantizing: `self.dtype`)."""
        dtype = dtype or self.dtype
        # in place on the fresh floating-point copy of the integers: one weight-sized tensor at a time, where
        # "(q - zero) * scale" would hold three (the output head of a prefill is the largest of them)
        if self.scheme.bits == 8:
            return self.qweight.float().mul_(self.scale[:, None]).to(dtype)
        g = self.scheme.group_size
        q = unpack_int4(self.qweight).reshape(self.out_features, -1, g).to(dtype)  # (out, n_groups, g)
        weight = q.sub_(self.zero.to(dtype)[..., None]).mul_(self.scale.to(dtype)[..., None])
        return weight.reshape(self.out_features, self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return frozen_product(x, self)  # (..., in) -> (..., out); in training, W is made again for the backward pass

    def product(self, x: torch.Tensor) -> torch.Tensor:
        if self.scheme.bits == 8:  # a row's scale multiplies its output: applied to out numbers, not out * in
            return (F.linear(x, self.qweight.to(x.dtype)) * self.scale).to(x.dtype)
        return F.linear(x, self.dequantize(x.dtype))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, scheme={self.scheme.name}"


def quantize_model(model: nn.Module, scheme: "str | Scheme", skip: tuple[str, ...] = ()) -> nn.Module:
    """Replace every bias-free nn.Linear of `model` (all of Llama's) by its QuantizedLinear (for "nf4" and
    "nf4-dq": its NF4Linear, `llama_lab.nf4`), in place; returns the model. `skip`: names of linear layers to keep
    in floating point (e.g. ("output",)).

    The float weights are let go as each layer is replaced, so memory holds the quantized model plus one layer.
    """
    nf4 = NF4Scheme.parse(scheme)
    if nf4 is not None:
        for name, linear in [(name, module) for name, module in model.named_modules()
                             if isinstance(module, nn.Linear) and name not in skip]:
            replace_by_name(model, name, NF4Linear.from_linear(linear, nf4))
        return model
    scheme = Scheme.parse(scheme)
    if scheme.bits == 4:
        widths = {module.in_features for name, module in model.named_modules()
                  if isinstance(module, nn.Linear) and name not in skip}
        if any(width % scheme.group_size for width in widths):
            fitting = [g for g in GROUP_SIZES if all(width % g == 0 for width in widths)]
            raise ValueError(f"the model's linear layers have {sorted(widths)} inputs, which do not all split into "
                             f"groups of {scheme.group_size}: use " + (" or ".join(f"int4-g{g}" for g in fitting)
                                                                      or "int8"))
    targets = [(name, module) for name, module in model.named_modules()
               if isinstance(module, nn.Linear) and name not in skip]
    for name, linear in targets:
        replace_by_name(model, name, QuantizedLinear.from_linear(linear, scheme))
    return model


def dequantize_model(model: nn.Module) -> nn.Module:
    """Replace every QuantizedLinear of `model` by an nn.Linear holding the weight its integers stand for (in the
    layer's dtype, the rounding of quantizing kept), in place; returns the model. The inverse of quantize_model as
    far as there is one: the floating-point original, where it exists, is the better start for training."""
    layers = [(name, module) for name, module in model.named_modules() if isinstance(module, QuantizedLinear)]
    for name, layer in layers:
        linear = nn.Linear(layer.in_features, layer.out_features, bias=False, device="meta")
        linear.weight = nn.Parameter(layer.dequantize())
        replace_by_name(model, name, linear)
    return model


def quantization_of(model: nn.Module) -> Scheme | None:
    """The scheme of a quantized model's linear layers, or None for a model in floating point."""
    schemes = {m.scheme for m in model.modules() if isinstance(m, QuantizedLinear)}
    if len(schemes) > 1:
        raise ValueError(f"the model mixes quantization schemes: {sorted(s.name for s in schemes)}")
    return schemes.pop() if schemes else None


def weight_bytes(args, scheme: "str | Scheme | None" = None, dtype_bytes: int = 2, embedding: bool = True) -> int:
    """Bytes of a model's weights, as quantize_model leaves them in memory and a checkpoint stores them: the
    linear layers' at `scheme` (None: in floating point), the embedding and the norms at dtype_bytes (2 for
    bfloat16, 4 for float32), int4 scales in dtype_bytes too (int8 ones in float32). embedding=False leaves out
    the token embedding table, of which a decoding step reads one row per token: what one step reads.

    The kit's one count of weight bytes: the course's tables (course.family) and the bench's bandwidth bound
    (bench.weight_bytes_per_step) are views of it.
    Example: Llama 2 7B (LLAMA2_7B) in bfloat16: 13.5 GB; int8: 6.7 GB; int4 in groups of 128: 3.6 GB.
    "nf4" / "nf4-dq" (`llama_lab.nf4`): half a byte a weight plus its absmaxes, float32 or double-quantized.
    """
    D, L, V, hidden = args.dim, args.n_layers, args.vocab_size, args.hidden_dim
    kv = args.kv_heads * args.head_dim
    linear_shapes = [(D, D), (kv, D), (kv, D), (D, D), (hidden, D), (D, hidden), (hidden, D)] * L + [(V, D)]
    floating = (V * D if embedding else 0) + (2 * L + 1) * D  # the embedding table and the norms
    total = floating * dtype_bytes
    nf4 = NF4Scheme.parse(scheme) if scheme is not None else None
    for out_features, in_features in linear_shapes:
        if nf4 is not None:
            total += nf4.stored_bytes(out_features, in_features)
            continue
        if scheme is None:
            total += out_features * in_features * dtype_bytes
            continue
        scheme = Scheme.parse(scheme)
        if scheme.bits == 8:
            total += out_features * in_features + out_features * 4  # float32 scales
        else:
            n_groups = out_features * in_features // scheme.group_size
            total += out_features * in_features // 2 + n_groups * (dtype_bytes + 1)
    return total


def quantization_error(reference: nn.Module, quantized: nn.Module, text: torch.Tensor, prompt: list[int],
                       new_tokens: int = 256) -> dict:
    """How far `quantized` strays from `reference` (the same model in floating point), four ways:

    max_logit_diff   the largest |difference| of any logit at any position of `text` (B, T)
    kl               KL(reference || quantized) of the next-token distributions, mean over those positions, nats
    loss, loss_change  reference's next-token loss on `text` (nats/token) and how much quantized adds to it
    agreement        of `new_tokens` greedy tokens the reference writes after `prompt`, the share that quantized,
                     fed the same tokens, also ranks first; `first_difference`: how many tokens the two write
                     alike, each greedily on its own, before they part (new_tokens if never), and
                     `gap_where_parted`: there, how far apart the reference's two best logits were (nan if they
                     never part): a near-tie that any rounding may decide, or a real change of mind
    """
    from .generate import generate_tokens  # decoding is above the model; quantizing below it

    with torch.inference_mode():
        ref_logits, q_logits = reference(text).float(), quantized(text).float()  # (B, T, V)
        ref_logp, q_logp = ref_logits.log_softmax(-1), q_logits.log_softmax(-1)
        kl = (ref_logp.exp() * (ref_logp - q_logp)).sum(-1).mean()
        targets = text[:, 1:]  # (B, T - 1)
        ref_loss = -ref_logp[:, :-1].gather(-1, targets[..., None]).mean()
        q_loss = -q_logp[:, :-1].gather(-1, targets[..., None]).mean()
        ref_tokens = generate_tokens(reference, [prompt], new_tokens, temperature=0, eos_id=None)[0]
        written = torch.tensor([prompt + ref_tokens], device=text.device)
        q_choices = quantized(written)[0, len(prompt) - 1:-1].argmax(-1)  # what quantized ranks first, fed them
        agreement = (q_choices == written[0, len(prompt):]).float().mean()
        q_tokens = generate_tokens(quantized, [prompt], new_tokens, temperature=0, eos_id=None)[0]
        first_difference = next((i for i, (a, b) in enumerate(zip(ref_tokens, q_tokens)) if a != b), new_tokens)
        gap_where_parted = float("nan")
        if first_difference < new_tokens:
            before = torch.tensor([prompt + ref_tokens[:first_difference]], device=text.device)
            best_two = reference(before)[0, -1].float().topk(2).values
            gap_where_parted = (best_two[0] - best_two[1]).item()
    return {"max_logit_diff": (ref_logits - q_logits).abs().max().item(), "kl": kl.item(),
            "loss": ref_loss.item(), "loss_change": (q_loss - ref_loss).item(), "agreement": agreement.item(),
            "first_difference": first_difference, "gap_where_parted": gap_where_parted, "new_tokens": new_tokens}
