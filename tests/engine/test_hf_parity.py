"""The kit's Llama against Hugging Face transformers' LlamaForCausalLM, weight for weight."""

import json
import random

import pytest
import torch
from safetensors.torch import load_file, save_file

transformers = pytest.importorskip("transformers")

from llama_lab import (CheckpointError, Llama, ModelArgs, Tokenizer, generate_tokens, load_model,  # noqa: E402
                       save_model)
from llama_lab.sampling import next_token_probs, top_k_filter, top_p_filter  # noqa: E402
from support import REPO, llama2_tokenizer_file  # noqa: E402

CONFIGS = {
    "gqa": dict(hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=8,
                num_key_value_heads=2, vocab_size=212),
    "mha": dict(hidden_size=48, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
                num_key_value_heads=4, vocab_size=98),
}


def make_hf_model(kind: str, seed: int = 0):
    config = transformers.LlamaConfig(**CONFIGS[kind], max_position_embeddings=128, rms_norm_eps=1e-5,
                                      rope_theta=10000.0, initializer_range=0.2, tie_word_embeddings=False,
                                      bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(config).float().eval()
    with torch.no_grad():  # norms start at 1 in HF: give them real values so a swapped norm is noticed
        for name, p in model.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
    return model


def random_tokens(vocab: int, shape=(2, 23), seed: int = 1):
    return torch.randint(3, vocab, shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(params=["gqa", "mha"])
def hf_pair(request, tmp_path):
    hf = make_hf_model(request.param)
    hf.save_pretrained(tmp_path / "hf")
    ours = load_model(tmp_path / "hf", dtype=torch.float32)
    return hf, ours, request.param


def test_the_sampler_draws_from_what_transformers_generate_draws_from():
    """Temperature, then top-k, then top-p: the kit's order is Hugging Face's (Meta's Llama 2 `generate` has no
    top-k). transformers' `generate` returns the logits and the scores it samples from (after its processors);
    their softmax must be the kit's next_token_probs of the logits. Top-p before top-k leaves another distribution
    here, so the order is what is tested."""
    hf = make_hf_model("gqa")
    tokens = random_tokens(hf.config.vocab_size, shape=(1, 9))
    settings = dict(temperature=0.7, top_k=40, top_p=0.6)
    with torch.no_grad():
        out = hf.generate(tokens, attention_mask=torch.ones_like(tokens), do_sample=True, max_new_tokens=1,
                          repetition_penalty=1.0, return_dict_in_generate=True, output_scores=True,
                          output_logits=True, pad_token_id=0, **settings)
    logits, drawn_from = out.logits[0].float(), out.scores[0].float().softmax(-1)
    ours = next_token_probs(logits, **settings)
    torch.testing.assert_close(ours, drawn_from, atol=1e-6, rtol=0)
    assert 1 < int((ours > 0).sum()) < 40  # both filters cut
    tempered = (logits / settings["temperature"]).softmax(-1)
    top_p_first = top_k_filter(top_p_filter(tempered, settings["top_p"]), settings["top_k"])
    assert (top_p_first - ours).abs().max() > 0.01


def test_logits_match_transformers(hf_pair):
    hf, ours, kind = hf_pair
    tokens = random_tokens(hf.config.vocab_size)
    with torch.no_grad():
        expected = hf(tokens).logits
    got = ours(tokens)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    # not trivially equal: logits vary over the vocabulary
    assert expected.std() > 0.1


def test_config_translates_exactly(hf_pair):
    hf, ours, kind = hf_pair
    args = ours.args
    assert args.hidden_dim == hf.config.intermediate_size
    assert args.kv_heads == hf.config.num_key_value_heads
    assert ours.num_parameters() == sum(p.numel() for p in hf.parameters())


def test_meta_format_two_shards_round_trip(hf_pair, tmp_path):
    hf, ours, kind = hf_pair
    save_model(ours, tmp_path / "meta", format="meta", num_shards=2)
    assert sorted(p.name for p in (tmp_path / "meta").iterdir()) == [
        ".llama_lab.json", "consolidated.00.pth", "consolidated.01.pth", "params.json"]
    shard0 = torch.load(tmp_path / "meta" / "consolidated.00.pth", weights_only=True)
    assert shard0["layers.0.attention.wq.weight"].shape[0] == ours.args.dim // 2  # really split
    reloaded = load_model(tmp_path / "meta")
    tokens = random_tokens(hf.config.vocab_size, seed=2)
    with torch.no_grad():
        expected = hf(tokens).logits
    torch.testing.assert_close(reloaded(tokens), expected, atol=1e-4, rtol=0)


def test_kit_format_round_trip(hf_pair, tmp_path):
    hf, ours, kind = hf_pair
    save_model(ours, tmp_path / "kit", format="kit")
    reloaded = load_model(tmp_path / "kit")
    tokens = random_tokens(hf.config.vocab_size, seed=3)
    torch.testing.assert_close(reloaded(tokens), ours(tokens), atol=0, rtol=0)


def test_saved_hf_directory_loads_in_transformers(tmp_path):
    args = ModelArgs(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=150, multiple_of=32, max_seq_len=64)
    torch.manual_seed(0)
    ours = Llama(args)
    with torch.no_grad():
        for p in ours.parameters():
            p.normal_(0, 0.2)
    save_model(ours, tmp_path / "out", format="hf")
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "out", dtype=torch.float32).eval()
    tokens = random_tokens(args.vocab_size, seed=4)
    with torch.no_grad():
        expected = hf(tokens).logits
    torch.testing.assert_close(ours(tokens), expected, atol=1e-4, rtol=0)


def test_greedy_generation_matches_transformers(hf_pair):
    hf, ours, kind = hf_pair
    prompt = random_tokens(hf.config.vocab_size, shape=(1, 7), seed=5)
    with torch.no_grad():
        expected = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=30,
                               do_sample=False, eos_token_id=2, pad_token_id=0)[0, prompt.shape[1]:].tolist()
    if 2 in expected:
        expected = expected[:expected.index(2)]
    got = generate_tokens(ours, prompt.tolist(), max_new_tokens=30, temperature=0)[0]
    assert got == expected
    assert len(set(expected)) > 3  # a real sequence, not one token repeated


