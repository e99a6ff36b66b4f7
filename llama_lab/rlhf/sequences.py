"""A prompt and its reply as one row of token ids, padded batches of rows, and the log-probabilities of replies.

Every method here scores replies to prompts: a reward model reads the whole row and scores its last token, DPO and
PPO need log p(reply | prompt) token by token. A row is the dialog in Meta's chat format followed by the reply and
EOS, exactly as the chat stage trains on it; `start` is the position of the reply's first token.

Example: "[INST] Hi [/INST]" + "Hello!" -> ids [BOS, ▁[, INST, ]..., ▁Hello, !, EOS], start = index of ▁Hello.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F

from ..chat import encode_dialog, encode_dialog_for_training


class Row(NamedTuple):
    """A prompt-and-reply's token ids and the position of the reply's first token."""
    ids: list[int]
    start: int


def text_row(tokenizer, dialog: Sequence[dict], reply: str, max_len: int) -> Row:
    """The row of a dialog (ending with the user's turn) answered with `reply`, as the chat stage encodes it.

    A row longer than `max_len` (the model's context) keeps its first `max_len` tokens."""
    ids, is_answer = encode_dialog_for_training(tokenizer, [*dialog, {"role": "assistant", "content": reply}])
    start = max(i for i, answer in enumerate(is_answer) if not answer) + 1  # after the last prompt token
    return Row(ids[:max_len], min(start, max_len))


def token_row(tokenizer, dialog: Sequence[dict], reply_ids: Sequence[int], max_len: int) -> Row:
    """The row of sampled reply tokens (without their stop token), closed with EOS as the model closes a reply."""
    prompt = encode_dialog(tokenizer, dialog)
    ids = [*prompt, *reply_ids, tokenizer.eos_id]
    return Row(ids[:max_len], min(len(prompt), max_len))


def pad(rows: Sequence[Row], pad_id: int, device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded (tokens (B, T), starts (B,), lengths (B,)) of the rows."""
    width = max(len(r.ids) for r in rows)
    tokens = torch.full((len(rows), width), pad_id, dtype=torch.long)  # (B, T)
    for i, r in enumerate(rows):
        tokens[i, :len(r.ids)] = torch.tensor(r.ids)
    starts = torch.tensor([r.start for r in rows])  # (B,)
    lengths = torch.tensor([len(r.ids) for r in rows])  # (B,)
    return tokens.to(device), starts.to(device), lengths.to(device)


def reply_mask(starts: torch.Tensor, lengths: torch.Tensor, width: int) -> torch.Tensor:
    """(B, width - 1) bools: True where position t predicts a reply token (t + 1 in [start, length))."""
    predicted = torch.arange(1, width, device=starts.device)[None, :]  # (1, T-1): the token each position predicts
    return (predicted >= starts[:, None]) & (predicted < lengths[:, None])


def logprobs_of(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """(B, T - 1): log p(tokens[:, t + 1]) from the logits of positions 0..T-2 ((B, T-1, V) or more), in float32."""
    logits = logits[:, :tokens.shape[1] - 1]
    return torch.gather(F.log_softmax(logits.float(), dim=-1), -1, tokens[:, 1:, None]).squeeze(-1)


def token_logprobs(model, tokens: torch.Tensor) -> torch.Tensor:
    """(B, T - 1): log p(tokens[:, t + 1] | tokens[:, :t + 1]) under `model`, in float32."""
    return logprobs_of(model(tokens[:, :-1]), tokens)  # the model reads (B, T-1)


def reply_logprobs(model, rows: Sequence[Row], pad_id: int) -> torch.Tensor:
    """(B,): log p(reply | prompt) of each row, the sum over the reply's tokens and its EOS."""
    tokens, starts, lengths = pad(rows, pad_id, model.device)
    mask = reply_mask(starts, lengths, tokens.shape[1])  # (B, T-1)
    return (token_logprobs(model, tokens) * mask).sum(-1)


def epoch_order(n: int, steps: int, batch_size: int, seed: int) -> list[int]:
    """The indices of `steps` batches of `batch_size` drawn from n items: each epoch visits every item once, in a
    fresh seeded order; batch k is order[k * batch_size:(k + 1) * batch_size]."""
    order: list[int] = []
    while len(order) < steps * batch_size:
        order += torch.randperm(n, generator=torch.Generator().manual_seed(seed + len(order))).tolist()
    return order
