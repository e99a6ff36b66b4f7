"""Tensor parallelism on torch.distributed (gloo, CPU processes) against the single-process model."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open

from llama_lab.checkpoint import load_model, save_model
from llama_lab.model import ModelArgs, build_model, init_weights
from llama_lab.parallel import check_split, kv_heads_of_rank
from support import REPO, parallel_probe

# 8 query heads, 2 key/value heads (GQA): split on 2 ranks, replicated on 4; hidden 384 and vocabulary 512 split.
ARGS = ModelArgs(dim=128, n_layers=2, n_heads=8, n_kv_heads=2, vocab_size=512, multiple_of=64, max_seq_len=64)
WORKER = REPO / "tests" / "parallel_worker.py"


def run_ranks(world: int, checkpoint, tmp_path) -> list[dict]:
    """Run the worker as `world` processes and read back what each rank wrote."""
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ranks = [subprocess.Popen([sys.executable, str(WORKER), str(rank), str(world), str(tmp_path / "rendezvous"),
                               str(checkpoint), str(out)], env=env, cwd=REPO, stderr=subprocess.PIPE, text=True)
             for rank in range(world)]
    try:
        errors = [process.communicate(timeout=300)[1] for process in ranks]
    finally:
        for process in ranks:  # stopped by process id, whatever happened
            if process.poll() is None:
                process.kill()
    for process, error in zip(ranks, errors):
        assert process.returncode == 0, error[-3000:]
    results = []
    for rank in range(world):
        with safe_open(f"{out}.{rank}.safetensors", "pt") as f:
            results.append({**{k: f.get_tensor(k) for k in f.keys()}, "read": json.loads(f.metadata()["read"])})
    return results


@pytest.fixture(scope="module")
def model():
    return init_weights(build_model(ARGS), seed=3).eval()


def check_equal(results, model, kv_heads_per_rank):
    logits, step, greedy, _ = parallel_probe(model)
    for r in results:
        assert torch.allclose(r["logits"], logits, atol=1e-5, rtol=0), (r["logits"] - logits).abs().max()
        assert torch.allclose(r["step"], step, atol=1e-5, rtol=0)
        assert [r["greedy0"].tolist(), r["greedy1"].tolist()] == greedy
        assert r["cache_heads"].item() == kv_heads_per_rank  # the KV cache holds the rank's own heads


@pytest.mark.parametrize("world", [2, 4])
def test_parallel_equals_one_process(tmp_path, model, world):
    save_model(model, tmp_path / "kit", format="kit")
    results = run_ranks(world, tmp_path / "kit", tmp_path)
    check_equal(results, model, kv_heads_per_rank=max(1, ARGS.kv_heads // world))


def test_each_rank_reads_only_its_meta_shard(tmp_path, model):
    save_model(model, tmp_path / "meta", format="meta", num_shards=2)
    results = run_ranks(2, tmp_path / "meta", tmp_path)
    assert [r["read"] for r in results] == [["consolidated.00.pth"], ["consolidated.01.pth"]]
    check_equal(results, load_model(tmp_path / "meta"), kv_heads_per_rank=1)


def test_kv_heads_of_each_rank():
    llama70b_like = ModelArgs(dim=1024, n_heads=64, n_kv_heads=8)
    assert [kv_heads_of_rank(llama70b_like, 8, r) for r in range(8)] == [[r] for r in range(8)]
    assert kv_heads_of_rank(ModelArgs(dim=512, n_heads=8, n_kv_heads=8), 4, 1) == [2, 3]
    assert [kv_heads_of_rank(ARGS, 4, r) for r in range(4)] == [[0], [0], [1], [1]]


def test_uncuttable_models_are_refused():
    with pytest.raises(ValueError, match="n_heads=8"):
        check_split(ARGS, 3)
    with pytest.raises(ValueError, match="n_kv_heads=2"):
        check_split(ModelArgs(dim=192, n_heads=6, n_kv_heads=2, vocab_size=600, multiple_of=32), 3)


# ------------------------------------------------------------------------------------------ the command line

# Rank 1 of `launch(..., stopped_rank=1)`: joins the group, then stops itself (SIGSTOP, as Ctrl-Z does) for good.
STOPS_AFTER_JOINING = """
import os, runpy, signal, sys
import torch.distributed as dist
join = dist.init_process_group
dist.init_process_group = lambda *a, **k: (join(*a, **k), os.kill(os.getpid(), signal.SIGSTOP))
sys.argv = ["llama_lab.parallel", *sys.argv[1:]]
runpy.run_module("llama_lab.parallel", run_name="__main__")
"""


def launch(args: list[str], world: int = 2, stopped_rank: int | None = None) -> list[tuple[int, str, str]]:
    """`torchrun --nproc-per-node WORLD -m llama_lab.parallel ARGS`, each rank started here with the environment
    torchrun gives it, so that the test holds every rank's process. -> (exit status, stdout, stderr) by rank."""
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ranks = []
    for rank in range(world):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(port), "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
               "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        command = ["-c", STOPS_AFTER_JOINING] if rank == stopped_rank else ["-m", "llama_lab.parallel"]
        ranks.append(subprocess.Popen([sys.executable, *command, *args], env=env, cwd=REPO, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    try:
        if stopped_rank is not None:
            others = [p for r, p in enumerate(ranks) if r != stopped_rank]
            answers = {id(p): p.communicate(timeout=120) for p in others}
            ranks[stopped_rank].kill()  # SIGKILL ends a stopped process too
            answers[id(ranks[stopped_rank])] = ranks[stopped_rank].communicate(timeout=60)
        else:
            answers = {id(p): p.communicate(timeout=300) for p in ranks}
    finally:
        for process in ranks:  # stopped by process id, whatever happened
            if process.poll() is None:
                process.kill()
    return [(p.returncode, *answers[id(p)]) for p in ranks]


def test_the_command_generates_in_bfloat16_as_documented():
    """`--dtype bfloat16` (the module docstring's example) reaches the model as a dtype, not as a device name."""
    ranks = launch([str(REPO / "data" / "tiny-chat"), "--prompt", "Where does Mia live?", "--max-new-tokens", "4",
                    "--dtype", "bfloat16"])
    assert [status for status, _, _ in ranks] == [0, 0], ranks
    assert ranks[0][1].startswith("2 ranks (cpu): Where does Mia live?")


def test_a_shard_one_rank_cannot_read_stops_every_rank_in_one_line_each(tmp_path, model):
    save_model(model, tmp_path / "meta", format="meta", num_shards=2)
    shard = tmp_path / "meta" / "consolidated.01.pth"
    shard.write_bytes(shard.read_bytes()[:1000])  # rank 1's alone: rank 0 reads its own shard without trouble
    ranks = launch([str(tmp_path / "meta"), "--timeout", "60"])
    assert [status for status, _, _ in ranks] == [2, 2]
    errors = [err.strip() for _, _, err in ranks]
    assert all(len(e.splitlines()) == 1 and "Traceback" not in e for e in errors), errors
    assert errors[1].startswith("error: rank 1 of 2: ") and "consolidated.01.pth" in errors[1]
    assert "truncated or corrupt" in errors[1]
    assert errors[0] == ("error: rank 0 of 2: another rank could not load its part of the checkpoint (its error "
                         "names the file)")


def test_a_stopped_rank_holds_the_others_only_for_the_timeout(tmp_path, model):
    save_model(model, tmp_path / "kit", format="kit")
    ranks = launch([str(tmp_path / "kit"), "--timeout", "5"], stopped_rank=1)
    status, _, error = ranks[0]
    assert status == 2 and len(error.strip().splitlines()) == 1, error
    assert error.startswith("error: rank 0 of 2: waited over --timeout 5 s for the other ranks")
