"""Training a Llama: pretraining on raw text, then chat fine-tuning on dialogs, with Llama 2's recipe.

References:
1) "Llama 2: Open Foundation and Fine-Tuned Chat Models", Touvron et al. 2023. Section 2.2: AdamW with
   beta1 0.9, beta2 0.95, eps 1e-5, weight decay 0.1, gradient clipping at 1.0, a linear warm-up and a cosine
   decay to 10% of the peak learning rate. Section 3.1: supervised fine-tuning puts the loss on the answer
   tokens only ("we zero-out the loss on tokens from the user prompt").
2) nanoGPT's `train.py` for the shape of the loop (memmapped token file, random windows, DDP, checkpoints).

Usage (what `make data` runs, smaller):
    python -m llama_lab.train --stage pretrain --data data/world/train.txt --val-data data/world/val.txt \\
        --out runs/tiny-base --steps 200
    python -m llama_lab.train --stage chat --init runs/tiny-base --data data/world/chat_train.jsonl \\
        --val-data data/world/chat_val.jsonl --out runs/tiny-chat --steps 100 --lr 3e-4
    torchrun --nproc_per_node 2 -m llama_lab.train ...   # DistributedDataParallel, same global batch

Everything a run does is a function of its configuration and the step number: batch `s` is drawn from a
generator seeded with (seed, s), so a run that stops and `--resume`s gives the same numbers as one that never
stopped, and N processes each take their slice of the very batch one process would take.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import errno
import hashlib
import json
import math
import os
import pickle
import sys
import time
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm.auto import tqdm

from .chat import encode_dialog_for_training, fold_system_prompt
from .checkpoint import DTYPES, CheckpointError, load_model, save_model
from .cli import one_line_errors
from .files import replacing
from .model import Llama, ModelArgs, init_weights
from .progress import progress
from .quantize import quantization_of
from .tokenizer import Tokenizer

IGNORE = -100  # the target id F.cross_entropy skips: prompt tokens in chat, padding
CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainConfig:
    """One training run. Every field is also a command-line flag (`--batch-size 16`)."""

    stage: str = "pretrain"  # "pretrain": next token on raw text; "chat": next token on the assistant's replies
    data: str = "data/world/train.txt"  # pretrain: a text file; chat: a .jsonl file, one dialog per line
    val_data: str | None = "data/world/val.txt"
    tokenizer: str = "data/tokenizer.model"
    out: str = "runs/tiny-base"  # training state (checkpoint.pt) and the final model (kit format)
    init: str | None = None  # a model directory to start from (chat: the base model); None: random weights
    # the model (pretraining from scratch only; fine-tuning keeps the initial model's)
    dim: int = 192
    n_layers: int = 6
    n_heads: int = 8
    n_kv_heads: int = 2
    multiple_of: int = 32
    max_seq_len: int = 256
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
    resume: bool = False
    progress: bool = True
    # torch.compile the forward pass and the loss (AOTAutograd compiles the backward pass with them): the first
    # step compiles (about 10 s for the tiny model on a 2-core CPU), later steps run fused kernels around the same
    # matrix products. The numbers agree with the eager path's to rounding, not bit for bit.
    compile: bool = False

    RUNTIME = ("eval_interval", "eval_batches", "save_interval", "until", "device", "autocast", "export",
               "export_dtype", "resume", "progress", "compile")

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
        if self.export_dtype not in DTYPES:
            raise ValueError(f"export_dtype={self.export_dtype!r}: use one of {', '.join(DTYPES)}")

    def model_args(self, vocab_size: int) -> ModelArgs:
        return ModelArgs(dim=self.dim, n_layers=self.n_layers, n_heads=self.n_heads, n_kv_heads=self.n_kv_heads,
                         vocab_size=vocab_size, multiple_of=self.multiple_of, max_seq_len=self.max_seq_len)

    def numerics(self) -> dict:
        """The fields that decide the numbers a run produces: a --resume must not change them."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self.RUNTIME}


# ------------------------------------------------------------------------------------------- the schedule

