"""The autograder: full marks for the instructor solutions, zero for the untouched student versions, points lost
with the mistake named for plausible wrong solutions, and grading that survives notebooks that raise, loop
forever, print megabytes, patch the libraries or end the kernel.

Wrong solutions are written here as a student would write them (not taken from the grader's list of mistakes),
and graded twice: in this process, each alone (fast), and in the notebooks, through the kernel (one notebook per
assignment with several parts wrong at once).
"""

import json
import math
import textwrap
from pathlib import Path

import nbformat
import pytest
import torch

from llama_lab import grading
from llama_lab.grade import Limits, format_grade, format_summary, grade_notebook, grade_path, main
from llama_lab.grading import harness

REPO = Path(__file__).resolve().parent.parent
INSTRUCTOR = REPO / "notebooks" / "assignments" / "instructor"
STUDENT = REPO / "notebooks" / "assignments" / "student"

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
]


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
    assert printed.err == "" and printed.out.startswith("rms_norm: 4/5  (RMSNorm)")
    cell = nbformat.v4.new_code_cell("check(...)", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text=printed.out),
        nbformat.v4.new_output("execute_result", {"text/plain": repr(points)}, execution_count=1)])
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "points": 5, "grade_id": "rms_norm_check"}
    assert determine_grade(cell) == (4.0, 5.0)  # nbgrader's partial credit: the points check returned


def test_a_missing_function_is_reported_per_part():
    result = grading.grade_part_here(grading.get_part("04_sampling", "top_k_filter"), {})
    assert result.points == 0
    assert "`top_k_filter` is not defined" in result.cases[0].message


def test_handing_in_the_kits_own_function_earns_nothing():
    from llama_lab.generate import top_k_filter
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
    from llama_lab.grading.models import random_llama
    greedy = [case for name in ("01_rmsnorm_swiglu", "02_rotary_embeddings", "03_attention_kv_cache")
              for part in grading.load(name).PARTS for case in part.cases()
              if "prompt" in case.inputs and case.inputs.get("what", "generate") == "generate"]
    assert len(greedy) == 5
    with harness.one_thread(), torch.no_grad():
        for case in greedy:
            model, prompt = random_llama(seed=case.inputs["seed"]), case.inputs["prompt"]
            tokens = prompt + grading.models.generate_tokens(model, [prompt], 8, temperature=0, eos_id=None)[0]
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
    return grade_path(INSTRUCTOR)


def test_instructor_solutions_get_full_marks(instructor_grades):
    assert len(instructor_grades) == len(grading.ASSIGNMENTS)
    for grade in instructor_grades:
        assert grade.error is None and grade.problems == [], format_grade(grade)
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


def test_the_command_line_grades_a_student_notebook(capsys):
    assert main([str(STUDENT / "04_sampling.ipynb"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["points"] == 0 and report["max_points"] == 13
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
    grade = grade_notebook(path)
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
    grade = grade_notebook(path, Limits(time_limit=240, cell_timeout=6, case_timeout=1))
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
    assert text.splitlines()[0].endswith(f"7/7 points  (Rotary position embeddings; {grade.seconds:g} s)")
    assert "  rope_tables: 3/3  (the rotation angles)" in text
    assert format_summary([grade, grade]).splitlines()[-1].split() == ["total", "14/14"]
    assert math.isclose(grade.to_dict()["points"], 7)
