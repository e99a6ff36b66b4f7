"""LoRA (llama_lab.lora) by hand-worked cases, and its adapters against Hugging Face peft, both ways."""

import json
import math

import pytest
import torch
from torch import nn

from support import one_thread, small_model  # noqa: F401 (one_thread: a fixture applied to this module)
from llama_lab import LLAMA2_7B, generate_tokens, save_model
from llama_lab.checkpoint import CheckpointError, load_adapter, meta_to_hf_names, save_adapter
from llama_lab.fast import CompiledDecoder, LaidOutDecoder
from llama_lab import lora as lora_module
from llama_lab.hooks import capture_residual_stream, logit_lens
from llama_lab.model import TINY, build_model
from llama_lab.lora import (LoraLinear, LoraSettings, add_lora, has_unmerged_lora, lora_layers, lora_parameter_count,
                            merge_lora, print_trainable_parameters, trainable_parameters, unload_lora, unmerge_lora)
from llama_lab.quantize import QuantizedLinear, dequantize_model, quantize_model

ALL = ("wq", "wk", "wv", "wo", "w1", "w2", "w3")
TOKENS = torch.randint(3, 101, (2, 17), generator=torch.Generator().manual_seed(3))


def random_updates(model, seed=1, std=0.1):
    """Give every adapter a non-zero B (a fresh one is zero and changes nothing), drawn reproducibly."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=generator) * std)
    return model


def adapted(targets=ALL, seed=0, std=0.1, **settings):
    return random_updates(add_lora(small_model(seed=seed), targets=targets, seed=seed, **settings), std=std)


def test_scaling_is_alpha_over_r_or_over_its_square_root():
    assert LoraSettings(r=4, alpha=8).scaling == 2.0
    assert LoraSettings(r=4, alpha=8, rslora=True).scaling == 4.0
    assert LoraSettings(targets=["w2", "wq", "wq"]).targets == ("wq", "w2")  # Meta's order, once each
    for wrong in (dict(r=0), dict(alpha=-1), dict(dropout=1.0), dict(targets=["q_proj"]), dict(r=2.0)):
        with pytest.raises(ValueError, match="LoRA"):
            LoraSettings(**wrong)


def test_a_lora_layer_computes_w0_x_plus_scaled_b_a_x_by_hand():
    base = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        base.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    layer = LoraLinear(base, LoraSettings(r=1, alpha=2.0))  # scaling 2
    with torch.no_grad():
        layer.lora_A.copy_(torch.tensor([[1.0, -1.0]]))  # A x = x0 - x1
        layer.lora_B.copy_(torch.tensor([[0.5], [2.0]]))
    x = torch.tensor([[3.0, 1.0]])
    # W0 x = [3 + 2, 9 + 4] = [5, 13]; A x = 2; B A x = [1, 4]; times 2 = [2, 8]
    assert layer(x).tolist() == [[7.0, 21.0]]
    layer.merge()  # W0 + 2 B A = [[1 + 1, 2 - 1], [3 + 4, 4 - 4]]
    assert base.weight.tolist() == [[2.0, 1.0], [7.0, 0.0]]
    assert layer(x).tolist() == [[7.0, 21.0]]
    assert layer.weight is base.weight  # merged, the layer's weight is the base's, update included
    layer.unmerge()
    assert base.weight.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(RuntimeError, match="no one weight"):
        layer.weight  # unmerged, W0 alone would leave the update out


def test_a_starts_as_peft_draws_it_and_b_at_zero():
    model = add_lora(small_model(), targets=ALL, seed=5)
    for name, layer in lora_layers(model).items():
        bound = 1 / math.sqrt(layer.in_features)  # kaiming-uniform with a = sqrt(5): gain sqrt(1/3) * sqrt(3/in)
        assert layer.lora_A.abs().max() <= bound and layer.lora_A.abs().max() > 0.9 * bound, name
        assert not layer.lora_B.any()
    first = lora_layers(model)["layers.0.attention.wq"]
    expected = torch.empty_like(first.lora_A)
    nn.init.kaiming_uniform_(expected, a=math.sqrt(5), generator=torch.Generator().manual_seed(5))
    assert torch.equal(first.lora_A, expected)
    assert torch.equal(add_lora(small_model(), targets=ALL, seed=5).layers[2].attention.wq.lora_A,
                       model.layers[2].attention.wq.lora_A)  # a seed draws the same adapter again


def test_a_fresh_adapter_changes_nothing_and_only_a_and_b_train():
    plain = small_model()
    model = add_lora(small_model(), targets=ALL, r=4, alpha=8, seed=0)
    assert torch.equal(model(TOKENS), plain(TOKENS))
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"{name}.lora_{m}" for name in lora_layers(model) for m in "AB"}
    assert len(lora_layers(model)) == 7 * 3
    random_updates(model)
    model(TOKENS).sum().backward()
    assert all(p.grad is None for name, p in model.named_parameters() if "lora_" not in name)
    assert all(layer.lora_A.grad.any() and layer.lora_B.grad.any() for layer in lora_layers(model).values())
    with pytest.raises(ValueError, match="already has LoRA adapters"):
        add_lora(model)


def test_dropout_touches_the_update_only():
    model = add_lora(small_model(), targets=("wq",), dropout=0.5, seed=0).train()
    torch.manual_seed(0)
    assert torch.equal(model(TOKENS), small_model().train()(TOKENS))  # B = 0: nothing for dropout to change
    random_updates(model)
    assert not torch.equal(model(TOKENS), model(TOKENS))  # each pass drops other inputs of the update
    model.eval()
    assert torch.equal(model(TOKENS), model(TOKENS))


def test_merge_gives_the_same_logits_and_unmerge_the_same_weights():
    model = adapted()
    before = {name: layer.base.weight.clone() for name, layer in lora_layers(model).items()}
    unmerged = model(TOKENS)
    merge_lora(model)
    assert not has_unmerged_lora(model)
    torch.testing.assert_close(model(TOKENS), unmerged, atol=1e-5, rtol=0)
    assert any(not torch.equal(layer.base.weight, before[name]) for name, layer in lora_layers(model).items())
    merge_lora(model)  # twice is once
    unmerge_lora(model)
    assert has_unmerged_lora(model)
    for name, layer in lora_layers(model).items():
        torch.testing.assert_close(layer.base.weight, before[name], atol=1e-6, rtol=0)
    torch.testing.assert_close(model(TOKENS), unmerged, atol=1e-5, rtol=0)


def test_unload_gives_the_plain_model_back_merged_or_as_it_was():
    plain = small_model()
    merged = unload_lora(adapted(), merge=True)
    restored = unload_lora(adapted(), merge=False)
    assert set(merged.state_dict()) == set(plain.state_dict()) and not lora_layers(merged)
    for name, weight in plain.state_dict().items():
        torch.testing.assert_close(restored.state_dict()[name], weight, atol=1e-6, rtol=0)
    torch.testing.assert_close(merged(TOKENS), adapted()(TOKENS), atol=1e-5, rtol=0)


def test_saving_a_model_with_adapters_says_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="save_adapter"):
        save_model(adapted(), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_adapter_on_an_int8_model():
    quantized = quantize_model(small_model(), "int8")
    model = add_lora(quantize_model(small_model(), "int8"), targets=ALL, seed=0)
    assert isinstance(model.layers[0].attention.wq.base, QuantizedLinear)
    assert torch.equal(model(TOKENS), quantized(TOKENS))  # a fresh adapter changes nothing here either
    random_updates(model)
    # the same adapter on the float model holding the weights the integers stand for
    twin = add_lora(dequantize_model(quantize_model(small_model(), "int8")), targets=ALL, seed=0)
    random_updates(twin)
    torch.testing.assert_close(model(TOKENS), twin(TOKENS), atol=1e-4, rtol=0)
    assert not torch.allclose(model(TOKENS), quantized(TOKENS), atol=1e-2)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    with pytest.raises(ValueError, match="quantized weight \\(int8\\).*unmerged"):
        merge_lora(model)
    assert has_unmerged_lora(model)
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
    trainable, total = trainable_parameters(model)
    assert total - trainable == small_model().num_parameters()  # each integer weight counts as the weight it is


def test_hooks_still_read_the_adapted_model():
    model, plain = adapted(), small_model()
    with capture_residual_stream(model) as stream:
        logits = model(TOKENS)
    n = len(model.layers)
    torch.testing.assert_close(logit_lens(model, stream[n]), logits, atol=1e-5, rtol=0)
    with capture_residual_stream(plain) as plain_stream:
        plain(TOKENS)
    assert torch.equal(stream[0], plain_stream[0])  # the embeddings are not adapted
    assert not torch.allclose(stream[1], plain_stream[1], atol=1e-3)  # block 0's output is


def test_the_fast_decoders_step_aside_for_unmerged_adapters():
    model, prompts = adapted(std=0.3), [[5, 6, 7], [9, 10, 11]]
    plain_tokens = generate_tokens(model, prompts, 12, temperature=0, eos_id=None)
    assert plain_tokens != generate_tokens(small_model(), prompts, 12, temperature=0, eos_id=None)
    compiled = CompiledDecoder(model, backend="aot_eager")  # stepping aside, it compiles nothing
    assert generate_tokens(compiled, prompts, 12, temperature=0, eos_id=None) == plain_tokens
    assert compiled.plain
    decoder = LaidOutDecoder(model)
    assert generate_tokens(decoder, prompts, 12, temperature=0, eos_id=None) == plain_tokens
    assert decoder.plain
    merge_lora(model)  # merged, the adapter is in the weights the decoder lays out
    assert generate_tokens(decoder, prompts, 12, temperature=0, eos_id=None) == plain_tokens
    assert not decoder.plain


# ------------------------------------------------------------------------------------------------------------------
# Against peft


@pytest.fixture(scope="module")
def peft():
    return pytest.importorskip("peft", reason="peft is not installed: `pip install peft` (in the dev extra) to "
                                              "compare the kit's adapters with peft's")


def hf_export(tmp_path, seed=0):
    """The kit's small model as transformers loads it from the kit's Hugging Face export."""
    transformers = pytest.importorskip("transformers")
    save_model(small_model(seed=seed), tmp_path / "hf", format="hf")
    return transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf", dtype=torch.float32).eval()


@pytest.mark.parametrize("targets, rslora", [(ALL, False), (("wq", "wk"), True)])
def test_peft_loads_the_kits_adapter_with_the_kits_logits(peft, tmp_path, targets, rslora):
    model = adapted(targets, r=4, alpha=8, rslora=rslora)
    save_adapter(model, tmp_path / "adapter")
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["use_rslora"] == rslora
    hf = peft.PeftModel.from_pretrained(hf_export(tmp_path), tmp_path / "adapter").eval()
    with torch.no_grad():
        expected = hf(TOKENS).logits
    assert not torch.allclose(expected, small_model()(TOKENS), atol=1e-2)  # the adapter is there and matters
    torch.testing.assert_close(model(TOKENS), expected, atol=1e-5, rtol=0)


def peft_adapter(peft, tmp_path, targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                          "down_proj"), **settings):
    """An adapter made by peft on the kit's export, with random non-zero B, saved by peft: (peft model, folder)."""
    torch.manual_seed(7)
    hf = peft.get_peft_model(hf_export(tmp_path), peft.LoraConfig(r=4, lora_alpha=16, target_modules=list(targets),
                                                                  task_type="CAUSAL_LM", **settings)).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    hf.save_pretrained(tmp_path / "peft")
    return hf, tmp_path / "peft"


