"""Checkpoint formats and every way a checkpoint can be wrong: each gets a CheckpointError naming the file."""

import json
import os
import pickle

import pytest
import torch
from safetensors.torch import load_file, save_file

from support import small_model
from llama_lab import CheckpointError, load_model, save_model
from llama_lab.checkpoint import detect_format


@pytest.fixture
def saved(tmp_path, model):
    return {fmt: save_model(model, tmp_path / fmt, format=fmt) for fmt in ("hf", "meta", "kit")}


def tokens():
    return torch.randint(0, 101, (1, 12), generator=torch.Generator().manual_seed(0))


def test_formats_are_recognised_and_equal(saved, model):
    for fmt, path in saved.items():
        assert detect_format(path) == fmt
        torch.testing.assert_close(load_model(path)(tokens()), model(tokens()), atol=1e-6, rtol=0)


def test_dtype_and_device_on_load(saved):
    m = load_model(saved["kit"], dtype="bfloat16", device="cpu")
    assert m.tok_embeddings.weight.dtype == torch.bfloat16 and not m.training
    assert m.rope_cos.device.type == "cpu" and m.rope_cos.dtype == torch.float32


def test_meta_params_json_with_vocab_minus_one(tmp_path, model):
    path = save_model(model, tmp_path / "m", format="meta")
    params = json.loads((path / "params.json").read_text())
    params["vocab_size"] = -1  # as Meta ships it
    params["use_scaled_rope"] = False  # keys the kit does not know are ignored
    del params["max_seq_len"], params["rope_theta"]
    (path / "params.json").write_text(json.dumps(params))
    loaded = load_model(path)
    assert loaded.args.vocab_size == 101 and loaded.args.max_seq_len == 4096


def test_meta_rope_freqs_entry_is_ignored(tmp_path, model):
    path = save_model(model, tmp_path / "m", format="meta")
    state = torch.load(path / "consolidated.00.pth", weights_only=True)
    state["rope.freqs"] = torch.zeros(4)
    torch.save(state, path / "consolidated.00.pth")
    load_model(path)


def test_unknown_layout(tmp_path):
    (tmp_path / "weights.npz").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="unknown checkpoint layout"):
        load_model(tmp_path)
    with pytest.raises(CheckpointError, match="not a directory"):
        load_model(tmp_path / "weights.npz")


def test_truncated_files(saved):
    for fmt, name in [("meta", "consolidated.00.pth"), ("kit", "model.safetensors"), ("hf", "model.safetensors")]:
        file = saved[fmt] / name
        file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
        with pytest.raises(CheckpointError, match=f"{name}.*(truncated or corrupt)"):
            load_model(saved[fmt])


def test_missing_unexpected_and_misshaped_tensors_are_listed(saved):
    file = saved["kit"] / "model.safetensors"
    state = load_file(file)
    del state["layers.1.feed_forward.w2.weight"]
    state["layers.9.attention.wq.weight"] = torch.zeros(2, 2)
    state["norm.weight"] = torch.zeros(63)
    save_file(state, file)
    with pytest.raises(CheckpointError) as info:
        load_model(saved["kit"])
    message = str(info.value)
    assert "model.safetensors" in message or str(saved["kit"]) in message
    assert "missing tensors (1): ['layers.1.feed_forward.w2.weight']" in message
    assert "unexpected tensors (1): ['layers.9.attention.wq.weight']" in message
    assert "norm.weight: file (63,) vs model (64,)" in message


def test_shards_that_disagree(tmp_path):
    model = small_model(vocab_size=102)  # an even vocabulary splits in two
    path = save_model(model, tmp_path / "m", format="meta", num_shards=2)
    shard = torch.load(path / "consolidated.01.pth", weights_only=True)
    shard["norm.weight"] = shard["norm.weight"] + 1  # a replicated tensor that differs
    torch.save(shard, path / "consolidated.01.pth")
    with pytest.raises(CheckpointError, match="consolidated.01.pth: shards disagree.*norm.weight"):
        load_model(path)
    del shard["output.weight"]
    torch.save(shard, path / "consolidated.01.pth")
    with pytest.raises(CheckpointError, match="shards disagree"):
        load_model(path)
    (path / "consolidated.01.pth").rename(path / "consolidated.03.pth")
    with pytest.raises(CheckpointError, match="a shard is missing"):
        load_model(path)


class RunsCode:
    """Unpickling this calls os.system: exactly what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path, model):
    path = save_model(model, tmp_path / "m", format="meta")
    marker = tmp_path / "code-ran"
    state = torch.load(path / "consolidated.00.pth", weights_only=True)
    state["payload"] = RunsCode(marker)
    with open(path / "consolidated.00.pth", "wb") as f:
        torch.save(state, f, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="refused to load.*could run code"):
        load_model(path)
    assert not marker.exists()


def test_bad_config_json(tmp_path, saved):
    config = json.loads((saved["hf"] / "config.json").read_text())
    del config["hidden_size"]
    (saved["hf"] / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="config.json lacks 'hidden_size'"):
        load_model(saved["hf"])
    (saved["kit"] / "params.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="params.json: not readable JSON"):
        load_model(saved["kit"])


def test_save_is_atomic(tmp_path, model, monkeypatch):
    path = save_model(model, tmp_path / "ckpt", format="kit")
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    other = small_model(seed=1)
    import llama_lab.checkpoint as checkpoint

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing")
    monkeypatch.setattr(checkpoint, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        save_model(other, path, format="kit")
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before  # the old checkpoint is intact
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # and no temporary directory is left behind
    monkeypatch.undo()
    save_model(other, path, format="kit")
    torch.testing.assert_close(load_model(path)(tokens()), other(tokens()))


def test_resaving_with_fewer_shards_removes_stale_ones(tmp_path):
    model = small_model(vocab_size=102)
    path = save_model(model, tmp_path / "m", format="meta", num_shards=2)
    save_model(model, path, format="meta", num_shards=1)
    assert sorted(p.name for p in path.iterdir()) == ["consolidated.00.pth", "params.json"]
    load_model(path)


def test_saved_checkpoints_get_the_usual_permissions(tmp_path, model):
    umask = os.umask(0o022)
    try:
        path = save_model(model, tmp_path / "shared", format="kit")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o755
    assert {p.name: p.stat().st_mode & 0o777 for p in path.iterdir()} == {"params.json": 0o644,
                                                                         "model.safetensors": 0o644}


def test_every_format_loads_the_same_numbers_in_any_dtype(saved, model):
    """Loading reads each tensor once, lays it out for decoding and lets the file's copy go: the numbers must be
    exactly those saved, also when converted on the way in (or merged from several shards)."""
    reference = {k: v.to(torch.bfloat16) for k, v in model.state_dict().items()}
    for fmt, path in saved.items():
        loaded = load_model(path, dtype="bfloat16").state_dict()
        for name, tensor in reference.items():
            torch.testing.assert_close(loaded[name], tensor, atol=0, rtol=0, msg=f"{fmt} {name}")


def test_two_shards_load_the_same_numbers(tmp_path):
    model = small_model(vocab_size=102)
    path = save_model(model, tmp_path / "m", format="meta", num_shards=2)
    loaded = load_model(path).state_dict()
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded[name], tensor, atol=0, rtol=0, msg=name)
