"""Training: the schedule and optimiser groups by hand, the data pipeline against SentencePiece, the chat loss mask
against the chat format, and the loop itself on a tiny model (loss falls, resume is exact, a broken checkpoint is
refused untouched, two DDP processes match one)."""

import contextlib
import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from llama_lab import train
from llama_lab.world import build, tinyworld
from llama_lab.chat import E_INST, encode_dialog
from llama_lab.checkpoint import CheckpointError, load_model
from llama_lab.optim import Recipe
from llama_lab.tokenizer import Tokenizer, train_tokenizer
from llama_lab.train import IGNORE, TrainConfig, lr_at
from support import REPO

ROOT = REPO


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A small slice of the tiny world, written as `write_corpus` writes it, and a 512-piece tokenizer."""
    folder = tmp_path_factory.mktemp("world")
    world = tinyworld.build_world(0)
    for split, n in (("train", 400), ("val", 40)):
        with open(folder / f"{split}.txt", "w") as f:
            for doc in tinyworld.pretraining_documents(world, split, n, seed=0):
                f.write(doc + "\n\n")
    for split, n in (("train", 200), ("val", 24)):
        with open(folder / f"chat_{split}.jsonl", "w") as f:
            for dialog in tinyworld.chat_dialogs(world, split, n, seed=0):
                f.write(json.dumps({"messages": dialog}) + "\n")
    train_tokenizer(build.tokenizer_text(folder), folder / "tok", vocab_size=512)  # as `make data` trains it
    return folder


def tiny_config(corpus, out, **changes) -> TrainConfig:
    settings = dict(stage="pretrain", data=str(corpus / "train.txt"), val_data=str(corpus / "val.txt"),
                    tokenizer=str(corpus / "tok.model"), out=str(out), dim=32, n_layers=2, n_heads=4, n_kv_heads=2,
                    multiple_of=16, max_seq_len=32, seq_len=32, batch_size=8, steps=12, lr=3e-3, warmup=3,
                    eval_interval=6, eval_batches=2, save_interval=4, progress=False)
    settings.update(changes)
    return TrainConfig(**settings)


def chat_config(corpus, out, init, **changes) -> TrainConfig:
    return tiny_config(corpus, out, **{"stage": "chat", "init": str(init), "data": str(corpus / "chat_train.jsonl"),
                                       "val_data": str(corpus / "chat_val.jsonl"), **changes})


def weights(folder) -> dict:
    return load_file(Path(folder) / "model.safetensors")


# ----------------------------------------------------------------------------------------- hand-computed parts

def test_schedule_warms_up_then_decays_to_a_tenth():
    cfg = TrainConfig(lr=1e-3, warmup=10, steps=110)
    expected = {
        0: 1e-4, 4: 5e-4, 9: 1e-3,  # linear warm-up: (step + 1) / 10 of the peak
        10: 1e-3,  # the cosine starts at the peak
        35: 1e-4 + 0.5 * (1 + math.cos(math.pi / 4)) * 9e-4,  # a quarter of the way: 8.682e-4
        60: 5.5e-4,  # half-way: the middle of 1e-3 and 1e-4
        110: 1e-4, 500: 1e-4,  # the end, and beyond it: 10% of the peak
    }
    for step, lr in expected.items():
        assert lr_at(step, cfg) == pytest.approx(lr, rel=1e-12), step
    decay = [lr_at(s, cfg) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))


def test_optimizer_is_llama2s_adamw_with_decay_on_matrices_only():
    cfg = TrainConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, multiple_of=16, max_seq_len=32, seq_len=32)
    from llama_lab.model import Llama
    model = Llama(cfg.model_args(300))
    optimizer = train.make_optimizer(model, cfg)
    decay, no_decay = optimizer.param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert decay["betas"] == (0.9, 0.95) and decay["eps"] == 1e-5
    assert sorted(names[id(p)] for p in no_decay["params"]) == sorted(
        n for n, _ in model.named_parameters() if n.endswith("norm.weight"))
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_the_recipes_update_by_hand():
    """One update of Llama 2's recipe on a parameter whose gradient is (3, 4): the norm 5 is clipped to 1, and
    AdamW's first step moves each coordinate by lr * m / sqrt(v) = lr * g / |g| = lr, against the gradient."""
    weight = torch.nn.Parameter(torch.zeros(1, 2))
    recipe = Recipe(lr=0.1, steps=10, warmup=2, weight_decay=0.0, eps=1e-12)
    optimizer = recipe.optimizer(torch.nn.ParameterList([weight]))
    weight.grad = torch.tensor([[3.0, 4.0]])
    norm = recipe.update(optimizer, [weight], step=0)
    assert norm.item() == pytest.approx(5.0) and optimizer.param_groups[0]["lr"] == pytest.approx(0.05)  # warm-up
    torch.testing.assert_close(weight.detach(), torch.tensor([[-0.05, -0.05]]))
    assert weight.grad is None  # cleared for the next step