@pytest.mark.parametrize("field, value", [
    ("sliding_window", 4096), ("hidden_act", "gelu"), ("attention_bias", True), ("mlp_bias", True),
    ("rope_scaling", {"rope_type": "linear", "factor": 2.0}), ("rope_parameters", {"rope_type": "llama3"}),
    ("model_type", "mistral"), ("architectures", ["MistralForCausalLM"]), ("head_dim", 16),
    ("quantization_config", {"quant_method": "bitsandbytes", "load_in_8bit": True})])
def test_configs_of_other_architectures_are_refused(tmp_path, field, value):
    """Each of these, loaded as plain Llama 2, would be another model than the one config.json describes."""
    make_hf_model("gqa").save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, field: value}))
    with pytest.raises(CheckpointError, match=f"config.json: {field}=.* is not Llama 2's architecture"):
        load_model(tmp_path)


def test_fields_left_out_take_transformers_defaults(tmp_path):
    make_hf_model("gqa").save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    for field in ("rms_norm_eps", "max_position_embeddings"):
        del config[field]
    (tmp_path / "config.json").write_text(json.dumps(config))
    theirs = transformers.AutoConfig.from_pretrained(tmp_path)
    ours = load_model(tmp_path).args
    assert (ours.norm_eps, ours.max_seq_len) == (theirs.rms_norm_eps, theirs.max_position_embeddings)


def test_a_missing_output_head_is_the_embedding_only_when_tied(tmp_path):
    """transformers ties the head to the embedding when config.json says so; otherwise a missing head is missing."""
    make_hf_model("gqa").save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    del state["lm_head.weight"]
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=r"missing tensors \(1\): \['output.weight'\]"):
        load_model(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "tie_word_embeddings": True}))
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    tokens = random_tokens(hf.config.vocab_size, seed=6)
    with torch.no_grad():
        expected = hf(tokens).logits
    torch.testing.assert_close(load_model(tmp_path)(tokens), expected, atol=1e-4, rtol=0)


TEXTS = ["Hello world", " Hello world", "  Hello", "Hello  world", "Hello\nworld", "Hello \n world", "\nHello",
         " ", "  ", "a  b   c", "Hello world ", 'Ada said: "hi"\n\nBye.', " <s> x </s>", "line1\n\n line2",
         "\tTab", "héllo wörld 日本語 🙂", "[INST] Where does Ada live? [/INST]"]


@pytest.mark.parametrize("which", ["kit", "llama2"])
def test_an_exported_tokenizer_tokenizes_as_sentencepiece(tmp_path, which):
    """transformers reads the exported tokenizer and gives SentencePiece's ids, spaces and all, and its text back."""
    source = REPO / "data" / "tokenizer.model"
    if which == "llama2":
        source = llama2_tokenizer_file()  # skips, with the other tests that need Llama 2's tokenizer, when not set
    ours = Tokenizer(source)
    model = Llama(ModelArgs(dim=16, n_layers=1, n_heads=2, vocab_size=ours.n_words, multiple_of=16, max_seq_len=64))
    save_model(model, tmp_path / "out", format="hf", tokenizer=ours)
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path / "out")
    rng = random.Random(0)  # and texts no one chose: runs of spaces, newlines, digits, scripts, tags, side by side
    parts = [" ", " ", "  ", "\n", "\t", "a", "H", "ello", " world", "1", "2", ".", "é", "日", "🙂", "▁", "<s>", "the"]
    made = ["".join(rng.choice(parts) for _ in range(rng.randint(1, 12))) for _ in range(400)]
    for text in TEXTS + made:
        assert theirs(text)["input_ids"] == ours.encode(text, bos=True), repr(text)
        ids = ours.encode(text, bos=False)
        assert theirs.decode(ids) == ours.decode(ids), repr(text)
