"""The bench's side by side with llama.cpp (llama_lab.bench.llamacpp): its rows on small shapes (never a timing
assertion), the weights that reach both sides, and the decoding loops it times, checked against the kit's own
generate and against llama.cpp running the same weights."""

import copy

import numpy as np
import pytest
import torch

from support import one_thread  # noqa: F401 (one_thread is autouse)
from llama_lab.bench.llamacpp import KIT_TOKENIZER, kit_decode, llama_cpp_decode, measure_llamacpp
from llama_lab.bench.models import random_quantized_model, random_weight_shapes, random_weights
from llama_lab.bench.report import format_row, format_table
from llama_lab.bench.suite import Settings
from llama_lab.checkpoint.gguf import gguf_name, write_gguf
from llama_lab.fast import LaidOutDecoder
from llama_lab.generate import generate_tokens
from llama_lab.model import ModelArgs
from llama_lab.quantize import QuantizedLinear, quantize_model

gguf = pytest.importorskip("gguf")

# a shape built a layer at a time, as the bench builds Llama 2 7B's; the kit's tokenizer needs 4096 ids
SMALL = ModelArgs(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=4096, multiple_of=32, max_seq_len=64)
FEW = Settings(repeats=2, prompt_len=4, new_tokens=6, compile=False)
PROMPTS = ["Once upon a time", "Mira walked to the market and", "The baker of Honeydale", "Tom lives in",
           "One morning,"]


def llama_cpp():
    return pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install "
                                                   "'llama-lab[bench]'): the llama.cpp side cannot run")


def positive(x) -> bool:
    return isinstance(x, float) and np.isfinite(x) and x > 0


def test_the_rows_of_a_shape_built_a_layer_at_a_time():
    """Without a model, random weights drawn a layer at a time on both sides: the int4 and int8 pairs (no float
    pair: such a shape is never whole in floating point), each with both sides timed, run for run."""
    llama_cpp()
    said = []
    rows = measure_llamacpp("small", FEW, args=SMALL, log=said.append)
    assert [r["metric"] for r in rows] == ["decode, batch 1, int4-g64 / Q4_0", "decode, batch 1, int4-g32 / Q4_0",
                                           "decode, batch 1, int8 / Q8_0"]
    for r in rows:
        assert len(r["samples"]["kit"]) == len(r["samples"]["llama.cpp"]) == FEW.repeats
        assert all(positive(x) for x in r["samples"]["kit"] + r["samples"]["llama.cpp"]), r
        assert r["ratio"] == pytest.approx(r["kit"] / r["llama.cpp"])
        low, high = r["ratio_range"]
        assert low <= r["ratio"] <= high
        assert 0 <= r["tokens_alike"] <= FEW.new_tokens + 1 and r["gguf_bytes"] > 0
        assert format_row(r).count("|") == 8 and format_row(r) in said
    machine = {"cpu": "a CPU", "cpu_count": 2, "torch_threads": 1, "torch": "2", "transformers": "5",
               "dtype": "float32"}
    table = format_table({"machine": machine, "rows": rows, "bandwidth_bytes_per_s": 1e10}).splitlines()
    assert "| size | measurement | kit | llama.cpp | kit vs llama.cpp | paired runs | notes |" in table
    assert all(format_row(r) in table for r in rows) and not any("| transformers |" in line for line in table)
    by = {r["scheme"]: r for r in rows}
    assert by["int4-g64"]["bytes_per_step"] < by["int4-g32"]["bytes_per_step"] < by["int8"]["bytes_per_step"]
    assert by["int4-g64"]["gguf_bytes"] == by["int4-g32"]["gguf_bytes"] < by["int8"]["gguf_bytes"]


def test_a_model_in_memory_adds_the_float_pair():
    """With a model (the bench's tiny and 50M sizes), the same weights, and a float pair: the kit's float32 model
    against the f32 file."""
    llama_cpp()
    from llama_lab.bench.models import random_model

    model = random_model(SMALL, torch.device("cpu"), torch.float32)
    rows = measure_llamacpp("small", FEW, model=model, log=lambda _: None)
    assert [r["metric"] for r in rows][-1] == "decode, batch 1, float32 / F32"
    float_row = rows[-1]
    assert positive(float_row["kit"]) and positive(float_row["llama.cpp"])
    # float32 on both sides (llama.cpp's KV cache in f16): the greedy tokens of a random model part late, if at all
    assert float_row["tokens_alike"] >= 2