def test_the_recipe_as_the_later_stages_set_it():
    """A min_lr_ratio of 1 holds the peak after the warm-up, exactly; decay_vectors decays the norms' gains too."""
    constant = Recipe(lr=3e-4, steps=50, warmup=5, min_lr_ratio=1.0)
    assert [constant.lr_at(s) for s in range(5, 60)] == [3e-4] * 55
    from llama_lab.model import Llama, ModelArgs
    model = Llama(ModelArgs(dim=32, n_layers=1, n_heads=4, vocab_size=40, multiple_of=16, max_seq_len=8))
    [everything] = Recipe(lr=1e-3, steps=10, decay_vectors=True).optimizer(model).param_groups
    assert everything["weight_decay"] == 0.1 and len(everything["params"]) == len(list(model.parameters()))
    with pytest.raises(ValueError, match="min_lr_ratio=2"):
        Recipe(lr=1e-3, steps=10, min_lr_ratio=2)


def test_head_and_cross_entropy_by_hand():
    hidden = torch.tensor([[1.0, 0.0], [2.0, 1.0]], requires_grad=True)
    weight = torch.tensor([[0.0, 0.0], [math.log(3), 0.0]], requires_grad=True)
    total = train.LinearCrossEntropy.apply(hidden, weight, torch.tensor([1, IGNORE]))  # row 2 is not scored
    total.backward()
    assert total.item() == pytest.approx(-math.log(3 / 4))  # logits [0, ln 3]: softmax [1/4, 3/4]
    # the logits' gradient is softmax - onehot = [1/4, -1/4]; times the weight for hidden, times hidden for the weight
    torch.testing.assert_close(hidden.grad, torch.tensor([[-math.log(3) / 4, 0.0], [0.0, 0.0]]))
    torch.testing.assert_close(weight.grad, torch.tensor([[0.25, 0.0], [-0.25, 0.0]]))


@pytest.mark.parametrize("unscored", ["some", "none", "all"])
def test_head_and_cross_entropy_match_torchs(unscored):
    """The loss and its gradients are those of F.cross_entropy over hidden @ weight.T, run once or twice."""
    generator = torch.Generator().manual_seed(0)
    hidden, weight = torch.randn(37, 5, generator=generator), torch.randn(11, 5, generator=generator)
    targets = torch.randint(0, 11, (37,), generator=generator)
    if unscored != "none":
        targets[torch.arange(37) % 3 == 0 if unscored == "some" else torch.ones(37, dtype=torch.bool)] = IGNORE
    ours = [hidden.clone().requires_grad_(), weight.clone().requires_grad_()]
    theirs = [hidden.clone().requires_grad_(), weight.clone().requires_grad_()]
    total = train.LinearCrossEntropy.apply(*ours, targets)
    expected = torch.nn.functional.cross_entropy(theirs[0] @ theirs[1].T, targets, ignore_index=IGNORE,
                                                 reduction="sum")
    torch.testing.assert_close(total, expected)
    for _ in range(2):  # a second backward (retain_graph) adds the same gradients again
        (total / 7).backward(retain_graph=True)
        (expected / 7).backward(retain_graph=True)
        for mine, torchs in zip(ours, theirs):
            torch.testing.assert_close(mine.grad, torchs.grad)


@pytest.mark.parametrize("autocast", [False, True])
def test_loss_sums_takes_the_kits_route_to_the_same_loss_and_gradients(autocast):
    """loss_sums with a gradient (LinearCrossEntropy on the model's hidden states) against the model's logits and
    F.cross_entropy: the same loss and the same gradient for every weight; a hook on the head keeps torch's route."""
    from llama_lab.model import Llama

    cfg = TrainConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, multiple_of=16, max_seq_len=32, seq_len=32)
    torch.manual_seed(0)
    model = Llama(cfg.model_args(300))
    tokens = torch.randint(0, 300, (3, 17))
    inputs, targets = tokens[:, :-1], tokens[:, 1:].clone()
    targets[0, :5] = IGNORE
    context = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()

    def loss_and_grads():
        model.zero_grad(set_to_none=True)
        with context:
            total, count = train.loss_sums(model, inputs, targets)
        (total / count).backward()
        return total, {name: p.grad for name, p in model.named_parameters()}, total.grad_fn

    total, grads, route = loss_and_grads()
    assert type(route).__name__ == "LinearCrossEntropyBackward"
    with torch.no_grad():
        logits = model(inputs)
    seen = []
    handle = model.output.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    expected, expected_grads, torchs_route = loss_and_grads()
    handle.remove()
    assert seen == [(3, 16, 300)] and type(torchs_route).__name__ != "LinearCrossEntropyBackward"
    tolerance = {"atol": 2e-2, "rtol": 2e-2} if autocast else {}
    torch.testing.assert_close(total, expected, **tolerance)
    if not autocast:
        torch.testing.assert_close(total, torch.nn.functional.cross_entropy(
            logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE, reduction="sum"))
    for name in grads:
        torch.testing.assert_close(grads[name], expected_grads[name], **tolerance, msg=name)


# ------------------------------------------------------------------------------------------------------ data

