"""Fine-tuning a model in memory on a handful of dialogs (or on running text), for notebooks and the course's
experiments: no files, no run."""

from __future__ import annotations

import copy
from typing import Sequence

from ..fast.loss import loss_sums
from ..optim import Recipe
from ..progress import progress
from .data import chat_batches


def finetune_on_dialogs(model, tokenizer, dialogs: Sequence[list[dict]], steps: int = 30, lr: float = 1e-4,
                        batch_size: int = 16, seed: int = 0, weight_decay: float = 0.0,
                        last_answer_only: bool | Sequence[bool] = False):
    """A copy of `model` fine-tuned on `dialogs` with the loss on the assistant's tokens only (SFT).

    The batches and the loss are those of `python -m llama_lab.train --stage chat` (`train.chat_batches`: each
    epoch visits every dialog once in a seeded order, targets are IGNORE but for the assistant's tokens; the mean
    cross-entropy over those targets). The optimiser is Llama 2's recipe (llama_lab.optim) with the settings below.
    `last_answer_only` (for all dialogs or one flag each) puts a dialog's loss on its last answer alone. Returns
    (model, losses).
    """
    batches = chat_batches(tokenizer, list(dialogs), model.args.max_seq_len, batch_size, seed, last_answer_only)
    # a few steps on a few dialogs, as the notebooks and the RLHF stages were measured with: no warm-up or decay,
    # no clipping, torch's default betas and eps, and the weight decay (none by default) on every parameter
    recipe = Recipe(lr=lr, steps=max(1, steps), min_lr_ratio=1.0, weight_decay=weight_decay, decay_vectors=True,
                    betas=(0.9, 0.999), eps=1e-8, grad_clip=None)
    return finetune_on_batches(model, batches, steps, recipe)


def finetune_on_batches(model, batches, steps: int, recipe: Recipe, label: str = "fine-tuning"):
    """A copy of `model` trained for `steps` steps on `batches` (anything with `batch(step)` -> (inputs, targets),
    such as `TextBatches` for running text or `ChatBatches` for dialogs) with `recipe`'s optimiser and schedule;
    only the parameters that require a gradient train (so a model with LoRA adapters trains its adapters). The
    loss is the mean cross-entropy over the scored targets. Returns (model, losses)."""
    student = copy.deepcopy(model).train()
    device = student.device
    optimizer = recipe.optimizer(student)
    losses = []
    for step in progress(range(steps), label, unit="step"):
        inputs, targets = batches.batch(step)  # (B, T) each
        total, scored = loss_sums(student, inputs.to(device), targets.to(device))
        loss = total / scored  # the mean over the scored targets
        loss.backward()
        recipe.update(optimizer, student.parameters(), step)
        losses.append(loss.item())
    return student.eval(), losses
