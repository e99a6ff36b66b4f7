"""The models the suite measures: its sizes, the kit's model of each size, and transformers' twin of a model."""

from __future__ import annotations

import torch

from ..checkpoint import args_to_hf_config, meta_to_hf_names
from ..model import LLAMA2_7B, TINY, Llama, ModelArgs, build_model, init_weights

# About 50M parameters with Llama 2's 32000-token vocabulary: the output head alone is 16M of them.
SMALL_50M = ModelArgs(dim=512, n_layers=6, n_heads=8, vocab_size=32000, max_seq_len=1024)
# Small enough for a test to run the whole suite in seconds.
TOY = ModelArgs(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=512, multiple_of=32, max_seq_len=128)
SIZES = {"tiny": TINY, "50m": SMALL_50M, "7b": LLAMA2_7B.with_(max_seq_len=1024), "toy": TOY}


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
