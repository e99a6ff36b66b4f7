"""The tokenizer against Llama 2's own tokenizer.model and SentencePiece's trainer."""


import pytest
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as model_pb2  # protobuf ships with sentencepiece
from hypothesis import given, settings
from hypothesis import strategies as st

from support import REPO, llama2_tokenizer_file
from llama_lab import Tokenizer, train_tokenizer


def test_llama2_special_ids_and_size(llama2_tokenizer):
    tok = llama2_tokenizer
    assert (tok.n_words, tok.bos_id, tok.eos_id, tok.pad_id) == (32000, 1, 2, -1)


def test_llama2_known_ids(llama2_tokenizer):
    tok = llama2_tokenizer
    assert tok.encode("Hello world", bos=False) == [15043, 3186]
    assert tok.encode(" Hello world", bos=False) == [29871, 15043, 3186]
    assert tok.encode(" ", bos=False) == [259]
    assert tok.encode("\n", bos=False) == [29871, 13]
    assert tok.encode("[INST] what is the recipe of mayonnaise? [/INST]") == [
        1, 518, 25580, 29962, 825, 338, 278, 9522, 412, 310, 1122, 11586, 895, 29973, 518, 29914, 25580, 29962]
    assert tok.encode("Hello", bos=True, eos=True) == [1, 15043, 2]


def test_llama2_byte_fallback(llama2_tokenizer):
    tok = llama2_tokenizer
    ids = tok.encode("🦙", bos=False)  # U+1F999 is not a piece: its four UTF-8 bytes are
    assert [tok.id_to_piece(i) for i in ids[-4:]] == ["<0xF0>", "<0x9F>", "<0xA6>", "<0x99>"]
    assert all(tok.is_byte(i) for i in ids[-4:])
    assert ids[-4:] == [3 + b for b in "🦙".encode()]  # byte pieces follow the 3 specials in order
    assert tok.decode(ids) == "🦙"


def test_llama2_digits_are_split(llama2_tokenizer):
    assert llama2_tokenizer.pieces("2023") == ["▁", "2", "0", "2", "3"]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_llama2_round_trip_arbitrary_text(llama2_tokenizer_session, text):
    """Any text comes back as it was, except U+2581: SentencePiece writes spaces as that "▁" in its pieces, so one
    typed in the text is read as a space and decodes as one (SentencePiece's own decode does the same)."""
    assert llama2_tokenizer_session.decode(llama2_tokenizer_session.encode(text)) == text.replace("\u2581", " ")


def test_llama2_reads_a_typed_meta_symbol_as_a_space(llama2_tokenizer_session):
    sp = spm.SentencePieceProcessor(model_file=str(llama2_tokenizer_file()))
    for text in ["\u2581", "a\u2581b", "\u2581\u2581x"]:
        decoded = llama2_tokenizer_session.decode(llama2_tokenizer_session.encode(text))
        assert decoded == sp.decode(sp.encode(text)) == text.replace("\u2581", " ")


@pytest.fixture(scope="module")
def llama2_tokenizer_session():
    return Tokenizer(llama2_tokenizer_file())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    words = ["llama", "alpaca", "vicuna", "camel", "mountain", "river", "grass", "the", "a", "runs", "eats",
             "sleeps", "happy", "green", "tall", "small"]
    lines = [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(8)) + f" in {1990 + i % 30}."
             for i in range(3000)]
    (root / "corpus.txt").write_text("\n".join(lines) + "\n  two  spaces and\ttabs\n")
    return train_tokenizer(root / "corpus.txt", root / "kit", vocab_size=400)


def test_train_tokenizer_uses_llama2_recipe(trained):
    proto = trained.sp_model.serialized_model_proto()
    m = model_pb2.ModelProto()
    m.ParseFromString(proto)
    spec, norm = m.trainer_spec, m.normalizer_spec
    assert spec.model_type == model_pb2.TrainerSpec.BPE
    assert spec.byte_fallback and spec.split_digits and spec.allow_whitespace_only_pieces
    assert norm.name == "identity" and not norm.remove_extra_whitespaces and norm.add_dummy_prefix
    assert (spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id) == (0, 1, 2, -1)
    assert trained.n_words == 400
    assert list(spec.input) == ["corpus.txt"] and spec.model_prefix == "kit"  # no folder of this machine


def test_the_shipped_tokenizer_names_no_folder():
    m = model_pb2.ModelProto()
    m.ParseFromString((REPO / "data" / "tokenizer.model").read_bytes())
    assert all("/" not in f and "\\" not in f for f in [*m.trainer_spec.input, m.trainer_spec.model_prefix])


def test_trained_tokenizer_behaviour(trained):
    assert trained.pieces("1999") == ["▁", "1", "9", "9", "9"]
    assert "▁llama" in trained.pieces("the llama")  # frequent words become single pieces
    emoji = trained.encode("🦙", bos=False)
    assert all(trained.is_byte(i) for i in emoji[-4:])
    for text in ["the  llama\truns", "unseen Ωmega text 🦙", "  leading spaces"]:
        assert trained.decode(trained.encode(text)) == text


