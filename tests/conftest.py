import pytest

from support import LLAMA2_TOKENIZER, small_model


@pytest.fixture
def llama2_tokenizer():
    """Llama 2's own tokenizer.model, read from beside the repository (never copied into it)."""
    if not LLAMA2_TOKENIZER.is_file():
        pytest.skip(f"Llama 2's tokenizer.model is not at {LLAMA2_TOKENIZER}")
    from llama_lab import Tokenizer
    return Tokenizer(LLAMA2_TOKENIZER)


@pytest.fixture
def model():
    return small_model()
