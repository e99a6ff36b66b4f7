"""Helpers the tests share (imported as `support`: the name `conftest` is also taken by notebooks/assignments/)."""

import re
from pathlib import Path

import pytest
import torch

from llama_lab.course import llama2_tokenizer_path
from llama_lab.model import Llama, ModelArgs, init_weights

REPO = Path(__file__).resolve().parent.parent
# Llama 2's own tokenizer, found the way a user's notebook finds it: $LLAMA2_TOKENIZER, or beside the weights in
# $LLAMA2_DIR (None when neither is set). It is never copied into the repository.
LLAMA2_TOKENIZER = llama2_tokenizer_path()


def llama2_tokenizer_file() -> Path:
    """The path of Llama 2's tokenizer.model, or skip the test that needs it, saying how to provide it."""
    if LLAMA2_TOKENIZER is None:
        pytest.skip("Llama 2's tokenizer.model is not set: point LLAMA2_TOKENIZER at it (or LLAMA2_DIR at a "
                    "Llama 2 checkpoint) to run this test")
    return LLAMA2_TOKENIZER


def small_model(n_kv_heads=2, seed=0, **changes) -> Llama:
    """A random Llama small enough for unit tests, with weights large enough that mistakes show in logits."""
    settings = dict(dim=64, n_layers=3, n_heads=8, n_kv_heads=n_kv_heads, vocab_size=101, multiple_of=16,
                    max_seq_len=96)
    args = ModelArgs(**{**settings, **changes})
    torch.manual_seed(seed)
    return init_weights(Llama(args), std=0.15, seed=seed).eval()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny matrices run faster on one thread than on two that wait for each other on a busy machine.

    Import it into a test module (`from support import one_thread`) to apply it there.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def parallel_probe(model) -> tuple:
    """What the tensor-parallel tests compare: the logits of two fixed rows of tokens, the logits of one cached
    decoding step after six of them, and 20 greedy tokens after two prompts."""
    from llama_lab.generate import generate_tokens

    tokens = torch.tensor([[1, 17, 42, 99, 5, 250, 7, 3], [1, 8, 8, 300, 2, 61, 9, 44]], device=model.device)
    with torch.inference_mode():
        logits = model(tokens)
        cache = model.new_cache(2, 16)
        model(tokens[:, :6], cache=cache)
        step = model(tokens[:, 6:7], start_pos=6, cache=cache)
    greedy = generate_tokens(model, [[1, 17, 42], [1, 8]], 20, temperature=0, eos_id=None)
    return logits, step, greedy, cache


# Two tokens whose logits are closer than this are tied as far as bfloat16 can tell: a few of its roundings (one is
# 0.0625 for logits between 8 and 16), so that decoding in bfloat16, or summing in another order, may pick either.
NEAR_TIE = 0.25


def where_greedy_parts(model, prompts: list[list[int]], expected: list[list[int]], got: list[list[int]]) -> list[dict]:
    """Where greedy rows `got` leave `expected`, the greedy tokens that `model` writes after `prompts`: for each row
    that parts, the step, both tokens, and `model`'s logits there: how many tokens it ranks above got's
    ("rank_of_got") and by how much its best logit beats got's token's ("logit_gap"; below NEAR_TIE: a near-tie)."""
    partings = []
    for prompt, ours, theirs in zip(prompts, expected, got):
        step = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), None)
        if step is None:
            continue
        with torch.inference_mode():
            logits = model(torch.tensor([prompt + ours[:step]], device=model.device))[0, -1].float()  # (V,)
        partings.append({"step": step, "expected": ours[step], "got": theirs[step],
                         "rank_of_got": int((logits > logits[theirs[step]]).sum()),
                         "logit_gap": float(logits.max() - logits[theirs[step]])})
    return partings


def names(requirements: list[str]) -> set[str]:
    """Distribution names, normalised as pip does: "lm_eval>=0.4.3" -> "lm-eval"."""
    return {re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", r).group()).lower() for r in requirements}


def recipe(makefile: str, target: str) -> tuple[str, str]:
    """A Makefile rule's prerequisites and its recipe (continued lines joined)."""
    found = re.search(rf"^{re.escape(target)}:(.*)\n((?:\t.*\n?)*)", makefile, flags=re.MULTILINE)
    assert found, f"the Makefile has no rule for {target}"
    return found.group(1), found.group(2).replace("\\\n", " ")
