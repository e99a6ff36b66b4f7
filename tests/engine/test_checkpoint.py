"""Checkpoint formats and every way a checkpoint can be wrong: each gets a CheckpointError naming the file."""

import contextlib
import json
import os
import pickle
import shutil
import signal
import sys
import time

import pytest
import torch
from safetensors.torch import load_file, save_file

from support import REPO, one_thread, small_model  # noqa: F401 (one_thread is autouse: see in_child)
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
    loaded = load_model(path)
    torch.testing.assert_close(loaded(tokens()), model(tokens()), atol=1e-6, rtol=0)


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
    import llama_lab.checkpoint.save as saving

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing")
    monkeypatch.setattr(saving, "save_file", crash)
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
    assert sorted(p.name for p in path.iterdir()) == [".llama_lab.json", "consolidated.00.pth", "params.json"]
    loaded = load_model(path).state_dict()
    assert all(torch.equal(loaded[name], tensor) for name, tensor in model.state_dict().items())


def test_saved_checkpoints_get_the_usual_permissions(tmp_path, model):
    umask = os.umask(0o022)
    try:
        path = save_model(model, tmp_path / "shared", format="kit")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o755
    assert {p.name: p.stat().st_mode & 0o777 for p in path.iterdir()} == {
        "params.json": 0o644, "model.safetensors": 0o644, ".llama_lab.json": 0o644}


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


# ------------------------------------------------------------------------------ loading refuses bad input

def in_child(run) -> int:
    """Run `run()` in a forked copy of this process and return how it ended: its exit code, or minus the signal
    that killed it. For what no test process should do itself: die of SIGBUS, or be killed half-way through."""
    return ending(start_in_child(run))


def start_in_child(run) -> int:
    """Start `run()` in a forked copy of this process; returns its process id (see `ending`). The copy's exit code
    is 0 if run() returned, 1 if it raised."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            # A forked copy of a process whose OpenMP threads have started must not start them again: the pool's
            # threads were not copied, and the first parallel loop would wait on them forever. One thread runs
            # torch's loops inline.
            torch.set_num_threads(1)
            run()
            code = 0
        finally:
            os._exit(code)
    return pid


def ending(pid: int) -> int:
    """Wait for the child `pid` to end: its exit code, or minus the signal that killed it."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@contextlib.contextmanager
def deadline(seconds: float):
    """Turn a hang into a failure: TimeoutError once `seconds` have passed."""
    def expire(*_):
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


WEIGHTS = {"meta": "consolidated.00.pth", "kit": "model.safetensors", "hf": "model.safetensors"}


@pytest.mark.parametrize("fmt", ["meta", "kit", "hf"])
def test_a_loaded_model_does_not_read_its_file(saved, fmt, model):
    """Overwritten in place or truncated, the file the model came from changes nothing in the model."""
    loaded = load_model(saved[fmt])
    file = saved[fmt] / WEIGHTS[fmt]
    with open(file, "r+b") as f:  # new bytes into the same file, in place (as a copy over it would do)
        f.write(b"\xff" * file.stat().st_size)
    torch.testing.assert_close(loaded(tokens()), model(tokens()), atol=1e-6, rtol=0)

    def truncate_then_run():
        os.truncate(file, 0)
        loaded(tokens())
    assert in_child(truncate_then_run) == 0  # not killed by SIGBUS


@pytest.mark.parametrize("change", [{"n_layers": 10**9}, {"dim": 10**7, "n_heads": 10}, {"vocab_size": 10**10},
                                    {"max_seq_len": 10**12}])
def test_absurd_sizes_are_refused_before_anything_is_allocated(saved, change):
    params = json.loads((saved["kit"] / "params.json").read_text())
    (saved["kit"] / "params.json").write_text(json.dumps({**params, **change}))
    with deadline(20), pytest.raises(CheckpointError, match=r"params.json.*[0-9.]+ [KMGTPE]?i?B"):
        load_model(saved["kit"])


