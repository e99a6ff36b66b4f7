"""The kit's quantized decoding side by side with llama.cpp's, on the CPU, for the same weights.

For each pair below, the same weights go both ways: quantized by the kit (llama_lab.quantize) and decoded by its
compiled step (fast.CompiledDecoder; fast.LaidOutDecoder with --no-compile and for a shape built a layer at a
time), and written to a GGUF file in llama.cpp's own format of that width (checkpoint.gguf) and decoded by
llama.cpp through llama-cpp-python. Both
decode greedily at batch 1 the same random prompt, cfg.new_tokens steps each after the prompt's pass, with as
many threads (torch's); the prompt's pass (prefill) and the first token chosen from it are left out of both
timings. The two take turns (timing.take_timed_turns), so run i of each ran side by side; "kit vs llama.cpp" is
kit/llama.cpp tokens/s, above 1 the kit is ahead.

The formats are not the same, only of the same width: Q8_0 has one f16 scale per block of 32 weights along a row,
the kit's int8 one scale per row; Q4_0 has blocks of 32 with one f16 scale and an implicit offset of 8, the kit's
int4-g64 groups of 64 with a scale and a zero point (int4-g32: groups of 32, as Q4_0's blocks). Every matrix is
quantized on both sides, the output head included; the embedding stays in floating point in the kit and is stored
in the file's type in the GGUF (a step reads one row of it). llama.cpp keeps its KV cache in f16, as by default,
and rounds each activation to 8 bits before its quantized products; the kit computes in float32.

Weights: a model in memory (the trained tiny model, the 50M shape's random weights), or, for a shape too large to
hold in floating point (Llama 2 7B's), random weights drawn a layer at a time (models.random_weights): the kit's
side is built by random_quantized_model and the GGUF file written by checkpoint.gguf.write_gguf from the same draws,
each quantized as it comes, so that the float model never exists whole. One pair at a time is in memory.
"""

from __future__ import annotations

import copy
import gc
import importlib.util
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ..checkpoint.gguf import save_gguf, write_gguf
from ..fast import CompiledDecoder, LaidOutDecoder
from ..model import Llama, ModelArgs
from ..quantize import quantize_model
from ..tokenizer import Tokenizer
from ..world.tiny import DATA
from .measures import PeakRSS, release_free_memory, weight_bytes_per_step
from .models import random_quantized_model, random_weight_shapes, random_weights
from .report import format_row, row
from .timing import kit_decode, take_timed_turns

# (the kit's scheme, the GGUF type beside it); the smallest first, and the float reference last (for a model in
# memory only): a 7B-shaped pair in Q8_0 holds twice the memory of one in Q4_0
KIT_TOKENIZER = DATA / "tokenizer.model"  # the tiny world's, which the GGUF files carry (`make data` builds it)
LLAMACPP_PAIRS = (("int4-g64", "q4_0"), ("int4-g32", "q4_0"), ("int8", "q8_0"), ("float", "f32"))


