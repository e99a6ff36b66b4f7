"""`make data`: the kit's tiny Llama 2, rebuilt from nothing: corpus, tokenizer, base model, chat model, cards.

    1. the tiny world's corpus           tinyworld.write_corpus        -> data/world/ (not committed: regenerated)
    2. a 4096-piece tokenizer            tokenizer.train_tokenizer     -> data/tokenizer.model
    3. pretraining                       python -m llama_lab.train     -> data/tiny-base/
    4. chat fine-tuning from the base    python -m llama_lab.train     -> runs/tiny-chat/round-one/
       a second round from it            python -m llama_lab.train     -> runs/tiny-chat/round-two/
       and a third from the second       python -m llama_lab.train     -> data/tiny-chat/
    5. evaluation and model cards        llama_lab.world.evaluate      -> data/tiny-*/MODEL_CARD.md, model_card.json

Training state (resumable checkpoints, float32 weights) goes to runs/. The step counts below keep the whole build
between 75 and 95 minutes on a 2-core CPU (pretraining 38-43, the first chat round 22-29, the second 7.5-11, the
third 2-3, the rest 3, the longer figures where other jobs shared the CPU; the model cards record what each stage
took where the shipped models were built). `--resume` continues an interrupted build; a GPU is picked up
automatically and is much faster.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

from .. import train
from . import evaluate, tinyworld
from .corpus_settings import CORPUS, WORLD_SEED
from .model_card import write_model_card
from ..chat import fold_system_prompt, turn_text
from ..model import TINY, ModelArgs
from ..progress import count, duration, summary
from ..tokenizer import train_tokenizer

ROOT = Path(__file__).resolve().parent.parent.parent
TOKENIZER_DIALOGS = 24_000  # the tokenizer reads the first 24,000: every phrase of the chat data is in them
VOCAB_SIZE = TINY.vocab_size
# the tiny model's shape (model.TINY) as the flags of `python -m llama_lab.train`: --dim 192 --n-layers 6 ...
MODEL = [arg for name in ("dim", "n_layers", "n_heads", "n_kv_heads", "multiple_of", "max_seq_len")
         for arg in ("--" + name.replace("_", "-"), str(getattr(TINY, name)))]
PRETRAIN = ["--batch-size", "16", "--seq-len", "256", "--steps", "1800", "--lr", "2e-3", "--warmup", "100",
            "--eval-interval", "200", "--save-interval", "100"]
CHAT = ["--batch-size", "16", "--seq-len", "256", "--steps", "2400", "--lr", "5e-4", "--warmup", "30",
        "--eval-interval", "400", "--save-interval", "400"]
CHAT_ROUND_TWO = ["--batch-size", "16", "--seq-len", "256", "--steps", "800", "--lr", "3e-4", "--warmup", "30",
                  "--eval-interval", "400", "--save-interval", "400"]
CHAT_ROUND_THREE = ["--batch-size", "16", "--seq-len", "256", "--steps", "400", "--lr", "2e-4", "--warmup", "30",
                    "--eval-interval", "200", "--save-interval", "400"]
# Each later chat round starts from the round before it: (name, hyper-parameters, the folder its model goes to,
# relative to runs/, or None for data/tiny-chat).
LATER_ROUND_TRAINING = [("two", CHAT_ROUND_TWO, "tiny-chat/round-two"), ("three", CHAT_ROUND_THREE, None)]


def hardware(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name()} (CUDA)"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, {device}"


def tokenizer_text(world_dir: Path) -> Path:
    """The tokenizer's training text: the pretraining documents and the exchanges of the first TOKENIZER_DIALOGS
    chat dialogs in the chat format, so that "[INST]", "<<SYS>>" and the assistant's phrases get pieces of their
    own."""
    path = world_dir / "tokenizer_text.txt"
    with open(path, "w", encoding="utf-8") as out:
        out.write((world_dir / "train.txt").read_text(encoding="utf-8"))
        for dialog in train.read_dialogs(world_dir / "chat_train.jsonl")[:TOKENIZER_DIALOGS]:
            dialog = fold_system_prompt(dialog)
            for prompt, answer in zip(dialog[::2], dialog[1::2]):
                # one exchange a line, without the space that closes an exchange before its EOS
                out.write(turn_text(prompt["content"], answer["content"])[:-1] + "\n")
    return path


def with_option(argv: list[str], flag: str, value) -> list[str]:
    """`argv` with `flag` set to `value`: the value replaced where the flag is given already, else appended, so
    that the command echoed (and recorded in the model card) names each option once.
    Example: (["--steps", "1800", "--lr", "2e-3"], "--steps", 5) -> ["--steps", "5", "--lr", "2e-3"]."""
    if flag not in argv:
        return [*argv, flag, str(value)]
    at = argv.index(flag)
    return [*argv[:at + 1], str(value), *argv[at + 2:]]


def with_steps(argv: list[str], steps: int | None) -> list[str]:
    """A training command with its steps overridden (and the warm-up a tenth of them); None leaves it as it is."""
    if not steps:
        return argv
    return with_option(with_option(argv, "--steps", steps), "--warmup", max(1, steps // 10))


def corpus_summary(counts: dict[str, int]) -> str:
    """What `write_corpus` wrote, in words. Example: "72,000 documents, 72,800 chat dialogs, 9 held-out sets"."""
    documents = sum(n for name, n in counts.items() if name.endswith(".txt"))
    dialogs = sum(n for name, n in counts.items() if name.startswith("chat_"))
    held_out = sum(name.endswith("_eval.jsonl") for name in counts)
    return f"{count(documents, 'document')}, {count(dialogs, 'chat dialog')}, {count(held_out, 'held-out set')}"


def trained(result: dict) -> str:
    """A training run's result (`train.main`'s summary) in words: "1,800 steps, validation loss 0.443 nats/token"."""
    loss = result["final_val_loss"]
    return count(result["steps"], "step") + ("" if loss is None else f", validation loss {loss:.3f} nats/token")


def run_training(argv: list[str]) -> dict:
    command = "python -m llama_lab.train " + shlex.join(_relative(a) for a in argv)  # as run from the repo root
    print(f"\n$ {command}", flush=True)
    summary = train.main(argv)
    summary["command"] = command
    return summary


def model_card(variant: str, summary: dict, cfg: train.TrainConfig, description: str) -> dict:
    args = summary["model_args"]
    return {
        "name": f"llama-lab tiny-{variant}", "variant": variant, "description": description,
        "model_args": args, "parameters": summary["parameters"],
        "hidden_dim": ModelArgs.from_dict(args).hidden_dim, "stored_dtype": cfg.export_dtype,
        "training": {**{k: _relative(v) if isinstance(v, str) else v for k, v in cfg.numerics().items()},
                     "steps": summary["steps"], "tokens_seen": summary["tokens_seen"],
                     "final_train_loss": summary["final_train_loss"], "final_val_loss": summary["final_val_loss"],
                     "wall_s": summary["wall_s"], "val_curve": summary["history"]["val"]},
        "hardware": hardware(summary["device"]), "command": summary["command"],
        "world_seed": WORLD_SEED, "corpus": CORPUS,
    }


def later_round_commands(data: Path, runs: Path, common: list[str]) -> list[list[str]]:
    """The later chat rounds' training commands, each from the previous round's model, on its own dialogs."""
    world, previous, commands = data / "world", runs / "tiny-chat" / "round-one", []
    for name, hyper, folder in LATER_ROUND_TRAINING:
        export = runs / folder if folder else data / "tiny-chat"
        commands.append([*hyper, "--stage", "chat", "--init", str(previous),
                         "--data", str(world / f"chat_round_{name}_train.jsonl"),
                         "--val-data", str(world / f"chat_round_{name}_val.jsonl"),
                         "--out", str(runs / f"tiny-chat-round-{name}"), "--export", str(export), *common])
        previous = export
    return commands


def chat_card(rounds: list[tuple[dict, list[str]]]) -> dict:
    """The chat model's card: the last round's training, with the earlier rounds' beside it. `rounds`: each
    round's (training summary, command line), first round first."""
    *earlier, (last, last_argv) = rounds
    card = model_card("chat", last, train.parse_args(last_argv),
                      f"tiny-base fine-tuned on Llama-2-chat dialogs in {len(rounds)} rounds (loss on the "
                      "assistant's tokens only), each after the first aimed at what the one before taught worst: it "
                      "answers questions about the tiny world, declines what it cannot know and refuses harmful "
                      "requests.")
    card["earlier_rounds"] = [{k: model_card("chat", summary, train.parse_args(argv), "")[k]
                               for k in ("training", "command")} for summary, argv in earlier]
    return card


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(ROOT / "data"))
    parser.add_argument("--runs-dir", default=str(ROOT / "runs"))
    parser.add_argument("--pretrain-steps", type=int, default=None, help="override (for a quick trial run)")
    parser.add_argument("--chat-steps", type=int, default=None, help="override (for a quick trial run)")
    parser.add_argument("--resume", action="store_true", help="continue interrupted training runs")
    args = parser.parse_args(argv)
    start, start_cpu = time.perf_counter(), time.process_time()
    timings = {}
    data, runs = Path(args.data_dir), Path(args.runs_dir)
    world = data / "world"

    print(f"1. the tiny world (seed {WORLD_SEED}) -> {world}", flush=True)
    written = tinyworld.write_corpus(world, WORLD_SEED, **CORPUS)
    timings["corpus_s"] = time.perf_counter() - start
    summary("1. the tiny world", f"{corpus_summary(written['counts'])} in {world}", timings["corpus_s"])

    print(f"2. tokenizer ({VOCAB_SIZE} pieces) -> {data / 'tokenizer.model'}", flush=True)
    tokenizer = train_tokenizer(tokenizer_text(world), data / "tokenizer", vocab_size=VOCAB_SIZE)
    (data / "tokenizer.vocab").unlink(missing_ok=True)  # the pieces are in the .model; keep data/ lean
    (world / "tokenizer_text.txt").unlink()
    timings["tokenizer_s"] = time.perf_counter() - start - sum(timings.values())
    summary("2. tokenizer", f"{tokenizer.n_words:,} pieces in {data / 'tokenizer.model'}", timings["tokenizer_s"])

    common = ["--tokenizer", str(data / "tokenizer.model"), "--seed", "1337", "--export-dtype", "bfloat16"]
    common += ["--resume"] if args.resume else []
    pretrain = [*MODEL, *PRETRAIN, "--stage", "pretrain", "--data", str(world / "train.txt"),
                "--val-data", str(world / "val.txt"), "--out", str(runs / "tiny-base"),
                "--export", str(data / "tiny-base"), *common]
    pretrain = with_steps(pretrain, args.pretrain_steps)
    chat = [*CHAT, "--stage", "chat", "--init", str(data / "tiny-base"),
            "--data", str(world / "chat_train.jsonl"), "--val-data", str(world / "chat_val.jsonl"),
            "--out", str(runs / "tiny-chat"), "--export", str(runs / "tiny-chat" / "round-one"), *common]
    chat, *later = [with_steps(command, args.chat_steps)
                    for command in (chat, *later_round_commands(data, runs, common))]

    print("3. pretraining", flush=True)
    base = run_training(pretrain)
    timings["pretrain_s"] = time.perf_counter() - start - sum(timings.values())
    summary("3. pretraining", f"{trained(base)}, tiny-base in {data / 'tiny-base'}", timings["pretrain_s"])
    print(f"4. chat fine-tuning, {1 + len(later)} rounds", flush=True)
    chat_rounds = []
    for number, command in enumerate((chat, *later), start=1):
        round_start = time.perf_counter()
        chat_rounds.append((run_training(command), command))
        summary(f"4. chat round {number} of {1 + len(later)}", trained(chat_rounds[-1][0]),
                time.perf_counter() - round_start)
    timings["chat_s"] = time.perf_counter() - start - sum(timings.values())

    cards = {
        "base": model_card("base", base, train.parse_args(pretrain),
                           "A tiny Llama 2 pretrained on the tiny world's stories, biographies and Q&A notes. It "
                           "continues text; it was never shown a chat, so it does not follow [INST] prompts."),
        "chat": chat_card(chat_rounds),
    }
    for variant, card in cards.items():
        write_model_card(data / f"tiny-{variant}", card)

    print("5. evaluation", flush=True)
    results = evaluate.main(["--data-dir", str(data), "--write-cards"])
    timings["evaluate_s"] = time.perf_counter() - start - sum(timings.values())
    summary("5. evaluation", "both models measured, model cards written", timings["evaluate_s"])
    total = time.perf_counter() - start
    timings.update(total_s=total, total_cpu_s=time.process_time() - start_cpu,
                   load_average_15min=os.getloadavg()[2])  # above the core count: other jobs shared the CPU
    for variant in ("base", "chat"):
        folder = data / f"tiny-{variant}"
        card = json.loads((folder / "model_card.json").read_text())
        card["make_data"] = timings  # wall seconds of each step of `make data`, and CPU seconds of all of it
        write_model_card(folder, card)
    print(f"\nmake data: {duration(total)}; facts {results['chat']['facts_chat']['accuracy']:.1%}, harmful "
          f"refused {results['chat']['chat']['harmful_refused']:.1%}, benign answered "
          f"{results['chat']['chat']['benign_answered']:.1%}", flush=True)


def _relative(arg: str) -> str:
    """Paths under the repository as relative ones, so that the recorded command works in any checkout."""
    return str(Path(arg).relative_to(ROOT)) if arg.startswith(str(ROOT) + os.sep) else arg


if __name__ == "__main__":
    sys.exit(main())
