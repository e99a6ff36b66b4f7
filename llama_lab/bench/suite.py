"""The suite: every measurement of the kit against Hugging Face transformers, for each size, and run_suite.

Both sides run the same configuration with the same weights: the kit's `Llama`, and a `LlamaForCausalLM` built
from the same `ModelArgs` (checkpoint.args_to_hf_config) with the kit's state dict copied in. Every figure is a
median over repeats, and the two take turns (kit, transformers, kit, transformers, ...) so that whatever else the
machine does slows both alike. "kit vs HF" says how many times better the kit does: kit/transformers for
tokens/s, transformers/kit for seconds and memory; above 1 the kit is ahead.

The memory-bandwidth bound of decoding: each step reads every weight once (of the embedding table, one row per
token), so a batch of B rows can never produce more than B * bandwidth / (weight bytes) tokens per second. The
bandwidth is measured on the same machine, with a matrix-vector product too large for the caches run on all the
threads in use (the kit's `linear`, as decoding runs it), in turn with the decoding runs (so under the same
conditions); "share" is the fraction of the bound reached. Threads: torch's default (every core) unless
--threads says otherwise; the table's first line says how many.
Each decode figure is measured twice: with the eager step (on a CPU `fast.LaidOutDecoder`: the weights laid out
for decoding; on a GPU the plain model), and with the compiled one (`fast.CompiledDecoder`: static cache and
torch.compile; on a CPU with the weights frozen into Inductor's matrix kernels, on a GPU with CUDA graphs). So
is the training step: eager, and compiled on both sides (the kit's
`train --compile` against transformers' model through the same torch.compile). Compiling is done in the untimed
warm-up. On a GPU the suite runs in bfloat16 and adds a model of Llama 2 7B's shape with random weights; on a CPU,
`--sizes 7b` measures that shape alone, at batch 1, in int4, int8 and bfloat16 (measure_cpu_7b).
Quantized decoding (`llama_lab.quantize`, int8 and int4 in groups of 64), and decoding in bfloat16, is measured
against the same model in floating point through the same kind of step (compiled, or eager with --no-compile), in
turns, with the share of the bandwidth bound for the bytes the quantized (or bfloat16) step reads; these rows have
a table of their own.
LoRA training (measure_lora) is measured against peft on transformers' twin, with the same adapters, and QLoRA (an NF4
base) on the kit's side alone: tokens/s and the peak memory a step adds.
Quantized decoding against llama.cpp's (--measure llamacpp, llamacpp.py) is measured only when asked for.
"""

from __future__ import annotations

import copy
import functools
import gc
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checkpoint import save_model
from ..fast import CompiledDecoder, LaidOutDecoder
from ..generate import Decoder, generate_tokens
from ..model import Llama, build_model
from ..quantize import quantize_model
from ..fast.loss import compiled_loss_sums, logits_loss_sums, loss_sums
from .measures import BandwidthProbe, PeakRSS, peak_memory_added, release_free_memory, weight_bytes_per_step
from .llamacpp import measure_llamacpp
from .models import SIZES, TOY, kit_model, lora_models, random_model, random_quantized_model, transformers_twin
from .report import format_row, row
from .timing import kit_decode, seconds, take_timed_turns, take_turns


@dataclass
class Settings:
    """How much to measure: the defaults are docs/benchmarks.md's figures; --quick shrinks everything."""

    sizes: tuple[str, ...] = ("tiny", "50m")
    repeats: int = 7
    prompt_len: int = 16
    new_tokens: int = 128
    batches: tuple[int, ...] = (1, 8)
    prefill_len: int = 512
    train_batch: int = 8
    train_seq: int = 256
    measure: tuple[str, ...] = ("decode", "prefill", "train", "lora", "load", "quantized")
    compile: bool = True  # also measure the compiled decode step (on a GPU with CUDA graphs) and training step
    bandwidth_mib: int = 256  # the matrix of the bandwidth probe, well above the CPU's caches


QUICK = Settings(sizes=("toy",), repeats=1, new_tokens=8, batches=(1, 2), prefill_len=64, train_batch=2,
                 train_seq=32, compile=False, bandwidth_mib=32)
