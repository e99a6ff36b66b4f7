"""The Llama 2 family as numbers: the model card's facts, and what follows from them.

The card (data/model_card.json, each fact with its source) says *what* Meta reported; the functions here
recompute what can be recomputed, with arithmetic a learner can redo on paper:

- parameters: counted on the presets of `model.py`, built on the meta device (no memory is allocated);
- weight memory: parameters x bytes per parameter (fp32 4, bf16 2, int8 1);
- KV cache: 2 (a key and a value) x n_layers x n_kv_heads x head_dim x bytes, for every token kept;
- training compute: 6 N D FLOPs (Kaplan et al. 2020: about 2 N per token forward and 4 N backward),
  set against the card's GPU hours at the A100's dense bf16 peak;
- emissions: GPU hours x power per GPU x a carbon intensity (tCO2eq per MWh) derived from the card's own rows,
  and which rows one intensity reproduces to the card's 0.01 t;
- the pretraining recipe: the kit's `train.TrainConfig`, read off the optimiser and schedule `train.py` builds
  from it, beside the paper's section 2.2, and what changed from Llama 1 (the paper's Table 1).
- languages: the paper's Table 10 (each language's share of the pretraining data) turned into tokens, a share
  of the 2 trillion every size was pretrained on.

Example: kv_cache_bytes_per_token(LLAMA2_7B) -> 2 * 32 * 32 * 128 * 2 = 524288 bytes (bf16).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import math
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
from torch import nn

from .. import quantize
from ..model import LLAMA2_13B, LLAMA2_70B, LLAMA2_7B, ModelArgs, build_model
from ..tables import text_table
from ..train import TrainConfig, lr_at, make_optimizer
from .viz import figure_and_axes

CARD_PATH = Path(__file__).resolve().parent.parent.parent / "data" / "model_card.json"
PRESETS = {"7B": LLAMA2_7B, "13B": LLAMA2_13B, "70B": LLAMA2_70B}
BYTES_PER_PARAM = {"fp32": 4, "bf16": 2, "int8": 1}
GIB = 2**30  # memory is quoted in GiB, as GPU memory is ("80GB" on an A100 means 80 GiB)
A100_BF16_PEAK_FLOPS = 312e12  # dense, no sparsity: NVIDIA's A100 datasheet


def load_card(path: str | Path = CARD_PATH) -> dict:
    """The model card's facts as a dict (see data/model_card.json: every section has a "source")."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model card data at {path}: it ships with the kit as data/model_card.json")
    return json.loads(path.read_text())


def card_rows(section: dict) -> list[dict]:
    """A score table of the card as one dict per model: {"model": "Llama 2 7B", "Code": 16.8, ...}."""
    return [{"model": f"{row['family']} {row['size']}", **dict(zip(section["columns"], row["scores"]))}
            for row in section["rows"]]


# ---------------------------------------------------------------------------------------------- parameters

def parameter_count(args: ModelArgs) -> int:
    """Parameters of a model with these hyper-parameters, counted without allocating any memory."""
    return build_model(args, device="meta").num_parameters()


def _component(name: str) -> str:
    if name.startswith("tok_embeddings."):
        return "embeddings"
    if name.endswith("norm.weight"):  # attention_norm, ffn_norm and the final norm
        return "norms"
    if ".attention." in name:
        return "attention"
    if ".feed_forward." in name:
        return "feed_forward"
    if name.startswith("output."):
        return "output"
    raise ValueError(f"parameter {name!r} belongs to no known component")


def parameter_breakdown(args: ModelArgs) -> dict[str, int]:
    """Parameters per component: embeddings, attention (wq wk wv wo), feed_forward (w1 w2 w3), norms, output."""
    counts = dict.fromkeys(["embeddings", "attention", "feed_forward", "norms", "output"], 0)
    for name, p in build_model(args, device="meta").named_parameters():
        counts[_component(name)] += p.numel()
    return counts


def weight_bytes(n_params: int, dtype: str = "bf16") -> int:
    """Memory of `n_params` weights all stored at `dtype` (int8: a byte each, its scales left out): what a parameter
    count alone tells (no activations, no cache, no optimizer state). quantize.weight_bytes counts a model's shape
    exactly, scales included (memory_rows uses it); for fp32 and bf16 the two agree."""
    if dtype not in BYTES_PER_PARAM:
        raise ValueError(f"dtype={dtype!r}: use one of {sorted(BYTES_PER_PARAM)}")
    return n_params * BYTES_PER_PARAM[dtype]