def corpus_ids(tok: Tokenizer, path) -> list[int]:
    """The ids tokenize_corpus should give: SentencePiece's, document by document, each opened by BOS."""
    return [t for doc in tinyworld.read_documents(path) for t in tok.encode(doc, bos=True)]


def test_corpus_is_documents_each_opened_by_bos(corpus, tmp_path):
    shutil.copy(corpus / "val.txt", tmp_path / "val.txt")
    tok = Tokenizer(corpus / "tok.model")
    ids = train.tokenize_corpus(tmp_path / "val.txt", tok)
    expected = corpus_ids(tok, tmp_path / "val.txt")
    assert ids.dtype == np.uint16 and ids.tolist() == expected
    assert train.token_cache_paths(tmp_path / "val.txt")[0].is_file()
    again = train.tokenize_corpus(tmp_path / "val.txt", tok)  # mapped, not tokenized again
    assert isinstance(again, np.memmap) and again.tolist() == expected


def test_the_token_cache_leaves_a_users_bin_file_alone(corpus, tmp_path):
    """A `val.bin` beside `val.txt` is the user's: the cache is written under a name of its own."""
    shutil.copy(corpus / "val.txt", tmp_path / "val.txt")
    (tmp_path / "val.bin").write_bytes(b"my own token ids")
    (tmp_path / "val.bin.json").write_text('{"mine": true}')
    tok = Tokenizer(corpus / "tok.model")
    ids = train.tokenize_corpus(tmp_path / "val.txt", tok)
    assert ids.tolist() == corpus_ids(tok, tmp_path / "val.txt")
    assert (tmp_path / "val.bin").read_bytes() == b"my own token ids"
    assert (tmp_path / "val.bin.json").read_text() == '{"mine": true}'


def test_a_file_in_the_caches_place_that_the_kit_did_not_write_is_refused_untouched(corpus, tmp_path):
    shutil.copy(corpus / "val.txt", tmp_path / "val.txt")
    tok = Tokenizer(corpus / "tok.model")
    bin_path, meta_path = train.token_cache_paths(tmp_path / "val.txt")
    bin_path.write_bytes(b"someone else's file")
    with pytest.raises(ValueError, match="not a token cache the kit wrote"):
        train.tokenize_corpus(tmp_path / "val.txt", tok)
    assert bin_path.read_bytes() == b"someone else's file" and not meta_path.exists()
    bin_path.unlink()
    meta_path.write_text("not the kit's")
    with pytest.raises(ValueError, match="not a token cache the kit wrote"):
        train.tokenize_corpus(tmp_path / "val.txt", tok)
    assert meta_path.read_text() == "not the kit's" and not bin_path.exists()


