"""Speed, memory and scale, measured side by side: the kit against Hugging Face transformers.

    python -m llama_lab.bench                      # the whole suite (10-20 minutes on a 2-core CPU)
    python -m llama_lab.bench --quick              # a toy model and one repeat: checks that everything runs
    python -m llama_lab.bench --json results.json  # also write every figure (and every sample) as JSON

How it measures is told in `suite.py`. The parts: `timing.py` (seconds, turns), `models.py` (the sizes, the kit's
model and transformers' twin), `measures.py` (weight bytes per decoding step, memory bandwidth, peak memory),
`suite.py` (the measurements and run_suite), `llamacpp.py` (the kit's quantized decoding against llama.cpp's),
`report.py` (rows and tables), `cli.py` (the command line).
"""

from .cli import main
from .llamacpp import LLAMACPP_PAIRS, measure_llamacpp
from .measures import BandwidthProbe, PeakRSS, peak_memory_added, release_free_memory, weight_bytes_per_step
from .models import LORA_TARGETS, SIZES, SMALL_50M, TINY, TOY, kit_model, lora_models, random_model, transformers_twin
from .report import format_row, format_table, row
from .suite import (MEASUREMENTS, QUANTIZED_SCHEMES, QUICK, Settings, measure_decode, measure_loading, measure_lora,
                    measure_prefill, measure_quantized, measure_training, probe_load, run_suite)
from .timing import seconds, take_turns

__all__ = ["BandwidthProbe", "LLAMACPP_PAIRS", "LORA_TARGETS", "MEASUREMENTS", "PeakRSS", "QUANTIZED_SCHEMES", "QUICK",
           "SIZES", "SMALL_50M", "Settings", "TINY", "TOY", "format_row", "format_table", "kit_model", "lora_models",
           "main", "measure_decode", "measure_llamacpp", "measure_loading", "measure_lora", "measure_prefill",
           "measure_quantized", "measure_training", "peak_memory_added", "probe_load", "random_model",
           "release_free_memory", "row", "run_suite", "seconds", "take_turns", "transformers_twin",
           "weight_bytes_per_step"]