def llama_cpp_missing(args: ModelArgs, tokenizer) -> str | None:
    """Why llama.cpp cannot be measured here for a model of shape `args` with `tokenizer` in its files, or None."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install 'llama-lab[bench]', which builds llama.cpp)"
    if importlib.util.find_spec("gguf") is None:
        return "the gguf package is not installed (pip install 'llama-lab[gguf]')"
    if not Path(tokenizer).is_file():
        return f"a GGUF file carries a tokenizer, and {tokenizer} is missing (`make data` builds the kit's)"
    pieces = Tokenizer(tokenizer).n_words
    if pieces > args.vocab_size:
        return (f"a GGUF file carries a tokenizer, and {Path(tokenizer).name}'s {pieces} pieces do not fit the "
                f"model's vocabulary of {args.vocab_size}")
    return None


def llama_cpp_decode(llm, prompt: list[int], new_tokens: int) -> tuple[float, list[int]]:
    """(seconds, tokens): llama.cpp's greedy decoding of `new_tokens` steps after `prompt`, timed as kit_decode is:
    the prompt's pass (Llama.eval) and the first token untimed, then each step one Llama.eval of the last token and
    the argmax of the logits llama.cpp left for it (llama_get_logits_ith; the bindings copy none with
    logits_all=False)."""
    import llama_cpp

    n_vocab = llm.n_vocab()

    def next_token() -> int:
        return int(np.argmax(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(n_vocab,))))

    llm.reset()
    llm.eval(prompt)
    tokens = [next_token()]
    start = time.perf_counter()
    for _ in range(new_tokens):
        llm.eval([tokens[-1]])
        tokens.append(next_token())
    return time.perf_counter() - start, tokens


def _kit_model(scheme: str, model: Llama | None, args: ModelArgs, seed: int) -> Llama:
    if model is None:
        return random_quantized_model(args, scheme, torch.device("cpu"), torch.float32, seed=seed).eval()
    return model if scheme == "float" else quantize_model(copy.deepcopy(model), scheme)


def _gguf_file(path: Path, gguf_type: str, model: Llama | None, args: ModelArgs, tokenizer, seed: int) -> Path:
    if model is None:  # the same draws as random_quantized_model's, one tensor at a time
        return write_gguf(path, args, tokenizer, random_weight_shapes(args),
                          random_weights(args, torch.device("cpu"), torch.float32, seed=seed), gguf_type)
    return save_gguf(model, tokenizer, path, gguf_type)


def measure_llamacpp(size: str, cfg, model: Llama | None = None, args: ModelArgs | None = None,
                     tokenizer: str | os.PathLike = KIT_TOKENIZER, seed: int = 0, log=print) -> list[dict]:
    """One row per pair of LLAMACPP_PAIRS (see the module's docstring): greedy decoding tokens/s at batch 1, the kit
    against llama.cpp, for `model`'s weights, or (model None) random weights of shape `args` drawn a layer at a
    time with `seed`. `tokenizer` (the kit's tokenizer.model by default) goes into the GGUF files, which llama.cpp
    needs to load them (padded to the model's vocabulary); decoding is fed token ids. Where llama.cpp cannot run,
    one line says why and there are no rows."""
    args = model.args if model is not None else args
    missing = llama_cpp_missing(args, tokenizer)
    if missing:
        log(f"{size}: no llama.cpp rows: {missing}")
        return []
    import llama_cpp

    threads = torch.get_num_threads()
    prompt = torch.randint(3, args.vocab_size, (cfg.prompt_len,), generator=torch.Generator().manual_seed(1)).tolist()
    rows = []
    with tempfile.TemporaryDirectory(prefix="llama-lab-gguf-") as folder:
        files: dict[str, Path] = {}
        for scheme, gguf_type in LLAMACPP_PAIRS:
            if scheme == "float" and model is None:
                continue  # a float model of a shape built a layer at a time would not fit beside anything
            for stale in [t for t in files if t != gguf_type]:  # one GGUF file on disk at a time
                files.pop(stale).unlink()
            if gguf_type not in files:  # written before the kit's model is built, so that the two never overlap
                files[gguf_type] = _gguf_file(Path(folder) / f"{size}-{gguf_type}.gguf", gguf_type, model, args,
                                              tokenizer, seed)
            release_free_memory()
            with PeakRSS() as peak:  # the process's resident memory, building the kit's side and decoding on both
                try:
                    kit = _kit_model(scheme, model, args, seed)
                except ValueError as why:  # a group size that does not divide the model's widths
                    log(f"{size}: no {scheme} / {gguf_type.upper()} row: {why}")
                    continue
                compiled = cfg.compile and model is not None  # a shape built a layer at a time: the laid-out
                decoder = CompiledDecoder(kit) if compiled else LaidOutDecoder(kit)  # step, as in measure_cpu_7b
                llm = llama_cpp.Llama(model_path=str(files[gguf_type]), n_ctx=cfg.prompt_len + cfg.new_tokens + 2,
                                      n_threads=threads, n_threads_batch=threads, n_gpu_layers=0, logits_all=False,
                                      use_mmap=True, use_mlock=False, seed=0, verbose=False)
                tokens = {}

                def timed(name, decode, decoding):
                    def run():
                        seconds, tokens[name] = decode(decoding, prompt, cfg.new_tokens)
                        return seconds
                    return run

                try:
                    times = take_timed_turns({"kit": timed("kit", kit_decode, decoder),
                                              "llama.cpp": timed("llama.cpp", llama_cpp_decode, llm)}, cfg.repeats)
                finally:  # freed now, while llama.cpp's library is loaded, rather than by the garbage collector
                    llm.close()
            alike = next((i for i, (a, b) in enumerate(zip(tokens["kit"], tokens["llama.cpp"])) if a != b),
                         len(tokens["kit"]))
            label = str(kit.dtype).removeprefix("torch.") if scheme == "float" else scheme
            r = row(size, f"decode, batch 1, {label} / {gguf_type.upper()}" + (", compiled" if compiled else ""),
                    "tokens/s", [cfg.new_tokens / t for t in times["kit"]],
                    [cfg.new_tokens / t for t in times["llama.cpp"]], kind="llamacpp", scheme=scheme,
                    gguf_type=gguf_type, new_tokens=cfg.new_tokens, threads=threads, tokens_alike=alike,
                    bytes_per_step=weight_bytes_per_step(kit), gguf_bytes=files[gguf_type].stat().st_size,
                    peak_bytes=peak.peak,
                    llama_cpp_version=getattr(llama_cpp, "__version__", "?"))
            r["llama.cpp"] = r.pop("transformers")
            r["samples"]["llama.cpp"] = r["samples"].pop("transformers")
            log(format_row(r))
            rows.append(r)
            del kit, decoder, llm
            gc.collect()
            release_free_memory()
    return rows