def test_the_kit_loads_peft_s_adapter_with_peft_s_logits(peft, tmp_path):
    hf, folder = peft_adapter(peft, tmp_path)
    with torch.no_grad():
        expected = hf(TOKENS).logits
    model = load_adapter(small_model(), folder)
    assert len(lora_layers(model)) == 7 * 3
    torch.testing.assert_close(model(TOKENS), expected, atol=1e-5, rtol=0)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        f"{name}.lora_{m}" for name in lora_layers(model) for m in "AB"}


def test_the_kits_merge_equals_peft_s_merge_and_unload(peft, tmp_path):
    hf, folder = peft_adapter(peft, tmp_path, use_rslora=True)
    model = unload_lora(load_adapter(small_model(), folder), merge=True)
    peft_merged = hf.merge_and_unload().state_dict()
    ours = meta_to_hf_names(model.state_dict(), model.args)
    assert set(ours) == set(peft_merged)
    for name, weight in ours.items():
        torch.testing.assert_close(weight, peft_merged[name], atol=1e-6, rtol=0, msg=name)


def test_the_docstrings_count_for_the_tiny_model(capsys):
    """wq (192 x 192) and wv (48 x 192) of 6 blocks at r = 8: 6 * 8 * (192 + 192 + 192 + 48) = 29,952."""
    print_trainable_parameters(add_lora(build_model(TINY), targets=("wq", "wv"), r=8, alpha=16))
    printed = capsys.readouterr().out.strip()
    assert printed == "trainable params: 29,952 || all params: 3,927,744 || trainable%: 0.7626"
    assert printed in lora_module.__doc__.replace("\n    # ", " ")


