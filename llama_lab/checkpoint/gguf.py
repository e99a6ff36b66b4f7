"""llama.cpp's format, GGUF: one file that holds the model's settings, its tokenizer and its weights: save_gguf.

    save_gguf(model, tokenizer, "tiny.gguf", dtype="q8_0")
    python -m llama_lab.checkpoint.gguf data/tiny-base tiny.gguf --tokenizer data/tokenizer.model --type q8_0

The file is written with the `gguf` package (llama.cpp's own Python writer: `pip install 'llama-lab[gguf]'`) for
llama.cpp's `llama` architecture, as llama.cpp's converter (convert_hf_to_gguf.py) writes Llama 2:

- Names: `blk.N.` and llama.cpp's short names for Meta's (GGUF_LAYER_NAMES, GGUF_TOP_NAMES):
  `layers.3.attention.wq.weight` -> `blk.3.attn_q.weight`, `tok_embeddings.weight` -> `token_embd.weight`.
- Shapes: GGUF lists a tensor's dimensions fastest first, so torch's (out, in) weight reads {in, out} there
  (wq of the tiny model: (192, 192) -> {192, 192}; w2: (192, 512) -> {512, 192}). The bytes are the same.
- Rotary layout: Meta's, as the kit holds it. llama.cpp's `llama` rotates the adjacent pairs (x0, x1), (x2, x3), ..
  of each head (ggml's "normal" rope mode), as Meta's code does; Hugging Face's wq and wk have their rows permuted
  to rotate halves instead (hf.py), and llama.cpp's converter undoes that permutation (its LlamaModel.permute
  reshapes to (heads, 2, hd/2, in) and swaps the middle axes: hf._rotary_unpermute, heads = n_kv_heads for wk).
  So a GGUF holds Meta's layout, and the kit's wq and wk go in as they are.
- dtype: "f32"; "f16" for the 2-D weights; "q8_0", blocks of 32 weights along a row that share one f16 scale
  d = max|w| / 127, each weight round(w / d) in 8 bits; "q4_0", blocks of 32 weights sharing one f16 scale
  d = m / -8 (m: the block's weight of largest magnitude, sign kept), each weight stored as
  min(15, trunc(w / d + 8.5)) in 4 bits, two to a byte, and read back as (q - 8) * d: no zero point, the offset of
  8 is implicit. Both are gguf.quants.quantize, bit for bit what ggml computes (ggml-quants.c's quantize_row_q8_0_ref
  and quantize_row_q4_0_ref; the tests check Q4_0 against llama.cpp's own llama_model_quantize). Every 2-D weight,
  the embedding and the output head included, is stored in the file's type (llama.cpp's own quantizer,
  llama-quantize, keeps the output head finer for Q4_0: Q6_K, or Q8_0 where its rows do not split into 256s).
  The norms stay f32, as llama.cpp's converter keeps every 1-D tensor; a weight whose rows do not split into
  blocks of 32 falls back to f16, as it does there.
- Tokenizer: the SentencePiece model's pieces, scores and piece types (GGUF's token types are SentencePiece's
  own numbers: NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6), BOS, EOS and unknown ids, and
  Llama 2's chat template (chat.HF_CHAT_TEMPLATE), as llama.cpp's converter writes a `tokenizer.model`.

The file arrives whole or not at all: it is written under a temporary name beside `path`, flushed, then named
(files.replacing); an existing file is replaced only with overwrite=True.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from sentencepiece import sentencepiece_model_pb2

from ..chat import HF_CHAT_TEMPLATE
from ..cli import OneLineParser, one_line_errors
from ..files import replacing
from ..model import Llama, ModelArgs
from ..quantize import quantization_of
from ..tokenizer import Tokenizer
from .load import load_model
from .read import CheckpointError
from .save import _as_tokenizer, _check_saveable

GGUF_TYPES = ("f32", "f16", "q8_0", "q4_0")

# llama.cpp's names (gguf.TENSOR_NAMES of MODEL_ARCH.LLAMA) for Meta's, per block (`blk.N.`) and outside the blocks.
GGUF_LAYER_NAMES = {
    "attention.wq.weight": "attn_q.weight", "attention.wk.weight": "attn_k.weight",
    "attention.wv.weight": "attn_v.weight", "attention.wo.weight": "attn_output.weight",
    "feed_forward.w1.weight": "ffn_gate.weight", "feed_forward.w3.weight": "ffn_up.weight",
    "feed_forward.w2.weight": "ffn_down.weight",
    "attention_norm.weight": "attn_norm.weight", "ffn_norm.weight": "ffn_norm.weight",
}
GGUF_TOP_NAMES = {"tok_embeddings.weight": "token_embd.weight", "norm.weight": "output_norm.weight",
                  "output.weight": "output.weight"}

F16_LARGEST = 65504.0  # the largest finite float16: a weight beyond it would be stored as infinity


def _gguf_package():
    """The `gguf` package, or an ImportError that says how to install it."""
    try:
        import gguf
    except ImportError:
        raise ImportError("writing GGUF files needs the gguf package (llama.cpp's own writer): "
                          "pip install 'llama-lab[gguf]'") from None
    return gguf


def gguf_name(name: str) -> str:
    """'layers.3.attention.wq.weight' -> 'blk.3.attn_q.weight'; 'norm.weight' -> 'output_norm.weight'."""
    layer = re.fullmatch(r"layers\.(\d+)\.(.+)", name)
    if layer:
        return f"blk.{layer[1]}.{GGUF_LAYER_NAMES[layer[2]]}"
    return GGUF_TOP_NAMES[name]


def _stored_type(shape: torch.Size, dtype: str, gguf):
    """The GGML type a tensor of `shape` is stored in for the file type `dtype` (see the module's docstring)."""
    types = gguf.GGMLQuantizationType
    if len(shape) == 1 or dtype == "f32":
        return types.F32
    quantized = {"q8_0": types.Q8_0, "q4_0": types.Q4_0}.get(dtype)
    if quantized is None or shape[-1] % gguf.GGML_QUANT_SIZES[quantized][0]:
        return types.F16
    return quantized


def _encoded(name: str, tensor: torch.Tensor, stored, gguf) -> np.ndarray:
    """`tensor` as the array of `stored` GGML values that goes into the file: float32, float16, Q8_0's bytes
    (rows, blocks * 34: each block's f16 scale, then its 32 int8 weights) or Q4_0's (rows, blocks * 18: each
    block's f16 scale, then 16 bytes whose low halves hold weights 0..15 and high halves weights 16..31)."""
    weights = tensor.detach().to("cpu", torch.float32).numpy()  # a float32 tensor on the CPU is not copied
    types = gguf.GGMLQuantizationType
    if stored == types.F32:
        return weights
    largest = float(np.abs(weights).max())
    if stored == types.F16 and largest > F16_LARGEST:
        raise ValueError(f"{name} holds a weight of {largest:g}, beyond float16's largest ({F16_LARGEST:g}): "
                         "export it with dtype='f32'")
    return weights.astype(np.float16) if stored == types.F16 else gguf.quants.quantize(weights, stored)


def _token_table(proto, vocab_size: int, gguf) -> tuple[list[str], list[float], list[int]]:
    """The pieces, scores and token types of a SentencePiece model (`proto`, its ModelProto), padded to the model's
    `vocab_size` as llama.cpp's converter pads (pieces "[PAD<id>]", score -10000, UNUSED) when the model's
    embedding has more rows than the tokenizer has pieces."""
    kinds = sentencepiece_model_pb2.ModelProto.SentencePiece.Type
    pieces = [p.piece for p in proto.pieces]
    scores = [p.score for p in proto.pieces]
    types = [int(gguf.TokenType[kinds.Name(p.type)]) for p in proto.pieces]  # by name: the numbers are alike
    padding = range(len(pieces), vocab_size)
    return (pieces + [f"[PAD{i}]" for i in padding], scores + [-10000.0] * len(padding),
            types + [int(gguf.TokenType.UNUSED)] * len(padding))


def _write_metadata(writer, args: ModelArgs, tokenizer: Tokenizer, name: str, dtype: str, gguf) -> None:
    """The settings llama.cpp reads to build the model and its tokenizer (llama-arch.cpp's `llama.*` and
    `tokenizer.ggml.*` keys), each written by the gguf writer's method for it."""
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_vocab_size(args.vocab_size)
    writer.add_context_length(args.max_seq_len)
    writer.add_embedding_length(args.dim)
    writer.add_block_count(args.n_layers)
    writer.add_feed_forward_length(args.hidden_dim)
    writer.add_head_count(args.n_heads)
    writer.add_head_count_kv(args.kv_heads)
    writer.add_rope_dimension_count(args.head_dim)  # every dimension of a head rotates
    writer.add_rope_freq_base(args.rope_theta)
    writer.add_layer_norm_rms_eps(args.norm_eps)
    file_types = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                  "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0, "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0}
    writer.add_file_type(file_types[dtype])
    if dtype in ("q8_0", "q4_0"):
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    proto = sentencepiece_model_pb2.ModelProto.FromString(tokenizer.sp_model.serialized_model_proto())
    pieces, scores, types = _token_table(proto, args.vocab_size, gguf)
    writer.add_tokenizer_model("llama")  # llama.cpp's name for a SentencePiece model (its SPM vocabulary)
    writer.add_tokenizer_pre("default")
    writer.add_token_list(pieces)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(tokenizer.bos_id)
    writer.add_eos_token_id(tokenizer.eos_id)
    writer.add_unk_token_id(tokenizer.sp_model.unk_id())
    if tokenizer.pad_id >= 0:  # Llama 2's has none
        writer.add_pad_token_id(tokenizer.pad_id)
    writer.add_add_bos_token(True)  # Meta's encode(s, bos=True): every prompt starts with BOS
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(proto.normalizer_spec.add_dummy_prefix)  # "Hello" is read as " Hello"
    writer.add_chat_template(HF_CHAT_TEMPLATE)


