"""Weight-only quantization: hand-worked cases, torchao's own functions, the kit's int8 kernel against the
dequantized product, and quantized decoding against the float model."""

import copy

import pytest
import torch
import torch.nn.functional as F

from llama_lab.fast import CompiledDecoder, LaidOutDecoder
from llama_lab.fast.kernels import (INSTRUCTION_SETS, Int4KernelLinear, Int8KernelLinear, KernelUnavailable,
                                    NF4KernelLinear, TorchInt4Linear, int4_product, int8_kernel_problem, int8_product,
                                    kernel_instruction_set, nf4_product, with_kernel)
from llama_lab.generate import generate_tokens
from llama_lab.model import LLAMA2_7B, LLAMA2_13B, LLAMA2_70B, ModelArgs, build_model, init_weights
from llama_lab.nf4 import BLOCK_SIZE, NF4, NF4Linear
from llama_lab.quantize import (QuantizedLinear, Scheme, pack_int4, quantization_error, quantization_of, quantize_int4,
                                quantize_int8, quantize_model, unpack_int4, weight_bytes)
from support import REPO

SCHEMES = ["int8", "int4-g32", "int4-g64", "int4-g128"]
SMALL = ModelArgs(dim=128, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=512, multiple_of=64, max_seq_len=128)


def small_model(seed=0):
    return init_weights(build_model(SMALL), seed=seed).eval()


# ------------------------------------------------------------------------------------ hand-worked cases

def test_int8_hand_worked():
    q, scale = quantize_int8(torch.tensor([[1.0, -0.5, 0.25], [0.0, 0.0, 0.0]]))
    assert scale[0].item() == pytest.approx(1 / 127.5)
    assert q[0].tolist() == [127, -64, 32]  # 127.5 clamps to 127 (or rounds down); -63.75 -> -64; 31.875 -> 32
    assert q[1].tolist() == [0, 0, 0] and scale[1] > 0  # an all-zero row keeps a usable scale


def test_int4_hand_worked():
    # one group of 32: values from -1 to 2; lo -1, hi 2, scale 3/15 = 0.2, zero round(1 / 0.2) = 5
    w = torch.zeros(1, 32)
    w[0, 0], w[0, 1], w[0, 2] = -1.0, 2.0, 0.5
    q, scale, zero = quantize_int4(w, 32)
    assert scale.item() == pytest.approx(0.2) and zero.item() == 5
    assert q[0, :4].tolist() == [0, 15, 7, 5]  # -1 -> 0, 2 -> 15, 0.5 -> round(2.5) + 5 = 2 + 5 (half to even)
    deq = (q.float() - zero.float()) * scale
    assert deq[0, :4].tolist() == pytest.approx([-1.0, 2.0, 0.4, 0.0])  # 0 stays exactly 0


def test_int4_packing():
    assert pack_int4(torch.tensor([[1, 2, 15, 0]])).tolist() == [[0x21, 0x0F]]
    q = torch.randint(0, 16, (5, 64), dtype=torch.uint8)
    assert torch.equal(unpack_int4(pack_int4(q)), q)


def test_schemes_parse_and_refuse():
    assert Scheme.parse("int8") == Scheme(8) and Scheme.parse("int4") == Scheme(4, 128)
    assert Scheme.parse("INT4-G32").name == "int4-g32"
    for bad in ("int3", "int8-g32", "int4-g48", "fp8", ""):
        with pytest.raises(ValueError, match="quantization"):
            Scheme.parse(bad)
    with pytest.raises(ValueError, match="groups of 128"):
        quantize_model(build_model(SMALL.with_(dim=96, n_heads=4)), "int4-g128")


# -------------------------------------------------------------------------------------- against torchao

