"""The benchmark suite (run small: every row there, every number sane; never a timing assertion) and the fast
paths it measures: the static cache and the compiled decode step must give exactly what the eager path gives."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch

from support import REPO

from llama_lab.bench import TOY, PeakRSS, random_model, weight_bytes_per_step
from llama_lab.bench import main as bench_main
from llama_lab.model import build_model, init_weights
from llama_lab.quantize import quantize_model

pytest.importorskip("transformers")

PROMPTS = [[1, 5, 9], [1, 7, 3, 8, 20, 11, 4], [1, 40]]  # different lengths: rows read and write in one step


# ------------------------------------------------------------------------------------------- the suite

@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "results.json"
    done = subprocess.run([sys.executable, "-m", "llama_lab.bench", "--quick", "--compile", "--threads", "1",
                           "--json", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=900,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text()), done.stderr


def test_compiling_prints_no_autotuning_tables(quick_run):
    """The frozen CPU step autotunes its matrix kernels; the choice is made without Inductor's timing tables."""
    _, results, stderr = quick_run
    assert any("compiled" in r["metric"] for r in results["rows"])
    assert "autotune" not in stderr.lower(), stderr[:2000]


def positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_quick_bench_has_every_row(quick_run):
    stdout, results, _ = quick_run
    metrics = [r["metric"] for r in results["rows"]]
    assert metrics == [
        "decode, batch 1", "decode, batch 1, compiled", "decode, batch 2", "decode, batch 2, compiled",
        "prefill, 64 tokens", "forward, 64 tokens, every position's logits",
        "training step, 2x32 tokens", "training step, 2x32 tokens, compiled",
        "LoRA training step, 2x32 tokens", "LoRA training step, 2x32 tokens, peak memory added",
        "QLoRA (NF4) training step, 2x32 tokens", "QLoRA (NF4) training step, 2x32 tokens, peak memory added",
        "load, Meta .pth", "load peak RSS / size on disk, Meta .pth",
        "load, safetensors (HF layout)", "load peak RSS / size on disk, safetensors (HF layout)",
        "load, safetensors (kit layout)", "load peak RSS / size on disk, safetensors (kit layout)",
        "load, kit quantized int4-g64", "load peak RSS / size on disk, kit quantized int4-g64",
        "load, kit quantized int8", "load peak RSS / size on disk, kit quantized int8",
        "decode, batch 1, int8, compiled", "decode, batch 2, int8, compiled",
        "decode, batch 1, int4-g64, compiled", "decode, batch 2, int4-g64, compiled",
        "decode, batch 1, bfloat16, compiled", "decode, batch 2, bfloat16, compiled"]
    for metric in metrics:  # the tables on screen carry every row too
        assert f"| toy | {metric} (" in stdout
    assert "| quantized | float | quantized vs float |" in stdout
    assert positive(results["bandwidth_bytes_per_s"])
    assert results["machine"]["torch_threads"] == 1 and results["machine"]["dtype"] == "float32"


def test_quick_bench_numbers_are_sane(quick_run):
    _, results, _ = quick_run
    for r in results["rows"]:
        assert positive(r["kit"]), r
        assert all(positive(x) for x in r["samples"]["kit"]), r
        compared = (r["metric"].startswith(("decode", "prefill", "forward", "training", "LoRA"))
                    or "HF layout" in r["metric"])
        if compared:  # the kit against transformers: both measured, and the ratio is theirs
            assert positive(r["transformers"]) and positive(r["ratio"]), r
            expected = (r["kit"] / r["transformers"] if r["unit"] == "tokens/s"
                        else r["transformers"] / r["kit"])
            assert r["ratio"] == pytest.approx(expected)
            low, high = r["ratio_range"]  # the runs made side by side, one ratio each
            assert positive(low) and low <= high and len(r["samples"]["transformers"]) == len(r["samples"]["kit"])
        else:  # transformers cannot read Meta's .pth, the kit's own layout is the kit's, QLoRA's NF4 is the kit's
            assert r["transformers"] is None and r["ratio"] is None
        if r.get("kind") == "quantized":  # against the float model: the "transformers" side is the float model
            float32_bytes = weight_bytes_per_step(random_model(TOY, torch.device("cpu"), torch.float32))
            assert 0 <= r["tokens_alike"] <= r["new_tokens"]
            if r["scheme"] == "bfloat16":  # every weight a step reads in 2 bytes instead of 4
                assert r["bytes_per_step"] == float32_bytes / 2 and not r["in_turns"]
            else:
                assert r["bytes_per_step"] < float32_bytes / 2 and r["in_turns"]
        if r["metric"].startswith("decode"):
            assert positive(r["bound"]) and r["share"] == pytest.approx(r["kit"] / r["bound"])
        if r["metric"].startswith("decode") and r.get("kind") != "quantized":
            assert r["same_tokens"]  # the same weights, greedy: the same continuation as transformers
            assert r.get("same_tokens_as_eager", True)  # and the compiled step, that of the eager one
        if r["metric"].startswith("load peak RSS"):
            assert r["disk_bytes"] > 0


