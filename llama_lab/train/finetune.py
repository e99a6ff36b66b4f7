"""Fine-tuning a model in memory on a handful of dialogs, for notebooks and the RLHF stages: no files, no run."""

from __future__ import annotations

import copy
from typing import Sequence

import torch

from ..fast.loss import loss_sums
from ..progress import progress
from .data import chat_batches


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