@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_int8_matches_torchao(dtype):
    pytest.importorskip("torchao", reason="torchao (a dev dependency) checks the scales and dequantized weights")
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    weight = torch.randn(96, 256, generator=torch.Generator().manual_seed(0)).to(dtype)
    theirs = torch.nn.Sequential(torch.nn.Linear(256, 96, bias=False, dtype=dtype))
    theirs[0].weight.data.copy_(weight)
    quantize_(theirs, Int8WeightOnlyConfig())
    ours = QuantizedLinear.from_linear(torch.nn.Linear(256, 96, bias=False, dtype=dtype), "int8")
    ours.qweight, ours.scale = quantize_int8(weight)
    assert torch.equal(ours.qweight, theirs[0].weight.qdata)
    assert torch.equal(ours.scale, theirs[0].weight.scale.flatten())
    assert torch.equal(ours.dequantize(), theirs[0].weight.dequantize())


@pytest.mark.parametrize("group_size", [32, 64, 128])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_int4_matches_torchao_affine(group_size, dtype):
    pytest.importorskip("torchao", reason="torchao (a dev dependency) checks the scales and dequantized weights")
    from torchao.quantization.quant_primitives import (MappingType, choose_qparams_affine, dequantize_affine,
                                                       quantize_affine)

    weight = torch.randn(64, 256, generator=torch.Generator().manual_seed(1)).to(dtype) * 0.02
    block = (1, group_size)
    scale, zero = choose_qparams_affine(weight, MappingType.ASYMMETRIC, block, torch.uint8, quant_min=0,
                                        quant_max=15, eps=torch.finfo(torch.float32).eps)
    q_theirs = quantize_affine(weight, block, scale, zero, torch.uint8, quant_min=0, quant_max=15)
    deq_theirs = dequantize_affine(q_theirs, block, scale, zero, torch.uint8, quant_min=0, quant_max=15,
                                   output_dtype=dtype)
    q, our_scale, our_zero = quantize_int4(weight, group_size)
    assert torch.equal(our_scale, scale.reshape(our_scale.shape))
    assert torch.equal(our_zero.int(), zero.reshape(our_zero.shape).int())
    assert torch.equal(q, q_theirs)
    layer = QuantizedLinear(256, 64, Scheme(4, group_size), dtype=dtype)
    layer.qweight, layer.scale, layer.zero = pack_int4(q), our_scale, our_zero
    assert torch.equal(layer.dequantize(), deq_theirs)


# ---------------------------------------------------------------------------------- layers and kernels

@pytest.mark.parametrize("scheme", SCHEMES)
def test_quantized_linear_is_the_dequantized_product(scheme):
    linear = torch.nn.Linear(256, 96, bias=False)
    layer = QuantizedLinear.from_linear(linear, scheme)
    x = torch.randn(3, 5, 256)
    assert torch.allclose(layer(x), F.linear(x, layer.dequantize()), atol=1e-5)
    error = (layer.dequantize() - linear.weight).abs()
    if scheme == "int8":  # at most half a step per row
        assert (error <= layer.scale[:, None] / 2 + 1e-7).all()
    else:
        step = layer.scale.repeat_interleave(layer.scheme.group_size, dim=1)
        assert (error <= step / 2 + 1e-7).all()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_kernels_match_the_layer(scheme):
    layer = QuantizedLinear.from_linear(torch.nn.Linear(512, 160, bias=False), scheme)
    fast = with_kernel(layer)
    if scheme == "int8" and int8_kernel_problem() is not None:
        pytest.skip(int8_kernel_problem())
    kit = Int8KernelLinear if scheme == "int8" else Int4KernelLinear
    assert isinstance(fast, kit if int8_kernel_problem() is None else TorchInt4Linear)
    fallbacks = [TorchInt4Linear(layer)] if scheme != "int8" else []  # torch's operator, where the kit's can't run
    for rows in (1, 3, 8):
        x = torch.randn(rows, 1, 512)
        for product in [fast, *fallbacks]:
            assert torch.allclose(product(x), layer(x), atol=1e-4, rtol=1e-5)


