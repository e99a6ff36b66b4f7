"""From logits to text: the sampler (temperature, top-k, top-p) and the decode loop with a KV cache.

The decode loop is Meta's: prompts of different lengths sit left-aligned in one (B, total_len) grid; the loop
runs from the shortest prompt's end, and at each position a row either copies its own next prompt token
(still reading) or takes the sampled one (writing). Every row thus sees exactly its own tokens at their own
positions, so a batch gives what each prompt gives alone.

Speed comes from the design, as in gpt-fast: the KV cache is allocated once, and after the prompt every step
feeds one token per row. With `compile=True` that step is `torch.compile`d (on a GPU with CUDA graphs, on a CPU
with the weights frozen into Inductor's own matrix kernels): the position is passed as a tensor, so each step
has the same shapes and one compiled graph serves them all.
"""

from __future__ import annotations

import functools
import sys
import weakref
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F

from .sampling import apply_repetition_penalty, check_sampling_args, sample_next_token


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


def decode_one_token(model, tokens: torch.Tensor, position: torch.Tensor, cache) -> torch.Tensor:
    """One decoding step with static shapes: tokens (B, 1) at `position` (a 1-element tensor) -> logits (B, V)."""
    return model(tokens, start_pos=position, cache=cache)[:, -1]


# Inductor's settings for a GPU: what mode="reduce-overhead" sets (the step recorded as a CUDA graph, one launch
# per token instead of hundreds of kernels), and bfloat16 rounded inside fused kernels wherever eager rounds it,
# so that greedy decoding keeps to the eager path's tokens. As (name, value) pairs, to key compiled_decode_step.
GPU_COMPILE_OPTIONS = (("triton.cudagraphs", True), ("emulate_precision_casts", True))


@functools.lru_cache(maxsize=None)
def compiled_decode_step(backend: str = "inductor", options: tuple = ()):
    """`decode_one_token` compiled once per (backend, options) and reused by every later generation call."""
    return torch.compile(decode_one_token, backend=backend, options=dict(options) or None, fullgraph=True,
                         dynamic=False)


# On a CPU, Inductor multiplies by the weights with its own C++ kernels (max_autotune with the CPP backend, ATEN
# kept as a choice) once it may take them as constants (freezing) and pack them for the vector unit. One decoding
# step of a 50M-parameter model then streams its weights at about the speed of a plain large matrix-vector
# product, where MKL's generic kernel on an AMD CPU reads short columns at half of it; the small operations
# between the products are fused too. See README, Speed.
# In float32 the frozen step gives the tokens the eager one gives (the bench checks it on every decode row). In
# bfloat16 its kernels add up in another order, so a near-tie between two tokens can break the other way;
# emulate_precision_casts at least rounds a fused chain of operations wherever eager rounds it.
# Autotuning still chooses each kernel; the last two settings only keep it from printing its tables of timings and
# its choices' statistics (hundreds of "AUTOTUNE ..." lines in a learner's notebook or the bench's output).
CPU_COMPILE_OPTIONS = {"freezing": True, "max_autotune": True, "max_autotune_gemm_backends": "CPP,ATEN",
                       "emulate_precision_casts": True, "autotune_num_choices_displayed": 0,
                       "max_autotune_report_choices_stats": False}

# model -> ((weights_state(model), modules_state(model)), its frozen step)
_frozen_steps: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def weights_state(model) -> tuple | None:
    """Where each weight lives and how often it was changed in place: a frozen step is valid while this holds.

    None when a weight was made under torch.inference_mode, which keeps no count of in-place changes.
    """
    weights = [*model.parameters(), *model.buffers()]
    if any(w.is_inference() for w in weights):
        return None
    return tuple((w.data_ptr(), w.dtype, w._version) for w in weights)


def forget_compiled_graphs() -> None:
    """torch.compiler.reset(), and the Python modules Inductor generated let go of.

    A frozen graph's code is a module that holds the packed weights as globals, and torch 2.13 leaves every such
    module in sys.modules: without this, each recompilation for changed weights kept one more copy of them
    (measured: +142 MiB per recompilation of the 50M model). Objects still holding a compiled function keep
    its module alive; nothing else does.
    """
    torch.compiler.reset()
    from torch._inductor.codecache import PyCodeCache

    for module in PyCodeCache.modules:
        sys.modules.pop(module.__name__, None)
    PyCodeCache.cache_clear()
    _frozen_steps.clear()  # their graphs are gone: a frozen step is made afresh on its next use


