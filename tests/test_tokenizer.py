"""The tokenizer against Llama 2's own tokenizer.model and SentencePiece's trainer."""

from pathlib import Path

import pytest
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as model_pb2  # protobuf ships with sentencepiece
from hypothesis import given, settings
from hypothesis import strategies as st

from support import llama2_tokenizer_file
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
    assert llama2_tokenizer_session.decode(llama2_tokenizer_session.encode(text)) == text


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
    m.ParseFromString((Path(__file__).parent.parent / "data" / "tokenizer.model").read_bytes())
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
    kit = Tokenizer(Path(__file__).resolve().parent.parent / "data" / "tokenizer.model")
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
