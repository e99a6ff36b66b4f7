"""NF4 (llama_lab.nf4): the levels against the QLoRA paper's table, codes and dequantized values against torchao's
NF4Tensor, hand-worked blocks, QLoRA training (a frozen NF4 base with LoRA adapters), and NF4's error beside int4's
on the kit's tiny model (printed: `pytest tests/engine/test_nf4.py -k beside`)."""

import copy

import pytest
import torch

from llama_lab.lora import add_lora, lora_layers, trainable_parameters
from llama_lab.model import LLAMA2_7B
from llama_lab.train import loss_sums
from llama_lab.nf4 import (BLOCK_SIZE, NF4, NF4_PUBLISHED, NF4Linear, NF4Scheme, double_dequantize, double_quantize,
                           dequantize_nf4, quantize_nf4)
from llama_lab.quantize import QuantizedLinear, quantization_error, quantize_model, unpack_int4, weight_bytes
from support import one_thread, small_model  # noqa: F401 (one_thread: a fixture applied to this module)


def torchao_nf4():
    pytest.importorskip("torchao", reason="torchao (a dev dependency) checks NF4's codes and dequantized values")
    from torchao.quantization.quantize_.workflows.nf4.nf4_tensor import to_nf4
    return to_nf4


def torchao_codes(nf4_tensor, shape):
    """torchao packs the first of two codes in a byte's high four bits (the kit: the low four)."""
    data = nf4_tensor.quantized_data
    return torch.stack((data >> 4, data & 0x0F), dim=-1).reshape(shape)


# ------------------------------------------------------------------------------------ the levels

def test_the_levels_are_the_papers_table():
    # computed from the normal's quantiles in float64; the paper's table is bitsandbytes' float32 of the same
    assert torch.allclose(NF4.double(), torch.tensor(NF4_PUBLISHED, dtype=torch.float64), atol=3e-7, rtol=0)
    assert NF4[0] == -1 and NF4[7] == 0 and NF4[15] == 1
    assert (NF4.diff() > 0).all()


def test_the_levels_are_torchaos_to_its_four_decimals():
    to_nf4 = torchao_nf4()
    assert torch.allclose(to_nf4(torch.randn(64 * 256)).nf4, NF4, atol=5e-5 + 1e-7, rtol=0)


# ------------------------------------------------------------------------------------ hand-worked blocks

def test_a_hand_worked_block():
    block = torch.zeros(1, BLOCK_SIZE)
    block[0, :6] = torch.tensor([0.5, -0.5, -0.25, 0.0, 0.03, -0.3])
    codes, absmax = quantize_nf4(block)
    assert absmax.tolist() == [[0.5]]
    # scaled: 1 -> 15, -1 -> 0, -0.5 -> level 2 (-0.525), 0 -> 7, 0.06 -> level 8 (0.0796 is 0.020 away, 0 is
    # 0.06), -0.6 -> level 2 (-0.525 is 0.075 away, level 1's -0.696 is 0.096)
    assert codes[0, :6].tolist() == [15, 0, 2, 7, 8, 2]
    assert (codes[0, 6:] == 7).all()  # zero is a level: exactly zero again after dequantizing
    weight = dequantize_nf4(codes, absmax)
    assert weight[0, :4].tolist() == [0.5, -0.5, NF4[2].item() * 0.5, 0.0]


def test_a_negative_absmax_maps_to_code_0_and_ties_go_low():
    block = torch.full((1, BLOCK_SIZE), -2.0)
    codes, absmax = quantize_nf4(block)
    assert absmax.item() == 2.0 and (codes == 0).all()
    # a tie needs levels whose midpoints are exact in binary: k / 8 - 1 for k = 0..15 (0 is level 8, 0.125 level 9)
    block[0, 1] = 2.0 * 0.0625  # scaled 0.0625: exactly between 0 and 0.125
    codes, _ = quantize_nf4(block, levels=torch.arange(16) / 8 - 1)
    assert codes[0, :2].tolist() == [0, 8]


def test_an_all_zero_block_stays_zero():
    codes, absmax = quantize_nf4(torch.zeros(2, 128))
    assert (codes == 7).all() and (dequantize_nf4(codes, absmax) == 0).all()


def test_double_quantization_by_hand():
    absmax = torch.tensor([1.0, 2.0, 3.0])  # mean 2; centred -1, 0, 1; 128 / max|x| = 128
    q, scale, mean = double_quantize(absmax)
    assert mean.item() == 2.0 and scale.tolist() == [128.0]
    assert q.tolist() == [-128, 0, 127]  # 128 clamps to 127
    assert double_dequantize(q, scale, mean).tolist() == [1.0, 2.0, 2.0 + 127 / 128]