# ---------------------------------------------------------------------------------------------- KV cache

def kv_cache_bytes_per_token(args: ModelArgs, bytes_per_value: int = 2, gqa: bool = True) -> int:
    """Bytes of keys and values one token leaves in the cache, over all layers.

    gqa=False asks what the cache would hold if every query head had its own key/value head.
    """
    kv_heads = args.kv_heads if gqa else args.n_heads
    return 2 * args.n_layers * kv_heads * args.head_dim * bytes_per_value


def kv_cache_bytes(args: ModelArgs, seq_len: int | None = None, batch_size: int = 1, bytes_per_value: int = 2,
                   gqa: bool = True) -> int:
    """Bytes of the cache for `batch_size` sequences of `seq_len` tokens (default: the full 4k context)."""
    seq_len = args.max_seq_len if seq_len is None else seq_len
    return kv_cache_bytes_per_token(args, bytes_per_value, gqa) * seq_len * batch_size


# ---------------------------------------------------------------------------------------------- fitting

# One GPU's memory in GiB, as each maker lists it ("80GB" on an A100 means 80 GiB; the driver keeps a little of it):
# NVIDIA's datasheets (B200 as its DGX B200 ships it, 1,440 GB for 8 GPUs; the chip carries 192 GB) and AMD's.
# The T4 (16 GB) is the GPU of many free notebook services: where a learner's fine-tuning often starts.
GPU_MEMORY = {"T4": 16, "RTX 4090": 24, "A100-40GB": 40, "A100-80GB": 80, "H100-80GB": 80, "H200": 141, "B200": 180,
              "MI300X": 192}
WIDTHS = (None, "int8", "int4-g128")  # bfloat16, then weight-only quantization (llama_lab.quantize)


def gpu_sizes(cards: dict[str, int] = GPU_MEMORY) -> dict[str, int]:
    """The cards' memory sizes as table columns, smallest first: {"16 GiB": 16, "24 GiB": 24, ...}."""
    return {f"{gib} GiB": gib for gib in sorted(set(cards.values()))}


GPUS = gpu_sizes()


def memory_rows(seq_len: int = 4096, batch_size: int = 1, gpus: dict[str, int] = GPUS) -> list[dict]:
    """For each preset and width: GiB of weights (llama_lab.quantize.weight_bytes: scales included, embedding and
    norms in bfloat16), of the bf16 KV cache for `batch_size` sequences of `seq_len` tokens, their sum, and how
    many GPUs of each size that sum needs (the whole model split evenly; activations and workspace left out).

    Example: 70B at int4 in groups of 128 holds 35.0 GiB of weights and 1.25 GiB of cache: one 40 GiB GPU.
    """
    rows = []
    for size, args in PRESETS.items():
        for width in WIDTHS:
            weights = quantize.weight_bytes(args, width) / GIB
            cache = kv_cache_bytes(args, seq_len, batch_size) / GIB
            row = {"model": size, "weights": width or "bf16", "weights GiB": weights, "KV cache GiB": cache,
                   "total GiB": weights + cache}
            row.update({gpu: math.ceil((weights + cache) / memory) for gpu, memory in gpus.items()})
            rows.append(row)
    return rows


