"""Reading and editing a running model through forward hooks: the residual stream, steering, the logit lens and
attention patterns (also the attention a chat model pays to its system prompt), with no change to the model's code.

The residual stream is numbered one way everywhere in the kit: index 0 is the embeddings (the stream entering
block 0) and index i >= 1 the stream leaving block i - 1, so an n-layer model has n + 1 entries, and entry n is
what the final RMSNorm reads. (TransformerLens names entry i < n `blocks.{i}.hook_resid_pre` and entry n
`blocks.{n-1}.hook_resid_post`.)

    with capture_residual_stream(model) as stream:      # stream[i]: (B, T, D) after the forward pass
        model(tokens)
    residual_stream(model, tokens)                      # (n + 1, B, T, D), the same entries stacked
    with edit_residual_stream(model, edit, layers=[3]): # h leaving block 2 becomes edit(3, h)
        model(tokens)
    logit_lens(model, residual_stream(model, tokens))   # (n + 1, B, T, V): what each entry would predict

References:
1) TransformerLens's `HookPoint`: activations read and written at fixed, named points of the model.
2) nostalgebraist 2020, "interpreting GPT: the logit lens": read each layer's residual stream through the final
   norm and the output matrix, as if the model stopped there.
"""

from __future__ import annotations

import contextlib
import numbers
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from .chat import encode_dialog_with_roles
from .model import Llama