@pytest.mark.parametrize("change", [{"n_heads": 0}, {"n_layers": -1}, {"dim": "64"}, {"n_kv_heads": 0}])
def test_sizes_that_are_not_positive_whole_numbers_are_refused(saved, change):
    params = json.loads((saved["kit"] / "params.json").read_text())
    (saved["kit"] / "params.json").write_text(json.dumps({**params, **change}))
    name, value = next(iter(change.items()))
    with pytest.raises(CheckpointError, match=f"params.json: invalid ModelArgs: {name}={value!r}: each must be a "
                                              "positive whole number"):
        load_model(saved["kit"])


def folder_files(folder) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("fields, message", [
    ([64, 3, 8], r"params.json: holds an array where a JSON object of named fields is expected"),
    ("dim", r"params.json: holds a string where a JSON object"),
    ({"vocab_size": "101"}, r"params.json: invalid ModelArgs: vocab_size='101' must be a whole number"),
    ({"vocab_size": True}, r"params.json: invalid ModelArgs: vocab_size=True must be a whole number"),
    ({"max_seq_len": 96.0}, r"params.json: invalid ModelArgs: max_seq_len=96.0: each must be a positive whole"),
    ({"n_heads": False, "n_kv_heads": None}, r"params.json: invalid ModelArgs: n_heads=False, n_kv_heads=False: "
                                             r"each must be a positive whole number"),
    ({"norm_eps": "1e-5"}, r"params.json: invalid ModelArgs: norm_eps='1e-5': give a positive finite number \(a "
                           r"JSON number, not a string\)"),
    ({"norm_eps": 0, "rope_theta": None}, r"params.json: invalid ModelArgs: norm_eps=0, rope_theta=None: give a "
                                          r"positive finite number"),
    ({"ffn_dim_multiplier": "1.3"}, r"params.json: invalid ModelArgs: ffn_dim_multiplier='1.3': give a positive"),
])
def test_params_json_fields_of_the_wrong_type_are_named(saved, fields, message):
    """Every field is checked before anything is built: a string, a bool or a list where a number belongs is named
    with the file, instead of surfacing as a TypeError deep in the model (or norm_eps as a str at the first
    forward pass)."""
    params = json.loads((saved["kit"] / "params.json").read_text())
    (saved["kit"] / "params.json").write_text(json.dumps({**params, **fields} if isinstance(fields, dict)
                                                         else fields))
    before = folder_files(saved["kit"])
    with pytest.raises(CheckpointError, match=str(saved["kit"]) + "/" + message):
        load_model(saved["kit"])
    assert folder_files(saved["kit"]) == before


def test_a_config_json_that_is_not_an_object_or_has_strings_for_sizes_is_named(saved):
    config = json.loads((saved["hf"] / "config.json").read_text())
    for change, message in [({"intermediate_size": "176"}, "intermediate_size='176' must be a positive whole"),
                            ({"rms_norm_eps": "1e-6"}, "norm_eps='1e-6': give a positive finite number"),
                            ({"num_attention_heads": "8"}, "n_heads='8': each must be a positive whole number")]:
        (saved["hf"] / "config.json").write_text(json.dumps({**config, **change}))
        with pytest.raises(CheckpointError, match=f"config.json: (invalid ModelArgs: )?{message}"):
            load_model(saved["hf"])
    (saved["hf"] / "config.json").write_text("[]")
    with pytest.raises(CheckpointError, match="config.json: holds an array where a JSON object"):
        load_model(saved["hf"])
    (saved["meta"] / "params.json").write_text(json.dumps({"dim": "64", "n_layers": 3, "n_heads": 8,
                                                           "vocab_size": "-1"}))
    with pytest.raises(CheckpointError, match=r"params.json: invalid ModelArgs: dim='64': each must be a positive"):
        load_model(saved["meta"])


def test_absurd_layer_count_in_config_json_is_refused(saved):
    config = json.loads((saved["hf"] / "config.json").read_text())
    (saved["hf"] / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 10**9}))
    with deadline(20), pytest.raises(CheckpointError, match=r"in config.json: missing tensors \(8999999973\): "
                                                           r"\['layers.3.attention.wq.weight'.*[0-9.]+ TiB"):
        load_model(saved["hf"])


@pytest.mark.parametrize("fmt, name", [("kit", "model.safetensors"), ("kit", "params.json"),
                                       ("meta", "consolidated.00.pth"), ("hf", "config.json")])