def test_the_gguf_file_holds_the_draws_the_kits_model_is_quantized_from(tmp_path):
    """write_gguf from random_weights, a tensor at a time, holds exactly what random_quantized_model quantizes:
    every weight of the f32 file is the draw, and the kit's int8 layers are those draws quantized."""
    shapes = random_weight_shapes(SMALL)
    path = write_gguf(tmp_path / "small.gguf", SMALL, KIT_TOKENIZER, shapes,
                      random_weights(SMALL, torch.device("cpu"), seed=4), "f32")
    tensors = {t.name: t for t in gguf.GGUFReader(path).tensors}
    draws = dict(random_weights(SMALL, torch.device("cpu"), seed=4))
    assert list(draws) == list(shapes) and len(tensors) == len(shapes)
    for name, weight in draws.items():
        assert np.array_equal(tensors[gguf_name(name)].data, weight.numpy()), name
    kit = random_quantized_model(SMALL, "int8", torch.device("cpu"), torch.float32, seed=4)
    for name, module in kit.named_modules():
        if isinstance(module, QuantizedLinear):
            linear = torch.nn.Linear(module.in_features, module.out_features, bias=False)
            linear.weight.data = draws[f"{name}.weight"]
            assert torch.equal(module.qweight, QuantizedLinear.from_linear(linear, "int8").qweight), name
    assert torch.equal(kit.tok_embeddings.weight, draws["tok_embeddings.weight"])


def test_weights_that_arrive_out_of_order_leave_no_file(tmp_path):
    shapes = random_weight_shapes(SMALL)
    reordered = reversed(list(random_weights(SMALL, torch.device("cpu"))))
    with pytest.raises(ValueError, match="in the order and the shapes of `shapes`"):
        write_gguf(tmp_path / "small.gguf", SMALL, KIT_TOKENIZER, shapes, reordered, "q8_0")
    with pytest.raises(ValueError, match="the tensors ended before"):
        write_gguf(tmp_path / "small.gguf", SMALL, KIT_TOKENIZER, shapes,
                   list(random_weights(SMALL, torch.device("cpu")))[:-1], "q8_0")
    assert list(tmp_path.iterdir()) == []


def test_missing_llama_cpp_is_one_line_and_no_rows(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else
                        find_spec(name, *a))
    said = []
    assert measure_llamacpp("small", FEW, args=SMALL, log=said.append) == []
    assert said == ["small: no llama.cpp rows: llama-cpp-python is not installed (pip install 'llama-lab[bench]', "
                    "which builds llama.cpp)"]
    # where llama.cpp is installed (or not: the vocabulary is checked before anything runs), a tokenizer too large
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "llama_cpp" else
                        find_spec(name, *a))
    said.clear()
    assert measure_llamacpp("toy", FEW, args=SMALL.with_(vocab_size=512), log=said.append) == []
    assert len(said) == 1 and "4096 pieces do not fit the model's vocabulary of 512" in said[0]


# ------------------------------------------------------ what the timed loops decode, on the trained tiny model

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from llama_lab.checkpoint.gguf import save_gguf
    from llama_lab.world.tiny import load_tiny

    model, tokenizer = load_tiny("base")
    folder = tmp_path_factory.mktemp("gguf")
    return model, tokenizer, {dtype: save_gguf(model, tokenizer, folder / f"tiny-{dtype}.gguf", dtype)
                              for dtype in ("f32", "q8_0")}


def llama_cpp_model(path, f32_cache: bool = False):
    """llama.cpp on one thread, as the bench makes it (logits_all=False); with f32_cache its KV cache in float32,
    as the kit's, instead of llama.cpp's default f16."""
    module = llama_cpp()
    cache = dict(type_k=module.GGML_TYPE_F32, type_v=module.GGML_TYPE_F32) if f32_cache else {}
    return module.Llama(model_path=str(path), n_ctx=128, n_threads=1, n_gpu_layers=0, logits_all=False, seed=0,
                        verbose=False, **cache)


def test_the_timed_loops_decode_what_generate_and_llama_cpp_decode(tiny):
    """kit_decode is the kit's greedy generate (the same tokens); llama_cpp_decode, reading llama.cpp's logits
    without the bindings' copy, gives from the f32 file (and a float32 KV cache) the kit's float model's greedy
    tokens exactly. And the pair the bench times, the kit's int8 and llama.cpp's Q8_0 (with its default f16 cache),
    write the same greedy text: the first 8 tokens after at least 4 of the 5 prompts alike (the first 32 after all
    5 when this was written)."""
    model, tokenizer, files = tiny
    float32 = llama_cpp_model(files["f32"], f32_cache=True)
    q8_0 = llama_cpp_model(files["q8_0"])
    int8 = LaidOutDecoder(quantize_model(copy.deepcopy(model), "int8"))
    alike = []
    try:
        for text in PROMPTS:
            prompt = tokenizer.encode(text)
            seconds, kit_tokens = kit_decode(int8, prompt, 31)
            assert seconds > 0 and kit_tokens == generate_tokens(int8, [prompt], 32, temperature=0, eos_id=None)[0]
            _, llama_tokens = llama_cpp_decode(q8_0, prompt, 31)
            alike.append(next((i for i, (a, b) in enumerate(zip(kit_tokens, llama_tokens)) if a != b), 32))
            expected = generate_tokens(model, [prompt], 32, temperature=0, eos_id=None)[0]
            assert llama_cpp_decode(float32, prompt, 31)[1] == expected, text
    finally:  # freed now, while llama.cpp's library is loaded, rather than by the garbage collector at exit
        float32.close()
        q8_0.close()
    assert sum(n >= 8 for n in alike) >= 4, alike