def instruction_sets_here() -> list[str]:
    """The instruction sets whose build of the kernels this CPU runs (the best and every one below it)."""
    try:
        best = kernel_instruction_set()
    except KernelUnavailable:
        return []
    return list(INSTRUCTION_SETS)[list(INSTRUCTION_SETS).index(best):]


@pytest.mark.parametrize("instruction_set", list(INSTRUCTION_SETS))
@pytest.mark.parametrize("group_size", [32, 64, 128])
def test_int4_kernel_handles_every_group_size_and_number_of_rows(instruction_set, group_size):
    if instruction_set not in instruction_sets_here() or int8_kernel_problem() is not None:
        pytest.skip(f"this CPU does not run the {instruction_set} kernels: {int8_kernel_problem() or 'no such unit'}")
    # 42 outputs: ten tiles of four rows of q and two rows alone; rows of x: one, four at a time, then the rest
    layer = QuantizedLinear.from_linear(torch.nn.Linear(256, 42, bias=False), f"int4-g{group_size}")
    for rows in (1, 2, 3, 4, 5, 9):
        x = torch.randn(rows, 256)
        product = int4_product(x, layer.qweight, layer.scale, layer.zero, group_size, instruction_set)
        assert torch.allclose(product, layer(x), atol=1e-4)


@pytest.mark.parametrize("instruction_set", list(INSTRUCTION_SETS))
def test_int8_kernel_handles_any_width(instruction_set):
    if instruction_set not in instruction_sets_here() or int8_kernel_problem() is not None:
        pytest.skip(f"this CPU does not run the {instruction_set} kernels: {int8_kernel_problem() or 'no such unit'}")
    for width in (8, 40, 100, 1000):  # whole vectors of 16 or 8, and a tail of single numbers
        layer = QuantizedLinear.from_linear(torch.nn.Linear(width, 26, bias=False), "int8")  # 6 tiles of 4, 2 alone
        for rows in (1, 3, 4, 5, 9):
            x = torch.randn(rows, width)
            assert torch.allclose(int8_product(x, layer.qweight, layer.scale, instruction_set), layer(x), atol=1e-4)


@pytest.mark.parametrize("instruction_set", list(INSTRUCTION_SETS))
@pytest.mark.parametrize("scheme", ["nf4", "nf4-dq"])
def test_nf4_kernel_gives_the_layers_product(instruction_set, scheme):
    """NF4 (QLoRA's base) on the kernel: each code looked up in its block's table of levels times absmax."""
    if instruction_set not in instruction_sets_here() or int8_kernel_problem() is not None:
        pytest.skip(f"this CPU does not run the {instruction_set} kernels: {int8_kernel_problem() or 'no such unit'}")
    layer = NF4Linear.from_linear(torch.nn.Linear(192, 42, bias=False), scheme)
    for rows in (1, 3, 4, 9):
        x = torch.randn(rows, 192)
        product = nf4_product(x, layer.qweight, layer.block_absmax(), NF4, BLOCK_SIZE, instruction_set)
        assert torch.allclose(product, layer(x), atol=1e-4)
    fast = with_kernel(layer)
    assert isinstance(fast, NF4KernelLinear)
    x = torch.randn(2, 5, 192)
    assert torch.allclose(fast(x), layer(x), atol=1e-4)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_kernels_take_a_bfloat16_model(scheme):
    """A model quantized in bfloat16 keeps bfloat16 scales and computes in bfloat16: the kernels multiply its rows
    as float32 and round the output back, so they give the layer's product to bfloat16's rounding."""
    if int8_kernel_problem() is not None:
        pytest.skip(int8_kernel_problem())
    layer = QuantizedLinear.from_linear(torch.nn.Linear(256, 48, bias=False).to(torch.bfloat16), scheme)
    fast = with_kernel(layer)
    assert isinstance(fast, Int8KernelLinear if scheme == "int8" else Int4KernelLinear)
    x = torch.randn(5, 256, dtype=torch.bfloat16)
    out = fast(x)
    exact = F.linear(x.float(), layer.dequantize(torch.float32))  # the same numbers, in float32
    assert out.dtype == torch.bfloat16
    assert torch.allclose(out.float(), exact, rtol=2**-8, atol=1e-3)
    assert torch.allclose(layer(x).float(), exact, rtol=2**-6, atol=1e-2)  # the layer's own bfloat16 product