# ------------------------------------------------------------------------------------------- LoRA rows

@pytest.fixture(scope="module")
def tiny():
    from llama_lab.bench import kit_model

    return kit_model("tiny", torch.device("cpu"), torch.float32)[0]


def test_the_lora_rows_are_measured_on_the_tiny_model(tiny):
    from llama_lab.bench import Settings, measure_lora

    rows = measure_lora("tiny", tiny, Settings(repeats=1, train_batch=2, train_seq=32))
    assert [r["metric"] for r in rows] == [
        "LoRA training step, 2x32 tokens", "LoRA training step, 2x32 tokens, peak memory added",
        "QLoRA (NF4) training step, 2x32 tokens", "QLoRA (NF4) training step, 2x32 tokens, peak memory added"]
    speed, memory, qlora_speed, qlora_memory = rows
    assert positive(speed["kit"]) and positive(speed["transformers"]) and positive(qlora_speed["kit"])
    assert speed["ratio"] == pytest.approx(speed["kit"] / speed["transformers"])
    assert memory["unit"] == qlora_memory["unit"] == "MiB" and memory["kit"] >= 0 and memory["transformers"] >= 0
    assert qlora_speed["transformers"] is None and qlora_memory["transformers"] is None  # peft's QLoRA needs CUDA


def test_the_kits_lora_step_and_peft_s_compute_the_same_loss_and_gradients(tiny):
    """The rows compare like with like: the kit's LoRA model and peft's, as the bench builds them, give the same
    loss and the same gradient for every A and B, before a step (B at zero) and after one (B trained)."""
    pytest.importorskip("peft")
    from llama_lab.bench.models import lora_models
    from llama_lab.bench.suite import hf_loss_sums
    from llama_lab.checkpoint.adapter import _peft_key, _rotary
    from llama_lab.checkpoint.hf import _rotary_permute
    from llama_lab.fast.loss import loss_sums
    from llama_lab.lora import lora_layers

    kit, twin = lora_models(tiny)
    theirs = dict(twin.named_parameters())
    assert sum(p.requires_grad for p in theirs.values()) == 2 * 7 * tiny.args.n_layers
    batch = torch.randint(0, tiny.args.vocab_size, (2, 65), generator=torch.Generator().manual_seed(1))
    # plain SGD between the two steps: AdamW's first step moves each weight by about lr whatever its gradient's size,
    # so a gradient within rounding of zero on both sides could move the two the opposite ways
    optimizers = [torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=1.0) for m in (kit, twin)]
    for step in range(2):
        losses = []
        for model, loss_of in ((kit, loss_sums), (twin, hf_loss_sums)):
            total, count = loss_of(model, batch[:, :-1], batch[:, 1:])
            (total / count).backward()
            losses.append(float(total.detach() / count))
        assert losses[0] == pytest.approx(losses[1], rel=1e-5)
        for name, layer in lora_layers(kit).items():
            for matrix, ours in (("A", layer.lora_A.grad), ("B", layer.lora_B.grad)):
                if matrix == "B":  # the rows of wq's and wk's B in transformers' rotary layout
                    ours = _rotary(name.rpartition(".")[2], kit, ours, _rotary_permute)
                key = _peft_key(name, matrix).removesuffix("weight") + "default.weight"
                torch.testing.assert_close(ours, theirs[key].grad, rtol=1e-4, atol=2e-5 * ours.abs().max().item(),
                                           msg=f"step {step}, {name} {matrix}")
        # A learns only once B is no longer zero
        assert any(layer.lora_A.grad.any() for layer in lora_layers(kit).values()) == (step == 1)
        for optimizer in optimizers:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)


def test_a_row_by_hand():
    from llama_lab.bench import format_row, row

    faster = row("toy", "decode", "tokens/s", [2, 4, 6], [1, 2, 2])  # paired ratios 2, 2, 3
    assert faster["ratio"] == 2 and faster["ratio_range"] == (2, 3)
    slower = row("toy", "load", "s", [2, 1, 4], [1, 2, 2], higher_is_better=False)  # HF/kit: 0.5, 2, 0.5
    assert slower["ratio"] == 1 and slower["ratio_range"] == (0.5, 2)
    assert "| 1.00x | 0.50x-2.00x |" in format_row(slower)
    alone = row("toy", "load", "s", [2, 1, 4], [], higher_is_better=False)
    assert alone["ratio"] is None and alone["ratio_range"] is None and "| - | - |" in format_row(alone)