# "llamacpp" (llamacpp.py: the kit's quantized decoding against llama.cpp's) runs only when asked for: it needs
# llama-cpp-python, which builds llama.cpp from source
MEASUREMENTS = (*Settings().measure, "llamacpp")


QUANTIZED_SCHEMES = ("int8", "int4-g64")
# what measure_quantized sets against float32: the schemes, and bfloat16 (2 bytes a weight, the other way to halve
# what a step reads), last, since on a CPU its compiled step takes the frozen float32 step's place
QUANTIZED_CONFIGURATIONS = (*QUANTIZED_SCHEMES, "bfloat16")
# Llama 2 7B's shape on a CPU, one configuration at a time (a laptop holds one): the smallest first
CPU_7B_CONFIGURATIONS = ("int4-g64", "int8", "bfloat16")
CPU_LARGE_CONFIGURATIONS = {"7b": CPU_7B_CONFIGURATIONS, "13b": ("int4-g64",)}  # 13B: what fits a 16 GB laptop
CPU_7B_NEW_TOKENS = 16


def measure_decode(size, kit, twin, batch, cfg: Settings, bytes_per_step, probe: BandwidthProbe, compile=False):
    """Greedy decoding tokens/s: `batch` prompts of cfg.prompt_len tokens, cfg.new_tokens new tokens each.

    kit: the model's decoder (llama_lab.fast), compiled or not as `compile` says.
    """
    device = kit.model.device
    prompts = torch.randint(3, kit.model.args.vocab_size, (batch, cfg.prompt_len),
                            generator=torch.Generator().manual_seed(batch)).to(device)
    outputs = {}

    def run_kit():
        outputs["kit"] = generate_tokens(kit, prompts.tolist(), cfg.new_tokens, temperature=0, eos_id=None)

    def run_hf():
        with torch.inference_mode():
            out = twin.generate(prompts, attention_mask=torch.ones_like(prompts), do_sample=False,
                                max_new_tokens=cfg.new_tokens, min_new_tokens=cfg.new_tokens)
        outputs["transformers"] = out[:, cfg.prompt_len:].tolist()

    probe.samples.clear()
    times = take_turns({"kit": run_kit, "transformers": run_hf, "bandwidth": probe}, cfg.repeats, device)
    tokens = batch * cfg.new_tokens
    result = row(size, f"decode, batch {batch}" + (", compiled" if compile else ""), "tokens/s",
                 [tokens / t for t in times["kit"]], [tokens / t for t in times["transformers"]])
    result["bandwidth_bytes_per_s"] = statistics.median(probe.samples[-cfg.repeats:])
    result["bound"] = batch * result["bandwidth_bytes_per_s"] / bytes_per_step
    result["share"] = result["kit"] / result["bound"]
    result["share_transformers"] = result["transformers"] / result["bound"]
    result["same_tokens"] = outputs["kit"] == outputs["transformers"]
    return result, outputs["kit"]


def lowered(model: Llama, configuration: str) -> Llama:
    """A copy of `model` in one of QUANTIZED_CONFIGURATIONS: quantized by a scheme, or in bfloat16."""
    if configuration == "bfloat16":
        copied = copy.deepcopy(model).to(torch.bfloat16)
        copied.init_rope(model.device)  # the rotary tables stay in float32
        return copied
    return quantize_model(copy.deepcopy(model), configuration)


