"""Where the assignment notebooks find `try_in_tiny_model` and `random_llama` (`from llama_lab.grading.models
import ...`): the small random Llamas of the graded cases live in llama_lab/grading/parts/models.py."""

from .parts.models import logits_and_greedy, random_llama, random_prompt, replaced, try_in_tiny_model

__all__ = ["logits_and_greedy", "random_llama", "random_prompt", "replaced", "try_in_tiny_model"]
