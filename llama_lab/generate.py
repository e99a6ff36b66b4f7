"""From logits to text: the decode loop with a KV cache, streaming, and text in and out.

The decode loop is Meta's: prompts of different lengths sit left-aligned in one (B, total_len) grid; the loop
runs from the shortest prompt's end, and at each position a row either copies its own next prompt token
(still reading) or takes the sampled one (writing). Every row thus sees exactly its own tokens at their own
positions, so a batch gives what each prompt gives alone.

The KV cache is allocated once, and after the prompt every step feeds one token per row. How each step runs is a
`Decoder`'s business: the plain model by default, or one of `llama_lab.fast`'s, passed in place of the model.
The sampler (temperature, top-k, top-p) is `llama_lab.sampling`.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
import torch.nn.functional as F

from .sampling import apply_repetition_penalty, check_sampling_args, sample_next_token
from .seeds import check_seed, seeded_generator


# ------------------------------------------------------------------------------------------ the decode loop

def _check_prompts(prompt_tokens: Sequence[Sequence[int]], max_seq_len: int, vocab_size: int) -> None:
    if isinstance(prompt_tokens, torch.Tensor) or not isinstance(prompt_tokens, (list, tuple)):
        raise ValueError("prompt_tokens must be a list of token-id lists, one per prompt, e.g. [[1, 450, 4799]]")
    if not prompt_tokens:
        raise ValueError("prompt_tokens is empty: give at least one prompt")
    for i, prompt in enumerate(prompt_tokens):
        if isinstance(prompt, int) or not len(prompt):
            raise ValueError(f"prompt {i} is {prompt!r}: each prompt is a non-empty list of token ids "
                             "(start it with the BOS id)")
        if len(prompt) >= max_seq_len:
            raise ValueError(f"prompt {i} has {len(prompt)} tokens but the model's context is {max_seq_len}: "
                             "shorten it to leave room for at least one new token")
        bad = [t for t in prompt if not 0 <= int(t) < vocab_size]
        if bad:
            raise ValueError(f"prompt {i} holds ids {bad[:5]} outside the vocabulary 0..{vocab_size - 1}")


class Decoder:
    """How the decode loop runs a model: `start` makes the KV cache of one generation call, `logits` runs a stretch
    of tokens through the model and returns the last position's logits.

    This one is the plain forward pass. `llama_lab.fast` has decoders that give the same tokens sooner; the loop
    takes either a model or a decoder.
    """

    def __init__(self, model):
        self.model = model
        self.plain = True  # the plain forward pass runs every step

    def start(self, batch_size: int, max_seq_len: int):
        return self.model.new_cache(batch_size, max_seq_len)

    def logits(self, tokens: torch.Tensor, start_pos: int, cache) -> torch.Tensor:
        """tokens (B, T) at positions start_pos.. -> the logits after the last of them, (B, V)."""
        return self.model(tokens, start_pos=start_pos, cache=cache, last_only=True)[:, -1]


def iter_generate(model, prompt_tokens: Sequence[Sequence[int]], max_new_tokens: int, temperature: float = 0.6,
                  top_p: float = 0.9, top_k: int | None = None, seed: int | None = None,
                  stop_ids: Sequence[int] | None = None, eos_id: int | None = 2,
                  repetition_penalty: float = 1.0, logprobs: bool = True
                  ) -> Iterator[list[tuple[int, float | None] | None]]:
    """Decode step by step; each step yields, per prompt, (new token id, its log-probability) or None.

    None means the row is still reading its prompt or has already stopped. A row stops after `max_new_tokens`
    tokens or on a stop id (EOS or one of `stop_ids`); the stop token itself is yielded, and generate_tokens
    leaves it out. The log-probability is that of the chosen token under the model's own distribution
    (softmax of the raw logits, before temperature or filtering); with logprobs=False it is not computed (None).
    `model` is a Llama, or a `Decoder` of one (`llama_lab.fast`: the same tokens, sooner).
    """
    check_sampling_args(temperature, top_p, top_k, repetition_penalty)
    check_seed(seed)
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens={max_new_tokens!r} must be an int >= 0")
    decoder = model if isinstance(model, Decoder) else Decoder(model)
    model = decoder.model
    args = model.args
    _check_prompts(prompt_tokens, args.max_seq_len, args.vocab_size)
    if max_new_tokens == 0:
        return
    device = model.device
    stops = {*(stop_ids or []), *([eos_id] if eos_id is not None else [])}
    generator = seeded_generator(seed, device)

    B = len(prompt_tokens)
    lengths = [len(p) for p in prompt_tokens]
    longest = max(lengths)
    total_len = min(args.max_seq_len, longest + max_new_tokens)
    tokens = torch.full((B, total_len), -1, dtype=torch.long, device=device)  # -1 marks "not written yet"
    for row, prompt in enumerate(prompt_tokens):
        tokens[row, :len(prompt)] = torch.tensor(prompt, dtype=torch.long)
    is_prompt = tokens >= 0  # (B, total_len)
    seen = None
    if repetition_penalty != 1.0:
        seen = torch.zeros(B, args.vocab_size, dtype=torch.bool, device=device)  # (B, V)
        for row, prompt in enumerate(prompt_tokens):
            seen[row, list(prompt)] = True

    cache = decoder.start(B, total_len)
    # Each row's bookkeeping is a few Python values: cheaper than a dozen tiny tensor operations per step.
    done = [False] * B
    prev_pos = 0
    with torch.inference_mode():
        for cur_pos in range(min(lengths), total_len):
            logits = decoder.logits(tokens[:, prev_pos:cur_pos], prev_pos, cache)  # (B, V)
            if seen is not None:
                logits = apply_repetition_penalty(logits, seen, repetition_penalty)
            next_token = sample_next_token(logits, temperature, top_k, top_p, generator)  # (B,)
            if cur_pos < longest:  # rows still reading their prompt keep its token, not the sample
                next_token = torch.where(is_prompt[:, cur_pos], tokens[:, cur_pos], next_token)
            tokens[:, cur_pos] = next_token
            if seen is not None:
                seen[torch.arange(B, device=device), next_token] = True
            logprob = [None] * B
            if logprobs:
                logprob = F.log_softmax(logits.float(), dim=-1).gather(-1, next_token[:, None]).squeeze(-1).tolist()
            step = []
            for row, token in enumerate(next_token.tolist()):
                writing = cur_pos >= lengths[row] and not done[row]
                step.append((token, logprob[row]) if writing else None)
                if writing and (token in stops or cur_pos + 1 - lengths[row] >= max_new_tokens):
                    done[row] = True
            yield step
            prev_pos = cur_pos
            if all(done):
                break


def generate_tokens(model, prompt_tokens: Sequence[Sequence[int]], max_new_tokens: int,
                    temperature: float = 0.6, top_p: float = 0.9, top_k: int | None = None,
                    seed: int | None = None, stop_ids: Sequence[int] | None = None, eos_id: int | None = 2,
                    repetition_penalty: float = 1.0, return_logprobs: bool = False):
    """New token ids for each prompt (a list of lists), without the stop token.

    `temperature=0` is greedy. With `return_logprobs=True`, returns (tokens, logprobs) where logprobs[i][j]
    is the model's log-probability of tokens[i][j]. `model`: a Llama or a Decoder, as in `iter_generate`.
    """
    stop_set = {*(stop_ids or []), *([eos_id] if eos_id is not None else [])}
    out_tokens = [[] for _ in prompt_tokens]
    out_logprobs = [[] for _ in prompt_tokens]
    for step in iter_generate(model, prompt_tokens, max_new_tokens, temperature, top_p, top_k, seed,
                              stop_ids, eos_id, repetition_penalty, logprobs=return_logprobs):
        for row, item in enumerate(step):
            if item is not None and item[0] not in stop_set:
                out_tokens[row].append(item[0])
                out_logprobs[row].append(item[1])
    return (out_tokens, out_logprobs) if return_logprobs else out_tokens


def stream_tokens(model, prompt: Sequence[int], max_new_tokens: int, **options) -> Iterator[int]:
    """Yield one prompt's new token ids as they are produced (the stop token is not yielded)."""
    eos_id = options.get("eos_id", 2)
    stop_set = {*(options.get("stop_ids") or []), *([eos_id] if eos_id is not None else [])}
    for step in iter_generate(model, [list(prompt)], max_new_tokens, logprobs=False, **options):
        if step[0] is not None and step[0][0] not in stop_set:
            yield step[0][0]


