"""Small tools the course notebooks call: measurements (head scores, repetition, speed) and two plots.

The notebooks explain; these functions compute, so that each can be tested against a case worked by hand.
Drawing of single attention patterns lives in `viz.py`.
Attention probabilities come from `model(tokens, return_attention=True)`: one (B, H, T, S) tensor per layer.

Example (a hand-made pattern in which every query looks only at the token before it):
    probs = torch.zeros(1, 1, 4, 4); probs[0, 0, 0, 0] = 1; probs[0, 0, [1, 2, 3], [0, 1, 2]] = 1
    previous_token_scores([probs])  -> tensor([[1.]])     (layers x heads)
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import matplotlib.pyplot as plt
import torch

from ..model import apply_rotary_emb, rope_tables
from .viz import MODEL_COLOUR, SAMPLER_COLOUR, figure_and_axes, piece_label


# --------------------------------------------------------------------------------------------- tokenization

def tokens_per_word(tokenizer, texts: Sequence[str]) -> float:
    """Tokens (no BOS) per whitespace-separated word over all `texts`: 1.0 would be one token per word."""
    words = sum(len(text.split()) for text in texts)
    if not words:
        raise ValueError("the texts hold no words: give at least one non-blank text")
    return sum(len(tokenizer.encode(text, bos=False)) for text in texts) / words


# ------------------------------------------------------------------------------------------------- attention

def _stack(attentions) -> torch.Tensor:
    """A list of per-layer (B, H, T, S) probabilities -> one (L, B, H, T, S) float tensor."""
    if any(a is None for a in attentions):
        raise ValueError("no attention probabilities: run the model with return_attention=True")
    return torch.stack([a.float() for a in attentions])


def previous_token_scores(attentions) -> torch.Tensor:
    """(L, H): each head's attention from position i to i-1, averaged over i >= 1 and the batch.

    1.0 is a perfect previous-token head; a head that spreads evenly over the t+1 keys it may see scores ~1/(t+1).
    """
    probs = _stack(attentions)  # (L, B, H, T, S)
    T = probs.shape[-2]
    if T < 2:
        raise ValueError("a previous-token score needs at least 2 positions")
    i = torch.arange(1, T)
    return probs[..., i, i - 1].mean(dim=(1, 3))  # (L, H)


def induction_scores(attentions, period: int, first: int = 1) -> torch.Tensor:
    """(L, H): on a sequence that repeats itself after `period` tokens, attention to "what came next last time".

    The first copy starts at position `first` (after BOS), the second at `first + period`. A query at t in the
    second copy holds the same token as t - period; an induction head looks at the token that followed it,
    t - period + 1. The score averages that attention over the second copy and the batch.
    """
    probs = _stack(attentions)  # (L, B, H, T, S)
    T = probs.shape[-2]
    if first + period >= T:
        raise ValueError(f"the sequence has {T} positions: it holds no second copy after first={first}, "
                         f"period={period}")
    t = torch.arange(first + period, T)
    return probs[..., t, t - period + 1].mean(dim=(1, 3))  # (L, H)


def top_heads(scores: torch.Tensor, k: int = 3) -> list[tuple[int, int, float]]:
    """The k highest (layer, head, score) of an (L, H) score table, best first."""
    values, flat = torch.topk(scores.flatten(), min(k, scores.numel()))
    H = scores.shape[1]
    return [(int(i) // H, int(i) % H, float(v)) for v, i in zip(values, flat)]


def repeated_random_tokens(vocab_size: int, period: int, bos_id: int = 1, batch_size: int = 1, seed: int = 0,
                           low: int = 3) -> torch.Tensor:
    """(B, 1 + 2*period): BOS, then `period` random token ids in [low, vocab_size), then the same ids again."""
    generator = torch.Generator().manual_seed(seed)
    random = torch.randint(low, vocab_size, (batch_size, period), generator=generator)
    bos = torch.full((batch_size, 1), bos_id, dtype=torch.long)
    return torch.cat([bos, random, random], dim=1)


def rotary_score(q: torch.Tensor, k: torch.Tensor, m: int, n: int, theta: float = 10000.0) -> float:
    """q . k after rotating q to position m and k to position n (one head, vectors of even size hd)."""
    hd = q.shape[-1]
    cos, sin = rope_tables(hd, max(m, n) + 1, theta)
    q_m = apply_rotary_emb(q.view(1, 1, 1, hd), cos[m:m + 1], sin[m:m + 1])
    k_n = apply_rotary_emb(k.view(1, 1, 1, hd), cos[n:n + 1], sin[n:n + 1])
    return float((q_m * k_n).sum())


# -------------------------------------------------------------------------------------------------- sampling

def distinct_ngram_fraction(ids: Sequence[int], n: int = 3) -> float:
    """Distinct n-grams / all n-grams of a sequence: 1.0 never repeats itself, near 0 loops.

    Example: [5, 6, 5, 6, 5, 6] with n=2 -> 2 distinct of 5 -> 0.4.
    """
    grams = [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]
    if not grams:
        raise ValueError(f"{len(ids)} ids hold no {n}-gram: generate at least {n} tokens")
    return len(set(grams)) / len(grams)


@torch.inference_mode()
def greedy_without_cache(model, prompt: Sequence[int], max_new_tokens: int) -> list[int]:
    """Greedy decoding that runs the whole sequence through the model for every new token: no KV cache.

    The quadratic baseline the cache is measured against; it gives the same tokens as
    `generate_tokens(model, [prompt], n, temperature=0, eos_id=None)` (up to float rounding in near ties).
    """
    device = model.device
    tokens = torch.tensor([list(prompt)], device=device)  # (1, T)
    for _ in range(max_new_tokens):
        next_token = model(tokens)[:, -1].argmax(-1, keepdim=True)  # (1, 1)
        tokens = torch.cat([tokens, next_token], dim=1)
    return tokens[0, len(prompt):].tolist()


def tokens_per_second(decode, n_tokens: int, repeats: int = 3) -> float:
    """Best of `repeats` runs of `decode()` (which makes n_tokens tokens), as tokens per second."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        decode()
        best = min(best, time.perf_counter() - start)
    return n_tokens / best


