"""The training loop: build or load the model, then step, evaluate and checkpoint until done; with several
processes, DistributedDataParallel over the same global batch."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from ..checkpoint import CheckpointError, load_model, save_adapter, save_model
from ..fast.loss import IGNORE, compiled_loss_sums, loss_sums
from ..lora import add_lora, lora_layers, unload_lora
from ..model import Llama, init_weights
from ..optim import Recipe
from ..quantize import quantization_of, quantize_model
from ..tokenizer import Tokenizer
from .checkpoints import CHECKPOINT, load_checkpoint, load_trained_weights, save_checkpoint, set_rng_states
from .config import TrainConfig
from .data import TextBatches, file_sha256, load_batches, load_split_batches
from .processes import autocast_for, barrier, global_sums, is_distributed, setup_processes


def build_or_load_model(cfg: TrainConfig, tokenizer: Tokenizer, device: torch.device) -> Llama:
    """The model a run starts from, in training mode: --init's in float32, or fresh weights of the configured shape."""
    torch.manual_seed(cfg.seed)  # the fresh weights, and the dropout of LoRA's adapters, follow the seed alone
    if cfg.init is not None:
        # QLoRA's base arrives quantized a block at a time: memory never holds it whole in floating point
        model = load_model(cfg.init, device=device, dtype=torch.float32,
                           quantize="nf4" if cfg.method == "qlora" else None)
        scheme = quantization_of(model)
        if scheme is not None:  # its layers hold integers, which no gradient can change
            raise ValueError(f"{cfg.init} is quantized ({scheme.name}), and training changes floating-point "
                             "weights: give --init the floating-point checkpoint it was quantized from, or, with "
                             "none, save a floating-point copy first: save_model(dequantize_model(load_model(init)), "
                             "copy, format='kit') (llama_lab.quantize.dequantize_model; the copy keeps the rounding)")
        if model.args.vocab_size != tokenizer.n_words:
            raise ValueError(f"{cfg.init} has a vocabulary of {model.args.vocab_size} but the tokenizer "
                             f"{cfg.tokenizer} has {tokenizer.n_words}")
        return adapt_for_method(model, cfg).train()
    model = init_weights(Llama(cfg.model_args(tokenizer.n_words)), std=cfg.init_std, seed=cfg.seed)
    return model.to(device).train()


def adapt_for_method(model: Llama, cfg: TrainConfig) -> Llama:
    """The model as cfg.method trains it, in place: "full" as it is; "lora" frozen, with fresh adapters (drawn from
    cfg.seed) on cfg.lora_targets; "qlora" the same on the blocks' projections stored in NF4, the output head left
    in floating point and frozen, as the QLoRA paper's models are (bitsandbytes keeps lm_head in 16 bits). A model
    loaded from a checkpoint arrives with its blocks in NF4 already (build_or_load_model); one in memory is quantized
    here."""
    if cfg.method == "qlora":
        quantize_model(model, "nf4", skip=("output",))
    if cfg.method != "full":
        settings = cfg.lora_settings()
        add_lora(model, settings.targets, settings.r, settings.alpha, settings.dropout, seed=cfg.seed)
    model.gradient_checkpointing = cfg.gradient_checkpointing
    return model