def test_the_token_cache_follows_the_texts_content_not_its_size_and_time(corpus, tmp_path):
    """An edit that keeps the size and the modification time (a typo fixed, a file copied with its times) is
    still seen: the cache records the text's sha256."""
    text = tmp_path / "val.txt"
    shutil.copy(corpus / "val.txt", text)
    tok = Tokenizer(corpus / "tok.model")
    before = train.tokenize_corpus(text, tok).tolist()
    stat = text.stat()
    original = text.read_text()
    edited = original.replace("a", "o", 1)
    assert edited != original and len(edited.encode()) == len(original.encode())
    text.write_text(edited)
    os.utime(text, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = train.tokenize_corpus(text, tok).tolist()
    assert after != before
    assert after == corpus_ids(tok, text)
    meta = json.loads(train.token_cache_paths(text)[1].read_text())
    assert meta["text_sha256"] == train.file_sha256(text) and meta["tokenizer_sha256"] == train.file_sha256(tok.path)


def test_a_crash_while_writing_the_cache_leaves_no_half_cache(corpus, tmp_path, monkeypatch):
    text = tmp_path / "val.txt"
    shutil.copy(corpus / "val.txt", text)
    tok = Tokenizer(corpus / "tok.model")

    def power_cut(fd):
        raise OSError("the disk went away")

    monkeypatch.setattr(os, "fsync", power_cut)
    with pytest.raises(OSError, match="the disk went away"):
        train.tokenize_corpus(text, tok)
    monkeypatch.undo()
    bin_path, _ = train.token_cache_paths(text)
    assert not bin_path.exists() and not any(".tmp" in p.name for p in tmp_path.iterdir())
    expected = corpus_ids(tok, text)
    assert train.tokenize_corpus(text, tok).tolist() == expected


def test_batches_depend_on_seed_and_step_and_split_over_processes():
    tokens = np.arange(1000, dtype=np.uint16)
    data = train.TextBatches(tokens, seq_len=16, batch_size=8, seed=3)
    x, y = data.batch(5)
    assert x.shape == y.shape == (8, 16) and torch.equal(x[:, 1:], y[:, :-1])
    assert torch.equal(data.batch(5)[0], x) and not torch.equal(data.batch(6)[0], x)
    halves = [data.batch(5, rank, 2)[0] for rank in (0, 1)]
    assert torch.equal(torch.cat(halves), x)


def test_chat_loss_covers_exactly_the_assistant_tokens_and_eos(corpus):
    tok = Tokenizer(corpus / "tok.model")
    dialog = [{"role": "system", "content": "Be kind."},
              {"role": "user", "content": "Where does Ada live?"}, {"role": "assistant", "content": "In Ashby."},
              {"role": "user", "content": "Who is her friend?"}, {"role": "assistant", "content": "Her friend is Tom."}]
    inputs, targets = train.chat_example(tok, dialog, seq_len=256)
    # The prompt of each turn, built by Meta's format, must be exactly the unscored prefix before that turn.
    prompt1 = encode_dialog(tok, dialog[:2])
    prompt2 = encode_dialog(tok, dialog[:4])
    ids = inputs + [targets[-1]]
    scored = [i + 1 for i, t in enumerate(targets) if t != IGNORE]  # positions in ids whose token is learned
    assert ids[:len(prompt2)] == prompt2
    runs = [list(range(len(prompt1), prompt1_end := ids.index(tok.eos_id) + 1)),
            list(range(len(prompt2), len(ids)))]
    assert scored == runs[0] + runs[1]
    for run, answer in zip(runs, ("In Ashby.", "Her friend is Tom.")):
        assert ids[run[-1]] == tok.eos_id
        assert tok.decode(ids[run[0]:run[-1]]) == answer + " "  # Meta writes f"{answer} " before EOS
        assert tok.decode(ids[:run[0]]).endswith(E_INST)
    assert prompt1_end < len(prompt2)
    # Ghost Attention's training dialogs: the same ids, and the loss on the last answer alone
    last_inputs, last_targets = train.chat_example(tok, dialog, seq_len=256, last_answer_only=True)
    assert last_inputs == inputs
    assert [i + 1 for i, t in enumerate(last_targets) if t != IGNORE] == runs[1]
    assert all(t == u for t, u in zip(last_targets, targets) if t != IGNORE)


# ------------------------------------------------------------------------------------------------ the loop

@pytest.fixture(scope="module")
def pretrained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("base")
    summary = train.train(tiny_config(corpus, out, steps=40, warmup=4, save_interval=20, eval_interval=20))
    return out, summary


def test_pretraining_lowers_the_loss_and_writes_a_model(pretrained):
    out, summary = pretrained
    losses = [loss for _, loss in summary["history"]["train"]]
    print(f"pretraining loss {losses[0]:.3f} -> {losses[-1]:.3f}, val {summary['history']['val']}")
    assert losses[0] == pytest.approx(math.log(512), abs=0.3)  # uniform over the vocabulary at the start
    assert np.mean(losses[-5:]) < losses[0] - 1.0
    assert summary["history"]["val"][-1][1] < summary["history"]["val"][0][1]
    assert (out / "checkpoint.pt").is_file() and summary["tokens_seen"] == 40 * 8 * 32
    model = load_model(out)
    assert model.args.n_kv_heads == 2 and model.num_parameters() == summary["parameters"]


def test_resume_continues_exactly(corpus, tmp_path):
    straight = train.train(tiny_config(corpus, tmp_path / "straight"))
    first = train.train(tiny_config(corpus, tmp_path / "split", until=5))
    assert first["steps"] == 5 and not first["finished"]
    assert not (tmp_path / "split" / "model.safetensors").exists()
    resumed = train.train(tiny_config(corpus, tmp_path / "split", resume=True))
    assert resumed["history"]["train"] == straight["history"]["train"]  # bitwise, step by step
    assert resumed["history"]["val"] == straight["history"]["val"]
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "split")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_save_killed_midway_leaves_the_previous_checkpoint(corpus, tmp_path, monkeypatch):
    out = tmp_path / "run"
    train.train(tiny_config(corpus, out, until=4))
    before = (out / "checkpoint.pt").read_bytes()

    def killed_save(obj, path):  # the process dies while the new checkpoint is half written
        Path(path).write_bytes(b"PK\x03\x04 half a zip file")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_save)
    with pytest.raises(KeyboardInterrupt):
        train.train(tiny_config(corpus, out, resume=True, until=8))
    monkeypatch.undo()
    assert (out / "checkpoint.pt").read_bytes() == before
    resumed = train.train(tiny_config(corpus, out, resume=True))
    straight = train.train(tiny_config(corpus, tmp_path / "straight"))
    assert resumed["history"]["train"] == straight["history"]["train"]


