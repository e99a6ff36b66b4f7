"""What fine-tuning Llama 2 holds in memory: full fine-tuning, LoRA and QLoRA, counted before anything runs.

A training step holds five things, and this module counts each in bytes, with arithmetic a learner can redo:

- weights: `quantize.weight_bytes` (16- or 32-bit, int8, NF4 with or without double quantization);
- adapters: LoRA's A (r, in) and B (out, r) for each adapted projection of every block;
- gradients: one per trainable number, in the trainable weights' dtype;
- optimizer state: AdamW's two moments in float32 for each trainable number (8 bytes), plus a float32 master
  copy (4 more) when the weights train in 16 bits with master weights;
- activations: what the forward pass keeps for the backward pass, read off `llama_lab.model` (below).

Activations, per block, for N = batch x sequence tokens, D the model's width, Dkv = kv_heads x head_dim, F the
feed-forward's hidden width, H heads, r the adapters' rank, and a the bytes of an activation (4 in float32, 2 in
16 bits). Each term is a tensor the kit's model hands autograd (tests/course/test_finetune_memory.py counts them
with torch's saved-tensor hooks, and finds these bytes exactly):

    (4 N D + 4 N) x 2     each RMSNorm's input in float32 (x.float(): a copy in 16 bits) and its 1/rms
    a N D                 the attention's input, normed, when wq, wk or wv trains (a weight or an adapter)
    a N (2 D + 2 Dkv)     rotated queries and keys, values, and the attention's output (what SDPA keeps)
    4 N H                 the attention's log-sum-exp per query and head (float32)
    a N D                 the feed-forward's input, normed, when w1 or w3 trains
    3 a N F               w1's output (silu's input), silu's output and w3's output (SwiGLU's product keeps both)
    a N F                 w2's input when w2 trains
    a N D x 2             each RMSNorm's output before its gain, when the gains train (full fine-tuning)
    a N r                 per adapted projection: A's output, which B reads

A frozen weight needs no input kept for its own gradient, so LoRA keeps less than full fine-tuning. Under LoRA
the embedding is frozen too, so the first block's input needs no gradient: its attention_norm keeps nothing, and
what else it keeps depends on which projections adapt (`block_activation_bytes`, input_needs_grad=False). After
the blocks: the final norm's float32 input and 1/rms, its output as the head's input (which the fused loss keeps,
a N D), and, training everything, that output once more before its gain; and once for every block, the rotary
tables' rows for the T positions, a T hd.

Gradient checkpointing (`model.gradient_checkpointing`) keeps only each block's input, a N D per block, and in
the backward pass recomputes one block at a time: L a N D kept, and one block's activations made again once the
backward pass has left the loss behind (`MemoryPlan.recomputed`).

The loss: the kit's `LinearCrossEntropy` (`fast.loss.loss_sums`) fuses the head with the cross-entropy whenever
the hidden states train, a frozen head (LoRA) included, and keeps one (N, V) float32 tensor: 4 N V.

The peak. The kit's step frees the gradients once AdamW has used them (`zero_grad(set_to_none=True)`), and the
backward pass frees each block's activations as it makes its gradients, so the two are largest at opposite ends
of the step. Held all along: weights, adapters, optimizer state. Then the larger of
    backward's start:  activations + the loss, and the head's gradient when the head trains (with checkpointing,
                       activations + the larger of those and the recomputed block)
    AdamW's step:      gradients + AdamW's workspace (it steps one parameter at a time, foreach=False, making two
                       temporaries the size of the largest trainable parameter: sqrt of the second moment, then
                       that over its bias correction)
Measured on the 50M model on a CPU (`measure_step_peaks`, tests/course/test_finetune_memory.py): full
fine-tuning, LoRA and LoRA with checkpointing within 1%, 1% and 5% of the peak a step adds to a process's memory.

Quantized weights (LoRA on int8, QLoRA on NF4) are counted as QLoRA's paper runs them: each weight dequantized
for one product at a time, in the forward pass and again in the backward pass, as the kit's `NF4Linear` and
`QuantizedLinear` do (`packing.frozen_product`): no floating-point copy of a frozen matrix is kept between them.

Example: plan(LLAMA2_7B, "qlora", batch_size=1, seq_len=512) -> 3.4 GiB of NF4 weights (double-quantized), 0.07
GiB of adapters (rank 16 on all seven projections: 40M numbers) and as much again of gradients, 0.3 GiB of AdamW
state, 2.6 GiB of activations: a peak of 6.5 GiB, which checkpointing brings to 4.0 GiB.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .. import quantize
from ..lora import TARGETS, lora_parameter_count, projection_shapes
from ..model import SMALL_50M, TINY, TOY, ModelArgs, build_model
from .family import GIB, GPU_MEMORY, PRESETS, format_table, gpu_sizes, parameter_count

METHODS = ("full", "lora", "qlora")
# The weights each method may hold: full fine-tuning trains them, so they stay floating point; LoRA's frozen base
# may be int8 (quantize_model(model, "int8")); QLoRA's is NF4.
WEIGHTS = {"full": ("fp32", "bf16"), "lora": ("fp32", "bf16", "int8"), "qlora": ("nf4", "nf4-dq")}
MODELS = {"tiny": TINY, "50M": SMALL_50M, **PRESETS}
ADAM_MOMENT_BYTES = 4  # AdamW's exp_avg and exp_avg_sq, in float32
MASTER_BYTES = 4  # a float32 copy of each 16-bit trainable weight, which AdamW updates


@dataclass(frozen=True)
class MemoryPlan:
    """Bytes of each thing a fine-tuning step holds, and the step's peak (see the module's docstring)."""

    weights: int
    adapters: int
    gradients: int
    optimizer: int
    activations: int
    recomputed: int  # with checkpointing: the block the backward pass recomputes, once the loss's tensors are gone
    loss: int
    workspace: int  # AdamW's temporaries
    head_gradient: int  # made at backward's start, beside every activation, when the head trains

    @property
    def peak(self) -> int:
        held = self.weights + self.adapters + self.optimizer
        backward_start = self.activations + max(self.loss + self.head_gradient, self.recomputed)
        optimizer_step = self.gradients + self.workspace
        return held + max(backward_start, optimizer_step)

    def gib(self) -> dict[str, float]:
        """Every field and the peak in GiB."""
        return {**{f.name: getattr(self, f.name) / GIB for f in fields(self)}, "peak": self.peak / GIB}


def block_activation_bytes(args: ModelArgs, tokens: int, act_bytes: int, full: bool, r: int = 0,
                           targets: tuple[str, ...] = (), input_needs_grad: bool = True) -> int:
    """Bytes one block keeps for the backward pass (the module's docstring, term by term).

    input_needs_grad=False is the first block under LoRA (the embedding is frozen): a tensor computed from frozen
    weights alone needs no gradient, so the operations that read it keep nothing for it.
    """
    N, D, F, H = tokens, args.dim, args.hidden_dim, args.n_heads
    kv = args.kv_heads * args.head_dim
    trains = set(TARGETS) if full else set(targets)
    norm = 4 * N * D + 4 * N + (act_bytes * N * D if full else 0)  # float32 input, 1/rms; output before the gain
    total = norm if input_needs_grad else 0
    attention_grad = input_needs_grad or bool(trains & {"wq", "wk", "wv"})  # queries, keys or values need one
    total += act_bytes * N * D if trains & {"wq", "wk", "wv"} else 0
    if attention_grad:  # SDPA keeps q, k, v, its output and the log-sum-exp
        total += act_bytes * N * (2 * D + 2 * kv) + 4 * N * H
    elif "wo" in trains:  # wo's adapter alone reads the output
        total += act_bytes * N * D
    residual_grad = attention_grad or "wo" in trains
    total += norm if residual_grad else 0
    total += act_bytes * N * D if trains & {"w1", "w3"} else 0
    gate_grad, up_grad = residual_grad or "w1" in trains, residual_grad or "w3" in trains
    total += 2 * act_bytes * N * F if gate_grad else 0  # silu's input; w3's output, for the gate's gradient
    total += act_bytes * N * F if up_grad else 0  # silu's output, for w3's side of the product
    total += act_bytes * N * F if "w2" in trains else 0
    return total + (0 if full else act_bytes * N * r * len(targets))


def plan(args: ModelArgs, method: str = "lora", weights: str | None = None, r: int = 16,
         targets: tuple[str, ...] = TARGETS, batch_size: int = 1, seq_len: int = 512, checkpointing: bool = False,
         master_weights: bool = False) -> MemoryPlan:
    """The bytes a fine-tuning step of the model `args` holds (see the module's docstring for every term).

    method: "full" (every weight trains), "lora" (adapters on a frozen base), "qlora" (adapters on NF4).
    weights: how the model's weights are stored: "fp32" or "bf16" (any 16-bit type), LoRA's base also "int8",
    QLoRA's "nf4" or "nf4-dq" (double quantization). Default: bf16, and nf4-dq for QLoRA. Activations and
    adapters are float32 beside fp32 weights, else 16-bit.
    r, targets: the adapters' rank and the projections they adapt (Meta's names). master_weights: AdamW updates a
    float32 copy of 16-bit trainable weights (mixed precision), 4 more bytes per trainable number.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}: use one of {', '.join(METHODS)}")
    weights = weights or ("nf4-dq" if method == "qlora" else "bf16")
    if weights not in WEIGHTS[method]:
        raise ValueError(f"weights={weights!r} for {method}: use one of {', '.join(WEIGHTS[method])}")
    targets = (targets,) if isinstance(targets, str) else tuple(targets)
    unknown = [t for t in targets if t not in TARGETS]
    if method != "full" and (unknown or not targets):
        raise ValueError(f"targets={list(targets)!r}: name projections by Meta's names, some of {', '.join(TARGETS)}")
    for name, value in {"batch_size": batch_size, "seq_len": seq_len, "r": r}.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}={value!r}: give a whole number of at least 1")
    full = method == "full"
    act_bytes = 4 if weights == "fp32" else 2
    N, D, V = batch_size * seq_len, args.dim, args.vocab_size

    stored = {"fp32": None, "bf16": None}.get(weights, weights)
    weight_total = quantize.weight_bytes(args, stored, dtype_bytes=act_bytes)
    trainable = parameter_count(args) if full else lora_parameter_count(args, targets, r)
    adapters = 0 if full else trainable * act_bytes
    master = MASTER_BYTES * trainable if master_weights and act_bytes < 4 else 0
    largest = max(V * D, *(o * i for o, i in projection_shapes(args).values())) if full else \
        max(r * max(shape) for name, shape in projection_shapes(args).items() if name in targets)

    block = block_activation_bytes(args, N, act_bytes, full, r, targets)
    if checkpointing:
        activations = args.n_layers * act_bytes * N * D  # every block's input
    else:
        first = block_activation_bytes(args, N, act_bytes, full, r, targets, input_needs_grad=full)
        activations = first + (args.n_layers - 1) * block  # a frozen embedding: the first block keeps less
    activations += 4 * N * D + 4 * N + (2 if full else 1) * act_bytes * N * D  # the final norm
    activations += act_bytes * seq_len * args.head_dim  # the rotary cos and sin rows, (T, hd/2) each
    return MemoryPlan(weights=weight_total, adapters=adapters, gradients=trainable * act_bytes,
                      optimizer=2 * ADAM_MOMENT_BYTES * trainable + master, activations=activations,
                      recomputed=block if checkpointing else 0,
                      loss=4 * N * V, workspace=2 * 4 * largest,
                      head_gradient=V * D * act_bytes if full else 0)


