"""The speed layer (llama_lab.fast): every decoder must give exactly the tokens the plain model gives, follow the
model's weights when they change, and step aside for a learner's hooks."""

import copy
import sys

import pytest
import torch
import torch.nn.functional as F

from support import small_model
from llama_lab import generate_tokens, load_model, save_model
from llama_lab.fast import CompiledDecoder, LaidOutDecoder
from llama_lab.fast.compiled import GPU_COMPILE_OPTIONS, StaticKVCache, decode_one_token, forget_compiled_graphs
from llama_lab.fast.decoder import weights_state
from llama_lab.fast.kernels import int8_kernel_problem
from llama_lab.fast.layout import DecodingLayout, by_columns, linear
from llama_lab.quantize import quantize_model

PROMPTS = [[1, 5, 9], [1, 7, 3, 8, 20, 11, 4], [1, 40]]  # different lengths: rows read and write in one step
QUICK = ["aot_eager", "laid out"]  # the decoders that cost no Inductor compilation


def decoder_for(how, model):
    return LaidOutDecoder(model) if how == "laid out" else CompiledDecoder(model, backend=how)


def greedy(model, n=8, prompts=PROMPTS, **options):
    return generate_tokens(model, prompts, n, temperature=0, eos_id=None, **options)


def steer(model, layer=1):
    """A learner's own hook: shift the residual stream leaving one block."""
    return model.layers[layer].register_forward_hook(
        lambda module, inputs, output: (output[0] - 0.7 * output[0].mean(-1, keepdim=True), output[1]))


# ------------------------------------------------------------------------------------ the decoding layout

def test_by_columns_stacks_and_stores_column_by_column():
    a, b = torch.arange(6.).view(2, 3), torch.arange(6., 9.).view(1, 3)
    joined = by_columns(a, b)
    assert joined.shape == (3, 3) and joined.stride() == (1, 3)
    torch.testing.assert_close(joined, torch.cat([a, b]), atol=0, rtol=0)


@pytest.mark.parametrize("threads", [2, 3, 4])
@pytest.mark.parametrize("columns", [False, True])
def test_linear_on_every_core_equals_f_linear(threads, columns):
    """`linear` cuts a large weight into one slice of outputs per core (torch.bmm); the products are F.linear's."""
    g = torch.Generator().manual_seed(7)
    weight = torch.randn(1536, 512, generator=g)  # 3 MB: large enough to be cut
    if columns:
        weight = by_columns(weight)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            for shape in [(1, 1, 512), (8, 1, 512), (3, 512), (1, 16, 512)]:
                x = torch.randn(*shape, generator=g)
                torch.testing.assert_close(linear(x, weight), F.linear(x, weight), atol=1e-4, rtol=1e-5)
            small = torch.randn(48, 64, generator=g)  # small weights, many rows: F.linear itself
            x = torch.randn(2, 64, generator=g)
            torch.testing.assert_close(linear(x, small), F.linear(x, small), atol=0, rtol=0)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("n_kv_heads", [2, 8])
def test_laid_out_step_equals_the_models_step(n_kv_heads):
    model = small_model(n_kv_heads=n_kv_heads, vocab_size=4096)  # a (4096, 64) head: cut across cores
    decoder = LaidOutDecoder(model)
    tokens = torch.randint(0, 4096, (2, 12), generator=torch.Generator().manual_seed(0))
    plain, laid_out = model.new_cache(2, 16), decoder.start(2, 16)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            model(tokens[:, :5], cache=plain)
            model(tokens[:, :5], cache=laid_out)
            for pos in range(5, 12):
                expected = model(tokens[:, pos:pos + 1], start_pos=pos, cache=plain)[:, -1]
                got = decoder.logits(tokens[:, pos:pos + 1], pos, laid_out)
                torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    finally:
        torch.set_num_threads(before)