@contextlib.contextmanager
def _hooks(model: Llama, hooks: dict[int, Callable]) -> Iterator[None]:
    """Put hooks[i] on the module whose output is stream entry i while inside; always take them off on exit."""
    writers: list[nn.Module] = [model.tok_embeddings, *model.layers]  # entry 0, then block i - 1 for entry i
    handles = [writers[i].register_forward_hook(hook) for i, hook in hooks.items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _check_indices(model: Llama, layers: Sequence[int]) -> list[int]:
    n = len(model.layers)
    wrong = [i for i in layers if not (isinstance(i, numbers.Integral) and 0 <= i <= n)]
    if wrong:
        raise ValueError(f"stream indices {wrong} do not exist: this model's residual stream has indices 0 (the "
                         f"embeddings) to {n} (the stream leaving block {n - 1}); the stream leaving block b is "
                         "index b + 1")
    return [int(i) for i in layers]


def _hidden(output) -> torch.Tensor:
    """The stream in a writer's output: the embedding gives h, a block gives (h, attention probabilities)."""
    return output[0] if isinstance(output, tuple) else output


@contextlib.contextmanager
def capture_residual_stream(model: Llama) -> Iterator[dict[int, torch.Tensor]]:
    """Record the residual stream of every forward pass run inside the `with`.

    The dict is filled as the model runs: stream[0] is the embeddings (the stream entering block 0) and stream[i],
    i >= 1, the stream leaving block i - 1, each (B, T, D) and detached; an n-layer model gives indices 0..n.
    Each forward pass overwrites them (after a generation they hold its last step). The hooks go on exit.

    Example:
        with capture_residual_stream(model) as stream:
            model(tokens)                   # tokens (B, T)
        stream[0]                           # model.tok_embeddings(tokens), (B, T, D)
        stream[len(model.layers)]           # what the final norm reads, (B, T, D)
    """
    stream: dict[int, torch.Tensor] = {}

    def keeper(index: int):
        def keep(module, inputs, output):
            stream[index] = _hidden(output).detach()
        return keep

    with _hooks(model, {i: keeper(i) for i in range(len(model.layers) + 1)}):
        yield stream


def _token_batch(tokens) -> torch.Tensor:
    """tokens as a (B, T) tensor of ids, or a ValueError that says what was given and what to give instead."""
    try:
        batch = torch.as_tensor(tokens)
    except (ValueError, TypeError, RuntimeError) as error:  # rows of different lengths, or not numbers at all
        raise ValueError(f"tokens must be a (B, T) batch of token ids with rows of equal length; torch could not "
                         f"read them ({error}): pad the rows, or run one sequence at a time as [ids]") from None
    if batch.dim() == 1:
        raise ValueError(f"tokens has shape {tuple(batch.shape)}, a single sequence: residual_stream takes a batch "
                         "(B, T); for one sequence give [ids] (a list) or tokens[None] (a tensor)")
    if batch.dim() != 2:
        raise ValueError(f"tokens has shape {tuple(batch.shape)}: give a batch of token ids, shape (B, T)")
    if batch.is_floating_point() or batch.is_complex() or batch.dtype == torch.bool:
        raise ValueError(f"tokens are {batch.dtype}: give integer token ids (tokens.long())")
    return batch


@torch.no_grad()
def residual_stream(model: Llama, tokens) -> torch.Tensor:
    """The residual stream of one forward pass, stacked: tokens (B, T) -> (n_layers + 1, B, T, D).

    Entry 0 is the embeddings, entry i >= 1 the stream leaving block i - 1 (as `capture_residual_stream`).
    `tokens` is a tensor or a list of equally long lists of ids: a batch, even of one sequence ([ids], not ids).
    """
    tokens = _token_batch(tokens)
    with capture_residual_stream(model) as stream:
        model(tokens.to(model.device))
    return torch.stack([stream[i] for i in range(len(model.layers) + 1)])


@contextlib.contextmanager
def edit_residual_stream(model: Llama, edit: Callable[[int, torch.Tensor], torch.Tensor],
                         layers: Sequence[int] | None = None) -> Iterator[Llama]:
    """Change the residual stream while the model runs inside the `with`: entry i becomes edit(i, h), h (B, T, D).

    `layers` are stream indices, any of 0..n_layers: 0 edits the embeddings before block 0 reads them, i >= 1
    the stream leaving block i - 1, before block i (or, for i = n_layers, the final norm) reads it. None edits
    all n_layers + 1 of them. The tool behind activation steering: add a direction, or project one out.

    Example (add d to the stream leaving block 2):
        with edit_residual_stream(model, lambda i, h: h + d, layers=[3]):
            logits = model(tokens)
    """
    indices = range(len(model.layers) + 1) if layers is None else _check_indices(model, layers)

    def editor(index: int):
        def change(module, inputs, output):
            if isinstance(output, tuple):  # a block's (h, attention probabilities)
                return (edit(index, output[0]), *output[1:])
            return edit(index, output)
        return change

    with _hooks(model, {i: editor(i) for i in indices}):
        yield model


@torch.no_grad()
def logit_lens(model: Llama, stream: torch.Tensor) -> torch.Tensor:
    """What the model would predict if it stopped at a point of its residual stream: the final RMSNorm, then the
    output head. stream (..., D) -> logits (..., V), float32, on the stream's device.

    Any entries will do, e.g. residual_stream(model, tokens) (n + 1, B, T, D) or one position of it (n + 1, D).
    Entry n (the stream leaving the last block) through the lens is the model's own logits.
    """
    h = stream.to(model.device, model.dtype)
    return model.output(model.norm(h)).float().to(stream.device)


class _EnoughLayers(Exception):
    """Raised from a hook to end a forward pass once the layers asked for have run."""


def attention_patterns(model: Llama, ids: list[int], n_layers: int | None = None) -> dict[int, torch.Tensor]:
    """{layer: (H, T, T)} attention probabilities of one sequence for the first `n_layers` blocks, float32, on CPU.

    Runs `model(tokens, return_attention=True)` but stops after the last block wanted, so looking at the
    early layers of a big model costs only those layers. Keys are block indices (0 is the first block).
    """
    n_layers = len(model.layers) if n_layers is None else min(n_layers, len(model.layers))
    patterns: dict[int, torch.Tensor] = {}

    def keep(block, inputs, output):
        patterns[block.layer_id] = output[1][0].float().cpu()  # output = (h, probs (B, H, T, S))
        if len(patterns) == n_layers:
            raise _EnoughLayers

    # block b writes stream entry b + 1
    with _hooks(model, {b + 1: keep for b in range(n_layers)}), torch.inference_mode():
        try:
            model(torch.tensor([ids], device=model.device), return_attention=True)
        except _EnoughLayers:
            pass
    return patterns


@torch.no_grad()
def attention_to_system(model, tokenizer, dialog: Sequence[dict]) -> tuple[dict, torch.Tensor]:
    """(`encode_dialog_with_roles` of the dialog, (T,) the attention mass each position pays to the system prompt's
    tokens, averaged over layers and heads)."""
    encoded = encode_dialog_with_roles(tokenizer, dialog)
    _, attentions = model(torch.tensor([encoded["ids"]], device=model.device), return_attention=True)
    probs = torch.stack([a[0].float() for a in attentions]).mean(dim=(0, 1))  # (T, T): mean over layers, heads
    is_system = torch.tensor([r == "system" for r in encoded["roles"]], device=probs.device)
    return encoded, probs[:, is_system].sum(-1).cpu()


def system_prompt_attention(model, tokenizer, dialog: Sequence[dict]) -> dict:
    """How much attention each exchange's answer position pays to the system prompt, averaged over layers and
    heads.

    Returns {"attention": per exchange, the attention mass on system-prompt tokens; "share": per exchange, the
    fraction of the tokens visible from there that are the system prompt (attention spread evenly would give
    this)}. Ghost Attention (Llama 2, section 3.3) was made because the first number fades over the turns.
    """
    encoded, to_system = attention_to_system(model, tokenizer, dialog)
    n_system = torch.cumsum(torch.tensor([r == "system" for r in encoded["roles"]]), 0)  # (T,) system tokens so far
    positions = encoded["answer_positions"]
    return {"attention": [float(to_system[p]) for p in positions],
            "share": [float(n_system[p]) / (p + 1) for p in positions]}
