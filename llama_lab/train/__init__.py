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

Fine-tuning trains every weight, or, with `method` "lora" or "qlora", low-rank adapters beside the frozen weights
(llama_lab.lora; with "qlora" the base stored in NF4); `python -m llama_lab.finetune` is its command for one's own
dialogs, with the defaults of Meta's llama-recipes.

The package, one job a file: config.py (TrainConfig), data.py (the token cache, pretraining windows,
chat batches), loop.py (the loop), checkpoints.py (the training state and --resume), processes.py (devices, DDP),
cli.py (the command line), finetune.py (`finetune_on_dialogs`: a few dialogs, in memory, for notebooks and RLHF).
Llama 2's optimisation recipe (AdamW, the schedule, clipping) is llama_lab/optim.py, which the RLHF stages take
too; the loss and its fast routes live with the kit's other speed work, in llama_lab/fast/loss.py.
"""

from ..fast.loss import IGNORE, LinearCrossEntropy, compiled_loss_sums, logits_loss_sums, loss_sums
from .checkpoints import CHECKPOINT, load_checkpoint, save_checkpoint
from .cli import main, parse_args
from .config import TrainConfig, lr_at, make_optimizer
from .data import (CHAT_DATA, PRETRAIN_DATA, ChatBatches, TextBatches, chat_batches, chat_example, file_sha256,
                   read_dialogs, read_text, split_dialogs, split_documents, token_cache_paths, tokenize_corpus)
from .finetune import finetune_on_batches, finetune_on_dialogs
from .loop import adapt_for_method, build_or_load_model, evaluate_loss, train, train_step
from .processes import autocast_for, global_sums, setup_processes

__all__ = ["CHAT_DATA", "CHECKPOINT", "ChatBatches", "IGNORE", "LinearCrossEntropy", "PRETRAIN_DATA", "TextBatches",
           "TrainConfig", "adapt_for_method", "autocast_for", "build_or_load_model", "chat_batches", "chat_example",
           "compiled_loss_sums", "evaluate_loss", "file_sha256", "finetune_on_batches", "finetune_on_dialogs",
           "global_sums", "load_checkpoint", "logits_loss_sums", "loss_sums", "lr_at", "main", "make_optimizer",
           "parse_args", "read_dialogs", "read_text", "save_checkpoint", "setup_processes", "split_dialogs",
           "split_documents", "token_cache_paths", "tokenize_corpus", "train", "train_step"]
