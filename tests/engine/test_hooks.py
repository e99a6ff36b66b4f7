"""The residual stream read and edited through hooks, checked against the model's own modules and by hand.

Numbering: entry 0 is the embeddings, entry i >= 1 the stream leaving block i - 1 (3 blocks: entries 0..3).
"""

import copy

import pytest
import torch

from support import one_thread, small_model  # noqa: F401 (one_thread is autouse)
from llama_lab.hooks import (attention_patterns, capture_residual_stream, edit_residual_stream, logit_lens,
                             residual_stream)

TOKENS = torch.randint(0, 101, (2, 9), generator=torch.Generator().manual_seed(4))  # (B, T)


@pytest.fixture(scope="module")
def model():
    return small_model()  # 3 blocks, D = 64, V = 101


def test_capture_gives_the_embeddings_then_each_blocks_output(model):
    with capture_residual_stream(model) as stream, torch.no_grad():
        logits = model(TOKENS)
    assert sorted(stream) == [0, 1, 2, 3] and stream[3].shape == (2, 9, 64)
    torch.testing.assert_close(stream[0], model.tok_embeddings(TOKENS))  # entry 0: the embedding lookup
    torch.testing.assert_close(model.output(model.norm(stream[3])), logits)  # entry n feeds the head
    assert not model.tok_embeddings._forward_hooks and not model.layers[0]._forward_hooks  # gone after the with
    stacked = residual_stream(model, TOKENS)
    assert stacked.shape == (4, 2, 9, 64)
    torch.testing.assert_close(stacked, torch.stack([stream[i] for i in range(4)]))
    torch.testing.assert_close(residual_stream(model, TOKENS.tolist()), stacked)  # lists of ids work too


def test_the_last_entry_through_the_lens_is_the_models_own_logits(model):
    stream = residual_stream(model, TOKENS)  # (4, B, T, D)
    lens = logit_lens(model, stream)
    assert lens.shape == (4, 2, 9, 101) and lens.dtype == torch.float32
    with torch.no_grad():
        torch.testing.assert_close(lens[-1], model(TOKENS))
        embeddings = model.tok_embeddings(TOKENS[0, -1])  # (D,)
        torch.testing.assert_close(lens[0, 0, -1], model.output(model.norm(embeddings)))
    assert logit_lens(model, stream[:, 0, -1]).shape == (4, 101)  # one position, every entry


def test_zeroing_the_stream_leaving_a_block_changes_the_logits(model):
    with torch.no_grad():
        logits = model(TOKENS)
        for k in range(3):  # the stream leaving block k is entry k + 1
            with edit_residual_stream(model, lambda i, h: h * 0, layers=[k + 1]), \
                    capture_residual_stream(model) as stream:
                zeroed = model(TOKENS)
            assert torch.count_nonzero(stream[k + 1]) == 0
            assert not torch.allclose(zeroed, logits)
        # the last entry zeroed: RMSNorm of 0 is 0, so the head sees zeros
        torch.testing.assert_close(zeroed, model.output(torch.zeros(2, 9, 64)))
        torch.testing.assert_close(model(TOKENS), logits)  # and the hooks are gone


def test_edits_get_the_stream_index_and_act_where_it_says(model):
    seen = []
    with edit_residual_stream(model, lambda i, h: seen.append(i) or h), torch.no_grad():
        model(TOKENS)
    assert seen == [0, 1, 2, 3]  # None edits every entry, in the order the model writes them

    d = torch.randn(64, generator=torch.Generator().manual_seed(1))
    plain = residual_stream(model, TOKENS)
    with edit_residual_stream(model, lambda i, h: h + i * d, layers=[2]):
        steered = residual_stream(model, TOKENS)
    torch.testing.assert_close(steered[:2], plain[:2])  # before the edit: untouched
    torch.testing.assert_close(steered[2], plain[2] + 2 * d)  # by hand: h + i d at i = 2
    assert not torch.allclose(steered[3], plain[3])  # block 2 read the edited stream

    # by hand: adding d to entry 0 is a model whose every embedding row has d added
    shifted = copy.deepcopy(model)
    with torch.no_grad():
        shifted.tok_embeddings.weight += d
        with edit_residual_stream(model, lambda i, h: h + d, layers=[0]):
            torch.testing.assert_close(model(TOKENS), shifted(TOKENS))

    with edit_residual_stream(model, lambda i, h: h + d, layers=[3]), torch.no_grad():
        torch.testing.assert_close(model(TOKENS), model.output(model.norm(plain[3] + d)))


def test_an_index_outside_the_stream_is_refused_with_the_range(model):
    for wrong in ([4], [-1], [1.0]):
        with pytest.raises(ValueError, match=r"indices 0 \(the embeddings\) to 3") as error:
            with edit_residual_stream(model, lambda i, h: h, layers=wrong):
                pass
        assert str(wrong[0]) in str(error.value)
    assert not model.layers[0]._forward_hooks


def test_attention_patterns_are_the_models_own_and_stop_early(model):
    ids = TOKENS[0].tolist()
    with torch.no_grad():
        _, attentions = model(torch.tensor([ids]), return_attention=True)
    patterns = attention_patterns(model, ids)
    assert sorted(patterns) == [0, 1, 2]
    for block, probs in patterns.items():
        torch.testing.assert_close(probs, attentions[block][0])  # (H, T, T)
    assert sorted(attention_patterns(model, ids, n_layers=1)) == [0]
    assert not any(layer._forward_hooks for layer in model.layers)


def test_residual_stream_asks_for_a_batch(model):
    """A flat list of ids is one sequence, not a batch: the error says to wrap it, and the wrapped list works."""
    ids = TOKENS[0].tolist()
    with pytest.raises(ValueError, match=r"shape \(9,\), a single sequence.*\[ids\].*tokens\[None\]"):
        residual_stream(model, ids)
    with pytest.raises(ValueError, match=r"tokens\[None\]"):
        residual_stream(model, TOKENS[0])
    torch.testing.assert_close(residual_stream(model, [ids]), residual_stream(model, TOKENS)[:, :1])
    with pytest.raises(ValueError, match="rows of equal length"):
        residual_stream(model, [ids, ids[:4]])
    with pytest.raises(ValueError, match=r"shape \(1, 2, 9\)"):
        residual_stream(model, TOKENS[None])
    with pytest.raises(ValueError, match="torch.float32: give integer token ids"):
        residual_stream(model, TOKENS.float())
