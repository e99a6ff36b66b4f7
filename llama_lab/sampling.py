"""From logits to the next token: temperature, top-k, top-p and the repetition penalty.

The order of the stages: Meta's Llama 2 `generate` has temperature then top-p only (no top-k, no repetition
penalty); top-k, and its place between the two, follow Hugging Face's samplers. tests/engine/test_generate.py works
Meta's two stages by hand; tests/engine/test_hf_parity.py checks all three against what transformers' `generate` draws from.
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)  # True is an int to Python, not here


def check_sampling_args(temperature: float, top_p: float, top_k: int | None,
                        repetition_penalty: float = 1.0) -> None:
    """Raise a ValueError that names the setting, for any the sampler cannot use (a str, a bool, NaN, ...)."""
    if not (_is_number(temperature) and temperature >= 0):
        raise ValueError(f"temperature={temperature!r} must be a number >= 0 (0 means greedy: always the likeliest "
                         "token)")
    if not (_is_number(top_p) and 0 < top_p <= 1):
        raise ValueError(f"top_p={top_p!r} must be a number in (0, 1]: it is the probability mass kept (1 keeps all)")
    if top_k is not None and not (_is_number(top_k) and isinstance(top_k, numbers.Integral) and top_k >= 1):
        raise ValueError(f"top_k={top_k!r} must be a positive int, or None to keep every token")
    if not (_is_number(repetition_penalty) and repetition_penalty > 0):
        raise ValueError(f"repetition_penalty={repetition_penalty!r} must be a number > 0 (1 means no penalty)")


def top_k_filter(probs: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k likeliest tokens of each row of probs (..., V) and renormalise."""
    kth_largest = torch.topk(probs, min(k, probs.shape[-1]), dim=-1).values[..., -1:]
    kept = torch.where(probs >= kth_largest, probs, torch.zeros_like(probs))
    return kept / kept.sum(-1, keepdim=True)


def top_p_filter(probs: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering as Meta's `sample_top_p`: keep the likeliest tokens until their mass reaches p.

    A token is dropped when the tokens ranked above it already hold more than p, so the token whose
    probability carries the running total across p is kept. Example: probs [0.5, 0.3, 0.2], p=0.6 keeps
    0.5 and 0.3 (0.5 alone is below 0.6) and renormalises to [0.625, 0.375, 0].
    """
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
    sorted_probs = sorted_probs.masked_fill(mass_before > p, 0.0)
    kept = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return kept / kept.sum(-1, keepdim=True)


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL's penalty (as in Hugging Face): tokens already seen get logit/penalty if positive, else *penalty.

    logits (B, V); seen (B, V) bool, True for tokens already in the row's prompt or output.
    """
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalised, logits)


def sampler_stages(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                   top_p: float = 1.0) -> dict[str, torch.Tensor]:
    """Each stage of the sampler and the distribution it leaves, in the order they run: (..., V) each.

    "temperature": softmax(logits / T) (T = 0 is the limit T -> 0: all mass on the likeliest token); then
    "top-k", only when top_k is given; then "top-p", only when top_p < 1. A stage whose setting keeps every token
    is left out rather than passed through, so the keys say which stages shaped the result; the last one is what
    the sampler draws from (`next_token_probs`).

    Example: logits log [0.5, 0.3, 0.2], T=1, top_k=2 -> {"temperature": [0.5, 0.3, 0.2],
             "top-k": [0.625, 0.375, 0]}.
    Whose order: Meta's Llama 2 `generate` has temperature then top-p only (no top-k, no repetition penalty);
    top-k, and its place between the two, follow Hugging Face's samplers.
    """
    check_sampling_args(temperature, top_p, top_k)
    logits = logits.float()
    if temperature == 0:
        probs = F.one_hot(logits.argmax(-1), logits.shape[-1]).float()
    else:
        probs = F.softmax(logits / temperature, dim=-1)
    stages = {"temperature": probs}
    if top_k is not None:
        stages["top-k"] = probs = top_k_filter(probs, top_k)
    if top_p < 1.0:
        stages["top-p"] = probs = top_p_filter(probs, top_p)
    return stages


def next_token_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                     top_p: float = 1.0) -> torch.Tensor:
    """The distribution the sampler draws from: softmax(logits / T), then top-k, then top-p. (..., V).

    The last of `sampler_stages`: temperature 0 puts all mass on the likeliest token, top_k=None and top_p=1 keep
    every token.
    """
    *_, probs = sampler_stages(logits, temperature, top_k, top_p).values()
    return probs


def sample_next_token(logits: torch.Tensor, temperature: float = 0.6, top_k: int | None = None,
                      top_p: float = 0.9, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row of logits (B, V) -> (B,). Greedy (argmax) when temperature is 0."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = next_token_probs(logits, temperature, top_k, top_p)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)