def test_the_model_keeps_its_own_plain_weights(tmp_path):
    """The layout is the decoder's copy: the model's weights stay row-major nn.Linear weights, its state dict and
    files are unchanged, and a loaded model hands out plain tensors (a view of a weight works)."""
    model = small_model()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    greedy(LaidOutDecoder(model))
    for name, p in model.state_dict().items():
        assert p.is_contiguous(), name
        torch.testing.assert_close(p, state[name], atol=0, rtol=0)
    loaded = load_model(save_model(model, tmp_path / "kit"))
    assert all(p.is_contiguous() for p in loaded.parameters())
    assert loaded.layers[0].attention.wq.weight.view(-1).shape == (64 * 64,)
    assert greedy(LaidOutDecoder(loaded)) == greedy(model)


def test_laid_out_decoder_follows_the_weights():
    """Training, load_state_dict, .to() and a deep copy all change what the layout was made from."""
    model = small_model()
    decoder = LaidOutDecoder(model)
    assert greedy(decoder) == greedy(model)
    with torch.no_grad():  # what an optimizer step does: the same tensors, new numbers
        model.output.weight.mul_(-1)
        model.layers[0].attention.wk.weight.mul_(3)
    changed = greedy(model)
    assert greedy(decoder) == changed
    model.load_state_dict(small_model(seed=4).state_dict())
    assert greedy(decoder) == greedy(model) == greedy(small_model(seed=4))
    model.to(torch.bfloat16)
    assert greedy(decoder) == greedy(model)
    twin = copy.deepcopy(model)
    assert greedy(LaidOutDecoder(twin)) == greedy(model)
    with torch.inference_mode():  # weights with no count of in-place changes: laid out at every call
        untracked = small_model(seed=6)
    assert weights_state(untracked) is None and greedy(LaidOutDecoder(untracked)) == greedy(untracked)


# ------------------------------------------------------------------------- static cache, compiled step

def test_static_shape_step_equals_the_eager_step():
    """Position as a tensor: attention over the whole cache, unwritten slots masked; same logits."""
    model = small_model()
    tokens = torch.randint(0, 101, (2, 14), generator=torch.Generator().manual_seed(0))
    eager, static = model.new_cache(2, 32), StaticKVCache(model.args, 2, 32)
    with torch.inference_mode():
        torch.testing.assert_close(model(tokens[:, :6], cache=static), model(tokens[:, :6], cache=eager))
        for pos in range(6, 14):
            step = tokens[:, pos:pos + 1]
            expected = model(step, start_pos=pos, cache=eager)
            got = model(step, start_pos=torch.tensor([pos]), cache=static)
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(static.k[:, :, :, :14], eager.k[:, :, :, :14])


@pytest.mark.parametrize("how", QUICK)
@pytest.mark.parametrize("n_kv_heads", [2, 8])
def test_fast_generation_equals_plain(how, n_kv_heads):
    model = small_model(n_kv_heads=n_kv_heads)
    decoder = decoder_for(how, model)
    expected, expected_lp = greedy(model, 15, return_logprobs=True)
    got, got_lp = greedy(decoder, 15, return_logprobs=True)
    assert got == expected
    for a, b in zip(got_lp, expected_lp):
        assert a == pytest.approx(b, abs=1e-4)
    # sampling too: the same seed draws the same tokens from the same distributions
    sampled = dict(temperature=0.9, top_p=0.95, seed=3, eos_id=None)
    assert generate_tokens(decoder, PROMPTS, 12, **sampled) == generate_tokens(model, PROMPTS, 12, **sampled)