def stream(model, tokenizer, prompt: str, max_new_tokens: int = 128, bos: bool = True, **options) -> Iterator[str]:
    """Yield the continuation of `prompt` as text pieces, as soon as each is complete.

    A piece is the text that a new token adds to the decoded output; a byte-fallback character split over
    several tokens appears once all its bytes are in.
    """
    options.setdefault("eos_id", tokenizer.eos_id)
    prompt_ids = tokenizer.encode(prompt, bos=bos)
    new_ids: list[int] = []
    shown = ""
    for token in stream_tokens(model, prompt_ids, max_new_tokens, **options):
        new_ids.append(token)
        text = tokenizer.decode_continuation(prompt_ids, new_ids)
        if text.endswith("\ufffd"):  # an unfinished UTF-8 character: wait for its remaining bytes
            continue
        yield text[len(shown):]
        shown = text


def generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 128, bos: bool = True,
             **options) -> list[str]:
    """Continue each prompt; returns the new text of each (the prompt itself is not repeated).

    Each text starts as the model wrote it, with its leading space if it has one, so that prompt + text reads as
    the model's whole output (Meta's `generate` drops that space, see Tokenizer.decode_continuation).
    """
    if isinstance(prompts, str):
        raise ValueError("prompts must be a list of strings: wrap a single prompt as [prompt]")
    options.setdefault("eos_id", tokenizer.eos_id)
    prompt_tokens = [tokenizer.encode(p, bos=bos) for p in prompts]
    new_tokens = generate_tokens(model, prompt_tokens, max_new_tokens, **options)
    return [tokenizer.decode_continuation(p, t) for p, t in zip(prompt_tokens, new_tokens)]
