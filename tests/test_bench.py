"""The benchmark suite (run small: every row there, every number sane; never a timing assertion) and the fast
paths it measures: the static cache and the compiled decode step must give exactly what the eager path gives."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch

from support import REPO, small_model
from llama_lab import generate_tokens, load_model, save_model
from llama_lab.bench import TOY, PeakRSS, random_model, weight_bytes_per_step
from llama_lab.hooks import capture_residual_stream, edit_residual_stream

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
        "load, Meta .pth", "load peak RSS / size on disk, Meta .pth",
        "load, safetensors (HF layout)", "load peak RSS / size on disk, safetensors (HF layout)",
        "load, safetensors (kit layout)", "load peak RSS / size on disk, safetensors (kit layout)"]
    for metric in metrics:  # the table on screen carries every row too
        assert f"| toy | {metric} (" in stdout
    assert positive(results["bandwidth_bytes_per_s"])
    assert results["machine"]["torch_threads"] == 1 and results["machine"]["dtype"] == "float32"


def test_quick_bench_numbers_are_sane(quick_run):
    _, results, _ = quick_run
    for r in results["rows"]:
        assert positive(r["kit"]), r
        assert all(positive(x) for x in r["samples"]["kit"]), r
        compared = r["metric"].startswith(("decode", "prefill", "forward", "training")) or "HF layout" in r["metric"]
        if compared:  # the kit against transformers: both measured, and the ratio is theirs
            assert positive(r["transformers"]) and positive(r["ratio"]), r
            expected = (r["kit"] / r["transformers"] if r["unit"] == "tokens/s"
                        else r["transformers"] / r["kit"])
            assert r["ratio"] == pytest.approx(expected)
            low, high = r["ratio_range"]  # the runs made side by side, one ratio each
            assert positive(low) and low <= high and len(r["samples"]["transformers"]) == len(r["samples"]["kit"])
        else:  # transformers cannot read Meta's .pth, and the kit's own layout is the kit's
            assert r["transformers"] is None and r["ratio"] is None
        if r["metric"].startswith("decode"):
            assert positive(r["bound"]) and r["share"] == pytest.approx(r["kit"] / r["bound"])
            assert r["same_tokens"]  # the same weights, greedy: the same continuation as transformers
            assert r.get("same_tokens_as_eager", True)  # and the compiled step, that of the eager one
        if r["metric"].startswith("load peak RSS"):
            assert r["disk_bytes"] > 0


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


def test_peak_rss_sees_an_allocation():
    with PeakRSS() as memory:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, written so that every page is resident
        del block
    assert memory.added >= 48 * 2**20


# ------------------------------------------------------------------------- static cache, compiled step

def test_static_shape_step_equals_the_eager_step():
    """Position as a tensor: attention over the whole cache, unwritten slots masked; same logits."""
    model = small_model()
    tokens = torch.randint(0, 101, (2, 14), generator=torch.Generator().manual_seed(0))
    eager, static = model.new_cache(2, 32), model.new_cache(2, 32)
    with torch.inference_mode():
        torch.testing.assert_close(model(tokens[:, :6], cache=static), model(tokens[:, :6], cache=eager))
        for pos in range(6, 14):
            step = tokens[:, pos:pos + 1]
            expected = model(step, start_pos=pos, cache=eager)
            got = model(step, start_pos=torch.tensor([pos]), cache=static)
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(static.k[:, :, :, :14], eager.k[:, :, :, :14])


@pytest.mark.parametrize("n_kv_heads", [2, 8])
def test_compiled_generation_equals_eager(n_kv_heads):
    model = small_model(n_kv_heads=n_kv_heads)
    expected, expected_lp = generate_tokens(model, PROMPTS, 15, temperature=0, eos_id=None, return_logprobs=True)
    got, got_lp = generate_tokens(model, PROMPTS, 15, temperature=0, eos_id=None, return_logprobs=True,
                                  compile="aot_eager")
    assert got == expected
    for a, b in zip(got_lp, expected_lp):
        assert a == pytest.approx(b, abs=1e-4)
    # sampling too: the same seed draws the same tokens from the same distributions
    sampled = dict(temperature=0.9, top_p=0.95, seed=3, eos_id=None)
    assert generate_tokens(model, PROMPTS, 12, compile="aot_eager", **sampled) == \
        generate_tokens(model, PROMPTS, 12, **sampled)


def test_compiled_generation_reuses_its_cache_cleanly():
    """A second call of the same shape reuses the static cache; what the first left there must not leak in."""
    model = small_model()
    first = [[1, 60, 61, 62], [1, 70], [1, 80, 81]]
    generate_tokens(model, first, 10, temperature=0, eos_id=None, compile="aot_eager")
    second = generate_tokens(model, PROMPTS, 10, temperature=0, eos_id=None, compile="aot_eager")
    assert second == generate_tokens(model, PROMPTS, 10, temperature=0, eos_id=None)
    stopped = generate_tokens(model, PROMPTS, 10, temperature=0, eos_id=second[0][3], compile="aot_eager")
    assert stopped[0] == second[0][:3]  # stopping works on the compiled path as on the eager one


def test_one_compiled_graph_serves_different_lengths():
    """Prompts and lengths change from call to call; the compiled step's shapes do not (no recompilation)."""
    from torch._dynamo.utils import counters

    model = small_model(n_layers=2)
    generate_tokens(model, [[1, 5, 9]], 10, temperature=0, eos_id=None, compile="aot_eager")
    graphs = counters["stats"]["unique_graphs"]
    generate_tokens(model, [[1, 5, 9, 4, 5, 6]], 21, temperature=0, eos_id=None, compile="aot_eager")
    assert counters["stats"]["unique_graphs"] == graphs


