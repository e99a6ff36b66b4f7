"""The command line: `python -m llama_lab.bench`, the settings it chooses, the tables it prints."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from ..cli import OneLineParser
from .models import SIZES
from .report import format_table
from .suite import MEASUREMENTS, QUICK, Settings, probe_load, run_suite

DESCRIPTION = "Speed, memory and scale, measured side by side: the kit against Hugging Face transformers."


def main(argv=None) -> dict | None:
    parser = OneLineParser(prog="python -m llama_lab.bench", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="a toy model, few tokens, one repeat")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--sizes", help="comma-separated, from: " + ", ".join(SIZES))
    parser.add_argument("--repeats", type=int, help="timed runs per figure (the median is reported)")
    parser.add_argument("--new-tokens", type=int, help="tokens to generate per decode run")
    parser.add_argument("--measure", help="comma-separated, from: " + ", ".join(MEASUREMENTS)
                        + " (default: all but llamacpp, the kit against llama.cpp, which needs llama-cpp-python)")
    parser.add_argument("--batches", help="comma-separated decode batch sizes (default: 1,8)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction,
                        help="also measure the compiled decoder (fast.CompiledDecoder) and the compiled training step "
                             "(default: yes, except with --quick)")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"),
                        help="the weights' dtype (default: float32 on CPU, bfloat16 on GPU)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
    parser.add_argument("--probe-load", nargs=3, metavar=("LOADER", "PATH", "WARM_UP_PATH"), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)

    if options.probe_load:
        print(json.dumps(probe_load(*options.probe_load)))
        return None
    if options.threads:
        torch.set_num_threads(options.threads)
    device = torch.device(options.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, None: None}[options.dtype]
    dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
    def chosen(listed: str, allowed, what: str) -> tuple[str, ...]:
        """A comma-separated list from the command line, every item one of `allowed` (else a one-line error)."""
        items = tuple(item.strip() for item in listed.split(","))
        unknown = set(items) - set(allowed)
        if unknown:
            parser.error(f"unknown {what} {sorted(unknown)}: choose from {', '.join(allowed)}")
        return items

    cfg = replace(QUICK) if options.quick else Settings()
    if device.type == "cuda" and not options.quick:
        cfg.sizes, cfg.bandwidth_mib = ("tiny", "50m", "7b"), 2048
    if options.compile is not None:
        cfg.compile = options.compile
    if options.sizes:
        cfg.sizes = chosen(options.sizes, SIZES, "sizes")
    if options.repeats:
        cfg.repeats = options.repeats
    if options.new_tokens:
        cfg.new_tokens = options.new_tokens
    if options.measure:
        cfg.measure = chosen(options.measure, MEASUREMENTS, "measurements")
    if options.batches:
        try:
            cfg.batches = tuple(int(b) for b in options.batches.split(","))
        except ValueError:
            parser.error(f"--batches {options.batches!r}: give whole numbers separated by commas, such as 1,8")
        if min(cfg.batches) < 1:
            parser.error(f"--batches {options.batches!r}: each batch size must be at least 1")

    results = run_suite(cfg, device, dtype)
    print()
    print(format_table(results))
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=2))
        print(f"\nwritten: {options.json}")
    return results


