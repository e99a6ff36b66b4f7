from pathlib import Path

import pytest
import torch

from llama_lab.model import Llama, ModelArgs, init_weights

REPO = Path(__file__).resolve().parent.parent
LLAMA2_TOKENIZER = REPO.parent / "shared" / "llama2" / "tokenizer.model"


@pytest.fixture
def llama2_tokenizer():
    """Llama 2's own tokenizer.model, read from beside the repository (never copied into it)."""
    if not LLAMA2_TOKENIZER.is_file():
        pytest.skip(f"Llama 2's tokenizer.model is not at {LLAMA2_TOKENIZER}")
    from llama_lab import Tokenizer
    return Tokenizer(LLAMA2_TOKENIZER)


def small_model(n_kv_heads=2, seed=0, **changes) -> Llama:
    """A random Llama small enough for unit tests, with weights large enough that mistakes show in logits."""
    settings = dict(dim=64, n_layers=3, n_heads=8, n_kv_heads=n_kv_heads, vocab_size=101, multiple_of=16,
                    max_seq_len=96)
    args = ModelArgs(**{**settings, **changes})
    torch.manual_seed(seed)
    return init_weights(Llama(args), std=0.15, seed=seed).eval()


@pytest.fixture
def model():
    return small_model()