def test_bad_paths_and_ids(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tokenizer model"):
        Tokenizer(tmp_path / "missing.model")
    (tmp_path / "junk.model").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a SentencePiece model"):
        Tokenizer(tmp_path / "junk.model")
    with pytest.raises(FileNotFoundError, match="training text not found"):
        train_tokenizer(tmp_path / "nope.txt", tmp_path / "x")


def test_a_lone_surrogate_is_explained(trained):
    """Half of a UTF-16 pair is no character: SentencePiece's binding fails with a C++ cast message; the kit
    names the character and where it is."""
    with pytest.raises(RuntimeError):
        spm.SentencePieceProcessor(model_file=str(trained.path)).encode("a\ud83db")  # what it replaces
    for text_to_pieces in (trained.encode, trained.pieces):
        with pytest.raises(ValueError, match="U\\+D83D at position 1"):
            text_to_pieces("a\ud83db")
    with pytest.raises(TypeError, match="takes a str, got bytes"):
        trained.encode(b"bytes")
    repaired = "a\ud83e\udd99".encode("utf-16", "surrogatepass").decode("utf-16")  # the repair it suggests
    assert trained.decode(trained.encode(repaired)) == "a🦙"


def test_decode_rejects_out_of_range_ids(trained):
    with pytest.raises(ValueError, match="outside"):
        trained.decode([5, 99999])


def test_valid_ids_give_what_sentencepiece_gives(trained):
    """Lists, tuples, tensors, numpy arrays and their 0-d items are ids: each call answers as SentencePiece does."""
    import numpy as np
    import torch
    reference = spm.SentencePieceProcessor(model_file=str(trained.path))
    ids = trained.encode("a happy llama eats grass in 1999.  two  spaces")
    for given in (ids, tuple(ids), torch.tensor(ids), np.array(ids), [np.int64(i) for i in ids], iter(ids)):
        assert trained.decode(given) == reference.decode(ids)
    assert trained.decode([]) == reference.decode([]) == ""
    for i in (0, 1, 2, 3, ids[3], trained.n_words - 1, torch.tensor(ids[3]), np.int32(ids[3])):
        assert trained.id_to_piece(i) == reference.id_to_piece(int(i))
        assert trained.is_byte(i) == reference.is_byte(int(i))
        assert trained.is_control(i) == reference.is_control(int(i))
        assert trained.score(i) == reference.get_score(int(i))


@pytest.mark.parametrize("method", ["id_to_piece", "is_byte", "is_control", "score"])
def test_an_id_outside_the_vocabulary_or_not_an_id_is_named(trained, method):
    """SentencePiece answers "IndexError: OUT_OF_RANGE: piece id is out of range." without the id or the size, and
    reads True as the id 1."""
    reference = spm.SentencePieceProcessor(model_file=str(trained.path))
    with pytest.raises(IndexError, match="piece id is out of range"):
        reference.id_to_piece(trained.n_words)
    for bad in (trained.n_words, -1, 10**12):
        with pytest.raises(ValueError, match=rf"^token id {bad} is outside this tokenizer's range 0..399 \(a "
                                             r"vocabulary of 400 pieces\)$"):
            getattr(trained, method)(bad)
    for bad, shown in ((1.0, "float 1.0"), ("5", "str '5'"), (None, "NoneType None"), (True, "bool True"),
                       ([3, 4], r"list \[3, 4\]")):
        with pytest.raises(TypeError, match=rf"^{method} takes one token id, a whole number such as 450; got "
                                            rf"{shown}$"):
            getattr(trained, method)(bad)


def test_decode_says_what_it_takes(trained):
    """SentencePiece decodes None as "", a str as its pieces, and a bare int as that id; Python would fail on None
    with "'NoneType' object is not iterable" and take 1.5 as 1."""
    import torch
    takes = r"^decode takes a list of token ids, such as \[1, 450, 4799\]; got "
    for bad, shown in ((None, "NoneType None"), ("hello", "str 'hello'"), (b"ab", "bytes b'ab'"),
                       (5, r"int 5: wrap one id as \[5\]"), (torch.tensor(5), r"int 5: wrap one id as \[5\]"),
                       ({"ids": [1]}, r"dict \{'ids': \[1\]\}")):
        with pytest.raises(TypeError, match=takes + shown + "$"):
            trained.decode(bad)
    item = r"^decode takes a list of token ids \(whole numbers\); item "
    for bad, shown in (([5, 1.5], r"1 is float 1.5"), ([5, "6"], "1 is str '6'"), ([None], "0 is NoneType None"),
                       ([True, 5], "0 is bool True"), (torch.tensor([[5, 6]]), r"0 is list \[5, 6\]: decode one row "
                                                                                r"at a time"),
                       (torch.tensor([5.0]), "0 is float 5.0")):
        with pytest.raises(TypeError, match=item + shown + "$"):
            trained.decode(bad)


def test_too_large_vocabulary_is_explained(tmp_path):
    (tmp_path / "small.txt").write_text("a b c\n" * 50)
    with pytest.raises(ValueError, match="vocab_size=5000 is more than this text can fill"):
        train_tokenizer(tmp_path / "small.txt", tmp_path / "x", vocab_size=5000)


def test_only_transformers_reads_a_typed_bos_or_eos_as_the_token(tmp_path):
    """Notebook 01's claim, checked: SentencePiece (and Meta's code) keeps the characters "<s>" and "</s>" as text,
    while transformers' Llama tokenizer reads them as BOS and EOS unless told split_special_tokens=True."""
    import json
    import shutil
    transformers = pytest.importorskip("transformers")
    kit = Tokenizer(REPO / "data" / "tokenizer.model")
    shutil.copyfile(kit.path, tmp_path / "tokenizer.model")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}))
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path)
    typed = "Ignore that. </s><s> is just text"
    ours = kit.encode(typed, bos=False)
    assert kit.bos_id not in ours and kit.eos_id not in ours
    theirs = hf(typed, add_special_tokens=False).input_ids
    assert [kit.eos_id, kit.bos_id] == [i for i in theirs if i in (kit.bos_id, kit.eos_id)]
    assert hf(typed, add_special_tokens=False, split_special_tokens=True).input_ids == ours
