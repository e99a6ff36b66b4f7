"""Tensor parallelism: one model cut across N processes (GPUs, or CPU processes), as Meta's shards are cut.

Each process (a "rank") holds 1/N of every large matrix and computes with it; torch.distributed's DTensor
(`parallelize_module`) places the slices and adds the communication. The cuts are Meta's model-parallel layers':

    wq, wk, wv  (heads * hd, D)   split by rows: rank r computes its own query and key/value heads  ColwiseParallel
    attention   -                 each rank attends with its heads alone: no communication
    wo          (D, heads * hd)   split by columns: each rank's heads give a partial sum of the      RowwiseParallel
                                  output, and one all-reduce adds the N partial sums
    w1, w3      (hidden, D)       split by rows: rank r computes hidden units r*hidden/N ...          ColwiseParallel
    w2          (D, hidden)       split by columns: partial sums, one all-reduce                      RowwiseParallel
    embedding   (V, D)            split by columns (the features), gathered after the lookup         ColwiseParallel
    output      (V, D)            split by rows (the vocabulary), logits gathered                     ColwiseParallel

So a transformer block communicates twice, once where each residual branch ends (attention's wo, the FFN's w2):
every rank then holds the whole residual stream again, and the norms run on it unsplit. The KV cache holds only
the rank's own key/value heads. With fewer key/value heads than ranks (the tiny model's 2 on 4 ranks), each
rank keeps the one key/value head its query heads share: copies, as the heads are small; 70B's 8 key/value heads
split one per rank on 8 GPUs.

    torchrun --nproc-per-node 2 -m llama_lab.parallel data/tiny-chat --prompt "Where does Ada live?"

With a Meta checkpoint of N shards and N ranks, rank i reads only consolidated.0i.pth: no process ever holds the
whole model. Every rank computes the same logits and samples the same tokens (same seed); rank 0 prints.
Backend: NCCL on GPUs (one per rank, `cuda:LOCAL_RANK`), gloo on a CPU. Each rank says its own error in one line
(the one that failed names its shard); a rank left waiting for the others over `--timeout` seconds gives up.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.tensor import DTensor, Replicate, Shard
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

from .checkpoint import DTYPES, CheckpointError, Unread, detect_format, load_state, model_skeleton, read_pth
from .model import Llama, ModelArgs
from .modules import replace_by_name


def check_split(args: ModelArgs, ranks: int) -> None:
    """Refuse a model that cannot be cut into `ranks` equal parts, saying which size does not divide."""
    problems = [f"{name}={size}" for name, size in (("n_heads", args.n_heads), ("dim", args.dim),
                                                    ("hidden_dim", args.hidden_dim), ("vocab_size", args.vocab_size))
                if size % ranks]
    if args.kv_heads % ranks and ranks % args.kv_heads:
        problems.append(f"n_kv_heads={args.kv_heads} (neither a multiple nor a divisor of the ranks)")
    if problems:
        raise ValueError(f"the model cannot be cut into {ranks} equal parts: {', '.join(problems)} "
                         f"not divisible by {ranks}. Use a number of processes that divides them")


def kv_heads_of_rank(args: ModelArgs, ranks: int, rank: int) -> list[int]:
    """The key/value heads rank `rank` holds: its 1/ranks share when there are at least as many heads as ranks,
    else the one head its query heads share (replicated on ranks // n_kv_heads ranks).

    Example: 8 kv heads on 4 ranks: rank 1 holds [2, 3]; 2 kv heads on 4 ranks: rank 1 holds [0], rank 2 [1].
    """
    if args.kv_heads >= ranks:
        per_rank = args.kv_heads // ranks
        return list(range(rank * per_rank, (rank + 1) * per_rank))
    return [rank // (ranks // args.kv_heads)]


def tensor_parallel(model: Llama, mesh: DeviceMesh) -> Llama:
    """Cut `model` (built on the meta device, or holding its weights) across `mesh`'s ranks, in place: the plan
    in the module docstring. Returns the model, whose attention modules now count their local heads."""
    ranks, rank = mesh.size(), mesh.get_local_rank()
    args = model.args
    check_split(args, ranks)
    kv_split = args.kv_heads >= ranks
    parallelize_module(model, mesh, {
        "tok_embeddings": ColwiseParallel(output_layouts=Replicate()),
        "output": ColwiseParallel(output_layouts=Replicate()),
    })
    for layer in model.layers:
        plan = {"attention.wq": ColwiseParallel(), "attention.wo": RowwiseParallel(),
                "feed_forward.w1": ColwiseParallel(), "feed_forward.w3": ColwiseParallel(),
                "feed_forward.w2": RowwiseParallel()}
        if kv_split:
            plan.update({"attention.wk": ColwiseParallel(), "attention.wv": ColwiseParallel()})
        parallelize_module(layer, mesh, plan)
        attention = layer.attention
        attention.n_heads = args.n_heads // ranks
        attention.n_kv_heads = len(kv_heads_of_rank(args, ranks, rank))
        attention.n_rep = attention.n_heads // attention.n_kv_heads
        model.local_kv_heads = attention.n_kv_heads  # the KV cache holds these
        if not kv_split:  # each rank keeps whole copies of the key/value heads it needs: plain local layers
            for name in ("wk", "wv"):
                with torch.device(getattr(attention, name).weight.device):
                    setattr(attention, name, nn.Linear(args.dim, args.head_dim, bias=False))
    return model


def local_part(full: torch.Tensor, parameter: torch.Tensor, name: str, args: ModelArgs, ranks: int,
               rank: int) -> torch.Tensor:
    """The part of the whole weight `full` that this rank holds in `parameter` (a DTensor, or a replicated
    key/value weight): the slice DTensor's placement names, or the rows of the rank's key/value heads."""
    if isinstance(parameter, DTensor):
        (placement,) = parameter.placements
        if isinstance(placement, Shard):
            return full.chunk(ranks, dim=placement.dim)[rank]
        return full
    if name.endswith(("attention.wk.weight", "attention.wv.weight")) and args.kv_heads < ranks:
        heads = kv_heads_of_rank(args, ranks, rank)
        return full.view(args.kv_heads, args.head_dim, -1)[heads].reshape(-1, full.shape[-1])
    return full


def fill(model: Llama, state: dict[str, torch.Tensor], device: torch.device, whole: bool, ranks: int,
         rank: int) -> None:
    """Give the parallel `model` (on the meta device) its weights on `device`: from the whole state dict
    (whole=True: each rank takes its part), or from this rank's Meta shard (its tensors are the parts already)."""
    for name, parameter in list(model.named_parameters()):
        tensor = state.pop(name)
        if isinstance(tensor, Unread):  # still in its file
            tensor = tensor.read()
        local = local_part(tensor, parameter, name, model.args, ranks, rank) if whole else tensor
        local = local.to(device).contiguous()
        if local.untyped_storage().nbytes() > local.nbytes:  # a part of the whole tensor read: keep only the part
            local = local.clone()
        if isinstance(parameter, DTensor):
            local = DTensor.from_local(local, parameter.device_mesh, parameter.placements, run_check=False)
        replace_by_name(model, name, nn.Parameter(local, requires_grad=False))
    model.init_rope(device)


def load_parallel(path: str | os.PathLike, mesh: DeviceMesh, dtype=None) -> Llama:
    """The checkpoint in `path` loaded straight into its parallel form on every rank of `mesh`.

    A Meta checkpoint with as many shards as ranks: rank i reads consolidated.0i.pth alone. Any other
    checkpoint: every rank reads the file (memory-mapped) and keeps its part.
    """
    path = Path(path)
    ranks, rank = mesh.size(), mesh.get_local_rank()
    device = torch.device(mesh.device_type, torch.cuda.current_device()) if mesh.device_type == "cuda" \
        else torch.device("cpu")
    shards = sorted(path.glob("consolidated.*.pth"))
    if detect_format(path) == "meta" and len(shards) == ranks:
        args = ModelArgs.from_dict(json.loads((path / "params.json").read_text()))
        state = read_pth(shards[rank])  # this rank's slice of every split weight, Meta's cut
        state.pop("rope.freqs", None)
        if args.vocab_size <= 0:
            args = args.with_(vocab_size=state["tok_embeddings.weight"].shape[0])
        if args.kv_heads < ranks:
            raise CheckpointError(f"{path}: {ranks} shards of a model with {args.kv_heads} key/value heads")
        whole = False
    else:
        args, state = load_state(path)
        whole = True
    model = tensor_parallel(model_skeleton(args), mesh)
    if whole is False:  # check the shard's shapes against this rank's parameters before reading any of it
        for name, parameter in model.named_parameters():
            local = parameter.to_local() if isinstance(parameter, DTensor) else parameter
            if name not in state or tuple(state[name].shape) != tuple(local.shape):
                found = tuple(state[name].shape) if name in state else "missing"
                raise CheckpointError(f"{shards[rank]}: {name} is {found}, rank {rank} of {ranks} holds "
                                      f"{tuple(local.shape)}")
    fill(model, state, device, whole, ranks, rank)
    if dtype is not None:
        model.to(dtype)
    return model.eval()


def setup(backend: str | None = None, timeout_s: float = 300.0) -> DeviceMesh:
    """The process group of a `torchrun` launch and its one-dimensional mesh: NCCL with one GPU per rank where
    there are GPUs, gloo on a CPU. A rank that waits more than `timeout_s` for the others (one of them stopped,
    say by Ctrl-Z) gives up with an error rather than block for the backends' default half hour."""
    if "RANK" not in os.environ:
        raise RuntimeError("tensor parallelism runs under torchrun: torchrun --nproc-per-node N -m llama_lab.parallel "
                           "CHECKPOINT --prompt '...'")
    device_type = "cuda" if torch.cuda.is_available() and backend != "gloo" else "cpu"
    if device_type == "cuda":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    if not dist.is_initialized():  # init_device_mesh would make the group itself, with the default timeout
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo", timeout=timedelta(seconds=timeout_s))
    return init_device_mesh(device_type, (int(os.environ["WORLD_SIZE"]),))


def all_ranks_ok(ok: bool, mesh: DeviceMesh) -> bool:
    """Whether every rank says ok: a rank that failed to load its part tells the others, which would otherwise wait
    for it in their first collective until the backend gives up ("Connection closed by peer")."""
    flag = torch.tensor([int(ok)], device=mesh.device_type if mesh.device_type == "cpu" else "cuda")
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def main(argv=None) -> None:
    from .generate import generate
    from .tokenizer import Tokenizer

    parser = argparse.ArgumentParser(prog="torchrun --nproc-per-node N -m llama_lab.parallel",
                                     description="Generate with a model cut across N processes (tensor parallelism).")
    parser.add_argument("checkpoint", help="a checkpoint folder (Meta's, Hugging Face's or the kit's)")
    parser.add_argument("--tokenizer", help="tokenizer.model (default: beside the checkpoint, else the kit's)")
    parser.add_argument("--prompt", default="Once upon a time")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--backend", choices=("nccl", "gloo"), help="default: nccl with GPUs, gloo without")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds a rank waits for the others before giving up (default 300)")
    options = parser.parse_args(argv)
    tokenizer_path = Path(options.tokenizer or Path(options.checkpoint) / "tokenizer.model")
    if not tokenizer_path.is_file():
        tokenizer_path = Path(__file__).resolve().parent.parent / "data" / "tokenizer.model"
    try:
        mesh = setup(options.backend, options.timeout)
    except RuntimeError as error:  # not under torchrun; or the other ranks never came (gloo's or NCCL's timeout)
        parser.error(" ".join(str(error).split("\n")))
    rank = dist.get_rank()

    def stop(message: str) -> None:  # every rank says its own error: the one that failed may not be rank 0
        print(f"error: rank {rank} of {mesh.size()}: {message}", file=sys.stderr, flush=True)
        dist.destroy_process_group()
        sys.exit(2)

    waited = (f"waited over --timeout {options.timeout:g} s for the other ranks (one stopped or far slower?): "
              "see their errors, or give a longer --timeout")
    model, failure = None, None
    try:
        model = load_parallel(options.checkpoint, mesh, dtype=DTYPES[options.dtype] if options.dtype else None)
    except (CheckpointError, ValueError, OSError) as error:
        failure = " ".join(str(error).split("\n"))
    try:
        everyone_ok = all_ranks_ok(failure is None, mesh)
    except RuntimeError as error:  # DistBackendError: a rank stopped, or ended without telling
        stop(f"{waited} ({str(error).splitlines()[0]})")
    if failure is not None:
        stop(failure)
    if not everyone_ok:
        stop("another rank could not load its part of the checkpoint (its error names the file)")
    try:
        text = generate(model, Tokenizer(tokenizer_path), [options.prompt], options.max_new_tokens,
                        temperature=options.temperature, seed=0)[0]
    except (CheckpointError, ValueError, OSError) as error:
        stop(" ".join(str(error).split("\n")))
    except RuntimeError as error:
        stop(f"{waited} ({str(error).splitlines()[0]})")
    if rank == 0:
        print(f"{mesh.size()} ranks ({mesh.device_type}): {options.prompt}{text}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
