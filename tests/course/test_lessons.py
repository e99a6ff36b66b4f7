"""The course's measurements on cases worked by hand."""

import math

import matplotlib
import pytest
import torch

from support import small_model
from llama_lab.generate import generate_tokens
from llama_lab.course.lessons import (distinct_ngram_fraction, greedy_without_cache, induction_scores, plot_head_scores,
                                      plot_samplers, previous_token_scores, repeated_random_tokens, rotary_score, tokens_per_second,
                                      tokens_per_word, top_heads)

matplotlib.use("Agg")


def _one_hot_rows(targets, T):
    """(T, T) attention in which query i looks only at key targets[i]."""
    probs = torch.zeros(T, T)
    probs[torch.arange(T), torch.tensor(targets)] = 1.0
    return probs


def _uniform_causal(T):
    return torch.ones(T, T).tril() / torch.arange(1, T + 1)[:, None]


def test_previous_token_scores_on_hand_made_heads():
    T = 6
    previous = _one_hot_rows([0, 0, 1, 2, 3, 4], T)
    self_attn = _one_hot_rows(list(range(T)), T)
    uniform = _uniform_causal(T)
    layer0 = torch.stack([previous, self_attn])[None]  # (B=1, H=2, T, T)
    layer1 = torch.stack([uniform, previous])[None]
    scores = previous_token_scores([layer0, layer1])
    expected_uniform = sum(1 / (i + 1) for i in range(1, T)) / (T - 1)
    assert torch.allclose(scores, torch.tensor([[1.0, 0.0], [expected_uniform, 1.0]]))


def test_previous_token_scores_average_over_batch():
    T = 4
    a, b = _one_hot_rows([0, 0, 1, 2], T), _one_hot_rows([0, 1, 2, 3], T)
    scores = previous_token_scores([torch.stack([a, b])[:, None]])  # (B=2, H=1, T, T)
    assert scores.shape == (1, 1) and math.isclose(float(scores), 0.5)


def test_induction_scores_on_hand_made_heads():
    period = 3  # BOS r1 r2 r3 r1 r2 r3 at positions 0..6; the second copy is 4, 5, 6
    T = 1 + 2 * period
    # An induction head: at 4 (r1) look at 2 (r2, what followed r1 last time), at 5 look at 3, at 6 look at 4.
    induction = _one_hot_rows([0, 0, 0, 0, 2, 3, 4], T)
    # A "duplicate token" head looks at the earlier copy of itself (t - period): it is not an induction head.
    duplicate = _one_hot_rows([0, 0, 0, 0, 1, 2, 3], T)
    half = 0.5 * induction + 0.5 * duplicate
    scores = induction_scores([torch.stack([induction, duplicate, half])[None]], period)
    assert torch.allclose(scores, torch.tensor([[1.0, 0.0, 0.5]]))


def test_induction_scores_need_a_second_copy():
    with pytest.raises(ValueError, match="second copy"):
        induction_scores([torch.ones(1, 1, 3, 3) / 3], period=3)


def test_scores_need_attention():
    with pytest.raises(ValueError, match="return_attention=True"):
        previous_token_scores([None])


def test_top_heads():
    scores = torch.tensor([[0.1, 0.9], [0.5, 0.2], [0.95, 0.0]])
    assert [(l, h) for l, h, _ in top_heads(scores, 3)] == [(2, 0), (0, 1), (1, 0)]
    assert math.isclose(top_heads(scores, 1)[0][2], 0.95, rel_tol=1e-6)


def test_repeated_random_tokens():
    tokens = repeated_random_tokens(vocab_size=50, period=10, bos_id=1, batch_size=2, seed=3)
    assert tokens.shape == (2, 21)
    assert (tokens[:, 0] == 1).all() and torch.equal(tokens[:, 1:11], tokens[:, 11:])
    assert tokens[:, 1:].min() >= 3 and tokens.max() < 50
    assert torch.equal(tokens, repeated_random_tokens(50, 10, 1, 2, seed=3))