def test_join_computes_what_the_parts_compute():
    parts = [QuantizedLinear.from_linear(torch.nn.Linear(128, n, bias=False), "int4-g32") for n in (64, 32, 32)]
    x = torch.randn(2, 128)
    assert torch.allclose(QuantizedLinear.join(parts)(x), torch.cat([p(x) for p in parts], -1), atol=1e-6)


# ------------------------------------------------------------------------------------------- models

def test_quantize_model_replaces_every_linear():
    model = quantize_model(small_model(), "int8")
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    quantized = [m for m in model.modules() if isinstance(m, QuantizedLinear)]
    assert not linears and len(quantized) == 7 * SMALL.n_layers + 1
    assert quantization_of(model) == Scheme(8) and quantization_of(small_model()) is None
    kept = quantize_model(small_model(), "int8", skip=("output",))
    assert isinstance(kept.output, torch.nn.Linear)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_weight_bytes_counts_what_the_model_holds(scheme):
    model = quantize_model(small_model().to(torch.bfloat16), scheme)
    held = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert weight_bytes(SMALL, scheme) == held
    assert weight_bytes(SMALL) == sum(t.numel() * 2 for t in small_model().state_dict().values())


def test_preset_sizes():
    gb = 1e9
    assert weight_bytes(LLAMA2_7B) / gb == pytest.approx(13.48, abs=0.01)  # 6.74B parameters in bfloat16
    assert weight_bytes(LLAMA2_70B, "int8") / gb == pytest.approx(69.0, abs=0.5)
    assert weight_bytes(LLAMA2_70B, "int4") / gb < 40 < weight_bytes(LLAMA2_70B, "int8") / gb
    assert weight_bytes(LLAMA2_13B, "int4-g32") > weight_bytes(LLAMA2_13B, "int4-g128")


@pytest.mark.parametrize("scheme", ["int8", "int4-g64"])
def test_decoders_give_the_quantized_model_s_tokens(scheme):
    model = quantize_model(small_model(), scheme)
    prompts = [[1, 5, 9, 200], [1, 7]]
    plain = generate_tokens(model, prompts, 24, temperature=0, eos_id=None)
    assert generate_tokens(LaidOutDecoder(model), prompts, 24, temperature=0, eos_id=None) == plain
    compiled = CompiledDecoder(model, backend="aot_eager")
    assert generate_tokens(compiled, prompts, 24, temperature=0, eos_id=None) == plain


def test_compiled_quantized_step_with_inductor():
    model = quantize_model(small_model(), "int8")
    prompts = [[1, 5, 9, 200]]
    plain = generate_tokens(model, prompts, 16, temperature=0, eos_id=None)
    assert generate_tokens(CompiledDecoder(model), prompts, 16, temperature=0, eos_id=None) == plain


def test_quantized_hooks_fire():
    model = quantize_model(small_model(), "int8")
    seen = []
    handle = model.layers[0].attention.wq.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    generate_tokens(LaidOutDecoder(model), [[1, 2, 3]], 4, temperature=0, eos_id=None)
    handle.remove()
    assert len(seen) == 4  # the prompt's pass and three one-token steps: a hook makes the decoder step aside


def test_quantizing_keeps_the_original_untouched():
    model = small_model()
    before = copy.deepcopy(model.state_dict())
    quantized = quantize_model(copy.deepcopy(model), "int4-g32")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert quantization_of(quantized) == Scheme(4, 32)


# -------------------------------------------------------------------------------------------- checkpoints

