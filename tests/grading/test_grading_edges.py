"""The graded cases reach the edges of each function's domain, and every mistake the grader can name is caught.

The tie rules the cases state are checked against Hugging Face's samplers (transformers), and the mistakes
found at the edges are written here as a learner writes them, to be named by the grader.
"""

import textwrap

import pytest
import torch

from llama_lab import grading
from llama_lab.grading import coverage
from support import REPO


PARTS = [(name, part) for name in grading.ASSIGNMENTS for part in grading.load(name).PARTS]


@pytest.mark.parametrize("name, part", PARTS, ids=[f"{n}.{p.name}" for n, p in PARTS])
def test_every_named_mistake_loses_points_on_some_case(name, part):
    assert coverage.uncaught(part) == []


def test_the_readme_holds_the_current_tables_of_which_case_catches_what():
    readme = (REPO / "notebooks" / "assignments" / "README.md").read_text(encoding="utf-8")
    for table in coverage.tables():
        assert table in readme, "run python -m llama_lab.grading.coverage and paste its tables"


def case(assignment, part, label_start):
    cases = [c for c in grading.get_part(assignment, part).cases() if c.label.startswith(label_start)]
    assert len(cases) == 1, label_start
    return cases[0]


def test_top_k_keeps_every_token_tied_with_the_kth_as_hugging_face_does():
    from transformers.generation.logits_process import TopKLogitsWarper
    tie = case("04_sampling", "top_k_filter", "probs [0.4, 0.2, 0.2, 0.1, 0.1], k=2").inputs
    part = grading.get_part("04_sampling", "top_k_filter")
    ours = part.run(part.reference, tie)
    theirs = TopKLogitsWarper(top_k=tie["k"])(None, tie["probs"].log()).softmax(-1)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(ours, torch.tensor([[0.5, 0.25, 0.25, 0.0, 0.0]]))


def test_top_p_on_an_exact_tie_keeps_the_next_token_as_meta_does_and_hugging_face_does_not():
    from transformers.generation.logits_process import TopPLogitsWarper
    tie = case("04_sampling", "top_p_filter", "probs [0.125, 0.5, 0.0625, 0.25, 0.0625]").inputs
    probs, p = tie["probs"], tie["p"]
    part = grading.get_part("04_sampling", "top_p_filter")
    torch.testing.assert_close(part.run(part.reference, tie), torch.tensor([[1 / 7, 4 / 7, 0, 2 / 7, 0]]))
    # Meta's sample_top_p, its lines as they are: drop where the mass before a token is more than p
    probs_sort, probs_idx = torch.sort(probs, dim=-1, descending=True)
    mask = torch.cumsum(probs_sort, dim=-1) - probs_sort > p
    assert mask.tolist() == [[False, False, False, True, True]]  # 0.5, 0.25 and 0.125 stay
    hugging_face = TopPLogitsWarper(top_p=p)(None, probs.log()).softmax(-1)
    torch.testing.assert_close(hugging_face, torch.tensor([[0.0, 2 / 3, 0.0, 1 / 3, 0.0]]))  # it drops 0.125


def test_greedy_on_tied_logits_takes_the_first_as_argmax_does():
    tie = case("04_sampling", "softmax_with_temperature", "logits [[1, 3, 0, 3]]").inputs
    part = grading.get_part("04_sampling", "softmax_with_temperature")
    assert part.run(part.reference, tie).tolist() == [[0.0, 1.0, 0.0, 0.0]]


def test_the_whole_context_case_holds_position_4095():
    inputs = case("02_rotary_embeddings", "rope_tables", "head_dim=128, max_seq_len=4096").inputs
    part = grading.get_part("02_rotary_embeddings", "rope_tables")
    cos = part.run(part.reference, inputs)["cos"]
    angle = torch.tensor(4095.0, dtype=torch.float64)  # pair 0 turns one radian per position
    assert cos.shape == (4096, 64) and abs(cos[4095, 0].item() - angle.cos().item()) < 1e-3


IMPORTS = """
import math
import torch
import torch.nn.functional as F
SPACE = "\\u2581"
"""

