"""GGUF export (llama_lab.checkpoint.gguf), checked by reading the file back with the gguf package's own reader
(llama.cpp's Python code), against the kit's weights and SentencePiece's tokenizer; and, where llama-cpp-python is
installed, by llama.cpp itself generating from the file."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from support import REPO, llama2_tokenizer_file, one_thread, small_model  # noqa: F401 (one_thread is autouse)
from llama_lab import load_model
from llama_lab.chat import HF_CHAT_TEMPLATE
from llama_lab.checkpoint import meta_to_hf_names
from llama_lab.checkpoint.gguf import gguf_name, main, save_gguf
from llama_lab.files import replacing
from llama_lab.generate import generate_tokens
from llama_lab.lora import add_lora
from llama_lab.quantize import quantize_model
from llama_lab.tokenizer import Tokenizer

gguf = pytest.importorskip("gguf")

TINY = REPO / "data" / "tiny-base"
TOKENIZER = REPO / "data" / "tokenizer.model"
Q8_0 = gguf.GGMLQuantizationType.Q8_0
Q4_0 = gguf.GGMLQuantizationType.Q4_0


@pytest.fixture(scope="module")
def model():
    return load_model(TINY, dtype=torch.float32)  # stored in bfloat16: float32 holds each weight exactly


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer(TOKENIZER)


@pytest.fixture(scope="module")
def exported(model, tokenizer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gguf")
    return {dtype: save_gguf(model, tokenizer, folder / f"tiny-{dtype}.gguf", dtype)
            for dtype in ("f32", "f16", "q8_0", "q4_0")}


def read(path):
    reader = gguf.GGUFReader(path)
    return reader, {t.name: t for t in reader.tensors}


def field(reader, key):
    return reader.fields[key].contents()


def llama_cpp_shapes(args) -> dict[str, list[int]]:
    """The shapes llama.cpp's llama-model.cpp asks of each tensor of LLM_ARCH_LLAMA (create_tensor), fastest
    dimension first: n_embd, n_vocab, n_embd_head_k * n_head, n_embd_k_gqa, n_ff."""
    n_embd, n_vocab, n_ff = args.dim, args.vocab_size, args.hidden_dim
    n_embd_gqa = args.head_dim * args.kv_heads
    shapes = {"token_embd.weight": [n_embd, n_vocab], "output_norm.weight": [n_embd],
              "output.weight": [n_embd, n_vocab]}
    for i in range(args.n_layers):
        shapes.update({f"blk.{i}.attn_norm.weight": [n_embd], f"blk.{i}.attn_q.weight": [n_embd, n_embd],
                       f"blk.{i}.attn_k.weight": [n_embd, n_embd_gqa], f"blk.{i}.attn_v.weight": [n_embd, n_embd_gqa],
                       f"blk.{i}.attn_output.weight": [n_embd, n_embd], f"blk.{i}.ffn_norm.weight": [n_embd],
                       f"blk.{i}.ffn_gate.weight": [n_embd, n_ff], f"blk.{i}.ffn_down.weight": [n_ff, n_embd],
                       f"blk.{i}.ffn_up.weight": [n_embd, n_ff]})
    return shapes


def kit_weights_by_gguf_name(model) -> dict[str, np.ndarray]:
    """The kit's weights under the names llama.cpp's own name map gives their Hugging Face names (gguf's
    TensorNameMap, which convert_hf_to_gguf.py uses), in Meta's layout (which the converter restores)."""
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, model.args.n_layers)
    state = model.state_dict()
    hf_names = meta_to_hf_names(dict(state), model.args)
    out = {}
    for meta_name, hf_name in zip(state, hf_names):
        out[names.get_name(hf_name, try_suffixes=(".weight",))] = state[meta_name].float().numpy()
    return out