def test_a_width_that_does_not_split_into_blocks_is_refused():
    with pytest.raises(ValueError, match="blocks of 64"):
        quantize_nf4(torch.randn(4, 96))


# ------------------------------------------------------------------------------------ against torchao

@pytest.mark.parametrize("shape", [(256, 128), (512, 192)])
def test_codes_and_values_match_torchao(shape):
    """torchao always double-quantizes; its codes come from the unquantized absmaxes, as the kit's do."""
    to_nf4 = torchao_nf4()
    weight = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 0.02
    theirs = to_nf4(weight, block_size=64, scaler_block_size=256)
    # with torchao's levels (rounded to four decimals) the codes are the same, code for code ...
    codes, absmax = quantize_nf4(weight, levels=theirs.nf4)
    assert torch.equal(codes, torchao_codes(theirs, shape))
    # ... and so are the double-quantized absmaxes and the dequantized weight, value for value
    q, scale, mean = double_quantize(absmax)
    assert torch.equal(q, theirs.quantized_scalers) and torch.equal(scale, theirs.quantization_factor)
    assert torch.equal(mean, theirs.scaler_mean)
    absmax_dq = double_dequantize(q, scale, mean).reshape(absmax.shape)
    assert torch.equal(dequantize_nf4(codes, absmax_dq, levels=theirs.nf4), theirs.get_original_weight())
    # with the kit's own (full-precision) levels, a code differs only where a weight falls between the two tables'
    # midpoints between the same two levels
    own_codes, _ = quantize_nf4(weight)
    scaled = (weight.reshape(shape[0], -1, 64) / absmax[..., None]).reshape(shape)[..., None]  # (out, in, 1)
    own_mids, their_mids = (NF4[:-1] + NF4[1:]) / 2, (theirs.nf4[:-1] + theirs.nf4[1:]) / 2  # (15,)
    between = ((scaled - own_mids) * (scaled - their_mids) <= 0).any(dim=-1)  # (out, in)
    differ = own_codes != codes
    assert not (differ & ~between).any() and differ.sum() < 1e-3 * weight.numel()


def test_the_layer_dequantizes_as_torchao_with_double_quantization():
    to_nf4 = torchao_nf4()
    linear = torch.nn.Linear(128, 256, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(256, 128, generator=torch.Generator().manual_seed(1)))
    theirs = to_nf4(linear.weight.detach(), block_size=64, scaler_block_size=256).get_original_weight()
    layer = NF4Linear.from_linear(linear, "nf4-dq")
    # the kit's levels are the paper's full ones, torchao's rounded to 1e-4: the weights differ by at most that
    # times the block's absmax, but for the few whose code differs (see test_codes_and_values_match_torchao)
    close = (layer.dequantize() - theirs).abs() <= (5e-5 + 1e-7) * linear.weight.abs().max()
    assert (~close).sum() < 1e-3 * close.numel()
    x = torch.randn(3, 128)
    assert torch.allclose(layer(x), x @ layer.dequantize().T)


def test_double_quantization_saves_what_the_paper_says():
    plain, double = NF4Scheme(), NF4Scheme(double_quant=True)
    n = 4096 * 4096
    assert plain.stored_bytes(4096, 4096) * 8 / n == 4.5  # 32-bit absmax per 64 weights
    assert double.stored_bytes(4096, 4096) * 8 / n == pytest.approx(4.127, abs=1e-3)  # "0.127 bits per parameter"


# ------------------------------------------------------------------------------------ the model

