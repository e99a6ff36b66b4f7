"""LoRA: fine-tuning a frozen Llama 2 through a low-rank update of its projections.

Reference: "LoRA: Low-Rank Adaptation of Large Language Models", Hu et al. 2021 (arXiv 2106.09685); the rank-
stabilised scaling from "A Rank Stabilization Scaling Factor for Fine-Tuning with LoRA", Kalajdzievski 2023.

Section 4.1 of the paper: a pre-trained weight W0 (d_out, d_in) stays frozen, and its change is learnt as the
product of two small matrices, B (d_out, r) and A (r, d_in), with the rank r much smaller than d_in and d_out:

    h = W0 x + (alpha / r) * B A x          (the paper's equation 3, with its scaling alpha / r)

A starts random and B at zero, so that B A = 0 and a fresh adapter leaves the model exactly as it was. The kit
starts A as Hugging Face's `peft` does (its default `init_lora_weights=True`): kaiming-uniform with a = sqrt(5),
which is uniform on [-1/sqrt(d_in), 1/sqrt(d_in)]. Dividing by r lets alpha stay put when r changes; rsLoRA
divides by sqrt(r) instead (`rslora=True`), so that the update does not shrink as the rank grows. Dropout, as in
peft, applies to the adapter's input only: (alpha / r) * B A dropout(x).

The paper adapts wq and wv (section 7.1); any of Meta's projections can be adapted here, by Meta's names:
wq wk wv wo (attention) and w1 w2 w3 (the SwiGLU feed-forward). Each becomes a `LoraLinear` holding the frozen
layer it adapts (`.base`, an nn.Linear or a quantized layer from `llama_lab.quantize`, NF4 included: QLoRA) and
its A and B:

    add_lora(model, targets=("wq", "wv"), r=8, alpha=16)  # in place; only the A and B matrices train
    print_trainable_parameters(model)  # the kit's TINY model:
    # trainable params: 29,952 || all params: 3,927,744 || trainable%: 0.7626
    merge_lora(model)                  # W0 += (alpha / r) B A in every adapted layer: no cost at inference
    unmerge_lora(model)                # and back
    unload_lora(model)                 # plain layers again, merged (merge=False: the base as it was)

Merged, the model is the paper's "no additional inference latency" (section 4.1): the same layers as before, with
the update folded into W0. A quantized W0 holds integers, not the sum, so merging into one is refused. Saving and
loading adapters in peft's format is `llama_lab.checkpoint.adapter`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .modules import replace_by_name
from .nf4 import NF4Linear
from .quantize import QuantizedLinear
from .seeds import seeded_generator

QUANTIZED_LAYERS = (QuantizedLinear, NF4Linear)  # frozen bases whose weight is stored as integers

# Meta's names of the projections in each block, as llama_lab.model names them.
TARGETS = ("wq", "wk", "wv", "wo", "w1", "w2", "w3")


@dataclass(frozen=True)
class LoraSettings:
    """What an adapter is: its rank r, alpha, the dropout on its input, which projections it adapts, and whether
    the scaling is the paper's alpha / r or rsLoRA's alpha / sqrt(r)."""

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] = ("wq", "wv")
    rslora: bool = False

    def __post_init__(self):
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r < 1:
            raise ValueError(f"LoRA rank r={self.r!r}: give a whole number of at least 1 (the paper uses 1 to 64)")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not 0 < self.alpha < math.inf:
            raise ValueError(f"LoRA alpha={self.alpha!r}: give a positive finite number (often twice r)")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) \
                or not 0 <= self.dropout < 1:
            raise ValueError(f"LoRA dropout={self.dropout!r}: give a probability, at least 0 and below 1")
        targets = (self.targets,) if isinstance(self.targets, str) else tuple(self.targets)
        unknown = [t for t in targets if t not in TARGETS]
        if unknown or not targets:
            raise ValueError(f"LoRA targets {list(targets)!r}: name projections by Meta's names, some of "
                             f"{', '.join(TARGETS)}")
        object.__setattr__(self, "targets", tuple(t for t in TARGETS if t in targets))  # one order, no repeats

    @property
    def scaling(self) -> float:
        """What B A is multiplied by: alpha / r (the paper), or alpha / sqrt(r) (rsLoRA)."""
        return self.alpha / math.sqrt(self.r) if self.rslora else self.alpha / self.r


class LoraLinear(nn.Module):
    """A frozen bias-free linear layer plus a trainable low-rank update: x -> base(x) + scaling * B A dropout(x).

    lora_A: (r, in_features), kaiming-uniform as peft's; lora_B: (out_features, r), zero. `merged` says whether
    the update has been added into base's weight (then forward is base's alone).
    """

    def __init__(self, base: nn.Module, settings: LoraSettings, generator: torch.Generator | None = None):
        super().__init__()
        if not isinstance(base, (nn.Linear, *QUANTIZED_LAYERS)) or getattr(base, "bias", None) is not None:
            raise TypeError(f"LoRA adapts a bias-free nn.Linear, QuantizedLinear or NF4Linear (Llama's "
                            f"projections); got {type(base).__name__}")
        self.base, self.settings, self.scaling, self.merged = base, settings, settings.scaling, False
        # A and B in the dtype of the weights (a quantized layer's: before quantizing), where the layer lives
        dtype, device = (base.weight.dtype, base.weight.device) if isinstance(base, nn.Linear) else \
            (base.dtype, base.qweight.device)
        self.lora_A = nn.Parameter(torch.empty(settings.r, base.in_features, device=device, dtype=dtype))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, settings.r, device=device, dtype=dtype))
        with torch.no_grad():  # peft's init_lora_weights=True: uniform on [-1/sqrt(in), 1/sqrt(in)]
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5), generator=generator)
        self.dropout = nn.Dropout(settings.dropout)

    @property
    def weight(self) -> torch.Tensor:
        """W0 + scaling * B A, (out, in), once merged: the base's weight, which then holds the update (what
        `llama_lab.fast` lays out for a merged model). Unmerged, the layer has no one weight: refused, so that no
        code reads W0 and silently leaves the update out."""
        if not self.merged:
            raise RuntimeError("an unmerged LoRA layer computes W0 x + scaling * B A x and has no one weight: read "
                               ".base.weight for W0, .delta_weight() for the update, or merge_lora(model) first")
        return self.base.weight

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)  # (..., in) -> (..., out)
        if self.merged:
            return out
        # scaled where the product is r wide, and added into the base's output in place: F.linear keeps its input
        # and weight for the backward pass, never its output, so nothing the backward reads is changed. Dropout with
        # p=0 hands x back as it is.
        low_rank = F.linear(self.dropout(x), self.lora_A) * self.scaling  # (..., r)
        return out.add_(F.linear(low_rank, self.lora_B))  # (..., out)

    def delta_weight(self) -> torch.Tensor:
        """scaling * B A, (out, in): what merging adds to the base's weight."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def merge(self) -> None:
        """W0 += scaling * B A, once (a merged layer stays as it is)."""
        if self.merged:
            return
        if not isinstance(self.base, nn.Linear):
            raise ValueError(f"cannot merge a LoRA update into a quantized weight ({self.base.scheme.name}): its "
                             "integers cannot hold W0 + B A without rounding the update away. Keep the adapter "
                             "unmerged, or merge into the floating-point model (dequantize_model, or the "
                             "original weights) and quantize afterwards")
        with torch.no_grad():
            self.base.weight += self.delta_weight().to(self.base.weight.dtype)
        self.merged = True

    def unmerge(self) -> None:
        """W0 -= scaling * B A: the base's weight as before merge(), up to the rounding of one addition."""
        if not self.merged:
            return
        with torch.no_grad():
            self.base.weight -= self.delta_weight().to(self.base.weight.dtype)
        self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.settings.r}, scaling={self.scaling:.4g}, merged={self.merged}"