def measure_quantized(size, model: Llama, float_decoder, cfg: Settings, probe: BandwidthProbe, log=print) -> list[dict]:
    """Greedy decoding tokens/s of `model` quantized (QUANTIZED_SCHEMES), and in bfloat16, against `float_decoder`
    (the same model unquantized, through the same kind of step), in turns. The "kit" side of each row is the
    quantized (or bfloat16) model, the "transformers" side the float one; "tokens_alike": how many greedy tokens
    the two write alike before their texts part (the median over the batch's rows; once one token differs,
    everything after it may). The bfloat16 row is left out for a model already in bfloat16 (the GPU's suite).

    Compiled on a CPU, the bfloat16 step and the float one are both frozen steps, of which CompiledDecoder keeps one
    at a time (compiling one forgets the other): that row times its two sides one after the other, each compiled
    in its untimed warm-up, rather than in turns ("in_turns": False)."""
    device = model.device
    rows = []
    for configuration in QUANTIZED_CONFIGURATIONS:
        if configuration == "bfloat16" and model.dtype == torch.bfloat16:
            continue
        try:
            lower = lowered(model, configuration)
        except ValueError as why:  # a group size that does not divide the model's widths
            log(f"{size}: no {configuration} rows: {why}")
            continue
        if cfg.compile:
            decoder = CompiledDecoder(lower)
        else:
            decoder = LaidOutDecoder(lower) if device.type == "cpu" else Decoder(lower)
        in_turns = not (configuration == "bfloat16" and cfg.compile and device.type == "cpu")
        per_step = weight_bytes_per_step(lower)
        for batch in cfg.batches:
            prompts = torch.randint(3, model.args.vocab_size, (batch, cfg.prompt_len),
                                    generator=torch.Generator().manual_seed(batch)).tolist()
            outputs = {}

            def run(name, decoder):
                outputs[name] = generate_tokens(decoder, prompts, cfg.new_tokens, temperature=0, eos_id=None)

            # the float step warmed up first: compiling a frozen step forgets every compiled graph, and the
            # quantized one, compiled after it, is then not compiled again in a timed turn
            contenders = {"float": lambda: run("float", float_decoder),
                          "quantized": lambda: run("quantized", decoder)}
            probe.samples.clear()
            if in_turns:
                times = take_turns({**contenders, "bandwidth": probe}, cfg.repeats, device)
                bandwidth = statistics.median(probe.samples[-cfg.repeats:])
            else:
                times = {name: take_turns({name: fn, "bandwidth": probe}, cfg.repeats, device)[name]
                         for name, fn in contenders.items()}
                bandwidth = statistics.median(probe.samples)
            tokens = batch * cfg.new_tokens
            r = row(size, f"decode, batch {batch}, {configuration}" + (", compiled" if cfg.compile else ""),
                    "tokens/s", [tokens / t for t in times["quantized"]], [tokens / t for t in times["float"]])
            alike = [next((i for i, (a, b) in enumerate(zip(q, f)) if a != b), len(q))
                     for q, f in zip(outputs["quantized"], outputs["float"])]
            r.update(kind="quantized", scheme=configuration, bytes_per_step=per_step, new_tokens=cfg.new_tokens,
                     bandwidth_bytes_per_s=bandwidth, tokens_alike=statistics.median(alike), in_turns=in_turns)
            r["bound"] = batch * r["bandwidth_bytes_per_s"] / per_step
            r["share"] = r["kit"] / r["bound"]
            rows.append(r)
        del lower, decoder
        gc.collect()
    return rows


def measure_prefill(size, kit, twin, cfg: Settings) -> list[dict]:
    """Tokens/s of one forward pass over a prompt, two ways.

    "prefill": the prompt's pass of generation, filling the cache, with the logits of the last position only (all
    that choosing the next token needs: the kit's generate asks for last_only, transformers' generate for
    logits_to_keep=1). "forward, every position's logits": the pass that scores a text (perplexity, evaluation),
    with no cache, where the output head multiplies every position.
    """
    device = kit.device
    length = min(cfg.prefill_len, kit.args.max_seq_len)
    prompt = torch.randint(3, kit.args.vocab_size, (1, length), generator=torch.Generator().manual_seed(0))
    prompt = prompt.to(device)

    def kit_prefill():
        with torch.inference_mode():
            kit(prompt, cache=kit.new_cache(1, length), last_only=True)

    def hf_prefill():
        with torch.inference_mode():
            twin(prompt, use_cache=True, logits_to_keep=1)

    def kit_forward():
        with torch.inference_mode():
            kit(prompt)

    def hf_forward():
        with torch.inference_mode():
            twin(prompt, use_cache=False)

    rows = []
    for metric, kit_fn, hf_fn in ((f"prefill, {length} tokens", kit_prefill, hf_prefill),
                                  (f"forward, {length} tokens, every position's logits", kit_forward, hf_forward)):
        times = take_turns({"kit": kit_fn, "transformers": hf_fn}, cfg.repeats, device)
        rows.append(row(size, metric, "tokens/s", [length / t for t in times["kit"]],
                        [length / t for t in times["transformers"]]))
    return rows