def hooks_state(model) -> tuple:
    """Which forward hooks sit on which of the model's modules, by their handles' ids.

    Dynamo by default does not guard on hooks (torch._dynamo.config.skip_nnmodule_hook_guards), so a step compiled
    before a hook was added would run without it: generating inside `edit_residual_stream` (activation steering)
    would steer the prompt's eager pass and not one compiled step. So while this is not empty, decoding runs
    eagerly (_compiled_step_for), and the frozen step counts it among the model's state (modules_state).
    """
    return tuple((name, tuple(module._forward_pre_hooks), tuple(module._forward_hooks))
                 for name, module in model.named_modules() if module._forward_pre_hooks or module._forward_hooks)


PLAIN = (int, float, bool, str, type(None))


def modules_state(model) -> tuple:
    """What a compiled step assumes about the model besides its weights: each module's name, class, hooks and
    settings (training, eps, head counts, ...; any other object by identity).

    Dynamo guards on all of these at every call: its check took about 140 us per token for the tiny model, against
    about 50 us with the guards on the step's inputs alone. The frozen step leaves those guards out and the kit
    checks this instead, once per generation call.
    """
    settings = tuple((name, type(module), tuple((key, value if isinstance(value, PLAIN) else id(value))
                                                for key, value in vars(module).items() if not key.startswith("_")))
                     for name, module in model.named_modules())
    return hooks_state(model), settings


def frozen_decode_one_token(model, tokens: torch.Tensor, position: torch.Tensor, cache) -> torch.Tensor:
    """decode_one_token under another name: its own code, so that Dynamo keeps the frozen graphs apart from the
    unfrozen ones (a frozen graph has no guards on the model, which the kit checks itself)."""
    return decode_one_token(model, tokens, position, cache)


def frozen_decode_step(model):
    """The CPU's compiled step for `model`, with its weights frozen into it (CPU_COMPILE_OPTIONS).

    A frozen step keeps the numbers the weights had when it was compiled, so it is compiled again whenever a
    weight moved or changed in place since (training, load_state_dict, .to()), or a module's hooks or settings
    changed (modules_state). Before that every compiled graph is forgotten (forget_compiled_graphs), so that one
    frozen step is kept at a time: each holds a packed copy of its weights (for the 50M-parameter model, 142 MiB
    besides the model's 203 MiB). A model whose weights cannot be tracked (made under inference_mode) gets the
    unfrozen step instead: slower, never stale.
    """
    import torch._inductor.config as inductor_config  # here, not at the top: importing Inductor takes a while

    weights = weights_state(model)
    if weights is None:
        return compiled_decode_step("inductor")
    state = (weights, modules_state(model))
    known = _frozen_steps.get(model)
    if known is not None and known[0] == state:
        return known[1]
    forget_compiled_graphs()
    # Dynamo's guards on the model's modules are left out: `state` above covers them, checked once per call of
    # generate rather than at every token. The guards on the step's inputs (tokens, position, cache) stay.
    compiled = torch.compile(frozen_decode_one_token, backend="inductor", fullgraph=True, dynamic=False,
                             options={"guard_filter_fn": torch.compiler.skip_guard_on_all_nn_modules_unsafe})

    def step(*inputs):
        # The options must hold while a call traces and compiles (Dynamo reads `freezing` to take the weights
        # as constants), so they are set around every call: about 40 us, a few percent of a tiny model's step.
        with inductor_config.patch(CPU_COMPILE_OPTIONS):
            return compiled(*inputs)

    _frozen_steps[model] = (state, step)
    return step


def _compiled_step_for(compile: bool | str, model, device: torch.device):
    """None for the eager path, else the compiled step: compile=True means inductor (with CUDA graphs on a
    GPU, with frozen weights and Inductor's own matrix kernels on a CPU); a string names another torch.compile
    backend ("aot_eager" compiles in seconds, for tests)."""
    if compile is False or compile is None:
        return None
    if hooks_state(model):
        # A hook is the learner's own Python (it may append to a list, print, call numpy), which a compiled graph
        # cannot keep to: Dynamo would trace it into the graph and compile again whenever what it touched changed
        # (a list growing by one at every step) until it gave up. While the model has hooks, every step runs
        # eagerly, so each hook runs as written, once per step; the tokens are the same.
        return None
    if compile is True:
        if device.type == "cpu":
            return frozen_decode_step(model)
        return compiled_decode_step("inductor", GPU_COMPILE_OPTIONS if device.type == "cuda" else ())
    if not isinstance(compile, str):
        raise ValueError(f"compile={compile!r}: use False, True, or a torch.compile backend name such as "
                         "'inductor' or 'aot_eager'")
    return compiled_decode_step(compile)