@pytest.mark.parametrize("scheme", ["int8", "int4-g32", "int4-g64"])
@pytest.mark.parametrize("how", [*QUICK, "inductor"])
def test_quantized_fast_generation_equals_the_quantized_models(how, scheme):
    """The kernels change the speed, not the tokens: a quantized model's fast decoders (its int8 and int4 products
    on the kit's CPU kernels) give the tokens of its own plain forward, whose products are F.linear on the
    dequantized weights."""
    model = quantize_model(small_model(dim=128, multiple_of=64), scheme)  # every width splits into groups of 64
    kernels = {type(m).__name__ for m in DecodingLayout(model).modules()}
    assert ("Int8KernelLinear" if scheme == "int8" else "Int4KernelLinear") in kernels or int8_kernel_problem()
    expected, expected_lp = greedy(model, 12, return_logprobs=True)
    got, got_lp = greedy(decoder_for(how, model), 12, return_logprobs=True)
    assert got == expected
    for a, b in zip(got_lp, expected_lp):
        assert a == pytest.approx(b, abs=1e-4)


def held_bytes(*modules) -> int:
    """Bytes of the distinct storages that the modules' parameters and buffers live in: what they hold together."""
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes()
                for module in modules for t in [*module.parameters(), *module.buffers()]}
    return sum(storages.values())


@pytest.mark.parametrize("scheme", ["int8", "int4-g64"])
def test_a_quantized_layout_shares_the_models_weights(scheme):
    """A quantized model's joins are not a second copy: the model's layers keep views of the joined rows, so model
    and layout hold the model's own bytes; a second layout over them copies nothing, the decoder does not lay out
    again at the next call, and the model's numbers and tokens are what they were."""
    model = quantize_model(small_model(dim=128, multiple_of=64), scheme)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    own, expected = held_bytes(model), greedy(model)
    decoder = LaidOutDecoder(model)
    assert greedy(decoder) == expected
    layout = decoder._layout
    assert held_bytes(model, layout) == own
    joined = layout.wqkv[0].layer  # the kernel's module runs the joined QuantizedLinear
    attention = model.layers[0].attention
    for name in ("qweight", "scale", *(("zero",) if scheme != "int8" else ())):
        whole = getattr(joined, name)
        parts = [getattr(layer, name) for layer in (attention.wq, attention.wk, attention.wv)]
        assert all(p.untyped_storage().data_ptr() == whole.untyped_storage().data_ptr() for p in parts), name
        assert torch.equal(torch.cat(parts), whole) and all(p.is_contiguous() for p in parts)
    for name, value in model.state_dict().items():
        assert torch.equal(value, state[name]), name
    state_after = weights_state(model)
    assert greedy(decoder) == expected and decoder._layout is layout  # not laid out again
    second = LaidOutDecoder(model)
    assert greedy(second) == expected
    assert weights_state(model) == state_after and held_bytes(model, layout, second._layout) == own


@pytest.mark.parametrize("how", ["laid out", "inductor"])
def test_a_quantized_model_decoded_fast_saves_loads_follows_and_trains(tmp_path, how):
    """After fast decoding, a quantized model's layers hold views of shared tensors: it still saves and loads
    (safetensors refuses overlapping tensors; these lie side by side), a load_state_dict into it reaches the
    decoder, LoRA trains over it, and the compiled step (not frozen for a quantized model) holds no copy."""
    from llama_lab.lora import add_lora

    model = quantize_model(small_model(dim=128, multiple_of=64), "int4-g64")
    own, expected = held_bytes(model), greedy(model)
    decoder = decoder_for(how, model)
    assert greedy(decoder) == expected
    assert held_bytes(model, decoder._layout) == own
    loaded = load_model(save_model(model, tmp_path / "kit", format="kit"))
    for (name, value), (loaded_name, loaded_value) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert name == loaded_name and torch.equal(value, loaded_value), name
    assert greedy(loaded) == expected
    other = quantize_model(small_model(dim=128, multiple_of=64, seed=3), "int4-g64")
    model.load_state_dict(other.state_dict())  # written into the shared tensors, in place
    assert greedy(decoder) == greedy(other) != expected
    adapted = add_lora(copy.deepcopy(model), ("wq", "wk", "w1", "w3"), r=4)
    assert held_bytes(adapted) == held_bytes(model) + sum(p.numel() * 4 for n, p in adapted.named_parameters()
                                                          if "lora_" in n)
    adapted.train()(torch.tensor(PROMPTS[1:2])).float().logsumexp(-1).mean().backward()
    trained = [p for p in adapted.parameters() if p.requires_grad]
    assert trained and all(p.grad is not None and p.grad.abs().sum() > 0 for p in trained[1::2])  # B's grads