def lora_layers(model: nn.Module) -> dict[str, LoraLinear]:
    """The model's LoraLinear layers by name ('layers.0.attention.wq', ...), in the model's order."""
    return {name: module for name, module in model.named_modules() if isinstance(module, LoraLinear)}


def has_unmerged_lora(model: nn.Module) -> bool:
    """Whether any LoRA update of the model is applied beside its layer rather than merged into the weight."""
    return any(not layer.merged for layer in lora_layers(model).values())


def target_names(model: nn.Module, targets: tuple[str, ...]) -> list[str]:
    """The dotted names of the projections `targets` (Meta's short names) in every block of `model`."""
    return [name for name, _ in model.named_modules() if name.rpartition(".")[2] in targets
            and name.startswith("layers.")]


def add_lora(model: nn.Module, targets=("wq", "wv"), r: int = 8, alpha: float = 16.0, dropout: float = 0.0,
             rslora: bool = False, seed: int | None = None) -> nn.Module:
    """Freeze every weight of `model` and put a fresh LoRA adapter on the projections `targets` of every block
    (Meta's names: wq wk wv wo w1 w2 w3), in place; returns the model, whose only trainable parameters are then
    the adapters' A and B. `seed` draws A reproducibly (None: from torch's global generator)."""
    settings = LoraSettings(r=r, alpha=alpha, dropout=dropout, targets=targets, rslora=rslora)
    if lora_layers(model):
        raise ValueError("the model already has LoRA adapters: unload_lora(model) first, or train the ones it has")
    generator = seeded_generator(seed, next(model.parameters()).device)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for name in target_names(model, settings.targets):
        replace_by_name(model, name, LoraLinear(model.get_submodule(name), settings, generator))
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Add every adapter's update into its layer's weight (W0 + scaling * B A), in place; returns the model.
    Refused, before anything changes, if any adapted layer is quantized."""
    layers = lora_layers(model).values()
    quantized = [layer for layer in layers if not isinstance(layer.base, nn.Linear)]
    if quantized:
        quantized[0].merge()  # raises the error that says why and what to do
    for layer in layers:
        layer.merge()
    return model


def unmerge_lora(model: nn.Module) -> nn.Module:
    """Take every merged update back out of its layer's weight, in place; returns the model."""
    for layer in lora_layers(model).values():
        layer.unmerge()
    return model


