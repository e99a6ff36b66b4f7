"""Where refusal lives inside the model: linear probes, the refusal direction, steering and the logit lens.

References:
1) Alain and Bengio 2016, "Understanding intermediate layers using linear classifier probes".
2) Arditi et al. 2024, "Refusal in Language Models Is Mediated by a Single Direction": the difference of the mean
   residual stream on harmful and on harmless instructions, at the last token of the prompt, is a direction r;
   projecting r out of the stream everywhere stops refusals, and adding r to harmless prompts causes them.
3) nostalgebraist 2020, "interpreting GPT: the logit lens": read each layer's residual stream through the final
   norm and the output matrix, as if the model stopped there.

Layers are counted as the residual stream has them (hooks.py): index 0 is the embeddings (the stream entering
block 0) and index i >= 1 the stream leaving block i - 1, so an n-layer model has n + 1 of them. The hooks that
read and edit the stream, and the logit lens itself, are hooks.py's.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from ..chat import encode_dialog
from ..hooks import edit_residual_stream, logit_lens, residual_stream
from ..replies import dialog_for, replies
from .safety import refusal_rate, sense_rate
from .viz import figure_and_axes


@torch.no_grad()
def last_token_activations(model, token_lists: Sequence[Sequence[int]], batch_size: int = 32) -> torch.Tensor:
    """The residual stream at each sequence's last token, at every layer: (N, n_layers + 1, D), float32, on CPU.

    Batched with right padding (causal attention: the padding after a sequence cannot change it).
    """
    device = model.device
    out = []
    for start in range(0, len(token_lists), batch_size):
        chunk = token_lists[start:start + batch_size]
        lengths = torch.tensor([len(t) for t in chunk], device=device)
        tokens = torch.zeros(len(chunk), int(lengths.max()), dtype=torch.long, device=device)  # (B, T)
        for i, t in enumerate(chunk):
            tokens[i, :len(t)] = torch.tensor(list(t))
        stream = residual_stream(model, tokens)  # (L + 1, B, T, D)
        last = stream[:, torch.arange(len(chunk), device=device), lengths - 1]  # (L + 1, B, D)
        out.append(last.transpose(0, 1).float().cpu())  # (B, L + 1, D)
    return torch.cat(out)


def request_activations(model, tokenizer, requests: Sequence[str], system: str | None = None,
                        batch_size: int = 32) -> torch.Tensor:
    """last_token_activations of each request in the chat format: the stream at the "]" of [/INST]."""
    return last_token_activations(model, [encode_dialog(tokenizer, dialog_for(r, system)) for r in requests],
                                  batch_size)


# ------------------------------------------------------------------------------------------- linear probes

@dataclass
class LinearProbe:
    """p(harmful | x) = sigmoid(w . (x - mean) / std + b): logistic regression on standardised activations."""

    mean: torch.Tensor
    std: torch.Tensor
    weight: torch.Tensor
    bias: float

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(((x.float() - self.mean) / self.std) @ self.weight + self.bias)

    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> float:
        return float(((self.probabilities(x) >= 0.5) == y.bool()).float().mean())


def fit_probe(x: torch.Tensor, y: torch.Tensor, steps: int = 200, lr: float = 0.05,
              weight_decay: float = 1e-2) -> LinearProbe:
    """Fit a logistic-regression probe on x (N, D) with 0/1 labels y (N,): full-batch Adam from zero weights,
    so the same data give the same probe. Features are standardised with the training set's mean and std."""
    x, y = x.float(), y.float()
    mean, std = x.mean(0), x.std(0).clamp(min=1e-6)
    z = (x - mean) / std
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.Adam([w, b], lr=lr)
    for _ in range(steps):
        loss = F.binary_cross_entropy_with_logits(z @ w + b, y) + weight_decay * (w * w).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return LinearProbe(mean, std, w.detach(), float(b.detach()))


def probe_accuracy_by_layer(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                            test_y: torch.Tensor, **options) -> list[float]:
    """Held-out accuracy of one probe per layer. x: (N, L + 1, D) from last_token_activations; y: (N,) 0/1."""
    return [fit_probe(train_x[:, i], train_y, **options).accuracy(test_x[:, i], test_y)
            for i in range(train_x.shape[1])]


# ------------------------------------------------------------------------------ the refusal direction

