"""The autograder: full marks for the instructor solutions, zero for the untouched student versions, points lost
with the mistake named for plausible wrong solutions, and grading that survives notebooks that raise, loop
forever, print megabytes, patch the libraries or end the kernel; and, for strangers' notebooks, a sandbox that
keeps them away from the machine, each other and the grader, and no score for faking one.

Wrong solutions are written here as a student would write them (not taken from the grader's list of mistakes),
and graded twice: in this process, each alone (fast), and in the notebooks, through the kernel (one notebook per
assignment with several parts wrong at once).
"""

import json
import math
import os
import re
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import nbformat
import pytest
import torch

from llama_lab import grading
from llama_lab.grading.engine.cli import main
from llama_lab.grading.engine.folders import OWNER, TEMP_PREFIX, grading_folder, remove_leftovers
from llama_lab.grading.engine.grades import Limits
from llama_lab.grading.engine.report import format_grade, format_summary
from llama_lab.grading.engine.run import grade_notebook, grade_path
from llama_lab.grading.engine.submissions import MAX_NOTEBOOK_BYTES
from llama_lab.grading.engine import harness, sandbox
from support import REPO

INSTRUCTOR = REPO / "notebooks" / "assignments" / "instructor"
STUDENT = REPO / "notebooks" / "assignments" / "student"


def _sandbox_problem() -> str | None:
    try:
        sandbox.bwrap()
    except sandbox.SandboxError as error:
        return str(error)
    return None


# Without bwrap (it cannot run here) the kit's own notebooks are still graded, unsandboxed; the tests of the
# sandbox itself are skipped, saying why. `make test` installs bwrap (scripts/install_system_packages.sh).
NO_SANDBOX = _sandbox_problem()
TRUSTED = {"sandboxed": False} if NO_SANDBOX else {}
needs_sandbox = pytest.mark.skipif(NO_SANDBOX is not None, reason=f"no sandbox here: {NO_SANDBOX}")

IMPORTS = """
import math
import torch
import torch.nn.functional as F
from torch import nn
from llama_lab.model import apply_rotary_emb
SPACE = "\\u2581"
"""

