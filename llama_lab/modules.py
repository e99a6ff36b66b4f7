"""Changing a model's parts by the dotted names that `named_modules()` and `named_parameters()` give them.

    replace_by_name(model, "layers.0.attention.wq", QuantizedLinear.from_linear(linear, scheme))
    replace_by_name(model, "layers.0.attention.wq.weight", nn.Parameter(weight))
"""

from __future__ import annotations

from torch import nn


def replace_by_name(model: nn.Module, name: str, value: nn.Module | nn.Parameter) -> None:
    """Put `value` where `model` holds `name`, a dotted name such as 'layers.0.attention.wq' (a submodule) or
    'layers.0.attention.wq.weight' (a parameter): the module that owns the last part gets it in place of the old."""
    owner, _, attribute = name.rpartition(".")
    setattr(model.get_submodule(owner), attribute, value)