def test_a_named_pipe_is_refused_not_waited_on(saved, fmt, name):
    fifo = saved[fmt] / name
    fifo.unlink()
    os.mkfifo(fifo)

    writer = os.fork()
    if writer == 0:  # should load_model wait on the pipe, writers that come and go end each wait (end of file);
        while True:  # from a process of their own, since a wait inside a library may hold the GIL
            time.sleep(10)
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    try:
        with pytest.raises(CheckpointError, match=f"{name}: not a regular file"):
            load_model(saved[fmt])
    finally:
        os.kill(writer, signal.SIGKILL)
        os.waitpid(writer, 0)


@pytest.mark.parametrize("fmt", ["kit", "meta"])
def test_non_finite_weights_are_reported_by_name(saved, fmt):
    file = saved[fmt] / WEIGHTS[fmt]
    state = load_file(file) if fmt == "kit" else torch.load(file, weights_only=True)
    state["layers.1.attention.wo.weight"][3, :3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    save_file(state, file) if fmt == "kit" else torch.save(state, file)
    with pytest.raises(CheckpointError, match=r"layers.1.attention.wo.weight holds 3 NaN or infinite numbers"):
        load_model(saved[fmt])


def test_overflow_when_converting_is_reported(saved):
    file = saved["kit"] / "model.safetensors"
    state = load_file(file)
    state["norm.weight"][0] = 1e6  # beyond float16's 65504
    save_file(state, file)
    load_model(saved["kit"])
    with pytest.raises(CheckpointError, match=r"norm.weight holds 1 NaN or infinite numbers.*float16"):
        load_model(saved["kit"], dtype="float16")


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8, torch.float8_e4m3fn, torch.float64, "int8"])
def test_unsupported_dtypes_are_refused_on_load_and_save(saved, model, tmp_path, dtype):
    with pytest.raises(ValueError, match="supported: float32, float16, bfloat16"):
        load_model(saved["kit"], dtype=dtype)
    with pytest.raises(ValueError, match="supported: float32, float16, bfloat16"):
        save_model(model, tmp_path / "out", dtype=dtype)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("dtype", [torch.int8, torch.float8_e4m3fn])
def test_checkpoints_of_unsupported_dtypes_are_refused(saved, dtype):
    file = saved["kit"] / "model.safetensors"
    state = load_file(file)
    state["layers.0.feed_forward.w2.weight"] = state["layers.0.feed_forward.w2.weight"].to(dtype)
    save_file(state, file)
    for asked in (None, torch.float32):
        with pytest.raises(CheckpointError, match=r"layers.0.feed_forward.w2.weight is stored as "
                                                  rf"{dtype}.*supported: float32, float16, bfloat16"):
            load_model(saved["kit"], dtype=asked)


@pytest.mark.parametrize("device, message", [
    ("banana", r"device='banana' is not a device torch knows: use 'cpu', 'cuda' \(or 'cuda:0', 'cuda:1', ...\) or "
               r"'mps'"),
    (2.5, r"device=2.5 is not a device torch knows: use .cpu.*"),
    ("meta", r"device='meta' holds shapes and no numbers, so it cannot hold a checkpoint's weights: load onto 'cpu' "
             r"or a GPU. To see the model's shapes without memory, build it there: "
             r"build_model\(load_state\(path\)\[0\], device='meta'\)"),
])
def test_a_device_that_cannot_hold_weights_is_refused_in_one_line(saved, device, message):
    before = folder_files(saved["kit"])
    with pytest.raises(ValueError, match=f"^{message}$"):
        load_model(saved["kit"], device=device)
    assert folder_files(saved["kit"]) == before


def test_the_meta_device_suggestion_works(saved):
    from llama_lab.checkpoint import load_state
    from llama_lab.model import build_model

    shapes = build_model(load_state(saved["kit"])[0], device="meta")
    assert {k: v.shape for k, v in shapes.state_dict().items()} == {
        k: v.shape for k, v in load_model(saved["kit"]).state_dict().items()}