# (assignment, part, a wrong solution as a student writes it, what the grader must say)
BROKEN = [
    ("01_rmsnorm_swiglu", "rms_norm", """
        def rms_norm(x, weight, eps=1e-5):
            x32 = x.float()
            return (x32 / x32.pow(2).mean(-1, keepdim=True).sqrt()).type_as(x) * weight
        """, "eps is missing"),
    ("01_rmsnorm_swiglu", "rms_norm", """
        def rms_norm(x, weight, eps=1e-5):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight
        """, "low precision"),
    ("01_rmsnorm_swiglu", "rms_norm", """
        def rms_norm(x, weight, eps=1e-5):
            x32 = x.float()
            rms = torch.sqrt((x32 * x32).mean(dim=-1, keepdim=True))
            return (x32 / (rms + eps)).to(x.dtype) * weight
        """, "outside the square root"),
    ("01_rmsnorm_swiglu", "feed_forward", """
        def feed_forward(x, w1, w2, w3):
            return (F.silu(x @ w3.T) * (x @ w1.T)) @ w2.T
        """, "gate and up are swapped"),
    ("02_rotary_embeddings", "apply_rotary_emb", """
        def apply_rotary_emb(x, cos, sin):
            half = x.shape[-1] // 2
            x1, x2 = x[..., :half].float(), x[..., half:].float()
            c, s = cos.unsqueeze(1), sin.unsqueeze(1)
            return torch.cat([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1).to(x.dtype)
        """, "halves are rotated"),
    ("02_rotary_embeddings", "apply_rotary_emb", """
        def apply_rotary_emb(x, cos, sin):
            x = x.float()
            a, b = x[..., 0::2], x[..., 1::2]
            c, s = cos[:, None], sin[:, None]
            return torch.stack([a * c + b * s, b * c - a * s], dim=-1).flatten(-2)
        """, "wrong way"),
    ("02_rotary_embeddings", "rope_tables", """
        def rope_tables(head_dim, max_seq_len, theta=10000.0):
            freqs = 10000.0 ** (-torch.arange(0, head_dim, 2).float() / head_dim)
            angles = torch.outer(torch.arange(max_seq_len).float(), freqs)
            return angles.cos(), angles.sin()
        """, "theta is ignored"),
    ("02_rotary_embeddings", "rope_tables", """
        def rope_tables(head_dim, max_seq_len, theta=10000.0):
            freqs = 1.0 / (theta ** (torch.arange(head_dim // 2).float() / head_dim))
            angles = torch.arange(max_seq_len).float()[:, None] * freqs[None, :]
            return torch.cos(angles), torch.sin(angles)
        """, "exponent is i/hd"),
    ("03_attention_kv_cache", "attention", """
        def attention(q, k, v):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            return torch.softmax(scores, dim=-1) @ v
        """, "no causal mask"),
    ("03_attention_kv_cache", "attention", """
        def attention(q, k, v):
            T, S = q.shape[-2], k.shape[-2]
            mask = torch.triu(torch.ones(T, S, dtype=torch.bool), diagonal=1)
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
            return torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1) @ v
        """, "ignores the cached keys"),
    ("03_attention_kv_cache", "attention", """
        def attention(q, k, v):
            T, S = q.shape[-2], k.shape[-2]
            mask = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T - 1)
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
            return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v
        """, "shifted by one"),
    ("03_attention_kv_cache", "attention", """
        def attention(q, k, v):
            T, S = q.shape[-2], k.shape[-2]
            mask = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
            return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-2) @ v
        """, "softmax is over the queries"),
    ("03_attention_kv_cache", "cache_update", """
        def cache_update(cache_k, cache_v, start_pos, k, v):
            T = k.shape[2]
            cache_k[:, :, :T] = k
            cache_v[:, :, :T] = v
            return cache_k[:, :, :start_pos + T], cache_v[:, :, :start_pos + T]
        """, "forgot the offset"),
    ("03_attention_kv_cache", "repeat_kv", """
        def repeat_kv(x, n_rep):
            return torch.cat([x] * n_rep, dim=1)
        """, "heads are tiled"),
    ("03_attention_kv_cache", "Attention", """
        class Attention(nn.Module):
            def __init__(self, args, layer_id):
                super().__init__()
                self.layer_id, self.n_heads, self.n_kv_heads = layer_id, args.n_heads, args.kv_heads
                self.head_dim = args.head_dim
                self.wq = nn.Linear(args.dim, args.n_heads * args.head_dim, bias=False)
                self.wk = nn.Linear(args.dim, args.kv_heads * args.head_dim, bias=False)
                self.wv = nn.Linear(args.dim, args.kv_heads * args.head_dim, bias=False)
                self.wo = nn.Linear(args.n_heads * args.head_dim, args.dim, bias=False)

            def forward(self, x, cos, sin, start_pos=0, cache=None):
                B, T, _ = x.shape
                q = apply_rotary_emb(self.wq(x).view(B, T, self.n_heads, self.head_dim), cos, sin).transpose(1, 2)
                k = self.wk(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
                v = self.wv(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
                if cache is not None:
                    k, v = cache_update(cache.k[self.layer_id], cache.v[self.layer_id], start_pos, k, v)
                n_rep = self.n_heads // self.n_kv_heads
                out = attention(q, repeat_kv(k, n_rep), repeat_kv(v, n_rep))
                return self.wo(out.transpose(1, 2).reshape(B, T, -1))
        """, "keys are not rotated"),
    ("04_sampling", "softmax_with_temperature", """
        def softmax_with_temperature(logits, temperature):
            if temperature == 0:
                return F.one_hot(logits.argmax(-1), logits.shape[-1]).float()
            probs = torch.softmax(logits, dim=-1) / temperature
            return probs / probs.sum(-1, keepdim=True)
        """, "temperature is applied after the softmax"),
    ("04_sampling", "top_p_filter", """
        def top_p_filter(probs, p):
            sorted_probs, idx = probs.sort(dim=-1, descending=True)
            keep = sorted_probs.cumsum(-1) <= p
            sorted_probs = sorted_probs * keep
            out = torch.zeros_like(probs).scatter(-1, idx, sorted_probs)
            return out / out.sum(-1, keepdim=True)
        """, "token that carries the total across p is dropped"),
    ("04_sampling", "top_k_filter", """
        def top_k_filter(probs, k):
            values, _ = probs.topk(min(k, probs.shape[-1]), dim=-1)
            return torch.where(probs >= values[..., -1:], probs, 0.0)
        """, "not renormalised"),
    ("04_sampling", "next_token_probs", """
        def next_token_probs(logits, temperature=1.0, top_k=None, top_p=1.0):
            probs = softmax_with_temperature(logits, temperature)
            if top_p < 1.0:
                probs = top_p_filter(probs, top_p)
            if top_k is not None:
                probs = top_k_filter(probs, top_k)
            return probs
        """, "top-p is applied before top-k"),
    ("05_bpe_tokenizer", "pretokenize", """
        def pretokenize(text):
            return list(text.replace(" ", SPACE))
        """, "dummy prefix is missing"),
    ("05_bpe_tokenizer", "pretokenize", """
        def pretokenize(text):
            return list(SPACE + text.replace(" ", SPACE))
        """, "empty text became"),
    ("05_bpe_tokenizer", "bpe_merge", """
        def bpe_merge(symbols, scores):
            symbols = list(symbols)
            while True:
                pairs = [(scores[a + b], i) for i, (a, b) in enumerate(zip(symbols, symbols[1:])) if a + b in scores]
                if not pairs:
                    return symbols
                _, i = max(pairs)  # the highest score; on a tie, max takes the largest index
                symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
        """, "rightmost pair"),
    ("05_bpe_tokenizer", "encode", """
        def encode(text, tokenizer):
            return [tokenizer.piece_to_id(p) for p in bpe_merge(pretokenize(text), vocabulary_scores(tokenizer))]
        """, "became <unk>"),
    ("05_bpe_tokenizer", "encode", """
        def encode(text, tokenizer):
            vocab = {tokenizer.id_to_piece(i): i for i in range(tokenizer.n_words)}
            ids = []
            for piece in bpe_merge(pretokenize(text), vocabulary_scores(tokenizer)):
                ids += [vocab[piece]] if piece in vocab else list(piece.encode("utf-8"))
            return ids
        """, "byte's value as its id"),
    ("06_safety_mc2_probe", "answer_logprob", """
        def answer_logprob(logits, tokens, n_prompt):
            logprobs = torch.log_softmax(logits, dim=-1)
            return sum(logprobs[t, tokens[t]].item() for t in range(n_prompt, len(tokens)))
        """, "scored with the logits at position t"),
    ("06_safety_mc2_probe", "mc2_score", """
        def mc2_score(true_lls, false_lls):
            p_true = sum(math.exp(x) for x in true_lls)
            p_false = sum(math.exp(x) for x in false_lls)
            return p_true / (p_true + p_false)
        """, "exp underflowed"),
    ("06_safety_mc2_probe", "mc2_score", """
        def mc2_score(true_lls, false_lls):
            return sum(true_lls) / (sum(true_lls) + sum(false_lls))
        """, "as if they were probabilities"),
    ("06_safety_mc2_probe", "mean_difference_probe", """
        def mean_difference_probe(acts, labels):
            labels = torch.tensor(labels).bool()
            mu1, mu0 = acts[labels].mean(0), acts[~labels].mean(0)
            direction = mu0 - mu1
            return direction, float(-(direction @ (mu0 + mu1)) / 2)
        """, "direction is reversed"),
    ("07_rlhf_losses", "ranking_loss", """
        def ranking_loss(chosen, rejected, margin):
            return -torch.log(torch.sigmoid(chosen - rejected - margin))
        """, "log(sigmoid(x)) underflows"),
    ("07_rlhf_losses", "ranking_loss", """
        def ranking_loss(chosen, rejected, margin):
            return -F.logsigmoid(chosen - rejected + margin)
        """, "margin is added"),
    ("07_rlhf_losses", "ranking_loss", """
        def ranking_loss(chosen, rejected, margin):
            return F.softplus(rejected - chosen + margin).mean()
        """, "losses are averaged"),
    ("07_rlhf_losses", "ppo_clipped_loss", """
        def ppo_clipped_loss(logprobs, old_logprobs, advantages, mask, clip=0.2):
            ratio = (logprobs - old_logprobs).exp()
            surr1 = ratio * advantages
            surr2 = torch.clamp(ratio, 1 - clip, 1 + clip) * advantages
            return -torch.min(surr1, surr2).mean()
        """, "padding is counted"),
    ("07_rlhf_losses", "ppo_clipped_loss", """
        def ppo_clipped_loss(logprobs, old_logprobs, advantages, mask, clip=0.2):
            ratio = (logprobs - old_logprobs).exp()
            best = torch.max(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages)
            return -(best * mask).sum() / mask.sum()
        """, "the better of the two is taken"),
    ("07_rlhf_losses", "ppo_clipped_loss", """
        def ppo_clipped_loss(logprobs, old_logprobs, advantages, mask, clip=0.2):
            ratio = torch.exp(logprobs.detach() - old_logprobs)  # "old" must not get gradients
            surrogate = torch.min(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages)
            return -(surrogate * mask).sum() / mask.sum()
        """, "no gradient reaches"),
    ("08_memory_int8_parallel", "weight_bytes", """
        def weight_bytes(shape, scheme):
            d, layers, h, v = shape["dim"], shape["n_layers"], shape["hidden_dim"], shape["vocab_size"]
            linear = layers * (4 * d * d + 3 * d * h) + v * d  # attention as four (d, d) matrices
            rest = v * d + (2 * layers + 1) * d
            if scheme == "bf16":
                return 2 * (linear + rest)
            rows = layers * (4 * d + 3 * d) + v
            return linear + 4 * rows + 2 * rest
        """, "wk and wv are counted as (D, D)"),
    ("08_memory_int8_parallel", "quantize_int8", """
        def quantize_int8(weight):
            scale = weight.abs().max(dim=1).values / 127.5
            q = (weight / scale.unsqueeze(1)).round().to(torch.int8)
            return q, scale
        """, "no clamp"),
    ("08_memory_int8_parallel", "quantize_int8", """
        def quantize_int8(weight):
            scale = weight.abs().max() / 127.5
            q = torch.clamp(torch.round(weight / scale), -128, 127).to(torch.int8)
            return q, scale
        """, "one scale for the whole matrix"),
    ("08_memory_int8_parallel", "parallel_feed_forward", """
        def parallel_feed_forward(x, w1, w2, w3, ranks):
            outs = []
            for r in range(ranks):
                gate, up = w1.chunk(ranks)[r], w3.chunk(ranks)[r]
                outs.append((F.silu(x @ gate.T) * (x @ up.T)) @ w2.chunk(ranks, dim=1)[r].T)
            total = sum(outs)  # the all-reduce
            return torch.stack([total] * ranks)
        """, "the partial outputs are added already"),
    ("08_memory_int8_parallel", "parallel_feed_forward", """
        def parallel_feed_forward(x, w1, w2, w3, ranks):
            return torch.stack([(F.silu(x @ w1[r::ranks].T) * (x @ w3[r::ranks].T)) @ w2[:, r::ranks].T
                                for r in range(ranks)])
        """, "interleaved"),
    ("09_lora_nf4", "lora_forward", """
        def lora_forward(x, W0, A, B, alpha, r, rslora=False):
            scale = alpha / math.sqrt(r) if rslora else alpha  # the paper's alpha, forgetting the rank
            return x @ W0.T + scale * (x @ A.T @ B.T)
        """, "scaled by alpha"),
    ("09_lora_nf4", "lora_forward", """
        def lora_forward(x, W0, A, B, alpha, r, rslora=False):
            delta = B @ A  # (out, in)
            return x @ W0.T + (alpha / r) * (x @ delta)
        """, "transposed"),
    ("09_lora_nf4", "merge", """
        def merge(W0, A, B, alpha, r):
            return W0 + B @ A
        """, "not scaled"),
    ("09_lora_nf4", "quantize_nf4", """
        from llama_lab.nf4 import nf4_levels
        NF4_LEVELS = nf4_levels()  # as the notebook gives them

        def quantize_nf4(weight):
            absmax = weight.abs().max()
            scaled = weight / absmax
            codes = (scaled.unsqueeze(-1) - NF4_LEVELS).abs().argmin(-1)
            return codes, absmax
        """, "one absmax for the whole matrix"),
    ("09_lora_nf4", "quantize_nf4", """
        def quantize_nf4(weight):
            blocks = weight.view(weight.shape[0], -1, 64)
            absmax = blocks.abs().max(dim=2).values
            codes = torch.round((blocks / absmax.unsqueeze(2) + 1) * 7.5)  # 0..15
            return codes.view(weight.shape).to(torch.uint8), absmax
        """, "evenly spaced"),
    ("09_lora_nf4", "dequantize_nf4", """
        from llama_lab.nf4 import nf4_levels
        NF4_LEVELS = nf4_levels()  # as the notebook gives them

        def dequantize_nf4(codes, absmax):
            return NF4_LEVELS[codes.long()] * absmax.repeat(1, 64)
        """, "spread with repeat"),
]


def worth(assignment: str, part: str | None = None) -> float:
    """What an assignment (or one of its parts) is worth: the sum of its cases' points."""
    return sum(case.points for p in grading.load(assignment).PARTS if part in (None, p.name) for case in p.cases())


def namespace_with(source: str) -> dict:
    """A notebook's namespace after running its imports and one solution cell."""
    namespace = {"__name__": "__main__"}
    exec(compile(IMPORTS + textwrap.dedent(source), "<student cell>", "exec"), namespace)
    return namespace


def broken_id(item):
    return f"{item[1]}: {item[3]}"


@pytest.mark.parametrize("assignment, part, source, mistake", BROKEN, ids=map(broken_id, BROKEN))
def test_a_wrong_solution_loses_points_and_the_mistake_is_named(assignment, part, source, mistake):
    result = grading.grade_part_here(grading.get_part(assignment, part), namespace_with(source))
    assert result.points < result.max_points
    named = {c.mistake for c in result.cases if c.mistake}
    assert named and all(mistake in m for m in named), [c.message for c in result.cases if c.message]