# (assignment, part, a wrong solution as a learner writes it, words of the mistake the grader must name)
EDGE_MISTAKES = [
    ("02_rotary_embeddings", "rope_tables", """
        def rope_tables(head_dim, max_seq_len, theta=10000.0, dtype=torch.bfloat16):
            frequencies = 1.0 / theta ** (torch.arange(0, head_dim, 2).float() / head_dim)
            positions = torch.arange(max_seq_len, dtype=dtype).float()  # the model's dtype
            angles = positions[:, None] * frequencies[None, :]
            return angles.cos(), angles.sin()
        """, "positions are bfloat16"),
    ("03_attention_kv_cache", "attention", """
        def attention(q, k, v):
            T, S = q.shape[-2], k.shape[-2]
            scores = q.float() @ k.float().transpose(-2, -1) / math.sqrt(q.shape[-1])
            mask = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)
            return scores.masked_fill(~mask, float("-inf")).softmax(-1) @ v.float()
        """, "the result is float32"),
    ("04_sampling", "softmax_with_temperature", """
        def softmax_with_temperature(logits, temperature):
            if temperature == 0:
                return F.one_hot(logits.argmax(-1), logits.shape[-1]).float()
            e = torch.exp(logits.float() / temperature)
            return e / e.sum(dim=-1, keepdim=True)
        """, "without subtracting the largest logit"),
    ("04_sampling", "softmax_with_temperature", """
        def softmax_with_temperature(logits, temperature):
            if temperature == 0:
                best = (logits == logits.max(dim=-1, keepdim=True).values).float()
                return best / best.sum(-1, keepdim=True)
            return F.softmax(logits.float() / temperature, dim=-1)
        """, "every tied likeliest token"),
    ("04_sampling", "top_k_filter", """
        def top_k_filter(probs, k):
            top = torch.topk(probs, min(k, probs.shape[-1]), dim=-1)
            kept = torch.zeros_like(probs).scatter(-1, top.indices, top.values)
            return kept / kept.sum(-1, keepdim=True)
        """, "on a tie at the k-th place"),
    ("04_sampling", "top_p_filter", """
        def top_p_filter(probs, p):
            sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
            before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
            sorted_probs[before >= p] = 0.0
            kept = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
            return kept / kept.sum(-1, keepdim=True)
        """, "hold exactly p"),
    ("06_safety_mc2_probe", "answer_logprob", """
        def answer_logprob(logits, tokens, n_prompt):
            logprobs = F.log_softmax(logits, dim=-1)
            return sum(logprobs[t - 1, tokens[t]].item() for t in range(n_prompt, len(tokens)))
        """, "in the logits' bfloat16"),
    ("05_bpe_tokenizer", "encode", """
        def encode(text, tokenizer):
            vocab = {tokenizer.id_to_piece(i): i for i in range(tokenizer.n_words)}
            symbols = list(SPACE + text.replace(" ", SPACE))  # the dummy prefix, then the spaces
            ids = []
            for piece in bpe_merge(symbols, vocabulary_scores(tokenizer)):
                ids += [vocab[piece]] if piece in vocab else [vocab[f"<0x{b:02X}>"] for b in piece.encode("utf-8")]
            return ids
        """, "the empty text gave the id of"),
    ("07_rlhf_losses", "ppo_clipped_loss", """
        def ppo_clipped_loss(logprobs, old_logprobs, advantages, mask, clip=0.2):
            ratio = torch.exp(logprobs - old_logprobs)
            per_token = torch.maximum(-advantages * ratio, -advantages * ratio.clamp(1 - clip, 1 + clip))
            per_reply = (per_token * mask).sum(dim=1) / mask.sum(dim=1)  # each reply's mean
            return per_reply.mean()
        """, "a reply with no tokens gives 0 / 0"),
]


@pytest.mark.parametrize("assignment, part, source, mistake", EDGE_MISTAKES, ids=[m[3] for m in EDGE_MISTAKES])
def test_a_mistake_found_at_the_edges_is_named(assignment, part, source, mistake):
    namespace = {"__name__": "__main__"}
    exec(compile(IMPORTS + textwrap.dedent(source), "<learner's cell>", "exec"), namespace)
    result = grading.grade_part_here(grading.get_part(assignment, part), namespace)
    assert 0 < result.points < result.max_points  # right on typical inputs, wrong at the edge
    named = {c.mistake for c in result.cases if c.mistake}
    assert named and all(mistake in m for m in named), [c.message for c in result.cases if c.message]


def test_the_feed_forward_cut_adds_up_to_the_kits_block_and_each_rank_holds_its_own_hidden_units():
    """Rank r's partial output is the kit's FeedForward with every hidden unit but rank r's contiguous block
    switched off (w2's columns for them zeroed); the ranks' partial outputs add up to the whole block."""
    from llama_lab.model import FeedForward

    part = grading.get_part("08_memory_int8_parallel", "parallel_feed_forward")
    block = FeedForward(12, 24)
    x = torch.randn(2, 3, 12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole = block(x)
        for ranks in (1, 2, 4):
            inputs = dict(x=x, w1=block.w1.weight, w2=block.w2.weight, w3=block.w3.weight, ranks=ranks)
            partial = part.run(part.reference, inputs)  # (ranks, 2, 3, 12)
            torch.testing.assert_close(partial.sum(0), whole)
            for rank in range(ranks):
                alone = FeedForward(12, 24)
                alone.load_state_dict(block.state_dict())
                keep = torch.zeros(24)
                keep[rank * 24 // ranks:(rank + 1) * 24 // ranks] = 1
                alone.w2.weight.mul_(keep)  # only this rank's hidden units reach the output
                torch.testing.assert_close(partial[rank], alone(x))


def test_the_int8_cases_have_no_ties_that_dividing_and_multiplying_round_apart():
    """The kit multiplies by 1 / scale (as torchao); a learner divides by the scale. On these cases both give the
    same levels, so a right answer does not hinge on float32 rounding at a half step."""
    from llama_lab.quantize import quantize_int8

    for case in grading.get_part("08_memory_int8_parallel", "quantize_int8").cases():
        weight = case.inputs["weight"]
        scale = (weight.abs().amax(dim=1) / 127.5).clamp(min=torch.finfo(torch.float32).eps)
        divided = torch.round(weight / scale[:, None]).clamp(-128, 127)
        assert torch.equal(divided.to(torch.int8), quantize_int8(weight)[0]), case.label
