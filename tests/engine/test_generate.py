"""The sampler and the decode loop: hand-worked distributions, batching, seeds, streaming, bad arguments."""

import inspect
import math

import pytest
import torch

from support import REPO, small_model
from llama_lab import generate_tokens
from llama_lab.generate import iter_generate, stream_tokens
from llama_lab import sampling
from llama_lab.sampling import (apply_repetition_penalty, next_token_probs, sample_next_token, sampler_stages,
                                top_k_filter, top_p_filter)


def test_top_p_keeps_the_token_that_crosses_p():
    probs = torch.tensor([[0.5, 0.3, 0.2]])
    torch.testing.assert_close(top_p_filter(probs, 0.6), torch.tensor([[0.625, 0.375, 0.0]]))
    torch.testing.assert_close(top_p_filter(probs, 0.45), torch.tensor([[1.0, 0.0, 0.0]]))
    # Meta's test is strict (mass before > p): at p = 0.5 exactly the second token still gets in
    torch.testing.assert_close(top_p_filter(probs, 0.5), torch.tensor([[0.625, 0.375, 0.0]]))
    torch.testing.assert_close(top_p_filter(probs, 0.81), torch.tensor([[0.5, 0.3, 0.2]]))
    # unsorted input: the filter works on ranks, not positions
    torch.testing.assert_close(top_p_filter(torch.tensor([[0.2, 0.5, 0.3]]), 0.6),
                               torch.tensor([[0.0, 0.625, 0.375]]))


def test_top_k_leaves_exactly_k():
    probs = torch.tensor([[0.1, 0.4, 0.2, 0.3]])
    torch.testing.assert_close(top_k_filter(probs, 2), torch.tensor([[0.0, 4 / 7, 0.0, 3 / 7]]))


def test_temperature_by_hand():
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    probs = next_token_probs(logits, temperature=0.5)
    e = [math.exp(4.0), math.exp(2.0), 1.0]
    torch.testing.assert_close(probs, torch.tensor([[x / sum(e) for x in e]]))
    assert torch.equal(next_token_probs(logits, temperature=0), torch.tensor([[1.0, 0.0, 0.0]]))
    sharp, flat = next_token_probs(logits, 0.3), next_token_probs(logits, 3.0)
    assert sharp[0, 0] > probs[0, 0] > flat[0, 0]


def test_the_samplers_stages_by_hand():
    logits = torch.tensor([[0.5, 0.3, 0.2]]).log()  # (1, 3)
    stages = sampler_stages(logits, temperature=1.0, top_k=2, top_p=0.6)
    assert list(stages) == ["temperature", "top-k", "top-p"]  # the order they run in
    torch.testing.assert_close(stages["temperature"], torch.tensor([[0.5, 0.3, 0.2]]))
    torch.testing.assert_close(stages["top-k"], torch.tensor([[0.625, 0.375, 0.0]]))
    torch.testing.assert_close(stages["top-p"], torch.tensor([[1.0, 0.0, 0.0]]))  # 0.625 alone reaches 0.6
    assert list(sampler_stages(logits, 0.7)) == ["temperature"]  # top-k and top-p are off: not stages
    assert list(sampler_stages(logits, 0.7, top_p=0.9)) == ["temperature", "top-p"]
    assert torch.equal(next_token_probs(logits, 1.0, 2, 0.6), stages["top-p"])


def test_without_top_k_the_sampler_is_metas_temperature_then_top_p():
    """Meta's Llama 2 `generate`: softmax(logits / T), then `sample_top_p`; no top-k, no repetition penalty. The
    kit's defaults are Meta's (T 0.6, top_p 0.9, both off), and with them its stages are Meta's two, in Meta's
    order. Worked by hand: probs [0.5, 0.3, 0.2] at T = 2 are proportional to their square roots, [0.416, 0.322,
    0.263]; top-p 0.45 keeps the first two (0.416 before the second, 0.737 before the third): [0.5635, 0.4365, 0].
    Top-p first would keep the first token alone (0.5 before the second), so the order matters."""
    for function in (generate_tokens, iter_generate):
        defaults = {name: p.default for name, p in inspect.signature(function).parameters.items()}
        assert (defaults["temperature"], defaults["top_p"], defaults["top_k"], defaults["repetition_penalty"]) == \
            (0.6, 0.9, None, 1.0)
    logits = torch.tensor([[0.5, 0.3, 0.2]]).log()
    stages = sampler_stages(logits, temperature=2.0, top_p=0.45)
    assert list(stages) == ["temperature", "top-p"]
    roots = [math.sqrt(0.5), math.sqrt(0.3), math.sqrt(0.2)]
    torch.testing.assert_close(stages["temperature"], torch.tensor([[r / sum(roots) for r in roots]]))
    kept = roots[0] + roots[1]
    torch.testing.assert_close(stages["top-p"], torch.tensor([[roots[0] / kept, roots[1] / kept, 0.0]]))
    torch.testing.assert_close(next_token_probs(logits, 2.0, None, 0.45), stages["top-p"])
    top_p_first = next_token_probs(top_p_filter(logits.softmax(-1), 0.45).log(), 2.0)
    torch.testing.assert_close(top_p_first, torch.tensor([[1.0, 0.0, 0.0]]))


