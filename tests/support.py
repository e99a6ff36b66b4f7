"""Helpers the tests share (imported as `support`: the name `conftest` is also taken by notebooks/assignments/)."""

from pathlib import Path

import pytest
import torch

from llama_lab.model import Llama, ModelArgs, init_weights

REPO = Path(__file__).resolve().parent.parent
LLAMA2_TOKENIZER = REPO.parent / "shared" / "llama2" / "tokenizer.model"


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
