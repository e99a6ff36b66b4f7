"""The models the suite measures: its sizes, the kit's model of each size, transformers' twin of a model, the LoRA
models of both sides (peft's on the twin), and a random NF4 model built a layer at a time (QLoRA at 7B's shape)."""

from __future__ import annotations

import tempfile
from typing import Iterator

import torch

from ..checkpoint import args_to_hf_config, meta_to_hf_names
from ..checkpoint.adapter import ADAPTER_WEIGHTS, save_adapter
from ..lora import add_lora
from ..model import LLAMA2_7B, LLAMA2_13B, SMALL_50M, TINY, TOY, Llama, ModelArgs, RMSNorm, build_model, init_weights
from ..modules import replace_by_name
from ..nf4 import NF4Linear
from ..quantize import QuantizedLinear, quantize_model

SIZES = {"tiny": TINY, "50m": SMALL_50M, "7b": LLAMA2_7B.with_(max_seq_len=1024),
         "13b": LLAMA2_13B.with_(max_seq_len=1024), "toy": TOY}


def random_model(args: ModelArgs, device: torch.device, dtype: torch.dtype, seed: int = 0) -> Llama:
    """A Llama with model.init_weights's random weights (the same numbers on any device), allocated on `device`
    directly: a 7B model makes no detour through the CPU's memory, only each tensor's draw does."""
    model = build_model(args, device="meta", dtype=dtype).to_empty(device=device)
    init_weights(model, seed=seed)
    model.init_rope(device)  # the rotary tables, in float32, which to_empty left unset
    return model.eval()


def kit_model(size: str, device: torch.device, dtype: torch.dtype) -> tuple[Llama, str]:
    """The model of a size, and where its weights come from."""
    if size == "tiny":
        try:
            from ..world.tiny import load_tiny
            model, _ = load_tiny("base", device=device)
            model.to(dtype).init_rope(device)  # the rotary tables stay in float32
            return model.eval(), "the trained tiny model (data/tiny-base)"
        except (ImportError, FileNotFoundError):
            pass
    return random_model(SIZES[size], device, dtype), "random weights"


def transformers_twin(model: Llama):
    """transformers' LlamaForCausalLM with the same configuration and the same weights as `model`."""
    import transformers

    config = transformers.LlamaConfig(**args_to_hf_config(model.args, model.dtype))
    with torch.device(model.device):
        twin = transformers.LlamaForCausalLM._from_config(config, dtype=model.dtype)
    twin.load_state_dict(meta_to_hf_names(model.state_dict(), model.args))
    twin.generation_config.pad_token_id = 0
    return twin.eval()


LORA_TARGETS = ("wq", "wk", "wv", "wo", "w1", "w2", "w3")  # every projection: peft's q_proj ... up_proj


def lora_models(model: Llama, r: int = 8, alpha: float = 16.0, seed: int = 0, scheme: str | None = None):
    """(the kit's copy of `model` with LoRA adapters on every projection, peft's LoRA on transformers' twin with the
    same adapter weights): llama_lab.lora.add_lora against peft's get_peft_model, rank r, alpha, no dropout. With
    `scheme` (e.g. "nf4": QLoRA) the kit's base is quantized first (quantize.quantize_model) and peft's side is None.

    The adapters travel in peft's own format (checkpoint.save_adapter, read back with peft's
    set_peft_model_state_dict), so both sides hold the same A and B, however the rows of wq and wk are laid out."""
    import peft  # optional, as transformers is: imported when a LoRA row is measured
    from safetensors.torch import load_file

    kit = build_model(model.args, device=model.device, dtype=model.dtype)
    kit.load_state_dict(model.state_dict())
    if scheme is not None:
        return add_lora(quantize_model(kit, scheme), LORA_TARGETS, r=r, alpha=alpha, seed=seed).train(), None
    add_lora(kit, LORA_TARGETS, r=r, alpha=alpha, seed=seed).train()
    config = peft.LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, task_type="CAUSAL_LM",
                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "down_proj",
                                             "up_proj"])
    twin = peft.get_peft_model(transformers_twin(model), config)
    with tempfile.TemporaryDirectory(prefix="llama-lab-lora-") as folder:
        save_adapter(kit, folder)
        state = load_file(f"{folder}/{ADAPTER_WEIGHTS}", device=str(model.device))
    outcome = peft.set_peft_model_state_dict(twin, state)
    if outcome.unexpected_keys or any("lora_" in key for key in outcome.missing_keys):
        raise RuntimeError(f"peft did not take every adapter weight: {outcome}")
    return kit, twin.train()


