"""Hugging Face's format: `config.json` + `*.safetensors` (or `pytorch_model*.bin`), with its own names and with
wq/wk permuted so that rotary embeddings can rotate halves of each head instead of interleaved pairs. Read into
Meta's names and layout, and written from them so that transformers' AutoModelForCausalLM loads it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..chat import HF_CHAT_TEMPLATE
from ..model import ModelArgs
from ..tokenizer import Tokenizer, write_for_transformers
from .meta import _suffix
from .read import (SUPPORTED, CheckpointError, _checkpoint_files, _copy_out, _in_file, _read_json, _then, read_pth,
                   read_safetensors)


# Hugging Face's names for Meta's, per layer and outside the layers.
HF_LAYER_NAMES = {
    "attention.wq.weight": "self_attn.q_proj.weight", "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight", "attention.wo.weight": "self_attn.o_proj.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight", "feed_forward.w3.weight": "mlp.up_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
    "attention_norm.weight": "input_layernorm.weight", "ffn_norm.weight": "post_attention_layernorm.weight",
}
HF_TOP_NAMES = {"tok_embeddings.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight",
                "output.weight": "lm_head.weight"}


def _hf_ffn_args(dim: int, intermediate_size: int) -> dict:
    """multiple_of / ffn_dim_multiplier that make Meta's hidden-size rule give `intermediate_size`."""
    for multiple_of in (256, 128, 64, 32, 16, 8, 4, 2, 1):
        if ModelArgs(dim=dim, n_heads=1, multiple_of=multiple_of).hidden_dim == intermediate_size:
            return {"multiple_of": multiple_of}
    base = int(2 * (4 * dim) / 3)
    return {"multiple_of": intermediate_size,
            "ffn_dim_multiplier": None if base <= intermediate_size else intermediate_size / base}


def _refuse_other_architectures(config: dict, source: Path) -> None:
    """Refuse a config.json whose fields ask for something Llama 2's architecture does not do, naming the field.

    transformers' LlamaConfig accepts most of these and builds them (biases, another activation, scaled rotary
    embeddings, a head dim of its own); it ignores fields it does not know, so a Mistral config relabelled
    "llama" would run there without its sliding window. The kit implements Llama 2 only: loading any of these
    as Llama 2 would give a different model, silently.
    """
    rope = config.get("rope_parameters") or {}
    sizes = [config.get("hidden_size"), config.get("num_attention_heads") or 1]
    head_dim = sizes[0] // sizes[1] if all(isinstance(n, int) and n > 0 for n in sizes) else None  # else: see below
    checks = [
        ("model_type", config.get("model_type", "llama") == "llama", "another architecture"),
        ("architectures", set(config.get("architectures") or []) <= {"LlamaForCausalLM", "LlamaModel"},
         "another architecture"),
        ("hidden_act", config.get("hidden_act", "silu") in ("silu", "swish"), "the feed-forward's gate is SiLU"),
        ("attention_bias", not config.get("attention_bias"), "Llama 2's attention projections have no bias"),
        ("mlp_bias", not config.get("mlp_bias"), "Llama 2's feed-forward has no bias"),
        ("rope_scaling", config.get("rope_scaling") is None, "Llama 2's rotary embeddings are not scaled"),
        ("rope_parameters", rope.get("rope_type", "default") == "default", "Llama 2's rotary embeddings are not "
                                                                            "scaled"),
        ("sliding_window", config.get("sliding_window") is None, "Llama 2 attends to the whole context"),
        ("head_dim", head_dim is None or config.get("head_dim", head_dim) == head_dim,
         "Llama 2's head dim is hidden_size / num_attention_heads"),
        ("quantization_config", config.get("quantization_config") is None,
         f"the weights are quantized; the kit reads floating-point weights ({SUPPORTED})"),
    ]
    for field, fits, why in checks:
        if not fits:
            raise CheckpointError(f"{source}: {field}={config[field]!r} is not Llama 2's architecture ({why}), "
                                  "which is all the kit implements: load this model with transformers instead")


def hf_config_to_args(config: dict, source: Path) -> ModelArgs:
    """ModelArgs from a config.json; fields it leaves out take transformers' LlamaConfig defaults."""
    _refuse_other_architectures(config, source)
    try:
        rope = config.get("rope_parameters") or {}
        dim, hidden = config["hidden_size"], config["intermediate_size"]
        if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden <= 0:
            raise ValueError(f"intermediate_size={hidden!r} must be a positive whole number")
        return ModelArgs(
            dim=dim, n_layers=config["num_hidden_layers"], n_heads=config["num_attention_heads"],
            n_kv_heads=config.get("num_key_value_heads"), vocab_size=config["vocab_size"],
            norm_eps=config.get("rms_norm_eps", 1e-6),
            rope_theta=config.get("rope_theta", rope.get("rope_theta", 10000.0)),
            max_seq_len=config.get("max_position_embeddings", 2048),
            **_hf_ffn_args(dim, hidden))
    except KeyError as error:
        raise CheckpointError(f"{source}: config.json lacks {error}, which a Llama config must have") from error
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{source}: {error}") from error


def args_to_hf_config(args: ModelArgs, dtype: torch.dtype) -> dict:
    """The config.json of transformers' LlamaForCausalLM for `args`, its weights stored in `dtype`."""
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": args.dim, "intermediate_size": args.hidden_dim, "num_hidden_layers": args.n_layers,
        "num_attention_heads": args.n_heads, "num_key_value_heads": args.kv_heads, "head_dim": args.head_dim,
        "vocab_size": args.vocab_size, "rms_norm_eps": args.norm_eps, "rope_theta": args.rope_theta,
        "max_position_embeddings": args.max_seq_len, "hidden_act": "silu", "tie_word_embeddings": False,
        "attention_bias": False, "mlp_bias": False, "bos_token_id": 1, "eos_token_id": 2,
        "torch_dtype": str(dtype).removeprefix("torch."),
    }