def hf_loss_sums(twin, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """train.loss_sums for a transformers model: torch's cross-entropy over its logits, as transformers' own loss."""
    return logits_loss_sums(twin(inputs).logits, targets)


def training_batch(model: Llama, cfg: Settings) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets), (cfg.train_batch, seq) each: random tokens, the targets the inputs shifted by one."""
    seq = min(cfg.train_seq, model.args.max_seq_len)
    batch = torch.randint(0, model.args.vocab_size, (cfg.train_batch, seq + 1),
                          generator=torch.Generator().manual_seed(0)).to(model.device)
    return batch[:, :-1], batch[:, 1:]


def training_step(loss_of, model, inputs: torch.Tensor, targets: torch.Tensor):
    """A function running one training step of `model`: forward, loss_of's summed loss, backward, and AdamW on the
    parameters that train (all of them, or under LoRA the adapters alone)."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step():
        total, count = loss_of(model, inputs, targets)
        (total / count).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def measure_training(size, kit, twin, cfg: Settings) -> list[dict]:
    """Tokens/s of a training step: forward, cross-entropy, backward, AdamW (fresh copies of both models).

    The kit's copy is a `Llama(args)` given the weights, as the kit's training code makes its models, and its loss
    is the kit's own (train.loss_sums). With cfg.compile a second row compares the compiled steps: the kit's as
    `python -m llama_lab.train --compile` runs it (train.compiled_loss_sums), against transformers' model through
    the same torch.compile of the same loss; compiling is done in the untimed warm-up.
    """
    inputs, targets = training_batch(kit, cfg)

    def trainee():
        model = build_model(kit.args, device=kit.device, dtype=kit.dtype)
        model.load_state_dict(kit.state_dict())
        return model.train()

    tokens = inputs.numel()
    pairs = [("", loss_sums, hf_loss_sums)]
    if cfg.compile:
        pairs.append((", compiled", compiled_loss_sums(), torch.compile(hf_loss_sums)))
    rows = []
    for label, kit_loss, hf_loss in pairs:
        contenders = {"kit": training_step(kit_loss, trainee(), inputs, targets),
                      "transformers": training_step(hf_loss, copy.deepcopy(twin).train(), inputs, targets)}
        times = take_turns(contenders, cfg.repeats, kit.device)
        rows.append(row(size, f"training step, {cfg.train_batch}x{inputs.shape[1]} tokens{label}", "tokens/s",
                        [tokens / t for t in times["kit"]], [tokens / t for t in times["transformers"]]))
        del contenders
    return rows


def measure_lora(size, model: Llama, cfg: Settings) -> list[dict]:
    """A LoRA training step, the kit's against peft's, and the kit's QLoRA step: tokens/s and peak memory.

    The same adapters on both sides (bench.lora_models: rank 8, alpha 16, every projection, no dropout, the same A
    and B), the same batch as the training rows, AdamW on the adapters alone. The kit: llama_lab.lora.add_lora and
    its training loss (fast.loss.loss_sums); transformers' twin: peft's get_peft_model and transformers' logits
    with torch's cross-entropy. Memory: the peak a step adds over what is held before it (the weights, the
    optimizer's state), after the warm-up; on a CPU the process's resident memory, on a GPU torch's allocations.
    QLoRA: the kit's base in NF4 (quantize_model(model, "nf4"), the output head too), the kit's side alone: peft's
    QLoRA stores its base through bitsandbytes' 4-bit layers, which need a CUDA GPU.
    """
    inputs, targets = training_batch(model, cfg)
    tokens, shape = inputs.numel(), f"{cfg.train_batch}x{inputs.shape[1]} tokens"
    kit, twin = lora_models(model)
    contenders = {"kit": training_step(loss_sums, kit, inputs, targets),
                  "transformers": training_step(hf_loss_sums, twin, inputs, targets)}
    times = take_turns(contenders, cfg.repeats, model.device)
    memory = {name: [peak_memory_added(step, model.device) / 2**20 for _ in range(min(cfg.repeats, 3))]
              for name, step in contenders.items()}
    rows = [row(size, f"LoRA training step, {shape}", "tokens/s", [tokens / t for t in times["kit"]],
                [tokens / t for t in times["transformers"]]),
            row(size, f"LoRA training step, {shape}, peak memory added", "MiB", memory["kit"],
                memory["transformers"], higher_is_better=False)]
    del kit, twin, contenders
    gc.collect()
    qlora, _ = lora_models(model, scheme="nf4")
    step = training_step(loss_sums, qlora, inputs, targets)
    times = take_turns({"kit": step}, cfg.repeats, model.device)
    memory = [peak_memory_added(step, model.device) / 2**20 for _ in range(min(cfg.repeats, 3))]
    rows += [row(size, f"QLoRA (NF4) training step, {shape}", "tokens/s", [tokens / t for t in times["kit"]], []),
             row(size, f"QLoRA (NF4) training step, {shape}, peak memory added", "MiB", memory, [],
                 higher_is_better=False)]
    return rows