def test_sampling_draws_from_next_token_probs_as_the_module_has_it(monkeypatch):
    """The grader swaps sampling.next_token_probs for a learner's: sample_next_token must use whichever is there."""
    monkeypatch.setattr(sampling, "next_token_probs", lambda logits, *settings: torch.tensor([[0.0, 0.0, 1.0]]))
    assert sample_next_token(torch.tensor([[5.0, 0.0, 0.0]]), temperature=1.0).tolist() == [2]


def test_repetition_penalty_as_ctrl():
    logits = torch.tensor([[2.0, -2.0, 1.0]])
    seen = torch.tensor([[True, True, False]])
    torch.testing.assert_close(apply_repetition_penalty(logits, seen, 2.0), torch.tensor([[1.0, -4.0, 1.0]]))


def test_sampling_follows_the_distribution():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]])).expand(20000, 3)
    draws = sample_next_token(logits, temperature=1.0, top_p=1.0, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=3).float() / 20000
    torch.testing.assert_close(freq, torch.tensor([0.7, 0.2, 0.1]), atol=0.015, rtol=0)


@pytest.mark.parametrize("options, message", [
    (dict(temperature=-0.1), "temperature"), (dict(top_p=0.0), "top_p"), (dict(top_p=1.5), "top_p"),
    (dict(top_k=0), "top_k"), (dict(repetition_penalty=0), "repetition_penalty"),
    (dict(max_new_tokens=-1), "max_new_tokens"),
    # what a slip in a notebook hands over: a bool is an int to Python, a str is no number, NaN compares False
    (dict(top_k=True), "top_k=True"), (dict(top_k=2.5), "top_k"), (dict(top_k="5"), "top_k"),
    (dict(temperature="0.7"), "temperature"), (dict(temperature=float("nan")), "temperature"),
    (dict(top_p=True), "top_p"), (dict(repetition_penalty=None), "repetition_penalty"),
])
def test_bad_arguments_say_which(model, options, message):
    options = {"max_new_tokens": 5, **options}
    with pytest.raises(ValueError, match=message):
        generate_tokens(model, [[1, 2, 3]], **options)


def test_prompt_longer_than_context(model):
    with pytest.raises(ValueError, match="context is 96"):
        generate_tokens(model, [[1] * 96], max_new_tokens=1)
    with pytest.raises(ValueError, match="list of token-id lists"):
        generate_tokens(model, torch.tensor([[1, 2]]), max_new_tokens=1)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        generate_tokens(model, [[1, 500]], max_new_tokens=1)


def test_batch_of_different_lengths_gives_what_each_gives_alone(model):
    prompts = [[1, 5, 9], [1, 7, 3, 8, 20, 11, 4], [1, 40]]
    alone = [generate_tokens(model, [p], max_new_tokens=12, temperature=0, eos_id=None)[0] for p in prompts]
    together = generate_tokens(model, prompts, max_new_tokens=12, temperature=0, eos_id=None)
    assert together == alone
    assert all(len(t) == 12 for t in together)


def test_greedy_equals_argmax_of_full_recompute(model):
    prompt = [1, 17, 33, 8]
    new = generate_tokens(model, [prompt], max_new_tokens=10, temperature=0, eos_id=None)[0]
    sequence = list(prompt)
    for _ in range(10):
        sequence.append(int(model(torch.tensor([sequence]))[0, -1].argmax()))
    assert new == sequence[len(prompt):]