def test_a_model_skeleton_skips_random_init_inside_it_only():
    """model_skeleton builds on the meta device without nn.init (normal_ on a meta tensor would import
    torch._dynamo, over a second); outside it, torch initialises modules as it always does. In a fresh Python,
    where nothing else has imported torch._dynamo yet."""
    import subprocess
    program = """
import sys, torch
from torch import nn
from llama_lab.checkpoint import model_skeleton
from llama_lab.model import ModelArgs
torch.manual_seed(0)
before = nn.Embedding(11, 4).weight.detach().clone()
skeleton = model_skeleton(ModelArgs(dim=16, n_layers=2, n_heads=2, vocab_size=11))
print({parameter.device.type for parameter in skeleton.parameters()}, "torch._dynamo" in sys.modules)
torch.manual_seed(0)
print(torch.equal(nn.Embedding(11, 4).weight, before), bool(before.std() > 0.5))
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["{'meta'} False", "True True"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_cuda_without_a_gpu_is_refused_in_one_line(saved):
    with pytest.raises(ValueError, match=r"^device='cuda:1': this machine has no CUDA GPU torch can use: use 'cpu'$"):
        load_model(saved["kit"], device="cuda:1")


# ---------------------------------------------------------------------------------- saving loses nothing

@pytest.mark.parametrize("num_shards", [0, -2, 1.0, True, "2"])
def test_save_model_refuses_a_number_of_shards_that_is_not_a_positive_int(tmp_path, model, num_shards):
    with pytest.raises(ValueError, match=rf"^num_shards={num_shards!r} must be a whole number of at least 1"):
        save_model(model, tmp_path / "m", format="meta", num_shards=num_shards)
    assert list(tmp_path.iterdir()) == []


def test_save_model_takes_the_path_of_a_tokenizer_model(tmp_path, model):
    from llama_lab import Tokenizer

    kit_tokenizer = REPO / "data" / "tokenizer.model"
    for fmt, given in [("kit", str(kit_tokenizer)), ("meta", kit_tokenizer), ("hf", kit_tokenizer),
                       ("hf", Tokenizer(kit_tokenizer))]:
        path = save_model(model, tmp_path / f"{fmt}-{type(given).__name__}", format=fmt, tokenizer=given)
        assert (path / "tokenizer.model").read_bytes() == kit_tokenizer.read_bytes(), fmt
        assert same_model(path, model), fmt
    assert folder_files(tmp_path / "hf-PosixPath") == folder_files(tmp_path / "hf-Tokenizer")
    with pytest.raises(FileNotFoundError, match="no tokenizer model at"):
        save_model(model, tmp_path / "none", tokenizer=tmp_path / "missing" / "tokenizer.model")
    (tmp_path / "not.model").write_text("not a tokenizer")
    with pytest.raises(ValueError, match="not.model is not a SentencePiece model"):
        save_model(model, tmp_path / "none", tokenizer=tmp_path / "not.model")
    with pytest.raises(TypeError, match=r"^tokenizer=3: give a Tokenizer, or the path of its tokenizer.model$"):
        save_model(model, tmp_path / "none", tokenizer=3)
    assert not (tmp_path / "none").exists()


def test_save_model_of_another_module_says_what_it_takes(tmp_path, model):
    for other, hint in [(torch.nn.Linear(2, 2), "torch.nn.modules.linear.Linear$"),
                        (torch.nn.Sequential(model), "torch.nn.modules.container.Sequential$"),
                        (torch.compile(model), "OptimizedModule: pass the model it wraps, model._orig_mod$")]:
        with pytest.raises(TypeError, match=r"^save_model saves the kit's Llama \(llama_lab.model.Llama: from "
                                            rf"load_model, build_model or training\); got .*{hint}"):
            save_model(other, tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


USERS_FILES = {"my_lora_adapter.safetensors": b"adapter", "pytorch_model_finetuned.bin": b"finetuned",
               "results.index.json": b"{}", "notes.txt": b"mine"}


def same_model(path, model) -> bool:
    return torch.allclose(load_model(path)(tokens()), model(tokens()), atol=1e-6, rtol=0)


def test_saving_keeps_the_files_it_did_not_write(tmp_path, model):
    """A user's own checkpoint (Meta's files, no kit's record of them) and other files stay as they were."""
    folder = tmp_path / "folder"
    folder.mkdir()
    torch.save(small_model(seed=3).state_dict(), folder / "consolidated.00.pth")
    (folder / "params.json").write_text(json.dumps(small_model(seed=3).args.to_dict()))
    for name, data in USERS_FILES.items():
        (folder / name).write_bytes(data)
    theirs = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "params.json"}  # the kit's has one
    for fmt in ("hf", "kit", "hf"):
        save_model(model, folder, format=fmt)
        assert same_model(folder, model), fmt
        assert all((folder / name).read_bytes() == data for name, data in theirs.items()), fmt


