"""Speed as a layer of its own: decoders that give the tokens the plain model gives, sooner.

`llama_lab.model` is the paper's model and nothing else. The decode loop (`llama_lab.generate`) runs it through a
`Decoder`, by default the plain forward pass; the decoders here run the same model faster, and are handed to
`generate_tokens` (or `generate`, `stream`, `iter_generate`) in place of the model:

    from llama_lab.fast import CompiledDecoder, LaidOutDecoder
    decoder = LaidOutDecoder(model)        # on a CPU: the weights laid out for decoding, no compiling
    decoder = CompiledDecoder(model)       # torch.compile: CUDA graphs on a GPU, frozen weights on a CPU
    generate_tokens(decoder, prompts, 64)  # the same tokens as generate_tokens(model, prompts, 64)

Each decoder owns what it keeps (copies of weights, compiled steps, caches) and checks at the start of every
generation call that it still matches the model: a weight changed by training or loading, or moved by `.to()`,
makes it lay out or compile again. While the model has forward hooks (a learner's, `llama_lab.hooks`), or LoRA
adapters not merged into its weights (`llama_lab.lora`), a decoder steps aside and every step runs the plain
model, so that each hook runs as written and each adapter is applied.
"""

from .compiled import CompiledDecoder
from .layout import LaidOutDecoder

__all__ = ["CompiledDecoder", "LaidOutDecoder"]