def test_a_corrupt_or_foreign_checkpoint_is_refused_and_left_alone(corpus, tmp_path):
    out = tmp_path / "run"
    train.train(tiny_config(corpus, out, until=4))
    path = out / "checkpoint.pt"
    good = path.read_bytes()

    path.write_bytes(good[:len(good) // 2])  # truncated, as by a full disk
    with pytest.raises(CheckpointError, match="checkpoint.pt: truncated or corrupt"):
        train.train(tiny_config(corpus, out, resume=True))
    assert path.read_bytes() == good[:len(good) // 2]

    class Evil:  # a pickle that would run code on load
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    torch.save({"model": Evil()}, path)
    evil = path.read_bytes()
    with pytest.raises(CheckpointError, match="checkpoint.pt: refused"):
        train.train(tiny_config(corpus, out, resume=True))
    assert path.read_bytes() == evil

    path.write_bytes(good)
    with pytest.raises(CheckpointError, match=r"different run \(lr: checkpoint 0.003 vs now 0.001\)"):
        train.train(tiny_config(corpus, out, resume=True, lr=1e-3))
    assert path.read_bytes() == good and sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]

    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        train.train(tiny_config(corpus, tmp_path / "empty", resume=True))


def test_chat_finetuning_learns_only_the_answers(corpus, pretrained, tmp_path):
    base, _ = pretrained
    summary = train.train(chat_config(corpus, tmp_path / "chat", base, steps=16, warmup=2, lr=3e-3))
    losses = [loss for _, loss in summary["history"]["train"]]
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    tok = Tokenizer(corpus / "tok.model")
    dialogs = train.read_dialogs(corpus / "chat_train.jsonl")
    data = train.ChatBatches([train.chat_example(tok, d, 32) for d in dialogs], 8, 1337, tok.eos_id)
    scored = sum(int((data.batch(s)[1] != IGNORE).sum()) for s in range(16))
    assert summary["tokens_seen"] == scored


def six_steps(corpus, pretrained, stage: str, out, **changes) -> TrainConfig:
    """Six steps of pretraining from scratch, or of chat fine-tuning from the pretrained fixture."""
    if stage == "chat":
        return chat_config(corpus, out, pretrained[0], steps=6, eval_interval=3, **changes)
    return tiny_config(corpus, out, steps=6, eval_interval=3, **changes)


def assert_same_run(summary, folder, reference, reference_folder):
    """The same losses, step by step, and the same final weights, to float32 rounding."""
    for curve in ("train", "val"):
        np.testing.assert_allclose([l for _, l in summary["history"][curve]],
                                   [l for _, l in reference["history"][curve]], atol=1e-5)
    a, b = weights(folder), weights(reference_folder)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5


@pytest.mark.parametrize("stage", ["pretrain", "chat"])
def test_compiled_training_follows_the_eager_run(corpus, pretrained, tmp_path, stage):
    """--compile runs the loss and its gradient through Inductor: the same losses and weights, to rounding.

    Chat batches are padded to their longest dialog, so their widths change from step to step: the compiled loss
    must follow them (Dynamo recompiles for a new width, then treats the width as a variable).
    """
    from torch._dynamo.utils import counters

    eager = train.train(six_steps(corpus, pretrained, stage, tmp_path / "eager"))
    graphs_before = counters["stats"]["unique_graphs"]
    compiled = train.train(six_steps(corpus, pretrained, stage, tmp_path / "compiled", compile=True))
    assert counters["stats"]["unique_graphs"] > graphs_before  # it did run compiled code
    assert_same_run(compiled, tmp_path / "compiled", eager, tmp_path / "eager")


@pytest.mark.parametrize("stage, compiled", [("pretrain", False), ("chat", False), ("pretrain", True)])
def test_two_ddp_processes_match_one(corpus, pretrained, tmp_path, stage, compiled):
    """torchrun with 2 CPU processes (gloo), each on half of the global batch, gives one process's numbers; so does
    a compiled step under DistributedDataParallel (--compile) against the eager single process."""
    cfg = six_steps(corpus, pretrained, stage, tmp_path / "one")
    one = train.train(cfg)
    flags = command_line(dataclasses.replace(cfg, out=str(tmp_path / "two"), device="cpu", compile=compiled))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "llama_lab.train", *flags], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert two["world_size"] == 2 and two["tokens_seen"] == one["tokens_seen"]
    assert_same_run(two, tmp_path / "two", one, tmp_path / "one")


def test_command_line_flags_build_the_config():
    cfg = train.parse_args(["--stage", "chat", "--steps", "7", "--warmup", "2", "--lr", "2e-4", "--init", "data/tiny-base",
                            "--until", "none", "--no-progress"])
    assert (cfg.stage, cfg.steps, cfg.lr, cfg.init, cfg.until, cfg.progress) == (
        "chat", 7, 2e-4, "data/tiny-base", None, False)


# ---------------------------------------------------------------------------------------- the command line

def command_line(cfg: TrainConfig) -> list[str]:
    """The flags that make `cfg` (None fields are left at their default, which is None)."""
    flags = []
    for f in dataclasses.fields(cfg):
        value, flag = getattr(cfg, f.name), f.name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(f"--{flag}" if value else f"--no-{flag}")
        elif value is not None:
            flags += [f"--{flag}", str(value)]
    return flags


def refused(capsys, flags: list[str], *changes: str) -> str:
    """Run the command line with `flags` and then `changes`: it must print one line to stderr, `error: ...`, and
    exit with status 2. Returns that line."""
    with pytest.raises(SystemExit) as exit:
        train.main([*flags, *changes])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    return err


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


LATIN1_TEXT = "Zoé ran to the café.\n\nMia sat.\n".encode("latin-1")
CHAT_MISTAKES = {
    "not-json": ('[{"role": "user", "content": "hi"}, {"role": "assistant"', "this line is not JSON"),
    "wrong-role": ('[{"role": "user", "content": "hi"}, {"role": "bot", "content": "hello"}]', "role 'bot'"),
    "no-content": ('[{"role": "user", "content": "hi"}, {"role": "assistant"}]', "'role' and 'content'"),
    "ends-with-user": ('[{"role": "user", "content": "hi"}]', "end with the assistant's reply"),
}


MISTAKEN_FLAGS = [  # (flags, what the one line says)
    (["--steps", "0"], "steps=0: train for at least 1 step"),
    (["--steps", "-5"], "steps=-5: train for at least 1 step"),
    (["--lr", "-1"], "lr=-1.0: the learning rate must be a positive number"),
    (["--lr", "nan"], "lr=nan: the learning rate must be a positive number"),
    (["--batch-size", "0"], "batch_size=0"),
    (["--seq-len", "1"], "seq_len=1"),
    (["--seq-len", "64"], "seq_len=64 is longer than max_seq_len=32"),
    (["--warmup", "12"], "warmup=12 must be at least 0 and below steps=12"),
    (["--stage", "finetune"], "stage='finetune': use 'pretrain' or 'chat'"),
    (["--device", "gpu"], "device='gpu'"),
    (["--autocast", "maybe"], "autocast='maybe': use 'auto', 'on' or 'off'"),
    (["--export-dtype", "int3"], "export_dtype='int3'"),
    (["--steps", "ten"], "argument --steps: invalid int value: 'ten'"),
    (["--stepz", "10"], "unrecognized arguments: --stepz 10"),
]


@pytest.mark.parametrize("changes, says", MISTAKEN_FLAGS, ids=[" ".join(flags) for flags, _ in MISTAKEN_FLAGS])
def test_a_mistaken_flag_is_one_line_and_status_2(corpus, tmp_path, capsys, changes, says):
    err = refused(capsys, command_line(tiny_config(corpus, tmp_path / "run")), *changes)
    assert says in err
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine with a GPU would train")
def test_a_device_this_machine_lacks_is_one_line(corpus, tmp_path, capsys):
    err = refused(capsys, command_line(tiny_config(corpus, tmp_path / "run", device="cuda")))
    assert "device='cuda': this machine has no such device" in err


def test_a_notebook_gets_the_same_message_as_a_value_error(corpus, tmp_path):
    with pytest.raises(ValueError, match="steps=0: train for at least 1 step"):
        tiny_config(corpus, tmp_path, steps=0)
    with pytest.raises(ValueError, match="lr=nan"):
        tiny_config(corpus, tmp_path, lr=float("nan"))


@pytest.mark.parametrize("case", ["missing", "empty", "whitespace", "latin-1", "binary", "folder", "bin-suffix",
                                  "too-short", "chat-data-to-pretrain"])
def test_pretraining_data_the_kit_cannot_read_is_one_line_and_left_alone(corpus, tmp_path, capsys, case):
    data = {
        "missing": tmp_path / "nothing.txt",
        "empty": write(tmp_path / "empty.txt", ""),
        "whitespace": write(tmp_path / "blank.txt", " \n\n\t\n"),
        "latin-1": write(tmp_path / "latin.txt", LATIN1_TEXT),
        "binary": write(tmp_path / "corpus.txt", bytes(range(256)) * 4),
        "folder": corpus,
        "bin-suffix": write(tmp_path / "corpus.bin", np.arange(300, 900, dtype=np.uint16).tobytes()),
        "too-short": write(tmp_path / "short.txt", "Tom ran.\n"),
        "chat-data-to-pretrain": corpus / "chat_val.jsonl",
    }[case]
    says = {
        "missing": f"no such file: {data}", "empty": f"{data} is empty", "whitespace": f"{data} holds only whitespace",
        "latin-1": f"{data} is not UTF-8 text (byte 0xe9", "binary": f"{data} is not text",
        "folder": f"{data} is a folder", "bin-suffix": f"{data} is not text", "too-short": "needs at least 34",
        "chat-data-to-pretrain": "--stage chat",
    }[case]
    before = sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir() if p.is_file())
    err = refused(capsys, command_line(tiny_config(corpus, tmp_path / "run", data=str(data))))
    assert says in err
    if case != "too-short":
        assert "pretraining reads a UTF-8 text file" in err or case == "latin-1"
        assert sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir() if p.is_file()) == before
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("case", sorted(CHAT_MISTAKES))
def test_malformed_chat_data_is_one_line_naming_the_line(corpus, pretrained, tmp_path, capsys, case):
    line, says = CHAT_MISTAKES[case]
    good = (corpus / "chat_val.jsonl").read_text().splitlines()[0]
    data = write(tmp_path / "dialogs.jsonl", f"{good}\n\n{line}\n" if case != "not-json" else f"{line}\n{good}\n")
    err = refused(capsys, command_line(chat_config(corpus, tmp_path / "run", pretrained[0], data=str(data))))
    assert says in err and f"{data}:" in err
    if case == "not-json":
        assert "chat fine-tuning reads a .jsonl file" in err