def test_each_format_saved_over_another_loads(tmp_path, model):
    """Saving replaces the files the kit wrote before: no params.json left from Meta's format makes a Hugging
    Face folder look like the kit's."""
    folder = tmp_path / "folder"
    written = {}
    for fmt in ("meta", "hf", "kit", "meta", "kit", "hf"):
        other = small_model(seed=len(written))
        save_model(other, folder, format=fmt)
        assert detect_format(folder) == fmt and same_model(folder, other), fmt
        written[fmt] = sorted(p.name for p in folder.iterdir())
    assert written == {"meta": [".llama_lab.json", "consolidated.00.pth", "params.json"],
                       "hf": [".llama_lab.json", "config.json", "generation_config.json", "model.safetensors"],
                       "kit": [".llama_lab.json", "model.safetensors", "params.json"]}


def save_killed_at(step: int, model, path, fmt) -> bool:
    """Save in a child process that is killed (os._exit, no clean-up) at the save's step number `step`; True if
    it was, False if the save finished first."""
    import llama_lab.checkpoint.switch as switch
    steps = []

    def kill(what):
        steps.append(what)
        if len(steps) == step:
            os._exit(17)
    def save():
        switch.after_save_step = kill
        save_model(model, path, format=fmt)
    ended = in_child(save)
    assert ended in (0, 17)
    return ended == 17


@pytest.mark.parametrize("before", [None, "kit", "meta"])
def test_a_save_killed_at_any_step_leaves_the_old_checkpoint_or_the_new(tmp_path, model, before):
    path = tmp_path / "ckpt"
    old, new = small_model(seed=1), model
    if before:
        save_model(old, path, format=before, num_shards=1)
        (path / "notes.txt").write_bytes(b"mine")
    step = 0
    while True:
        step += 1
        killed = save_killed_at(step, new, path, "hf")
        if before is None and not path.exists():
            assert killed
        else:  # load_model finishes a save that got as far as its plan
            assert same_model(path, new) or (before and same_model(path, old)), step
            if before:
                assert (path / "notes.txt").read_bytes() == b"mine"
        save_model(new, path, format="hf")  # cleans up after the killed save
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"], step
        assert same_model(path, new)
        if not killed:
            break
        if before:
            shutil.rmtree(path)
            save_model(old, path, format=before, num_shards=1)
            (path / "notes.txt").write_bytes(b"mine")
        else:
            shutil.rmtree(path)
    assert step > 4  # every file written, the rename or the switch and its moves were each a kill point


def test_two_saves_and_a_load_at_once_see_one_whole_checkpoint(tmp_path):
    """A save pauses between two of the renames that switch its files in. A second save into the folder, and a
    load of it, say that they wait, and do: then the second save replaces the first's checkpoint whole (no
    params.json of the first beside the second's weights), and the load reads one checkpoint or the other."""
    import llama_lab.checkpoint.switch as switch
    path = tmp_path / "ckpt"
    save_model(small_model(seed=5), path, format="hf")  # a folder that exists: files move in one by one
    (path / "notes.txt").write_bytes(b"mine")
    first, second = small_model(seed=1), small_model(seed=2)
    paused, resume = os.pipe(), os.pipe()
    moved = []

    def pause_after_the_first_move(what):
        if what.startswith("moved") and not moved:
            moved.append(what)
            os.write(paused[1], b"p")
            os.read(resume[0], 1)

    def save_first():
        switch.after_save_step = pause_after_the_first_move
        save_model(first, path, format="kit")

    def waiting(run) -> tuple[int, str]:
        """Start run() in a child whose stderr comes back here; returns its id and its first line there."""
        note = os.pipe()

        def with_stderr_to_pipe():
            sys.stderr = os.fdopen(note[1], "w")
            run()
        pid = start_in_child(with_stderr_to_pipe)
        os.close(note[1])
        with os.fdopen(note[0]) as lines:
            return pid, lines.readline()

    def load_either():
        assert same_model(path, first) or same_model(path, second)

    saver = start_in_child(save_first)
    try:
        with deadline(240):  # only ever reached if a child hangs
            assert os.read(paused[0], 1) == b"p"
            assert sorted(p.name for p in path.iterdir()) != sorted(["params.json", "model.safetensors", "notes.txt",
                                                                     ".llama_lab.json"])  # half-way through
            second_saver, said = waiting(lambda: save_model(second, path, format="hf"))
            loader, load_said = waiting(load_either)
            assert said == load_said == f"waiting for process {saver} to finish saving to or loading from {path}\n"
            assert os.waitpid(second_saver, os.WNOHANG) == os.waitpid(loader, os.WNOHANG) == (0, 0)  # waiting
            os.write(resume[1], b"r")
            assert ending(saver) == ending(second_saver) == ending(loader) == 0
    finally:
        os.write(resume[1], b"r")  # a failed test leaves no paused save behind
    assert detect_format(path) == "hf" and same_model(path, second)
    assert sorted(p.name for p in path.iterdir()) == [".llama_lab.json", "config.json", "generation_config.json",
                                                      "model.safetensors", "notes.txt"]
    assert (path / "notes.txt").read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no lock file and no temporary folder left


