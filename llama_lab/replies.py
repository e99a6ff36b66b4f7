"""The model's replies to a batch of requests or dialogs, as text: greedy by default, sampled when asked.

A request is a user message, a whole dialog ending on the user's turn, or a prompt already in token ids
(`replies`); `answer_turns` continues dialogs turn by turn, each user message answered behind everything before it.
Every evaluation, probe and training stage that reads what a model says asks it here, in Llama 2's chat format.
"""

from __future__ import annotations

from typing import Sequence

from .chat import UNSAFE_ERROR, encode_dialog, special_tags_in
from .generate import generate_tokens
from .progress import progress
from .tokenizer import Tokenizer


def dialog_for(request: str, system: str | None = None) -> list[dict]:
    """A one-turn dialog for `request`, with the system prompt in front when one is given."""
    dialog = [{"role": "user", "content": request}]
    return ([{"role": "system", "content": system}] if system else []) + dialog


def replies(model, tokenizer: Tokenizer, requests: Sequence[str | list[dict] | list[int]], system: str | None = None,
            max_new_tokens: int = 32, batch_size: int = 64, temperature: float = 0.0, top_p: float = 1.0,
            seed: int | None = 0, stop_ids: Sequence[int] | None = None) -> list[str]:
    """The model's reply to each request, as text: the new tokens up to EOS (or a stop id), stripped.

    A request is a user message (a str, with `system` put in front of it), a whole dialog ending on a user message
    (a list of {"role", "content"}), or a prompt already in token ids, continued as it is (e.g. the pretraining
    corpus's "Q: ...\nA:" lines). Batched and greedy by default. As Meta's `chat_completion` does, a dialog with
    special tags smuggled into a message gets UNSAFE_ERROR instead of a reply.
    """
    prompts: list[list[int] | None] = []
    for r in requests:
        if isinstance(r, str) or (r and isinstance(r[0], dict)):
            dialog = dialog_for(r, system) if isinstance(r, str) else list(r)
            prompts.append(None if special_tags_in(dialog) else encode_dialog(tokenizer, dialog))
        else:
            prompts.append(list(r))
    out: list[str | None] = [UNSAFE_ERROR if p is None else None for p in prompts]
    todo = [i for i, p in enumerate(prompts) if p is not None]
    for start in progress(range(0, len(todo), batch_size), "replies", unit="batch"):
        chunk = todo[start:start + batch_size]
        new = generate_tokens(model, [prompts[i] for i in chunk], max_new_tokens, temperature=temperature,
                              top_p=top_p, seed=None if seed is None else seed + start, stop_ids=stop_ids,
                              eos_id=tokenizer.eos_id)
        for i, ids in zip(chunk, new):
            out[i] = tokenizer.decode(ids).strip()
    return out


def answer_turns(model, tokenizer, starts: Sequence[list[dict]], conversations: Sequence[Sequence[str]],
                 max_new_tokens: int = 40, prefix: Sequence[str] | None = None) -> list[list[dict]]:
    """Each dialog of `starts` continued with its conversation's user messages, each answered greedily by the model
    after everything before it; the user message carries `prefix[i] + " "` in front where a prefix is given (the
    instruction, while sampling for GAtt). Batched over dialogs, turn by turn. A dialog whose next prompt would not
    leave max_new_tokens in the model's context stops there."""
    dialogs = [list(start) for start in starts]
    live = list(range(len(dialogs)))
    for turn in range(max(len(c) for c in conversations)):
        asked = []
        for i in live:
            if turn >= len(conversations[i]):
                continue
            user = conversations[i][turn]
            candidate = dialogs[i] + [{"role": "user", "content": f"{prefix[i]} {user}" if prefix else user}]
            if len(encode_dialog(tokenizer, candidate)) + max_new_tokens <= model.args.max_seq_len:
                dialogs[i] = candidate
                asked.append(i)
        answers = replies(model, tokenizer, [dialogs[i] for i in asked], max_new_tokens=max_new_tokens,
                          batch_size=32)
        for i, answer in zip(asked, answers):
            dialogs[i].append({"role": "assistant", "content": answer or "..."})
        live = asked
    return dialogs
