"""scripts/gpu_check.sh on this machine (no GPU): it refuses `run` at once, and a failed step fails the script.
Only the cheap paths: the steps themselves are what the script runs on a GPU."""

import json
import os
import subprocess
import sys

import pytest
import torch

from support import REPO

SCRIPT = REPO / "scripts" / "gpu_check.sh"


def gpu_check(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO, timeout=300,
                          env={**os.environ, **env})


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_run_without_a_gpu_says_so_and_runs_nothing(tmp_path):
    done = gpu_check("run", str(tmp_path / "out"), PYTHON=sys.executable)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"error: no CUDA GPU here: {sys.executable} says: torch.cuda.is_available() is "
                                   "False; use --cpu to check the script on a CPU")
    assert done.stdout == "" and not (tmp_path / "out").exists()


def test_a_failed_step_fails_the_script(tmp_path):
    broken = tmp_path / "python"  # a Python that fails whatever it is asked: the environment step fails
    broken.write_text("#!/bin/sh\necho 'this python is broken' >&2\nexit 3\n")
    broken.chmod(0o755)
    done = gpu_check("run", str(tmp_path / "out"), "--cpu", PYTHON=str(broken), STEPS="environment")
    assert done.returncode == 1, done.stdout[-2000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert list(summary) == ["environment"] and summary["environment"]["status"] == 3
    assert "gpu_check: failed: environment" in done.stdout


def test_a_step_that_passes_leaves_the_script_passing(tmp_path):
    done = gpu_check("run", str(tmp_path / "out"), "--cpu", PYTHON=sys.executable, STEPS="environment")
    assert done.returncode == 0, done.stdout[-2000:]
    assert json.loads((tmp_path / "out" / "environment.json").read_text())["torch"] == torch.__version__


def test_the_qlora_step_runs_alone_and_reports_its_figures(tmp_path):
    """STEPS=qlora: the 7B-shaped QLoRA step alone (on a CPU the toy shape stands in), its figures in the report."""
    done = gpu_check("run", str(tmp_path / "out"), "--cpu", PYTHON=sys.executable, STEPS="qlora")
    assert done.returncode == 0, done.stdout[-3000:]
    assert list(json.loads((tmp_path / "out" / "summary.json").read_text())) == ["qlora"]
    figures = json.loads((tmp_path / "out" / "gpu_figures.json").read_text())
    [(name, tokens_per_s)] = [(k, v) for k, v in figures.items() if k.startswith("QLoRA step")]
    assert "r=64, 1x64 tokens, gradient checkpointing: tokens/s" in name and tokens_per_s > 0
    assert "1 passed, 11 deselected" in done.stdout and "QLoRA step 64x2 (toy):" in done.stdout
