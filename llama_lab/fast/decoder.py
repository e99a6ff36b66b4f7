"""What the fast decoders share: the rule that they step aside for hooks and unmerged LoRA adapters, and how they
notice changed weights."""

from __future__ import annotations

import abc

from ..generate import Decoder
from ..lora import has_unmerged_lora
from ..nf4 import NF4Linear
from ..quantize import QuantizedLinear


def weights_state(model) -> tuple | None:
    """Where each weight lives and how often it was changed in place: what a decoder made from the weights
    (a layout, a frozen graph) stays valid while this holds.

    None when a weight was made under torch.inference_mode, which keeps no count of in-place changes.
    """
    weights = [*model.parameters(), *model.buffers()]
    if any(w.is_inference() for w in weights):
        return None
    return tuple((w.data_ptr(), w.dtype, w._version) for w in weights)


def is_quantized(model) -> bool:
    """Whether the model's linear layers hold quantized weights (int8, int4: `llama_lab.quantize`; NF4)."""
    return any(isinstance(module, (QuantizedLinear, NF4Linear)) for module in model.modules())


def has_hooks(model) -> bool:
    """Whether any of the model's modules has a forward (pre-)hook."""
    return any(module._forward_pre_hooks or module._forward_hooks for module in model.modules())


class FastDecoder(Decoder, abc.ABC):
    """A decoder that runs each one-token step its own way; the prompt's pass is the plain model's.

    While the model has forward hooks every step runs the plain model: a hook is the learner's own Python (it may
    append to a list, print, call numpy), which a joined weight would skip and a compiled graph could not keep to.
    The same holds while the model has LoRA adapters that are not merged (`llama_lab.lora`): the laid-out and
    frozen weights are the base's alone, and the update beside them would be lost; merge_lora(model) gives the
    fast path back. The tokens are the same either way. Subclasses make the cache (`prepare`) and run a step
    (`step`).
    """

    def start(self, batch_size: int, max_seq_len: int):
        self.plain = has_hooks(self.model) or has_unmerged_lora(self.model)
        return super().start(batch_size, max_seq_len) if self.plain else self.prepare(batch_size, max_seq_len)

    def logits(self, tokens, start_pos: int, cache):
        if self.plain or tokens.shape[1] > 1:
            return super().logits(tokens, start_pos, cache)
        return self.step(tokens, start_pos, cache)

    @abc.abstractmethod
    def prepare(self, batch_size: int, max_seq_len: int):
        """Check that what the decoder made still matches the model; return the cache of one generation call."""

    @abc.abstractmethod
    def step(self, tokens, start_pos: int, cache):
        """One token per row, tokens (B, 1) at start_pos -> logits (B, V)."""
