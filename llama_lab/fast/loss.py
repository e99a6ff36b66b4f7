"""The training loss, fast: the output head and the cross-entropy as one autograd step, and its compiled form.

`loss_sums` is the loss every training stage minimises (pretraining, chat fine-tuning, `finetune_on_dialogs`):
the summed cross-entropy over the scored targets and their count. With a gradient to compute it takes
`LinearCrossEntropy`, which never keeps the logits; `compiled_loss_sums` hands it to torch.compile. Both give
torch's own cross-entropy (`logits_loss_sums`) to rounding: tests/engine/test_train.py compares them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..nf4 import NF4Linear

IGNORE = -100  # the target id F.cross_entropy skips: prompt tokens in chat, padding


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

    With a gradient to compute, eagerly, the head and the loss go through LinearCrossEntropy: for a trainable head,
    and for a frozen one whose input trains (LoRA), or an NF4 one (QLoRA: its forward multiplies by its dequantized
    weight, which LinearCrossEntropy multiplies by instead). Otherwise the model's logits and F.cross_entropy: in
    evaluation there is no gradient to prepare, compiled Inductor fuses the loss by itself, forward hooks on the
    output head (which LinearCrossEntropy would pass by) see the logits, and an int8 or int4 head runs its own
    kernels.
    """
    llama = getattr(model, "module", model)  # under DistributedDataParallel, the model it wraps
    head = llama.output
    if not (torch.is_grad_enabled() and not torch.compiler.is_compiling() and isinstance(head, (nn.Linear, NF4Linear))
            and not (head._forward_hooks or head._forward_pre_hooks)):
        return logits_loss_sums(model(inputs), targets)
    hidden = model(inputs, head=False)  # (B, T, D)
    weight = head.weight if isinstance(head, nn.Linear) else head.dequantize(hidden.dtype)  # (V, D)
    if not (hidden.requires_grad or weight.requires_grad):  # nothing trains: no gradient to prepare
        return logits_loss_sums(F.linear(hidden, weight).float(), targets)
    total = LinearCrossEntropy.apply(hidden.flatten(0, 1), weight, targets.flatten())
    return total, (targets != IGNORE).sum()


def compiled_loss_sums():
    """loss_sums through torch.compile: the model's forward pass and the cross-entropy fused by Inductor, and
    through AOTAutograd their backward pass too. The matrix products and attention stay the same kernels; what
    compiling saves is the dozens of small operations around them (RMSNorm, rotary embeddings, SwiGLU, the loss)
    each reading and writing whole activations. Measured by `python -m llama_lab.bench` (training rows)."""
    return torch.compile(loss_sums)