def test_a_folder_whose_parent_is_read_only_still_loads(saved, model, monkeypatch):
    """Where the lock file cannot be made (a shared, read-only models folder), no save of the user's can be under
    way: loading reads without the lock."""
    import errno
    real_open = os.open

    def read_only_parent(file, flags, *args):
        if str(file).endswith(".llama-lab.lock"):
            raise OSError(errno.EROFS, "Read-only file system", str(file))
        return real_open(file, flags, *args)
    monkeypatch.setattr(os, "open", read_only_parent)
    for path in saved.values():
        assert same_model(path, model)
    before = folder_files(saved["kit"])
    with pytest.raises(OSError, match="Read-only file system"):
        save_model(small_model(seed=4), saved["kit"], format="kit")
    assert folder_files(saved["kit"]) == before
    assert sorted(p.name for p in saved["kit"].parent.iterdir()) == ["hf", "kit", "meta"]


def test_a_plan_that_would_reach_outside_the_folder_is_refused(saved):
    """A downloaded folder could hold a forged plan: loading must not move or remove files outside it."""
    victim = saved["kit"].parent / "victim"
    victim.mkdir()
    plan = {"from": "../victim", "files": [], "remove": ["../hf/config.json"]}
    (saved["kit"] / ".llama_lab.switch.json").write_text(json.dumps(plan))
    with pytest.raises(CheckpointError, match="llama_lab.switch.json: not a plan save_model wrote"):
        load_model(saved["kit"])
    assert victim.is_dir() and (saved["hf"] / "config.json").is_file()


@pytest.mark.parametrize("files, remove", [("config.json", []), (None, []), (["config.json"], None)])
def test_a_plan_without_its_lists_of_files_is_refused(saved, files, remove):
    """A damaged plan (a string where the list of files should be, a list missing) is refused by name, and
    nothing in the folder is moved or removed."""
    plan = {"from": ".kit.llama-lab-save.123.abc", "files": files, "remove": remove}
    (saved["kit"] / ".llama_lab.switch.json").write_text(json.dumps({k: v for k, v in plan.items() if v is not None}))
    before = folder_files(saved["kit"])
    with pytest.raises(CheckpointError, match="llama_lab.switch.json: not a plan save_model wrote"):
        load_model(saved["kit"])
    assert folder_files(saved["kit"]) == before


def test_a_save_flushes_its_files_and_folders_to_disk(tmp_path, model, monkeypatch):
    flushed = []
    fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (flushed.append(os.fstat(fd).st_ino), fsync(fd)))
    for parent in (True, False):  # a new folder (its parent's entry flushed too), then one saved over
        flushed.clear()
        path = save_model(model, tmp_path / "ckpt", format="kit")
        every = [path / name for name in (".llama_lab.json", "model.safetensors", "params.json")] + [path]
        assert {p.stat().st_ino for p in every + [tmp_path] * parent} <= set(flushed)