def lr_at(step: int, cfg: TrainConfig) -> float:
    """The learning rate of step `step` (0-based): linear warm-up to cfg.lr, then cosine down to 10% of it.

    Example (lr 1e-3, warmup 10, steps 110): step 0 -> 1e-4, step 9 -> 1e-3 (the peak), step 60 (half-way
    through the decay) -> 5.5e-4, step 110 -> 1e-4.
    """
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    min_lr = cfg.lr * cfg.min_lr_ratio
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))  # 0 at the peak, 1 at the end
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - min_lr)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on the matrices (embeddings, projections) but not on the RMSNorm gains."""
    matrices = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    vectors = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": matrices, "weight_decay": cfg.weight_decay},
              {"params": vectors, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, foreach=False)


# ----------------------------------------------------------------------------------------------- the data

def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# what each stage accepts as --data, said with every refusal of a data file
PRETRAIN_DATA = ("pretraining reads a UTF-8 text file, its documents separated by blank lines, such as "
                 "data/world/train.txt (`make data` writes it)")
CHAT_DATA = ("chat fine-tuning reads a .jsonl file, one dialog a line: a JSON list of {\"role\", \"content\"} "
             "messages that ends with the assistant's, such as data/world/chat_train.jsonl (`make data` writes it)")


def read_text(path: str | os.PathLike, accepted: str) -> str:
    """The text of a data file, or an error that says why the kit cannot train on it and what it `accepted`.

    Nothing is written before the data has passed these checks, so a mistaken --data (a token file, a folder,
    a file in another encoding) is refused with the user's file as it was.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}. {accepted}")
    if not path.is_file():
        raise ValueError(f"{path} is a folder, not a file. {accepted}")
    data = path.read_bytes()
    if b"\0" in data:
        raise ValueError(f"{path} is not text: it holds zero bytes, as token ids and weights do. {accepted}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}): save "
                         "it as UTF-8, e.g. `iconv -f latin1 -t utf-8 old.txt > new.txt`") from None
    if not text.strip():
        raise ValueError(f"{path} is empty. {accepted}" if not text else
                         f"{path} holds only whitespace. {accepted}")
    return text


def split_documents(text: str) -> list[str]:
    """The documents of a pretraining text file: they are separated by blank lines."""
    return [doc.strip() for doc in text.split("\n\n") if doc.strip()]


TOKEN_CACHE = "llama_lab token cache 1"  # the sidecar's "format": a cache the kit wrote, in this layout


def token_cache_paths(text_path: str | os.PathLike) -> tuple[Path, Path]:
    """Where the token ids of a text file are kept: `train.txt` -> `train.txt.tokens.bin` and its sidecar
    `train.txt.tokens.bin.json`. The text's whole name goes into the cache's, so that it can never be the text
    itself, nor the `train.bin` a user may keep beside `train.txt`."""
    bin_path = Path(text_path).with_name(Path(text_path).name + ".tokens.bin")
    return bin_path, bin_path.with_name(bin_path.name + ".json")