def random_weight_shapes(args: ModelArgs) -> dict[str, torch.Size]:
    """The names (Meta's) and shapes of a Llama's weights in the order random_weights draws them: every linear
    layer's in the model's order, the embedding's, then the norms'."""
    model = build_model(args, device="meta")  # the names and shapes, without memory
    return {**{f"{name}.weight": m.weight.shape for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)},
            "tok_embeddings.weight": model.tok_embeddings.weight.shape,
            **{f"{name}.weight": m.weight.shape for name, m in model.named_modules() if isinstance(m, RMSNorm)}}


def random_weights(args: ModelArgs, device: torch.device, dtype: torch.dtype = torch.float32, seed: int = 0,
                   std: float = 0.02) -> Iterator[tuple[str, torch.Tensor]]:
    """The weights of a Llama of shape `args` drawn at random one at a time, as (name, tensor) pairs in the order of
    random_weight_shapes: the matrices normal with std 0.02, the norms ones. Each is drawn on `device` in `dtype`
    when asked for, so that a caller that converts and drops each one never holds the model whole
    (random_quantized_model quantizes them; the bench writes them to a GGUF file)."""
    generator = torch.Generator(device=device).manual_seed(seed)
    for name, shape in random_weight_shapes(args).items():
        if len(shape) == 1:
            yield name, torch.ones(shape, device=device, dtype=dtype)
        else:
            yield name, torch.empty(shape, device=device, dtype=dtype).normal_(0, std, generator=generator)


def random_quantized_model(args: ModelArgs, scheme: str, device: torch.device, dtype: torch.dtype = torch.bfloat16,
                           seed: int = 0, std: float = 0.02) -> Llama:
    """A Llama of shape `args` with random weights (random_weights: normal, std 0.02; norms at 1) and every linear
    layer quantized by `scheme` ("nf4", "int8", "int4-g64", ...), built on `device` one layer at a time: each weight
    is drawn there in `dtype` and quantized at once, so that neither the host nor the device ever holds the model in
    floating point (Llama 2 7B's shape: 13 GB in bfloat16, 3.8 GB in NF4). For measuring a real model's size without
    its checkpoint."""
    model = build_model(args, device="meta", dtype=dtype)
    quantized = NF4Linear if scheme.startswith("nf4") else QuantizedLinear
    modules = dict(model.named_modules())
    for key, weight in random_weights(args, device, dtype, seed, std):
        name = key.removesuffix(".weight")
        if isinstance(modules[name], torch.nn.Linear):
            linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False, device="meta", dtype=dtype)
            linear.weight = torch.nn.Parameter(weight, requires_grad=False)
            replace_by_name(model, name, quantized.from_linear(linear, scheme))
        else:  # the embedding, a norm
            modules[name].to_empty(device=device)
            with torch.no_grad():
                modules[name].weight.copy_(weight)
    model.init_rope(device)
    return model


def random_nf4_model(args: ModelArgs, device: torch.device, dtype: torch.dtype = torch.bfloat16, seed: int = 0,
                     std: float = 0.02) -> Llama:
    """`random_quantized_model` in NF4: QLoRA at a real model's size."""
    return random_quantized_model(args, "nf4", device, dtype, seed, std)