def test_f32_holds_every_weight_exactly_under_llama_cpps_names_and_shapes(model, exported):
    reader, tensors = read(exported["f32"])
    expected = kit_weights_by_gguf_name(model)
    shapes = llama_cpp_shapes(model.args)
    assert set(tensors) == set(expected) == set(shapes)
    for name, tensor in tensors.items():
        assert tensor.tensor_type == gguf.GGMLQuantizationType.F32
        assert tensor.shape.tolist() == shapes[name], name
        assert np.array_equal(tensor.data, expected[name]), name


def test_f16_rounds_each_matrix_as_torch_does_and_keeps_the_norms(model, exported):
    reader, tensors = read(exported["f16"])
    expected = kit_weights_by_gguf_name(model)
    for name, tensor in tensors.items():
        if expected[name].ndim == 1:  # llama.cpp keeps 1-D tensors in f32
            assert tensor.tensor_type == gguf.GGMLQuantizationType.F32
            assert np.array_equal(tensor.data, expected[name])
        else:
            assert tensor.tensor_type == gguf.GGMLQuantizationType.F16
            assert np.array_equal(tensor.data, torch.from_numpy(expected[name]).half().numpy()), name
            np.testing.assert_allclose(tensor.data.astype(np.float32), expected[name], rtol=2**-11, atol=2**-25)
    assert field(reader, "general.file_type") == gguf.LlamaFileType.MOSTLY_F16


def test_q8_0_is_within_int8_rounding_of_each_weight(model, exported):
    reader, tensors = read(exported["q8_0"])
    expected = kit_weights_by_gguf_name(model)
    shapes = llama_cpp_shapes(model.args)
    for name, tensor in tensors.items():
        weights = expected[name]
        assert tensor.shape.tolist() == shapes[name], name
        if weights.ndim == 1:
            assert tensor.tensor_type == gguf.GGMLQuantizationType.F32
            continue
        assert tensor.tensor_type == Q8_0, name
        restored = gguf.quants.dequantize(tensor.data, Q8_0)
        assert restored.shape == weights.shape
        # each block of 32 weights along a row shares the scale d = max|w| / 127, stored in f16: a weight is
        # off by at most half a step, plus 127 steps' worth of the f16 rounding of d (2**-11 of it)
        blocks = weights.reshape(-1, 32)
        step = np.abs(blocks).max(axis=1, keepdims=True) / 127
        error = np.abs(restored.reshape(-1, 32) - blocks)
        assert (error <= step * (0.5 + 127 * 2**-11) + 1e-12).all(), name
        assert error.max() > 0  # quantized indeed
    assert field(reader, "general.file_type") == gguf.LlamaFileType.MOSTLY_Q8_0
    assert field(reader, "general.quantization_version") == gguf.GGML_QUANT_VERSION
    assert exported["q8_0"].stat().st_size < 0.3 * exported["f32"].stat().st_size


