"""The model's own guarantees: presets, the KV cache, both attention paths, residual capture, dtypes."""

import pytest
import torch

from support import small_model
from llama_lab import LLAMA2_13B, LLAMA2_70B, LLAMA2_7B, ModelArgs
from llama_lab.model import KVCache, RMSNorm, apply_rotary_emb, build_model, rope_tables


@pytest.mark.parametrize("args, expected", [(LLAMA2_7B, 6_738_415_616), (LLAMA2_13B, 13_015_864_320),
                                            (LLAMA2_70B, 68_976_648_192)])
def test_preset_parameter_counts_on_the_meta_device(args, expected):
    model = build_model(args, device="meta")
    assert model.num_parameters() == expected
    assert model.tok_embeddings.weight.device.type == "meta"


def test_device_and_dtype_are_the_weights():
    model = build_model(ModelArgs(dim=32, n_layers=1, n_heads=4, vocab_size=64, max_seq_len=16), dtype=torch.bfloat16)
    assert model.device == torch.device("cpu") and model.dtype == torch.bfloat16
    meta = build_model(LLAMA2_7B, device="meta")
    assert meta.device.type == "meta" and meta.dtype == torch.float32


def test_presets_follow_the_model_card():
    assert [a.max_seq_len for a in (LLAMA2_7B, LLAMA2_13B, LLAMA2_70B)] == [4096] * 3
    assert [a.vocab_size for a in (LLAMA2_7B, LLAMA2_13B, LLAMA2_70B)] == [32000] * 3
    assert (LLAMA2_7B.kv_heads, LLAMA2_13B.kv_heads, LLAMA2_70B.kv_heads) == (32, 40, 8)
    # Meta's hidden-size rule gives the intermediate sizes of the released checkpoints
    assert (LLAMA2_7B.hidden_dim, LLAMA2_13B.hidden_dim, LLAMA2_70B.hidden_dim) == (11008, 13824, 28672)


def test_bad_model_args_are_explained():
    with pytest.raises(ValueError, match="not a multiple of n_kv_heads"):
        ModelArgs(dim=64, n_heads=8, n_kv_heads=3)
    with pytest.raises(ValueError, match="not divisible by n_heads"):
        ModelArgs(dim=65, n_heads=8)


SMALL_ARGS = dict(dim=64, n_layers=1, n_heads=4, vocab_size=50, multiple_of=16, max_seq_len=32)


@pytest.mark.parametrize("change, message", [
    ({"norm_eps": "1e-5"}, r"norm_eps='1e-5': give a positive finite number"),
    ({"norm_eps": 0.0}, r"norm_eps=0.0: give a positive finite number"),
    ({"rope_theta": float("inf")}, r"rope_theta=inf: give a positive finite number"),
    ({"ffn_dim_multiplier": True}, r"ffn_dim_multiplier=True: give a positive finite number"),
    ({"vocab_size": 32000.0}, r"vocab_size=32000.0 must be a whole number"),
    ({"dim": True}, r"dim=True: each must be a positive whole number"),
])
def test_model_args_of_the_wrong_type_are_refused_when_made(change, message):
    """A str or a bool where a number belongs would fail later (RMSNorm adds norm_eps at the first forward pass;
    Python reads True as 1): refused at once, by name."""
    with pytest.raises(ValueError, match=r"^invalid ModelArgs: " + message):
        ModelArgs(**{**SMALL_ARGS, **change})


def test_numbers_of_numpy_are_numbers():
    import numpy as np
    args = ModelArgs(**{**SMALL_ARGS, "norm_eps": np.float32(1e-5), "rope_theta": np.float64(1e4),
                        "ffn_dim_multiplier": 1})
    model = build_model(args)
    assert model(torch.tensor([[1, 2, 3]])).isfinite().all()


def test_rmsnorm_by_hand():
    norm = RMSNorm(4, eps=0.0)
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    rms = (30 / 4) ** 0.5
    torch.testing.assert_close(norm(x), x / rms)


def test_rmsnorm_computes_in_float32():
    norm = RMSNorm(8).to(torch.bfloat16)
    x = (torch.randn(2, 8) * 300).to(torch.bfloat16)
    expected = (x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + 1e-5)).to(torch.bfloat16)
    assert torch.equal(norm(x), expected)


def test_rotary_scores_depend_only_on_relative_position():
    cos, sin = rope_tables(16, 64)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)

    def score(m, n):
        qm = apply_rotary_emb(q, cos[m:m + 1], sin[m:m + 1])
        kn = apply_rotary_emb(k, cos[n:n + 1], sin[n:n + 1])
        return (qm * kn).sum()

    torch.testing.assert_close(score(5, 2), score(40, 37))
    assert not torch.allclose(score(5, 2), score(5, 3))


def test_rotary_rotates_interleaved_pairs():
    cos, sin = rope_tables(4, 8)
    x = torch.tensor([1.0, 0.0, 0.0, 1.0]).view(1, 1, 1, 4)
    out = apply_rotary_emb(x, cos[1:2], sin[1:2]).flatten()
    # position 1: pair 0 turns by 1 rad, pair 1 by 1/100 rad (theta^(-2/4) = 0.01)
    expected = torch.tensor([torch.cos(torch.tensor(1.0)), torch.sin(torch.tensor(1.0)),
                             -torch.sin(torch.tensor(0.01)), torch.cos(torch.tensor(0.01))])
    torch.testing.assert_close(out, expected)


def test_kv_cache_decoding_equals_full_recompute(model):
    tokens = torch.randint(0, 101, (2, 20), generator=torch.Generator().manual_seed(0))
    full = model(tokens)
    cache = model.new_cache(batch_size=2, max_seq_len=32)
    pieces = [model(tokens[:, :7], start_pos=0, cache=cache)]  # prefill 7 tokens
    for pos in range(7, 20):  # then one token at a time
        pieces.append(model(tokens[:, pos:pos + 1], start_pos=pos, cache=cache))
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


