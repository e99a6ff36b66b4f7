"""Llama 2's optimisation recipe, written once for every stage that trains: AdamW, a linear warm-up, a cosine decay
to a tenth of the peak learning rate, and the gradients' norm clipped.

Reference: "Llama 2: Open Foundation and Fine-Tuned Chat Models", Touvron et al. 2023, section 2.2: AdamW with
beta1 0.9, beta2 0.95, eps 1e-5, weight decay 0.1, a warm-up of 2,000 steps, cosine decay down to 10% of the peak
learning rate, gradient clipping at 1.0. The weight decay falls on the matrices (embeddings, projections), not on
the RMSNorm gains, as nanoGPT has it.

    recipe = Recipe(lr=1e-3, steps=1000, warmup=100)
    optimizer = recipe.optimizer(model)
    for step in range(recipe.steps):
        loss(model, batch(step)).backward()
        recipe.update(optimizer, model.parameters(), step)  # this step's lr, clipping, AdamW's step

Pretraining and chat fine-tuning (llama_lab.train) take it from their TrainConfig; the later stages (reward models,
DPO, PPO, `finetune_on_dialogs`) take the same recipe, and where one differs from pretraining (no weight decay, a
constant learning rate, ...) it says so, and why, where it builds its Recipe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import torch


@dataclass(frozen=True)
class Recipe:
    """The optimiser, its schedule and its clipping, as one stage uses them. The defaults are the paper's."""

    lr: float  # the peak learning rate
    steps: int  # the schedule's length: the cosine reaches its end here
    warmup: int = 0  # steps of linear warm-up to the peak
    min_lr_ratio: float = 0.1  # the cosine ends at min_lr_ratio * lr; 1.0 keeps the peak after the warm-up
    weight_decay: float = 0.1
    decay_vectors: bool = False  # False: decay the matrices only, not the RMSNorm gains (vectors)
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-5
    grad_clip: float | None = 1.0  # the largest gradient norm; None: no clipping

    def __post_init__(self):
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr}: the learning rate must be a positive number, such as 1e-3")
        if self.steps < 1 or self.warmup < 0:
            raise ValueError(f"steps={self.steps}, warmup={self.warmup}: give at least 1 step and a warm-up of 0 "
                             "or more")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio={self.min_lr_ratio}: give a number from 0 to 1")

    def lr_at(self, step: int) -> float:
        """The learning rate of step `step` (0-based): linear warm-up to lr, then cosine down to min_lr_ratio of it.

        Example (lr 1e-3, warmup 10, steps 110): step 0 -> 1e-4, step 9 -> 1e-3 (the peak), step 60 (half-way
        through the decay) -> 5.5e-4, step 110 -> 1e-4. With min_lr_ratio 1.0 the cosine's range is zero: every
        step after the warm-up has lr itself, exactly.
        """
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        min_lr = self.lr * self.min_lr_ratio
        progress = min(1.0, (step - self.warmup) / max(1, self.steps - self.warmup))  # 0 at the peak, 1 at the end
        return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (self.lr - min_lr)

    def optimizer(self, model: torch.nn.Module) -> torch.optim.AdamW:
        """AdamW over the trainable parameters of `model`: weight decay on the matrices (embeddings, projections),
        none on the vectors (RMSNorm gains) unless decay_vectors. One parameter at a time (foreach=False): the same
        arithmetic on every device, whatever the number of parameters."""
        trainable = [p for p in model.parameters() if p.requires_grad]
        if self.decay_vectors:
            groups = [{"params": trainable, "weight_decay": self.weight_decay}]
        else:
            groups = [{"params": [p for p in trainable if p.dim() >= 2], "weight_decay": self.weight_decay},
                      {"params": [p for p in trainable if p.dim() < 2], "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=self.lr, betas=self.betas, eps=self.eps, foreach=False)

    def update(self, optimizer: torch.optim.Optimizer, parameters: Iterable[torch.Tensor],
               step: int) -> torch.Tensor | None:
        """Step `step`'s update, once the gradients are in: its learning rate, the gradients' norm clipped, the
        optimiser's step, the gradients cleared. Returns the norm before clipping (None without clipping)."""
        for group in optimizer.param_groups:
            group["lr"] = self.lr_at(step)
        norm = None if self.grad_clip is None else torch.nn.utils.clip_grad_norm_(parameters, self.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return norm
