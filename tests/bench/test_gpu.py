"""The kit on a GPU: what the CPU's tests cannot check. Run by scripts/gpu_check.sh on a CUDA machine.

The device is the one named by LLAMA_LAB_TEST_DEVICE (the script sets it; `cpu` runs these same checks on a CPU,
which is how the script itself is tested), else CUDA when torch sees a GPU; on a machine with neither, they are
skipped. Figures worth reporting (how far bfloat16 decoding follows float32) are also written as JSON to the
file named by LLAMA_LAB_GPU_REPORT, for the script's summary.
"""

import json
import math
import os
import statistics

import pytest
import torch

from support import NEAR_TIE, small_model, where_greedy_parts
from llama_lab import generate_tokens, load_model, save_model
from llama_lab.bench import LORA_TARGETS, TOY, timing
from llama_lab.bench.models import random_nf4_model
from llama_lab.course.finetune_memory import plan
from llama_lab.fast import CompiledDecoder
from llama_lab.lora import add_lora, lora_layers
from llama_lab.model import LLAMA2_7B
from llama_lab.nf4 import NF4Linear
from llama_lab.quantize import quantize_model
from llama_lab.world.tiny import load_tiny
from llama_lab.train import TrainConfig, loss_sums, make_optimizer

DEVICE = os.environ.get("LLAMA_LAB_TEST_DEVICE") or ("cuda" if torch.cuda.is_available() else None)
pytestmark = pytest.mark.skipif(DEVICE is None, reason="no GPU here (scripts/gpu_check.sh runs these on one)")

PROMPTS = ["Not long ago, in a town called Honeydale,", "Ada lived in", "Once upon a time there was a"]


def report(name: str, value) -> None:
    """Add one figure to the JSON report that scripts/gpu_check.sh collects (if it asked for one)."""
    path = os.environ.get("LLAMA_LAB_GPU_REPORT")
    if not path:
        return
    figures = json.loads(open(path).read()) if os.path.exists(path) else {}
    figures[name] = value
    with open(path, "w") as f:
        json.dump(figures, f, indent=2)


def tiny_on_device(dtype=torch.float32):
    model, tokenizer = load_tiny("base")
    return model.to(DEVICE, dtype), tokenizer


def test_the_model_gives_the_cpus_logits():
    cpu, tokenizer = load_tiny("base")
    model = load_tiny("base", device=DEVICE)[0]
    ids = torch.tensor([tokenizer.encode(PROMPTS[0])])
    with torch.inference_mode():
        expected, got = cpu(ids), model(ids.to(DEVICE)).cpu()
    difference = (expected - got).abs().max().item()
    report("float32 logits, largest difference from the CPU", difference)
    assert difference < 1e-3 * expected.abs().max().item(), difference


def test_compiled_decoding_gives_the_eager_tokens_in_float32():
    model, tokenizer = tiny_on_device()
    prompts = [tokenizer.encode(p) for p in PROMPTS]
    eager = generate_tokens(model, prompts, 48, temperature=0, eos_id=None)
    compiled = generate_tokens(CompiledDecoder(model), prompts, 48, temperature=0, eos_id=None)
    assert compiled == eager


def test_bfloat16_compiled_decoding_leaves_the_eager_tokens_only_at_near_ties():
    """In bfloat16 the compiled kernels add up in another order than the eager ones: where the two likeliest
    tokens are within rounding of each other, the tie may break the other way. Anywhere else it must not."""
    model, tokenizer = tiny_on_device(torch.bfloat16)
    prompts = [tokenizer.encode(p) for p in PROMPTS]
    eager = generate_tokens(model, prompts, 64, temperature=0, eos_id=None)
    compiled = generate_tokens(CompiledDecoder(model), prompts, 64, temperature=0, eos_id=None)
    divergences = where_greedy_parts(model, prompts, eager, compiled)  # the eager model's logits where they part
    report("bfloat16 compiled vs eager, 3 prompts x 64 greedy tokens", {
        "identical_rows": len(prompts) - len(divergences), "divergences": divergences})
    for d in divergences:
        assert d["logit_gap"] < NEAR_TIE, f"the paths part where the eager step is not near a tie: {d}"


def test_hooks_see_every_compiled_step():
    """While hooks are on the model, the compiled decoder steps aside for the plain model (a CUDA graph's replay
    would write over what a hook kept): the residual stream a hook keeps at each step equals the eager run's."""
    model, tokenizer = tiny_on_device()
    prompt = [tokenizer.encode(PROMPTS[1])]
    captured = {}
    for compile, runner in ((False, model), (True, CompiledDecoder(model))):
        steps = []
        # what the final norm reads: the residual stream leaving the last block, at the newest position
        handle = model.norm.register_forward_hook(lambda module, inputs, output: steps.append(inputs[0][:, -1].clone()))
        try:
            generate_tokens(runner, prompt, 12, temperature=0, eos_id=None)
        finally:
            handle.remove()
        captured[compile] = torch.stack([s.float().cpu() for s in steps])
    assert captured[True].shape == captured[False].shape
    torch.testing.assert_close(captured[True], captured[False], atol=1e-4, rtol=1e-4)


