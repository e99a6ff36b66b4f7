"""The results as figures and tables: a row (one figure: both sides' medians and their ratio) and the Markdown tables
of docs/benchmarks.md."""

from __future__ import annotations

import statistics

from ..tables import markdown_row, markdown_table


def row(size, metric, unit, kit_samples, hf_samples, higher_is_better=True, **extra) -> dict:
    """One figure: the medians of both sides and their ratio (above 1 the kit is ahead).

    The two sides take turns, so the i-th samples of each ran side by side: "ratio_range" is the lowest and the
    highest of those paired ratios, how far the machine's noise moved the comparison within this run.
    Example: kit [2, 4, 6] tokens/s against [1, 2, 2] -> ratio 4 / 2 = 2.0, paired ratios 2, 2, 3 -> range (2, 3).
    """
    kit = statistics.median(kit_samples)
    hf = statistics.median(hf_samples) if hf_samples else None
    ratio = (kit / hf if higher_is_better else hf / kit) if hf else None
    paired = [k / h if higher_is_better else h / k for k, h in zip(kit_samples, hf_samples or [])]
    return {"size": size, "metric": metric, "unit": unit, "kit": kit, "transformers": hf, "ratio": ratio,
            "ratio_range": (min(paired), max(paired)) if paired else None,
            "samples": {"kit": list(kit_samples), "transformers": list(hf_samples or [])}, **extra}


def _number(x) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _percent(x) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


COLUMNS = ("size", "measurement", "kit", "transformers", "kit vs HF", "paired runs", "bound", "kit share",
           "HF share", "notes")


def _ratio(x) -> str:
    return "-" if x is None else f"{x:.2f}x"


def _cells(r: dict) -> tuple[str, ...]:
    notes = []
    if "same_tokens" in r:
        notes.append("same tokens as HF" if r["same_tokens"] else "tokens differ from HF")
    if "same_tokens_as_eager" in r:
        notes.append("same tokens as eager" if r["same_tokens_as_eager"] else "tokens differ from eager")
    if "disk_bytes" in r:
        notes.append(f"{r['disk_bytes'] / 2**20:.0f} MiB on disk")
    return (r["size"], f"{r['metric']} ({r['unit']})", _number(r["kit"]), _number(r["transformers"]),
            _ratio(r["ratio"]), "-" if r["ratio_range"] is None else "-".join(map(_ratio, r["ratio_range"])),
            _number(r.get("bound")),
            _percent(r.get("share")), _percent(r.get("share_transformers")), "; ".join(notes))


QUANTIZED_COLUMNS = ("size", "measurement", "quantized", "float", "quantized vs float", "paired runs", "bound",
                     "share", "notes")


def _quantized_cells(r: dict) -> tuple[str, ...]:
    return (r["size"], f"{r['metric']} ({r['unit']})", _number(r["kit"]), _number(r["transformers"]),
            _ratio(r["ratio"]), "-".join(map(_ratio, r["ratio_range"])), _number(r["bound"]), _percent(r["share"]),
            f"{r['bytes_per_step'] / 2**20:.1f} MiB read per step; greedy text alike for {r['tokens_alike']:.0f} "
            f"of {r['new_tokens']} tokens" + ("" if r.get("in_turns", True) else "; the sides timed one after the "
                                                "other"))


CPU_7B_COLUMNS = ("size", "measurement", "tokens/s", "bound", "share", "weights read per step", "peak memory",
                  "built in")


def _cpu_7b_cells(r: dict) -> tuple[str, ...]:
    return (r["size"], f"{r['metric']} ({r['unit']})", _number(r["kit"]), _number(r["bound"]), _percent(r["share"]),
            f"{r['bytes_per_step'] / 2**30:.2f} GiB", f"{r['peak_bytes'] / 2**30:.1f} GiB",
            f"{r['build_seconds']:.0f} s")


LLAMACPP_COLUMNS = ("size", "measurement", "kit", "llama.cpp", "kit vs llama.cpp", "paired runs", "notes")


def _llamacpp_cells(r: dict) -> tuple[str, ...]:
    return (r["size"], f"{r['metric']} ({r['unit']})", _number(r["kit"]), _number(r["llama.cpp"]),
            _ratio(r["ratio"]), "-".join(map(_ratio, r["ratio_range"])),
            f"kit reads {r['bytes_per_step'] / 2**20:.1f} MiB per step; GGUF file {r['gguf_bytes'] / 2**20:.1f} MiB; "
            f"peak memory {r['peak_bytes'] / 2**30:.2f} GiB; greedy tokens alike for {r['tokens_alike']} of "
            f"{r['new_tokens'] + 1}")


_CELLS = {"quantized": _quantized_cells, "cpu_7b": _cpu_7b_cells, "llamacpp": _llamacpp_cells}


def format_row(r: dict) -> str:
    """One row of the results as a line of the Markdown tables of docs/benchmarks.md."""
    return markdown_row(_CELLS.get(r.get("kind"), _cells)(r))


def format_table(results: dict) -> str:
    m = results["machine"]
    where = m.get("gpu") or f"{m['cpu']}, {m['cpu_count']} cores, {m['torch_threads']} torch threads"
    plain = [r for r in results["rows"] if r.get("kind") not in _CELLS]
    quantized = [r for r in results["rows"] if r.get("kind") == "quantized"]
    cpu_7b = [r for r in results["rows"] if r.get("kind") == "cpu_7b"]
    llamacpp = [r for r in results["rows"] if r.get("kind") == "llamacpp"]
    lines = [f"{where}; torch {m['torch']}, transformers {m['transformers']}, {m['dtype']}; memory bandwidth "
             f"{results['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s (matrix-vector product)"]
    if plain or not results["rows"]:
        lines += ["", *markdown_table(COLUMNS, [_cells(r) for r in plain])]
    if quantized:
        lines += ["", "Quantized and bfloat16 decoding against the same model in floating point (the same kind of "
                  "step):", "",
                  *markdown_table(QUANTIZED_COLUMNS, [_quantized_cells(r) for r in quantized])]
    if cpu_7b:
        lines += ["", "Llama 2's shapes (7B, 13B), random weights, on the CPU, one configuration at a time, batch 1:",
                  "",
                  *markdown_table(CPU_7B_COLUMNS, [_cpu_7b_cells(r) for r in cpu_7b])]
    if llamacpp:
        first = llamacpp[0]
        lines += ["", f"The kit's decoding against llama.cpp's (llama-cpp-python {first['llama_cpp_version']}), the "
                  f"same weights in formats of the same width, batch 1, {first['threads']} threads, "
                  f"{first['new_tokens']} steps after the prompt's pass:", "",
                  *markdown_table(LLAMACPP_COLUMNS, [_llamacpp_cells(r) for r in llamacpp])]
    lines += ["", "kit vs HF: how many times better the kit does (kit/HF for tokens/s, HF/kit for seconds and "
              "memory). paired runs: the lowest and the highest ratio of two runs made side by side (the two take "
              "turns). bound: tokens/s if each step read every weight once at the bandwidth measured during that "
              "row; share: the fraction of it reached. Load: peak RSS added by loading (to every weight in "
              "memory), over the checkpoint's size."]
    return "\n".join(lines)

