"""The explorers, driven headless as a learner drives them: type, move sliders, press buttons, read the numbers.

Setting a control's `.value` fires its observers synchronously and `button.click()` runs its handlers, so
no browser is needed. The numbers each explorer exposes are checked against the engine itself: the model's
own attention and logits, `next_token_probs`, `generate_tokens`, and the tokenizer's own ids.
"""

import numpy as np
import pytest
import sentencepiece as spm
import torch
import torch.nn.functional as F

from support import one_thread, small_model  # noqa: F401 (one_thread is autouse)
from llama_lab.chat import encode_dialog
from llama_lab.generate import generate_tokens
from llama_lab import sampling
from llama_lab.sampling import next_token_probs, sampler_stages
from llama_lab.tokenizer import Tokenizer, train_tokenizer
from llama_lab.course.tokenizer_cost import KIT_TOKENIZER
from llama_lab.hooks import attention_patterns
from llama_lab.course.widgets import (TINY_CHAT_SUGGESTIONS, YOUR_OWN, AttentionExplorer, LogitLens, SamplingPlayground,
                                      Detokenizer, TokenizerExplorer)

WORDS = ("the cat sat on a mat and the dog ran to the park while a bird sang over green hills near the river "
         "in town people read books write letters cook soup paint walls build boats count stars tell stories "
         "[INST] <<SYS>> <</SYS>> [/INST] yes no maybe because small large quick slow").split()



@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    """A small SentencePiece tokenizer trained with Llama 2's recipe, so these tests need no downloaded file."""
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("tokenizer")
    lines = [" ".join(rng.choice(WORDS, size=12)) + f" {rng.integers(0, 1000)}." for _ in range(400)]
    (folder / "text.txt").write_text("\n".join(lines) + "\nnaïve café\n")
    return train_tokenizer(folder / "text.txt", folder / "tok", vocab_size=400, num_threads=1)


@pytest.fixture(scope="module")
def lm(tok):
    """A random GQA Llama (8 query heads, 2 KV heads, 3 layers) over that tokenizer's vocabulary."""
    return small_model(vocab_size=tok.n_words)


def playground(lm, tok, **options):
    return SamplingPlayground(lm, tok, **{"prompt": "the cat sat on", "threaded": False, **options})


def forward(model, ids):
    with torch.inference_mode():
        return model(torch.tensor([ids]))[0]


# ------------------------------------------------------------------------------------------------ sampling

def test_distribution_is_the_models_and_lower_temperature_sharpens_it(lm, tok):
    pg = playground(lm, tok, temperature=1.0, top_p=1.0)
    assert pg.error is None
    logits = forward(lm, tok.encode("the cat sat on"))[-1]
    d = pg.distribution
    torch.testing.assert_close(d.model, F.softmax(logits, -1))
    torch.testing.assert_close(d.final, next_token_probs(logits, 1.0))

    pg.temperature.value = 0.5
    sharp = pg.distribution
    torch.testing.assert_close(sharp.final, next_token_probs(logits, 0.5))
    assert sharp.entropy_final < d.entropy_final
    assert sharp.final.max() > d.final.max()
    assert "0.5" in pg.figure.axes[0].get_title()

    pg.temperature.value = 0.0  # greedy: everything on the likeliest token
    assert pg.distribution.kept == 1 and pg.distribution.final[logits.argmax()] == 1.0


def test_top_k_leaves_exactly_k_and_the_figure_marks_the_cut(lm, tok):
    pg = playground(lm, tok, temperature=1.0, top_p=1.0)
    pg.top_k.value = 7
    d = pg.distribution
    assert d.kept == 7 and list(d.stages) == ["temperature", "top-k"] and d.kept_by_stage["top-k"] == 7
    assert set(torch.nonzero(d.final).flatten().tolist()) == set(d.ranked(7))
    cut_lines = [line.get_xdata()[0] for line in pg.figure.axes[0].lines]
    assert cut_lines == [6.5]  # between the 7th and the 8th bar


@pytest.mark.parametrize("temperature, top_k, top_p", [(1.0, None, 1.0), (0.7, 20, 1.0), (1.3, None, 0.8),
                                                      (0.6, 5, 0.5), (0.0, 10, 0.9)])