def tokenize_corpus(text_path: str | os.PathLike, tokenizer: Tokenizer) -> np.memmap:
    """All documents of a text file as one flat array of token ids, each document opened by BOS.

    Written once to a cache beside the text (token_cache_paths: uint16, so 2 bytes a token) whose sidecar
    records the kit's format, the sha256 of the text and of the tokenizer; later calls map the cache instead of
    tokenizing again, and a changed text or tokenizer (even of the same size and time) is tokenized afresh.
    The kit replaces only a cache it wrote: a file in the cache's place without the kit's sidecar is someone
    else's, and is refused rather than overwritten. The cache's name is the text's name and `.tokens.bin`,
    not `train.bin`, so that this happens only to a file named like the kit's cache, never to a user's
    `train.bin`: a user expects training on `train.txt` to work and to leave their other files alone.
    Example: documents "Tom ran." and "Mia sat." -> [BOS, ▁Tom, ▁ran, ., BOS, ▁Mia, ▁sat, .]
    """
    text_path = Path(text_path)
    text = read_text(text_path, PRETRAIN_DATA)
    bin_path, meta_path = token_cache_paths(text_path)
    meta = {"format": TOKEN_CACHE, "text": text_path.name, "dtype": "uint16",
            "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "tokenizer_sha256": file_sha256(tokenizer.path)}
    old = _kits_cache_meta(bin_path, meta_path)
    fresh = old is not None and {k: old.get(k) for k in meta} == meta
    if fresh and bin_path.is_file() and bin_path.stat().st_size == 2 * old["n_tokens"]:
        ids = np.memmap(bin_path, dtype=np.uint16, mode="r")
        if ids.size == 0 or int(ids.max()) < tokenizer.n_words:  # an id past the vocabulary: damaged, made afresh
            return ids
    if tokenizer.n_words > 2 ** 16:
        raise ValueError(f"a vocabulary of {tokenizer.n_words} does not fit in uint16 token files")
    documents = split_documents(text)
    pieces = tokenizer.sp_model.encode(documents, num_threads=os.cpu_count() or 1)  # list of lists, in order
    ids = np.fromiter((t for doc in pieces for t in [tokenizer.bos_id, *doc]), dtype=np.uint16)
    # The sidecar first claims the name (it describes no tokens yet), then the ids, then the sidecar that
    # describes them: a crash at any point leaves a cache the next call recognises as the kit's and replaces.
    claim = {"format": TOKEN_CACHE, "text": text_path.name}
    described = {**meta, "n_tokens": int(ids.size), "n_documents": len(documents)}
    try:
        for path, content in ((meta_path, json.dumps(claim).encode()), (bin_path, ids.tobytes()),
                              (meta_path, json.dumps(described, indent=2).encode())):
            with replacing(path) as tmp:
                tmp.write_bytes(content)
    except OSError as error:
        if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):  # a failing disk is no folder to fix
            raise
        raise ValueError(f"cannot write the token cache {bin_path.name} beside {text_path} ({error.strerror}): the "
                         f"kit keeps a text's token ids beside it. Make {text_path.parent} writable, or copy the "
                         "text into a folder you can write to and train on the copy") from None
    return np.memmap(bin_path, dtype=np.uint16, mode="r")


def _kits_cache_meta(bin_path: Path, meta_path: Path) -> dict | None:
    """The sidecar of a token cache the kit wrote, None if there is no cache; an error for someone else's file."""
    if not bin_path.exists() and not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != TOKEN_CACHE:
        raise ValueError(f"{bin_path if bin_path.exists() else meta_path} is not a token cache the kit wrote (it "
                         f"has no sidecar {meta_path.name} of the kit's), so the kit will not overwrite it: move it "
                         "elsewhere, or train on a copy of the text in another folder")
    return meta


def batch_rng(seed: int, step: int) -> np.random.Generator:
    """The random numbers of one step depend on (seed, step) only: resuming needs no generator state."""
    return np.random.default_rng([seed, step])


class TextBatches:
    """Random windows of seq_len + 1 tokens from the flat token array: inputs are [:-1], targets [1:]."""

    def __init__(self, tokens: np.ndarray, seq_len: int, batch_size: int, seed: int):
        if len(tokens) < seq_len + 2:  # the last start is drawn below len(tokens) - seq_len - 1
            raise ValueError(f"{len(tokens)} tokens are too few; training draws windows of seq_len + 1 = "
                             f"{seq_len + 1} tokens, so needs at least {seq_len + 2}: give more text or a smaller "
                             "seq_len")
        self.tokens, self.seq_len, self.batch_size, self.seed = tokens, seq_len, batch_size, seed

    def _windows(self, starts: np.ndarray):
        rows = np.stack([self.tokens[s:s + self.seq_len + 1] for s in starts]).astype(np.int64)  # (B, T+1)
        rows = torch.from_numpy(rows)
        return rows[:, :-1], rows[:, 1:]  # (B, T) inputs, (B, T) targets

    def batch(self, step: int, rank: int = 0, world: int = 1):
        """This process's slice of the global batch of step `step`."""
        starts = batch_rng(self.seed, step).integers(0, len(self.tokens) - self.seq_len - 1, self.batch_size)
        return self._windows(_my_slice(starts, rank, world))

    def eval_batches(self, n_batches: int):
        """Fixed, evenly spaced windows: the same validation set at every evaluation."""
        n = n_batches * self.batch_size
        starts = np.linspace(0, len(self.tokens) - self.seq_len - 1, n).astype(np.int64)
        return [self._windows(starts[i:i + self.batch_size]) for i in range(0, n, self.batch_size)]