def test_a_sequence_longer_than_the_initial_models_context_is_refused(corpus, pretrained, tmp_path, capsys):
    flags = command_line(chat_config(corpus, tmp_path / "run", pretrained[0], seq_len=48, max_seq_len=64))
    err = refused(capsys, flags)
    assert "seq_len=48 is longer than the context of" in err and "max_seq_len 32" in err


def test_out_naming_a_file_or_the_initial_model_is_refused_before_anything_runs(corpus, pretrained, tmp_path,
                                                                                  capsys):
    out = write(tmp_path / "notes.txt", "my notes")
    err = refused(capsys, command_line(tiny_config(corpus, out)))
    assert f"out={str(out)!r} is a file" in err and out.read_text() == "my notes"
    err = refused(capsys, command_line(tiny_config(corpus, tmp_path / "run", export=str(out))))
    assert f"export={str(out)!r} is a file" in err and out.read_text() == "my notes"
    base = pretrained[0]
    before = {p.name: p.read_bytes() for p in base.iterdir()}
    err = refused(capsys, command_line(chat_config(corpus, base, base)))
    assert f"out={str(base)!r} is the model the run starts from (--init)" in err
    assert {p.name: p.read_bytes() for p in base.iterdir()} == before


def test_resuming_with_another_configuration_is_one_line(corpus, tmp_path, capsys):
    train.train(tiny_config(corpus, tmp_path / "run", until=2))
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    err = refused(capsys, command_line(tiny_config(corpus, tmp_path / "run", resume=True, lr=1e-3)))
    assert "different run (lr: checkpoint 0.003 vs now 0.001)" in err
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before