# ------------------------------------------------------------------------------------------------------ plots

def plot_head_scores(scores: torch.Tensor, title: str, ax=None, label: str = "score"):
    """Heat map of an (L, H) table of per-head scores, each cell annotated; returns the figure (`ax`: a panel of
    yours, `viz.figure_and_axes`)."""
    fig, ax = figure_and_axes(ax, figsize=(1.0 + 0.7 * scores.shape[1], 1.0 + 0.6 * scores.shape[0]))
    image = ax.imshow(scores.float().cpu().numpy(), cmap="magma", vmin=0, vmax=1)
    for (layer, head), value in zip(torch.cartesian_prod(torch.arange(scores.shape[0]),
                                                         torch.arange(scores.shape[1])).tolist(),
                                    scores.flatten().tolist()):
        ax.text(head, layer, f"{value:.2f}", ha="center", va="center", fontsize=7,
                color="black" if value > 0.5 else "white")
    ax.set_xticks(range(scores.shape[1]))
    ax.set_yticks(range(scores.shape[0]))
    ax.set(title=title, xlabel="head", ylabel="layer")
    fig.colorbar(image, ax=ax, label=label)
    return fig


def plot_samplers(model_probs: torch.Tensor, samplers: dict[str, torch.Tensor], tokenizer, k: int = 10):
    """One panel per sampler, all on the same next-token distribution; returns the figure.

    Each panel shows, for the model's k likeliest candidates, the model's own probability (grey) beside the
    probability the sampler draws with (blue). `samplers` maps a panel title to a (V,) distribution.
    """
    model_probs = model_probs.float().cpu()
    top = torch.topk(model_probs, k).indices  # the candidates, ranked by the model
    labels = [piece_label(tokenizer.id_to_piece(i)) for i in top.tolist()]
    cols = min(3, len(samplers))
    rows = math.ceil(len(samplers) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.1 * rows), squeeze=False, sharey=True)
    x = torch.arange(k).numpy()
    for ax, (name, probs) in zip(axes.flat, samplers.items()):
        ax.bar(x - 0.2, model_probs[top].numpy(), 0.4, color=MODEL_COLOUR, label="model (T = 1)")
        ax.bar(x + 0.2, probs.float().cpu()[top].numpy(), 0.4, color=SAMPLER_COLOUR, label="sampler")
        ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=8)
        ax.set(title=name, xlabel="candidate next token", ylabel="probability", ylim=(0, 1.05))
    for ax in list(axes.flat)[len(samplers):]:
        ax.set_axis_off()
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("One next-token distribution, different samplers")
    fig.tight_layout()
    return fig