def read_dialogs(path: str | os.PathLike) -> list[list[dict]]:
    """A .jsonl file of dialogs: each line a list of messages, or an object with a "messages"/"dialog" list.

    Each dialog is checked here, where the line it came from is known: a mistake is reported as `file:line`.
    """
    dialogs = []
    # JSON Lines ends a line at "\n" only: str.splitlines would also cut at U+2028 and the like, which JSON
    # leaves unescaped inside strings (json.dumps(..., ensure_ascii=False) writes them as they are)
    for number, line in enumerate(read_text(path, CHAT_DATA).split("\n"), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as error:
            raise ValueError(f"{path}:{number}: this line is not JSON ({error}). {CHAT_DATA}") from None
        except RecursionError:
            raise ValueError(f"{path}:{number}: this line nests lists or objects too deeply to be a dialog (a "
                             f"dialog is a list of messages, two levels). {CHAT_DATA}") from None
        if isinstance(item, dict):
            item = item.get("messages") or item.get("dialog")
        if not isinstance(item, list):
            raise ValueError(f"{path}:{number}: expected a list of {{'role', 'content'}} messages. {CHAT_DATA}")
        try:
            if fold_system_prompt(item)[-1]["role"] != "assistant":
                raise ValueError("a training dialog must end with the assistant's reply")
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {error}") from None
        dialogs.append(item)
    return dialogs


def chat_example(tokenizer: Tokenizer, dialog: list[dict], seq_len: int,
                 last_answer_only: bool = False) -> tuple[list[int], list[int]]:
    """(inputs, targets) of one dialog; targets are IGNORE except where the next token is the assistant's.

    Example: ids [BOS, [INST], hi, [/INST], hello, EOS] with mask [0, 0, 0, 0, 1, 1] ->
             inputs [BOS, [INST], hi, [/INST], hello], targets [-100, -100, -100, hello, EOS].
    With `last_answer_only`, the earlier answers get IGNORE too: only the last answer and its EOS are learned, as in
    Ghost Attention's training dialogs (Llama 2, section 3.3: the loss is zero on every token of the earlier turns).
    """
    ids, is_answer = encode_dialog_for_training(tokenizer, dialog)
    if last_answer_only:  # the last answer is the final run of True: it starts after the last prompt token
        start = max(i for i, answer in enumerate(is_answer) if not answer) + 1
        is_answer = [i >= start for i in range(len(is_answer))]
    ids, is_answer = ids[:seq_len + 1], is_answer[:seq_len + 1]  # a dialog longer than the context is cut
    targets = [t if answer else IGNORE for t, answer in zip(ids[1:], is_answer[1:])]
    return ids[:-1], targets


class ChatBatches:
    """Dialogs as right-padded (inputs, targets) rows; each epoch visits every dialog once, in a fresh order."""

    def __init__(self, examples: list[tuple[list[int], list[int]]], batch_size: int, seed: int, pad_id: int):
        if not examples:
            raise ValueError("no dialogs to train on")
        self.examples, self.batch_size, self.seed, self.pad_id = examples, batch_size, seed, pad_id

    def _pad(self, chosen: list[int]):
        width = max(len(self.examples[i][0]) for i in chosen)
        inputs = torch.full((len(chosen), width), self.pad_id, dtype=torch.long)  # (B, T)
        targets = torch.full((len(chosen), width), IGNORE, dtype=torch.long)  # (B, T)
        for row, i in enumerate(chosen):
            x, y = self.examples[i]
            inputs[row, :len(x)], targets[row, :len(y)] = torch.tensor(x), torch.tensor(y)
        return inputs, targets

    def batch(self, step: int, rank: int = 0, world: int = 1):
        n = len(self.examples)
        positions = np.arange(step * self.batch_size, (step + 1) * self.batch_size)  # places in an endless stream
        order = {}
        chosen = []
        for position in positions:
            epoch = int(position // n)
            if epoch not in order:
                order[epoch] = batch_rng(self.seed, epoch).permutation(n)
            chosen.append(int(order[epoch][position % n]))
        return self._pad(_my_slice(np.array(chosen), rank, world).tolist())

    def eval_batches(self, n_batches: int):
        chosen = list(range(min(len(self.examples), n_batches * self.batch_size)))
        return [self._pad(chosen[i:i + self.batch_size]) for i in range(0, len(chosen), self.batch_size)]


def chat_batches(tokenizer: Tokenizer, dialogs: list[list[dict]], seq_len: int, batch_size: int,
                 seed: int, last_answer_only: bool | Sequence[bool] = False) -> ChatBatches:
    """The chat stage's batches: each dialog as `chat_example` makes it, right-padded with EOS (`ChatBatches`).
    `last_answer_only`: for all dialogs, or one flag per dialog (Ghost Attention's examples beside ordinary ones)."""
    flags = [last_answer_only] * len(dialogs) if isinstance(last_answer_only, bool) else list(last_answer_only)
    if len(flags) != len(dialogs):
        raise ValueError(f"{len(flags)} last_answer_only flags for {len(dialogs)} dialogs: give one per dialog")
    examples = [chat_example(tokenizer, d, seq_len, flag) for d, flag in zip(dialogs, flags)]
    if all(t == IGNORE for _, targets in examples for t in targets):
        raise ValueError(f"no dialog has an answer within seq_len={seq_len} tokens: give a longer seq_len")
    return ChatBatches(examples, batch_size, seed, pad_id=tokenizer.eos_id)


def finetune_on_dialogs(model, tokenizer, dialogs: Sequence[list[dict]], steps: int = 30, lr: float = 1e-4,
                        batch_size: int = 16, seed: int = 0, weight_decay: float = 0.0,
                        last_answer_only: bool | Sequence[bool] = False):
    """A copy of `model` fine-tuned on `dialogs` with the loss on the assistant's tokens only (SFT).

    The batches and the loss are those of `python -m llama_lab.train --stage chat` (`train.chat_batches`: each
    epoch visits every dialog once in a seeded order, targets are IGNORE but for the assistant's tokens; the mean
    cross-entropy over those targets). Plain AdamW at a constant learning rate. `last_answer_only` (for all
    dialogs or one flag each) puts a dialog's loss on its last answer alone. Returns (model, losses).
    """
    student = copy.deepcopy(model).train()
    device = student.device
    batches = chat_batches(tokenizer, list(dialogs), student.args.max_seq_len, batch_size, seed, last_answer_only)
    optimizer = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    for step in progress(range(steps), "fine-tuning", unit="step"):
        inputs, targets = batches.batch(step)  # (B, T) each
        total, scored = loss_sums(student, inputs.to(device), targets.to(device))
        loss = total / scored  # the mean over the assistant's tokens
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return student.eval(), losses


def _my_slice(items: np.ndarray, rank: int, world: int) -> np.ndarray:
    if len(items) % world:
        raise ValueError(f"the global batch of {len(items)} does not split evenly over {world} processes")
    per_rank = len(items) // world
    return items[rank * per_rank:(rank + 1) * per_rank]


def load_batches(path: str, cfg: TrainConfig, tokenizer: Tokenizer, seq_len: int, rank: int):
    if cfg.stage == "chat":
        try:
            return chat_batches(tokenizer, read_dialogs(path), seq_len, cfg.batch_size, cfg.seed)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    if Path(path).suffix == ".jsonl":
        raise ValueError(f"{path} holds dialogs: pass --stage chat to fine-tune on them. {PRETRAIN_DATA}")
    if rank == 0:  # one process tokenizes; the others wait, then map the same file
        tokenize_corpus(path, tokenizer)
    _barrier()
    tokens = tokenize_corpus(path, tokenizer)
    try:
        return TextBatches(tokens, seq_len, cfg.batch_size, cfg.seed)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


# ----------------------------------------------------------------------------------------------- the loss

class LinearCrossEntropy(torch.autograd.Function):
    """The output head and the summed cross-entropy in one step, with the gradient worked out on the way.

    hidden (N, D) are what the head reads, weight (V, D) the head's matrix, targets (N,) the answers (IGNORE: not
    scored). The cross-entropy of a row is -log softmax(logits)[target], and its gradient with respect to the
    logits is softmax(logits) - onehot(target): the predicted probabilities, less one at the right answer. The
    forward pass has the log-probabilities at hand, so it turns them into that gradient there and then, in the
    logits' own memory; the backward pass multiplies it by the weight (for hidden) and by hidden (for the weight).
    The loss thus makes one (N, V) tensor where autograd's own route (the head, log_softmax, nll_loss, then each
    one's backward) makes four, each a fresh 32 MiB for the tiny model's 8 x 256 tokens, and on a CPU memory that
    fresh costs a page fault per 4 KiB. Measured on the tiny model: a training step about 6% sooner (python -m
    llama_lab.bench, training rows), and a peak of 260 MiB added by a step instead of 315 MiB.

    Example: hidden [[1, 0]], weight [[0, 0], [ln 3, 0]], target [1]: logits [0, ln 3], softmax [1/4, 3/4], loss
    -ln(3/4) = 0.2877; gradient for the logits [1/4, -1/4], so for hidden [-ln(3)/4, 0] and for the weight
    [[1/4, 0], [-1/4, 0]].
    """

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = (hidden @ weight.t()).float()  # (N, V), float32 as the model's logits are
        if logits.device.type == "cpu":  # in place (the CPU kernel reads a row whole before writing it)
            log_probs = torch.log_softmax(logits, dim=-1, out=logits)
        else:  # a GPU's caching allocator makes a new tensor cheap
            log_probs = torch.log_softmax(logits, dim=-1)
        scored = targets != IGNORE  # (N,)
        answer = targets.masked_fill(~scored, 0)[:, None]  # (N, 1); any column will do for the unscored rows
        total = -torch.where(scored, log_probs.gather(1, answer).squeeze(1), 0.0).sum()
        grad = log_probs.exp_()  # softmax, in place: (N, V)
        grad.scatter_add_(1, answer, -scored[:, None].to(grad.dtype))  # less one at each scored answer
        grad.mul_(scored[:, None])  # and nothing for the unscored rows
        ctx.save_for_backward(hidden, weight, grad)
        return total

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_total: torch.Tensor):
        hidden, weight, grad = ctx.saved_tensors
        grad = grad.to(hidden.dtype)  # (N, V); no copy in float32
        # the upstream scalar scales the small products, not the (N, V) one; nothing saved is changed in place,
        # so backward may be run again (retain_graph=True)
        grad_hidden = (grad @ weight.to(hidden.dtype)) * grad_total if ctx.needs_input_grad[0] else None  # (N, D)
        grad_weight = (grad.t() @ hidden).to(weight.dtype) * grad_total if ctx.needs_input_grad[1] else None
        return grad_hidden, grad_weight, None


def logits_loss_sums(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """loss_sums from logits already computed, (B, T, V): torch's own cross-entropy, summed over scored targets."""
    total = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE, reduction="sum")
    return total, (targets != IGNORE).sum()


def loss_sums(model, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of the cross-entropies over the scored targets, how many targets were scored), in nats.

    With a gradient to compute, eagerly, the head and the loss go through LinearCrossEntropy. Otherwise the model's
    logits and F.cross_entropy: in evaluation there is no gradient to prepare, compiled Inductor fuses the loss by
    itself, and forward hooks on the output head (which LinearCrossEntropy would pass by) see the logits.
    """
    llama = getattr(model, "module", model)  # under DistributedDataParallel, the model it wraps
    head = llama.output
    if (torch.is_grad_enabled() and not torch.compiler.is_compiling() and head.weight.requires_grad
            and not (head._forward_hooks or head._forward_pre_hooks)):
        hidden = model(inputs, head=False)  # (B, T, D)
        total = LinearCrossEntropy.apply(hidden.flatten(0, 1), head.weight, targets.flatten())
        return total, (targets != IGNORE).sum()
    return logits_loss_sums(model(inputs), targets)


def compiled_loss_sums():
    """loss_sums through torch.compile: the model's forward pass and the cross-entropy fused by Inductor, and
    through AOTAutograd their backward pass too. The matrix products and attention stay the same kernels; what
    compiling saves is the dozens of small operations around them (RMSNorm, rotary embeddings, SwiGLU, the loss)
    each reading and writing whole activations. Measured by `python -m llama_lab.bench` (training rows)."""
    return torch.compile(loss_sums)


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


# -------------------------------------------------------------------------------------- processes, devices

def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _barrier():
    if _distributed():
        dist.barrier()


def global_sums(*values: float) -> list[float]:
    """Each value summed over all processes (itself when there is one), in float64."""
    if not _distributed():
        return list(values)
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"  # NCCL reduces GPU tensors, gloo CPU ones
    total = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.tolist()


def setup_processes(cfg: TrainConfig) -> tuple[int, int, torch.device]:
    """(rank, world size, device). Under torchrun (WORLD_SIZE set) join the process group: gloo or NCCL."""
    if cfg.device == "auto":
        kind = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    else:
        kind = cfg.device
    present = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not present.get(torch.device(kind).type, True):
        raise ValueError(f"device={cfg.device!r}: this machine has no such device: use --device auto or cpu")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, torch.device(kind)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if kind.startswith("cuda"):
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        device = torch.device(kind)
        dist.init_process_group("gloo")
    return rank, world, device


def autocast_for(cfg: TrainConfig, device: torch.device):
    """bfloat16 autocast where it pays: CUDA with bf16 support. CPU kernels gain little and lose precision."""
    if cfg.autocast == "auto":
        on = device.type == "cuda" and torch.cuda.is_bf16_supported()
    else:
        on = cfg.autocast == "on"
    return torch.autocast(device.type, dtype=torch.bfloat16) if on else contextlib.nullcontext()


# ---------------------------------------------------------------------------------------- the checkpoints

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


def save_checkpoint(path: Path, model: Llama, optimizer, step: int, cfg: TrainConfig, history: dict,
                    data_info: dict) -> None:
    """Write the training state as tensors and plain values, to a temporary file renamed into place (replacing):
    a crash while writing leaves the previous checkpoint whole."""
    state = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
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


# ------------------------------------------------------------------------------------------------ the loop

def build_or_load_model(cfg: TrainConfig, tokenizer: Tokenizer, device: torch.device) -> Llama:
    if cfg.init is not None:
        model = load_model(cfg.init, device=device, dtype=torch.float32)
        scheme = quantization_of(model)
        if scheme is not None:  # its layers hold integers, which no gradient can change
            raise ValueError(f"{cfg.init} is quantized ({scheme.name}), and training changes floating-point "
                             "weights: give --init the floating-point checkpoint it was quantized from, or, with "
                             "none, save a floating-point copy first: save_model(dequantize_model(load_model(init)), "
                             "copy, format='kit') (llama_lab.quantize.dequantize_model; the copy keeps the rounding)")
        if model.args.vocab_size != tokenizer.n_words:
            raise ValueError(f"{cfg.init} has a vocabulary of {model.args.vocab_size} but the tokenizer "
                             f"{cfg.tokenizer} has {tokenizer.n_words}")
        return model.train()
    torch.manual_seed(cfg.seed)
    model = init_weights(Llama(cfg.model_args(tokenizer.n_words)), std=cfg.init_std, seed=cfg.seed)
    return model.to(device).train()


def train_step(model, optimizer, inputs, targets, cfg: TrainConfig, world: int, autocast_ctx, loss_of=loss_sums):
    """One optimiser step on this process's share of the global batch -> (loss, scored tokens, gradient norm).

    The loss of the global batch is (sum over every process) / (targets over every process). DDP averages the
    gradients of the processes, so each back-propagates its own sum / global count * world size: with chat
    batches, where each process scores a different number of tokens, this still gives one process's gradient.
    `loss_of` is loss_sums or its compiled form (compiled_loss_sums).
    """
    [count] = global_sums(int((targets != IGNORE).sum()))
    with autocast_ctx:
        loss_sum, _ = loss_of(model, inputs, targets)
    (loss_sum / max(count, 1) * world).backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    [loss_total] = global_sums(float(loss_sum.detach()))
    return loss_total / max(count, 1), int(count), float(grad_norm)


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) one training run; returns a summary: losses, tokens seen, wall time, the loss curves."""
    rank, world, device = setup_processes(cfg)
    try:
        return _train(cfg, rank, world, device)
    finally:
        if _distributed():
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
    train_data = load_batches(cfg.data, cfg, tokenizer, seq_len, rank)
    val_batches = None
    if cfg.val_data:
        val_batches = load_batches(cfg.val_data, cfg, tokenizer, seq_len, rank).eval_batches(cfg.eval_batches)
    data_info = {"data": Path(cfg.data).name, "size": _data_size(train_data),
                 "tokenizer_sha256": file_sha256(cfg.tokenizer)}

    optimizer = make_optimizer(model, cfg)
    start, history = 0, {"train": [], "val": [], "tokens": 0, "wall_s": 0.0, "cpu_s": 0.0}
    if cfg.resume:
        state = load_checkpoint(ckpt_path, cfg, data_info)
        try:
            model.load_state_dict(state["model"])
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
    stop = cfg.steps if cfg.until is None else min(cfg.until, cfg.steps)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=cfg.steps, initial=start, disable=rank != 0 or not cfg.progress, unit="step",
               desc=cfg.stage, dynamic_ncols=True)
    previous = last_tick = time.perf_counter()
    previous_cpu, tokens_since = time.process_time(), 0

    for step in range(start, stop):
        lr = lr_at(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        inputs, targets = train_data.batch(step, rank, world)
        loss, count, grad_norm = train_step(ddp_model, optimizer, inputs.to(device), targets.to(device), cfg,
                                            world, autocast_ctx, loss_of)
        history["train"].append([step + 1, loss])
        history["tokens"] += count  # the tokens the loss was on: all of them in pretraining
        tokens_since += count
        now = time.perf_counter()
        history["wall_s"] += now - previous
        history["cpu_s"] += time.process_time() - previous_cpu  # CPU seconds, all threads: for estimates on
        previous, previous_cpu = now, time.process_time()      # a busy machine
        bar.update(1)
        if now - last_tick > 1.0 or step + 1 == stop:
            bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.1e}", gnorm=f"{grad_norm:.2f}",
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
            _barrier()
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
        save_model(model, out, format="kit")  # beside the learner's own files in --out, which it leaves alone
        if cfg.export:
            save_model(model, cfg.export, format="kit", dtype=cfg.export_dtype)
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


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


# -------------------------------------------------------------------------------------- the command line

class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose mistakes read as the kit's others do: one line, `error: ...`, and status 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see python -m llama_lab.train --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m llama_lab.train", description=__doc__.split("\n")[0])
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            kind = {"int": int, "float": float}.get(str(f.type).split(" ")[0], str)
            parser.add_argument(flag, type=_optional(kind), default=default)
    return parser


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    return TrainConfig(**vars(_parser().parse_args(argv)))


def _optional(kind):
    def parse(text: str):
        return None if text.lower() == "none" else kind(text)
    parse.__name__ = kind.__name__
    return parse


def main(argv: list[str] | None = None) -> dict:
    """The command line: train, or print a mistake in what it was given as one line and exit with status 2.

    The kit raises ValueError, FileNotFoundError and CheckpointError for what a learner gave it (a flag, a data
    file, --out, --resume), each message saying what was given and what to do: a traceback would bury it.
    """
    parser = _parser()
    config = parser.parse_args(argv)
    with one_line_errors(ValueError, CheckpointError, writing="give another --out"):
        return train(TrainConfig(**vars(config)))


if __name__ == "__main__":
    main()