# The compiled path's caches, kept per model and shape. A CUDA graph replays on fixed addresses, so every call of
# the same shape reuses the same buffers; what an earlier call left there sits past the current position, where
# the attention mask hides it.
_static_caches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def static_cache(model, batch_size: int, max_seq_len: int):
    """The model's cache of this shape for the compiled path, made on first use and at a fixed address."""
    caches = _static_caches.setdefault(model, {})
    key = (batch_size, max_seq_len, model.device, model.dtype)
    if key not in caches:
        cache = model.new_cache(batch_size, max_seq_len)
        torch._dynamo.mark_static_address(cache.k)
        torch._dynamo.mark_static_address(cache.v)
        caches[key] = cache
    return caches[key]


def iter_generate(model, prompt_tokens: Sequence[Sequence[int]], max_new_tokens: int, temperature: float = 0.6,
                  top_p: float = 0.9, top_k: int | None = None, seed: int | None = None,
                  stop_ids: Sequence[int] | None = None, eos_id: int | None = 2,
                  repetition_penalty: float = 1.0, compile: bool | str = False, logprobs: bool = True
                  ) -> Iterator[list[tuple[int, float | None] | None]]:
    """Decode step by step; each step yields, per prompt, (new token id, its log-probability) or None.

    None means the row is still reading its prompt or has already stopped. A row stops after `max_new_tokens`
    tokens or on a stop id (EOS or one of `stop_ids`); the stop token itself is yielded, and generate_tokens
    leaves it out. The log-probability is that of the chosen token under the model's own distribution
    (softmax of the raw logits, before temperature or filtering); with logprobs=False it is not computed (None).
    compile=True runs each one-token step through `torch.compile`: on a GPU it also records a CUDA graph, on a CPU
    it freezes the weights into the step (see frozen_decode_step). The first call compiles, which takes a while
    (15-60 s on a 2-core CPU); a string names another backend ("aot_eager", ...). While the model has forward hooks
    (capturing or steering the residual stream, a learner's own), the steps run eagerly so that each hook runs as
    written (see _compiled_step_for).
    """
    check_sampling_args(temperature, top_p, top_k, repetition_penalty)
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens={max_new_tokens!r} must be an int >= 0")
    args = model.args
    _check_prompts(prompt_tokens, args.max_seq_len, args.vocab_size)
    if max_new_tokens == 0:
        return
    device = model.device
    compiled_step = _compiled_step_for(compile, model, device)
    stops = {*(stop_ids or []), *([eos_id] if eos_id is not None else [])}
    generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None

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

    if compiled_step is None:
        cache = model.new_cache(B, total_len)
    else:  # one graph per cache length: round it up so that requests of similar lengths share one
        cache = static_cache(model, B, min(args.max_seq_len, -(-total_len // 128) * 128))
    # Each row's bookkeeping is a few Python values: cheaper than a dozen tiny tensor operations per step.
    done = [False] * B
    prev_pos = 0
    with torch.inference_mode():
        for cur_pos in range(min(lengths), total_len):
            if compiled_step is not None and cur_pos == prev_pos + 1:  # one token per row: compiled
                if device.type == "cuda":
                    torch.compiler.cudagraph_mark_step_begin()  # the last step's outputs are no longer needed
                position = torch.tensor([prev_pos], device=device)
                # a fresh (B, 1) tensor: the same shape and strides at every call, so one graph serves all
                step_tokens = tokens[:, prev_pos:cur_pos].clone(memory_format=torch.contiguous_format)
                logits = compiled_step(model, step_tokens, position, cache)  # (B, V)
            else:  # the prompt (or the part all rows share), and every step of the eager path
                logits = model(tokens[:, prev_pos:cur_pos], start_pos=prev_pos, cache=cache, last_only=True)[:, -1]
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
                    repetition_penalty: float = 1.0, return_logprobs: bool = False, compile: bool | str = False):
    """New token ids for each prompt (a list of lists), without the stop token.

    `temperature=0` is greedy. With `return_logprobs=True`, returns (tokens, logprobs) where logprobs[i][j]
    is the model's log-probability of tokens[i][j]. `compile=True`: see `iter_generate`.
    """
    stop_set = {*(stop_ids or []), *([eos_id] if eos_id is not None else [])}
    out_tokens = [[] for _ in prompt_tokens]
    out_logprobs = [[] for _ in prompt_tokens]
    for step in iter_generate(model, prompt_tokens, max_new_tokens, temperature, top_p, top_k, seed,
                              stop_ids, eos_id, repetition_penalty, compile, logprobs=return_logprobs):
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