def test_q4_0_is_within_4_bit_rounding_of_each_weight(model, exported):
    reader, tensors = read(exported["q4_0"])
    expected = kit_weights_by_gguf_name(model)
    for name, tensor in tensors.items():
        weights = expected[name]
        if weights.ndim == 1:
            assert tensor.tensor_type == gguf.GGMLQuantizationType.F32
            continue
        assert tensor.tensor_type == Q4_0, name
        assert tensor.data.shape == (weights.shape[0], weights.shape[1] // 32 * 18)  # an f16 scale, 16 bytes of pairs
        restored = gguf.quants.dequantize(tensor.data, Q4_0)
        # each block of 32 shares d = m / -8, m its weight of largest magnitude (which is stored exactly, as -8 * d);
        # a weight is off by at most half a step, or by one step where w / d rounds up to 8, beyond the top level 7;
        # plus 8 steps' worth of the f16 rounding of d
        blocks = weights.reshape(-1, 32)
        step = np.abs(blocks).max(axis=1, keepdims=True) / 8
        error = np.abs(restored.reshape(-1, 32) - blocks)
        assert (error <= step * (1 + 8 * 2**-11) + 1e-12).all(), name
        levels = np.rint(restored.reshape(-1, 32) / np.where(step == 0, 1, step))  # (q - 8) * sign(m): 16 levels
        assert levels.min() >= -8 and levels.max() <= 8 and len(np.unique(levels)) > 8, name
    assert field(reader, "general.file_type") == gguf.LlamaFileType.MOSTLY_Q4_0
    assert exported["q4_0"].stat().st_size < 0.6 * exported["q8_0"].stat().st_size


def test_q4_0_is_what_llama_cpps_own_quantizer_writes(exported, tmp_path):
    """llama.cpp's llama_model_quantize (what its llama-quantize command runs) turns the f32 file into Q4_0: every
    tensor it stores in Q4_0 holds the bytes of the kit's q4_0 export, and so does every norm. The output head is
    the one difference: llama.cpp keeps it finer (Q6_K, or Q8_0 where its rows do not split into 256s)."""
    llama_cpp = pytest.importorskip("llama_cpp")
    import ctypes

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.nthread = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0, 1
    theirs = tmp_path / "llama-cpp-q4_0.gguf"
    assert llama_cpp.llama_model_quantize(str(exported["f32"]).encode(), str(theirs).encode(),
                                          ctypes.byref(params)) == 0
    _, ours = read(exported["q4_0"])
    _, reference = read(theirs)
    assert set(ours) == set(reference)
    compared = 0
    for name, tensor in reference.items():
        if name == "output.weight":
            assert tensor.tensor_type != Q4_0
            continue
        assert tensor.tensor_type == ours[name].tensor_type, name
        assert np.array_equal(tensor.data, ours[name].data), name
        compared += tensor.tensor_type == Q4_0
    assert compared == 1 + 7 * 6  # the embedding and every block's seven matrices


def test_metadata_is_the_models_settings(model, exported):
    args = model.args
    for dtype, path in exported.items():
        reader, _ = read(path)
        assert field(reader, "general.architecture") == "llama"
        assert field(reader, "general.name") == f"tiny-{dtype}"
        assert field(reader, "llama.vocab_size") == args.vocab_size == 4096
        assert field(reader, "llama.context_length") == args.max_seq_len == 256
        assert field(reader, "llama.embedding_length") == args.dim == 192
        assert field(reader, "llama.block_count") == args.n_layers == 6
        assert field(reader, "llama.feed_forward_length") == args.hidden_dim == 512
        assert field(reader, "llama.attention.head_count") == args.n_heads == 8
        assert field(reader, "llama.attention.head_count_kv") == args.kv_heads == 2
        assert field(reader, "llama.rope.dimension_count") == args.head_dim == 24
        assert field(reader, "llama.rope.freq_base") == np.float32(args.rope_theta)
        assert field(reader, "llama.attention.layer_norm_rms_epsilon") == np.float32(args.norm_eps)
        assert field(reader, "general.file_type") == {"f32": 0, "f16": 1, "q8_0": 7, "q4_0": 2}[dtype]  # LLAMA_FTYPE_
        assert ("general.quantization_version" in reader.fields) == (dtype in ("q8_0", "q4_0"))


def expected_token_type(sp, i: int) -> int:
    """The token type llama.cpp's converter gives piece i (_create_vocab_sentencepiece), asked of SentencePiece."""
    for test, kind in ((sp.is_unknown, gguf.TokenType.UNKNOWN), (sp.is_control, gguf.TokenType.CONTROL),
                       (sp.is_unused, gguf.TokenType.UNUSED), (sp.is_byte, gguf.TokenType.BYTE)):
        if test(i):
            return int(kind)
    return int(gguf.TokenType.NORMAL)


def check_tokenizer(reader, tokenizer: Tokenizer, vocab_size: int) -> None:
    sp = tokenizer.sp_model
    n = sp.vocab_size()
    pieces = field(reader, "tokenizer.ggml.tokens")
    scores = field(reader, "tokenizer.ggml.scores")
    types = field(reader, "tokenizer.ggml.token_type")
    assert len(pieces) == len(scores) == len(types) == vocab_size
    assert pieces[:n] == [sp.id_to_piece(i) for i in range(n)]
    assert scores[:n] == [np.float32(sp.get_score(i)) for i in range(n)]
    assert types[:n] == [expected_token_type(sp, i) for i in range(n)]
    assert field(reader, "tokenizer.ggml.model") == "llama"
    assert field(reader, "tokenizer.ggml.bos_token_id") == sp.bos_id()
    assert field(reader, "tokenizer.ggml.eos_token_id") == sp.eos_id()
    assert field(reader, "tokenizer.ggml.unknown_token_id") == sp.unk_id()
    assert field(reader, "tokenizer.ggml.add_bos_token") is True
    assert field(reader, "tokenizer.ggml.add_eos_token") is False
    assert field(reader, "tokenizer.ggml.add_space_prefix") is True
    assert field(reader, "tokenizer.chat_template") == HF_CHAT_TEMPLATE


def test_tokenizer_is_sentencepieces(exported, tokenizer):
    reader, _ = read(exported["q8_0"])
    check_tokenizer(reader, tokenizer, 4096)
    types = field(reader, "tokenizer.ggml.token_type")
    assert types.count(gguf.TokenType.BYTE) == 256 and types.count(gguf.TokenType.CONTROL) == 2  # <s>, </s>


def test_llama2s_own_tokenizer(tmp_path):
    tokenizer = Tokenizer(llama2_tokenizer_file())
    path = save_gguf(small_model(vocab_size=32000, n_layers=1, dim=32, n_heads=4), tokenizer, tmp_path / "m.gguf")
    check_tokenizer(gguf.GGUFReader(path), tokenizer, 32000)


def test_a_vocabulary_larger_than_the_tokenizer_is_padded_and_ragged_rows_stay_f16(tmp_path, tokenizer):
    model = small_model(vocab_size=4100)  # dim 64: the feed-forward's 176 columns do not split into blocks of 32
    reader, tensors = read(save_gguf(model, tokenizer, tmp_path / "m.gguf", "q8_0"))
    check_tokenizer(reader, tokenizer, 4100)
    assert field(reader, "tokenizer.ggml.tokens")[4096:] == ["[PAD4096]", "[PAD4097]", "[PAD4098]", "[PAD4099]"]
    assert field(reader, "tokenizer.ggml.token_type")[4096:] == [gguf.TokenType.UNUSED] * 4
    assert model.args.hidden_dim == 176
    assert tensors["blk.0.ffn_down.weight"].tensor_type == gguf.GGMLQuantizationType.F16
    w2 = model.layers[0].feed_forward.w2.weight.detach()
    assert np.array_equal(tensors["blk.0.ffn_down.weight"].data, w2.half().numpy())
    assert tensors["blk.0.ffn_up.weight"].tensor_type == Q8_0


def test_mistakes_are_refused_and_destroy_nothing(tmp_path, model, tokenizer):
    path = tmp_path / "m.gguf"
    path.write_text("the user's own file")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_gguf(model, tokenizer, path)
    assert path.read_text() == "the user's own file"
    with pytest.raises(ValueError, match="'q4'"):
        save_gguf(model, tokenizer, tmp_path / "n.gguf", "q4")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        save_gguf(model, tokenizer, tmp_path)
    with pytest.raises(ValueError, match="4096 pieces and the model's vocabulary only 101"):
        save_gguf(small_model(), tokenizer, tmp_path / "n.gguf")
    with pytest.raises(TypeError, match="kit's Llama"):
        save_gguf(torch.nn.Linear(2, 2), tokenizer, tmp_path / "n.gguf")
    with pytest.raises(FileNotFoundError, match="no tokenizer model"):
        save_gguf(model, tmp_path / "nothing.model", tmp_path / "n.gguf")
    quantized = quantize_model(small_model(vocab_size=4096), "int8")
    with pytest.raises(ValueError, match="quantized by the kit"):
        save_gguf(quantized, tokenizer, tmp_path / "n.gguf")
    with pytest.raises(ValueError, match="LoRA"):
        save_gguf(add_lora(small_model(vocab_size=4096)), tokenizer, tmp_path / "n.gguf")
    huge = small_model(vocab_size=4096)
    with torch.no_grad():
        huge.layers[1].attention.wo.weight[3, 5] = 1e5
    with pytest.raises(ValueError, match="layers.1.attention.wo.weight holds a weight of 100000"):
        save_gguf(huge, tokenizer, tmp_path / "n.gguf", "f16")  # found while writing: nothing is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gguf"]


def test_overwrite_replaces_the_file_whole(tmp_path, model, tokenizer, exported):
    path = tmp_path / "m.gguf"
    path.write_text("an older export")
    save_gguf(model, tokenizer, path, "q8_0", name="tiny-q8_0", overwrite=True)
    assert path.read_bytes() == exported["q8_0"].read_bytes()  # the same model gives the same bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gguf"]


def test_a_file_that_appears_while_writing_is_kept(tmp_path):
    path = tmp_path / "out.gguf"
    with pytest.raises(FileExistsError, match="appeared while the new file was written"):
        with replacing(path, overwrite=False) as temporary:
            temporary.write_text("new")
            path.write_text("someone else's")
    assert path.read_text() == "someone else's" and sorted(p.name for p in tmp_path.iterdir()) == ["out.gguf"]


def test_command_line(tmp_path, capsys, exported):
    out = tmp_path / "tiny-q8_0.gguf"
    main([str(TINY), str(out), "--type", "q8_0", "--tokenizer", str(TOKENIZER)])
    assert "wrote" in capsys.readouterr().err
    # the checkpoint stores bfloat16, which f32 holds exactly: the same tensors as the float32 model's export
    assert read(out)[1]["blk.2.attn_k.weight"].data.tobytes() == read(exported["q8_0"])[1][
        "blk.2.attn_k.weight"].data.tobytes()
    mistakes = {
        "exists": [str(TINY), str(out), "--tokenizer", str(TOKENIZER)],
        "holds no tokenizer.model": [str(TINY), str(tmp_path / "x.gguf")],
        "is a folder": [str(TINY), str(tmp_path), "--tokenizer", str(TOKENIZER)],
        "invalid choice: 'q4_1'": [str(TINY), str(tmp_path / "x.gguf"), "--type", "q4_1"],
        "none: not a directory": [str(tmp_path / "none"), str(tmp_path / "x.gguf"), "--tokenizer", str(TOKENIZER)],
    }
    for expected, argv in mistakes.items():
        with pytest.raises(SystemExit) as stop:
            main(argv)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
        assert expected in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-q8_0.gguf"]


def test_python_dash_m(tmp_path):
    run = subprocess.run([sys.executable, "-m", "llama_lab.checkpoint.gguf", str(TINY), str(tmp_path / "t.gguf"),
                          "--type", "f16"], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 2 and run.stderr.startswith("error: ") and run.stderr.count("\n") == 1, run.stderr
    assert "--tokenizer" in run.stderr and not (tmp_path / "t.gguf").exists()


def greedy(logits_of, prompt: list[int], n: int) -> list[int]:
    """n greedy tokens after `prompt`, the whole sequence run again at each step (logits_of: ids -> (T, V))."""
    ids = list(prompt)
    for _ in range(n):
        ids.append(int(logits_of(ids)[-1].argmax()))
    return ids[len(prompt):]


PROMPTS = ["Once upon a time", "Mira walked to the market and", "The baker of Honeydale"]


def test_transformers_reads_the_file_as_the_kits_model(model, tokenizer, exported):
    """transformers' own GGUF loader (its names, its permutation of q and k back into Hugging Face's rotary layout,
    its reading of the settings and the vocabulary) builds a LlamaForCausalLM that computes what the kit's model
    does: the f32 file's 64 greedy tokens after each prompt are the kit's, and the Q8_0 file's next-token choices
    along them agree with the kit's at 90% of the positions or more (192 of 192 when this was written)."""
    transformers = pytest.importorskip("transformers")
    loaded = {dtype: transformers.AutoModelForCausalLM.from_pretrained(
        exported[dtype].parent, gguf_file=exported[dtype].name, dtype=torch.float32).eval()
        for dtype in ("f32", "q8_0")}
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(exported["f32"].parent, gguf_file=exported["f32"].name)

    def logits_of(hf_model):
        return lambda ids: hf_model(torch.tensor([ids])).logits[0]

    agreeing = total = 0
    with torch.inference_mode():
        for text in PROMPTS:  # none starts with a space: transformers reads one there as its own dummy prefix
            prompt = tokenizer.encode(text)
            assert hf_tokenizer(text).input_ids == prompt
            kit_tokens = generate_tokens(model, [prompt], 64, temperature=0, eos_id=None)[0]
            assert greedy(logits_of(loaded["f32"]), prompt, 64) == kit_tokens
            sequence = torch.tensor([prompt + kit_tokens])
            torch.testing.assert_close(loaded["f32"](sequence).logits, model(sequence), atol=1e-4, rtol=0)
            chosen = loaded["q8_0"](sequence).logits[0, len(prompt) - 1:-1].argmax(-1).tolist()
            agreeing += sum(a == b for a, b in zip(chosen, kit_tokens))
            total += len(kit_tokens)
    assert agreeing >= 0.9 * total, f"Q8_0 agrees with the kit on {agreeing} of {total} greedy choices"


def llama_cpp_model(path):
    """llama.cpp (llama-cpp-python's bindings) loading the file on the CPU: one thread, a context of 128 tokens, its
    KV cache in float32 (by default llama.cpp keeps it in f16, which moves the logits by about 0.01), and
    logits_all, so that the bindings copy every evaluated position's logits into `.scores` (without it, none:
    sampling happens inside llama.cpp)."""
    llama_cpp = pytest.importorskip("llama_cpp")
    return llama_cpp.Llama(model_path=str(path), n_ctx=128, n_threads=1, n_gpu_layers=0, logits_all=True, seed=0,
                           type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32, verbose=False)


def test_llama_cpp_generates_the_kits_greedy_tokens(model, tokenizer, exported):
    """llama.cpp itself runs the exported files. It is fed the kit's token ids (so that this checks the model, not
    the tokenizer): from the f32 file its 64 greedy tokens after each prompt, decoded one at a time with its own KV
    cache, are the kit's, and its logits along them within 1e-4 of the kit's (1.4e-5 at most when this was
    written); from the Q8_0 file, its next-token choices along the kit's tokens agree with the kit's at 90% of the
    positions or more (192 of 192 when this was written, as did the f16 file's)."""
    f32, q8_0 = llama_cpp_model(exported["f32"]), llama_cpp_model(exported["q8_0"])
    agreeing = total = 0
    try:
        for text in PROMPTS:
            prompt = tokenizer.encode(text)  # <s> and the pieces, as the kit's generate reads them
            kit_tokens = generate_tokens(model, [prompt], 64, temperature=0, eos_id=None)[0]
            f32.reset()
            f32.eval(prompt)
            generated = []
            for _ in range(64):
                generated.append(int(np.argmax(f32.scores[f32.n_tokens - 1])))  # the last position's logits
                f32.eval([generated[-1]])
            assert generated == kit_tokens, text
            sequence = prompt + kit_tokens
            with torch.inference_mode():
                kit_logits = model(torch.tensor([sequence]))[0]  # (T, V)
            f32.reset()
            f32.eval(sequence)
            torch.testing.assert_close(torch.from_numpy(f32.scores[:len(sequence)].copy()), kit_logits, atol=1e-4,
                                       rtol=0)
            q8_0.reset()
            q8_0.eval(sequence)
            chosen = np.argmax(q8_0.scores[len(prompt) - 1:len(sequence) - 1], axis=-1).tolist()  # (64,)
            agreeing += sum(a == b for a, b in zip(chosen, kit_tokens))
            total += len(kit_tokens)
    finally:  # freed now, while llama.cpp's library is loaded, rather than by the garbage collector at exit
        f32.close()
        q8_0.close()
    assert agreeing >= 0.9 * total, f"Q8_0 in llama.cpp agrees with the kit on {agreeing} of {total} greedy choices"


def test_llama_cpp_computes_the_q4_0_file_as_its_format_defines(model, tokenizer, exported):
    """llama.cpp runs the Q4_0 file, and what it computes is the kit's model with the file's weights, as the gguf
    package dequantizes them (d * (q - 8)): its logits along the kit's greedy tokens are within 0.05 on average of
    that model's (0.015 when this was written: llama.cpp also rounds each activation to 8 bits before its Q4_0
    products), while 4-bit rounding itself moves them from the float model's by about ten times that (0.15). Its
    next-token choices still agree with the float model's at 85% of the positions or more (184 of 192)."""
    _, tensors = read(exported["q4_0"])
    dequantized = load_model(TINY, dtype=torch.float32)
    dequantized.load_state_dict({
        key: torch.from_numpy(gguf.quants.dequantize(tensors[gguf_name(key)].data,
                                                     tensors[gguf_name(key)].tensor_type).copy()).reshape(value.shape)
        for key, value in model.state_dict().items()})
    q4_0 = llama_cpp_model(exported["q4_0"])
    agreeing = total = 0
    off_file = []
    off_float = []
    try:
        for text in PROMPTS:
            prompt = tokenizer.encode(text)
            kit_tokens = generate_tokens(model, [prompt], 64, temperature=0, eos_id=None)[0]
            sequence = prompt + kit_tokens
            with torch.inference_mode():
                float_logits = model(torch.tensor([sequence]))[0].numpy()  # (T, V)
                file_logits = dequantized(torch.tensor([sequence]))[0].numpy()
            q4_0.reset()
            q4_0.eval(sequence)
            logits = q4_0.scores[:len(sequence)]
            off_file.append(np.abs(logits - file_logits).mean())
            off_float.append(np.abs(logits - float_logits).mean())
            chosen = np.argmax(logits[len(prompt) - 1:len(sequence) - 1], axis=-1).tolist()
            agreeing += sum(a == b for a, b in zip(chosen, kit_tokens))
            total += len(kit_tokens)
    finally:
        q4_0.close()
    assert max(off_file) < 0.05 and max(off_file) < min(off_float) / 3, (off_file, off_float)
    assert agreeing >= 0.85 * total, f"Q4_0 in llama.cpp agrees with the kit on {agreeing} of {total} greedy choices"


def test_llama_cpps_tokenizer_gives_sentencepieces_ids(exported):
    """llama.cpp's own tokenizer, reading the vocabulary, scores and token types the file carries, splits text
    into SentencePiece's ids: spaces, punctuation, a newline, and characters outside the vocabulary (which both
    spell as bytes)."""
    sentencepiece = pytest.importorskip("sentencepiece")
    reference = sentencepiece.SentencePieceProcessor(model_file=str(TOKENIZER))
    llm = llama_cpp_model(exported["f32"])
    try:
        for text in ["Once upon a time", "Mira walked to the market, and then?", "two  spaces and a\nnew line",
                     "The baker of Honeydale said: \"Bread!\"", "naïve café 🙂 42"]:
            expected = [reference.bos_id(), *reference.encode(text)]
            assert llm.tokenize(text.encode("utf-8"), add_bos=True, special=False) == expected, text
    finally:
        llm.close()
