"""LoRA adapters in Hugging Face peft's format: `adapter_config.json` + `adapter_model.safetensors`.

peft names each matrix after the module of transformers' LlamaForCausalLM it adapts, wrapped twice (its PeftModel
holds the model as `base_model.model`):

    layers.0.attention.wq  A, B  <->  base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight, ...lora_B.weight

Hugging Face's wq and wk have their rows permuted (hf.py: rotary embeddings rotate halves of each head there, not
interleaved pairs). W0 + s B A has the rows of B, so a B of wq or wk is permuted as the weight's rows are, and A,
which works on the inputs, stays as it is. Then peft's model with the saved adapter computes what the kit's does.

    save_adapter(model, "my-adapter")      # the model's LoRA adapters (llama_lab.lora), atomically
    load_adapter(model, "my-adapter")      # an adapter the kit or peft saved, onto a model without one
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from ..lora import TARGETS, LoraLinear, LoraSettings, lora_layers
from ..model import Llama
from ..modules import replace_by_name
from .hf import HF_LAYER_NAMES, _rotary_permute, _rotary_unpermute
from .read import CheckpointError, _read_json, _record, read_safetensors
from .switch import _finish_switch, _locked, _save_folder

ADAPTER_CONFIG, ADAPTER_WEIGHTS = "adapter_config.json", "adapter_model.safetensors"
PEFT_PREFIX = "base_model.model.model.layers."

# Hugging Face's module names for Meta's projections: "wq" -> "self_attn.q_proj", "w1" -> "mlp.gate_proj", ...
HF_MODULES = {meta.removesuffix(".weight").split(".")[-1]: (meta.removesuffix(".weight"), hf.removesuffix(".weight"))
              for meta, hf in HF_LAYER_NAMES.items() if meta.removesuffix(".weight").split(".")[-1] in TARGETS}
_META_MODULES = {hf: meta for meta, hf in HF_MODULES.values()}  # "self_attn.q_proj" -> "attention.wq"

# Settings of peft's LoraConfig that change what an adapter computes, with the value under which the kit's plain
# LoRA is what they compute; an adapter with any other value is refused.
PLAIN_LORA = {"bias": "none", "lora_bias": False, "use_dora": False, "fan_in_fan_out": False, "modules_to_save": None,
              "rank_pattern": {}, "alpha_pattern": {}, "layer_replication": None, "target_parameters": None,
              "trainable_token_indices": None, "use_qalora": False, "alora_invocation_tokens": None}
# Initialisations that also rewrite the base weights (the adapter holds only what was taken out of them): such an
# adapter computes its model only on top of its own changed base, never on the original weights.
BASE_CHANGING_INITS = ("pissa", "olora", "corda", "loftq")


def _peft_key(name: str, matrix: str) -> str:
    """'layers.3.attention.wq', 'A' -> 'base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight'."""
    _, layer, _, short = name.split(".")
    return f"{PEFT_PREFIX}{layer}.{HF_MODULES[short][1]}.lora_{matrix}.weight"


def _rotary(short: str, model: Llama, B: torch.Tensor, change) -> torch.Tensor:
    """B with its rows in the other layout (change: _rotary_permute or _rotary_unpermute) for wq and wk."""
    heads = {"wq": model.args.n_heads, "wk": model.args.kv_heads}.get(short)
    return B if heads is None else change(B, heads)


def adapter_config(settings: LoraSettings) -> dict:
    """peft's adapter_config.json for an adapter with these settings on transformers' LlamaForCausalLM."""
    return {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": None, "inference_mode": True,
            "r": settings.r, "lora_alpha": settings.alpha, "lora_dropout": settings.dropout,
            "use_rslora": settings.rslora, "target_modules": [HF_MODULES[t][1].split(".")[1] for t in settings.targets],
            "init_lora_weights": True, "layers_to_transform": None, "layers_pattern": None, **PLAIN_LORA}


def save_adapter(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write the LoRA adapters of `model` (the kit's Llama with llama_lab.lora's layers) into the folder `path` in
    peft's format, which `PeftModel.from_pretrained(hf_model, path)` loads onto the model saved with
    save_model(model, ..., format="hf"). Atomic, as save_model: killed at any point, the folder holds the old
    adapter or the new one, and no other file in it is touched. Returns the path."""
    path = Path(path)
    layers = lora_layers(model)
    if not isinstance(model, Llama) or not layers:
        raise ValueError("save_adapter saves the LoRA adapters of the kit's Llama: this model has none (add them "
                         "with llama_lab.lora.add_lora, or load them with load_adapter)")
    settings = {layer.settings for layer in layers.values()}
    if len(settings) > 1:
        raise ValueError(f"the model's adapters have different settings ({sorted(map(str, settings))}): peft's "
                         "format holds one rank, alpha and dropout for all")
    if _record(path) is not None:
        raise FileExistsError(f"{path} holds a model checkpoint the kit saved: save the adapter in a folder of its "
                              "own (peft loads an adapter from its own folder too)")
    state = {}
    for name, layer in layers.items():
        short = name.rpartition(".")[2]
        state[_peft_key(name, "A")] = layer.lora_A.detach().cpu().contiguous()
        B = _rotary(short, model, layer.lora_B.detach().cpu(), _rotary_permute)
        state[_peft_key(name, "B")] = B.contiguous()
    config = adapter_config(settings.pop())

    def write(folder: Path):
        (folder / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2))
        save_file(state, folder / ADAPTER_WEIGHTS, metadata={"format": "pt"})

    return _save_folder(path, "lora-adapter", write)


