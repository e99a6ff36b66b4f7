"""The from-scratch BPE encoder against SentencePiece itself: the same ids, for any text."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import LLAMA2_TOKENIZER, REPO, llama2_tokenizer_file
from llama_lab import Tokenizer, train_tokenizer
from llama_lab.bpe import SentencePieceBPE

KIT_TOKENIZER = REPO / "data" / "tokenizer.model"

SAMPLES = [
    "", " ", "  ", "\n", "\t", "a", "Hello world", " Hello world", "Hello  world  ", "   leading and trailing   ",
    "line one\nline two\n\nline four", "tabs\tand\r\nwindows line ends", "2023", "3.14159 and 1,000,000 and 007",
    "Mia lived in Oakville with her dog, Rex.", "[INST] what is the recipe of mayonnaise? [/INST]",
    "<s> and </s> and <unk> and <0x41> are only text here", "🦙🦙 llamas 🦙", "naïve café résumé", "Ünïcödé",
    "日本語のテキスト", "Привет, мир!", "مرحبا بالعالم", "नमस्ते", "▁already▁escaped", "aaaaaaaaaaaaaaaa", "        ",
    "x" + " " * 40 + "y", "\u200b zero width \ufeff bom", "\x00 nul", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙",
]

# Text likely to exercise merges: words, spaces and digits, mixed with characters no small vocabulary holds.
WORDY = st.lists(st.sampled_from(list("abcdefghijklmnopqrstuvwxyz ETAONS.,!?'\n\t0123456789▁") +
                                ["the ", "and ", "llama ", "  ", "    ", "é", "ü", "日", "🦙", "я"]),
                 max_size=60).map("".join)


@pytest.fixture(scope="module")
def small_tokenizer(tmp_path_factory):
    """A 300-piece tokenizer trained here with Llama 2's recipe, so the test never depends on data/."""
    root = tmp_path_factory.mktemp("bpe")
    words = ["llama", "alpaca", "the", "a", "grass", "mountain", "eats", "sleeps", "green", "in", "and", "of"]
    lines = [" ".join(words[(i * 5 + j * 7) % len(words)] for j in range(9)) + f"  in {1900 + i % 97}."
             for i in range(2000)]
    (root / "corpus.txt").write_text("\n".join(lines) + "\n    indented\ttabbed\n")
    return train_tokenizer(root / "corpus.txt", root / "small", vocab_size=300, num_threads=1)


def _tokenizers(small):
    found = {"small": small}
    if KIT_TOKENIZER.is_file():
        found["kit"] = Tokenizer(KIT_TOKENIZER)
    if LLAMA2_TOKENIZER is not None:
        found["llama2"] = Tokenizer(LLAMA2_TOKENIZER)
    return found


@pytest.fixture(scope="module")
def encoders(small_tokenizer):
    return {name: (tok, SentencePieceBPE.from_tokenizer(tok)) for name, tok in _tokenizers(small_tokenizer).items()}


@pytest.mark.parametrize("text", SAMPLES)
def test_same_ids_as_sentencepiece(encoders, text):
    for name, (tok, bpe) in encoders.items():
        assert bpe.encode(text) == tok.encode(text, bos=False), name


def test_same_pieces_as_sentencepiece(encoders):
    for name, (tok, bpe) in encoders.items():
        for text in SAMPLES:
            assert bpe.encode_pieces(text) == tok.pieces(text), (name, text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text(encoders, text):
    for name, (tok, bpe) in encoders.items():
        assert bpe.encode(text) == tok.encode(text, bos=False), name


@settings(max_examples=300, deadline=None)
@given(WORDY)
def test_wordy_text(encoders, text):
    for name, (tok, bpe) in encoders.items():
        assert bpe.encode(text) == tok.encode(text, bos=False), name


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([" ", "  ", "\t", "\n", "x", "▁"]), max_size=60).map("".join))
def test_whitespace_runs(encoders, text):
    for name, (tok, bpe) in encoders.items():
        assert bpe.encode(text) == tok.encode(text, bos=False), name


def test_llama2_worked_example():
    bpe = SentencePieceBPE.from_tokenizer(Tokenizer(llama2_tokenizer_file()))
    assert bpe.encode("Hi 🦙") == [6324, 29871, 243, 162, 169, 156]
    steps = []
    assert bpe.merge(list("▁low"), steps) == ["▁low"]
    assert [(left, right) for left, right, _ in steps] == [("▁", "l"), ("o", "w"), ("▁l", "ow")]
    assert [score for _, _, score in steps] == sorted([score for _, _, score in steps], reverse=True)


def test_merge_prefers_highest_score_then_leftmost():
    bpe = SentencePieceBPE({"a": 3, "b": 4, "ab": 5, "ba": 6, "aa": 7}, {3: 0.0, 4: 0.0, 5: -2.0, 6: -1.0, 7: -1.0},
                           unk_id=0)
    assert bpe.merge(list("aba")) == ["a", "ba"]  # "ba" scores higher than "ab"
    assert bpe.merge(list("aaa")) == ["aa", "a"]  # a tie: the leftmost pair merges first
    assert bpe.merge(list("abab")) == ["a", "ba", "b"]


def test_unknown_without_byte_fallback_is_unk():
    bpe = SentencePieceBPE({"▁": 3, "a": 4, "▁a": 5}, {3: 0.0, 4: 0.0, 5: -1.0}, unk_id=0)
    assert bpe.encode("a z") == [5, 3, 0]
    assert bpe.encode("") == []


def test_rejects_other_normalisations(tmp_path):
    (tmp_path / "c.txt").write_text("\n".join(f"word{i % 10} other  text ÅÆ ﬁ" for i in range(500)))
    import sentencepiece as spm
    spm.SentencePieceTrainer.train(input=str(tmp_path / "c.txt"), model_prefix=str(tmp_path / "nfkc"),
                                   model_type="bpe", vocab_size=40, normalization_rule_name="nmt_nfkc",
                                   minloglevel=2, num_threads=1)
    with pytest.raises(ValueError, match="normalises"):
        SentencePieceBPE.from_tokenizer(Tokenizer(tmp_path / "nfkc.model"))


def test_the_leftmost_rule_shows_only_when_the_longer_piece_wins():
    """Notebook 01's exercise 4, worked by hand: "aaaa" with pieces a, aa, aaa. The three (a, a) pairs tie and the
    leftmost merges first: aa a a. If aaa outscores aa, (aa, a) merges next: [aaa, a] (from the right it would be
    a aa -> [a, aaa]). If aa outscores aaa, the other (a, a) merges: [aa, aa], whichever side ties break from."""
    def bpe(aa_score, aaa_score):
        return SentencePieceBPE({"<unk>": 0, "a": 1, "aa": 2, "aaa": 3}, {0: 0.0, 1: 0.0, 2: aa_score, 3: aaa_score},
                                unk_id=0, add_dummy_prefix=False)
    assert bpe(1.0, 2.0).merge(list("aaaa")) == ["aaa", "a"]
    assert bpe(2.0, 1.0).merge(list("aaaa")) == ["aa", "aa"]