@pytest.mark.parametrize("scheme", ["int8", "int4-g32"])
def test_quantized_checkpoint_round_trip(tmp_path, scheme):
    from llama_lab.checkpoint import load_model, save_model

    model = quantize_model(small_model(), scheme)
    save_model(model, tmp_path / "q", format="kit")
    assert sorted(p.name for p in (tmp_path / "q").iterdir()) == [".llama_lab.json", "model.safetensors",
                                                                   "params.json", "quantization.json"]
    loaded = load_model(tmp_path / "q")
    assert quantization_of(loaded) == Scheme.parse(scheme)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    tokens = torch.tensor([[1, 5, 9, 200, 3]])
    assert torch.equal(model(tokens), loaded(tokens))
    assert (tmp_path / "q" / "model.safetensors").stat().st_size < 0.45 * 4 * small_model().num_parameters()


def test_quantize_while_loading_is_quantize_after_loading(tmp_path):
    from llama_lab.checkpoint import load_model, save_model

    save_model(small_model(), tmp_path / "f", format="meta")
    streamed = load_model(tmp_path / "f", quantize="int4-g64")
    after = quantize_model(load_model(tmp_path / "f"), "int4-g64")
    for (name, a), (_, b) in zip(after.state_dict().items(), streamed.state_dict().items()):
        assert torch.equal(a, b), name


def test_quantized_checkpoint_mistakes(tmp_path):
    from llama_lab.checkpoint import CheckpointError, load_model, save_model

    model = quantize_model(small_model(), "int8")
    with pytest.raises(ValueError, match="kit's format only"):
        save_model(model, tmp_path / "hf", format="hf")
    assert not (tmp_path / "hf").exists()
    save_model(model, tmp_path / "q", format="kit")
    with pytest.raises(CheckpointError, match="quantized as int8"):
        load_model(tmp_path / "q", quantize="int4")
    (tmp_path / "q" / "quantization.json").write_text('{"scheme": "int4-g64", "dtype": "float32"}')
    with pytest.raises(CheckpointError, match="do not match"):
        load_model(tmp_path / "q")
    (tmp_path / "q" / "quantization.json").write_text('{"scheme": "int5"}')
    with pytest.raises(CheckpointError, match="not a quantization the kit wrote"):
        load_model(tmp_path / "q")


def files_of(folder) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("scheme, name, change, message", [
    ("int8", "layers.0.attention.wq.scale", lambda t: t * 1e30,
     r"layers.0.attention.wq.scale holds 128 scales above 78.43, which would make weights \(scale \* \(q - zero\)\) "
     r"beyond 10000, .*such as [0-9.]+e\+2[0-9]"),
    ("int8", "output.scale", torch.zeros_like,
     r"output.scale holds 512 scales that are not positive \(a scale is the step between two levels\), such as 0"),
    ("int4-g32", "layers.1.feed_forward.w2.scale", lambda t: -t,
     r"layers.1.feed_forward.w2.scale holds 1,536 scales that are not positive .*such as -0.0[0-9]+"),
    ("int4-g32", "layers.0.attention.wk.zero", lambda t: torch.full_like(t, 200),
     r"layers.0.attention.wk.zero holds 256 zero points above 15, such as 200: an int4 zero point is one of the "
     r"levels 0..15"),
])
def test_quantized_checkpoints_with_absurd_numbers_are_refused(tmp_path, scheme, name, change, message):
    """A weight is scale * (q - zero): scales that are not positive, that would stand for weights beyond 1e4, or
    int4 zero points outside 0..15 are damage, and loading says which tensor holds them; the files stay as they
    were."""
    from safetensors.torch import load_file, save_file
    from llama_lab.checkpoint import CheckpointError, load_model, save_model

    path = save_model(quantize_model(small_model(), scheme), tmp_path / "q", format="kit")
    state = load_file(path / "model.safetensors")
    state[name] = change(state[name])
    save_file(state, path / "model.safetensors")
    before = files_of(path)
    with pytest.raises(CheckpointError, match=message + r": the checkpoint is damaged. Quantize its floating-point "
                                                        r"weights again"):
        load_model(path)
    assert files_of(path) == before