def test_weight_bytes_per_step_by_hand():
    model = random_model(TOY, torch.device("cpu"), torch.float32)
    d, v, hidden, layers = 64, 512, TOY.hidden_dim, 2
    per_layer = d * d * 2 + d * 32 * 2 + 3 * d * hidden + 2 * d  # wq wo, wk wv (2 KV heads of 16), SwiGLU, norms
    assert weight_bytes_per_step(model) == 4 * (layers * per_layer + d + v * d)  # no embedding table


@pytest.mark.parametrize("scheme", [None, "int8", "int4-g64"])
def test_weight_bytes_per_step_is_what_the_model_holds_but_the_embedding_table(scheme):
    model = random_model(TOY, torch.device("cpu"), torch.float32)
    if scheme:
        model = quantize_model(model, scheme)
    held = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert weight_bytes_per_step(model) == held - TOY.vocab_size * TOY.dim * 4


def test_weight_bytes_per_step_refuses_a_model_quantized_in_part():
    model = quantize_model(random_model(TOY, torch.device("cpu"), torch.float32), "int8", skip=("output",))
    with pytest.raises(ValueError, match="beside its int8 ones"):
        weight_bytes_per_step(model)


def test_random_model_has_the_weights_init_weights_gives():
    expected = init_weights(build_model(TOY), seed=5).state_dict()
    model = random_model(TOY, torch.device("cpu"), torch.bfloat16, seed=5)
    assert all(torch.equal(model.state_dict()[k], v.to(torch.bfloat16)) for k, v in expected.items())
    assert model.rope_cos.dtype == torch.float32 and not model.training


def test_a_random_quantized_model_is_built_as_quantizing_its_drawn_weights_would_make_it():
    """Layer by layer, each weight drawn and quantized at once: each layer is what QuantizedLinear.from_linear makes
    of the same draw, in the model's order of layers."""
    from llama_lab.bench.models import random_quantized_model
    from llama_lab.quantize import QuantizedLinear

    built = random_quantized_model(TOY, "int4-g32", torch.device("cpu"), torch.float32, seed=3)
    layers = [(name, m) for name, m in built.named_modules() if isinstance(m, QuantizedLinear)]
    assert len(layers) == 7 * TOY.n_layers + 1 and not any(isinstance(m, torch.nn.Linear) for m in built.modules())
    generator = torch.Generator().manual_seed(3)
    for name, layer in layers:
        linear = torch.nn.Linear(layer.in_features, layer.out_features, bias=False)
        with torch.no_grad():
            linear.weight.normal_(0, 0.02, generator=generator)
        expected = QuantizedLinear.from_linear(linear, "int4-g32")
        for buffer in ("qweight", "scale", "zero"):
            assert torch.equal(getattr(layer, buffer), getattr(expected, buffer)), (name, buffer)


def test_the_cpu_7b_rows_measure_each_configuration_alone():
    """measure_cpu_7b on the toy shape: one row per configuration, each with its bound from its own bytes."""
    from llama_lab.bench.measures import BandwidthProbe
    from llama_lab.bench.report import format_row
    from llama_lab.bench.suite import CPU_7B_CONFIGURATIONS, QUICK, measure_cpu_7b

    rows = measure_cpu_7b(QUICK, BandwidthProbe(torch.device("cpu"), torch.float32, 8), args=TOY, log=lambda _: 0)
    assert [r["configuration"] for r in rows] == list(CPU_7B_CONFIGURATIONS)
    by = {r["configuration"]: r for r in rows}
    assert by["int4-g64"]["bytes_per_step"] < by["int8"]["bytes_per_step"] < by["bfloat16"]["bytes_per_step"]
    for r in rows:
        assert r["kit"] > 0 and r["bound"] == pytest.approx(r["bandwidth_bytes_per_s"] / r["bytes_per_step"])
        assert r["peak_bytes"] > r["bytes_per_step"] and format_row(r).count("|") == 9


def test_peak_rss_sees_an_allocation():
    with PeakRSS() as memory:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, written so that every page is resident
        del block
    assert memory.added >= 48 * 2**20


@pytest.mark.parametrize("flags, said", [
    (["--sizes", "nope"], "error: unknown sizes ['nope']: choose from tiny, 50m, 7b, 13b, toy"),
    (["--batches", "1,x"], "error: --batches '1,x': give whole numbers separated by commas, such as 1,8"),
    (["--batches", "0"], "error: --batches '0': each batch size must be at least 1"),
    (["--repeats", "x"], "error: argument --repeats: invalid int value: 'x'"),
])
def test_a_mistaken_flag_is_answered_in_one_line(flags, said, capsys):
    with pytest.raises(SystemExit) as stop:
        bench_main(flags)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err == f"{said} (see python -m llama_lab.bench --help)\n"  # one line: no usage text, no traceback