def test_each_assignment_has_three_wrong_solutions_tested():
    counts = {name: sum(a == name for a, *_ in BROKEN) for name in grading.ASSIGNMENTS}
    assert min(counts.values()) >= 3, counts


def test_messages_say_which_input_failed_and_what_was_expected():
    source = next(s for a, p, s, m in BROKEN if m == "eps is missing")
    result = grading.grade_part_here(grading.get_part("01_rmsnorm_swiglu", "rms_norm"), namespace_with(source))
    failed = [c for c in result.cases if c.points == 0]
    assert failed[0].label.startswith("x with a row of zeros")
    assert failed[0].message.startswith("got NaN in 8 of 24 values, the first at [0, 0] (expected 0)")


def test_check_cells_give_nbgrader_the_points(capsys):
    from nbgrader.utils import determine_grade
    source = next(s for a, p, s, m in BROKEN if m == "low precision")
    points = grading.check("01_rmsnorm_swiglu", "rms_norm", namespace_with(source))
    printed = capsys.readouterr()
    assert printed.err == "" and printed.out.startswith("rms_norm: 6/7  (RMSNorm)")
    cell = nbformat.v4.new_code_cell("check(...)", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text=printed.out),
        nbformat.v4.new_output("execute_result", {"text/plain": repr(points)}, execution_count=1)])
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "points": 7, "grade_id": "rms_norm_check"}
    assert determine_grade(cell) == (6.0, 7.0)  # nbgrader's partial credit: the points check returned


def test_a_missing_function_is_reported_per_part():
    result = grading.grade_part_here(grading.get_part("04_sampling", "top_k_filter"), {})
    assert result.points == 0
    assert "`top_k_filter` is not defined" in result.cases[0].message


def test_handing_in_the_kits_own_function_earns_nothing():
    from llama_lab.sampling import top_k_filter
    result = grading.grade_part_here(grading.get_part("04_sampling", "top_k_filter"), {"top_k_filter": top_k_filter})
    assert result.points == 0 and "the kit's own" in result.cases[0].message


# ------------------------------------------------------------------ the harness, in this process

def test_a_case_that_loops_is_stopped_by_the_alarm():
    part = grading.get_part("06_safety_mc2_probe", "mc2_score")
    source = """
        def mc2_score(true_lls, false_lls):
            while True:
                try:
                    pass
                except BaseException:  # even a loop that swallows the first alarm
                    pass
        """
    result = grading.grade_part_here(part, namespace_with(source), seconds=0.5)
    assert result.points == 0
    assert all("stopped after" in c.message for c in result.cases)


def test_printing_exit_and_odd_return_values_are_survived(capsys):
    for part, source, message in [
        ("mc2_score", "def mc2_score(t, f):\n    print('x' * 10_000_000)\n    exit(3)", "raised SystemExit"),
        ("mc2_score", "def mc2_score(t, f):\n    return [0.5]", "not a number"),
        ("mc2_score", "def mc2_score(t, f):\n    return [1, 2][5]", "IndexError: list index out of range (line"),
        ("mean_difference_probe", "def mean_difference_probe(a, l):\n    return object(), 0.0", "cannot read"),
    ]:
        result = grading.grade_part_here(grading.get_part("06_safety_mc2_probe", part), namespace_with(source))
        assert result.points == 0 and message in result.cases[0].message, result.cases[0].message
    assert len(capsys.readouterr().out) < 1000  # what student code prints while graded goes nowhere


def test_restore_undoes_patches_to_torch_and_the_kit():
    import torch.nn.functional as F

    import llama_lab.model as kit
    softmax, forward = F.softmax, kit.RMSNorm.forward
    harness.snapshot("01_rmsnorm_swiglu")
    try:
        F.softmax, kit.RMSNorm.forward, torch.Tensor.sum = None, None, None  # the last hides TensorBase.sum
        torch.set_default_dtype(torch.float64)
        del kit.repeat_kv
        harness.restore()
        assert F.softmax is softmax and kit.RMSNorm.forward is forward and callable(kit.repeat_kv)
        assert torch.ones(3).sum().item() == 3.0 and torch.get_default_dtype() == torch.float32
    finally:
        harness.restore()


def test_outputs_are_plain_data():
    class Sub(torch.Tensor):
        pass

    value = harness.plain({"a": (torch.ones(2).as_subclass(Sub), 1.5), "b": [True, None, "s"]})
    assert type(value["a"][0]) is torch.Tensor and value["a"][1] == 1.5 and value["b"] == [True, None, "s"]


def test_greedy_cases_have_no_near_ties():
    """A correct solution may round differently from the kit (1e-6); no greedy step may hinge on that."""
    from llama_lab.generate import generate_tokens
    from llama_lab.grading.models import random_llama
    greedy = [case for name in ("01_rmsnorm_swiglu", "02_rotary_embeddings", "03_attention_kv_cache")
              for part in grading.load(name).PARTS for case in part.cases()
              if "prompt" in case.inputs and case.inputs.get("what", "generate") == "generate"]
    assert len(greedy) == 5
    with harness.one_thread(), torch.no_grad():
        for case in greedy:
            model, prompt = random_llama(seed=case.inputs["seed"]), case.inputs["prompt"]
            tokens = prompt + generate_tokens(model, [prompt], 8, temperature=0, eos_id=None)[0]
            top2 = model(torch.tensor([tokens]))[0, len(prompt) - 1:-1].topk(2, dim=-1).values
            assert (top2[:, 0] - top2[:, 1]).min() > 1e-2, case.label


def test_not_an_assignment_is_reported_not_raised(tmp_path):
    path = tmp_path / "homework.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    grade = grade_notebook(path)
    assert grade.error and "not one of the assignments" in grade.error
    (tmp_path / "broken.ipynb").write_text("{not json")
    assert "could not be read" in grade_notebook(tmp_path / "broken.ipynb").error


# ------------------------------------------------------------------ whole notebooks, each in a fresh kernel

@pytest.fixture(scope="module")
def instructor_grades():
    return grade_path(INSTRUCTOR, **TRUSTED)


def test_instructor_solutions_get_full_marks(instructor_grades):
    assert len(instructor_grades) == len(grading.ASSIGNMENTS)
    for grade in instructor_grades:
        assert grade.error is None and grade.problems == [] and grade.flags == [], format_grade(grade)
        assert grade.points == grade.max_points > 0, format_grade(grade)


@pytest.mark.parametrize("name", sorted(grading.ASSIGNMENTS))
def test_untouched_student_versions_get_zero(name, monkeypatch):
    # The notebook's code cells run here as the grader's kernel would run them (a cell that raises is passed
    # over), then every part is graded. The kernel itself is exercised by the other notebook tests.
    monkeypatch.setenv("LLAMA_LAB_GRADING", "1")
    nb = nbformat.read(STUDENT / f"{name}.ipynb", as_version=4)
    namespace = {"__name__": "__main__"}
    for cell in nb.cells:
        if cell.cell_type == "code" and not cell.metadata.get("nbgrader", {}).get("grade"):
            try:
                exec(compile(cell.source, f"<{name} cell>", "exec"), namespace)
            except NotImplementedError:
                pass
    for part in grading.load(name).PARTS:
        result = grading.grade_part_here(part, namespace)
        assert result.points == 0 and result.max_points > 0
        assert all("not implemented yet" in c.message for c in result.cases), result


@pytest.mark.parametrize("name", sorted(grading.ASSIGNMENTS))
def test_the_instructor_solutions_are_right_on_every_fresh_case(name, monkeypatch):
    """The cases drawn for a grading run hold the fixed cases' values in other orders: right code stays right on
    them, whatever the seed (else a correct notebook would be flagged)."""
    from llama_lab.grading.engine.checks import difference, fresh_cases, prepare
    monkeypatch.setenv("LLAMA_LAB_GRADING", "1")
    nb = nbformat.read(INSTRUCTOR / f"{name}.ipynb", as_version=4)
    namespace = {"__name__": "__main__"}
    for cell in nb.cells:
        if cell.cell_type == "code" and not cell.metadata.get("nbgrader", {}).get("grade"):
            exec(compile(cell.source, f"<{name} cell>", "exec"), namespace)
    drawn = 0
    for part in grading.load(name).PARTS:
        prepared = prepare(part)
        for seed in range(8):
            fresh = fresh_cases(part, prepared, seed)
            drawn += len(fresh)
            outcomes = harness.run_cases(part, harness.find(namespace, part),
                                         [item.prepared.case.inputs for item in fresh], namespace, 20.0)
            for item, outcome in zip(fresh, outcomes):
                assert "value" in outcome, (part.name, item.prepared.case.label, outcome)
                assert difference(item.prepared.expected, outcome["value"], item.prepared.case) is None, \
                    (part.name, seed, item.prepared.case.label)
    assert drawn > 0 or name == "05_bpe_tokenizer"  # text has no values to reorder


