"""Saving a `Llama` as a checkpoint folder in Meta's, Hugging Face's or the kit's format: save_model.

The kit's format is `params.json` + `model.safetensors`, Meta's names and layout in one file; for a quantized
model (`llama_lab.quantize`) the same, with `quantization.json` naming the scheme and, in place of each linear
layer's weight, its integers and scales (`layers.0.attention.wq.qweight`, `....scale`, ...). The files are
switched into the folder whole (`switch.py`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..lora import lora_layers
from ..model import Llama
from ..nf4 import NF4Linear
from ..quantize import QuantizedLinear, quantization_of
from ..tokenizer import Tokenizer
from .hf import write_hf
from .meta import write_meta, write_params
from .read import _as_dtype
from .switch import _save_folder


def _check_saveable(model, saver: str) -> None:
    """Refuse, naming `saver`, anything but the kit's own Llama without LoRA adapters or NF4 layers: a wrapped or
    compiled model (pointing at the model it wraps), another kind of model, a model whose adapters are not folded in,
    an NF4 base."""
    if not isinstance(model, Llama):
        raise TypeError(f"{saver} saves the kit's Llama (llama_lab.model.Llama: from load_model, build_model or "
                        f"training); got {type(model).__module__}.{type(model).__qualname__}"
                        + (": pass the model it wraps, model._orig_mod" if hasattr(model, "_orig_mod") else
                           ": pass the model it wraps, model.module" if isinstance(getattr(model, "module", None),
                                                                                  Llama) else ""))
    if lora_layers(model):
        raise ValueError("the model has LoRA adapters (llama_lab.lora): save the adapters alone with "
                         "save_adapter(model, folder), or fold them in first with unload_lora(model), then save")
    if any(isinstance(m, NF4Linear) for m in model.modules()):
        raise ValueError("the model's layers are NF4 (llama_lab.nf4), which the kit's checkpoints do not hold: save "
                         "the floating-point model before quantizing it, and LoRA adapters with save_adapter")


def _as_tokenizer(tokenizer) -> Tokenizer:
    """A Tokenizer, or the path of a tokenizer.model, as a Tokenizer (or the error that says what it is not)."""
    if isinstance(tokenizer, Tokenizer):
        return tokenizer
    if not isinstance(tokenizer, (str, os.PathLike)):
        raise TypeError(f"tokenizer={tokenizer!r}: give a Tokenizer, or the path of its tokenizer.model")
    return Tokenizer(tokenizer)  # a SentencePiece model, or a FileNotFoundError / ValueError saying not


def save_model(model: Llama, path: str | os.PathLike, format: str = "hf", dtype=None, num_shards: int = 1,
               tokenizer=None) -> Path:
    """Write `model` as a checkpoint directory.

    format="hf": config.json + model.safetensors, loadable by transformers' AutoModelForCausalLM.
    format="meta": params.json + consolidated.00.pth (.. NN with num_shards > 1).
    format="kit": params.json + model.safetensors in Meta's layout; the only format for a quantized model
    (`llama_lab.quantize`), whose integers and scales are saved as they are, with quantization.json beside them.
    With a `tokenizer` (a Tokenizer, or the path of a tokenizer.model), its tokenizer.model is copied beside the
    weights (for "hf", with what transformers needs to tokenize exactly as the kit does, and Llama 2's chat
    template: see hf.write_hf).
    Saving over a folder replaces the files the kit saved there before and leaves every other file alone.
    """
    _check_saveable(model, "save_model")
    if format not in ("hf", "meta", "kit"):
        raise ValueError(f"format={format!r}: use 'hf', 'meta' or 'kit'")
    if not isinstance(num_shards, int) or isinstance(num_shards, bool) or num_shards < 1:
        raise ValueError(f"num_shards={num_shards!r} must be a whole number of at least 1 (Meta's 7B ships 1, "
                         "13B 2, 70B 8)")
    if tokenizer is not None:
        tokenizer = _as_tokenizer(tokenizer)
    dtype = _as_dtype(dtype)
    args = model.args
    scheme = quantization_of(model)
    if scheme is not None and format != "kit":
        raise ValueError(f"a quantized model ({scheme.name}) saves in the kit's format only (format='kit'): Meta's "
                         "and Hugging Face's hold floating-point weights. Save the model before quantizing it")

    def saved(name: str, tensor: torch.Tensor) -> torch.Tensor:  # integers and quantization scales as they are
        keep = scheme is not None and (name.endswith(".scale") or not tensor.is_floating_point())
        return tensor.detach().to("cpu", dtype=tensor.dtype if keep else dtype or tensor.dtype).contiguous()

    state = {k: saved(k, v) for k, v in model.state_dict().items()}

    def write(folder: Path):
        if format == "hf":
            write_hf(folder, args, state, tokenizer)
        elif format == "meta":
            write_meta(folder, args, state, num_shards)
        else:
            write_params(folder, args)
            save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
            if scheme is not None:
                weights = next(m.dtype for m in model.modules() if isinstance(m, QuantizedLinear))
                (folder / "quantization.json").write_text(json.dumps(
                    {"scheme": scheme.name, "dtype": str(dtype or weights).removeprefix("torch.")}, indent=2))
        if tokenizer is not None and format != "hf":
            shutil.copyfile(tokenizer.path, folder / "tokenizer.model")

    return _save_folder(Path(path), "kit-quantized" if scheme is not None else format, write)
