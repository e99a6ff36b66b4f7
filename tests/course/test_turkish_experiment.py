"""The Turkish experiment (llama_lab.course.turkish): bits per byte worked by hand, the extended vocabulary against
SentencePiece and the rows it starts from, the texts and dialogs it trains on, a quick run end to end, and the
shipped figures against their counts."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

from llama_lab.course import turkish
from llama_lab.lora import add_lora
from llama_lab.optim import Recipe
from llama_lab.tokenizer import Tokenizer
from llama_lab.train.data import TextBatches
from llama_lab.train.finetune import finetune_on_batches
from llama_lab.world.heldout import out_of_world_contents, out_of_world_questions
from llama_lab.world.tiny import DATA, load_tiny
from llama_lab.world.turkish.documents import LABELS, held_out_people, parallel_documents
from llama_lab.world.turkish.judge import is_refusal_tr
from llama_lab.world.world import build_world

WORLD = build_world(0)


@pytest.fixture(scope="module")
def base():
    return load_tiny("base")


@pytest.fixture(scope="module")
def extended(tmp_path_factory):
    """The kit's tokenizer extended with at most 64 pieces of a 600-piece Turkish tokenizer."""
    folder = tmp_path_factory.mktemp("extended")
    texts = [tr for _, tr in parallel_documents(WORLD, "train", 300)]
    return Tokenizer(turkish.extend_tokenizer(DATA / "tokenizer.model", texts, folder, 600, 64))


# ------------------------------------------------------------------------------------------------ bits per byte

def _nats_by_hand(model, ids: list[int]) -> float:
    """The summed cross-entropy of ids[1:] after ids[:-1], read in one window."""
    with torch.no_grad():
        logits = model(torch.tensor([ids[:-1]]))[0]  # (T, V)
    return -torch.log_softmax(logits.double(), -1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].sum().item()


def test_bits_per_byte_is_the_summed_loss_in_bits_over_the_texts_bytes(base):
    model, tokenizer = base
    texts = ["Ada Applebury'da yaşıyor.", "Ada lives in Applebury.", "Kira'nın bir papağanı var."]
    nats = sum(_nats_by_hand(model, tokenizer.encode(t)) for t in texts)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    assert n_bytes > sum(map(len, texts))  # ş, ğ, ı are two bytes each in UTF-8
    measured = turkish.bits_per_byte(model, tokenizer, texts, batch_size=2)
    assert measured["bytes"] == n_bytes
    assert measured["tokens"] == sum(len(tokenizer.encode(t)) - 1 for t in texts)
    assert measured["bits_per_byte"] == pytest.approx(nats / math.log(2) / n_bytes, rel=1e-5)


def test_a_text_longer_than_the_context_is_read_in_windows_that_score_each_token_once(base):
    model, tokenizer = base
    text = " ".join(tr for _, tr in parallel_documents(WORLD, "val", 3))
    ids = tokenizer.encode(text)
    seq_len = model.args.max_seq_len
    assert seq_len + 1 < len(ids) <= 2 * seq_len + 1
    nats = _nats_by_hand(model, ids[:seq_len + 1]) + _nats_by_hand(model, ids[seq_len:])
    measured = turkish.bits_per_byte(model, tokenizer, [text])
    assert measured["tokens"] == len(ids) - 1
    assert measured["nats"] == pytest.approx(nats, rel=1e-5)


# ------------------------------------------------------------------------------------------ the extended vocabulary

def test_the_extended_tokenizer_keeps_every_old_piece_and_adds_turkish_ones(extended):
    kit = Tokenizer(DATA / "tokenizer.model")
    assert len(kit) < len(extended) <= len(kit) + 64
    assert [kit.id_to_piece(i) for i in range(len(kit))] == [extended.id_to_piece(i) for i in range(len(kit))]
    assert all(extended.score(i) < min(kit.score(j) for j in range(3, len(kit)) if not kit.is_byte(j))
               for i in range(len(kit), len(extended)))
    assert {extended.id_to_piece(i) for i in range(len(kit), len(extended))}.isdisjoint(
        kit.id_to_piece(i) for i in range(len(kit)))
    texts = [tr for _, tr in parallel_documents(WORLD, "val", 20)]
    for text in texts + ["Ada lives in Applebury.", "Çok güzel bir gün, değil mi?"]:
        assert extended.decode(extended.encode(text)) == text  # SentencePiece reads the merged model
    assert turkish.tokens_per_word(extended, texts) < 0.8 * turkish.tokens_per_word(kit, texts)


def test_each_new_row_starts_as_the_mean_of_the_rows_of_the_pieces_it_replaces(base, extended):
    model, kit = base
    grown = turkish.extend_embeddings(model, kit, extended)
    assert grown.args.vocab_size == len(extended)
    replaced = turkish.replaced_pieces(kit, extended)
    assert sorted(replaced) == list(range(len(kit), len(extended)))
    for name in ("tok_embeddings.weight", "output.weight"):
        old, new = model.state_dict()[name], grown.state_dict()[name]
        assert torch.equal(new[:len(kit)], old)
        for i, ids in replaced.items():
            assert kit.decode(ids) == extended.decode([i])  # the old pieces spell the new one
            assert torch.allclose(new[i], old[ids].mean(0))
    ids = torch.tensor([kit.encode("Ada lives in Applebury.")])
    with torch.no_grad():  # the old vocabulary's logits are unchanged
        assert torch.allclose(grown(ids)[..., :len(kit)], model(ids), atol=1e-6)