def test_compiled_generation_reuses_its_cache_cleanly():
    """A second call of the same shape reuses the static cache; what the first left there must not leak in."""
    model = small_model()
    decoder = CompiledDecoder(model, backend="aot_eager")
    greedy(decoder, 10, prompts=[[1, 60, 61, 62], [1, 70], [1, 80, 81]])
    second = greedy(decoder, 10)
    assert second == greedy(model, 10)
    stopped = generate_tokens(decoder, PROMPTS, 10, temperature=0, eos_id=second[0][3])
    assert stopped[0] == second[0][:3]  # stopping works on the compiled path as on the eager one


def test_one_compiled_graph_serves_different_lengths():
    """Prompts and lengths change from call to call; the compiled step's shapes do not (no recompilation). The count
    of compiled graphs is seen to move first: not at all while compiling is switched off, by one or more when the
    step compiles, so that "no new graph" cannot be a count that never moves."""
    from torch._dynamo.utils import counters

    forget_compiled_graphs()  # a graph another test compiled would otherwise serve this decoder's first call
    model = small_model(n_layers=2)
    decoder = CompiledDecoder(model, backend="aot_eager")
    before = counters["stats"]["unique_graphs"]
    with torch.compiler.set_stance("force_eager"):  # every torch.compile'd call runs eagerly
        assert greedy(decoder, 10, prompts=[[1, 5, 9]]) == greedy(model, 10, prompts=[[1, 5, 9]])
    assert counters["stats"]["unique_graphs"] == before
    greedy(decoder, 10, prompts=[[1, 5, 9]])
    graphs = counters["stats"]["unique_graphs"]
    assert graphs > before  # the step was compiled
    greedy(decoder, 21, prompts=[[1, 5, 9, 4, 5, 6]])
    assert counters["stats"]["unique_graphs"] == graphs


def test_backend_is_checked():
    with pytest.raises(ValueError, match="backend=3"):
        CompiledDecoder(small_model(), backend=3)


def test_inductor_compiled_generation_equals_eager_and_follows_the_weights():
    """The real compiler. On a CPU it freezes the weights into the step, so after an in-place change, or for
    another model, the step must be compiled again rather than decode with the numbers it froze."""
    def numbers_held_by_generated_code():  # a frozen graph's module holds its packed weights as globals
        from torch._inductor.runtime.cache_dir_utils import cache_dir

        generated = [module for module in list(sys.modules.values())
                     if str(getattr(module, "__file__", None)).startswith(cache_dir())]
        return sum(value.numel() for module in generated for value in vars(module).values()
                   if isinstance(value, torch.Tensor))

    model = small_model(n_layers=1)
    decoder = CompiledDecoder(model)
    expected = greedy(model, 6)
    assert greedy(decoder, 6) == expected
    held = numbers_held_by_generated_code()
    with torch.no_grad():  # what a training step or a steering experiment does: the same tensors, new numbers
        model.output.weight.mul_(-1)
        model.layers[0].attention.wq.weight.mul_(3)
    changed = greedy(model, 6)
    assert changed != expected  # the change matters to greedy decoding...
    assert greedy(decoder, 6) == changed  # ...and the compiled step sees it
    model.layers[0].ffn_norm.eps = 4.0  # a setting, not a weight: the frozen step has no guard of Dynamo's on it
    settled = greedy(model, 6)
    assert settled != changed and greedy(decoder, 6) == settled
    model.layers[0].ffn_norm.eps = 1e-5
    other = small_model(n_layers=1, seed=5)  # another model of the same shapes, then the first again
    assert greedy(CompiledDecoder(other), 6) == greedy(other, 6)
    assert greedy(decoder, 6) == changed
    # five compilations, and one copy of the weights kept
    assert numbers_held_by_generated_code() == held > 0