def test_training_leaves_the_users_files_alone(corpus, tmp_path):
    """The data file, and the files of an --out folder that the run did not write, are as they were."""
    data = tmp_path / "train.txt"
    shutil.copy(corpus / "train.txt", data)
    out = tmp_path / "my-folder"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    (out / "backup.safetensors").write_bytes(b"a model I keep")
    data_before = (data.read_bytes(), data.stat().st_mtime_ns)
    train.main(command_line(tiny_config(corpus, out, data=str(data), steps=2, warmup=1)))
    assert (data.read_bytes(), data.stat().st_mtime_ns) == data_before
    assert (out / "notes.txt").read_text() == "my notes"
    assert (out / "backup.safetensors").read_bytes() == b"a model I keep"
    assert load_model(out).num_parameters() > 0


def test_the_command_line_prints_one_line_without_a_traceback(corpus, tmp_path):
    """The real `python -m llama_lab.train`, as a learner types it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    flags = command_line(tiny_config(corpus, tmp_path / "run", data=str(tmp_path / "missing.txt")))
    run = subprocess.run([sys.executable, "-m", "llama_lab.train", *flags], env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith(f"error: no such file: {tmp_path / 'missing.txt'}")


def test_make_data_chains_the_chat_rounds_and_the_card_names_each(corpus, pretrained, tmp_path):
    """`make data`'s chat rounds, shrunk: round one from the base model, each later round from the one before it
    (its own dialogs, its own run folder), the last exported to data/tiny-chat; the card shows every round."""
    base, _ = pretrained
    data, runs = tmp_path / "data", tmp_path / "runs"
    world = data / "world"
    world.mkdir(parents=True)
    tiny_world = tinyworld.build_world(0)
    for name in tinyworld.LATER_ROUNDS:
        for split, n in (("train", 64), ("val", 8)):
            with open(world / f"chat_round_{name}_{split}.jsonl", "w") as f:
                for d in tinyworld.chat_dialogs_round(tiny_world, split, n, 0, name):
                    f.write(json.dumps({"messages": d}) + "\n")
    small = ["--steps", "2", "--warmup", "1", "--batch-size", "4", "--seq-len", "32", "--eval-interval", "2",
             "--eval-batches", "1", "--save-interval", "2", "--no-progress"]
    common = ["--tokenizer", str(corpus / "tok.model"), "--seed", "1337"]
    round_one = ["--stage", "chat", "--init", str(base), "--data", str(corpus / "chat_train.jsonl"),
                 "--val-data", str(corpus / "chat_val.jsonl"), "--out", str(runs / "tiny-chat"),
                 "--export", str(runs / "tiny-chat" / "round-one"), *common, *small]
    later = [command + small for command in build.later_round_commands(data, runs, common)]
    assert len(later) == len(tinyworld.LATER_ROUNDS) == 2
    exports = [runs / "tiny-chat" / "round-one"] + [Path(c[c.index("--export") + 1]) for c in later]
    assert exports[-1] == data / "tiny-chat"
    for command, previous, name in zip(later, exports, tinyworld.LATER_ROUNDS):
        assert command[command.index("--init") + 1] == str(previous)
        assert command[command.index("--data") + 1] == str(world / f"chat_round_{name}_train.jsonl")
    rounds = [(build.run_training(command), command) for command in (round_one, *later)]
    assert all((folder / "model.safetensors").is_file() for folder in exports)
    card = build.chat_card(rounds)
    assert [r["training"]["data"] for r in card["earlier_rounds"]] == [
        str(corpus / "chat_train.jsonl"), str(world / "chat_round_two_train.jsonl")]
    assert card["training"]["data"] == str(world / "chat_round_three_train.jsonl")
    from llama_lab.world.evaluate import render_model_card
    text = render_model_card(card)
    assert "| round 1 |" in text and "| round 2 |" in text and "round 3's, the last" in text
    assert "in 3 rounds" in card["description"]


# ------------------------------------------------------------------------------------------ faults

def test_a_jsonl_line_is_cut_at_newlines_only(corpus, tmp_path):
    """U+2028 (a line separator to str.splitlines) is plain text inside a JSON string, and the kit's own writer
    leaves it unescaped."""
    dialog = [{"role": "user", "content": "Say it on two lines"}, {"role": "assistant", "content": "Tom\u2028ran."}]
    path = tmp_path / "dialogs.jsonl"
    tinyworld.write_jsonl(path, [{"messages": dialog}, {"messages": dialog[:1] + [dialog[1] | {"content": "ok"}]}])
    assert "\u2028" in path.read_text() and path.read_text().count("\n") == 2
    assert train.read_dialogs(path) == [dialog, dialog[:1] + [dialog[1] | {"content": "ok"}]]


def test_a_line_nested_too_deep_is_one_line_naming_it(corpus, pretrained, tmp_path, capsys):
    good = (corpus / "chat_val.jsonl").read_text().splitlines()[0]
    data = write(tmp_path / "dialogs.jsonl", f"{good}\n{'[' * 100_000}{']' * 100_000}\n")
    err = refused(capsys, command_line(chat_config(corpus, tmp_path / "run", pretrained[0], data=str(data))))
    assert f"{data}:2: this line nests lists or objects too deeply to be a dialog" in err
    assert not (tmp_path / "run").exists()


def test_a_token_cache_with_ids_past_the_vocabulary_is_made_afresh(corpus, tmp_path):
    shutil.copyfile(corpus / "val.txt", tmp_path / "val.txt")
    tok = Tokenizer(corpus / "tok.model")
    expected = np.array(train.tokenize_corpus(tmp_path / "val.txt", tok))
    bin_path, _ = train.token_cache_paths(tmp_path / "val.txt")
    tampered = expected.copy()
    tampered[5] = 60_000  # the vocabulary has 512 pieces: as an index, this one is past the embedding's end
    bin_path.write_bytes(tampered.tobytes())
    assert np.array_equal(train.tokenize_corpus(tmp_path / "val.txt", tok), expected)
    assert np.array_equal(np.fromfile(bin_path, dtype=np.uint16), expected)


def command(flags: list[str], **run) -> subprocess.CompletedProcess:
    """`python -m llama_lab.train FLAGS`, as a learner types it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "llama_lab.train", *flags], env=env, capture_output=True,
                          text=True, timeout=300, **run)


