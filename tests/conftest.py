import pytest

from support import llama2_tokenizer_file, small_model


@pytest.fixture
def llama2_tokenizer():
    """Llama 2's own tokenizer.model, where the user's settings say it is (never copied into the repository)."""
    from llama_lab import Tokenizer
    return Tokenizer(llama2_tokenizer_file())


@pytest.fixture
def model():
    return small_model()