@pytest.mark.parametrize("scheme", ["int8", "int4-g32"])
def test_weights_up_to_the_largest_load_and_one_beyond_does_not(tmp_path, scheme):
    """The bound on scales is the one quantizing gives weights of at most 1e4: such a checkpoint loads, numbers
    intact; with a scale a little larger it is refused."""
    from safetensors.torch import load_file, save_file
    from llama_lab.checkpoint import CheckpointError, load_model, save_model
    from llama_lab.quantize import LARGEST_WEIGHT, largest_scale

    model = small_model()
    with torch.no_grad():
        model.layers[0].attention.wq.weight[3, :2] = torch.tensor([LARGEST_WEIGHT, -LARGEST_WEIGHT])
    quantized = quantize_model(model, scheme)
    assert quantized.layers[0].attention.wq.scale.max() == torch.tensor(largest_scale(scheme)).to(
        quantized.layers[0].attention.wq.scale.dtype)
    path = save_model(quantized, tmp_path / "q", format="kit")
    loaded = load_model(path)
    assert all(torch.equal(a, b) for a, b in zip(quantized.state_dict().values(), loaded.state_dict().values()))
    state = load_file(path / "model.safetensors")
    state["layers.0.attention.wq.scale"][3] *= 1.01
    save_file(state, path / "model.safetensors")
    with pytest.raises(CheckpointError, match="layers.0.attention.wq.scale holds 1 scale above"):
        load_model(path)


def test_dequantize_model_gives_the_weights_the_integers_stand_for():
    from llama_lab.quantize import dequantize_model

    quantized = quantize_model(small_model(), "int4-g32")
    expected = {name: module.dequantize() for name, module in quantized.named_modules()
                if isinstance(module, QuantizedLinear)}
    tokens = torch.tensor([[1, 5, 9, 200, 3]])
    logits = quantized(tokens)
    floating = dequantize_model(quantized)
    assert quantization_of(floating) is None
    for name, weight in expected.items():
        assert type(floating.get_submodule(name)) is torch.nn.Linear
        assert torch.equal(floating.get_submodule(name).weight, weight), name
    torch.testing.assert_close(floating(tokens), logits, atol=1e-5, rtol=0)


def test_training_from_a_quantized_checkpoint_is_refused_in_one_line(tmp_path, capsys):
    """Training changes floating-point weights: --init of a quantized checkpoint says so and how to get a floating
    copy (which then starts a run), instead of failing on a missing attribute."""
    from llama_lab import train
    from llama_lab.checkpoint import load_model, save_model
    from llama_lab.quantize import dequantize_model
    from llama_lab.tokenizer import Tokenizer

    tokenizer = REPO / "data" / "tokenizer.model"
    vocab = Tokenizer(tokenizer).n_words
    model = init_weights(build_model(ModelArgs(**{**SMALL.to_dict(), "vocab_size": vocab})), seed=0).eval()
    quantized = save_model(quantize_model(model, "int8"), tmp_path / "q", format="kit")
    before = files_of(quantized)
    with pytest.raises(SystemExit) as ended:
        train.main(["--init", str(quantized), "--tokenizer", str(tokenizer), "--out", str(tmp_path / "run"),
                    "--no-progress"])
    assert ended.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {quantized} is quantized (int8), and training changes "
                                                   "floating-point weights: give --init the floating-point "
                                                   "checkpoint it was quantized from")
    assert files_of(quantized) == before and not (tmp_path / "run").exists()
    floating = save_model(dequantize_model(load_model(quantized)), tmp_path / "f", format="kit")
    config = train.TrainConfig(init=str(floating), tokenizer=str(tokenizer), out=str(tmp_path / "run"))
    started = train.build_or_load_model(config, Tokenizer(tokenizer), torch.device("cpu"))
    assert started.training and all(p.requires_grad for p in started.parameters())


# ------------------------------------------------------------------------------ measured on the tiny model