def save_gguf(model: Llama, tokenizer: Tokenizer | str | os.PathLike, path: str | os.PathLike, dtype: str = "f32",
              name: str | None = None, overwrite: bool = False) -> Path:
    """Write `model` and its `tokenizer` (a Tokenizer, or the path of its tokenizer.model) as one GGUF file at
    `path`, for llama.cpp's `llama` architecture (what its converter writes for Llama 2; transformers' GGUF loader
    reads it back into the kit's model).

    dtype: "f32" (the weights exactly), "f16", "q8_0" (8-bit blocks, about a quarter of f32's size) or "q4_0"
    (4-bit blocks, about an eighth); see the module's docstring. `name` (general.name) defaults to the file's name
    without its suffix. An existing file at `path` is replaced only with overwrite=True; the new file arrives whole,
    or not at all. Returns the path.
    """
    _gguf_package()
    _check_saveable(model, "save_gguf")
    _check_type(dtype)
    scheme = quantization_of(model)
    if scheme is not None:
        raise ValueError(f"the model is quantized by the kit ({scheme.name}), and GGUF quantizes in its own "
                         "formats: export the floating-point model, with dtype='q8_0' for 8-bit weights or 'q4_0' "
                         "for 4-bit ones")
    state = model.state_dict()
    return write_gguf(path, model.args, tokenizer, {key: t.shape for key, t in state.items()}, state.items(), dtype,
                      name, overwrite)


