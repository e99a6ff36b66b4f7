"""llama-lab: a readable Llama 2 for learning: model, tokenizer, checkpoints, generation and the chat format.

Data flows one way: text -> Tokenizer -> ids -> Llama -> logits -> sampler -> ids -> text.
"""

from .chat import chat, encode_dialog
from .checkpoint import CheckpointError, load_model, save_model
from .generate import generate, generate_tokens, stream
from .model import LLAMA2_13B, LLAMA2_70B, LLAMA2_7B, Llama, ModelArgs
from .quantize import quantize_model
from .tokenizer import Tokenizer, train_tokenizer

__all__ = [
    "ModelArgs", "LLAMA2_7B", "LLAMA2_13B", "LLAMA2_70B", "Llama", "load_model", "save_model", "CheckpointError",
    "Tokenizer", "train_tokenizer", "generate_tokens", "generate", "stream", "encode_dialog", "chat", "quantize_model",
]