# ----------------------------------------------------------------------------------------------------- the texts

def test_held_out_peoples_documents_are_never_training_text():
    held = set(held_out_people(WORLD))
    assert 0 < len(held) < len(WORLD.characters) // 4
    for split, n in (("train", 300), ("val", 60)):
        for english, turkish_text in parallel_documents(WORLD, split, n):
            named = {c.name for c in WORLD.characters if turkish_text.startswith((c.name, f"{LABELS['turkish'][0]}: "
                                                                                 f"{c.name}"))}
            assert named and (named <= held) == (split == "val"), turkish_text
            assert len(english.split("\n")) == len(turkish_text.split("\n"))
            assert english.count(". ") == turkish_text.count(". ")


def test_the_worlds_out_of_world_questions_come_from_its_out_of_world_contents():
    contents = out_of_world_contents(WORLD, "eval")
    rows = out_of_world_questions(WORLD, "eval")
    assert [(c[1], None if c[1] == "real" else c[2]) for c in contents] == [(r["kind"], r["asked"]) for r in rows]


def test_turkish_dialogs_hold_refusals_in_the_share_asked():
    n = 200

    def refusals(dialogs):
        return sum(any(is_refusal_tr(turn["content"]) for turn in d if turn["role"] == "assistant") for d in dialogs)

    shares = {}
    for share in (0.0, 0.1, None):
        dialogs = turkish.turkish_chat_dialogs(WORLD, n, 0, refusals=share)
        assert len(dialogs) == n
        shares[share] = refusals(dialogs) / n
    assert shares[0.0] == 0 and shares[0.1] == 0.1
    assert 0.3 < shares[None] < 0.6  # as drawn: the chat data refuses in 28% of its dialogs, more of those rendered


def test_in_memory_training_trains_only_what_requires_a_gradient(base):
    model, tokenizer = base
    adapted = add_lora(load_tiny("base")[0], targets=("wq", "wv"), r=2, alpha=4)
    tokens = turkish.text_tokens(tokenizer, [tr for _, tr in parallel_documents(WORLD, "train", 20)], 0)
    tuned, losses = finetune_on_batches(adapted, TextBatches(tokens, 32, 2, 0), 2, Recipe(lr=1e-2, steps=2))
    assert len(losses) == 2
    before, after = adapted.state_dict(), tuned.state_dict()
    changed = {name for name in after if not torch.equal(before[name], after[name])}
    assert changed and all("lora_" in name for name in changed)


# ------------------------------------------------------------------------------------------------- end to end

def test_a_quick_run_measures_every_model_and_ships_a_loadable_chat_model(tmp_path):
    results = turkish.run_experiment(tmp_path / "runs", turkish.QUICK)
    assert [row["model"] for row in results["adaptation"]] == ["tiny base", *turkish.PRETRAINED]
    assert [row["model"] for row in results["chat"]] == ["English chat model", *turkish.CHAT_MODELS]
    assert results["adaptation"][2]["training"]["vocabulary"] > results["tokenizers"]["kit"]["pieces"]
    lora = results["adaptation"][3]["training"]
    assert lora["trainable_parameters"] < lora["all_parameters"] / 4
    for row in results["chat"]:
        for language in ("english", "turkish"):
            assert {m["n"] for m in row[language].values()} <= set(results["chat_sets"].values())
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(DATA / "tokenizer.model", data / "tokenizer.model")
    turkish.ship(tmp_path / "runs", results, data_dir=data)
    model, tokenizer = load_tiny("chat-tr", data_dir=data)
    assert "tiny-chat-tr" in (data / "tiny-chat-tr" / "MODEL_CARD.md").read_text(encoding="utf-8")
    for table in (turkish.adaptation_table, turkish.chat_table, turkish.safety_table):
        assert "%" in table(results) or "." in table(results)
    assert json.loads((data / "turkish.json").read_text(encoding="utf-8"))["settings"] == results["settings"]


def test_a_mistaken_command_line_gets_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        turkish.main(["--quick", "--ship"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --ship with --quick") and err.count("\n") == 1


@pytest.mark.skipif(not turkish.RESULTS.is_file(), reason="no shipped results: run `make turkish`")
def test_the_shipped_figures_agree_with_their_counts():
    results = turkish.read_turkish()
    for row in results["chat"]:
        for language in ("english", "turkish"):
            for measure in row[language].values():
                assert measure["share"] == measure["hits"] / measure["n"]
                assert measure["interval"][0] <= measure["share"] <= measure["interval"][1]
    for row in results["adaptation"]:
        for text in ("turkish_val", "english_val", "english_world_val"):
            bpb = row[text]
            assert bpb["bits_per_byte"] == pytest.approx(bpb["nats"] / math.log(2) / bpb["bytes"])
