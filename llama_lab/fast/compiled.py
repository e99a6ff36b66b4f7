"""The one-token decoding step compiled with torch.compile: the `CompiledDecoder`.

As in gpt-fast, every step has the same shapes: the position is passed as a tensor, the cache (`StaticKVCache`)
is attended to whole, and the attention mask hides the positions not written yet. One compiled graph then
serves every step. On a GPU the graph is recorded as a CUDA graph (one launch per token instead of hundreds of
kernels); on a CPU the weights are frozen into it, so that Inductor multiplies by them with its own C++ kernels,
packed for the vector unit, and fuses the small operations between the products.

torch offers no public way to do three things this needs, so this module, and no other in the kit, reaches into
torch's private ones:
- `torch._dynamo.mark_static_address`: the cache keeps one address, which a CUDA graph replays on;
- `torch._inductor.config.patch`: `freezing` must hold while Dynamo traces, not only when Inductor compiles;
- `torch._inductor.codecache.PyCodeCache`: to let go of the weights an old frozen graph holds (forget_compiled_graphs).
"""

from __future__ import annotations

import sys

import torch

from ..model import KVCache
from .decoder import FastDecoder, is_quantized, weights_state
from .layout import DecodingLayout

# Inductor's settings on a GPU: CUDA graphs (what mode="reduce-overhead" sets), and bfloat16 rounded inside fused
# kernels wherever eager rounds it, so that greedy decoding keeps to the eager path's tokens.
GPU_COMPILE_OPTIONS = {"triton.cudagraphs": True, "emulate_precision_casts": True}

# On a CPU: the weights taken as constants (freezing) and multiplied by Inductor's own C++ kernels (max_autotune
# with the CPP backend, ATEN kept as a choice). In float32 the frozen step gives the eager step's tokens (the bench
# checks it on every decode row); in bfloat16 its kernels add up in another order, so a near-tie between two tokens
# can break the other way, and emulate_precision_casts at least rounds a fused chain wherever eager rounds it. The
# last two settings only keep autotuning from printing its tables (hundreds of lines in a learner's notebook).
CPU_COMPILE_OPTIONS = {"freezing": True, "max_autotune": True, "max_autotune_gemm_backends": "CPP,ATEN",
                       "emulate_precision_casts": True, "autotune_num_choices_displayed": 0,
                       "max_autotune_report_choices_stats": False}