def test_a_checkpoint_loads_onto_the_device_in_bfloat16(tmp_path):
    model = small_model()
    folder = save_model(model, tmp_path / "m", format="hf")
    loaded = load_model(folder, device=DEVICE, dtype=torch.bfloat16)
    assert {p.device.type for p in loaded.parameters()} == {torch.device(DEVICE).type}
    assert {p.dtype for p in loaded.parameters()} == {torch.bfloat16}
    ids = torch.tensor([[1, 5, 9, 20]])
    with torch.inference_mode():
        torch.testing.assert_close(loaded(ids.to(DEVICE)).float().cpu(), model(ids), atol=0.1, rtol=0.05)


def test_training_steps_lower_the_loss_under_autocast():
    model = small_model().to(DEVICE).train()
    optimizer = make_optimizer(model, TrainConfig(lr=3e-3, warmup=0))
    generator = torch.Generator().manual_seed(0)
    batch = torch.randint(3, model.args.vocab_size, (4, 33), generator=generator).to(DEVICE)
    losses = []
    for _ in range(8):
        with torch.autocast(torch.device(DEVICE).type, dtype=torch.bfloat16):
            loss_sum, count = loss_sums(model, batch[:, :-1], batch[:, 1:])
        (loss_sum / count).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss_sum.detach() / count))
    report("autocast training, loss over 8 steps on one batch", losses)
    assert losses[-1] < losses[0] - 0.5, losses


def test_nf4_codes_on_the_device_are_the_cpus():
    cpu = quantize_model(load_tiny("base")[0], "nf4-dq")
    device = quantize_model(load_tiny("base", device=DEVICE)[0], "nf4-dq")
    pairs = [(a, b) for a, b in zip(cpu.modules(), device.modules()) if isinstance(a, NF4Linear)]
    same = sum((a.qweight == b.qweight.cpu()).sum().item() for a, b in pairs)
    total = sum(a.qweight.numel() for a, _ in pairs)
    report("NF4 (double-quantized) bytes of codes equal to the CPU's", f"{same} of {total}")
    # a code may differ only where a weight sits on a midpoint between two levels, which rounding on another
    # device can tip either way: a handful in 1.9M bytes at most
    assert same >= total - 8, (same, total)


def test_qlora_trains_on_the_device_with_gradient_checkpointing():
    model, tokenizer = load_tiny("base", device=DEVICE)
    model = add_lora(quantize_model(model, "nf4"), targets=("wq", "wk", "wv", "wo", "w1", "w2", "w3"), r=8,
                     seed=0)
    model.gradient_checkpointing = True
    frozen = {name: buffer.clone() for name, buffer in model.named_buffers()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    ids = torch.tensor([tokenizer.encode(PROMPTS[0] + " there lived a baker named Ada.")] * 4, device=DEVICE)
    if torch.device(DEVICE).type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    losses = []
    for _ in range(8):
        with torch.autocast(torch.device(DEVICE).type, dtype=torch.bfloat16):
            loss_sum, count = loss_sums(model.train(), ids[:, :-1], ids[:, 1:])
        (loss_sum / count).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss_sum.detach() / count))
    report("QLoRA (NF4 base, LoRA r=8 on every projection, gradient checkpointing), loss over 8 steps", losses)
    if torch.device(DEVICE).type == "cuda":
        report("QLoRA steps, peak GPU memory (MiB)", torch.cuda.max_memory_allocated() / 2**20)
    assert losses[-1] < losses[0], losses
    assert all(torch.equal(buffer, frozen[name]) for name, buffer in model.named_buffers()), "the NF4 base moved"


# Llama 2 7B fine-tuned with QLoRA on one GPU: the shape, the adapters and the batch of the GPU check's step (on a
# CPU, where the script checks itself, the bench's toy shape, a short sequence and float32 stand in).
QLORA_7B = {"args": LLAMA2_7B, "r": 64, "alpha": 16, "batch": 1, "seq": 2048, "dtype": torch.bfloat16}