def test_seed_makes_sampling_reproducible(model):
    a = generate_tokens(model, [[1, 2, 3]], max_new_tokens=20, temperature=1.0, top_p=1.0, seed=7, eos_id=None)
    b = generate_tokens(model, [[1, 2, 3]], max_new_tokens=20, temperature=1.0, top_p=1.0, seed=7, eos_id=None)
    c = generate_tokens(model, [[1, 2, 3]], max_new_tokens=20, temperature=1.0, top_p=1.0, seed=8, eos_id=None)
    assert a == b and a != c


def test_stops_at_eos_and_stop_ids(model):
    prompt = [[1, 17, 33, 8]]
    free = generate_tokens(model, prompt, max_new_tokens=10, temperature=0, eos_id=None)[0]
    stop = free[4]
    cut = generate_tokens(model, prompt, max_new_tokens=10, temperature=0, eos_id=None, stop_ids=[stop])[0]
    assert cut == free[:free.index(stop)]
    assert generate_tokens(model, prompt, max_new_tokens=10, temperature=0, eos_id=stop)[0] == cut


def test_logprobs_are_the_models_own(model):
    prompt = [1, 4, 9]
    tokens, logprobs = generate_tokens(model, [prompt], max_new_tokens=5, temperature=1.0, seed=1, eos_id=None,
                                       return_logprobs=True)
    with torch.no_grad():
        full = torch.log_softmax(model(torch.tensor([prompt + tokens[0]])), dim=-1)[0]
    expected = [float(full[len(prompt) - 1 + j, t]) for j, t in enumerate(tokens[0])]
    assert logprobs[0] == pytest.approx(expected, abs=1e-4)


def test_streaming_yields_the_same_tokens(model):
    streamed = list(stream_tokens(model, [1, 2, 3], 15, temperature=0.8, seed=3, eos_id=None))
    assert streamed == generate_tokens(model, [[1, 2, 3]], 15, temperature=0.8, seed=3, eos_id=None)[0]
    steps = iter_generate(model, [[1, 2, 3]], 15, temperature=0, eos_id=None)
    first = next(steps)
    steps.close()  # a consumer can stop early (the playground's Stop button)
    [greedy], [logprobs] = generate_tokens(model, [[1, 2, 3]], 15, temperature=0, eos_id=None, return_logprobs=True)
    token, logprob = first[0]  # the first step: the greedy first token and its log-probability
    assert token == greedy[0] and logprob == pytest.approx(logprobs[0], abs=1e-5)


def test_a_sampling_int_from_numpy_or_torch_is_an_int(model):
    import numpy as np
    drawn = [generate_tokens(model, [[1, 2, 3]], 4, temperature=1.0, top_k=top_k, seed=0)[0]
             for top_k in (np.int64(3), 3)]
    assert drawn[0] == drawn[1] and 1 <= len(drawn[0]) <= 4  # numpy's 3 draws exactly what Python's 3 draws


def test_continuations_keep_their_leading_space_as_sentencepiece_decodes_the_whole():
    """prompt + generate(...) must read as SentencePiece decodes the prompt's and the new ids together; Meta's
    decode of the new ids alone drops the space that starts them ("Once upon a time" + "there was...")."""
    import sentencepiece as spm
    from llama_lab import generate
    from llama_lab.generate import stream
    from llama_lab.world.tiny import load_tiny
    model, tokenizer = load_tiny("base")
    reference = spm.SentencePieceProcessor(model_file=str(tokenizer.path))
    prompts = ["Not long ago, in a town called Honeydale,", "Ada lived in", "Café 🙂"]
    texts = generate(model, tokenizer, prompts, max_new_tokens=12, temperature=0.9, seed=1)
    ids = generate_tokens(model, [tokenizer.encode(p) for p in prompts], 12, temperature=0.9, seed=1)
    for prompt, text, new in zip(prompts, texts, ids):
        assert prompt + text == reference.decode(reference.encode(prompt) + new)
    assert texts[0].startswith(" ")  # the first new piece is a word: its space is there
    streamed = "".join(stream(model, tokenizer, prompts[0], max_new_tokens=12, temperature=0.9, seed=1))
    # the same prompt alone (in a batch of three its logits differ in the last bits, which can tip a sampled token)
    assert streamed == generate(model, tokenizer, prompts[:1], max_new_tokens=12, temperature=0.9, seed=1)[0]
    hello = tokenizer.encode("Hello there", bos=False)
    assert tokenizer.decode_continuation([tokenizer.bos_id], hello) == "Hello there"  # nothing before: a text's start
    assert tokenizer.decode_continuation(tokenizer.encode("Ada said"), hello) == " Hello there"
    assert tokenizer.decode_continuation(tokenizer.encode("Hi"), []) == ""


