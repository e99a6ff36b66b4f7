"""Small random Llamas for the graded cases that plug the student's code into the model.

The grader and the student's kernel each build the same model from a seed (no file to ship, nothing the
notebook can swap), with grouped-query attention and weights large enough that a mistake shows in the logits.
Greedy generation compares token ids: the seeds and prompts below leave every step's top two logits far enough
apart that rounding differences between correct implementations cannot flip a token.
"""

from __future__ import annotations

import contextlib
import os
import sys

import torch

from ...generate import generate, generate_tokens
from ...model import Llama, ModelArgs, init_weights

SMALL = dict(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=97, multiple_of=16, max_seq_len=64)


def random_llama(seed: int = 0, **changes) -> Llama:
    """A 2-layer Llama (dim 64, 4 query heads sharing 2 key/value heads, 97 tokens), random but reproducible."""
    model = Llama(ModelArgs(**{**SMALL, **changes}))
    return init_weights(model, std=0.15, seed=seed).eval()


def random_prompt(seed: int, length: int, vocab_size: int = SMALL["vocab_size"]) -> list[int]:
    return torch.randint(0, vocab_size, (length,), generator=torch.Generator().manual_seed(seed)).tolist()


@torch.no_grad()
def logits_and_greedy(model: Llama, prompt: list[int], new_tokens: int = 8) -> dict:
    """What the plug-in cases compare: the logits over the prompt (T, V) and greedy tokens decoded with the cache."""
    logits = model(torch.tensor([prompt]))[0]
    tokens = generate_tokens(model, [prompt], new_tokens, temperature=0, eos_id=None)[0]
    return {"logits": logits, "tokens": tokens}


@contextlib.contextmanager
def replaced(module, name: str, value):
    """Set `module.name = value` for the duration of a with-block."""
    saved = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, saved)


def try_in_tiny_model(plug=None, sampler=None, prompt: str = "Mia lived in", max_new_tokens: int = 24,
                      **options) -> None:
    """Show the student's code at work: text from the kit's tiny model, then again with the student's code in it.

    `plug(model)` puts the student's code inside the model; `sampler` replaces the kit's `next_token_probs` while
    generating; `options` go to `generate` (greedy by default).
    Without the tiny model (before `make data`) it compares token ids from a small random model instead. While
    the autograder runs the notebook (LLAMA_LAB_GRADING is set) it does nothing: the graded cases test the same.
    """
    if os.environ.get("LLAMA_LAB_GRADING"):
        print("(not run while grading: the graded cases plug your code into a model themselves)")
        return
    options = {"temperature": 0, **options}
    try:
        from ...world.tiny import load_tiny
        model, tokenizer = load_tiny("base")
    except (FileNotFoundError, ImportError) as error:
        print(f"The tiny model is not built yet ({error}).\nComparing token ids from a small random model instead.")
        model, tokenizer = random_llama(seed=0), None

    def run():
        if tokenizer is None:
            return generate_tokens(model, [random_prompt(0, 6)], max_new_tokens, eos_id=None, **options)[0]
        return prompt + generate(model, tokenizer, [prompt], max_new_tokens, **options)[0]

    before = run()
    if plug is not None:
        plug(model)
    with replaced(sys.modules["llama_lab.sampling"], "next_token_probs", sampler) if sampler else \
            contextlib.nullcontext():
        after = run()
    print(f"the kit's model: {before}")
    print(f"with your code:  {after}")
    print("the same, token for token" if before == after else "DIFFERENT: run the check cells to see why")
