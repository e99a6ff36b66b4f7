"""The training state on disk: `checkpoint.pt` written whole or not at all, and read back for --resume only when
it is this run's (the same settings, the same data)."""

from __future__ import annotations

import json
import pickle
import zipfile
from dataclasses import fields
from pathlib import Path

import torch

from ..checkpoint import CheckpointError
from ..files import replacing
from ..lora import lora_layers
from ..model import Llama
from .config import TrainConfig

CHECKPOINT = "checkpoint.pt"


def rng_states() -> dict[str, torch.Tensor]:
    states = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states.update({f"cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return states


def set_rng_states(states: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(states["torch"])
    cuda = [states[k] for k in sorted(states) if k.startswith("cuda")]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def trained_weights(model: Llama) -> dict[str, torch.Tensor]:
    """The weights a checkpoint keeps: all of the model's, or with LoRA the adapters' alone. The frozen base is
    --init's, made again the same way on --resume: a 7B's 13 GB need not be written at every save."""
    state = model.state_dict()
    if lora_layers(model):
        trainable = {name for name, p in model.named_parameters() if p.requires_grad}
        state = {name: tensor for name, tensor in state.items() if name in trainable}
    return {name: tensor.detach().cpu() for name, tensor in state.items()}


def load_trained_weights(model: Llama, weights: dict[str, torch.Tensor]) -> None:
    """Put a checkpoint's weights (trained_weights) back into the model built for the run; a KeyError or
    RuntimeError if they are not the weights that model trains."""
    expected = set(trained_weights(model)) if lora_layers(model) else set(model.state_dict())
    if set(weights) != expected:
        unexpected, missing = sorted(set(weights) - expected), sorted(expected - set(weights))
        raise KeyError(f"the checkpoint's weights are not this model's (unexpected: {unexpected[:2]}, missing: "
                       f"{missing[:2]})")
    model.load_state_dict(weights, strict=not lora_layers(model))


def save_checkpoint(path: Path, model: Llama, optimizer, step: int, cfg: TrainConfig, history: dict,
                    data_info: dict) -> None:
    """Write the training state as tensors and plain values, to a temporary file renamed into place (replacing):
    a crash while writing leaves the previous checkpoint whole."""
    state = {
        "model": trained_weights(model),
        "optimizer": optimizer.state_dict(),
        "step": step,  # steps completed: the next one to run
        "config": json.dumps(cfg.numerics()),
        "model_args": json.dumps(model.args.to_dict()),
        "data": json.dumps(data_info),
        "history": json.dumps(history),
        "rng": rng_states(),
    }
    try:
        with replacing(path) as tmp:
            torch.save(state, tmp)
    except (OSError, RuntimeError) as error:  # torch.save says a failed write (a full disk) as a RuntimeError
        why = error.strerror if isinstance(error, OSError) else f"the write failed ({str(error).splitlines()[0]})"
        earlier = (f"the previous checkpoint {path.name} there is intact (--resume continues from it)"
                   if path.is_file() else "there was no earlier checkpoint")
        raise CheckpointError(f"could not write the checkpoint into {path.parent}: {why}; {earlier}. Free some "
                              "space on the disk, or give another --out") from None


def load_checkpoint(path: Path, cfg: TrainConfig, data_info: dict) -> dict:
    """Read a training state for --resume, refusing anything that is not this run's, without touching it."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint to resume from. Leave out --resume to start afresh, "
                              "or point --out at the run's directory")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(f"{path}: refused: it holds objects other than tensors and plain values "
                              f"({error})") from error
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise CheckpointError(f"{path}: truncated or corrupt ({type(error).__name__}: {error}). Delete it to "
                              "start afresh, or restore it from a copy") from error
    needed = {"model", "optimizer", "step", "config", "model_args", "data", "history", "rng"}
    if not isinstance(state, dict) or not needed <= set(state):
        raise CheckpointError(f"{path}: not a llama_lab training checkpoint (expected the entries "
                              f"{sorted(needed)})")
    saved, now = json.loads(state["config"]), cfg.numerics()
    # a setting newer than the checkpoint was, when it was written, at its default (fine-tuning's method: full)
    saved = {**{f.name: f.default for f in fields(TrainConfig) if f.name not in saved}, **saved}
    changed = {k: (saved.get(k), now[k]) for k in now if saved.get(k) != now[k]}
    if changed:
        details = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in changed.items())
        raise CheckpointError(f"{path}: this checkpoint belongs to a different run ({details}). Resume with the "
                              "same settings, or write the new run to another --out")
    saved_data = json.loads(state["data"])
    if saved_data != data_info:
        raise CheckpointError(f"{path}: the training data changed since this checkpoint "
                              f"({saved_data} vs {data_info}); resuming would not continue the same run")
    return state