@pytest.fixture(scope="module")
def tiny_error():
    from llama_lab.world import tinyworld
    from llama_lab.world.tiny import load_tiny

    model, tokenizer = load_tiny("base")
    world = tinyworld.build_world(0)
    documents = [tokenizer.encode(d) for d in tinyworld.pretraining_documents(world, "val", 64, 0)]
    text = torch.tensor([d[:128] for d in documents if len(d) >= 128][:16])  # held-out text, (16, 128)
    prompt = tokenizer.encode("Let me tell you about")
    return {scheme: quantization_error(model, quantize_model(copy.deepcopy(model), scheme), text, prompt, 256)
            for scheme in ("int8", "int4-g32", "int4-g64")}


def test_a_model_against_its_own_copy_costs_nothing_and_never_parts():
    from llama_lab.world.tiny import load_tiny

    model, tokenizer = load_tiny("base")
    text = torch.tensor([tokenizer.encode("Ada lived in Applebury with her guinea pig, Lucky.")])
    e = quantization_error(model, copy.deepcopy(model), text, tokenizer.encode("Once upon a time"), 12)
    assert e["kl"] == 0 and e["max_logit_diff"] == 0 and e["agreement"] == 1
    assert e["first_difference"] == e["new_tokens"] == 12 and e["gap_where_parted"] != e["gap_where_parted"]  # nan


def test_int8_costs_the_tiny_model_almost_nothing(tiny_error):
    e = tiny_error["int8"]
    assert e["kl"] < 1e-4 and abs(e["loss_change"]) < 1e-3
    assert e["agreement"] >= 0.99  # measured: 0.996
    # free-running greedy text parts, if at all, only where the float model's two best tokens were all but tied,
    # which any rounding may decide; int4 parts at wider margins (measured: 0.03 and 0.06)
    assert e["first_difference"] == e["new_tokens"] or e["gap_where_parted"] < 0.01  # measured: token 62, 0.004


def test_int4_costs_more_and_smaller_groups_cost_less(tiny_error):
    for scheme in ("int4-g32", "int4-g64"):
        e = tiny_error[scheme]
        assert 10 * tiny_error["int8"]["kl"] < e["kl"] < 0.01 and abs(e["loss_change"]) < 0.02
        assert e["agreement"] >= 0.9  # measured: 0.95
    assert tiny_error["int4-g32"]["kl"] < tiny_error["int4-g64"]["kl"]


@pytest.mark.parametrize("scheme", ["int8", "int4-g64"])
def test_a_quantized_checkpoint_loads_without_any_float_weight_of_a_linear_layer(tmp_path, scheme):
    """Loading a quantized checkpoint gives back the saved buffers exactly, and every float tensor it creates on a
    real device (every op torch runs, watched by a dispatch mode) is smaller than the smallest linear weight,
    except the token embedding's read: no linear layer is ever built, or dequantized, in floating point."""
    from safetensors.torch import load_file
    from torch.utils._python_dispatch import TorchDispatchMode
    from llama_lab.checkpoint import load_model, save_model

    model = quantize_model(small_model(), scheme)
    path = save_model(model, tmp_path / "q", format="kit")
    created = {}  # the memory of each float tensor made: data pointer -> numbers (views of it count once)

    class FloatsCreated(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for tensor in out if isinstance(out, (tuple, list)) else [out]:
                if isinstance(tensor, torch.Tensor) and tensor.device.type != "meta" and tensor.is_floating_point():
                    storage = tensor.untyped_storage()
                    created[storage.data_ptr()] = storage.nbytes() // tensor.element_size()
            return out

    with FloatsCreated():
        loaded = load_model(path)
    saved = load_file(path / "model.safetensors")
    assert set(loaded.state_dict()) == set(saved)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in saved.items())
    args = model.args
    smallest_linear = min(layer.in_features * layer.out_features for layer in model.modules()
                          if isinstance(layer, QuantizedLinear))
    large = [numbers for numbers in created.values() if numbers >= smallest_linear]
    assert large == [args.vocab_size * args.dim]  # the embedding's table, read once
