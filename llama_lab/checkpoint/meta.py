"""Meta's format: `params.json` + `consolidated.00.pth` (.. `consolidated.NN.pth` for model-parallel shards: 13B
ships 2, 70B 8). Each shard holds a slice of every split weight; `MERGE_DIM` says along which dimension.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from ..model import ModelArgs
from .read import CheckpointError, _checkpoint_files, _let_go, _read_json, read_pth


# Meta's model-parallel layout: column-parallel weights are split along dim 0 (their output features),
# row-parallel ones along dim 1 (input features), the embedding along its feature dim; norms are replicated.
MERGE_DIM = {
    "tok_embeddings.weight": 1, "output.weight": 0,
    "attention.wq.weight": 0, "attention.wk.weight": 0, "attention.wv.weight": 0, "attention.wo.weight": 1,
    "feed_forward.w1.weight": 0, "feed_forward.w3.weight": 0, "feed_forward.w2.weight": 1,
    "attention_norm.weight": None, "ffn_norm.weight": None, "norm.weight": None,
}


def _suffix(name: str) -> str:
    """'layers.3.attention.wq.weight' -> 'attention.wq.weight'."""
    return re.sub(r"^layers\.\d+\.", "", name)


def _meta_args(params: dict, state: dict[str, torch.Tensor], source: Path) -> ModelArgs:
    """ModelArgs from a params.json (Meta's, or the kit's: the same fields), its vocab_size of -1 read off the
    embedding in `state`; a CheckpointError naming `source` if ModelArgs refuses a field."""
    overrides = {}
    vocab_size = params.get("vocab_size", -1)
    # Meta's params.json says -1: the tokenizer decides (a vocab_size of another type is ModelArgs' to refuse)
    if isinstance(vocab_size, int) and not isinstance(vocab_size, bool) and vocab_size <= 0:
        overrides["vocab_size"] = state["tok_embeddings.weight"].shape[0]
    try:
        return ModelArgs.from_dict(params, **overrides)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{source}: {error}") from error


def merge_meta_shards(shards: list[dict[str, torch.Tensor]], files: list[Path]) -> dict[str, torch.Tensor]:
    """Concatenate model-parallel shards along each weight's split dimension; replicated norms must agree."""
    keys = [k for k in shards[0] if k != "rope.freqs"]
    for shard, file in zip(shards[1:], files[1:]):
        if set(shard) - {"rope.freqs"} != set(keys):
            raise CheckpointError(f"{file}: shards disagree: its tensors differ from {files[0].name}'s "
                                  f"({sorted(set(shard) ^ set(keys))[:6]})")
    merged = {}
    for key in keys:
        if _suffix(key) not in MERGE_DIM:
            merged[key] = shards[0][key]  # reported as unexpected by the state-dict check
            continue
        dim = MERGE_DIM[_suffix(key)]
        pieces = [shard.pop(key) for shard in shards]  # let each piece go once merged: one copy in memory
        if dim is None:
            for piece, file in zip(pieces[1:], files[1:]):
                if piece.shape != pieces[0].shape or not torch.equal(piece, pieces[0]):
                    raise CheckpointError(f"{file}: shards disagree on the replicated tensor {key}")
            merged[key] = pieces[0]
        else:
            other = [d for d in range(pieces[0].dim()) if d != dim]
            if any([p.shape[d] for d in other] != [pieces[0].shape[d] for d in other] for p in pieces):
                raise CheckpointError(f"shards disagree on the shape of {key}: "
                                      f"{[tuple(p.shape) for p in pieces]} cannot be joined along dim {dim}")
            merged[key] = torch.cat(pieces, dim=dim) if len(pieces) > 1 else pieces[0]
            if len(pieces) > 1:
                for piece in pieces:
                    _let_go(piece)
    return merged


def _load_meta(path: Path) -> tuple[ModelArgs, dict[str, torch.Tensor]]:
    files = _checkpoint_files(path, "consolidated.*.pth")
    numbers = [int(f.name.split(".")[1]) for f in files]
    if numbers != list(range(len(files))):
        raise CheckpointError(f"{path}: shard files {[f.name for f in files]} are not numbered 00..NN "
                              "without gaps: a shard is missing")
    params = _read_json(path / "params.json")
    shards = [read_pth(f) for f in files]
    state = merge_meta_shards(shards, files)
    return _meta_args(params, state, path / "params.json"), state


def split_meta_shards(state: dict[str, torch.Tensor], num_shards: int) -> list[dict[str, torch.Tensor]]:
    """The inverse of merge_meta_shards: cut each split weight into `num_shards` equal slices."""
    shards = [{} for _ in range(num_shards)]
    for key, tensor in state.items():
        dim = MERGE_DIM[_suffix(key)]
        if dim is None:
            pieces = [tensor] * num_shards
        else:
            if tensor.shape[dim] % num_shards:
                raise ValueError(f"{key} {tuple(tensor.shape)} cannot be split into {num_shards} shards "
                                 f"along dim {dim}")
            pieces = tensor.chunk(num_shards, dim=dim)
        for shard, piece in zip(shards, pieces):
            shard[key] = piece.contiguous().clone()
    return shards


def write_params(folder: Path, args: ModelArgs) -> None:
    """Write `args` as `folder`/params.json, the configuration of Meta's format and of the kit's."""
    (folder / "params.json").write_text(json.dumps(args.to_dict(), indent=2))


def write_meta(folder: Path, args: ModelArgs, state: dict[str, torch.Tensor], num_shards: int) -> None:
    """Write a checkpoint in Meta's format into `folder`: params.json and `num_shards` consolidated.NN.pth."""
    write_params(folder, args)
    for i, shard in enumerate(split_meta_shards(state, num_shards)):
        torch.save(shard, folder / f"consolidated.{i:02d}.pth")