def train_step(model, optimizer, inputs, targets, recipe: Recipe, step: int, world: int, autocast_ctx,
               loss_of=loss_sums):
    """Step `step` of the recipe on this process's share of the global batch -> (loss, scored tokens, gradient norm).

    The loss of the global batch is (sum over every process) / (targets over every process). DDP averages the
    gradients of the processes, so each back-propagates its own sum / global count * world size: with chat
    batches, where each process scores a different number of tokens, this still gives one process's gradient.
    `loss_of` is loss_sums or its compiled form (compiled_loss_sums).
    """
    [count] = global_sums(int((targets != IGNORE).sum()))
    with autocast_ctx:
        loss_sum, _ = loss_of(model, inputs, targets)
    (loss_sum / max(count, 1) * world).backward()
    grad_norm = recipe.update(optimizer, model.parameters(), step)
    [loss_total] = global_sums(float(loss_sum.detach()))
    return loss_total / max(count, 1), int(count), float(grad_norm)


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) one training run; returns a summary: losses, tokens seen, wall time, the loss curves."""
    rank, world, device = setup_processes(cfg)
    try:
        return _train(cfg, rank, world, device)
    finally:
        if is_distributed():
            dist.destroy_process_group()


def _train(cfg: TrainConfig, rank: int, world: int, device: torch.device) -> dict:
    out = Path(cfg.out)
    ckpt_path = out / CHECKPOINT
    for name in ("out", "export"):  # checked before training, which would otherwise be lost at the end
        folder = getattr(cfg, name)
        if folder is not None and Path(folder).is_file():
            raise ValueError(f"{name}={folder!r} is a file: --{name} names a folder to write the model in; give a "
                             "new one, such as runs/my-run")
        if folder is not None and cfg.init is not None and Path(folder).resolve() == Path(cfg.init).resolve():
            raise ValueError(f"{name}={folder!r} is the model the run starts from (--init): writing there would "
                             f"replace it; give another --{name}, such as runs/my-run")
        if folder is not None and not _writable(Path(folder)):
            raise ValueError(f"{name}={folder!r} cannot be written to (a read-only folder or disk): give another "
                             f"--{name}, such as runs/my-run, or make it writable")
    tokenizer = Tokenizer(cfg.tokenizer)
    model = build_or_load_model(cfg, tokenizer, device)
    seq_len = cfg.seq_len
    if seq_len > model.args.max_seq_len:
        raise ValueError(f"seq_len={seq_len} is longer than the context of {cfg.init} (max_seq_len "
                         f"{model.args.max_seq_len}): give --seq-len {model.args.max_seq_len} or less")
    val_batches = None
    if cfg.val_share:
        train_data, val_data = load_split_batches(cfg, tokenizer, seq_len)
        val_batches = val_data.eval_batches(cfg.eval_batches)
    else:
        train_data = load_batches(cfg.data, cfg, tokenizer, seq_len, rank)
    if cfg.val_data:
        val_batches = load_batches(cfg.val_data, cfg, tokenizer, seq_len, rank).eval_batches(cfg.eval_batches)
    data_info = {"data": Path(cfg.data).name, "size": _data_size(train_data),
                 "tokenizer_sha256": file_sha256(cfg.tokenizer)}

    recipe = cfg.recipe()
    optimizer = recipe.optimizer(model)
    start, history = 0, {"train": [], "val": [], "tokens": 0, "wall_s": 0.0, "cpu_s": 0.0}
    if cfg.resume:
        state = load_checkpoint(ckpt_path, cfg, data_info)
        try:
            load_trained_weights(model, state["model"])
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as error:
            raise CheckpointError(f"{ckpt_path}: its weights or optimiser state do not fit this model "
                                  f"({error})") from error
        set_rng_states(state["rng"])
        start, history = state["step"], json.loads(state["history"])
    elif rank == 0 and ckpt_path.exists():
        print(f"note: starting afresh; {ckpt_path} will be overwritten (pass --resume to continue it)",
              file=sys.stderr)

    ddp_model = model
    if world > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    autocast_ctx = autocast_for(cfg, device)
    loss_of = compiled_loss_sums() if cfg.compile else loss_sums  # evaluation stays eager: no second graph
    if val_batches is not None and start == 0:  # the loss before training, the mark the run is measured against
        history["val"].append([0, evaluate_loss(model.eval(), val_batches, device, autocast_ctx, rank, world)])
        model.train()
    stop = cfg.steps if cfg.until is None else min(cfg.until, cfg.steps)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=cfg.steps, initial=start, disable=rank != 0 or not cfg.progress, unit="step",
               desc=cfg.stage, dynamic_ncols=True)
    previous = last_tick = time.perf_counter()
    previous_cpu, tokens_since = time.process_time(), 0

    for step in range(start, stop):
        inputs, targets = train_data.batch(step, rank, world)
        loss, count, grad_norm = train_step(ddp_model, optimizer, inputs.to(device), targets.to(device), recipe,
                                            step, world, autocast_ctx, loss_of)
        history["train"].append([step + 1, loss])
        history["tokens"] += count  # the tokens the loss was on: all of them in pretraining
        tokens_since += count
        now = time.perf_counter()
        history["wall_s"] += now - previous
        history["cpu_s"] += time.process_time() - previous_cpu  # CPU seconds, all threads: for estimates on
        previous, previous_cpu = now, time.process_time()      # a busy machine
        bar.update(1)
        if now - last_tick > 1.0 or step + 1 == stop:
            bar.set_postfix(loss=f"{loss:.3f}", lr=f"{recipe.lr_at(step):.1e}", gnorm=f"{grad_norm:.2f}",
                            tok_s=f"{tokens_since / (now - last_tick):.0f}")
            last_tick, tokens_since = now, 0
        done = step + 1
        if val_batches is not None and (done % cfg.eval_interval == 0 or done == cfg.steps):
            model.eval()
            val = evaluate_loss(model, val_batches, device, autocast_ctx, rank, world)
            model.train()
            history["val"].append([done, val])
            if rank == 0:
                bar.write(f"step {done}: train loss {loss:.4f}, val loss {val:.4f}")
        if done % cfg.save_interval == 0 or done == stop:
            if rank == 0:
                save_checkpoint(ckpt_path, model, optimizer, done, cfg, history, data_info)
            barrier()
    bar.close()

    done = max(start, stop)
    summary = {
        "stage": cfg.stage, "steps": done, "of_steps": cfg.steps, "finished": done >= cfg.steps,
        "tokens_seen": history["tokens"],
        "final_train_loss": _mean_last(history["train"], 20),
        "final_val_loss": history["val"][-1][1] if history["val"] else None,
        "wall_s": history["wall_s"], "cpu_s": history["cpu_s"], "world_size": world, "device": str(device),
        "parameters": model.num_parameters(), "model_args": model.args.to_dict(), "history": history,
    }
    if rank == 0 and done >= cfg.steps:
        save_final(model, cfg, tokenizer)
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def save_final(model: Llama, cfg: TrainConfig, tokenizer: Tokenizer) -> None:
    """The trained model into --out, beside the learner's own files there, which it leaves alone: the whole model
    (kit format), or with LoRA its adapters alone (peft's format). --export also writes the model, with LoRA its
    adapters merged in (unload_lora), in the kit's format or Hugging Face's (with the tokenizer)."""
    out = Path(cfg.out)
    if lora_layers(model):
        save_adapter(model, out)
        model = unload_lora(model) if cfg.export else model
    else:
        save_model(model, out, format="kit")
    if cfg.export:
        save_model(model, cfg.export, format=cfg.export_format, dtype=cfg.export_dtype,
                   tokenizer=tokenizer if cfg.export_format == "hf" else None)


def _writable(folder: Path) -> bool:
    """Whether the kit could write into `folder` (made if missing): the nearest existing folder on its path is
    writable, for this user and on its disk (os.access says a read-only mount too)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK)


def _data_size(batches) -> int:
    return len(batches.tokens) if isinstance(batches, TextBatches) else len(batches.examples)


def _mean_last(points: list, n: int) -> float | None:
    return float(np.mean([loss for _, loss in points[-n:]])) if points else None


@torch.no_grad()
def evaluate_loss(model, batches, device, autocast_ctx, rank: int = 0, world: int = 1) -> float:
    """Mean loss (nats per scored token) over fixed batches; with several processes each scores a share."""
    loss, count = 0.0, 0
    for i, (inputs, targets) in enumerate(batches):
        if i % world == rank:
            with autocast_ctx:
                batch_loss, batch_count = loss_sums(model, inputs.to(device), targets.to(device))
            loss, count = loss + float(batch_loss), count + int(batch_count)
    loss, count = global_sums(loss, count)
    return loss / max(count, 1)