def test_compile_argument_is_checked():
    with pytest.raises(ValueError, match="compile"):
        generate_tokens(small_model(), [[1, 2]], 3, compile=3)


def test_inductor_compiled_generation_equals_eager_and_follows_the_weights():
    """The real compiler. On a CPU it freezes the weights into the step, so after an in-place change, or for
    another model, the step must be compiled again rather than decode with the numbers it froze."""
    def both(model):
        expected = generate_tokens(model, PROMPTS, 6, temperature=0, eos_id=None)
        return generate_tokens(model, PROMPTS, 6, temperature=0, eos_id=None, compile=True), expected

    def numbers_held_by_generated_code():  # a frozen graph's module holds its packed weights as globals
        from torch._inductor.runtime.cache_dir_utils import cache_dir

        generated = [module for module in list(sys.modules.values())
                     if str(getattr(module, "__file__", None)).startswith(cache_dir())]
        return sum(value.numel() for module in generated for value in vars(module).values()
                   if isinstance(value, torch.Tensor))

    model = small_model(n_layers=1).store_weights_for_decoding()
    got, expected = both(model)
    assert got == expected
    held = numbers_held_by_generated_code()
    with torch.no_grad():  # what a training step or a steering experiment does: the same tensors, new numbers
        model.output.weight.mul_(-1)
        model.layers[0].attention.wq.weight.mul_(3)
    got, changed = both(model)
    assert changed != expected  # the change matters to greedy decoding...
    assert got == changed  # ...and the compiled step sees it
    model.layers[0].ffn_norm.eps = 4.0  # a setting, not a weight: the frozen step has no guard of Dynamo's on it
    got, settled = both(model)
    assert settled != changed and got == settled
    model.layers[0].ffn_norm.eps = 1e-5
    with edit_residual_stream(model, lambda i, h: 0.5 * h + 0.3):  # a hook added after the step was compiled
        got, steered = both(model)
    assert steered != changed and got == steered
    other = small_model(n_layers=1, seed=5).store_weights_for_decoding()
    got, expected = both(other)
    assert got == expected
    # five compilations, and one copy of the weights kept
    assert numbers_held_by_generated_code() == held > 0


@pytest.mark.parametrize("compile", ["aot_eager", True])
def test_compiled_steps_follow_forward_hooks(compile):
    """Hooks added or removed after a step was compiled (activation steering, capturing the residual stream) act
    on the compiled steps as on the eager ones; a second model of the same shape does not inherit them."""
    model, twin = small_model(), small_model()

    def both(which=model):
        expected = generate_tokens(which, PROMPTS, 8, temperature=0, eos_id=None)
        return generate_tokens(which, PROMPTS, 8, temperature=0, eos_id=None, compile=compile), expected

    got, plain = both()
    assert got == plain
    with edit_residual_stream(model, lambda i, h: h - 0.7 * h.mean(-1, keepdim=True), layers=[2]):
        got, steered = both()
        assert steered != plain and got == steered
        got, expected = both(twin)  # the same shapes, no hooks
        assert got == expected == plain
        with capture_residual_stream(model) as stream:
            got, steered_again = both()
        assert got == steered_again == steered
        assert sorted(stream) == [0, 1, 2, 3] and stream[3].shape == (3, 1, 64)  # filled by the last, compiled step
    got, _ = both()
    assert got == plain