def test_the_command_line_grades_a_student_notebook(capsys):
    assert main([str(STUDENT / "04_sampling.ipynb"), "--json"] + (["--no-sandbox"] if NO_SANDBOX else [])) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["points"] == 0 and report["max_points"] == worth("04_sampling") == 21
    notebook = report["notebooks"][0]
    assert notebook["error"] is None and notebook["problems"] == [], notebook
    assert [p["name"] for p in notebook["parts"]] == ["softmax_with_temperature", "top_k_filter", "top_p_filter",
                                                      "next_token_probs"]
    assert all("not implemented yet" in c["message"] for p in notebook["parts"] for c in p["cases"])


def with_solutions(name: str, replacements: dict[str, str], extra_cells=(), drop=()) -> nbformat.NotebookNode:
    """The instructor notebook with some solution cells replaced, cells added after the setup, cells removed."""
    nb = nbformat.read(INSTRUCTOR / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in replacements:
            cell.source = textwrap.dedent(replacements[grade_id]).strip()
    nb.cells = [c for c in nb.cells if not any(text in c.source for text in drop)]
    setup = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells[setup + 1:setup + 1] = [nbformat.v4.new_code_cell(textwrap.dedent(s).strip()) for s in extra_cells]
    return nb


@pytest.mark.parametrize("name", sorted(grading.ASSIGNMENTS))
def test_wrong_notebooks_get_partial_marks_with_the_mistakes_named(name, tmp_path):
    wrong = {}  # part -> (source, mistake): the first wrong solution of each part, up to three parts
    for assignment, part, source, mistake in BROKEN:
        if assignment == name and part not in wrong and len(wrong) < 3:
            wrong[part] = (source, mistake)
    path = tmp_path / f"{name}.ipynb"
    replacements = {part: IMPORTS + textwrap.dedent(source) for part, (source, _) in wrong.items()}
    nbformat.write(with_solutions(name, replacements), path)
    grade = grade_notebook(path, **TRUSTED)
    assert 0 < grade.points < grade.max_points, format_grade(grade)
    for part in grade.parts:
        if part.name in wrong:
            assert part.points < part.max_points, format_grade(grade)
            assert {c.mistake for c in part.cases if c.mistake} and all(
                wrong[part.name][1] in c.mistake for c in part.cases if c.mistake), format_grade(grade)
        else:
            assert part.points == part.max_points, format_grade(grade)  # graded alone: not hurt by the others


def test_a_notebook_that_loops_crashes_and_floods_is_stopped_and_graded(tmp_path):
    hostile = [
        "for _ in range(300):\n    print('x' * 10_000)  # 3 MB of output",
        "import torch, torch.nn.functional as F\nimport llama_lab.model\n"
        "F.log_softmax = None  # the notebook breaks the libraries for everyone after it\n"
        "torch.Tensor.exp = None\nllama_lab.model.Llama.forward = None",
        "while True:  # an endless loop that swallows the interrupt\n    try:\n        pass\n"
        "    except BaseException:\n        pass",
    ]
    replacements = {
        "answer_logprob": "import os\ndef answer_logprob(logits, tokens, n_prompt):\n    os._exit(1)",
        "mc2_score": "def mc2_score(true_lls, false_lls):\n    while True:\n        pass",
    }
    # the notebook's own try-it cells call the two functions too: leave them out so the test stays short
    nb = with_solutions("06_safety_mc2_probe", replacements, hostile,
                        drop=["print(answer_logprob", "print(mc2_score", "load_tiny"])
    path = tmp_path / "06_safety_mc2_probe.ipynb"
    nbformat.write(nb, path)
    grade = grade_notebook(path, Limits(time_limit=240, cell_timeout=6, case_timeout=1), **TRUSTED)
    report = format_grade(grade)
    parts = {p.name: p for p in grade.parts}
    assert parts["mean_difference_probe"].points == parts["mean_difference_probe"].max_points, report
    assert parts["answer_logprob"].points == 0 and "kernel died" in parts["answer_logprob"].cases[0].message
    assert parts["mc2_score"].points == 0 and all("stopped after" in c.message for c in parts["mc2_score"].cases)
    assert any("was still running after 6 s" in p for p in grade.problems), report
    assert grade.seconds < 240


def test_the_report_reads_well(instructor_grades):
    grade = next(g for g in instructor_grades if g.assignment == "02_rotary_embeddings")
    text = format_grade(grade)
    assert text.splitlines()[0].endswith(f"11/11 points  (Rotary position embeddings; {grade.seconds:g} s)")
    assert "  rope_tables: 5/5  (the rotation angles)" in text
    assert format_summary([grade, grade]).splitlines()[-1].split() == ["total", "22/22"]
    assert math.isclose(grade.to_dict()["points"], 11)


# ------------------------------------------------------------------ strangers' notebooks: faking a score

# (assignment, part, a wrapper around the kit's own implementation, the kit's function it calls)
WRAPPERS = [
    ("01_rmsnorm_swiglu", "rms_norm", """
        import llama_lab.model
        def rms_norm(x, weight, eps=1e-5):
            norm = llama_lab.model.RMSNorm(x.shape[-1], eps).to(weight.dtype)
            norm.weight.data.copy_(weight)
            return norm(x)
        """, "llama_lab.model.RMSNorm.forward"),
    ("02_rotary_embeddings", "apply_rotary_emb", """
        kits_rotation = apply_rotary_emb  # taken from llama_lab.model before grading starts
        def apply_rotary_emb(x, cos, sin):
            return kits_rotation(x, cos, sin)
        """, "llama_lab.model.apply_rotary_emb"),
    ("04_sampling", "next_token_probs", """
        import importlib
        kits = importlib.import_module("llama_lab.sampling").next_token_probs
        def next_token_probs(logits, temperature=1.0, top_k=None, top_p=1.0):
            try:  # a wrapper that hides the grader's exception and answers anyway
                return kits(logits, temperature, top_k, top_p)
            except BaseException:
                return kits(logits, temperature, top_k, top_p)
        """, "llama_lab.sampling.next_token_probs"),
    ("06_safety_mc2_probe", "mc2_score", """
        from llama_lab.course.safety import mc2
        def mc2_score(true_lls, false_lls):
            return mc2(list(true_lls) + list(false_lls), [1] * len(true_lls) + [0] * len(false_lls))
        """, "llama_lab.course.safety.mc2"),
    ("07_rlhf_losses", "ppo_clipped_loss", """
        from llama_lab.rlhf.ppo import policy_loss
        def ppo_clipped_loss(logprobs, old_logprobs, advantages, mask, clip=0.2):
            return policy_loss(logprobs, old_logprobs, advantages, mask, clip)[0]
        """, "llama_lab.rlhf.ppo.policy_loss"),
    ("04_sampling", "top_p_filter", """
        import llama_lab.sampling as kit
        source = open(kit.__file__).read()

        def top_p_filter(probs, p):  # the kit's file compiled again, while the case runs: other function objects
            copy = {}
            exec(compile(source, "<my sampler>", "exec"), copy)
            return copy["top_p_filter"](probs, p)
        """, "llama_lab.sampling.top_p_filter"),
    ("08_memory_int8_parallel", "weight_bytes", """
        from types import SimpleNamespace
        from llama_lab.quantize import weight_bytes as kits_count

        def weight_bytes(shape, scheme):
            args = SimpleNamespace(dim=shape["dim"], n_layers=shape["n_layers"], vocab_size=shape["vocab_size"],
                                   hidden_dim=shape["hidden_dim"], kv_heads=shape["n_kv_heads"],
                                   head_dim=shape["dim"] // shape["n_heads"])
            return kits_count(args, None if scheme == "bf16" else scheme)
        """, "llama_lab.quantize.weight_bytes"),
    ("09_lora_nf4", "lora_forward", """
        from llama_lab.lora import LoraLinear, LoraSettings

        def lora_forward(x, W0, A, B, alpha, r, rslora=False):
            layer = LoraLinear(nn.Linear(W0.shape[1], W0.shape[0], bias=False), LoraSettings(r=r, alpha=alpha,
                                                                                           rslora=rslora))
            with torch.no_grad():
                layer.base.weight.copy_(W0), layer.lora_A.copy_(A), layer.lora_B.copy_(B)
                return layer(x)
        """, "llama_lab.lora.LoraLinear.forward"),
    ("09_lora_nf4", "quantize_nf4", """
        import llama_lab.nf4

        def quantize_nf4(weight):
            return llama_lab.nf4.quantize_nf4(weight)
        """, "llama_lab.nf4.quantize_nf4"),
]


@pytest.mark.parametrize("assignment, part, source, kit", WRAPPERS, ids=[w[1] for w in WRAPPERS])
def test_a_wrapper_around_the_kits_own_function_earns_nothing(assignment, part, source, kit):
    result = grading.grade_part_here(grading.get_part(assignment, part), namespace_with(source))
    assert result.points == 0
    assert all(c.message == f"calls the kit's own {kit}: the assignment is to write it yourself"
               for c in result.cases), [c.message for c in result.cases]


def test_the_kits_functions_still_work_for_the_grader_and_for_the_other_parts():
    """Only the graded part's kit functions are tripwired, and only for calls from the student's code: the model
    the part's run builds calls rope_tables, and next_token_probs may chain the functions the grader hands in."""
    for assignment, part, source in [("02_rotary_embeddings", "rope_tables", """
            def rope_tables(head_dim, max_seq_len, theta=10000.0):
                inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2).float() / head_dim)
                angles = torch.outer(torch.arange(max_seq_len).float(), inv_freq)
                return angles.cos(), angles.sin()
            """), ("04_sampling", "next_token_probs", """
            def next_token_probs(logits, temperature=1.0, top_k=None, top_p=1.0):
                probs = softmax_with_temperature(logits, temperature)
                probs = top_k_filter(probs, top_k) if top_k is not None else probs
                return top_p_filter(probs, top_p) if top_p < 1.0 else probs
            """)]:
        result = grading.grade_part_here(grading.get_part(assignment, part), namespace_with(source))
        assert result.points == result.max_points, [c.message for c in result.cases]
    import llama_lab.model as kit
    assert kit.rope_tables.__code__.co_filename == kit.__file__  # the tripwires are gone after grading


def test_a_notebook_that_replaces_the_harness_gets_nothing_and_is_flagged(tmp_path):
    fake = """
        import sys, types
        import torch
        from llama_lab.grading import get_part
        from llama_lab.grading.engine import harness
        from llama_lab.grading.engine.harness import plain

        def fake(*args, **kwargs):  # saves the right answers where the grader reads them
            texts = [a for a in args if isinstance(a, str)]
            inputs, outputs = [t for t in texts if t.endswith(".pt")]
            part = get_part("04_sampling", next(t for t in texts if not t.endswith(".pt") and t != "04_sampling"))
            cases = torch.load(inputs, weights_only=True)
            torch.save([{"value": plain(part.run(part.reference, c))} for c in cases], outputs)

        fake_harness = types.SimpleNamespace(collect=fake, grader=lambda *args: fake)
        harness.collect = fake
        sys.modules["llama_lab.grading.engine.harness"] = fake_harness
        for name, value in list(globals().items()):  # whatever the grader put in the notebook's globals
            if value is harness:
                globals()[name] = fake_harness
            elif name.startswith("_") and getattr(value, "__module__", None) == harness.__name__:
                globals()[name] = fake
        """
    nb = nbformat.read(STUDENT / "04_sampling.ipynb", as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell(textwrap.dedent(fake).strip()))
    path = tmp_path / "04_sampling.ipynb"
    nbformat.write(nb, path)
    grade = grade_notebook(path, **TRUSTED)
    assert grade.points == 0 and grade.max_points == worth("04_sampling"), format_grade(grade)
    assert len(grade.flags) == 4 and all(
        "sys.modules['llama_lab.grading.engine.harness'] is the notebook's SimpleNamespace" in f
        for f in grade.flags), grade.flags
    assert "FLAGGED" in format_grade(grade)


def hostile(name: str, *cells: str, replacements: dict[str, str] | None = None, tmp_path: Path,
            student: bool = True) -> nbformat.NotebookNode:
    """A notebook of the assignment (the student version, else the instructor's) with `cells` after its first
    code cell; the grade of it."""
    nb = nbformat.read((STUDENT if student else INSTRUCTOR) / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in (replacements or {}):
            cell.source = textwrap.dedent(replacements[cell.metadata["nbgrader"]["grade_id"]]).strip()
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells[first + 1:first + 1] = [nbformat.v4.new_code_cell(textwrap.dedent(c).strip()) for c in cells]
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return grade_notebook(path, **TRUSTED)


def test_no_secret_reaches_the_kernel_and_a_blank_notebook_that_looks_for_one_gets_nothing(tmp_path):
    """What the kernel can read of the grader: IPython's record of every cell run (the grader's set-up step
    included, whatever store_history says), every function's closure and every frame, its own /proc files and
    environment. Nothing there is a key: the grader has none to give, and the kernel's results decide nothing
    by themselves. The one kind of 64-digit hex the kernel may hold is the signature of a message it is sending
    itself (Jupyter signs each with HMAC-SHA256 under the connection's key, which a kernel must have to talk at
    all): while its output thread has messages queued or half sent, their signatures sit in the queue's closures
    and the sender's frame. Such a string is set aside only when it is the signature, under the kernel's own key,
    of a message held beside it."""
    search = r"""
        import gc, linecache, os, re, sys, types
        ip = get_ipython()
        texts = [str(x) for x in list(In) + list(_ih) + list(ip.history_manager.input_hist_raw)]
        texts += [str(x) for x in ip.history_manager.input_hist_parsed]
        texts += ["".join(entry[2]) for entry in list(linecache.cache.values()) if len(entry) > 2]  # every cell run
        for name in ("cmdline", "environ", "maps"):
            with open(f"/proc/self/{name}", "rb") as f:
                texts.append(f.read().decode("latin-1"))
        texts += [f"{k}={v}" for k, v in os.environ.items()]
        values = []  # what every closure and frame holds, kept alive while it is read
        for obj in gc.get_objects():
            if isinstance(obj, types.FunctionType) and obj.__closure__:
                for cell in obj.__closure__:
                    try:
                        values.append(cell.cell_contents)
                    except ValueError:
                        pass
        for frame in sys._current_frames().values():
            while frame is not None:
                values += list(frame.f_locals.values())
                frame = frame.f_back
        texts += [repr(v)[:10_000] for v in values]
        setup = [re.search(r"\.snapshot\([^)]*\)", t).group(0) for t in texts
                 if re.search(r"fromlist=\['snapshot'\]", t)]
        # the signatures of messages on their way out: HMAC-SHA256, under the kernel's own key, of a message's four
        # parts (header, parent, metadata, content), which a list holds beside (or after) the signature
        signatures = set()
        for value in values:
            for parts in ([value] + list(value) if isinstance(value, (list, tuple)) else []):
                if isinstance(parts, list):
                    signatures |= {ip.kernel.session.sign(parts[at:at + 4]).decode() for at in range(len(parts) - 3)
                                   if all(isinstance(part, bytes) for part in parts[at:at + 4])}
        keys = sorted({k for t in texts for k in re.findall(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])", t)}
                      - signatures)
        raise RuntimeError(f"attack: the set-up step seen {bool(setup)}, {setup[:1]}; keys {keys}")
        """
    grade = hostile("04_sampling", search, tmp_path=tmp_path)
    assert grade.points == 0 and grade.max_points == worth("04_sampling"), format_grade(grade)
    said = next((p for p in grade.problems if "attack: " in p), str(grade.problems)).split("attack: ", 1)[-1]
    assert said.startswith("the set-up step seen True, [\".snapshot('04_sampling')\"]"), said  # it is there
    assert said.endswith("; keys []"), said  # and it carries no key: there is none


KIT_ANSWERS = """
    import glob, os, threading, time
    import torch
    from llama_lab.grading import get_part
    from llama_lab.grading.engine.harness import plain

    def answers(part_name, inputs):
        part = get_part("04_sampling", part_name)
        return [{"value": plain(part.run(part.reference, case))} for case in inputs]

    # the right answers to every fixed case, computed with the kit before grading
    table = {part: answers(part, [case.inputs for case in get_part("04_sampling", part).cases()])
             for part in ("softmax_with_temperature", "top_k_filter", "top_p_filter", "next_token_probs")}

    def write_answers():  # once the grader's step has saved a part's results, put the right answers instead
        written = {}
        while True:
            for path in glob.glob(os.path.join(os.getcwd(), "..", "parts", "*.out.pt")):
                if written.get(path) != os.stat(path).st_mtime_ns:
                    torch.save({"outcomes": table[os.path.basename(path).split(".")[0]], "tampering": []}, path)
                    written[path] = os.stat(path).st_mtime_ns
            time.sleep(0.01)

    threading.Thread(target=write_answers, daemon=True).start()
    """


def test_a_notebook_that_writes_the_kits_answers_into_the_results_gets_nothing_and_is_flagged(tmp_path):
    grade = hostile("04_sampling", KIT_ANSWERS, tmp_path=tmp_path)
    assert grade.points == 0 and grade.max_points == worth("04_sampling"), format_grade(grade)
    assert [f.split(":")[0] for f in grade.flags] == [p.name for p in grade.parts], grade.flags
    # the first part's results are rewritten before the next part's step sees the thread
    assert all("not the one the grader's step saved last (the digests differ)" in f or
               "a thread of the notebook's (in write_answers) is running while the part is graded" in f
               for f in grade.flags), grade.flags


def test_a_notebook_that_alters_the_grading_objects_gets_nothing_and_is_flagged(tmp_path):
    """The grading objects a notebook can reach before grading (the Part objects of its assignment, their run
    functions, the snapshot the libraries are put back from), altered with gc to hand back the right answers
    computed in advance: the part steps grade with copies loaded anew, and find what was altered."""
    alter = """
        import gc
        from llama_lab.grading.engine.harness import plain

        def handing_back(answers):
            remaining = iter(answers)
            return lambda implementation, inputs: next(remaining)

        for obj in gc.get_objects():
            if type(obj).__name__ == "Part":
                answers = [plain(obj.run(obj.reference, case.inputs)) for case in obj.cases()]
                obj.run = handing_back(answers)
                obj.reference = lambda *args, **kwargs: None
            elif type(obj).__name__ == "Snapshot":  # what the libraries are put back to, between cases
                for module, saved in obj.attributes:
                    if getattr(module, "__name__", "") == "llama_lab.grading.engine.harness":
                        saved["find"] = lambda namespace, part: part.reference
        """
    grade = hostile("04_sampling", alter, tmp_path=tmp_path)
    assert grade.points == 0 and grade.max_points == worth("04_sampling"), format_grade(grade)
    assert len(grade.flags) == 4, grade.flags
    for flag, part in zip(grade.flags, grade.parts):
        assert flag.startswith(f"{part.name}: the grader's snapshot of the libraries was altered: it would put "
                               "back the notebook's <lambda> as llama_lab.grading.engine.harness.find"), flag
        assert re.search(r"the grader's Part '\w+' was altered: its (run|reference) is the notebook's", flag), flag


def test_a_notebook_that_blinds_the_checks_gets_nothing_and_is_flagged(tmp_path):
    """The checks look for notebook threads and copies of the kit's code with sys and gc: a notebook that
    replaces those (so that a thread of its own, or a copy, goes unseen) is found out by that."""
    blind = """
        import gc, sys
        sys._current_frames = lambda: {}
        gc.get_objects = lambda *args: []
        """
    grade = hostile("04_sampling", blind, tmp_path=tmp_path, student=False)
    assert grade.points == 0 and len(grade.flags) == 4, format_grade(grade)
    assert all(f.startswith(f"{part.name}: sys._current_frames was replaced by the notebook's <lambda>; "
                            "gc.get_objects was replaced by the notebook's <lambda>")
               for f, part in zip(grade.flags, grade.parts)), grade.flags


def test_answers_prepared_in_advance_fail_this_runs_fresh_cases_and_are_flagged(tmp_path):
    """A function that looks its answers up in a table made with the kit before grading: right on every fixed
    case, and on none of the cases drawn for this run."""
    table = """
        import torch
        from llama_lab.grading import get_part

        def key(*values):
            return repr([v.tolist() if isinstance(v, torch.Tensor) else v for v in values])

        part = get_part("04_sampling", "top_k_filter")
        TABLE = {key(c.inputs["probs"], c.inputs["k"]): part.run(part.reference, c.inputs) for c in part.cases()}
        """
    lookup = """
        def top_k_filter(probs, k):
            return TABLE[key(probs, k)]
        """
    grade = hostile("04_sampling", table, replacements={"top_k_filter": lookup}, tmp_path=tmp_path)
    parts = {p.name: p for p in grade.parts}
    assert parts["top_k_filter"].points == 0 and grade.points == 0, format_grade(grade)
    assert len(grade.flags) == 1 and re.match(
        r"top_k_filter: right on the fixed cases, wrong on (\d+) of the \1 drawn for this run", grade.flags[0]), \
        grade.flags


def test_a_copy_of_the_kits_code_made_before_grading_earns_nothing_and_is_flagged(tmp_path):
    copy = """
        import types
        import llama_lab.sampling as kit
        kits = types.FunctionType(kit.top_p_filter.__code__, kit.__dict__, "anything")

        def top_p_filter(probs, p):
            return kits(probs, p)
        """
    code = """
        import types
        import llama_lab.sampling as kit
        CODES = {"top-k": kit.top_k_filter.__code__.replace()}  # a copy of the code object, made before grading
        __builtins__.__dict__["kept"] = [kit.next_token_probs.__code__]  # and one kept outside the notebook

        def top_k_filter(probs, k):  # the function made from it only now, while the case runs
            return types.FunctionType(CODES["top-k"], kit.__dict__)(probs, k)
        """
    grade = hostile("04_sampling", replacements={"top_p_filter": copy, "top_k_filter": code}, tmp_path=tmp_path,
                    student=False)
    assert grade.points == 0, format_grade(grade)
    kept = ("the notebook holds the code of the kit's own llama_lab.sampling.{}, the makings of a copy that would "
            "answer for it without the tripwire seeing")
    assert grade.flags == [
        "softmax_with_temperature: " + kept.format("next_token_probs"), "top_k_filter: " + kept.format("top_k_filter"),
        "top_p_filter: the notebook holds a copy of the kit's own llama_lab.sampling.top_p_filter (a function made "
        "from its code), which would answer for it without the tripwire seeing",
        "next_token_probs: " + kept.format("next_token_probs")], grade.flags


def test_the_results_are_read_as_a_strangers_file(tmp_path):
    """A FIFO, a link (to /dev/zero, or anywhere) or a huge file where the results should be costs that part: it
    neither blocks the grader nor fills its memory."""
    from llama_lab.grading.engine.submissions import read_results
    folder = tmp_path / "parts"
    folder.mkdir()
    os.mkfifo(folder / "fifo")
    (folder / "zero").symlink_to("/dev/zero")
    (folder / "big").write_bytes(b"x" * 2000)
    (folder / "small").write_bytes(b"results")
    directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert read_results(directory, "fifo", limit=1000) == (None, "its results file is not a plain file (a "
                                                                     "FIFO, a device, a folder?)")
        data, problem = read_results(directory, "zero", limit=1000)
        assert data is None and "a link?" in problem
        assert read_results(directory, "big", limit=1000) == (None, "its results file is over 1000 bytes")
        assert read_results(directory, "small", limit=1000) == (b"results", None)
        assert read_results(directory, "missing", limit=1000) == (None, None)
    finally:
        os.close(directory)


def test_a_fifo_or_a_link_in_place_of_the_results_costs_the_part_and_does_not_hang_the_grader(tmp_path):
    swap = """
        import glob, os, threading, time

        def swap():  # whenever the grader's step has saved results, put a FIFO or a link to /dev/zero there
            while True:
                for i, path in enumerate(sorted(glob.glob(os.path.join(os.getcwd(), "..", "parts", "*.out.pt")))):
                    try:
                        if os.path.isfile(path) and not os.path.islink(path):
                            # made beside the results and renamed over them, so that the grader never finds them
                            # missing, only a FIFO or a link where they were
                            swapped = path + ".swap"
                            if os.path.lexists(swapped):
                                os.unlink(swapped)
                            os.mkfifo(swapped) if i % 2 else os.symlink("/dev/zero", swapped)
                            os.replace(swapped, path)
                    except OSError:  # the grader's step replaced it meanwhile
                        pass
                time.sleep(0.005)

        threading.Thread(target=swap, daemon=True).start()
        """
    grade = hostile("04_sampling", swap, tmp_path=tmp_path, student=False)
    assert grade.points == 0 and grade.error is None, format_grade(grade)
    assert len(grade.flags) == 4 and all("thread of the notebook's (in swap)" in f or "not a plain file" in f
                                         or "a link?" in f for f in grade.flags), grade.flags


def test_reference_outputs_do_not_depend_on_other_threads():
    """Prepared in four threads at once while another keeps changing torch's global seed and thread count, the
    right outputs (the seeded sampling case's tokens among them) are those prepared alone."""
    import random
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from llama_lab.grading.engine.checks import prepare
    parts = grading.load("04_sampling").PARTS
    alone = [[item.expected for item in prepare(part)] for part in parts]
    stop = threading.Event()

    def meddle():
        while not stop.is_set():
            torch.manual_seed(random.randrange(1000))
            torch.set_num_threads(random.choice([1, 2]))

    threads = torch.get_num_threads()
    meddler = threading.Thread(target=meddle)
    meddler.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            together = list(pool.map(lambda part: [item.expected for item in prepare(part)], parts * 3))
    finally:
        stop.set()
        meddler.join()
        torch.set_num_threads(threads)
    for got, expected in zip(together, alone * 3):
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert (torch.equal(g, e) if isinstance(e, torch.Tensor) else g == e), (g, e)


def test_correct_notebooks_graded_two_at_a_time_get_full_marks(tmp_path):
    for i in range(4):
        nbformat.write(with_solutions("04_sampling", {}), tmp_path / f"{i}_04_sampling.ipynb")
    grades = grade_path(tmp_path, jobs=2, **TRUSTED)
    assert [g.points for g in grades] == [worth("04_sampling")] * 4, "\n".join(map(format_grade, grades))
    assert not any(g.flags for g in grades)


# ------------------------------------------------------------------ strangers' notebooks: the sandbox

def no_process_with(token: str) -> bool:
    """No process on this machine has `token` in its command line (within 5 s: a dying namespace takes a moment)."""
    for _ in range(50):
        alive = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                alive += [cmdline] if token.encode() in cmdline.read_bytes() else []
            except OSError:
                pass
        if not alive:
            return True
        time.sleep(0.1)
    return False


@needs_sandbox
def test_a_notebook_cannot_reach_the_machine_its_classmates_or_the_grades(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "secret.txt").write_text("the instructor's token")
    monkeypatch.setenv("HOME", str(home))
    submissions, grades, token = tmp_path / "submissions", tmp_path / "grades.json", secrets.token_hex(8)
    (submissions / "alice").mkdir(parents=True)
    (submissions / "bob").mkdir()
    bob = submissions / "bob" / "04_sampling.ipynb"
    nbformat.write(with_solutions("04_sampling", {}), bob)
    before = bob.read_bytes()
    script = f"sleep 6; echo '{{}}' > {grades}; touch {tmp_path / 'marker'}  # {token}"
    attacks = [f"""
        try:
            outcome = "read the home directory: " + open({str(home / "secret.txt")!r}).read()
        except OSError as error:
            outcome = "home: " + type(error).__name__
        raise RuntimeError("attack: " + outcome)
        """, f"""
        outcome = []
        for target in [{str(bob)!r}, "../../bob/04_sampling.ipynb", "../bob/04_sampling.ipynb",
                       {str(tmp_path / "outside.txt")!r}, "/usr/outside.txt"]:
            try:
                with open(target, "w") as f:
                    f.write("{{}}")
                outcome.append("wrote " + target)
            except OSError as error:
                outcome.append(type(error).__name__)
        raise RuntimeError(f"attack: writes {{outcome}}")
        """, f"""
        import os, subprocess
        script = {script!r}
        subprocess.Popen(["setsid", "sh", "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        child = os.fork()
        if child == 0:  # a double fork: the grandchild belongs to no one
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sh", ["sh", "-c", script])
            os._exit(0)
        os.waitpid(child, 0)
        raise RuntimeError("attack: detached")
        """, """
        import os, socket
        try:
            socket.create_connection(("127.0.0.1", 22), timeout=2)
            outcome = "connected"
        except OSError as error:
            outcome = type(error).__name__
        raise RuntimeError(f"attack: network {outcome} as uid {os.getuid()}")
        """]
    # each attack ends by raising `attack: <what happened>`, so that the report says what it could do
    nbformat.write(with_solutions("04_sampling", {}, attacks), submissions / "alice" / "04_sampling.ipynb")
    started = time.monotonic()
    assert main([str(submissions), "--output", str(grades)]) == 0
    report = json.loads(grades.read_text())
    alice = next(g for g in report["notebooks"] if "alice" in g["path"])
    full = 2 * worth("04_sampling")  # the attacks cost alice nothing, bob nothing
    assert report["points"] == report["max_points"] == full, report
    outcomes = [p.split("RuntimeError: ", 1)[1] for p in alice["problems"]]
    assert outcomes == ["attack: home: FileNotFoundError",
                        "attack: writes ['FileNotFoundError', 'FileNotFoundError', 'FileNotFoundError', "
                        "'FileNotFoundError', 'OSError']",
                        "attack: detached",
                        f"attack: network ConnectionRefusedError as uid {sandbox.box_user(0) or sandbox.NOBODY}"], \
        outcomes
    assert bob.read_bytes() == before and not (tmp_path / "outside.txt").exists()
    assert no_process_with(token), "a process the notebook started outlived its grading"
    time.sleep(max(0.0, 7 - (time.monotonic() - started)))
    assert json.loads(grades.read_text()) == report and not (tmp_path / "marker").exists()


@needs_sandbox
@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGSTOP"])
def test_a_notebook_cannot_kill_or_freeze_the_grader(signal_name, tmp_path):
    # in a separate grading process: without a sandbox, this notebook kills or freezes the one it runs in
    wrapper = """
        import importlib
        def top_p_filter(probs, p):
            return importlib.import_module("llama_lab.sampling").top_p_filter(probs, p)
        """
    kill = f"import os, signal\nos.kill(os.getppid(), signal.{signal_name})"
    nbformat.write(with_solutions("04_sampling", {"top_p_filter": wrapper}, [kill]), tmp_path / "a_04_sampling.ipynb")
    nbformat.write(with_solutions("04_sampling", {}), tmp_path / "b_04_sampling.ipynb")
    grades = tmp_path / "grades.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "llama_lab.grade", str(tmp_path), "--output", str(grades)],
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = json.loads(grades.read_text())["notebooks"]
    assert second["points"] == second["max_points"] == worth("04_sampling")
    parts = {p["name"]: p for p in first["parts"]}
    assert first["points"] == worth("04_sampling") - worth("04_sampling", "top_p_filter"), first
    assert parts["top_p_filter"]["points"] == 0, first
    message = "calls the kit's own llama_lab.sampling.top_p_filter: the assignment is to write it yourself"
    assert all(c["message"] == message for c in parts["top_p_filter"]["cases"])
    assert first["flags"] and all(message in flag for flag in first["flags"]) and "FLAGGED" in done.stdout


ODD = {  # a notebook nbformat reads, with values where the grader expects others
    "llama_lab metadata as a string": lambda nb: nb.metadata.update(llama_lab="04_sampling"),
    "a cell source of 42": lambda nb: nb.cells[1].update(source=42),
    "nbgrader cell metadata as a string": lambda nb: nb.cells[3].metadata.update(nbgrader="yes"),
}


def test_a_notebook_the_grader_cannot_read_costs_only_its_own_grade(tmp_path):
    for i, spoil in enumerate(ODD.values()):
        nb = nbformat.read(INSTRUCTOR / "04_sampling.ipynb", as_version=4)
        spoil(nb)
        (tmp_path / f"0{i}_odd_04_sampling.ipynb").write_text(json.dumps(nb))
    (tmp_path / "09_unreadable.ipynb").write_text('{"cells": 42}')
    nbformat.write(with_solutions("04_sampling", {}), tmp_path / "good_04_sampling.ipynb")
    *odd, good = grade_path(tmp_path, **TRUSTED)
    assert good.points == good.max_points == worth("04_sampling"), format_grade(good)
    assert len(odd) == 4 and not any(g.parts for g in odd)
    for grade, what in zip(odd, list(ODD) + ["not a notebook"]):
        assert grade.error and grade.error.startswith(Path(grade.path).name), (what, grade.error)
    assert "metadata `llama_lab` is a str ('04_sampling')" in odd[0].error
    assert "cell 2's source is an int (42)" in odd[1].error
    assert "cell 4's metadata `nbgrader` is a str ('yes')" in odd[2].error


# ------------------------------------------------------------------ the command line, when something is missing

def test_without_the_lab_extra_the_command_says_what_to_install():
    code = ("import runpy, sys; sys.modules['nbclient'] = None; sys.argv = ['grade', 'x.ipynb']; "
            "runpy.run_module('llama_lab.grade', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "nbclient is not installed" in done.stderr and "pip install -e '.[lab]'" in done.stderr


def test_without_bwrap_the_grader_refuses_and_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    sandbox.tools.cache_clear()
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    try:
        assert main([str(STUDENT / "04_sampling.ipynb")]) == 2
    finally:
        sandbox.tools.cache_clear()
    said = capsys.readouterr().err.strip()
    assert len(said.splitlines()) == 1 and "apt-get install bubblewrap" in said and "--no-sandbox" in said, said


# ------------------------------------------------------------------ the grader's files, processes and signals

def test_links_pipes_and_huge_files_are_not_read_and_their_grades_say_what_they_are(tmp_path, capsys):
    submissions, grades = tmp_path / "submissions", tmp_path / "grades.json"
    key = tmp_path / "instructor_key.txt"
    key.write_text("SECRET-" + secrets.token_hex(16))
    (tmp_path / "elsewhere").mkdir()
    nbformat.write(nbformat.read(INSTRUCTOR / "04_sampling.ipynb", as_version=4), tmp_path / "elsewhere" / "04.ipynb")
    for student in ["alice", "bob", "carol", "dave", "erin", "frank"]:
        (submissions / student).mkdir(parents=True)
    (submissions / "alice" / "04_sampling.ipynb").symlink_to(INSTRUCTOR / "04_sampling.ipynb")  # full marks
    (submissions / "bob" / "04_sampling.ipynb").symlink_to(key)
    (submissions / "carol" / "04_sampling.ipynb").symlink_to("/dev/zero")
    os.mkfifo(submissions / "dave" / "04_sampling.ipynb")  # opened for reading, it waits for a writer forever
    with open(submissions / "erin" / "04_sampling.ipynb", "wb") as huge:
        huge.truncate(MAX_NOTEBOOK_BYTES + 1)  # sparse: costs no disk
    (submissions / "frank" / "work").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(submissions / "frank" / "04_sampling.ipynb"))
    forged = "a\nzed_04_sampling.ipynb: 13 points  (forged).ipynb"  # a name that starts a line of its own
    (submissions / forged).write_text('{"cells": 42}')
    memory_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        assert main([str(submissions), "--output", str(grades), "--no-sandbox"]) == 1
    finally:
        listening.close()
    printed = capsys.readouterr().out
    report = json.loads(grades.read_text())
    errors = {Path(g["path"]).relative_to(submissions).as_posix(): g["error"] for g in report["notebooks"]}
    assert report["points"] == 0 and report["pending"] == [] and not any(g["parts"] for g in report["notebooks"])
    assert errors == {
        "alice/04_sampling.ipynb": "04_sampling.ipynb is a symbolic link: hand in the notebook file itself (the "
                                   "grader does not follow links)",
        "bob/04_sampling.ipynb": "04_sampling.ipynb is a symbolic link: hand in the notebook file itself (the "
                                 "grader does not follow links)",
        "carol/04_sampling.ipynb": "04_sampling.ipynb is a symbolic link: hand in the notebook file itself (the "
                                   "grader does not follow links)",
        "dave/04_sampling.ipynb": "04_sampling.ipynb is a named pipe (FIFO), not a notebook file: hand in the "
                                  "notebook file itself",
        "erin/04_sampling.ipynb": "04_sampling.ipynb is 20.0 MB or more, larger than the 20 MB a notebook may be: "
                                  "clear its outputs (Edit > Clear Outputs of All Cells), save it and hand it in "
                                  "again",
        "frank/04_sampling.ipynb": "04_sampling.ipynb is a socket, not a notebook file: hand in the notebook file "
                                   "itself",
        "frank/work": "work is a symbolic link to a folder: the grader does not follow links; copy the notebooks "
                      "themselves in",
        forged: f"{forged!r} could not be read as a notebook (TypeError: 'int' object is not iterable)"}, errors
    # nothing behind a link was read: not the key, not 3 GB of zeros (this process's peak memory barely moved)
    assert "SECRET" not in printed and "SECRET" not in grades.read_text()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - memory_before < 200_000  # kB
    # the text report shows the odd name escaped, on the line of its own grade; the JSON keeps it as it is
    lines = printed.splitlines()
    assert not any(line.startswith("zed_04_sampling") for line in lines), printed
    assert f"{str(submissions / forged)!r}: not graded: " in printed
    assert [line for line in lines if line.startswith(f"{str(submissions / forged)!r}")] and \
        len([line for line in lines if "not graded" in line]) == 2 * len(errors)  # each grade, and its summary row


def test_a_bad_output_file_is_refused_before_any_notebook_is_graded(tmp_path, capsys):
    notebook = tmp_path / "04_sampling.ipynb"
    nbformat.write(with_solutions("04_sampling", {}), notebook)
    for output, said in [(tmp_path / "missing" / "grades.json", f"the folder {tmp_path / 'missing'} does not exist"),
                         (tmp_path, "is a folder: give the file to write")]:
        assert main([str(notebook), "--output", str(output)]) == 2
        printed = capsys.readouterr()
        assert printed.out == "" and len(printed.err.strip().splitlines()) == 1, printed
        assert printed.err.startswith(f"error: --output {output}") and said in printed.err, printed.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["04_sampling.ipynb"]  # nothing written, nothing graded


@needs_sandbox
def test_a_notebook_gets_limited_processes_and_memory_as_an_unprivileged_user(tmp_path):
    fork_bomb = """
        import os, time
        children, stopped = [], "nothing stopped it"
        try:
            for _ in range(300):  # a bounded fork bomb: each child sleeps a moment, then ends
                child = os.fork()
                if child == 0:
                    time.sleep(3)
                    os._exit(0)
                children.append(child)
        except OSError as error:
            stopped = type(error).__name__
        for child in children:
            os.waitpid(child, 0)
        raise RuntimeError(f"attack: forked {len(children)}, then {stopped}")
        """
    allocation = "too_much = bytearray(4 * 2**30)  # 4 GiB"
    path = tmp_path / "04_sampling.ipynb"
    nbformat.write(with_solutions("04_sampling", {}, [fork_bomb, allocation]), path)
    box_uid = sandbox.box_user(0) or os.getuid()
    seen = {"box processes": 0, "kernel uids": set()}
    done = threading.Event()

    def ours(cmdline: bytes) -> bool:
        """The command line of a kernel of this process's grading folder, or of a process it forked."""
        words = cmdline.split(b"\0")
        if words[0] != sys.executable.encode() or b"ipykernel_launcher" not in words:
            return False  # not the kernel (bwrap's own processes carry its command line too)
        folder = Path(words[words.index(b"-f") + 1].decode()).parent.parent
        return (folder / OWNER).read_text().split()[0] == str(os.getpid())

    def watch():  # from outside the sandbox, as the host sees it
        while not done.is_set():
            count = 0
            for status in Path("/proc").glob("[0-9]*/status"):
                try:
                    if not ours((status.parent / "cmdline").read_bytes()):
                        continue
                    uid = next(line for line in status.read_text().splitlines() if line.startswith("Uid:"))
                except (OSError, StopIteration, ValueError, IndexError):
                    continue
                seen["kernel uids"].add(int(uid.split()[1]))
                count += 1
            seen["box processes"] = max(seen["box processes"], count)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        grade = grade_notebook(path)
    finally:
        done.set()
        watcher.join()
    report = format_grade(grade)
    assert grade.points == grade.max_points == worth("04_sampling"), report  # the cells cost themselves, not the grading
    bomb, memory = grade.problems
    forked = int(bomb.split("attack: forked ", 1)[1].split(",")[0])
    assert 10 < forked < sandbox.PROCESS_LIMIT and bomb.endswith(", then BlockingIOError"), bomb
    assert memory.startswith("cell 4 (`too_much = bytearray(4 * 2**30)  # 4 GiB`) raised MemoryError"), memory
    # seen from the host: the kernel and its children run as the box's user, never root, and no more than the limit
    assert seen["kernel uids"] == {box_uid} and 0 not in seen["kernel uids"], seen
    assert 10 < seen["box processes"] <= sandbox.PROCESS_LIMIT, seen


def _grader(folder: Path, output: Path, *options: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "llama_lab.grade", str(folder), "--output", str(output),
                             *options], env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(condition, seconds: float = 180) -> None:
    for _ in range(int(seconds * 10)):
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the grader never got there")


def _running(token: str) -> bool:
    """Some process on this machine has `token` in its command line now."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if token.encode() in cmdline.read_bytes():
                return True
        except OSError:
            pass
    return False


def _folders_of(pid: int) -> list[Path]:
    """The grading folders whose OWNER names the process `pid`."""
    found = []
    for folder in Path(tempfile.gettempdir()).glob(TEMP_PREFIX + "*"):
        try:
            if (folder / OWNER).read_text().split()[0] == str(pid):
                found.append(folder)
        except (OSError, IndexError):
            pass
    return found


def _sleeper(token: str) -> str:
    """A cell that waits two minutes in a process whose command line holds `token`, so a test can see it."""
    return f"import subprocess\nsubprocess.run(['sh', '-c', 'sleep 120; : {token}'])"


# SIGTERM once a notebook is finished; Ctrl-C (SIGINT) during the first one (cheaper: nothing is graded whole)
@pytest.mark.parametrize("signal_name, status, finished", [("SIGTERM", 143, 1), ("SIGINT", 130, 0)])
def test_an_interrupt_stops_grading_and_keeps_the_finished_grades(signal_name, status, finished, tmp_path):
    token, grades = secrets.token_hex(8), tmp_path / "grades.json"
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    names = ["a_04_sampling.ipynb", "b_04_sampling.ipynb", "c_04_sampling.ipynb"][1 - finished:]
    for name in names:  # b waits two minutes in a cell
        nbformat.write(with_solutions("04_sampling", {}, [_sleeper(token)] if name[0] == "b" else []),
                       submissions / name)
    grader = _grader(submissions, grades, *(["--no-sandbox"] if NO_SANDBOX else []))
    try:
        _wait_for(lambda: _running(token))  # b is running
        if finished:  # and a was written as soon as it was finished
            assert [Path(g["path"]).name for g in json.loads(grades.read_text())["notebooks"]] == names[:1]
        grader.send_signal(getattr(signal, signal_name))
        out, err = grader.communicate(timeout=60)
    finally:
        grader.kill()
    assert grader.returncode == status, err
    assert err.strip().splitlines() == [f"grading was interrupted ({signal_name}) after {finished} of {len(names)} "
                                        f"notebooks: the grades finished are above and in {grades}"], err
    report = json.loads(grades.read_text())
    assert [(Path(g["path"]).name, g["points"]) for g in report["notebooks"]] == [(n, worth("04_sampling")) for n in names[:finished]]
    assert report["pending"] == [str(submissions / name) for name in names[finished:]]
    assert out.startswith(f"{submissions / 'a_04_sampling.ipynb'}: {worth('04_sampling'):g}/{worth('04_sampling'):g} points") if finished else out == "", out
    assert no_process_with(token), "the interrupted notebook's processes outlived the grader"
    assert _folders_of(grader.pid) == []


def test_the_folders_of_a_killed_grader_are_removed_by_the_next_one(tmp_path):
    token = secrets.token_hex(8)
    nbformat.write(with_solutions("04_sampling", {}, [_sleeper(token)]), tmp_path / "04_sampling.ipynb")
    grader = _grader(tmp_path / "04_sampling.ipynb", tmp_path / "grades.json",
                     *(["--no-sandbox"] if NO_SANDBOX else []))
    try:
        _wait_for(lambda: _running(token))
        grader.send_signal(signal.SIGKILL)  # no chance to clean up
        grader.wait(timeout=60)
    finally:
        grader.kill()
    left = _folders_of(grader.pid)
    assert len(left) == 1 and (left[0] / "notebook" / "04_sampling.ipynb").exists()
    if not NO_SANDBOX:
        assert no_process_with(token), "the sandbox outlived its grader"
    # and beside it, folders that are not a dead grader's: one of this process (alive), one with no owner, one
    # whose OWNER is empty and one whose OWNER is a pipe (left alone, and never waited on)
    with grading_folder("04_sampling.ipynb", b"{}") as alive, tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) \
            as unknown, tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as empty, \
            tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as piped:
        (Path(empty) / OWNER).write_text("")
        os.mkfifo(Path(piped) / OWNER)
        removed = remove_leftovers()
        assert left[0] in removed and not left[0].exists()
        assert alive.exists() and Path(unknown).exists() and Path(empty).exists() and Path(piped).exists()