def test_the_playground_shows_the_samplers_own_stages(lm, tok, temperature, top_k, top_p):
    pg = playground(lm, tok, temperature=temperature, top_p=top_p)
    pg.top_k.value = top_k or 0
    logits = forward(lm, tok.encode("the cat sat on"))[-1]
    d = pg.distribution
    stages = sampler_stages(logits, temperature, top_k, top_p)
    assert list(d.stages) == list(stages)
    for name in stages:
        torch.testing.assert_close(d.stages[name], stages[name])
    torch.testing.assert_close(d.final, next_token_probs(logits, temperature, top_k, top_p))


def test_a_suggestion_fills_the_prompt_in_chat_mode(lm, tok):
    pg = playground(lm, tok, suggestions=["a fact: Where does Max live?", "small talk: Hello!"])
    assert pg.suggestions.options[0] == YOUR_OWN and pg.mode.value == "plain"
    pg.suggestions.value = "a fact: Where does Max live?"
    assert pg.error is None and pg.mode.value == "chat" and pg.prompt.value == "Where does Max live?"
    expected = encode_dialog(tok, [{"role": "user", "content": "Where does Max live?"}])
    assert pg.prompt_ids() == expected
    torch.testing.assert_close(pg.distribution.model, F.softmax(forward(lm, expected)[-1], -1))
    assert playground(lm, tok).suggestions.layout.display == "none"  # no menu without suggestions
    assert all(": " in s for s in TINY_CHAT_SUGGESTIONS)


def test_a_stage_added_to_the_sampler_shows_in_the_playground(lm, tok, monkeypatch):
    """The playground draws what sampling.sampler_stages returns: a new stage appears in its numbers, its cut-off
    lines and its table, in the sampler's order, with no change to the widget."""
    kit_stages = sampling.sampler_stages

    def with_min_p(logits, temperature=1.0, top_k=None, top_p=1.0):  # min-p 0.2: drop tokens under 0.2 x the top
        stages = kit_stages(logits, temperature, top_k, top_p)
        probs = list(stages.values())[-1]
        kept = torch.where(probs >= 0.2 * probs.max(-1, keepdim=True).values, probs, 0.0)
        return {"min-p": kept / kept.sum(-1, keepdim=True), **stages}  # first, to reorder as well

    monkeypatch.setattr(sampling, "sampler_stages", with_min_p)
    pg = playground(lm, tok, temperature=1.0, top_p=1.0)
    pg.top_k.value = 50
    logits = forward(lm, tok.encode("the cat sat on"))[-1]
    d = pg.distribution
    assert list(d.stages) == ["min-p", "temperature", "top-k"]
    torch.testing.assert_close(d.final, next_token_probs(logits, 1.0, 50, 1.0))  # the same pipeline
    header = pg.stats.value.index
    assert header("after min-p") < header("after temperature") < header("after top-k")
    assert "min-p" in pg.figure.axes[0].get_title()


def test_top_p_cuts_where_the_cumulative_probability_crosses_p(lm, tok):
    pg = playground(lm, tok, temperature=0.4, top_p=0.5)
    d = pg.distribution
    cumulative = torch.cumsum(d.tempered.sort(descending=True).values, 0)
    n = d.kept
    assert cumulative[n - 1] > 0.5  # the kept tokens reach p ...
    assert n == 1 or cumulative[n - 2] <= 0.5  # ... and without the last one they did not
    assert set(torch.nonzero(d.final).flatten().tolist()) == set(d.ranked(n))
    if n < pg.n_bars:
        assert [line.get_xdata()[0] for line in pg.figure.axes[0].lines] == [n - 0.5]