def _check_type(dtype: str) -> None:
    if dtype not in GGUF_TYPES:
        raise ValueError(f"dtype={dtype!r}: use one of {', '.join(map(repr, GGUF_TYPES))}")


def write_gguf(path: str | os.PathLike, args: ModelArgs, tokenizer: Tokenizer | str | os.PathLike,
               shapes: dict[str, torch.Size], tensors: Iterable[tuple[str, torch.Tensor]], dtype: str = "f32",
               name: str | None = None, overwrite: bool = False) -> Path:
    """save_gguf from the weights alone, one tensor at a time: a model of shape `args` whose weights (Meta's names,
    as in the kit's state dict) are announced in `shapes` and then arrive from `tensors` as (name, tensor) pairs in
    the same order, each converted and written before the next is asked for. So a file larger than memory can be
    written from weights drawn or read a layer at a time (the bench writes Llama 2 7B's shape this way).
    """
    gguf = _gguf_package()
    _check_type(dtype)
    tokenizer = _as_tokenizer(tokenizer)
    if tokenizer.n_words > args.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.n_words} pieces and the model's vocabulary only "
                         f"{args.vocab_size}: the model was trained with another tokenizer; give the one it "
                         "was trained with")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder: give the path of the .gguf file to write, such as "
                                f"{path / 'model.gguf'}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists: choose another path, or replace it with overwrite=True")
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = {key: _stored_type(shape, dtype, gguf) for key, shape in shapes.items()}
    announced = iter(shapes.items())
    with replacing(path, overwrite=overwrite) as temporary:
        writer = gguf.GGUFWriter(temporary, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
        try:
            _write_metadata(writer, args, tokenizer, path.stem if name is None else name, dtype, gguf)
            for key, shape in shapes.items():  # the tensors' names, shapes and types first, in the file's header
                block_size, type_size = gguf.GGML_QUANT_SIZES[stored[key]]
                writer.add_tensor_info(gguf_name(key), gguf.quants.quant_shape_to_byte_shape(shape, stored[key]),
                                       np.dtype(np.uint8), shape.numel() // block_size * type_size, stored[key])
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            for key, tensor in tensors:  # then their data, one at a time: memory holds one converted tensor
                expected = next(announced, None)
                if expected != (key, tensor.shape):
                    raise ValueError(f"the tensors arrive as {key} {tuple(tensor.shape)} where the shapes announced "
                                     f"{'nothing more' if expected is None else f'{expected[0]} {tuple(expected[1])}'}"
                                     ": give them in the order and the shapes of `shapes`")
                writer.write_tensor_data(_encoded(key, tensor, stored[key], gguf))
            missing = [key for key, _ in announced]
            if missing:
                raise ValueError(f"the tensors ended before {missing[0]} ({len(missing)} announced but not given)")
        finally:
            writer.close()
    return path


def main(argv: list[str] | None = None) -> None:
    """`python -m llama_lab.checkpoint.gguf MODEL_DIR OUT.gguf --type q8_0`: a checkpoint folder to a GGUF file."""
    parser = OneLineParser(
        prog="python -m llama_lab.checkpoint.gguf",
        description="Write a checkpoint (the kit's, Meta's or Hugging Face's format) and its tokenizer as one GGUF "
                    "file, llama.cpp's format.")
    parser.add_argument("model", type=Path, help="the checkpoint folder, such as data/tiny-base")
    parser.add_argument("out", type=Path, help="the .gguf file to write")
    parser.add_argument("--type", choices=GGUF_TYPES, default="f32",
                        help="how the weights are stored: f32 (exactly), f16, q8_0 (8-bit blocks) or q4_0 (4-bit "
                             "blocks); default f32")
    parser.add_argument("--tokenizer", type=Path,
                        help="the model's tokenizer.model (default: the one in the checkpoint folder)")
    parser.add_argument("--name", help="the model's name in the file (default: OUT without its suffix)")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    options = parser.parse_args(argv)
    with one_line_errors(CheckpointError, ImportError, ValueError, TypeError, writing="give another OUT"):
        tokenizer = options.tokenizer or options.model / "tokenizer.model"
        if options.tokenizer is None and not tokenizer.is_file():
            raise ValueError(f"{options.model} holds no tokenizer.model: give the model's tokenizer with --tokenizer "
                             "(the kit's tiny models use data/tokenizer.model)")
        if options.out.exists() and not options.force and not options.out.is_dir():  # before the model is read
            raise ValueError(f"{options.out} exists: give another OUT, or --force to replace it")
        model = load_model(options.model)
        save_gguf(model, tokenizer, options.out, options.type, options.name, overwrite=options.force)
    size = options.out.stat().st_size
    print(f"wrote {options.out} ({options.type}, {size / 2**20:.1f} MiB)", file=sys.stderr)


if __name__ == "__main__":
    main()