def unload_lora(model: nn.Module, merge: bool = True) -> nn.Module:
    """Put each adapted layer's base back in its place, the update merged into it first (merge=True, peft's
    merge_and_unload) or taken out (merge=False, the base as it was); in place, returns the model. The base
    weights stay frozen: requires_grad_(True) to train them."""
    if merge:
        merge_lora(model)
    else:
        unmerge_lora(model)
    for name, layer in lora_layers(model).items():
        replace_by_name(model, name, layer.base)
    return model


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, all) parameter counts, as peft's get_nb_trainable_parameters counts them: a quantized layer
    counts the weights it stands for (in * out, as bitsandbytes' 8-bit parameters count), its scales not."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    total += sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, QUANTIZED_LAYERS))
    return trainable, total


def print_trainable_parameters(model: nn.Module) -> None:
    """Print the counts as peft's print_trainable_parameters does:
    'trainable params: 24,576 || all params: 3,922,368 || trainable%: 0.6266'."""
    trainable, total = trainable_parameters(model)
    print(f"trainable params: {trainable:,d} || all params: {total:,d} || trainable%: {100 * trainable / total:.4f}")


def projection_shapes(args) -> dict[str, tuple[int, int]]:
    """(out_features, in_features) of each of a block's projections, by Meta's names, for a model of shape `args`.

    Example: LLAMA2_70B -> wq (8192, 8192), wk (1024, 8192), ..., w1 (28672, 8192), w2 (8192, 28672).
    """
    kv = args.kv_heads * args.head_dim  # wk's and wv's outputs under grouped-query attention
    return {"wq": (args.dim, args.dim), "wk": (kv, args.dim), "wv": (kv, args.dim), "wo": (args.dim, args.dim),
            "w1": (args.hidden_dim, args.dim), "w2": (args.dim, args.hidden_dim), "w3": (args.hidden_dim, args.dim)}


def lora_parameter_count(args, targets=("wq", "wv"), r: int = 8) -> int:
    """The trainable parameters that add_lora(model, targets, r) gives a model of shape `args` (a ModelArgs),
    counted from the shape alone: each adapted projection (out, in) of each block adds A (r, in) and B (out, r).

    Example: Llama 2 7B (LLAMA2_7B), wq and wv, r=8: 32 blocks x 8 x ((4096 + 4096) + (4096 + 4096)) = 4,194,304.
    """
    settings = LoraSettings(r=r, targets=targets)  # checks r and the names
    shapes = projection_shapes(args)
    return args.n_layers * sum(r * (out_features + in_features)
                               for out_features, in_features in map(shapes.get, settings.targets))