def test_trainable_parameters_print_as_peft_prints_them(peft, tmp_path, capsys):
    hf, _ = peft_adapter(peft, tmp_path, targets=("q_proj", "v_proj", "down_proj"))
    capsys.readouterr()
    hf.print_trainable_parameters()
    expected = capsys.readouterr().out
    print_trainable_parameters(add_lora(small_model(), targets=("wq", "wv", "w2"), r=4, alpha=16))
    assert capsys.readouterr().out == expected
    assert expected.startswith("trainable params: ")


def test_a_layers_to_transform_adapter_adapts_those_layers_only(peft, tmp_path):
    hf, folder = peft_adapter(peft, tmp_path, targets=("q_proj",), layers_to_transform=[1])
    with torch.no_grad():
        expected = hf(TOKENS).logits
    model = load_adapter(small_model(), folder)
    assert list(lora_layers(model)) == ["layers.1.attention.wq"]
    torch.testing.assert_close(model(TOKENS), expected, atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------------------------------------------
# Saving and loading: atomic, and bad input changes nothing


def test_saving_leaves_the_users_files_and_refuses_a_model_folder(tmp_path):
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    save_adapter(adapted(seed=0), folder)
    save_adapter(adapted(seed=1), folder)  # again, over the first
    assert (folder / "notes.txt").read_text() == "mine"
    reloaded = load_adapter(small_model(seed=1), folder)
    torch.testing.assert_close(reloaded(TOKENS), adapted(seed=1)(TOKENS), atol=1e-6, rtol=0)
    save_model(small_model(), tmp_path / "model", format="kit")
    files = sorted(p.name for p in (tmp_path / "model").iterdir())
    with pytest.raises(FileExistsError, match="model checkpoint"):
        save_adapter(adapted(), tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == files
    with pytest.raises(ValueError, match="has none"):
        save_adapter(small_model(), tmp_path / "empty")


class Stopped(Exception):
    pass


def test_a_save_stopped_at_any_step_leaves_the_old_adapter_or_the_new(tmp_path, monkeypatch):
    """Stopped after each step that leaves something on disk (switch.after_save_step), a save leaves the adapter
    that was there or the new one, whole, and the user's file beside them."""
    import llama_lab.checkpoint.switch as switch
    folder = tmp_path / "adapter"
    old, new = adapted(seed=0), adapted(seed=1)  # their A differ everywhere
    first_A = {"old": old.layers[0].attention.wq.lora_A, "new": new.layers[0].attention.wq.lora_A}
    outcomes, step, finished = [], 0, False
    while not finished:
        save_adapter(old, folder)
        (folder / "notes.txt").write_text("mine")
        step += 1
        steps = []

        def stop(what):
            steps.append(what)
            if len(steps) == step:
                raise Stopped(what)
        monkeypatch.setattr(switch, "after_save_step", stop)
        try:
            save_adapter(new, folder)
            finished = True
        except Stopped:
            pass
        monkeypatch.setattr(switch, "after_save_step", lambda what: None)
        loaded = load_adapter(small_model(), folder).layers[0].attention.wq.lora_A  # finishes a committed save
        outcomes.append([name for name, A in first_A.items() if torch.equal(loaded, A)])
        assert (folder / "notes.txt").read_text() == "mine"
    assert all(len(found) == 1 for found in outcomes), outcomes
    assert outcomes[0] == ["old"] and outcomes[-1] == ["new"] and step > 3


def _damage(folder, config=None, weights=None):
    if config is not None:
        path = folder / "adapter_config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **config}))
    if weights is not None:
        from safetensors.torch import load_file, save_file
        path = folder / "adapter_model.safetensors"
        save_file(weights(load_file(path)), path)


WQ_A = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"


@pytest.mark.parametrize("config, weights, message", [
    ({"peft_type": "IA3"}, None, "peft_type='IA3'"),
    ({"use_dora": True}, None, "use_dora=True"),
    ({"bias": "all"}, None, "bias='all'"),
    ({"rank_pattern": {"q_proj": 2}}, None, "rank_pattern"),
    ({"init_lora_weights": "pissa_niter_4"}, None, "init_lora_weights='pissa_niter_4' changed the base weights"),
    ({"init_lora_weights": "loftq"}, None, "init_lora_weights='loftq' changed the base weights"),
    ({"r": 3}, None, r"has shape \(4, \d+\), where this model and r=3 need \(3, \d+\)"),
    (None, lambda state: {k: v for k, v in state.items() if "q_proj.lora_B" not in k}, "lora_A but not lora_B"),
    (None, lambda state: {**state, WQ_A.replace("layers.0", "layers.9"): state[WQ_A].clone()}, "layers.9"),
    (None, lambda state: {**state, "base_model.model.lm_head.lora_A.weight": state[WQ_A].clone()}, "lm_head"),
])
def test_a_bad_adapter_is_refused_naming_what_is_wrong_and_changes_nothing(tmp_path, config, weights, message):
    save_adapter(adapted(r=4), tmp_path / "adapter")
    _damage(tmp_path / "adapter", config, weights)
    model = small_model()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=message):
        load_adapter(model, tmp_path / "adapter")
    assert not lora_layers(model) and all(p.requires_grad for p in model.parameters())
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())