def one_line(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 2 and run.stderr.startswith("error: ") and run.stderr.count("\n") == 1, run.stderr
    return run.stderr.strip()


def test_a_full_disk_while_saving_the_checkpoint_is_one_line_and_keeps_the_previous(corpus, tmp_path):
    import resource
    import signal
    out = tmp_path / "run"
    train.train(tiny_config(corpus, out, until=4))
    before = (out / "checkpoint.pt").read_bytes()

    def small_disk():  # files may not grow past 20 kB: the checkpoint (about 200 kB) cannot be written
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails (EFBIG), as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    assert len(before) > 20_000
    run = command(command_line(tiny_config(corpus, out, resume=True, until=8)), preexec_fn=small_disk)
    assert one_line(run).startswith(f"error: could not write the checkpoint into {out}: the write failed")
    assert "the previous checkpoint checkpoint.pt there is intact (--resume continues from it)" in run.stderr
    assert (out / "checkpoint.pt").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]  # no half-written temporary left


def test_read_only_data_and_out_folders_are_one_line(corpus, tmp_path):
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    locked = tmp_path / "locked"  # mounted read-only below: writing there fails as on a read-only disk, even for root
    locked.mkdir()
    shutil.copyfile(corpus / "val.txt", locked / "val.txt")
    (locked / "out").mkdir()
    read_only = ["bwrap", "--dev-bind", "/", "/", "--ro-bind", str(locked), str(locked)]
    for config, says in (
            (tiny_config(corpus, tmp_path / "run", data=str(locked / "val.txt"), val_data=None),
             f"error: cannot write the token cache val.txt.tokens.bin beside {locked / 'val.txt'} (Read-only file "
             f"system): the kit keeps a text's token ids beside it. Make {locked} writable"),
            (tiny_config(corpus, locked / "out"), f"error: out='{locked / 'out'}' cannot be written to")):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        run = subprocess.run([*read_only, sys.executable, "-m", "llama_lab.train", *command_line(config)], env=env,
                             capture_output=True, text=True, timeout=300)
        assert one_line(run).startswith(says)
    assert sorted(p.name for p in locked.iterdir()) == ["out", "val.txt"] and not (tmp_path / "run").exists()
