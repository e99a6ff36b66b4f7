"""Writing the corpus: every file of the tiny world, into one folder, byte for byte the same for the same seed.

Files written by `write_corpus` (and `python -m llama_lab.world.tinyworld --out data/world`)
--------------------------------------------------------------------------------------
    train.txt, val.txt     pretraining documents; each document is followed by one empty line. Documents never
                           contain an empty line, so `text.split("\\n\\n")` (or `read_documents`) recovers them.
    chat_train.jsonl, chat_val.jsonl     one dialog per line: {"messages": [{"role": ..., "content": ...}, ...]}
    chat_round_{two,three}_{train,val}.jsonl   the later chat rounds' dialogs (`chat_dialogs_round`), when asked for
    world.json             the fact base
    *_eval.jsonl           the held-out evaluation sets (small; committed), toxicity_{train,val}.jsonl
Same seed, same bytes.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

from ..files import replacing
from ..progress import progress
from .dialogs import chat_dialogs, chat_dialogs_round
from .documents import pretraining_documents
from .heldout import (fact_questions, harmful_requests, held_out_phrasings, out_of_world_questions, request_items,
                      toxicity_examples, toxicity_prompts, truthfulness_items)
from .world import DEFAULT_SEED, World, build_world


def read_documents(path) -> list[str]:
    """The documents of a train.txt / val.txt written by `write_corpus`."""
    return [d for d in Path(path).read_text(encoding="utf-8").split("\n\n") if d.strip()]


def write_jsonl(path: Path, rows) -> int:
    """Write `rows` to `path` as JSON Lines (one JSON object a line, UTF-8 left unescaped) and return how many.
    The file is written whole or not at all (files.replacing). JSON escapes a line break inside a string; a
    U+2028 line separator stays as it is, so whoever reads the file must cut lines at "\n" only."""
    with replacing(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        n = 0
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def eval_files(world: World) -> dict[str, list[dict]]:
    """The small JSONL files `write_corpus` writes next to the corpus: file name -> rows."""
    return {
        "fact_questions_eval.jsonl": fact_questions(world, "eval"),
        "harmful_requests_eval.jsonl": [{"request": r} for r in harmful_requests(world, "eval")],
        "benign_requests_eval.jsonl": request_items(world, "eval", harmful=False),
        "out_of_world_eval.jsonl": out_of_world_questions(world, "eval"),
        "phrasings_eval.jsonl": held_out_phrasings(world),
        "truthfulness_eval.jsonl": truthfulness_items(world, "eval"),
        "toxicity_eval.jsonl": [{"text": t, "label": y} for t, y in toxicity_examples(world, "eval")],
        "toxicity_prompts_eval.jsonl": [{"prompt": p} for p in toxicity_prompts(world, "eval")],
        "toxicity_train.jsonl": [{"text": t, "label": y} for t, y in toxicity_examples(world, "train")],
        "toxicity_val.jsonl": [{"text": t, "label": y} for t, y in toxicity_examples(world, "val")],
    }


# Default sizes: ~20 MB of training text (about 5M tokens with a 4k-piece vocabulary), 16k chat dialogs.
N_TRAIN_DOCS, N_VAL_DOCS, N_TRAIN_CHAT, N_VAL_CHAT = 40_000, 1_000, 16_000, 800


def write_corpus(out_dir, seed: int = DEFAULT_SEED, n_train_docs: int = N_TRAIN_DOCS, n_val_docs: int = N_VAL_DOCS,
                 n_train_chat: int = N_TRAIN_CHAT, n_val_chat: int = N_VAL_CHAT, n_train_chat_round_two: int = 0,
                 n_val_chat_round_two: int = 0, n_train_chat_round_three: int = 0,
                 n_val_chat_round_three: int = 0) -> dict:
    """Write every file of the tiny world into `out_dir` and return a summary (counts, bytes, seconds).

    Same arguments, byte-identical files. See the module docstring for the file list and formats. Each file is
    written whole or not at all (files.replacing): a stopped run leaves no truncated text for the next to read.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    world = build_world(seed)
    counts = {}
    for split, n in (("train", n_train_docs), ("val", n_val_docs)):
        with replacing(out / f"{split}.txt") as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for doc in progress(pretraining_documents(world, split, n, seed=seed), f"{split}.txt", n, "doc"):
                f.write(doc + "\n\n")
        counts[f"{split}.txt"] = n
    for split, n in (("train", n_train_chat), ("val", n_val_chat)):
        counts[f"chat_{split}.jsonl"] = write_jsonl(
            out / f"chat_{split}.jsonl", ({"messages": d} for d in progress(chat_dialogs(world, split, n, seed=seed),
                                                                            f"chat_{split}.jsonl", n, "dialog")))
    later = {("two", "train"): n_train_chat_round_two, ("two", "val"): n_val_chat_round_two,
             ("three", "train"): n_train_chat_round_three, ("three", "val"): n_val_chat_round_three}
    for (round_name, split), n in later.items():
        if n:
            counts[f"chat_round_{round_name}_{split}.jsonl"] = write_jsonl(
                out / f"chat_round_{round_name}_{split}.jsonl",
                ({"messages": d} for d in progress(chat_dialogs_round(world, split, n, seed, round_name),
                                                   f"chat_round_{round_name}_{split}.jsonl", n, "dialog")))
    with replacing(out / "world.json") as tmp:
        tmp.write_text(json.dumps(asdict(world), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    evals = eval_files(world)
    for name, rows in evals.items():
        counts[name] = write_jsonl(out / name, rows)
    files = sorted(p.name for p in out.iterdir() if p.name in counts or p.name == "world.json")
    return {"seed": seed, "out_dir": str(out), "counts": counts,
            "bytes": {name: (out / name).stat().st_size for name in files},
            "seconds": round(time.perf_counter() - start, 1)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Write the tiny world's corpus and evaluation sets.")
    parser.add_argument("--out", default="data/world", help="output folder (default: data/world)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--train-docs", type=int, default=N_TRAIN_DOCS)
    parser.add_argument("--val-docs", type=int, default=N_VAL_DOCS)
    parser.add_argument("--train-chat", type=int, default=N_TRAIN_CHAT)
    parser.add_argument("--val-chat", type=int, default=N_VAL_CHAT)
    args = parser.parse_args(argv)
    summary = write_corpus(args.out, args.seed, args.train_docs, args.val_docs, args.train_chat, args.val_chat)
    for name, size in summary["bytes"].items():
        print(f"{name:32s} {summary['counts'].get(name, ''):>8} rows {size / 1e6:8.2f} MB")
    print(f"seed {summary['seed']}, {summary['seconds']} s")


if __name__ == "__main__":
    main()