def fits(step: MemoryPlan, memory_gib: float) -> bool:
    """Whether the step's peak fits a GPU of `memory_gib` GiB (the framework's own workspace left out)."""
    return step.peak <= memory_gib * GIB


# ---------------------------------------------------------------------------------------------- the table

# Each method as it is usually run: full fine-tuning of 16-bit weights with float32 master weights, LoRA on a
# 16-bit base, QLoRA on NF4 with double quantization; adapters of rank 16 on every projection.
USUAL = {"full": {"weights": "bf16", "master_weights": True}, "lora": {"weights": "bf16"},
         "qlora": {"weights": "nf4-dq"}}


def fit_rows(models: tuple[str, ...] = ("7B", "13B", "70B"), methods: tuple[str, ...] = METHODS,
             gpus: dict[str, int] | None = None, **settings) -> list[dict]:
    """For each model (MODELS' names) and method (USUAL's weights): the step's peak in GiB and, for each GPU size,
    whether it fits ("yes" / "no"). `settings` go to `plan` (batch_size, seq_len, checkpointing, r, targets).

    Example: fit_rows(("7B",), seq_len=512, checkpointing=True) -> full fine-tuning needs 101.4 GiB (no card of
    80 GiB holds it), LoRA 13.1 GiB, QLoRA 4.0 GiB.
    """
    gpus = gpu_sizes() if gpus is None else gpus
    rows = []
    for size in models:
        for method in methods:
            step = plan(MODELS[size], method, **{**USUAL[method], **settings})
            row = {"model": size, "method": method, "weights": USUAL[method]["weights"], "peak GiB": step.peak / GIB}
            rows.append({**row, **{gpu: "yes" if fits(step, gib) else "no" for gpu, gib in gpus.items()}})
    return rows