@pytest.mark.parametrize("how", [*QUICK, "inductor"])
def test_fast_decoders_step_aside_for_hooks(how):
    """Hooks added or removed after a decoder was made (activation steering, capturing the residual stream) act
    on every step as on the plain model's; a second model of the same shape does not inherit them."""
    model, twin = small_model(), small_model()
    decoder, twins_decoder = decoder_for(how, model), decoder_for(how, twin)
    plain = greedy(model)
    assert greedy(decoder) == plain
    handle = steer(model)
    try:
        steered = greedy(model)
        assert steered != plain and greedy(decoder) == steered
        assert greedy(twins_decoder) == plain  # the same shapes, no hooks
    finally:
        handle.remove()
    assert greedy(decoder) == plain


@pytest.mark.parametrize("how", [*QUICK, "inductor"])
def test_a_learners_hook_runs_at_every_step(how):
    """A hook is arbitrary Python: one that appends to a list made Dynamo compile again at every step (its guard on
    the list's length failed) until it hit its recompile limit and raised. A hook on a projection inside
    attention fires at every step too, though the laid-out step has no wq of its own."""
    model = small_model()
    seen = {"plain": [], how: []}
    tokens = {}
    for name, runner in (("plain", model), (how, decoder_for(how, model))):
        handles = [model.norm.register_forward_hook(lambda module, inputs, output: seen[name].append(output[:, -1])),
                   model.layers[0].attention.wq.register_forward_hook(lambda *_: seen[name].append(None))]
        try:
            tokens[name] = greedy(runner, 12)
        finally:
            for handle in handles:
                handle.remove()
    assert tokens[how] == tokens["plain"]
    assert len(seen[how]) == len(seen["plain"]) > 2 * 12  # the prompt's pass, then two per step
    torch.testing.assert_close(torch.stack([x for x in seen[how] if x is not None]),
                               torch.stack([x for x in seen["plain"] if x is not None]))


def test_hooks_fire_whatever_the_grad_mode():
    """The model has one path under autograd, no_grad and inference_mode: a hook on any submodule fires."""
    model = small_model()
    modules = {name: module for name, module in model.named_modules()
               if name and not isinstance(module, torch.nn.ModuleList)}  # a list of blocks is never called itself
    fired = []
    handles = [module.register_forward_hook(lambda m, i, o, name=name: fired.append(name))
               for name, module in modules.items()]
    tokens = torch.tensor([[1, 5, 9]])
    try:
        for mode in (torch.enable_grad, torch.no_grad, torch.inference_mode):
            fired.clear()
            with mode():
                model(tokens)
            assert set(fired) == set(modules), mode
    finally:
        for handle in handles:
            handle.remove()


def test_the_gpu_settings_are_valid_inductor_settings():
    """The GPU's step (CUDA graphs, rounding as eager does) compiles here too, where CUDA graphs do not apply:
    a misspelt setting would otherwise show only on a GPU."""
    model = small_model(n_layers=1)
    step = torch.compile(decode_one_token, backend="inductor", options=GPU_COMPILE_OPTIONS, fullgraph=True)
    tokens = torch.tensor([[1, 5, 9], [1, 7, 3]])
    eager, static = model.new_cache(2, 16), StaticKVCache(model.args, 2, 16)
    with torch.inference_mode():
        model(tokens[:, :2], cache=eager)
        model(tokens[:, :2], cache=static)
        expected = model(tokens[:, 2:], start_pos=2, cache=eager)[:, -1]
        got = step(model, tokens[:, 2:].clone(), torch.tensor([2]), static)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
