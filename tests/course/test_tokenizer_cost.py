"""What the tokenizer costs in Turkish: each measure on hand-worked strings whose pieces SentencePiece itself gives,
the parallel texts built from the kit's Turkish renderings, and the two properties the lesson rests on (Turkish
costs the kit's tokenizer more tokens per word than English; a tokenizer trained on both languages costs less)."""

import functools
import re

import pytest
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2
from support import REPO, llama2_tokenizer_file

from llama_lab.course import tokenizer_cost
from llama_lab.course.tokenizer_cost import EVERYDAY, KIT_TOKENIZER, cost, count_words
from llama_lab.tokenizer import Tokenizer
from llama_lab.world.turkish import parallel_dialogs, turkish_fact_questions
from llama_lab.world.world import DEFAULT_SEED, build_world

BYTE_PIECE = re.compile(r"<0x[0-9A-F]{2}>")


@pytest.fixture(scope="module")
def world():
    return build_world(DEFAULT_SEED)


@pytest.fixture(scope="module")
def kit():
    return Tokenizer(KIT_TOKENIZER)


@pytest.fixture(scope="module")
def bilingual(tmp_path_factory, world):
    return tokenizer_cost.train_bilingual_tokenizer(tmp_path_factory.mktemp("bilingual"), world)


@pytest.fixture(scope="module")
def texts(world):
    return tokenizer_cost.the_texts(world)


@functools.cache
def sentencepiece(model_file):
    return spm.SentencePieceProcessor(model_file=str(model_file))


def sentencepiece_pieces(model_file, text):
    return sentencepiece(model_file).encode(text, out_type=str)


def test_each_measure_on_a_hand_worked_string(kit):
    # "ğ" has no piece of its own in the kit's English vocabulary: SentencePiece spells it as its two UTF-8 bytes
    assert sentencepiece_pieces(KIT_TOKENIZER, "Ada yağ") == ["▁Ada", "▁y", "a", "<0xC4>", "<0x9F>"]
    measured = cost(kit, ["Ada yağ"])
    assert {k: measured[k] for k in ("texts", "words", "bytes", "tokens", "byte tokens")} == \
        {"texts": 1, "words": 2, "bytes": 8, "tokens": 5, "byte tokens": 2}  # "Ada yağ": 6 letters + space, ğ 2 bytes
    assert measured["tokens per word"] == 5 / 2
    assert measured["bytes per token"] == 8 / 5
    assert measured["byte fallback %"] == 100 * 2 / 5
    assert measured["words per window"] == pytest.approx(4096 / 2.5)  # 1638.4


def test_texts_are_encoded_one_by_one_and_summed(kit):
    assert sentencepiece_pieces(KIT_TOKENIZER, "Ada lives in Applebury.") == \
        ["▁Ada", "▁lives", "▁in", "▁Applebury", "."]
    assert sentencepiece_pieces(KIT_TOKENIZER, "çay") == ["▁", "<0xC3>", "<0xA7>", "ay"]  # ç: two bytes
    measured = cost(kit, ["Ada lives in Applebury.", "çay"])
    assert (measured["words"], measured["bytes"], measured["tokens"], measured["byte tokens"]) == (5, 23 + 4, 9, 2)
    assert measured["tokens per word"] == 9 / 5 and measured["bytes per token"] == 27 / 9
    assert measured["byte fallback %"] == pytest.approx(100 * 2 / 9)
    assert measured["words per window"] == pytest.approx(4096 * 5 / 9)


def test_words_are_what_split_finds_and_no_text_is_refused(kit):
    assert count_words("Ada Applebury'da yaşıyor.") == 3
    assert count_words("  Şemsiyemi evde unuttum, bu\tyüzden ") == 5
    for empty in ([], ["", "  "]):
        with pytest.raises(ValueError, match="cost of no text"):
            cost(kit, empty)


def test_the_world_text_is_the_kits_turkish_renderings_item_for_item(world):
    parallel = tokenizer_cost.world_texts(world, dialogs=60)
    questions = turkish_fact_questions(world, "eval")
    english, turkish = parallel["english"], parallel["turkish"]
    assert len(english) == len(turkish)
    assert english[0:2 * len(questions):2] == [q["question"] for q in questions]
    assert turkish[0:2 * len(questions):2] == [q["question_tr"] for q in questions]
    assert turkish[1:2 * len(questions):2] == [q["reply_tr"] for q in questions]
    ada = next(i for i, q in enumerate(questions) if q["character"] == "Ada" and q["attribute"] == "town")
    assert (english[2 * ada + 1], turkish[2 * ada + 1]) == ("Ada lives in Applebury.", "Ada Applebury'da yaşıyor.")
    dialogs = list(parallel_dialogs(world, "val", 60, DEFAULT_SEED))
    assert dialogs and turkish[2 * len(questions):] == [turn["content"] for _, tr in dialogs for turn in tr]
    assert english[2 * len(questions):] == [turn["content"] for en, _ in dialogs for turn in en]


def test_the_everyday_text_is_a_dozen_sentence_pairs():
    assert len(EVERYDAY) >= 12
    for english, turkish in EVERYDAY:
        assert english.strip() and turkish.strip() and english != turkish
    everyday = tokenizer_cost.everyday_texts()
    assert everyday["english"] == [e for e, _ in EVERYDAY] and everyday["turkish"] == [t for _, t in EVERYDAY]