def test_loading_from_a_folder_without_an_adapter_says_what_it_expected(tmp_path):
    with pytest.raises(CheckpointError, match="adapter_config.json and adapter_model.safetensors"):
        load_adapter(small_model(), tmp_path)


@pytest.mark.parametrize("targets, r", [(("wq", "wv"), 8), (ALL, 4), (("w2",), 1)])
def test_the_count_from_the_shape_is_what_add_lora_adds(targets, r):
    model = small_model()  # grouped-query attention: wk and wv are narrower than wq
    trainable, _ = trainable_parameters(add_lora(model, targets=targets, r=r))
    assert lora_parameter_count(model.args, targets, r) == trainable > 0


@pytest.mark.parametrize("size, targets", [("7B", ("wq", "wv")), ("7B", ALL), ("small, grouped-query", ALL)])
def test_the_count_from_the_shape_is_peft_s(peft, size, targets):
    transformers = pytest.importorskip("transformers")
    from llama_lab.checkpoint.adapter import HF_MODULES
    from llama_lab.checkpoint.hf import args_to_hf_config

    args = LLAMA2_7B if size == "7B" else small_model().args  # 8 query heads sharing 2 key/value heads
    with torch.device("meta"):  # the shapes without the weights
        hf_model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**args_to_hf_config(args, torch.bfloat16)))
    modules = [HF_MODULES[t][1].split(".")[1] for t in targets]  # "wq" -> "q_proj", ...
    trainable, _ = peft.get_peft_model(hf_model, peft.LoraConfig(r=8, target_modules=modules)) \
        .get_nb_trainable_parameters()
    assert lora_parameter_count(args, targets, 8) == trainable
    if size == "7B" and targets == ("wq", "wv"):
        assert trainable == 4_194_304  # what peft prints for Llama-2-7b with q_proj and v_proj at r=8