@pytest.mark.parametrize("compile", ["aot_eager", True])
def test_a_learners_hook_runs_at_every_compiled_step(compile):
    """A hook is arbitrary Python: one that appends to a list made Dynamo compile again at every step (its guard on
    the list's length failed) until it hit its recompile limit and raised. With hooks the steps run eagerly."""
    model = small_model()
    seen = {False: [], compile: []}
    tokens = {}
    for how in seen:
        handle = model.norm.register_forward_hook(lambda module, inputs, output: seen[how].append(output[:, -1]))
        try:
            tokens[how] = generate_tokens(model, PROMPTS, 12, temperature=0, eos_id=None, compile=how)
        finally:
            handle.remove()
    assert tokens[compile] == tokens[False]
    assert len(seen[compile]) == len(seen[False]) > 12  # the prompt's pass, then one per step
    torch.testing.assert_close(torch.stack(seen[compile]), torch.stack(seen[False]))


def test_the_gpu_settings_are_valid_inductor_settings():
    """The GPU's step (CUDA graphs, rounding as eager does) compiles here too, where CUDA graphs do not apply:
    a misspelt setting would otherwise show only on a GPU."""
    from llama_lab.generate import GPU_COMPILE_OPTIONS, compiled_decode_step

    model = small_model(n_layers=1)
    step = compiled_decode_step("inductor", GPU_COMPILE_OPTIONS)
    tokens = torch.tensor([[1, 5, 9], [1, 7, 3]])
    eager, static = model.new_cache(2, 16), model.new_cache(2, 16)
    with torch.inference_mode():
        model(tokens[:, :2], cache=eager)
        model(tokens[:, :2], cache=static)
        expected = model(tokens[:, 2:], start_pos=2, cache=eager)[:, -1]
        got = step(model, tokens[:, 2:].clone(), torch.tensor([2]), static)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_no_compiled_step_runs_while_the_model_has_hooks():
    """The compiled step is not used at all while hooks are on the model, on any device: no CUDA graph can replay
    over what a hook kept from the step before, and no hook is traced into a graph. Without hooks it is back."""
    from llama_lab.generate import _compiled_step_for

    model = small_model(n_layers=2)
    devices = [torch.device("cpu"), torch.device("cuda")]  # (torch.compile is lazy: nothing is compiled here)
    assert all(_compiled_step_for("aot_eager", model, d) is not None for d in devices)
    with capture_residual_stream(model):
        assert all(_compiled_step_for(how, model, d) is None for how in (True, "aot_eager") for d in devices)
    with edit_residual_stream(model, lambda i, h: h, layers=[1]):
        assert _compiled_step_for(True, model, devices[1]) is None
    assert _compiled_step_for(True, model, devices[1]) is not None
def test_frozen_step_is_kept_while_the_weights_stand():
    from llama_lab.generate import compiled_decode_step, frozen_decode_step, weights_state

    model = small_model(n_layers=1)
    state, step = weights_state(model), frozen_decode_step(model)
    assert frozen_decode_step(model) is step  # (torch.compile is lazy: nothing is compiled here)
    with torch.no_grad():
        model.norm.weight.add_(1)
    assert weights_state(model) != state
    assert frozen_decode_step(model) is not step
    with torch.inference_mode():
        made_in_inference = small_model(n_layers=1)
    assert weights_state(made_in_inference) is None  # no count of in-place changes: the unfrozen step
    assert frozen_decode_step(made_in_inference) is compiled_decode_step("inductor")


# ------------------------------------------------------------------------------------ the decoding layout

def _joined(model, name):
    """(joined matrix, its parts) of one layer: ("wqkv", wq wk wv) or ("w13", w1 w3)."""
    layer = model.layers[1]
    if name == "wqkv":
        return layer.attention.wqkv, [layer.attention.wq, layer.attention.wk, layer.attention.wv]
    return layer.feed_forward.w13, [layer.feed_forward.w1, layer.feed_forward.w3]