def sequences_beside_weights(args: ModelArgs, memory_gib: float, width: str | None = None,
                             seq_len: int | None = None) -> int:
    """How many sequences of `seq_len` tokens (default: the full context) have room for their bf16 KV cache beside
    the weights at `width` on one GPU of `memory_gib` GiB: 0 when the weights leave no room for one (or do not fit
    at all). Activations and the framework's workspace are left out: keep a few GiB spare.

    Example: 70B in bfloat16 on a 141 GiB H200: 141 - 128.5 = 12.5 GiB spare, 1.25 GiB per 4k sequence -> 10.
    """
    spare = memory_gib * GIB - quantize.weight_bytes(args, width)
    return max(0, int(spare // kv_cache_bytes(args, seq_len)))


def one_gpu_rows(size: str = "70B", seq_len: int = 4096, cards: dict[str, int] = GPU_MEMORY) -> list[dict]:
    """For each card, how many `seq_len`-token sequences Llama 2 `size` serves on that one GPU at each width
    (sequences_beside_weights; 0: it does not fit)."""
    return [{"GPU": card, "GiB": gib, **{width or "bf16": sequences_beside_weights(PRESETS[size], gib, width, seq_len)
                                         for width in WIDTHS}}
            for card, gib in cards.items()]


# ---------------------------------------------------------------------------------------------- compute

def training_flops(n_params: int, tokens: int | float) -> int | float:
    """6 N D: the usual estimate of the FLOPs to train N parameters on D tokens (attention's own FLOPs left out)."""
    return 6 * n_params * tokens


def implied_utilisation(flops: float, gpu_hours: float, peak_flops: float = A100_BF16_PEAK_FLOPS) -> float:
    """The fraction of the GPUs' peak that `flops` in `gpu_hours` would have used (model FLOPs utilisation)."""
    return flops / (gpu_hours * 3600 * peak_flops)


# ---------------------------------------------------------------------------------------------- emissions

def energy_mwh(gpu_hours: float, power_w: float) -> float:
    """Energy in MWh: GPU hours x watts per GPU, over 1e6 Wh per MWh."""
    return gpu_hours * power_w / 1e6


def carbon_intensity(rows: list[dict]) -> float:
    """tCO2eq per MWh implied by the rows: their total emissions over their total energy."""
    tonnes = sum(row["tco2eq"] for row in rows)
    mwh = sum(energy_mwh(row["gpu_hours"], row["power_w"]) for row in rows)
    return tonnes / mwh


def emissions_tco2eq(gpu_hours: float, power_w: float, intensity: float) -> float:
    """tCO2eq of a training run: its energy (MWh) times the carbon intensity (tCO2eq per MWh)."""
    return energy_mwh(gpu_hours, power_w) * intensity


def emissions_against_card(rows: list[dict], intensity: float, places: int = 2) -> list[dict]:
    """Each row's emissions recomputed at one intensity and set against its published figure, which is rounded to
    `places` decimals (the card's 0.01 t).

    Per row: its energy ("MWh"), the emissions at `intensity` ("computed t") and rounded as the card rounds
    ("rounded t"), the card's figure ("card t"), the rounded figure minus the card's ("off t": 0 where the row is
    reproduced), and the intensities whose result rounds to the card's figure ("lowest t/MWh" to
    "highest t/MWh": half a unit of the last place either side of it, over the row's energy). One intensity can
    give every row's figure only if it lies in all of these ranges.
    Example: 184,320 h x 400 W = 73.728 MWh; at 0.4235 t/MWh -> 31.223 t, rounded 31.22: the card's 31.22, off 0.
    """
    half = 0.5 * 10**-places
    table = []
    for row in rows:
        mwh = energy_mwh(row["gpu_hours"], row["power_w"])
        computed = mwh * intensity
        rounded = round(computed, places)
        table.append({"model": row["model"], "MWh": mwh, "computed t": computed, "rounded t": rounded,
                      "card t": row["tco2eq"], "off t": round(rounded - row["tco2eq"], places),
                      "lowest t/MWh": (row["tco2eq"] - half) / mwh, "highest t/MWh": (row["tco2eq"] + half) / mwh})
    return table


# ---------------------------------------------------------------------------------------------- the recipe

# Where the kit's default recipe parts from the paper's, and why: `recipe_against_paper` gives these reasons, and a
# test fails when the defaults differ somewhere not listed here.
KIT_DIFFERS = {
    "peak learning rate": "a model of a few million parameters trains stably at a higher rate, and has hundreds "
                          "of times fewer steps to learn in; the paper too lowers the rate as the model grows "
                          "(1.5e-4 for 34B and 70B)",
    "warm-up steps": "scaled down with the run, which is hundreds of times shorter",
    "tokens per step": "a batch one laptop CPU can take; 4M tokens a step needs a cluster of GPUs",
    "optimizer steps": "a run of minutes to an hour on one machine",
    "training tokens": "the tiny world is a small corpus, which pretraining reads about once",
    "context length": "attention's cost grows with the square of the context, and most of the tiny world's "
                      "documents fit in the kit's",
}


def table1_rows(card: dict, family: str = "Llama 2") -> list[dict]:
    """The paper's Table 1 rows of one family ("Llama 1" or "Llama 2"): size, context, GQA, tokens, peak lr."""
    rows = [row for row in card["llama1_to_llama2"]["rows"] if row["family"] == family]
    if not rows:
        raise ValueError(f"family={family!r}: Table 1 has 'Llama 1' and 'Llama 2'")
    return rows


def _whole(value):
    """2.0e12 -> 2000000000000 (an int prints with thousands separators); 0.95 stays 0.95."""
    return int(value) if isinstance(value, float) and value >= 1 and value.is_integer() else value


def recipe_against_paper(cfg: TrainConfig, card: dict, size: str = "7B") -> list[dict]:
    """The kit's pretraining recipe beside the paper's for Llama 2 `size`, one dict per setting.

    Each: "setting", "paper" (section 2.2, Table 1 and the card's 4M-token batch), "kit" (what `cfg` trains
    with: the AdamW `train.make_optimizer` builds from it, the schedule `train.lr_at` gives, its batch and
    context), "same" (equal to rounding), and "why" (KIT_DIFFERS' reason where they differ, else "").
    Example: with TrainConfig() the betas, eps, weight decay, clipping and the final 10% agree with the paper.
    """
    paper_recipe = card["pretraining_recipe"]
    [row] = [r for r in table1_rows(card) if r["size"] == size] or [None]
    if row is None:
        raise ValueError(f"size={size!r}: Table 1's Llama 2 sizes are {[r['size'] for r in table1_rows(card)]}")
    batch_tokens = card["global_batch_tokens"]["value"]
    decayed, not_decayed = make_optimizer(nn.Linear(1, 1), cfg).param_groups  # the weight, then the bias
    kit_batch = cfg.batch_size * cfg.seq_len
    settings = [
        ("AdamW beta1", paper_recipe["beta1"], decayed["betas"][0]),
        ("AdamW beta2", paper_recipe["beta2"], decayed["betas"][1]),
        ("AdamW eps", paper_recipe["eps"], decayed["eps"]),
        ("weight decay", paper_recipe["weight_decay"], decayed["weight_decay"]),
        ("gradient clipping (norm)", paper_recipe["grad_clip"], cfg.grad_clip),
        ("peak learning rate", row["learning_rate"], max(lr_at(s, cfg) for s in range(cfg.warmup + 1))),
        ("warm-up steps", paper_recipe["warmup_steps"], cfg.warmup),
        ("final lr / peak lr", paper_recipe["final_lr_ratio"], lr_at(cfg.steps, cfg) / cfg.lr),
        ("tokens per step", batch_tokens, kit_batch),
        ("optimizer steps", row["pretraining_tokens"] / batch_tokens, cfg.steps),
        ("training tokens", row["pretraining_tokens"], cfg.steps * kit_batch),
        ("context length", row["context_length"], cfg.max_seq_len),
    ]
    table = []
    for setting, paper, kit in settings:
        same = math.isclose(paper, kit, rel_tol=1e-9)
        table.append({"setting": setting, "paper": _whole(paper), "kit": _whole(kit), "same": same,
                      "why": "" if same else KIT_DIFFERS.get(setting, "not explained: add a reason to KIT_DIFFERS")})
    return table


def paper_schedule(card: dict, size: str = "7B") -> TrainConfig:
    """The paper's learning-rate schedule for Llama 2 `size` as a TrainConfig, for `train.lr_at`: its peak lr,
    warm-up, steps (tokens over the 4M-token batch) and final ratio; the other fields stay the kit's defaults."""
    recipe = card["pretraining_recipe"]
    row = next(r for r in table1_rows(card) if r["size"] == size)
    steps = round(row["pretraining_tokens"] / card["global_batch_tokens"]["value"])
    return replace(TrainConfig(), lr=row["learning_rate"], warmup=recipe["warmup_steps"], steps=steps,
                   min_lr_ratio=recipe["final_lr_ratio"])


def _by_size(rows: list[dict], key: str, show) -> str:
    """One family's values of `key`, each with the sizes that share it: "1.0T (7B, 13B); 1.4T (33B, 65B)"."""
    groups = {}
    for row in rows:
        groups.setdefault(show(row[key]), []).append(row["size"])
    if len(groups) == 1:
        return next(iter(groups)) + " (every size)"
    return "; ".join(f"{value} ({', '.join(sizes)})" for value, sizes in groups.items())


def llama1_to_llama2(card: dict) -> list[dict]:
    """What changed from Llama 1 to Llama 2, one dict per aspect ("aspect", "Llama 1", "Llama 2"): context,
    tokens, GQA and peak learning rate read off the paper's Table 1, then the card's rows for data, tokenizer,
    architecture and optimiser (sections 2.1-2.2)."""
    families = {family: table1_rows(card, family) for family in ("Llama 1", "Llama 2")}
    measured = [("context length", "context_length", lambda n: f"{n:,}"),
                ("pretraining tokens", "pretraining_tokens", lambda n: f"{n / 1e12:.1f}T"),
                ("peak learning rate", "learning_rate", lambda lr: f"{lr:.1e}")]
    table = [{"aspect": aspect, **{family: _by_size(rows, key, show) for family, rows in families.items()}}
             for aspect, key, show in measured]
    table.append({"aspect": "grouped-query attention",
                  **{family: ", ".join(r["size"] for r in rows if r["gqa"]) or "none"
                     for family, rows in families.items()}})
    return table + card["llama1_to_llama2"]["other"]


# ---------------------------------------------------------------------------------------------- printing

# ---------------------------------------------------------------------------------------------- languages

def pretraining_tokens(card: dict) -> float:
    """The pretraining tokens of Llama 2, the same for every size (the card's Model Details): 2.0e12."""
    counts = {row["pretraining_tokens"] for row in card["models"]["rows"]}
    if len(counts) != 1:
        raise ValueError(f"the card's sizes were pretrained on different token counts {sorted(counts)}: "
                         "give the size whose tokens the languages' shares are of")
    return counts.pop()


def pretraining_languages(card: dict) -> list[dict]:
    """The paper's Table 10 as rows, largest share first: {"code", "language", "percent", "tokens"}, the tokens being
    the language's share of `pretraining_tokens`. Table 10 lists only the languages with at least
    card["pretraining_languages"]["floor_percent"] (0.005%) of the data. Example: German, 0.17% of 2.0e12 tokens,
    is 3.4e9 tokens; the floor is 1e8 tokens."""
    total = pretraining_tokens(card)
    rows = [{**row, "tokens": row["percent"] / 100 * total} for row in card["pretraining_languages"]["rows"]]
    return sorted(rows, key=lambda row: -row["percent"])


def format_table(rows: list[dict], formats: dict[str, str] | None = None) -> str:
    """Rows of dicts as an aligned text table; `formats` maps a column to a format spec (e.g. ",.0f")."""
    formats = formats or {}
    columns = list(rows[0])
    cells = [[format(row[c], formats.get(c, "")) for c in columns] for row in rows]
    return text_table(columns, cells, align="<>")  # the first column (names) to the left, numbers to the right


# ---------------------------------------------------------------------------------------------- plots

def _family_colors(rows: list[dict]) -> list:
    """Llama 1 in blues, Llama 2 in oranges, Llama-2-Chat in greens; the bigger the model, the darker."""
    maps = {"Llama 1": plt.cm.Blues, "Llama 2": plt.cm.Oranges, "Llama-2-Chat": plt.cm.Greens}
    totals = Counter(row["family"] for row in rows)
    seen = Counter()
    colors = []
    for row in rows:
        family = row["family"]
        colors.append(maps[family](0.4 + 0.45 * seen[family] / max(totals[family] - 1, 1)))
        seen[family] += 1
    return colors


def plot_academic_benchmarks(card: dict, ax=None):
    """Grouped bars: one group per benchmark, one bar per model, Llama 1 beside Llama 2. Returns the figure; `ax`
    draws into a panel of yours (`viz.figure_and_axes`)."""
    section = card["academic_benchmarks"]
    rows, columns = section["rows"], section["columns"]
    fig, ax = figure_and_axes(ax, figsize=(12, 4.5))
    width = 0.8 / len(rows)
    x = np.arange(len(columns))
    for i, (row, color) in enumerate(zip(rows, _family_colors(rows))):
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, row["scores"], width, color=color,
               label=f"{row['family']} {row['size']}")
    ax.set_xticks(x, [name.replace(" ", "\n", 1) for name in columns])  # "Commonsense\nReasoning"
    ax.set_ylim(0, 90)
    ax.set_ylabel("score (%), higher is better")
    ax.set_xlabel("benchmark group")
    ax.set_title("Llama 1 vs Llama 2 on grouped academic benchmarks (model card)")
    ax.legend(ncol=4, fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_safety(card: dict):
    """TruthfulQA and ToxiGen side by side: pretrained Llama 1, Llama 2, and Llama-2-Chat. Two panels: a figure of
    its own, returned."""
    rows = card["safety_pretrained"]["rows"] + card["safety_chat"]["rows"]
    labels = [f"{row['family'].replace('Llama-2-', '')}\n{row['size']}" for row in rows]  # "Chat\n7B"
    colors = _family_colors(rows)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    titles = ["TruthfulQA: truthful and informative (higher is better)",
              "ToxiGen: toxic generations (lower is better)"]
    for k, (ax, title) in enumerate(zip(axes, titles)):
        bars = ax.bar(range(len(rows)), [row["scores"][k] for row in rows], color=colors)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)  # the chat models' ToxiGen bars are too small to see
        ax.set_xticks(range(len(rows)), labels, fontsize=8)
        ax.margins(y=0.12)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("model")
        ax.set_ylabel("generations (%)")
    fig.suptitle("Automatic safety benchmarks: pretrained Llama 1 and Llama 2 vs Llama-2-Chat (model card)")
    fig.tight_layout()
    return fig


def plot_pretraining_languages(card: dict, ax=None):
    """Table 10 as bars: each listed language's pretraining tokens on a log scale, with the table's floor (0.005%
    of the data) as the line under which a language, Turkish among them, goes unlisted. Returns the figure; `ax`
    draws into a panel of yours (`viz.figure_and_axes`)."""
    rows = pretraining_languages(card)
    floor = card["pretraining_languages"]["floor_percent"] / 100 * pretraining_tokens(card)
    fig, ax = figure_and_axes(ax, figsize=(8, 7))
    labels = [f"{row['language']} ({row['code']})" if row["code"] != "unknown" else "unknown" for row in rows]
    colors = ["tab:blue" if row["code"] == "en" else "tab:grey" if row["code"] == "unknown" else "tab:orange"
              for row in rows]
    bars = ax.barh(range(len(rows)), [row["tokens"] for row in rows], color=colors)
    ax.bar_label(bars, [f"{row['percent']:.2f}%" for row in rows], padding=3, fontsize=7)
    ax.axvline(floor, color="black", linestyle="--", linewidth=1)
    ax.text(floor * 30, len(rows) - 1, f"dashed: Table 10's floor, {floor:.0e} tokens (0.005%);\n"
            "the unlisted languages, Turkish among them, are below it", fontsize=8, va="bottom")
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()  # the largest share on top
    ax.set_xscale("log")
    ax.set_xlim(floor / 3, rows[0]["tokens"] * 20)  # room for the labels
    ax.set_xlabel(f"pretraining tokens (log scale; {pretraining_tokens(card):.1e} in all)")
    ax.set_ylabel("language (ISO 639-1 code)")
    ax.set_title("Llama 2's pretraining data by language (paper, Table 10)")
    fig.tight_layout()
    return fig


def plot_kv_cache(seq_lens=(512, 1024, 2048, 4096), bytes_per_value: int = 2, ax=None):
    """KV-cache GiB of one sequence against its length, each preset, and 70B as it would be without GQA."""
    fig, ax = figure_and_axes(ax, figsize=(7, 4))
    for size, args in PRESETS.items():
        ax.plot(seq_lens, [kv_cache_bytes(args, n, bytes_per_value=bytes_per_value) / GIB for n in seq_lens],
                marker="o", label=f"{size}" + (" (GQA, 8 KV heads)" if args.kv_heads < args.n_heads else ""))
    ax.plot(seq_lens, [kv_cache_bytes(LLAMA2_70B, n, bytes_per_value=bytes_per_value, gqa=False) / GIB
                       for n in seq_lens], marker="o", linestyle="--", label="70B without GQA (64 KV heads)")
    ax.set_xlabel("sequence length (tokens)")
    ax.set_ylabel(f"KV cache (GiB, {8 * bytes_per_value}-bit values)")
    ax.set_title("KV-cache memory of one sequence")
    ax.legend()
    fig.tight_layout()
    return fig
