"""bfloat16 as a decoding dtype on the CPU: the trained tiny model in bfloat16, through the plain model and every
decoder of llama_lab.fast, writes float32's greedy tokens until float32 itself is at a near-tie, and its logits
stay within bfloat16's rounding of float32's."""

import pytest
import torch

from support import NEAR_TIE, where_greedy_parts
from llama_lab import generate_tokens
from llama_lab.fast import CompiledDecoder, LaidOutDecoder

PROMPTS = ["Not long ago, in a town called Honeydale,", "Ada lived in", "Once upon a time there was a"]
BFLOAT16_EPS = torch.finfo(torch.bfloat16).eps  # 2**-7: bfloat16 keeps 8 significant bits


@pytest.fixture(scope="module")
def tiny():
    """(the tiny model in float32, the same in bfloat16, the tokenizer)."""
    from llama_lab.world.tiny import load_tiny

    model, tokenizer = load_tiny("base")
    bf16 = load_tiny("base")[0].to(torch.bfloat16)
    bf16.init_rope(bf16.device)  # the rotary tables in float32, as the model makes them
    return model, bf16, tokenizer


def test_one_forward_pass_stays_within_bfloat16s_rounding(tiny):
    """Every logit of a pass over held-out text, in bfloat16, within 2 * eps * (its row's largest |logit|) of
    float32's: a few bfloat16 roundings at the scale of the logits (measured: at most 1.4 of them, over 16 x 128
    positions)."""
    from llama_lab.world import tinyworld

    model, bf16, tokenizer = tiny
    documents = [tokenizer.encode(d) for d in tinyworld.pretraining_documents(tinyworld.build_world(0), "val", 64, 0)]
    text = torch.tensor([d[:128] for d in documents if len(d) >= 128][:16])  # (16, 128)
    with torch.inference_mode():
        expected, got = model(text), bf16(text)  # (16, 128, V)
    assert torch.equal(got.to(torch.bfloat16).float(), got)  # the head multiplied in bfloat16 (returned widened)
    difference = (got - expected).abs()
    rounding = BFLOAT16_EPS * expected.abs().amax(-1, keepdim=True)  # (16, 128, 1)
    assert (difference <= 2 * rounding).all(), f"{(difference / rounding).max():.2f} roundings"
    assert difference.max() > 0  # bfloat16 did round: the two passes are not one


@pytest.mark.parametrize("how", ["plain", "laid out", "compiled"])
def test_bfloat16_decoding_writes_float32s_tokens_but_at_near_ties(tiny, how):
    """Greedy decoding in bfloat16, through the plain model, LaidOutDecoder or CompiledDecoder (Inductor: its
    frozen bfloat16 step), gives float32's tokens; where a row parts from them, float32's own two best logits
    there are within bfloat16's rounding of each other (support.NEAR_TIE), a tie either dtype may break."""
    model, bf16, tokenizer = tiny
    decoder = {"plain": bf16, "laid out": LaidOutDecoder(bf16), "compiled": CompiledDecoder(bf16)}[how]
    prompts = [tokenizer.encode(p) for p in PROMPTS]
    expected = generate_tokens(model, prompts, 48, temperature=0, eos_id=None)
    got = generate_tokens(decoder, prompts, 48, temperature=0, eos_id=None)
    if how != "plain":  # the decoder's own bfloat16 weights ran the steps, not a float32 copy
        assert decoder._layout.wqkv[0].weight.dtype == torch.bfloat16
    partings = where_greedy_parts(model, prompts, expected, got)
    for parting in partings:
        assert parting["logit_gap"] < NEAR_TIE, f"bfloat16 parts from float32 away from a near-tie: {parting}"
    assert len(partings) < len(prompts)  # at least one row alike throughout (measured: all three)