def check_decoding_layout(model):
    """wq/wk/wv and w1/w3 are row blocks of one matrix stored by columns; the output head is stored by columns."""
    assert model.decoding_layout
    for name in ("wqkv", "w13"):
        joined, parts = _joined(model, name)
        assert joined.stride() == (1, joined.shape[0]), name  # by columns
        start = 0
        for linear in parts:
            assert linear.weight.data_ptr() == joined[start:].data_ptr(), name  # a view: no second copy
            torch.testing.assert_close(linear.weight, joined[start:start + linear.out_features], atol=0, rtol=0)
            start += linear.out_features
        assert start == joined.shape[0]
    assert model.output.weight.stride() == (1, model.output.weight.shape[0])
    assert model.layers[0].attention.wo.weight.is_contiguous() and model.layers[0].feed_forward.w2.weight.is_contiguous()


def test_decoding_layout_is_invisible(tmp_path):
    """Joined projections and weights stored by columns: shapes, state dict and checkpoints are unchanged, the
    logits are the same, and loading lays out a checkpoint that way without changing its files."""
    model = small_model()  # dim 64, 8 query heads on 2 KV heads, SwiGLU hidden 176, vocabulary 101
    tokens = torch.randint(0, 101, (2, 9), generator=torch.Generator().manual_seed(0))
    assert model.output.weight.is_contiguous() and model.layers[0].attention.wqkv is None  # training layout
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        logits = model(tokens)
    assert model.store_weights_for_decoding() is model
    check_decoding_layout(model)
    assert list(model.state_dict()) == list(state)  # Meta's names, nothing added
    for name, p in model.state_dict().items():
        torch.testing.assert_close(p, state[name], atol=0, rtol=0)
    assert _joined(model, "wqkv")[0].shape == (64 + 2 * 16, 64) and _joined(model, "w13")[0].shape == (2 * 176, 64)
    with torch.no_grad():  # the joined products
        torch.testing.assert_close(model(tokens), logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(model(tokens), logits, atol=1e-5, rtol=0)  # with autograd: the separate Linears
    for fmt in ("meta", "hf", "kit"):
        path = save_model(model, tmp_path / fmt, format=fmt)
        before = {f.name: f.read_bytes() for f in path.iterdir()}
        loaded = load_model(path)
        check_decoding_layout(loaded)
        for name, p in model.state_dict().items():
            torch.testing.assert_close(loaded.state_dict()[name], p, atol=0, rtol=0)
        with torch.no_grad():
            torch.testing.assert_close(loaded(tokens), logits, atol=1e-5, rtol=0)
        assert {f.name: f.read_bytes() for f in path.iterdir()} == before  # the files are only read


def test_a_loaded_model_still_trains():
    """Under autograd the separate Linears run, so every weight gets its gradient; the optimizer's in-place
    updates land in the joined matrices too, so decoding afterwards uses the trained weights."""
    model = small_model().store_weights_for_decoding().train()
    reference = small_model().train()  # the same weights, training layout
    tokens = torch.randint(0, 101, (2, 12), generator=torch.Generator().manual_seed(1))
    for m in (model, reference):
        optimizer = torch.optim.SGD(m.parameters(), lr=0.5)
        torch.nn.functional.cross_entropy(m(tokens[:, :-1]).flatten(0, 1), tokens[:, 1:].flatten()).backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters() if p.dim() == 2)
        optimizer.step()
    check_decoding_layout(model)
    for name, p in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], p, atol=1e-6, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(model(tokens), reference(tokens), atol=1e-4, rtol=1e-4)


def test_decoding_layout_survives_conversion_copies_and_reloads():
    import copy

    model = small_model().store_weights_for_decoding()
    tokens = torch.randint(0, 101, (1, 10), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits = model(tokens)
        half = copy.deepcopy(model).to(torch.bfloat16)  # .to() converts each weight: they are joined again
        check_decoding_layout(half)
        assert half.layers[1].attention.wqkv.dtype == torch.bfloat16
        twin = copy.deepcopy(model)  # a deep copy keeps the views views
        check_decoding_layout(twin)
        torch.testing.assert_close(twin(tokens), logits, atol=0, rtol=0)
        fresh = small_model(seed=5)
        twin.load_state_dict(fresh.state_dict(), assign=True)  # new tensors: joined again
        check_decoding_layout(twin)
        twin.load_state_dict(small_model(seed=6).state_dict())  # copied into the views in place
        check_decoding_layout(twin)
        torch.testing.assert_close(twin(tokens), small_model(seed=6)(tokens), atol=1e-5, rtol=0)
        assert (half(tokens).argmax(-1) == logits.argmax(-1)).float().mean() > 0.8
