"""One training run's configuration: `TrainConfig`, every field a command-line flag."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from ..checkpoint import DTYPES
from ..lora import LoraSettings
from ..model import TINY, ModelArgs
from ..optim import Recipe


@dataclass
class TrainConfig:
    """One training run. Every field is also a command-line flag (`--batch-size 16`)."""

    stage: str = "pretrain"  # "pretrain": next token on raw text; "chat": next token on the assistant's replies
    data: str = "data/world/train.txt"  # pretrain: a text file; chat: a .jsonl file, one dialog per line
    val_data: str | None = "data/world/val.txt"
    tokenizer: str = "data/tokenizer.model"
    out: str = "runs/tiny-base"  # training state (checkpoint.pt) and the final model (kit format)
    init: str | None = None  # a model directory to start from (chat: the base model); None: random weights
    # what fine-tuning trains: "full" every weight; "lora" low-rank adapters beside frozen weights (llama_lab.lora);
    # "qlora" the same on a base stored in NF4 (llama_lab.nf4). The adapter's defaults are Meta's llama-recipes'.
    method: str = "full"
    lora_r: int = 8
    lora_alpha: float = 32.0
    lora_dropout: float = 0.05
    lora_targets: str = "wq,wv"  # Meta's names of the projections to adapt, comma-separated (lora.TARGETS)
    val_share: float = 0.0  # chat: hold out this share of --data's dialogs (seeded) for validation, not --val-data
    # the model (pretraining from scratch only; fine-tuning keeps the initial model's), by default the kit's tiny one
    dim: int = TINY.dim
    n_layers: int = TINY.n_layers
    n_heads: int = TINY.n_heads
    n_kv_heads: int = TINY.n_kv_heads
    multiple_of: int = TINY.multiple_of
    max_seq_len: int = TINY.max_seq_len
    init_std: float = 0.02
    # the optimisation (Llama 2's recipe; lr and steps scaled down)
    batch_size: int = 16  # sequences per step, summed over all processes
    seq_len: int = 256  # tokens per sequence (<= max_seq_len)
    steps: int = 1000
    lr: float = 1e-3  # the peak learning rate
    min_lr_ratio: float = 0.1  # the cosine ends at min_lr_ratio * lr
    warmup: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-5
    grad_clip: float = 1.0
    seed: int = 1337
    # bookkeeping: these may change between a run and its --resume
    eval_interval: int = 100
    eval_batches: int = 8
    save_interval: int = 100
    until: int | None = None  # stop after this step (with a checkpoint), e.g. to train in several sittings
    device: str = "auto"  # auto: cuda, else mps, else cpu
    autocast: str = "auto"  # bfloat16 autocast: auto = on for CUDA with bf16 support, off elsewhere; "on"/"off"
    export: str | None = None  # also write the final model here (kit format), e.g. data/tiny-base
    export_dtype: str = "float32"
    export_format: str = "kit"  # "kit" or "hf"; with LoRA the export is the model with its adapters merged in
    gradient_checkpointing: bool = False  # recompute each block in the backward pass: less memory, same numbers
    resume: bool = False
    progress: bool = True
    # torch.compile the forward pass and the loss (AOTAutograd compiles the backward pass with them): the first
    # step compiles (about 10 s for the tiny model on a 2-core CPU), later steps run fused kernels around the same
    # matrix products. The numbers agree with the eager path's to rounding, not bit for bit.
    compile: bool = False

    RUNTIME = ("eval_interval", "eval_batches", "save_interval", "until", "device", "autocast", "export",
               "export_dtype", "export_format", "gradient_checkpointing", "resume", "progress", "compile")

    def __post_init__(self):
        """Refuse a configuration that cannot train, here, once: the command line and a notebook's
        `train(TrainConfig(...))` get the same ValueError, saying what was given and what to give instead."""
        if self.stage not in ("pretrain", "chat"):
            raise ValueError(f"stage={self.stage!r}: use 'pretrain' or 'chat'")
        if self.steps < 1:
            raise ValueError(f"steps={self.steps}: train for at least 1 step")
        if not 0 <= self.warmup < self.steps:
            raise ValueError(f"warmup={self.warmup} must be at least 0 and below steps={self.steps}: give a "
                             f"shorter warm-up, such as {self.steps // 10}")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr}: the learning rate must be a positive number, such as 1e-3")
        if self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size}: give at least 1 sequence per step")
        if self.seq_len < 2:  # one token of context leaves attention nothing to attend to: a bigram table
            raise ValueError(f"seq_len={self.seq_len}: give sequences of at least 2 tokens, such as 256")
        if self.seq_len > self.max_seq_len and self.init is None:
            raise ValueError(f"seq_len={self.seq_len} is longer than max_seq_len={self.max_seq_len}, the model's "
                             "context: give a shorter seq_len or a longer max_seq_len")
        for name in ("dim", "n_layers", "n_heads", "n_kv_heads", "multiple_of", "max_seq_len", "eval_interval",
                     "eval_batches", "save_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: give a whole number of at least 1")
        for name in ("init_std", "eps", "grad_clip"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}={getattr(self, name)}: give a positive number")
        for name in ("min_lr_ratio", "weight_decay"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name}={getattr(self, name)}: give a number from 0 to 1")
        for name in ("beta1", "beta2"):  # Adam divides by 1 - beta ** step
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: give a number from 0 up to 1 (not 1 itself)")
        for f in fields(self):  # nan or inf in any number would reach the weights as nan
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name}={value}: give a finite number")
        if self.until is not None and self.until < 1:
            raise ValueError(f"until={self.until}: stop after step 1 or later, or leave it out")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except RuntimeError:
                raise ValueError(f"device={self.device!r}: use 'auto', 'cpu', 'cuda', 'cuda:1' or 'mps'") from None
        if self.autocast not in ("auto", "on", "off"):
            raise ValueError(f"autocast={self.autocast!r}: use 'auto', 'on' or 'off'")
        if self.method not in ("full", "lora", "qlora"):
            raise ValueError(f"method={self.method!r}: use 'full', 'lora' or 'qlora'")
        if self.method != "full":
            if self.init is None:
                raise ValueError(f"method={self.method!r} adapts a trained model: give it as --init")
            self.lora_settings()  # LoraSettings says what is wrong with the rank, alpha, dropout or targets
            if self.method == "qlora" and self.export:
                raise ValueError("an NF4 base cannot hold W0 + B A (its integers would round the update away), so "
                                 "QLoRA exports no merged model: leave out --export, then merge the saved adapter "
                                 "into the floating-point model (load_model, load_adapter, unload_lora), or train "
                                 "with method 'lora'")
        if not 0 <= self.val_share < 1:
            raise ValueError(f"val_share={self.val_share}: give a share from 0 up to 1, such as 0.1")
        if self.val_share and (self.stage != "chat" or self.val_data):
            raise ValueError("val_share holds out dialogs of a chat stage's --data: use it with --stage chat and "
                             "without --val-data")
        if self.export_format not in ("kit", "hf"):
            raise ValueError(f"export_format={self.export_format!r}: use 'kit' or 'hf'")
        if self.export_dtype not in DTYPES:
            raise ValueError(f"export_dtype={self.export_dtype!r}: use one of {', '.join(DTYPES)}")

    def model_args(self, vocab_size: int) -> ModelArgs:
        return ModelArgs(dim=self.dim, n_layers=self.n_layers, n_heads=self.n_heads, n_kv_heads=self.n_kv_heads,
                         vocab_size=vocab_size, multiple_of=self.multiple_of, max_seq_len=self.max_seq_len)

    def lora_settings(self) -> LoraSettings:
        """The adapter of method "lora" or "qlora"; its dropout is random, so the loop's random state covers it."""
        targets = tuple(t.strip() for t in self.lora_targets.split(",") if t.strip())
        return LoraSettings(r=self.lora_r, alpha=self.lora_alpha, dropout=self.lora_dropout, targets=targets)

    def recipe(self) -> Recipe:
        """Llama 2's recipe with this run's numbers: pretraining and chat fine-tuning change none of its parts."""
        return Recipe(lr=self.lr, steps=self.steps, warmup=self.warmup, min_lr_ratio=self.min_lr_ratio,
                      weight_decay=self.weight_decay, betas=(self.beta1, self.beta2), eps=self.eps,
                      grad_clip=self.grad_clip)

    def numerics(self) -> dict:
        """The fields that decide the numbers a run produces: a --resume must not change them."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self.RUNTIME}


def lr_at(step: int, cfg: TrainConfig) -> float:
    """The learning rate of step `step` (0-based) in the run `cfg`: Recipe.lr_at, warm-up then cosine."""
    return cfg.recipe().lr_at(step)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """The run's AdamW (Recipe.optimizer): weight decay on the matrices, not on the RMSNorm gains."""
    return cfg.recipe().optimizer(model)