def test_turkish_costs_the_kits_tokenizer_more_tokens_per_word_than_english(kit, texts):
    for name, parallel in texts.items():
        english, turkish = cost(kit, parallel["english"]), cost(kit, parallel["turkish"])
        assert turkish["tokens per word"] > 2 * english["tokens per word"], name
        assert turkish["tokens"] > english["tokens"], name  # the same content, in more tokens
        assert turkish["byte fallback %"] > 10 and english["byte fallback %"] == 0, name  # ş, ğ, ı, ç... as bytes


def test_the_byte_fallback_count_is_sentencepieces_byte_pieces(kit, texts):
    for language in ("english", "turkish"):
        lines = texts["everyday"][language]
        pieces = [p for line in lines for p in sentencepiece_pieces(KIT_TOKENIZER, line)]
        measured = cost(kit, lines)
        assert measured["tokens"] == len(pieces)
        assert measured["byte tokens"] == sum(bool(BYTE_PIECE.fullmatch(p)) for p in pieces)


def test_the_bilingual_tokenizer_has_llama_2s_recipe_at_the_kits_size(bilingual, kit):
    assert len(bilingual) == len(kit) == 4096
    model = sentencepiece_model_pb2.ModelProto()
    model.ParseFromString(bilingual.path.read_bytes())
    trainer = model.trainer_spec
    assert trainer.model_type == sentencepiece_model_pb2.TrainerSpec.BPE and trainer.byte_fallback
    assert trainer.split_digits and list(trainer.input) == ["bilingual.txt"]
    assert "▁yaşıyor" in {bilingual.id_to_piece(i) for i in range(len(bilingual))}  # a Turkish word has a piece


def test_the_bilingual_tokenizer_lowers_the_turkish_cost(bilingual, kit, texts):
    for name, parallel in texts.items():
        own, both = cost(kit, parallel["turkish"]), cost(bilingual, parallel["turkish"])
        assert both["tokens per word"] < own["tokens per word"], name
        assert both["byte fallback %"] < own["byte fallback %"], name
    rows = tokenizer_cost.compare({"kit": kit, "bilingual": bilingual}, texts)
    ratio = {(r["tokenizer"], r["text"]): r["turkish / english"] for r in rows}
    assert ratio["bilingual", "tiny world"] < ratio["kit", "tiny world"]
    assert ratio["bilingual", "everyday"] < ratio["kit", "everyday"]


def test_the_table_without_llama_2_says_how_to_add_it(monkeypatch, capsys):
    monkeypatch.setattr(tokenizer_cost, "find_llama2_tokenizer", lambda: None)
    rows = tokenizer_cost.main(["--markdown"])
    out = capsys.readouterr().out
    assert out.startswith("| tokenizer | pieces | text | language |")
    assert len([line for line in out.splitlines() if line.startswith("| ")]) == 1 + 2 * 2 * 2  # header + rows
    assert "set LLAMA2_TOKENIZER" in out
    assert {r["tokenizer"] for r in rows} == {"kit (English world)", "bilingual (world, en+tr)"}
    kit_world = next(r for r in rows if r["tokenizer"] == "kit (English world)" and r["text"] == "tiny world")
    assert f"| {kit_world['turkish']['tokens per word']:.2f} |" in out
    docs = (REPO / "docs" / "languages.md").read_text(encoding="utf-8").splitlines()
    printed = [line for line in out.splitlines() if line.startswith("|")]
    assert [line for line in docs if line in printed] == printed  # docs/languages.md's table is what this prints


def test_a_wrong_flag_is_one_line_and_status_2(capsys):
    with pytest.raises(SystemExit) as stop:
        tokenizer_cost.main(["--markdwon"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_llama_2s_rows(texts, bilingual, monkeypatch, capsys):
    path = llama2_tokenizer_file()
    llama2 = Tokenizer(path)
    assert cost(llama2, ["Hello world"])["tokens"] == 2  # "▁Hello" "▁world", as Meta's tokenizer gives them
    for name, parallel in texts.items():
        for language in ("english", "turkish"):
            pieces = [p for line in parallel[language] for p in sentencepiece_pieces(path, line)]
            measured = cost(llama2, parallel[language])
            assert measured["tokens"] == len(pieces)
            assert measured["byte tokens"] == sum(bool(BYTE_PIECE.fullmatch(p)) for p in pieces)
        english, turkish = cost(llama2, parallel["english"]), cost(llama2, parallel["turkish"])
        assert turkish["tokens per word"] > 2 * english["tokens per word"], name
    rows = tokenizer_cost.compare({"Llama 2": llama2}, texts)
    assert [r["text"] for r in rows] == list(texts)
    monkeypatch.setattr(tokenizer_cost, "train_bilingual_tokenizer", lambda folder: bilingual)
    tokenizer_cost.print_tokenizer_costs(markdown=True)
    out = capsys.readouterr().out
    assert len([line for line in out.splitlines() if line.startswith("| Llama 2 |")]) == 2 * 2
    assert "set LLAMA2_TOKENIZER" not in out
    docs = (REPO / "docs" / "languages.md").read_text(encoding="utf-8")
    assert all(line in docs for line in out.splitlines())  # Llama 2's rows in docs/languages.md too