# -------------------------------------------------------------------------------------------- loading

def probe_load(loader: str, path: str, warm_up_path: str) -> dict:
    """Run in a fresh interpreter: load a checkpoint, read every weight once, report the time and peak memory.

    A toy checkpoint of the same format is loaded first, so that what is counted is the checkpoint itself and
    not the libraries that loading imports or initialises on first use. Reading every weight counts what a
    memory-mapped load leaves on disk until first use: both loaders are measured to the same point, a model
    whose weights are all in memory.
    """
    if loader == "transformers":
        import transformers

        def load(where):
            return transformers.LlamaForCausalLM.from_pretrained(where, dtype=torch.float32)
    else:
        from ..checkpoint import load_model

        def load(where):
            return load_model(where)

    def load_and_read(where):
        model = load(where)
        with torch.no_grad():
            return model, sum(float(p.float().sum()) for p in model.parameters())

    load_and_read(warm_up_path)  # and dropped at once
    release_free_memory()  # so that the load cannot reuse, unseen, memory the warm-up left to the allocator
    with PeakRSS() as memory:
        start = time.perf_counter()
        model, checksum = load_and_read(path)
        elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "peak_added_bytes": memory.added, "checksum": checksum}


def _run_probe(loader: str, path: Path, warm_up_path: Path) -> dict:
    command = [sys.executable, "-m", "llama_lab.bench", "--probe-load", loader, str(path), str(warm_up_path)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent.parent)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode:
        raise RuntimeError(f"load probe {loader} {path} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.suffix in (".pth", ".safetensors", ".bin"))


QUANTIZED_LOADS = ("int4-g64", "int8")  # the quantized checkpoints measure_loading loads


def measure_loading(size, model: Llama, cfg: Settings) -> list[dict]:
    """Load time and peak RSS for Meta .pth and safetensors checkpoints, each in a fresh process.

    Safetensors: the same Hugging Face directory for both (the kit converts names and the rotary layout on
    the way in); the kit's own format (Meta's layout in safetensors) is measured too, and the kit's quantized
    checkpoints (QUANTIZED_LOADS, saved from the model quantized), whose peak should be about their size on disk:
    their integers are read as stored, never made into floating-point weights.
    """
    rows = []
    with tempfile.TemporaryDirectory(prefix="llama-lab-bench-") as tmp:
        toy = random_model(TOY, torch.device("cpu"), torch.float32)
        cases = [("Meta .pth", "meta", False), ("safetensors (HF layout)", "hf", True),
                 ("safetensors (kit layout)", "kit", False)]
        for label, fmt, with_transformers in cases:
            path = save_model(model, Path(tmp) / fmt, format=fmt, dtype=torch.float32)
            warm_up = save_model(toy, Path(tmp) / f"toy-{fmt}", format=fmt)
            runs = {"kit": [], "transformers": []}
            for _ in range(cfg.repeats):
                runs["kit"].append(_run_probe("kit", path, warm_up))
                if with_transformers:
                    runs["transformers"].append(_run_probe("transformers", path, warm_up))
            size_on_disk = disk_bytes(path)
            rows.append(row(size, f"load, {label}", "s", [r["seconds"] for r in runs["kit"]],
                            [r["seconds"] for r in runs["transformers"]], higher_is_better=False,
                            disk_bytes=size_on_disk))
            rows.append(row(size, f"load peak RSS / size on disk, {label}", "x",
                            [r["peak_added_bytes"] / size_on_disk for r in runs["kit"]],
                            [r["peak_added_bytes"] / size_on_disk for r in runs["transformers"]],
                            higher_is_better=False, disk_bytes=size_on_disk))
        for scheme in QUANTIZED_LOADS:  # the kit's side alone: transformers does not read the kit's quantization
            path = save_model(quantize_model(copy.deepcopy(model), scheme), Path(tmp) / scheme, format="kit")
            warm_up = save_model(quantize_model(copy.deepcopy(toy), scheme), Path(tmp) / f"toy-{scheme}", format="kit")
            runs = [_run_probe("kit", path, warm_up) for _ in range(cfg.repeats)]
            size_on_disk = disk_bytes(path)
            rows.append(row(size, f"load, kit quantized {scheme}", "s", [r["seconds"] for r in runs], [],
                            higher_is_better=False, disk_bytes=size_on_disk))
            rows.append(row(size, f"load peak RSS / size on disk, kit quantized {scheme}", "x",
                            [r["peak_added_bytes"] / size_on_disk for r in runs], [], higher_is_better=False,
                            disk_bytes=size_on_disk))
    return rows


# ------------------------------------------------------------------------------------------- the suite

def machine(device: torch.device, dtype: torch.dtype) -> dict:
    import transformers

    info = {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "device": device.type, "dtype": str(dtype).removeprefix(
                "torch."), "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "cpu": platform.processor() or platform.machine()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def measure_cpu_7b(cfg: Settings, probe: BandwidthProbe, size: str = "7b", args=None, log=print) -> list[dict]:
    """Greedy decoding at batch 1 of a model of Llama 2 7B's shape (13B's for size="13b", or `args`) with random
    weights, on the CPU, in each of its CPU_LARGE_CONFIGURATIONS: int4 and int8 built a layer at a time (never whole
    in floating point) and decoded on the kit's kernels (fast.LaidOutDecoder), bfloat16 decoded by the plain model
    (the laid-out step would hold a second copy of its 13 GB). One configuration at a time, each with its peak
    resident memory (building and decoding) and its share of the bandwidth bound; no transformers side (its 7B
    would not fit beside the kit's)."""
    args = args or SIZES[size]
    device = torch.device("cpu")
    rows = []
    for configuration in CPU_LARGE_CONFIGURATIONS[size]:
        with PeakRSS() as peak:
            started = time.perf_counter()
            if configuration == "bfloat16":
                model = random_model(args, device, torch.bfloat16)
                decoder = Decoder(model)
            else:
                model = random_quantized_model(args, configuration, device, torch.float32).eval()
                decoder = LaidOutDecoder(model)
            built = time.perf_counter() - started
            prompt = torch.randint(3, args.vocab_size, (1, cfg.prompt_len), generator=torch.Generator().manual_seed(1))
            generate_tokens(decoder, prompt.tolist(), 1, temperature=0, eos_id=None)  # the layout, made once
            probe.samples.clear()
            # the prompt's pass costs a large model many steps' time (a quantized one's plain forward dequantizes
            # every weight): only the decoding steps after it are timed (timing.kit_decode)
            times = take_timed_turns({"decode": lambda: kit_decode(decoder, prompt[0].tolist(), CPU_7B_NEW_TOKENS)[0],
                                      "bandwidth": functools.partial(seconds, probe, device)}, max(1, cfg.repeats // 3))
        per_step = weight_bytes_per_step(model)
        r = row(size, f"decode, batch 1, {configuration}", "tokens/s",
                [CPU_7B_NEW_TOKENS / t for t in times["decode"]], None, kind="cpu_7b", configuration=configuration,
                bytes_per_step=per_step, peak_bytes=peak.peak, build_seconds=built)
        r["bandwidth_bytes_per_s"] = statistics.median(probe.samples)
        r["bound"] = r["bandwidth_bytes_per_s"] / per_step
        r["share"] = r["kit"] / r["bound"]
        log(format_row(r))
        rows.append(r)
        del model, decoder
        gc.collect()
        release_free_memory()
    return rows


def run_suite(cfg: Settings, device: torch.device, dtype: torch.dtype, log=print) -> dict:
    results = {"machine": machine(device, dtype), "settings": cfg.__dict__, "rows": []}
    probe = BandwidthProbe(device, dtype, cfg.bandwidth_mib)
    results["bandwidth_bytes_per_s"] = probe.measure()
    log(f"memory bandwidth (matrix-vector product, {cfg.bandwidth_mib} MiB): "
        f"{results['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s")
    for size in cfg.sizes:
        if "llamacpp" in cfg.measure and device.type != "cpu":
            log(f"{size}: no llama.cpp rows: they are measured on the CPU (--device cpu)")
        if size in CPU_LARGE_CONFIGURATIONS and device.type != "cuda":  # on a CPU: one configuration at a time
            if set(cfg.measure) - {"llamacpp"}:
                results["rows"].extend(measure_cpu_7b(cfg, probe, size, log=log))
            if "llamacpp" in cfg.measure:  # random weights drawn a layer at a time, on both sides
                results["rows"].extend(measure_llamacpp(size, cfg, args=SIZES[size], log=log))
            continue
        if size == "13b":
            log("13b: measured on the CPU alone (int4 at batch 1); on a GPU the bench's large shape is 7b")
            continue
        model, origin = kit_model(size, device, dtype)
        twin = transformers_twin(model)
        per_step = weight_bytes_per_step(model)
        log(f"{size}: {model.num_parameters() / 1e6:.1f}M parameters ({origin}), "
            f"{per_step / 2**20:.1f} MiB of weights read per decoding step")
        rows = []
        compiled_decoder = CompiledDecoder(model)  # one for every batch size: its compiled step serves them all
        for batch in cfg.batches if "decode" in cfg.measure else ():
            eager = LaidOutDecoder(model) if device.type == "cpu" else Decoder(model)
            result, eager_tokens = measure_decode(size, eager, twin, batch, cfg, per_step, probe)
            rows.append(result)
            if cfg.compile:  # the compiled step: static cache, torch.compile (and on a GPU, CUDA graphs)
                compiled, compiled_tokens = measure_decode(size, compiled_decoder, twin, batch, cfg, per_step,
                                                           probe, compile=True)
                compiled["same_tokens_as_eager"] = compiled_tokens == eager_tokens
                rows.append(compiled)
        if "prefill" in cfg.measure:
            rows.extend(measure_prefill(size, model, twin, cfg))
        if "train" in cfg.measure and size in ("tiny", "toy"):  # the training step at the tiny model's size
            rows.extend(measure_training(size, model, twin, cfg))
        if "lora" in cfg.measure and size != "7b":  # 7B's QLoRA step: scripts/gpu_check.sh
            if importlib.util.find_spec("peft") is None:
                log(f"{size}: no LoRA rows: peft is not installed (pip install peft, or make dev)")
            else:
                rows.extend(measure_lora(size, model, cfg))
        if "load" in cfg.measure and size != "7b":
            rows.extend(measure_loading(size, model, cfg))
        if "llamacpp" in cfg.measure and device.type == "cpu":  # its rows are logged as each is measured
            results["rows"].extend(measure_llamacpp(size, cfg, model=model, log=log))
        if "quantized" in cfg.measure:
            float_decoder = compiled_decoder if cfg.compile else (
                LaidOutDecoder(model) if device.type == "cpu" else Decoder(model))
            rows.extend(measure_quantized(size, model, float_decoder, cfg, probe, log))
        for r in rows:
            log(format_row(r))
        results["rows"].extend(rows)
        del model, twin
        gc.collect()
        if device.type == "cuda":  # start the next size with the GPU's memory and the compiled graphs free
            torch.compiler.reset()
            torch.cuda.empty_cache()
    return results

