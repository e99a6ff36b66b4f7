"""Which model the course runs on: the kit's tiny Llama by default, real Llama 2 weights when you have them.

llama_lab/course/ holds the notebooks' helpers, a layer on the engine (llama_lab/) and the tiny world
(llama_lab/world/): lessons, family, safety, probes, toxicity, viz, widgets; this module is the model switch.

Every notebook starts from `choose_model()`, so environment variables switch the whole course:

    export LLAMA2_BASE_DIR=/path/to/llama-2-7b         # the pretrained model (Meta's download or Hugging Face's)
    export LLAMA2_CHAT_DIR=/path/to/llama-2-7b-chat    # the chat model
    jupyter lab notebooks/

The paper's central contrast is base against chat, so each has its own setting; LLAMA2_DIR, the older single
setting, serves whichever of the two is not set (then a base-versus-chat cell compares a model with itself, and
its description says so).

Llama 2's own tokenizer alone (for the notebooks that compare tokenizers) is found through LLAMA2_TOKENIZER, the
path of its tokenizer.model, or beside the weights of any of the three settings.

Without any of them the notebooks use the tiny model that ships with the kit (`llama_lab.world.tiny.load_tiny`), which
runs anywhere in seconds. With it, the weights are loaded onto a GPU when there is one (in bf16), else the CPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..checkpoint import load_model
from ..tokenizer import Tokenizer
from ..world.tiny import load_tiny


def describe(model, name: str) -> str:
    """One line about a model: its name, size, shape and where it runs."""
    args = model.args
    return (f"{name}: {model.num_parameters():,} parameters, {args.n_layers} layers, dim {args.dim}, "
            f"{args.n_heads} heads ({args.kv_heads} KV), context {args.max_seq_len}, "
            f"{str(model.dtype).removeprefix('torch.')} on {model.device.type}")


def _beside_weights(directory: Path) -> list[Path]:
    # Hugging Face directories hold tokenizer.model; Meta's download keeps it one level up, beside llama-2-7b/
    return [directory / "tokenizer.model", directory.parent / "tokenizer.model"]


def _llama2_tokenizer(directory: Path, setting: str) -> Tokenizer:
    for candidate in _beside_weights(directory):
        if candidate.is_file():
            return Tokenizer(candidate)
    raise FileNotFoundError(f"{setting}={directory} has weights but no tokenizer.model, neither in it nor in "
                            f"{directory.parent}: copy Llama 2's tokenizer.model into {directory}")


def llama2_tokenizer_path() -> Path | None:
    """Where this machine keeps Llama 2's own tokenizer.model, or None.

    Only where the user says: the file in $LLAMA2_TOKENIZER, else the one beside the weights of $LLAMA2_DIR,
    $LLAMA2_BASE_DIR or $LLAMA2_CHAT_DIR.
    The kit never ships Llama 2's tokenizer (it comes with Meta's gated download), so without either setting the
    course compares with nothing and says so.
    """
    candidates = []
    if os.environ.get("LLAMA2_TOKENIZER"):
        candidates.append(Path(os.environ["LLAMA2_TOKENIZER"]).expanduser())
    for setting in WEIGHT_SETTINGS:
        if os.environ.get(setting):
            candidates += _beside_weights(Path(os.environ[setting]).expanduser())
    return next((path for path in candidates if path.is_file()), None)


def find_llama2_tokenizer() -> Tokenizer | None:
    """Llama 2's own tokenizer when this machine has it (see `llama2_tokenizer_path`), else None."""
    path = llama2_tokenizer_path()
    return Tokenizer(path) if path is not None else None


WEIGHT_SETTINGS = ("LLAMA2_DIR", "LLAMA2_BASE_DIR", "LLAMA2_CHAT_DIR")


def llama2_weights_setting(variant: str) -> str | None:
    """The environment variable that names real weights for `variant` ("base" or "chat"), or None for the tiny
    model: LLAMA2_BASE_DIR or LLAMA2_CHAT_DIR when set, else LLAMA2_DIR, which serves both."""
    if variant not in ("base", "chat"):
        raise ValueError(f"variant={variant!r}: the course has a 'base' and a 'chat' model")
    own = f"LLAMA2_{variant.upper()}_DIR"
    return next((s for s in (own, "LLAMA2_DIR") if os.environ.get(s)), None)


def choose_model(variant: str = "base", device: str | None = None):
    """(model, tokenizer, description) for the course.

    With real weights named for `variant` ("base": LLAMA2_BASE_DIR, "chat": LLAMA2_CHAT_DIR, either: LLAMA2_DIR;
    see `llama2_weights_setting`): that Llama 2 checkpoint, on `device` or else on the GPU if there is one.
    Otherwise: the kit's tiny model, `variant` "base" or "chat", on `device` or else the CPU. The description
    says which checkpoint ran and through which setting. The environment variable LLAMA_LAB_DEVICE ("cuda",
    "cpu", ...) chooses the device for every notebook at once when `device` is not given.
    """
    device = device or os.environ.get("LLAMA_LAB_DEVICE") or None
    setting = llama2_weights_setting(variant)
    if setting:
        llama2_dir = os.environ[setting]
        directory = Path(llama2_dir).expanduser()
        if not directory.is_dir():
            raise FileNotFoundError(f"{setting}={llama2_dir} is not a directory: point it at a Llama 2 "
                                    "checkpoint (Meta's or Hugging Face's), or unset it to use the tiny model")
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if device != "cpu" else None  # on the CPU keep the checkpoint's own dtype
        model = load_model(directory, device=device, dtype=dtype)
        tokenizer = _llama2_tokenizer(directory, setting)
        shared = " (serves base and chat alike)" if setting == "LLAMA2_DIR" else ""
        return model, tokenizer, describe(model, f"Llama 2 {variant} from {directory} (${setting}{shared})")
    model, tokenizer = load_tiny(variant, device=device)
    return model, tokenizer, describe(model, f"the kit's tiny model ({variant})")


def choose_base_and_chat(device: str | None = None):
    """(base model, chat model, tokenizer, base description, chat description) for the notebooks that compare the
    two. When one checkpoint serves both (LLAMA2_DIR alone), it is loaded once and both descriptions say so."""
    base, tokenizer, base_description = choose_model("base", device)
    if llama2_weights_setting("base") == llama2_weights_setting("chat") == "LLAMA2_DIR":
        return base, base, tokenizer, base_description, base_description
    chat, _, chat_description = choose_model("chat", device)
    return base, chat, tokenizer, base_description, chat_description