def test_text_generation_with_a_real_tokenizer(llama2_tokenizer):
    from llama_lab import generate
    from llama_lab.generate import stream
    model = small_model(vocab_size=32000)
    [text] = generate(model, llama2_tokenizer, ["Once upon a time"], max_new_tokens=8, temperature=0)
    pieces = list(stream(model, llama2_tokenizer, "Once upon a time", max_new_tokens=8, temperature=0))
    assert "".join(pieces) == text
    with pytest.raises(ValueError, match="list of strings"):
        generate(model, llama2_tokenizer, "Once upon a time")


def test_the_text_stream_is_at_the_top_level_beside_generate():
    """`ll.stream`, as notebook 03 uses it from llama_lab.generate."""
    import llama_lab as ll
    from llama_lab.generate import stream
    assert ll.stream is stream and "stream" in ll.__all__


@pytest.fixture(scope="module")
def kit_tokenizer():
    from llama_lab import Tokenizer
    return Tokenizer(REPO / "data" / "tokenizer.model")


@pytest.mark.parametrize("seed", ["42", 1.5, True, float("nan"), 2**64, [1], torch.tensor(True)])
def test_every_function_that_takes_a_seed_refuses_one_that_is_not_a_whole_number(seed, kit_tokenizer):
    """generate_tokens, iter_generate, stream_tokens, stream, generate, chat and init_weights all check a seed in
    one place (llama_lab.seeds), before any token is drawn, with torch's range; a bool is no seed (True would seed
    with 1 unnoticed)."""
    from llama_lab import generate
    from llama_lab.chat import chat
    from llama_lab.generate import stream
    from llama_lab.model import init_weights

    model = small_model(vocab_size=kit_tokenizer.n_words)
    calls = {
        "generate_tokens": lambda: generate_tokens(model, [[1, 2, 3]], 4, seed=seed),
        "iter_generate": lambda: next(iter_generate(model, [[1, 2, 3]], 4, seed=seed)),
        "stream_tokens": lambda: next(stream_tokens(model, [1, 2, 3], 4, seed=seed)),
        "stream": lambda: next(stream(model, kit_tokenizer, "Ada", 4, seed=seed)),
        "generate": lambda: generate(model, kit_tokenizer, ["Ada"], 4, seed=seed),
        "chat": lambda: chat(model, kit_tokenizer, [{"role": "user", "content": "Hi"}], 4, seed=seed),
        "init_weights": lambda: init_weights(model, seed=seed),
        "zero new tokens": lambda: generate_tokens(model, [[1, 2, 3]], 0, seed=seed),
    }
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hint = ": give seed=42 without the quotes" if seed == "42" else ""
    for name, call in calls.items():
        with pytest.raises(ValueError, match=rf"^seed={seed!r} must be a whole number \(an int, such as 42\) from "
                                             rf"-9223372036854775808 to 18446744073709551615, or None for a "
                                             rf"different draw each time{hint}$".replace("[", r"\[").replace(
                                                 "(True)", r"\(True\)")):
            call()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # init_weights changed nothing


def test_whole_numbers_from_numpy_or_torch_seed_as_the_int_does(model):
    import numpy as np
    from llama_lab.model import init_weights
    draws = [generate_tokens(model, [[1, 2, 3]], 8, temperature=1.0, top_p=1.0, seed=seed, eos_id=None)
             for seed in (7, np.int64(7), torch.tensor(7))]
    assert draws[0] == draws[1] == draws[2]
    assert generate_tokens(model, [[1, 2, 3]], 8, temperature=1.0, seed=-1, eos_id=None) == generate_tokens(
        model, [[1, 2, 3]], 8, temperature=1.0, seed=2**64 - 1, eos_id=None)  # torch reads -1 as 2**64 - 1
    a, b = small_model(seed=0), small_model(seed=0)
    init_weights(a, seed=np.int64(3))
    init_weights(b, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