@pytest.mark.parametrize("scheme", ["nf4", "nf4-dq"])
def test_quantize_model_and_weight_bytes(scheme):
    model = small_model(multiple_of=64)
    reference = copy.deepcopy(model)
    quantize_model(model, scheme)
    layers = [m for m in model.modules() if isinstance(m, NF4Linear)]
    assert len(layers) == 3 * 7 + 1 and not any(isinstance(m, torch.nn.Linear) for m in model.modules())
    stored = sum(b.numel() * b.element_size() for m in layers for b in m.buffers())
    floating = sum(p.numel() * 2 for p in model.parameters())  # embedding and norms, at 2 bytes (bfloat16)
    assert weight_bytes(model.args, scheme) == stored + floating
    tokens = torch.randint(0, 101, (2, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (model(tokens) - reference(tokens)).abs().max() < 0.5 * reference(tokens).abs().max()
    assert weight_bytes(LLAMA2_7B, scheme) < weight_bytes(LLAMA2_7B, "int4-g64") * (1.03 if scheme == "nf4" else 1)


def test_saving_an_nf4_model_says_what_to_do(tmp_path):
    from llama_lab import save_model
    with pytest.raises(ValueError, match="NF4"):
        save_model(quantize_model(small_model(multiple_of=64), "nf4"), tmp_path / "m", format="kit")
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------------------------ QLoRA

@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("scheme", ["nf4", "nf4-dq"])
def test_lora_adapters_train_on_a_frozen_nf4_base(scheme, dtype):
    model = quantize_model(small_model(multiple_of=64).to(dtype), scheme)
    add_lora(model, targets=("wq", "wk", "wv", "wo", "w1", "w2", "w3"), r=4, alpha=8, seed=0)
    model.train()
    frozen = {name: tensor.clone() for name, tensor in model.state_dict().items() if "lora_" not in name}
    adapters = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    assert adapters and all("lora_" in name for name in adapters)
    trainable, total = trainable_parameters(model)
    assert trainable == sum(p.numel() for p in adapters.values()) and total > 10 * trainable
    tokens = torch.randint(0, 101, (4, 33), generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(8):
        logits = model(tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1, losses
    for name, tensor in model.state_dict().items():
        if "lora_" not in name:
            assert torch.equal(tensor, frozen[name]), name  # the NF4 codes, absmaxes, embedding and norms
    assert all(p.dtype == dtype for p in adapters.values())
    assert all(not torch.equal(p, adapters[name]) for name, p in model.named_parameters() if "lora_B" in name)
    assert isinstance(lora_layers(model)["layers.0.attention.wq"].base, NF4Linear)


@pytest.mark.parametrize("scheme", ["nf4", "int8"])
def test_the_training_loss_takes_a_quantized_head(scheme):
    """loss_sums, what training calls, gives a quantized model's own cross-entropy and its adapters' gradients:
    its fused head (LinearCrossEntropy) is for a plain trainable nn.Linear only."""
    model = add_lora(quantize_model(small_model(multiple_of=64), scheme), targets=("wq", "wv"), r=4, seed=0)
    tokens = torch.randint(0, 101, (2, 17), generator=torch.Generator().manual_seed(0))
    total, count = loss_sums(model, tokens[:, :-1], tokens[:, 1:])
    expected = torch.nn.functional.cross_entropy(model(tokens[:, :-1]).flatten(0, 1), tokens[:, 1:].flatten(),
                                                 reduction="sum")
    torch.testing.assert_close(total, expected)
    assert count == tokens[:, 1:].numel()
    total.backward()
    assert all(p.grad is not None for name, p in model.named_parameters() if "lora_A" in name)


def test_a_lora_update_is_not_merged_into_nf4():
    model = add_lora(quantize_model(small_model(multiple_of=64), "nf4"), targets=("wq",))
    with pytest.raises(ValueError, match="nf4"):
        lora_layers(model)["layers.0.attention.wq"].merge()


# ------------------------------------------------------------------------------------ NF4 beside int4

def weight_error(reference, quantized) -> dict:
    """Mean and largest |W - dequantized W| over every linear layer, relative to the mean |W|."""
    diffs, sizes = [], []
    for name, module in quantized.named_modules():
        if isinstance(module, (NF4Linear, QuantizedLinear)):
            weight = reference.get_submodule(name).weight.detach()
            diffs.append((module.dequantize(torch.float32) - weight).abs().flatten())
            sizes.append(weight.abs().flatten())
    diffs, sizes = torch.cat(diffs), torch.cat(sizes)
    return {"mean": (diffs.mean() / sizes.mean()).item(), "max": (diffs.max() / sizes.mean()).item()}


def test_nf4_beside_int4_at_the_same_block_size_on_the_tiny_model(capsys):
    from llama_lab.world import tinyworld
    from llama_lab.world.tiny import load_tiny

    reference, tokenizer = load_tiny("base")
    documents = [tokenizer.encode(d) for d in tinyworld.pretraining_documents(tinyworld.build_world(0), "val", 64, 0)]
    text = torch.tensor([d[:128] for d in documents if len(d) >= 128][:16])  # held-out text, (16, 128)
    figures = {}
    for scheme in ("int4-g64", "nf4", "nf4-dq"):
        quantized = quantize_model(copy.deepcopy(reference), scheme)
        error = quantization_error(reference, quantized, text, tokenizer.encode("Let me tell you about"), 64)
        figures[scheme] = {**{f"weight_{k}": v for k, v in weight_error(reference, quantized).items()},
                           **{k: error[k] for k in ("kl", "max_logit_diff", "loss_change", "agreement")}}
    with capsys.disabled():
        for scheme, row in figures.items():
            print(f"\n{scheme:9s} " + "  ".join(f"{k} {v:.4g}" for k, v in row.items()), end="")
        print()
    # the normal-shaped levels follow the trained weights more closely than 16 even ones, in the mean; the largest
    # error is NF4's widest gap (0.72 to 1, times the absmax), where int4 spreads its levels over the block's own
    # [min, max]. In the logits the two come out about even on the tiny model (printed above)
    assert figures["nf4"]["weight_mean"] < figures["int4-g64"]["weight_mean"]
    assert figures["nf4"]["weight_max"] > figures["int4-g64"]["weight_max"]
    # double quantization changes the absmaxes by at most 1/256 of their spread: the error barely moves
    assert figures["nf4-dq"]["weight_mean"] == pytest.approx(figures["nf4"]["weight_mean"], rel=0.05)


@pytest.mark.parametrize("scheme", ["nf4", "nf4-dq"])
@pytest.mark.parametrize("decoder", ["LaidOutDecoder", "CompiledDecoder"])
def test_the_fast_decoders_run_an_nf4_model_on_the_kernels_with_the_plain_tokens(decoder, scheme):
    from llama_lab import fast
    from llama_lab.fast.kernels import int8_kernel_problem
    from llama_lab.generate import generate_tokens

    model = quantize_model(small_model(multiple_of=64), scheme)
    kernels = {type(m).__name__ for m in fast.layout.DecodingLayout(model).modules()}
    assert "NF4KernelLinear" in kernels or int8_kernel_problem()
    plain = generate_tokens(model, [[1, 2, 3]], 8, temperature=0, eos_id=None)
    assert generate_tokens(getattr(fast, decoder)(model), [[1, 2, 3]], 8, temperature=0, eos_id=None) == plain


def test_an_adapter_trained_on_nf4_saves_and_loads_onto_the_same_base(tmp_path):
    from llama_lab.checkpoint import load_adapter, save_adapter

    model = add_lora(quantize_model(small_model(multiple_of=64), "nf4-dq"), targets=("wq", "w2"), seed=0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(generator=torch.Generator().manual_seed(2))
    save_adapter(model, tmp_path / "adapter")
    loaded = load_adapter(quantize_model(small_model(multiple_of=64), "nf4-dq"), tmp_path / "adapter")
    tokens = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        assert torch.equal(loaded(tokens), model(tokens))
        assert not torch.equal(model(tokens), quantize_model(small_model(multiple_of=64), "nf4-dq")(tokens))


@pytest.mark.parametrize("scheme", ["nf4", "nf4-dq", "int8", "int4-g64"])
def test_a_frozen_quantized_layer_keeps_no_float_weight_for_the_backward_pass(scheme):
    """In training (a gradient flowing back through x), the layer makes its float weight again in the backward pass
    instead of handing it to autograd to keep: nothing the size of W is saved, and x's gradient and the output are
    the plain product's, as F.linear on the dequantized weight gives them."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(128, 96, bias=False)
    layer = quantize_model(torch.nn.Sequential(linear), scheme)[0]
    x = torch.randn(3, 5, 128, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        out = layer(x)
    assert all(numel < 96 * 128 for numel in saved), saved
    grad = torch.randn_like(out)
    out.backward(grad)
    plain = x.detach().clone().requires_grad_(True)
    weight = layer.dequantize(torch.float32)
    reference = layer.product(plain)  # the numbers of the layer's product, made with autograd watching
    reference.backward(grad)
    assert torch.equal(out, reference)
    torch.testing.assert_close(x.grad, grad @ weight, rtol=0, atol=1e-6)
    torch.testing.assert_close(x.grad, plain.grad, rtol=0, atol=1e-6)


@pytest.mark.parametrize("scheme", ["nf4", "nf4-dq"])
def test_nf4_while_loading_is_nf4_after_loading_with_the_head_in_floating_point(tmp_path, scheme):
    """load_model(quantize="nf4") stores each block's projections in NF4 as the block arrives, and keeps the
    output head in floating point as QLoRA's models do: the same tensors as quantizing the loaded model so."""
    from llama_lab.checkpoint import load_model, save_model
    from llama_lab.world.tiny import load_tiny

    save_model(load_tiny("base")[0], tmp_path / "f", format="hf")
    streamed = load_model(tmp_path / "f", quantize=scheme)
    after = quantize_model(load_model(tmp_path / "f"), scheme, skip=("output",))
    assert type(streamed.output) is torch.nn.Linear
    assert isinstance(streamed.layers[0].feed_forward.w2, NF4Linear)
    assert list(streamed.state_dict()) == list(after.state_dict())
    for (name, a), (_, b) in zip(after.state_dict().items(), streamed.state_dict().items()):
        assert torch.equal(a, b), name