def difference_of_means(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """mean(a) - mean(b) over the first dimension: (N, ...) and (M, ...) -> (...).

    Example: a = [[1, 0], [3, 0]], b = [[0, 1]] -> [2, -1].
    """
    return a.float().mean(0) - b.float().mean(0)


def project_out(h: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """h minus its component along `direction`: h - (h . u) u with u = direction / |direction|. (..., D)."""
    u = (direction / direction.norm()).to(h.dtype)
    return h - (h @ u)[..., None] * u


def add_direction(h: torch.Tensor, direction: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """h + scale * direction at every position. (..., D)."""
    return h + scale * direction.to(h.dtype)


def refusal_directions(harmful: torch.Tensor, benign: torch.Tensor) -> torch.Tensor:
    """The difference-of-means direction at every layer: (N, L + 1, D), (M, L + 1, D) -> (L + 1, D)."""
    return difference_of_means(harmful, benign)


@contextlib.contextmanager
def steering(model, direction: torch.Tensor, mode: str, layers: Sequence[int] | None = None, scale: float = 1.0):
    """Run the model with its residual stream edited along `direction`, at every position, while inside.

    `layers` are residual stream indices, as everywhere in the kit: 1 is the stream leaving block 0, n_layers the
    stream leaving the last block, 0 the embeddings.
    mode="ablate": project the direction out of the stream at each index in `layers` (default: the stream leaving
    every block, 1 .. n_layers; the embeddings are left alone);
    mode="add": add scale * direction to the stream at each index in `layers` (required: which ones).
    """
    direction = direction.to(model.device)
    if mode == "ablate":
        layers = range(1, len(model.layers) + 1) if layers is None else layers
        edit = lambda i, h: project_out(h, direction)  # noqa: E731
    elif mode == "add":
        if layers is None:
            raise ValueError("mode='add' needs layers=[...]: adding the direction after every block compounds it")
        edit = lambda i, h: add_direction(h, direction, scale)  # noqa: E731
    else:
        raise ValueError(f"mode={mode!r}: use 'ablate' (remove the direction) or 'add'")
    with edit_residual_stream(model, edit, layers):
        yield model


def steered_refusal_rate(model, tokenizer, requests: Sequence[str], direction: torch.Tensor, mode: str,
                         layers: Sequence[int] | None = None, scale: float = 1.0, **options) -> float:
    """The refusal rate (in [0, 1]) of the model's greedy replies while steered (see `steering`)."""

    with steering(model, direction, mode, layers, scale):
        return refusal_rate(replies(model, tokenizer, requests, **options))


def steering_strength(model, tokenizer, requests: Sequence[str], direction: torch.Tensor, layer: int,
                      scales: Sequence[float], **options) -> list[dict]:
    """The direction added at `layer` with each scale: for each, the refusal rate of the greedy replies, the share
    of them that still make sense (`safety.makes_sense`), and the replies. Scale 0 is the model as it is."""
    rows = []
    for scale in scales:
        with steering(model, direction, "add", layers=[layer], scale=scale):
            steered = replies(model, tokenizer, requests, **options)
        rows.append({"scale": scale, "refused": refusal_rate(steered), "sense": sense_rate(steered),
                     "replies": steered})
    return rows


def ablation_sweep(model, tokenizer, requests: Sequence[str], directions: torch.Tensor, **options) -> list[float]:
    """Refusal rate with each layer's direction ablated everywhere: pick the layer whose direction matters most.

    Residual layer 0 (the embeddings) is skipped and reported as nan: it holds the same tokens for every prompt.
    """
    return [float("nan") if i == 0 else steered_refusal_rate(model, tokenizer, requests, directions[i], "ablate",
                                                             **options)
            for i in range(len(directions))]


def steering_sweep(model, tokenizer, harmful: Sequence[str], benign: Sequence[str], directions: torch.Tensor,
                   **options) -> dict[str, list[float]]:
    """Each layer's direction used at its own layer only, both ways: {"subtracted": refusal rate of the harmful
    requests with the direction subtracted (scale -1), "added": refusal rate of the benign ones with it added}.
    Residual layer 0 (the embeddings) is skipped and reported as nan, as in `ablation_sweep`. The layer that
    flips the most both ways is the one where `added - subtracted` is largest."""
    rates: dict[str, list[float]] = {"subtracted": [float("nan")], "added": [float("nan")]}
    for i in range(1, len(directions)):
        rates["subtracted"].append(steered_refusal_rate(model, tokenizer, harmful, directions[i], "add", layers=[i],
                                                        scale=-1.0, **options))
        rates["added"].append(steered_refusal_rate(model, tokenizer, benign, directions[i], "add", layers=[i],
                                                   **options))
    return rates


# ---------------------------------------------------------------------------------------- the logit lens

def lens_table(tokenizer, probs: torch.Tensor, k: int = 3) -> list[str]:
    """One line per layer: its k likeliest next tokens with their probabilities. probs (L + 1, V), e.g. the
    softmax of `hooks.logit_lens` at one position."""
    lines = []
    for i, row in enumerate(probs):
        top = torch.topk(row, k)
        tokens = ", ".join(f"{tokenizer.id_to_piece(int(t))!r} {float(p):.2f}" for p, t in zip(top.values, top.indices))
        lines.append(f"{'embeddings' if i == 0 else f'block {i - 1}':>10}: {tokens}")
    return lines


def lens_probabilities(model, activations: torch.Tensor, token_id: int) -> torch.Tensor:
    """p(token_id) read off every layer with the logit lens: activations (N, L + 1, D) -> (N, L + 1)."""
    return F.softmax(logit_lens(model, activations), dim=-1)[..., token_id].cpu()


# ------------------------------------------------------------------------------------------------- plots

def plot_probe_accuracy(accuracy: Sequence[float], chance: float = 0.5, ax=None):
    """Held-out probe accuracy per residual layer (0 = embeddings); returns the figure (`viz.figure_and_axes`)."""
    fig, ax = figure_and_axes(ax, figsize=(5.5, 3.2))
    ax.plot(range(len(accuracy)), [100 * a for a in accuracy], "o-", label="linear probe, held-out prompts")
    ax.axhline(100 * chance, color="grey", ls=":", label="chance")
    ax.set_xticks(range(len(accuracy)), ["emb"] + [str(i) for i in range(len(accuracy) - 1)])
    ax.set_xlabel("residual stream after block (emb = embeddings)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Is the request harmful? Read off each layer")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_lens(curves: dict[str, torch.Tensor], token: str, ax=None):
    """Mean p(token) by layer under the logit lens, one curve per group of prompts: {label: (N, L + 1)}."""
    fig, ax = figure_and_axes(ax, figsize=(5.5, 3.2))
    for label, probs in curves.items():
        layers = range(probs.shape[1])
        ax.plot(layers, 100 * probs.mean(0), "o-", label=label)
    ax.set_xticks(layers, ["emb"] + [str(i) for i in range(len(layers) - 1)])
    ax.set_xlabel("residual stream after block (emb = embeddings)")
    ax.set_ylabel(f"p({token!r}) as next token (%)")
    ax.set_title("Logit lens: when does the refusal's first token appear?")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