def _settings_from(config: dict, where: Path) -> LoraSettings:
    """The kit's LoraSettings for a peft adapter_config.json, or a CheckpointError naming the field that the kit's
    plain LoRA cannot follow."""
    if config.get("peft_type") != "LORA":
        raise CheckpointError(f"{where}: peft_type={config.get('peft_type')!r}: the kit loads LoRA adapters "
                              "(peft_type 'LORA') only")
    for field, plain in PLAIN_LORA.items():
        value = config.get(field, plain)
        if value != plain and (value or plain):  # None, {}, [] and False all say "not used"
            raise CheckpointError(f"{where}: {field}={config[field]!r} asks for more than plain LoRA (the kit's "
                                  f"is {field}={plain!r}): load this adapter with peft instead")
    init = config.get("init_lora_weights", True)
    if isinstance(init, str) and init.lower().startswith(BASE_CHANGING_INITS):
        raise CheckpointError(f"{where}: init_lora_weights={init!r} changed the base weights when the adapter was made,"
                              " so it does not apply to the original model: convert it to plain LoRA with peft first "
                              "(save_pretrained's path_initial_model_for_weight_conversion)")
    try:
        return LoraSettings(r=config["r"], alpha=config["lora_alpha"], dropout=config.get("lora_dropout", 0.0),
                            targets=TARGETS, rslora=bool(config.get("use_rslora", False)))
    except KeyError as error:
        raise CheckpointError(f"{where}: lacks {error}, which a LoRA adapter's config must have") from error
    except ValueError as error:
        raise CheckpointError(f"{where}: {error}") from error


def load_adapter(model: Llama, path: str | os.PathLike) -> Llama:
    """Put the LoRA adapter saved in the folder `path` (by save_adapter, or by peft's save_pretrained for a
    LlamaForCausalLM) onto `model`, the kit's Llama it was trained on, in place; returns the model, its base
    weights frozen and the adapter trainable. Anything wrong (a missing file, a setting the kit does not follow,
    a name or shape that does not fit the model) raises CheckpointError naming it, and leaves the model as it was.
    """
    path = Path(path)
    if not isinstance(model, Llama):
        raise TypeError(f"load_adapter puts an adapter on the kit's Llama; got {type(model).__qualname__}")
    if lora_layers(model):
        raise ValueError("the model already has LoRA adapters: unload_lora(model) first (merge=False for the base "
                         "as it was), then load")
    if not (path / ADAPTER_CONFIG).is_file() or not (path / ADAPTER_WEIGHTS).is_file():
        raise CheckpointError(f"{path}: not an adapter folder: expected {ADAPTER_CONFIG} and {ADAPTER_WEIGHTS} "
                              "(what save_adapter and peft's save_pretrained write)")
    with _locked(path, saving=False):
        _finish_switch(path)
        settings = _settings_from(_read_json(path / ADAPTER_CONFIG), path / ADAPTER_CONFIG)
        tensors = read_safetensors(path / ADAPTER_WEIGHTS)
        layers = _adapted_layers(model, tensors, settings, path / ADAPTER_WEIGHTS)
    targets = tuple(t for t in TARGETS if any(name.endswith("." + t) for name in layers))
    settings = LoraSettings(settings.r, settings.alpha, settings.dropout, targets, settings.rslora)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for name, (A, B) in layers.items():
        layer = LoraLinear(model.get_submodule(name), settings)
        with torch.no_grad():
            layer.lora_A.copy_(A)
            layer.lora_B.copy_(B)
        replace_by_name(model, name, layer)
    return model


def _adapted_layers(model: Llama, tensors: dict, settings: LoraSettings, where: Path) -> dict:
    """{'layers.0.attention.wq': (A, B)} in the kit's layout and the model's dtype, every name and shape checked
    against the model before any is read."""
    pattern = re.compile(re.escape(PEFT_PREFIX) + r"(\d+)\.(\w+\.\w+)\.lora_([AB])\.weight")
    found: dict[str, dict[str, object]] = {}
    for key, tensor in tensors.items():
        match = pattern.fullmatch(key)
        if not match or match[2] not in _META_MODULES or int(match[1]) >= model.args.n_layers:
            raise CheckpointError(f"{where}: {key!r} is not a LoRA matrix of one of this model's {model.args.n_layers}"
                                  f" blocks' projections (base_model.model.model.layers.N.self_attn.q_proj.lora_A."
                                  "weight, ...): the adapter is for another model, or is not plain LoRA")
        found.setdefault(f"layers.{int(match[1])}.{_META_MODULES[match[2]]}", {})[match[3]] = tensor
    if not found:
        raise CheckpointError(f"{where}: holds no LoRA matrices")
    for name, pair in found.items():
        if set(pair) != {"A", "B"}:
            raise CheckpointError(f"{where}: {name} (peft's {_peft_key(name, 'A').removesuffix('.lora_A.weight')}) "
                                  f"has lora_{''.join(pair)} but not lora_{'B' if 'A' in pair else 'A'}")
        base = model.get_submodule(name)
        expected = {"A": (settings.r, base.in_features), "B": (base.out_features, settings.r)}
        for matrix, shape in expected.items():
            if tuple(pair[matrix].shape) != shape:
                raise CheckpointError(f"{where}: {_peft_key(name, matrix)} has shape {tuple(pair[matrix].shape)}, "
                                      f"where this model and r={settings.r} need {shape}: the adapter was made for "
                                      "another model or with another rank")
    dtype = next(model.parameters()).dtype
    layers = {}
    for name, pair in found.items():
        A, B = (pair[m].read().to(dtype=dtype, copy=True) for m in "AB")  # our own memory, not the file's
        layers[name] = (A, _rotary(name.rpartition(".")[2], model, B, _rotary_unpermute))
    return layers
