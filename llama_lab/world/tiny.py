"""The kit's own tiny Llama 2: a base model and a chat model trained on the tiny world, small enough for a laptop.

    model, tok = load_tiny("chat")
    chat(model, tok, [{"role": "user", "content": "Where does Tom live?"}])

`make data` builds them (llama_lab/world/build.py): data/tokenizer.model, data/tiny-base/ and data/tiny-chat/,
each with a model card (MODEL_CARD.md) that says how it was trained and how well it does.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import load_model
from ..files import finish_replacing
from ..model import Llama
from ..tokenizer import Tokenizer

DATA = Path(__file__).resolve().parent.parent.parent / "data"
# aligned: `make rlhf`; chat-tr: `make turkish` (the chat model taught to answer in Turkish)
VARIANTS = {"base": "tiny-base", "chat": "tiny-chat", "aligned": "tiny-aligned", "chat-tr": "tiny-chat-tr"}


def tiny_dir(variant: str = "base", data_dir: str | Path = DATA) -> Path:
    if variant not in VARIANTS:
        raise ValueError(f"variant={variant!r}: the tiny models are {sorted(VARIANTS)}")
    return Path(data_dir) / VARIANTS[variant]


def tokenizer_of(folder: str | Path, data_dir: str | Path = DATA) -> Path:
    """The tokenizer a model in `folder` was trained with: the folder's own tokenizer.model where it carries one
    (`make rlhf` ships its models with the tokenizer of the run that made them), else data_dir's."""
    own = Path(folder) / "tokenizer.model"
    return own if own.is_file() else Path(data_dir) / "tokenizer.model"


def load_tiny(variant: str = "base", device=None, data_dir: str | Path = DATA) -> tuple[Llama, Tokenizer]:
    """(model, tokenizer) of the tiny "base", "chat", "aligned" or "chat-tr" model, in float32 and eval mode."""
    folder = tiny_dir(variant, data_dir)
    finish_replacing(data_dir)  # `make rlhf` ships its models together: one stopped mid-way is completed first
    tokenizer_path = tokenizer_of(folder, data_dir)
    missing = [str(p) for p in (folder / "params.json", folder / "model.safetensors", tokenizer_path)
               if not p.is_file()]
    if missing:
        how = {"aligned": "`make rlhf` in the repository root to build it (about 50 minutes on 2 CPU cores)",
               "chat-tr": "`make turkish` in the repository root to build it (about an hour on 2 CPU cores)"}.get(
            variant, "`make data` in the repository root to build it (75 to 95 minutes on a laptop)")
        raise FileNotFoundError(f"the tiny {variant} model is not built: {', '.join(missing)} missing. Run {how}")
    model = load_model(folder, device=device, dtype=torch.float32)
    return model, Tokenizer(tokenizer_path)