def test_generate_streams_the_samplers_tokens_and_each_position_shows_its_distribution(lm, tok):
    pg = playground(lm, tok, temperature=0.9, top_k=50, top_p=0.95, seed=3)
    pg.max_new_tokens.value = 12
    seen = []
    pg.on_token = seen.append
    pg.generate_button.click()
    result = pg.result
    assert pg.error is None and result is not None
    assert seen == list(range(1, len(result.tokens) + 1))  # one update per token: it streamed

    ids = tok.encode("the cat sat on")
    [expected], [logprobs] = generate_tokens(lm, [ids], 12, temperature=0.9, top_k=50, top_p=0.95, seed=3,
                                             eos_id=tok.eos_id, return_logprobs=True)
    assert [t for t in result.tokens if t != tok.eos_id] == expected
    np.testing.assert_allclose(result.probs[:len(expected)], np.exp(logprobs), rtol=1e-5)
    assert result.stopped_by in ("eos", "max new tokens")
    assert pg.output.value.count("<span title=") == len(result.tokens)  # one coloured span per token

    pg.position.value = 2
    d = pg.distribution
    assert d.chosen == result.tokens[2]
    logits = forward(lm, ids + result.tokens)[len(ids) - 1 + 2]
    torch.testing.assert_close(d.final, next_token_probs(logits, 0.9, 50, 0.95))
    assert d.final[d.chosen] > 0  # the drawn token was one the sampler could draw
    assert "token #2" in pg.figure.axes[0].get_title()


def test_generate_in_the_background_gives_the_same_tokens(lm, tok):
    settings = dict(temperature=0.7, seed=11, max_new_tokens=8)
    sync = playground(lm, tok, **settings).generate()
    pg = playground(lm, tok, **{**settings, "threaded": True})
    pg.generate_button.click()
    assert pg.wait(timeout=60) is not None
    assert pg.result.tokens == sync.tokens
    assert not pg.generate_button.disabled and pg.stop_button.disabled


def test_stop_button_ends_generation(lm, tok):
    pg = playground(lm, tok, max_new_tokens=30, temperature=1.0, top_p=1.0, seed=1)
    pg.on_token = lambda n: pg.stop_button.click() if n == 3 else None
    pg.generate_button.click()
    assert len(pg.result.tokens) == 3 and pg.result.stopped_by == "Stop button"
    assert "Stop button" in pg.status.value


def test_chat_mode_uses_the_chat_format(lm, tok):
    pg = playground(lm, tok, chat=True, system="be brief")
    assert pg.prompt_ids() == encode_dialog(tok, [{"role": "system", "content": "be brief"},
                                                  {"role": "user", "content": "the cat sat on"}])
    assert pg.system.layout.display is None
    pg.mode.value = "plain"
    assert pg.system.layout.display == "none" and pg.prompt_ids() == tok.encode("the cat sat on")


@pytest.mark.parametrize("change, words", [
    (dict(prompt=""), "prompt is empty"),
    (dict(top_p=0.0), "top_p"),
    (dict(prompt="the cat " * 100), "context holds 96"),
    (dict(mode="chat", prompt="[INST] hi"), "[INST]"),
])
def test_mistakes_become_messages(lm, tok, change, words):
    pg = playground(lm, tok)
    for name, value in change.items():
        getattr(pg, name).value = value
    assert pg.error is not None and words in pg.error
    assert words.split()[0] in pg.message.value
    pg.generate_button.click()  # still a message, never an exception
    assert pg.error is not None and pg.result is None


def test_a_character_split_into_bytes_appears_with_its_last_byte(tok):
    ids = tok.encode("cat 🙂 sat", bos=False)
    detokenizer = Detokenizer(tok, tok.encode("The", bos=True))  # the prompt the text continues
    texts = [detokenizer.add(i) for i in ids]
    assert "".join(texts) == " cat 🙂 sat"
    emoji_bytes = [i for i in ids if tok.is_byte(i)]
    assert len(emoji_bytes) == 4 and texts[ids.index(emoji_bytes[-1])].endswith("🙂")
    assert [texts[ids.index(b)] for b in emoji_bytes[:3]] == ["", "", ""]  # waiting for the rest