def test_rotary_score_depends_only_on_offset():
    torch.manual_seed(0)
    q, k = torch.randn(16), torch.randn(16)
    base = rotary_score(q, k, 5, 2)
    for shift in (1, 10, 300):
        assert math.isclose(rotary_score(q, k, 5 + shift, 2 + shift), base, rel_tol=1e-4, abs_tol=1e-4)
    assert math.isclose(rotary_score(q, k, 0, 0), float(q @ k), rel_tol=1e-5)  # position 0: no rotation
    assert not math.isclose(rotary_score(q, k, 5, 2), rotary_score(q, k, 5, 4), rel_tol=1e-3)


def test_distinct_ngram_fraction():
    assert distinct_ngram_fraction([5, 6, 5, 6, 5, 6], n=2) == 2 / 5
    assert distinct_ngram_fraction([1, 2, 3, 4], n=2) == 1.0
    with pytest.raises(ValueError, match="no 3-gram"):
        distinct_ngram_fraction([1, 2], n=3)


def test_greedy_without_cache_matches_cached_decoding():
    model = small_model()
    prompt = [1, 17, 42, 5, 99]
    cached = generate_tokens(model, [prompt], 20, temperature=0, eos_id=None)[0]
    assert greedy_without_cache(model, prompt, 20) == cached


def test_tokens_per_second(monkeypatch):
    import llama_lab.course.lessons as lessons

    clock = [0.0]  # a clock that moves only when decode runs: 0.5 s, 0.2 s, then 0.4 s
    monkeypatch.setattr(lessons.time, "perf_counter", lambda: clock[0])
    durations = iter([0.5, 0.2, 0.4])

    def decode():
        clock[0] += next(durations)

    rate = tokens_per_second(decode, n_tokens=10, repeats=3)
    assert rate == pytest.approx(10 / 0.2)  # the best of the three runs


def test_tokens_per_word():
    class Chars:  # one token per character, no BOS
        def encode(self, text, bos=False):
            return list(text)
    assert tokens_per_word(Chars(), ["ab cd", "efg"]) == 8 / 3
    with pytest.raises(ValueError, match="no words"):
        tokens_per_word(Chars(), ["  "])


def test_plot_head_scores_has_title_and_labels():
    fig = plot_head_scores(torch.rand(2, 3), "scores", label="mean attention")
    ax = fig.axes[0]  # then its colour bar
    assert ax.get_title() == "scores" and ax.get_xlabel() == "head" and ax.get_ylabel() == "layer"
    assert len(ax.texts) == 6  # every cell annotated
    matplotlib.pyplot.close("all")


def test_one_panel_plots_draw_into_a_given_axes_and_return_its_figure():
    from llama_lab.course import family, probes, safety

    fig, axes = matplotlib.pyplot.subplots(2, 3)
    drawn = [plot_head_scores(torch.rand(2, 3), "scores", ax=axes[0, 0]),
             safety.plot_bars({"a": 10.0, "b": 20.0}, "bars", "%", ax=axes[0, 1]),
             safety.plot_system_attention([0.2, 0.1], [0.3, 0.2], ax=axes[0, 2]),
             probes.plot_probe_accuracy([0.5, 0.9], ax=axes[1, 0]),
             probes.plot_lens({"harmful": torch.rand(4, 3)}, "I", ax=axes[1, 1]),
             family.plot_kv_cache(ax=axes[1, 2])]
    assert all(f is fig for f in drawn)
    assert all(ax.get_title() and ax.get_ylabel() for ax in axes.flat)  # (bars are named on their axis)
    matplotlib.pyplot.close("all")


def test_plot_samplers_draws_one_panel_per_sampler():
    class Pieces:
        def id_to_piece(self, i):
            return f"p{i}"
    probs = torch.softmax(torch.randn(30), -1)
    fig = plot_samplers(probs, {"T = 1": probs, "greedy": torch.nn.functional.one_hot(probs.argmax(), 30)},
                        Pieces(), k=5)
    visible = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in visible] == ["T = 1", "greedy"]
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in visible)
    assert visible[0].get_xticklabels()[0].get_text() == f"p{int(probs.argmax())}"
    matplotlib.pyplot.close("all")