def _rotary_permute(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Meta -> HF: within each head, move the interleaved pairs (0,1),(2,3).. to halves (0,hd/2),(1,hd/2+1).."""
    rows, cols = w.shape
    return w.view(n_heads, rows // n_heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def _rotary_unpermute(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """HF -> Meta: the inverse of _rotary_permute, done in place a head at a time, so that memory never holds a
    second copy of the matrix (a w still in its file is copied out of it first)."""
    w = _copy_out(w) if _in_file(w) else w
    rows, cols = w.shape
    for head in w.view(n_heads, rows // n_heads, cols):  # (head_dim, cols) each
        # (2, head_dim/2, cols) halves -> (head_dim/2, 2, cols) pairs: contiguous() is a copy of this head alone
        head.copy_(head.view(2, -1, cols).transpose(0, 1).contiguous().view(-1, cols))
    return w


_META_LAYER_NAMES = {hf: meta for meta, hf in HF_LAYER_NAMES.items()}
_META_TOP_NAMES = {hf: meta for meta, hf in HF_TOP_NAMES.items()}


def _meta_name(hf_name: str) -> str:
    """'model.layers.3.self_attn.q_proj.weight' -> 'layers.3.attention.wq.weight'; names it does not know stay."""
    layer = re.fullmatch(r"model\.layers\.(\d+)\.(.+)", hf_name)
    if layer and layer[2] in _META_LAYER_NAMES:
        return f"layers.{layer[1]}.{_META_LAYER_NAMES[layer[2]]}"
    return _META_TOP_NAMES.get(hf_name, hf_name)


def hf_to_meta_names(state: dict[str, torch.Tensor], args: ModelArgs, tied: bool = False) -> dict[str, torch.Tensor]:
    """Meta's names and rotary layout; tied=True (config.json's tie_word_embeddings) fills in a missing output head
    with the embedding, as transformers does."""
    out = {}
    for key, tensor in state.items():
        if key.endswith("rotary_emb.inv_freq"):
            continue  # older checkpoints store the rotary frequencies; we recompute them
        name = _meta_name(key)
        if name.endswith("attention.wq.weight") and len(tensor.shape) == 2:
            tensor = _then(tensor, lambda w: _rotary_unpermute(w, args.n_heads))
        elif name.endswith("attention.wk.weight") and len(tensor.shape) == 2:
            tensor = _then(tensor, lambda w: _rotary_unpermute(w, args.kv_heads))
        out[name] = tensor
    if tied and "output.weight" not in out and "tok_embeddings.weight" in out:  # the kit's two are not tied
        out["output.weight"] = _then(out["tok_embeddings.weight"], torch.clone)  # (the head is laid out in place)
    return out


def meta_to_hf_names(state: dict[str, torch.Tensor], args: ModelArgs) -> dict[str, torch.Tensor]:
    """Hugging Face's names and rotary layout: the inverse of hf_to_meta_names."""
    out = {}
    for key, tensor in state.items():
        suffix = _suffix(key)
        if key in HF_TOP_NAMES:
            name = HF_TOP_NAMES[key]
        else:
            name = f"model.layers.{key.split('.')[1]}.{HF_LAYER_NAMES[suffix]}"
        if suffix == "attention.wq.weight":
            tensor = _rotary_permute(tensor, args.n_heads)
        elif suffix == "attention.wk.weight":
            tensor = _rotary_permute(tensor, args.kv_heads)
        out[name] = tensor.contiguous()
    return out


def _load_hf(path: Path) -> tuple[ModelArgs, dict[str, torch.Tensor]]:
    config = _read_json(path / "config.json")
    args = hf_config_to_args(config, path / "config.json")
    files = _checkpoint_files(path, "*.safetensors", "pytorch_model*.bin")
    state: dict[str, torch.Tensor] = {}
    for file in files:
        part = read_safetensors(file) if file.suffix == ".safetensors" else read_pth(file)
        clash = set(part) & set(state)
        if clash:
            raise CheckpointError(f"{file}: shards disagree: {sorted(clash)[:5]} also appear in another file")
        state.update(part)
    return args, hf_to_meta_names(state, args, tied=bool(config.get("tie_word_embeddings")))


def write_hf(folder: Path, args: ModelArgs, state: dict[str, torch.Tensor], tokenizer: Tokenizer | None) -> None:
    """Write a checkpoint in Hugging Face's format into `folder`: config.json, generation_config.json and
    model.safetensors, which transformers' AutoModelForCausalLM loads; with a `tokenizer`, what transformers needs
    to tokenize exactly as the kit does (tokenizer.write_for_transformers) and Llama 2's chat template, which gives
    encode_dialog's ids from `AutoTokenizer.from_pretrained(folder, split_special_tokens=False)
    .apply_chat_template(dialog)` (chat.HF_CHAT_TEMPLATE)."""
    (folder / "config.json").write_text(json.dumps(args_to_hf_config(args, state["tok_embeddings.weight"].dtype),
                                                   indent=2))
    (folder / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 2}))
    save_file(meta_to_hf_names(state, args), folder / "model.safetensors", metadata={"format": "pt"})
    if tokenizer is not None:
        write_for_transformers(tokenizer, folder, args.max_seq_len)
        tokenizer_config = folder / "tokenizer_config.json"  # and Llama 2's chat format, for apply_chat_template
        tokenizer_config.write_text(json.dumps(
            {**json.loads(tokenizer_config.read_text()), "chat_template": HF_CHAT_TEMPLATE}, indent=2))