def test_save_png(lm, tok, tmp_path):
    pg = playground(lm, tok)
    assert pg.save_png(tmp_path / "sampling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pg.save_path.value = str(tmp_path / "button.png")
    pg.save_button.click()
    assert (tmp_path / "button.png").is_file() and "saved" in pg.message.value
    assert "application/vnd.jupyter.widget-view+json" in pg._repr_mimebundle_()
    picture = pg.snapshot()  # the same figure as an ordinary output, for a notebook read without a kernel
    assert picture.data[:8] == b"\x89PNG\r\n\x1a\n" and "image/png" in picture._repr_mimebundle_()[0]


# ------------------------------------------------------------------------------------------------ attention

TEXT = "the dog ran to the park while a bird sang"


def test_heatmap_is_the_models_own_attention(lm, tok):
    ae = AttentionExplorer(lm, tok, text=TEXT)
    ids = tok.encode(TEXT)
    with torch.inference_mode():
        _, attentions = lm(torch.tensor([ids]), return_attention=True)
    for layer, head in [(0, 0), (2, 5), (1, 3)]:
        ae.layer.value, ae.head.value = layer, head
        torch.testing.assert_close(ae.attention, attentions[layer][0, head])
        drawn = ae.figure.axes[0].images[0].get_array()
        np.testing.assert_allclose(drawn.filled(0.0), attentions[layer][0, head].numpy(), rtol=1e-6)
        assert drawn.mask[0, 1] and not drawn.mask[1, 0]  # the future is masked, the past is shown
        assert f"Layer {layer}, head {head}" in ae.figure.axes[0].get_title()
    labels = [t.get_text() for t in ae.figure.axes[0].get_xticklabels()]
    assert len(labels) == len(ids) and labels[0] == "<s>"  # tokens on both axes
    assert ae.error is None


def test_gqa_groups_and_their_average(lm, tok):
    ae = AttentionExplorer(lm, tok, text=TEXT)
    assert ae.groups == [[0, 1, 2, 3], [4, 5, 6, 7]]  # repeat_kv: query head h reads KV head h // 4
    assert "2 key/value heads" in ae.gqa_info.value
    ae.layer.value, ae.head.value = 1, 6
    ae.average_group.value = True
    assert ae.heads_shown() == [4, 5, 6, 7]
    torch.testing.assert_close(ae.attention, ae.patterns[1][4:8].mean(0))
    assert "averaged" in ae.figure.axes[0].get_title()
    # the grid: every head once, one row per KV head, the chosen head framed
    thumbnails = [ax for ax in ae.grid_figure.axes if ax.images]
    assert len(thumbnails) == 8
    assert [ax.get_ylabel() for ax in ae.grid_figure.axes if ax.get_ylabel()] == ["KV head 0", "KV head 1"]
    for h, ax in enumerate(thumbnails):
        np.testing.assert_allclose(ax.images[0].get_array(), ae.patterns[1][h].numpy(), rtol=1e-6)


def test_multi_head_attention_has_no_groups_to_average(tok):
    mha = small_model(n_kv_heads=None, vocab_size=tok.n_words)
    ae = AttentionExplorer(mha, tok, text=TEXT)
    assert ae.average_group.disabled and len(ae.groups) == 8 and "multi-head" in ae.gqa_info.value


def test_token_row_and_colour_scale(lm, tok):
    ae = AttentionExplorer(lm, tok, text=TEXT)
    ae.token.value = 4
    torch.testing.assert_close(ae.row, ae.attention[4])
    assert float(ae.row.sum()) == pytest.approx(1.0, abs=1e-5) and ae.row[5:].sum() == 0  # causal
    frames = [p for p in ae.figure.axes[0].patches if p.get_y() == 3.5]
    assert len(frames) == 1  # the row is outlined
    assert tok.id_to_piece(ae.tokens[4]) in ae.row_info.value
    assert ae.figure.axes[0].images[0].get_clim() == (0.0, 1.0)
    ae.scale.value = "per head"
    assert ae.figure.axes[0].images[0].get_clim()[1] == pytest.approx(float(ae.attention.max()))


def test_limits_on_tokens_and_layers(lm, tok):
    long_text = " ".join(["the cat sat on a mat"] * 20)
    ae = AttentionExplorer(lm, tok, text=long_text, max_tokens=16, max_layers=2)
    assert len(ae.tokens) == 16 and ae.attention.shape == (16, 16)
    assert sorted(ae.patterns) == [0, 1] and ae.layer.max == 1
    assert ae.error is None and "showing the first 16" in ae.message.value
    full = attention_patterns(lm, ae.tokens)
    torch.testing.assert_close(ae.patterns[1], full[1])  # stopping early changes nothing before the stop


def test_attention_mistakes_become_messages(lm, tok, tmp_path):
    ae = AttentionExplorer(lm, tok, text=TEXT)
    ae.text.value = "   "
    assert "empty" in ae.error and "empty" in ae.message.value
    ae.text.value = TEXT
    assert ae.error is None and ae.save_png(tmp_path / "a.png").stat().st_size > 0


# ------------------------------------------------------------------------------------------------ tokenizer

def test_tokenizer_explorer_shows_pieces_ids_bytes_and_counts(tok, tmp_path):
    text = "the cat sat 🙂"
    te = TokenizerExplorer(tok, text=text, names=("kit",))
    r = te.results["kit"]
    assert r.ids == tok.encode(text, bos=False)
    assert r.pieces == [tok.id_to_piece(i) for i in r.ids]
    assert r.n_byte_pieces == 4 and r.is_byte[-4:] == [True] * 4  # the emoji is not in the vocabulary: 4 bytes
    assert (r.n_chars, r.n_words) == (len(text), 4)
    assert r.tokens_per_word == pytest.approx(r.n_tokens / 4)
    assert all(str(i) in te.views[0].value for i in r.ids) and "dashed" in te.views[0].value
    assert f"<td {'style'}" in te.counts.value and str(r.n_tokens) in te.counts.value
    assert te.save_png(tmp_path / "t.png").stat().st_size > 0


def test_save_png_never_overwrites_what_is_not_a_png(lm, tok, tmp_path):
    """The file name is a text box: a slip (a notebook's name, a folder) is refused and the file is kept."""
    te = TokenizerExplorer(tok, text="Max lived in Applebury.")
    notebook = tmp_path / "05_widget_playground.ipynb"
    notebook.write_text('{"cells": []}')
    te.save_path.value = str(notebook)
    te.save_button.click()
    assert "does not end in .png" in te.error and notebook.read_text() == '{"cells": []}'
    disguised = tmp_path / "notes.png"
    disguised.write_text("my notes")
    te.save_path.value = str(disguised)
    te.save_button.click()
    assert "is not a PNG" in te.error and disguised.read_text() == "my notes"
    (tmp_path / "folder.png").mkdir()
    te.save_path.value = str(tmp_path / "folder.png")
    te.save_button.click()
    assert "is a folder" in te.error
    picture = tmp_path / "tokens.png"
    te.save_path.value = str(picture)
    te.save_button.click()
    first = picture.read_bytes()
    te.save_button.click()  # saving again replaces the explorer's own picture
    assert te.error is None and first.startswith(b"\x89PNG") and picture.read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["05_widget_playground.ipynb", "folder.png",
                                                          "notes.png", "tokens.png"]  # no temporary left


def test_two_tokenizers_side_by_side(tok, llama2_tokenizer):
    te = TokenizerExplorer(tok, llama2_tokenizer, names=("kit", "Llama 2"), text="Hello world")
    assert te.results["Llama 2"].ids == [15043, 3186]  # Llama 2's own ids, as SentencePiece gives them
    assert te.results["kit"].ids == tok.encode("Hello world", bos=False)
    assert "15043" in te.views[1].value and "Llama 2" in te.counts.value
    te.text.value = "x" * 3000
    assert "3,000 characters" in te.error
    te.text.value = ""
    assert "empty" in te.error


def test_the_same_content_in_english_and_turkish(tok):
    """The kit's tokenizer (trained on English alone) on a pair counted by hand: "▁I ▁forg ot ▁my ▁umbrella ." is
    6 tokens; "Şemsiyemi unuttum." is 13: "▁", Ş as its two UTF-8 bytes <0xC5> <0x9E>, then
    "ems i y em i ▁un ut t um ."; the Turkish says it in 13 / 6 = 2.17 times the tokens."""
    english, turkish = "I forgot my umbrella.", "Şemsiyemi unuttum."
    kit = Tokenizer(KIT_TOKENIZER)
    own = spm.SentencePieceProcessor(model_file=str(KIT_TOKENIZER))  # SentencePiece's own ids, not the kit's code
    te = TokenizerExplorer(kit, tok, names=("kit", "small"), text=english, translation=turkish)
    assert te.error is None and te.languages == ("English", "Türkçe")
    assert te.results["kit"].ids == own.encode(english) and len(own.encode(english)) == 6
    assert te.translated["kit"].ids == own.encode(turkish) and len(own.encode(turkish)) == 13
    assert te.translated["kit"].pieces[:3] == ["▁", "<0xC5>", "<0x9E>"] and te.translated["kit"].n_byte_pieces == 2
    english_cost, turkish_cost = te.costs["kit"]["English"], te.costs["kit"]["Türkçe"]
    assert (english_cost["tokens"], english_cost["words"]) == (6, 4)
    assert (turkish_cost["tokens"], turkish_cost["words"], turkish_cost["bytes"]) == (13, 2, 19)
    assert turkish_cost["byte tokens"] == 2 and turkish_cost["tokens per word"] == 6.5
    assert te.ratios["kit"] == pytest.approx(13 / 6)
    assert te.ratios["small"] == len(tok.encode(turkish, bos=False)) / len(tok.encode(english, bos=False))
    assert "2.17x" in te.counts.value and "Türkçe / English tokens" in te.counts.value
    assert "dashed" in te.translated_views[0].value and all(str(i) in te.translated_views[0].value
                                                              for i in own.encode(turkish))
    te.translation.value = "Kız kardeşim öğreniyor."  # the second box acts as the first does
    assert te.translated["kit"].ids == own.encode("Kız kardeşim öğreniyor.")
    assert len(te.current_figure().axes) == 4  # two tokenizers, two languages each


def test_a_missing_or_long_translation_is_a_message(tok):
    te = TokenizerExplorer(tok, text="the cat sat", translation="", languages=("English", "Türkçe"))
    assert "Türkçe text (the translation) is empty" in te.error and te.ratios == {}
    te.translation.value = "kedi oturdu"
    assert te.error is None and set(te.ratios) == set(te.names)
    te.translation.value = "ı" * 2500
    assert "2,500 characters" in te.error and "Türkçe" in te.error and te.ratios == {}
    te.text.value = " "
    assert "English text is empty" in te.error
    for languages in [("English",), ("English", "English")]:
        with pytest.raises(ValueError, match="two different names"):
            TokenizerExplorer(tok, translation="x", languages=languages)
    assert TokenizerExplorer(tok).translation is None  # one language unless a translation is given


# ----------------------------------------------------------------------------------------------- logit lens

def test_logit_lens_reads_each_layer_through_the_final_norm_and_head(lm, tok):
    text = "the dog ran to the park"
    lens = LogitLens(lm, tok, text=text)
    ids = tok.encode(text)
    p = len(ids) - 1
    assert lens.position.value == p and len(lens.rows) == len(lm.layers) + 1
    logits = forward(lm, ids)
    torch.testing.assert_close(lens.logits[-1], logits[p], rtol=1e-4, atol=1e-4)  # the last layer is the model
    with torch.inference_mode():
        embeddings = lm.output(lm.norm(lm.tok_embeddings(torch.tensor(ids[p]))))  # the first row: no block run
    torch.testing.assert_close(lens.logits[0], embeddings)
    # at the last position the default target is the model's own top token: rank 1 at the last layer
    assert lens.target_id == int(logits[p].argmax()) and lens.rows[-1].target_rank == 1
    assert lens.rows[-1].top_ids[0] == lens.target_id

    lens.position.value = 2  # inside the text: the target is the token that follows
    assert lens.target_id == ids[3]
    for row, layer_logits in zip(lens.rows, lens.logits):
        assert row.target_rank == int((layer_logits > layer_logits[ids[3]]).sum()) + 1
        assert row.top_probs[0] == pytest.approx(float(F.softmax(layer_logits, -1).max()))
    assert len(lens.figure.axes[0].texts) == len(lens.rows) * 5
    ranks = lens.figure.axes[1]  # the target's rank per layer, on a log axis that says so
    assert ranks.get_xscale() == "log" and "log scale" in ranks.get_xlabel()
    assert all(ax.get_xlabel() for ax in lens.figure.axes)


def test_logit_lens_targets_and_mistakes(lm, tok):
    lens = LogitLens(lm, tok, text="the dog ran to the park")
    lens.target.value = "cat"  # a word: its first piece, with the word-start marker
    assert lens.target_id == tok.encode("cat", bos=False)[0]
    word_start = next(i for i in range(3, tok.n_words) if tok.id_to_piece(i).startswith("\u2581the"))
    lens.target.value = tok.id_to_piece(word_start)  # a piece as the vocabulary writes it
    assert lens.target_id == word_start
    lens.target.value = "<0x0A>"  # a byte piece: the newline
    assert lens.target_id == tok.piece_to_id("<0x0A>") and tok.is_byte(lens.target_id)
    lens.target.value = "cat sat"  # several tokens: the lens follows the first and says so
    assert lens.target_id == tok.encode("cat", bos=False)[0] and "several tokens" in lens.message.value
    lens.text.value = ""
    assert "empty" in lens.error
    lens2 = LogitLens(lm, tok, text="the cat " * 80, max_tokens=32)
    assert "up to 32" in lens2.error and lens2.rows == []


def test_the_try_menu_asks_about_the_worlds_own_residents():
    """The menu's prompts are drawn from the who's-who: facts about residents (one of them held out from training,
    a fair test), a pet and a word the world knows, and a stranger it does not."""
    from llama_lab.world.whoswho import whos_who

    who = whos_who()
    menu = dict(s.split(": ", 1) for s in TINY_CHAT_SUGGESTIONS)
    fact, held_out, stranger = menu["a fact"], menu["a held-out fact (never asked in training)"], menu["a stranger"]
    resident = who.resident(fact.split()[2])  # "Where does Holly live?"
    assert fact == f"Where does {resident.name} live?" and not resident.held_out
    assert f"{resident.name}'s {resident.pet} is called" in menu["a fact, asked your way"]
    tested = who.resident(held_out.split()[2].removesuffix("'s"))  # "What is Alfie's favourite food?"
    assert "food" in tested.held_out
    assert stranger.split()[2] in who.held_out_strangers and stranger.split()[2] not in who.names
    assert menu["a word"].split('"')[1] in dict(who.words)


def test_the_whos_who_panel_lists_every_resident_and_what_is_held_out():
    from llama_lab.course.widgets import whos_who_panel
    from llama_lab.world.whoswho import whos_who

    who = whos_who()
    panel = whos_who_panel(who).value
    assert all(f"<td style=\"padding:2px 8px;text-align:right\">{p.name}</td>" in panel for p in who.people)
    ada = who.resident("Ada")  # her town and her pet's name are held out (docs/world.md)
    assert f"{ada.pet} {ada.pet_name}" in panel and "town, pet&#x27;s name" in panel
    assert all(word in panel for word, _ in who.words)


def test_reset_brings_the_playground_back_as_it_was_made(lm, tok):
    pg = playground(lm, tok, temperature=0.8, top_p=0.9, max_new_tokens=6)
    fresh = playground(lm, tok, temperature=0.8, top_p=0.9, max_new_tokens=6)
    pg.mode.value, pg.prompt.value, pg.temperature.value, pg.top_k.value = "chat", "the dog ran", 1.5, 7
    pg.max_new_tokens.value, pg.seed.value = 3, 99
    pg.generate()
    pg.position.value = 2
    pg.reset_button.click()
    assert pg.error is None and pg.result is None and pg.position.value == 0
    for name in ("mode", "prompt", "system", "temperature", "top_k", "top_p", "max_new_tokens", "seed"):
        assert getattr(pg, name).value == getattr(fresh, name).value, name
    assert pg.prompt_ids() == fresh.prompt_ids()
    torch.testing.assert_close(pg.distribution.final, fresh.distribution.final)
    assert pg.output.value == fresh.output.value and pg.status.value == fresh.status.value
    assert pg.generate().tokens == fresh.generate().tokens  # the same seed and settings: the same text