class StaticKVCache(KVCache):
    """A KVCache that the compiled step, given its position as a tensor, attends to whole.

    With an int start_pos (the prompt's eager pass) it is a KVCache. With a tensor it writes in place and returns
    the whole cache, (B, Hkv, max_seq_len, hd), so that every step has the same shapes; `attention_mask` hides the
    positions not written yet. Its tensors keep one address, which CUDA graphs replay on.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        torch._dynamo.mark_static_address(self.k)
        torch._dynamo.mark_static_address(self.v)
        # each layer's part, taken once: index_copy_ into the layer's own view writes T slots in place, where
        # assigning through self.k[layer, :, :, positions] made Inductor copy the whole cache at every step
        self.k_layers = list(self.k.unbind(0))
        self.v_layers = list(self.v.unbind(0))

    def attention_mask(self, start_pos, T: int) -> torch.Tensor:
        if not isinstance(start_pos, torch.Tensor):
            return super().attention_mask(start_pos, T)
        positions = start_pos + torch.arange(T, device=self.k.device)  # (T,)
        return torch.arange(self.max_seq_len, device=self.k.device) <= positions[:, None]  # (T, max_seq_len)

    def update(self, layer: int, start_pos, k: torch.Tensor, v: torch.Tensor):
        if not isinstance(start_pos, torch.Tensor):
            return super().update(layer, start_pos, k, v)
        positions = start_pos + torch.arange(k.shape[2], device=k.device)  # (T,)
        self.k_layers[layer].index_copy_(2, positions, k)
        self.v_layers[layer].index_copy_(2, positions, v)
        return self.k_layers[layer], self.v_layers[layer]


def decode_one_token(model, tokens: torch.Tensor, position: torch.Tensor, cache: StaticKVCache) -> torch.Tensor:
    """One decoding step with static shapes: tokens (B, 1) at `position` (a 1-element tensor) -> logits (B, V)."""
    return model(tokens, start_pos=position, cache=cache)[:, -1]


def frozen_decode_one_token(layout: DecodingLayout, model, tokens: torch.Tensor, position: torch.Tensor,
                            cache: StaticKVCache) -> torch.Tensor:
    """The CPU's step: the model's weights laid out for decoding (DecodingLayout), frozen into the graph. A function
    of its own: Dynamo keeps compiled graphs per function, and a frozen graph, which has no guards on the model,
    must never be found by a call of the guarded step."""
    return layout(model, tokens, position, cache)


def quantized_decode_one_token(layout: DecodingLayout, model, tokens: torch.Tensor, position: torch.Tensor,
                               cache: StaticKVCache) -> torch.Tensor:
    """The CPU's step for a quantized model: its layout (int8, int4 and NF4 products on the kit's kernels),
    compiled with every guard and not frozen. Freezing would fold the dequantizing of 4-bit weights into float
    weights, which is the memory quantizing saves; the kernels read their weights as stored either way."""
    return layout(model, tokens, position, cache)


PLAIN = (int, float, bool, str, type(None))


def modules_state(model) -> tuple:
    """What a frozen step assumes about the model besides its weights: each module's name, class and settings
    (training, eps, head counts, ...; any other object by identity).

    Dynamo guards on all of these at every call, which for a tiny model costs more than the step's own kernels;
    the frozen step leaves those guards out (torch.compiler.skip_guard_on_all_nn_modules_unsafe) and its decoder
    checks this instead, once per generation call.
    """
    return tuple((name, type(module), tuple((key, value if isinstance(value, PLAIN) else id(value))
                                            for key, value in vars(module).items() if not key.startswith("_")))
                 for name, module in model.named_modules())


# Dynamo keeps compiled code per Python function, for the whole process, and a frozen graph has no guards on the
# model: a decoder may use its frozen graph only while no other was compiled since. Each compiling of a frozen
# graph forgets every graph before it and counts one more generation here.
_frozen_generation = 0


def forget_compiled_graphs() -> None:
    """torch.compiler.reset(), and the Python modules Inductor generated let go of.

    A frozen graph's code is a module that holds the packed weights as globals, and torch 2.13 leaves every such
    module in sys.modules: without this, each recompilation for changed weights kept one more copy of them.
    """
    global _frozen_generation
    torch.compiler.reset()
    from torch._inductor.codecache import PyCodeCache  # importing Inductor takes a while: only when compiling

    for module in PyCodeCache.modules:
        sys.modules.pop(module.__name__, None)
    PyCodeCache.cache_clear()
    _frozen_generation += 1


class CompiledDecoder(FastDecoder):
    """The one-token step of `model` run through torch.compile.

    backend "inductor" (the default): on a GPU with CUDA graphs; on a CPU with the weights laid out for decoding
    (DecodingLayout, a copy) and frozen into the graph (CPU_COMPILE_OPTIONS), compiled again whenever a weight or
    a module's setting changed since, after forgetting every compiled graph (each frozen one holds a packed copy of
    its weights); a quantized model's layout, whose joins the model's layers share (no copy of the weights), is
    compiled without freezing (quantized_decode_one_token). A model whose weights cannot be tracked (made under
    inference_mode) gets the unfrozen step: slower, never stale. Another backend name
    ("aot_eager" compiles in seconds, for tests) compiles the plain step with it. The first generation call
    compiles, which takes a while (15-60 s on a 2-core CPU).
    """

    def __init__(self, model, backend: str = "inductor"):
        if not isinstance(backend, str):
            raise ValueError(f"backend={backend!r}: give a torch.compile backend name such as 'inductor' or "
                             "'aot_eager'")
        super().__init__(model)
        self.backend = backend
        self._compiled = None
        self._mode = None  # "frozen", "quantized" (the two CPU steps) or "plain": which step _compiled is
        self._layout: DecodingLayout | None = None  # the CPU steps' weights
        self._state = None  # what the CPU step was made for: (generation, weights, modules) frozen, weights quantized
        self._caches: dict[tuple, StaticKVCache] = {}

    def prepare(self, batch_size: int, max_seq_len: int) -> StaticKVCache:
        model = self.model
        cpu_inductor = self.backend == "inductor" and model.device.type == "cpu"
        weights = weights_state(model) if cpu_inductor else None
        if weights is not None and is_quantized(model):  # the quantized step
            if self._mode != "quantized" or weights != self._state:
                self._layout = DecodingLayout(model)
                self._compiled = torch.compile(quantized_decode_one_token, backend="inductor", fullgraph=True,
                                               dynamic=False)
                # taken again: the layout's joins made the model's layers views of them (DecodingLayout)
                self._mode, self._state = "quantized", weights_state(model)
        elif weights is not None:  # the frozen step
            state = (_frozen_generation, weights, modules_state(model))
            if self._mode != "frozen" or state != self._state:
                forget_compiled_graphs()
                self._layout = DecodingLayout(model)
                self._compiled = torch.compile(frozen_decode_one_token, backend="inductor", fullgraph=True,
                                               dynamic=False, options={"guard_filter_fn":
                                                        torch.compiler.skip_guard_on_all_nn_modules_unsafe})
                self._mode, self._state = "frozen", (_frozen_generation, weights, modules_state(model))
        elif self._mode != "plain":
            options = GPU_COMPILE_OPTIONS if self.backend == "inductor" and model.device.type == "cuda" else None
            self._compiled = torch.compile(decode_one_token, backend=self.backend, options=options, fullgraph=True,
                                           dynamic=False)
            self._mode, self._layout = "plain", None
        # one graph per cache length: rounded up so that requests of similar lengths share one
        length = min(model.args.max_seq_len, -(-max_seq_len // 128) * 128)
        key = (batch_size, length, model.device, model.dtype)
        if key not in self._caches:
            self._caches[key] = StaticKVCache(model.args, batch_size, length, device=model.device, dtype=model.dtype,
                                              kv_heads=model.local_kv_heads)
        return self._caches[key]

    def step(self, tokens: torch.Tensor, start_pos: int, cache: StaticKVCache) -> torch.Tensor:
        device = tokens.device
        if device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()  # the last step's outputs are no longer needed
        position = torch.tensor([start_pos], device=device)
        # a fresh (B, 1) tensor: the same shape and strides at every call, so one graph serves all
        tokens = tokens.clone(memory_format=torch.contiguous_format)
        if self._mode == "plain":
            return self._compiled(self.model, tokens, position, cache)
        if self._mode == "quantized":
            return self._compiled(self._layout, self.model, tokens, position, cache)
        import torch._inductor.config as inductor_config

        # The options must hold while a call traces and compiles (Dynamo reads `freezing` to take the weights as
        # constants), so they are set around every call.
        with inductor_config.patch(CPU_COMPILE_OPTIONS):
            return self._compiled(self._layout, self.model, tokens, position, cache)
