"""Where assignment 05's notebook finds `tokenizer_path` and `vocabulary_scores` (`from llama_lab.grading.bpe
import ...`): the parts live in llama_lab/grading/parts/bpe.py."""

from .parts.bpe import tokenizer_path, vocabulary_scores

__all__ = ["tokenizer_path", "vocabulary_scores"]