def print_fit_table(models: tuple[str, ...] = ("7B", "13B", "70B"), **settings) -> None:
    """Print fit_rows as a table, with the settings it assumed and the cards each GPU column stands for."""
    rows = fit_rows(models, **settings)
    print(format_table(rows, {"peak GiB": ".1f"}))
    defaults = {"batch_size": 1, "seq_len": 512, "checkpointing": False, "r": 16, "targets": "all seven"}
    print("settings:", ", ".join(f"{key}={value}" for key, value in {**defaults, **settings}.items()))
    for column, gib in gpu_sizes().items():
        print(f"{column:>7}: {', '.join(card for card, memory in GPU_MEMORY.items() if memory == gib)}")


# ---------------------------------------------------------------------------------------------- measuring

def _resident_bytes(field: str = "VmRSS") -> int:
    """This process's resident memory now ("VmRSS") or at its peak since the last reset ("VmHWM"), in bytes."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024  # "VmRSS:   123456 kB"


def _train_steps(args: ModelArgs, method: str, r: int, targets: tuple[str, ...], batch_size: int, seq_len: int,
                 checkpointing: bool, steps: int) -> None:
    """Build a float32 model with random weights (its layers' own initialisation, in place) and train it."""
    import torch

    from ..lora import add_lora
    from ..optim import Recipe
    from ..train import loss_sums

    model = build_model(args).train()
    if method == "lora":
        model.requires_grad_(False)
        add_lora(model, targets=targets, r=r)
    model.gradient_checkpointing = checkpointing
    recipe = Recipe(lr=1e-4, steps=steps, warmup=0, grad_clip=1.0)
    optimizer = recipe.optimizer(model)
    tokens = torch.randint(0, args.vocab_size, (batch_size, seq_len + 1))
    for step in range(steps):  # the second step holds AdamW's moments from its start: the steady state
        total, scored = loss_sums(model, tokens[:, :-1], tokens[:, 1:])
        (total / scored).backward()
        recipe.update(optimizer, model.parameters(), step)


def _measure_here(size: str, cases: list[dict], batch_size: int, seq_len: int, steps: int) -> list[int]:
    """For each case (plan's method, r, targets, checkpointing): the bytes that building the model of `size` and
    training it `steps` steps add to this process's peak resident memory."""
    import gc

    import torch

    torch.set_num_threads(1)  # no thread waits spinning for another on a busy machine; the same memory either way
    peaks = []
    for case in cases:
        # The same steps on a toy model first: the first call of each kernel pages in its code (tens of MiB of
        # torch's and MKL's libraries), which is the process's memory but not the step's.
        _train_steps(TOY, **case, batch_size=batch_size, seq_len=seq_len, steps=steps)
        gc.collect()
        baseline = _resident_bytes()
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # Linux: the peak (VmHWM) starts again from the memory resident now
        _train_steps(MODELS[size], **case, batch_size=batch_size, seq_len=seq_len, steps=steps)
        peaks.append(_resident_bytes("VmHWM") - baseline)
        gc.collect()
    return peaks


def measure_step_peaks(cases: list[dict], size: str = "50M", batch_size: int = 2, seq_len: int = 128,
                       steps: int = 2) -> list[int]:
    """The peak memory, in bytes, that building a float32 model of `size` (MODELS) with random weights and
    training it `steps` steps adds to a Python process, for each case: a dict of plan's `method` ("full" or
    "lora"), `r`, `targets` and `checkpointing`. Linux only.

    How: a fresh process (no earlier peak to hide this one) reads its resident memory before the model is built
    and its peak after the steps (/proc/self/status's VmRSS and VmHWM), resetting the peak between cases
    (/proc/self/clear_refs). torch's CPU allocator keeps no statistics (torch.cuda.max_memory_allocated has no
    CPU twin), so the operating system's count is the one there is. glibc is told to map every block of 64 KiB or
    more on its own (MALLOC_MMAP_THRESHOLD_), so that a freed tensor goes back to the system at once and the
    resident memory follows what is alive rather than what the heap once held.
    """
    import json
    import os
    import subprocess
    import sys

    cases = [{"method": "lora", "r": 16, "targets": TARGETS, "checkpointing": False, **case} for case in cases]
    unknown = [case["method"] for case in cases if case["method"] not in ("full", "lora")]
    if unknown:
        raise ValueError(f"method={unknown[0]!r}: the CPU measure trains 'full' or 'lora' float32 models")
    call = (f"from llama_lab.course.finetune_memory import _measure_here; import json; print(json.dumps("
            f"_measure_here({size!r}, {cases!r}, {batch_size}, {seq_len}, {steps})))")
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(64 * 1024)}
    done = subprocess.run([sys.executable, "-c", call], env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"measuring the steps of the {size} model failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])