def test_both_attention_paths_agree(model):
    tokens = torch.randint(0, 101, (3, 17), generator=torch.Generator().manual_seed(1))
    fused = model(tokens)
    explicit, attentions = model(tokens, return_attention=True)
    torch.testing.assert_close(explicit, fused, atol=1e-5, rtol=1e-5)
    assert len(attentions) == model.args.n_layers
    probs = attentions[0]
    assert probs.shape == (3, 8, 17, 17)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3, 8, 17))
    assert torch.all(probs.triu(diagonal=1) == 0)  # causal: nothing attends to the future


def test_attention_paths_agree_with_a_cache(model):
    tokens = torch.randint(0, 101, (1, 12), generator=torch.Generator().manual_seed(2))
    c1, c2 = model.new_cache(1, 16), model.new_cache(1, 16)
    model(tokens[:, :8], cache=c1)
    model(tokens[:, :8], cache=c2, return_attention=True)
    fused = model(tokens[:, 8:], start_pos=8, cache=c1)
    explicit, attentions = model(tokens[:, 8:], start_pos=8, cache=c2, return_attention=True)
    torch.testing.assert_close(explicit, fused, atol=1e-5, rtol=1e-5)
    assert attentions[0].shape == (1, 8, 4, 12)


def test_gqa_shares_kv_heads_like_repeated_mha():
    """A GQA model equals an MHA model whose key/value heads are copies, shared by consecutive query heads."""
    gqa = small_model(n_kv_heads=2)
    mha = small_model(n_kv_heads=8)
    state = gqa.state_dict()
    for i in range(gqa.args.n_layers):
        for name in ("wk", "wv"):
            w = state[f"layers.{i}.attention.{name}.weight"].view(2, 8, 64)  # (Hkv, hd, D)
            state[f"layers.{i}.attention.{name}.weight"] = w.repeat_interleave(4, dim=0).reshape(64, 64)
    mha.load_state_dict(state)
    tokens = torch.randint(0, 101, (1, 10), generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(mha(tokens), gqa(tokens), atol=1e-5, rtol=1e-5)


def test_too_long_input_is_refused(model):
    with pytest.raises(ValueError, match="do not fit"):
        model(torch.zeros(1, 97, dtype=torch.long))
    cache = model.new_cache(1, 8)
    with pytest.raises(ValueError, match="cache"):
        model(torch.zeros(1, 9, dtype=torch.long), cache=cache)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_runs_close_to_float32(dtype):
    model = small_model()
    tokens = torch.randint(0, 101, (1, 16), generator=torch.Generator().manual_seed(5))
    reference = model(tokens)
    half = small_model().to(dtype)
    out = half(tokens)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert (out.argmax(-1) == reference.argmax(-1)).float().mean() > 0.8


def test_kv_cache_shape():
    args = ModelArgs(dim=64, n_layers=3, n_heads=8, n_kv_heads=2, vocab_size=10)
    cache = KVCache(args, batch_size=4, max_seq_len=32)
    assert cache.k.shape == (3, 4, 2, 32, 8)  # only the KV heads are stored: GQA's memory saving


def _loss_and_grads(model, tokens):
    model.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(tokens[:, :-1]).flatten(0, 1), tokens[:, 1:].flatten())
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def test_gradient_checkpointing_gives_the_same_loss_and_gradients_recomputing_each_block():
    model = small_model().train()
    tokens = torch.randint(0, 101, (2, 40), generator=torch.Generator().manual_seed(0))
    loss, grads = _loss_and_grads(model, tokens)
    calls = []
    # a pre-hook: the recomputation may stop as soon as it has what backward needs, before a block's end
    hooks = [layer.register_forward_pre_hook(lambda *_, i=i: calls.append(i)) for i, layer in enumerate(model.layers)]
    model.gradient_checkpointing = True
    checkpointed_loss, checkpointed_grads = _loss_and_grads(model, tokens)
    assert calls == [0, 1, 2, 2, 1, 0]  # forward, then each block again as backward reaches it
    assert torch.allclose(checkpointed_loss, loss, rtol=1e-6, atol=0)
    assert grads.keys() == checkpointed_grads.keys() and len(grads) == len(list(model.parameters()))
    for name, grad in grads.items():
        assert torch.allclose(checkpointed_grads[name], grad, rtol=1e-5, atol=1e-7), name
    calls.clear()
    with torch.no_grad():  # nothing to recompute for: the blocks run once
        model(tokens)
    assert calls == [0, 1, 2]
    for hook in hooks:
        hook.remove()


def test_gradient_checkpointing_with_lora_on_an_nf4_base():
    from llama_lab.lora import add_lora
    from llama_lab.quantize import quantize_model

    model = add_lora(quantize_model(small_model(multiple_of=64), "nf4"), targets=("wq", "wv", "w2"), seed=0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.1, generator=torch.Generator().manual_seed(1))
    tokens = torch.randint(0, 101, (2, 40), generator=torch.Generator().manual_seed(0))
    loss, grads = _loss_and_grads(model, tokens)
    model.gradient_checkpointing = True
    checkpointed_loss, checkpointed_grads = _loss_and_grads(model, tokens)
    assert torch.allclose(checkpointed_loss, loss, rtol=1e-6, atol=0) and grads.keys() == checkpointed_grads.keys()
    assert len(grads) == 2 * 3 * 3  # A and B of three projections in three blocks: the base gets none
    for name, grad in grads.items():
        assert torch.allclose(checkpointed_grads[name], grad, rtol=1e-5, atol=1e-7), name