def test_a_7b_shaped_qlora_step_with_gradient_checkpointing():
    """One QLoRA training step at Llama 2 7B's shape: random weights drawn on the GPU in bfloat16 and quantized to
    NF4 a layer at a time (the host never holds the 13 GB), LoRA r=64 on every projection, gradient checkpointing,
    one sequence of 2048 tokens, AdamW on the adapters. Reports the peak GPU memory and tokens/s."""
    on_gpu = torch.device(DEVICE).type == "cuda"
    setting = QLORA_7B if on_gpu else {**QLORA_7B, "args": TOY, "seq": 64, "dtype": torch.float32}
    args, batch, seq = setting["args"], setting["batch"], setting["seq"]
    model = random_nf4_model(args, torch.device(DEVICE), setting["dtype"])
    add_lora(model, LORA_TARGETS, r=setting["r"], alpha=setting["alpha"], seed=0)
    model.gradient_checkpointing = True
    model.train()
    ids = torch.randint(3, args.vocab_size, (batch, seq + 1), generator=torch.Generator().manual_seed(0)).to(DEVICE)
    adapters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(adapters, lr=1e-4, foreach=False)  # one parameter at a time, as the kit's recipe

    def codes_checksums():  # not copies of the codes: they would count in the peak (3.4 GB at 7B's shape)
        return {name: int(buffer.sum(dtype=torch.int64)) for name, buffer in model.named_buffers()
                if name.endswith("qweight")}

    frozen = codes_checksums()
    losses = []

    def step():
        loss_sum, count = loss_sums(model, ids[:, :-1], ids[:, 1:])
        (loss_sum / count).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss_sum.detach() / count))

    step()  # the warm-up: AdamW's state appears, the kernels are chosen
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    seconds = [timing.seconds(step, torch.device(DEVICE)) for _ in range(3)]
    tokens_per_s = batch * seq / statistics.median(seconds)
    where = f"{args.dim}x{args.n_layers} ({'Llama 2 7B' if args == LLAMA2_7B else 'toy'})"
    report(f"QLoRA step, {where}, r={setting['r']}, {batch}x{seq} tokens, gradient checkpointing: tokens/s",
           tokens_per_s)
    print(f"QLoRA step {where}: {tokens_per_s:.0f} tokens/s, losses {losses}")
    if on_gpu:
        measured_peak_bytes = torch.cuda.max_memory_allocated()  # weights, adapters, AdamW's state and the step
        # the fine-tuning memory planner's count of the same step (NF4 with float32 absmaxes, as random_nf4_model
        # stores it; bfloat16 activations and adapters): reported beside the measure, for the first GPU run to judge
        planned_peak_bytes = plan(LLAMA2_7B, "qlora", weights="nf4", r=setting["r"], targets=LORA_TARGETS,
                                  batch_size=batch, seq_len=seq, checkpointing=True).peak
        report("QLoRA step, Llama 2 7B shape, peak GPU memory (bytes)", measured_peak_bytes)
        report("QLoRA step, Llama 2 7B shape, the planner's peak (bytes)", planned_peak_bytes)
        report("QLoRA step, Llama 2 7B shape, measured peak / planned", measured_peak_bytes / planned_peak_bytes)
        report("QLoRA step, Llama 2 7B shape, peak GPU memory (GiB)", measured_peak_bytes / 2**30)
        print(f"peak GPU memory (torch.cuda.max_memory_allocated): {measured_peak_bytes / 2**30:.2f} GiB")
    assert all(math.isfinite(loss) for loss in losses), losses
    assert codes_checksums() == frozen, "the NF4 base moved"
    assert sum(p.numel() for p in adapters) == sum(setting["r"] * (layer.in_features + layer.out_features)
                                                   for layer in lora_layers(model).values())


@pytest.mark.parametrize("scheme", ["int8", "int4-g64", "nf4"])
def test_quantized_models_decode_on_the_device(scheme):
    """int8, int4 and NF4 weights on the device: made as on the CPU (the same integers, but where a weight sits on
    a rounding boundary), and the compiled step (CUDA graphs) writing the plain quantized model's greedy tokens,
    parting only at near-ties."""
    cpu = quantize_model(load_tiny("base")[0], scheme)
    model = quantize_model(load_tiny("base", device=DEVICE)[0], scheme)
    codes = {name: b for name, b in model.named_buffers() if name.endswith("qweight")}
    same = sum(int((b.cpu() == dict(cpu.named_buffers())[name]).sum()) for name, b in codes.items())
    total = sum(b.numel() for b in codes.values())
    report(f"{scheme}: bytes of codes equal to the CPU's", f"{same} of {total}")
    assert same >= 0.999 * total
    tokenizer = load_tiny("base")[1]
    prompts = [tokenizer.encode(p) for p in PROMPTS]
    plain = generate_tokens(model, prompts, 48, temperature=0, eos_id=None)
    compiled = generate_tokens(CompiledDecoder(model), prompts, 48, temperature=0, eos_id=None)
    partings = where_greedy_parts(model, prompts, plain, compiled)
    report(f"{scheme}: compiled vs plain, 3 prompts x 48 greedy tokens", {
        "identical_rows": len(prompts) - len(partings), "partings": partings})
    for d in partings:
        assert d["logit_gap"] < NEAR_TIE, f"the compiled step parts from the plain one away from a near-tie: {d}"
