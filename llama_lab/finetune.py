"""Fine-tuning a Llama 2 on one's own chat data, in full or with LoRA or QLoRA adapters: `python -m llama_lab.finetune`.

    python -m llama_lab.finetune my_dialogs.jsonl --out runs/my-lora                # LoRA on the tiny chat model
    python -m llama_lab.finetune my_dialogs.jsonl --model llama-2-7b-chat-hf --method qlora --out runs/my-qlora
    python -m llama_lab.finetune my_dialogs.jsonl --out runs/my-lora --resume      # after a stop, or --until N

The data is TRL's SFT convention: a .jsonl file, one dialog a line, each an object with a "messages" list:

    {"messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Where does Tom live?"},
                  {"role": "assistant", "content": "In Honeydale."}]}

Each dialog is formatted by Meta's Llama-2-chat rules (llama_lab.chat: the system prompt folded into the first user
message, each exchange `<s>[INST] user [/INST] answer </s>`), and the loss is on the assistant's tokens only (Llama 2,
section 3.1). Every line is checked before anything is trained or written; the first mistake is said as `file:line`
with what is wrong, and the command exits with status 2. A seeded share of the dialogs (--val-share) is held out,
and their loss is reported before training, after each epoch and at the end.

--method: "full" trains every weight (the model is saved whole, in the kit's format); "lora" freezes them and trains
low-rank adapters (llama_lab.lora), saved in Hugging Face peft's format (`adapter_config.json`,
`adapter_model.safetensors`), which `PeftModel.from_pretrained` loads onto the model's Hugging Face export; "qlora"
does the same on a base whose linear layers are stored in NF4 (llama_lab.nf4, the QLoRA paper's 4-bit type), and
--gradient-checkpointing recomputes each block in the backward pass, as QLoRA does, to keep less in memory.
--merge also writes the model with the adapters folded in (--out/merged, the kit's format, or Hugging Face's with
--merge hf). QLoRA's base is NF4, whose integers cannot hold W0 + B A, so with --method qlora --merge is refused:
merge the adapter into the floating-point model instead (load_model, load_adapter, unload_lora), knowing that it was
trained against the NF4-rounded weights.

The defaults are Meta's llama-recipes (the fine-tuning recipes Meta published with Llama 2: configs/peft.py's
lora_config and configs/training.py): LoRA rank r=8, alpha 32, dropout 0.05 on q_proj and v_proj (Meta's wq and wv),
AdamW with learning rate 1e-4 and no weight decay (torch's betas 0.9, 0.999 and eps 1e-8), 4 dialogs a batch, 3
epochs. Where the kit differs: the learning rate stays constant (llama-recipes multiplies it by 0.85 after each
epoch), gradients are clipped at norm 1.0 (llama-recipes' threshold when it clips), and each batch holds whole
dialogs, padded (llama-recipes packs them into 4096-token chunks). Every one is a flag: --lora-r 64 --lora-alpha 16
--lora-dropout 0.1 --lora-targets wq,wk,wv,wo,w1,w2,w3 --lr 2e-4 gives the QLoRA paper's recipe instead.

The run is the training loop of llama_lab.train (a chat stage whose TrainConfig says the method): its progress bar
shows the loss and tokens per second, its checkpoint.pt in --out lets --resume continue exactly where a run stopped.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from .chat import SPECIAL_TAGS, encode_dialog_for_training, fold_system_prompt
from .checkpoint import CheckpointError, load_state
from .checkpoint.adapter import ADAPTER_CONFIG, ADAPTER_WEIGHTS, HF_MODULES
from .cli import OneLineParser, one_line_errors
from .lora import TARGETS
from .tokenizer import Tokenizer
from .train import CHECKPOINT, TrainConfig, split_dialogs, train
from .train.data import read_jsonl
from .world.tiny import tiny_dir

DATA_FORMAT = ('one dialog a line: {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", '
               '"content": "..."}]}, an optional "system" message first')
ROLES = ("system", "user", "assistant")
MERGED = "merged"  # --merge writes the merged model into this folder of --out
# What a run writes into --out; anything else there is someone else's, and the command will not write beside it.
RUN_FILES = {CHECKPOINT, "summary.json", ADAPTER_CONFIG, ADAPTER_WEIGHTS, "params.json", "model.safetensors", MERGED}
# Meta's names for the projections, and peft's (q_proj, ...) as users of peft write them
TARGET_NAMES = {**{t: t for t in TARGETS}, **{hf.split(".")[1]: meta for meta, (_, hf) in HF_MODULES.items()}}


def read_chat_data(path: str | Path, tokenizer: Tokenizer, context: int) -> list[list[dict]]:
    """The dialogs of a .jsonl file, each checked against Meta's Llama-2-chat rules and the model's `context` (its
    max_seq_len, in tokens); the first mistake raises ValueError naming `path:line` and saying what is wrong.

    Example: a line {"messages": [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Hi?"}]} ->
    ValueError("data.jsonl:1: the roles are user, user: ...")
    """
    dialogs = []
    for number, item in read_jsonl(path, f"The data is a .jsonl file, {DATA_FORMAT}"):
        try:
            dialogs.append(_checked_dialog(item, tokenizer, context))
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {error}") from None
    return dialogs


def _checked_dialog(item, tokenizer: Tokenizer, context: int) -> list[dict]:
    """One line's parsed JSON, checked against Meta's rules and the context: its messages."""
    if not isinstance(item, dict) or not isinstance(item.get("messages"), list) or not item["messages"]:
        got = (f"an object with the keys {sorted(item)}" if isinstance(item, dict) and "messages" not in item else
               f"an object whose \"messages\" is {item['messages']!r}" if isinstance(item, dict) else
               f"a JSON {type(item).__name__}")
        raise ValueError(f"expected an object with a non-empty \"messages\" list, got {got}; the file holds "
                         f"{DATA_FORMAT}")
    messages = item["messages"]
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise ValueError(f"message {i} is {message!r}: each message is an object with \"role\" and \"content\"")
        role, content = message["role"], message["content"]
        if role not in ROLES:
            raise ValueError(f"message {i} has the role {role!r}: use \"system\", \"user\" or \"assistant\"")
        if not isinstance(content, str):
            raise ValueError(f"message {i} ({role}) has the content {content!r}, a JSON {type(content).__name__}: "
                             "give its text as a string")
        if not content.strip():
            raise ValueError(f"message {i} ({role}) has empty content: write the message, or leave the dialog out")
        tags = [tag for tag in SPECIAL_TAGS if tag in content]
        if tags:
            raise ValueError(f"message {i} ({role}) holds {tags[0]!r}, which Meta's format keeps for itself (its "
                             "chat answers such prompts with an error): reword the message")
    try:
        in_order = fold_system_prompt(messages)[-1]["role"] == "assistant"
    except ValueError:
        in_order = False
    if not in_order:
        raise ValueError(f"the roles are {', '.join(m['role'] for m in messages)}: Meta's Llama-2-chat format takes "
                         "an optional system message first, then user and assistant in turn, ending with the "
                         "assistant's reply (the one the model learns)")
    n_tokens = len(encode_dialog_for_training(tokenizer, messages)[0])
    if n_tokens > context:
        raise ValueError(f"the dialog is {n_tokens} tokens long and the model's context is {context}: shorten it, "
                         "or split it into dialogs that fit")
    return messages


def find_tokenizer(model: Path, given: Path | None) -> Path:
    """The model's tokenizer.model: --tokenizer if given, else the one in the model's folder (Hugging Face's layout,
    the kit's with a tokenizer) or beside it (Meta's download, and the kit's tiny models in data/)."""
    if given is not None:
        return given
    for candidate in (model / "tokenizer.model", model.parent / "tokenizer.model"):
        if candidate.is_file():
            return candidate
    raise ValueError(f"found no tokenizer.model in {model} or beside it: give the model's tokenizer with --tokenizer")


def check_out(out: Path, model: Path, resume: bool) -> None:
    """Refuse an --out that would replace the model or someone's files: a new or empty folder, or with --resume the
    folder of this run (its checkpoint, which --resume then checks is this run's, and only the files it writes)."""
    if out.resolve() == model.resolve() or model.resolve() in out.resolve().parents:
        raise ValueError(f"--out {out} is the model's folder (or inside it): give a new folder, such as runs/my-lora")
    if out.is_file():
        raise ValueError(f"--out {out} is a file: give a new folder, such as runs/my-lora")
    present = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if resume:
        if CHECKPOINT not in present:
            raise ValueError(f"--resume continues the run in --out {out}, which holds no {CHECKPOINT}: leave out "
                             "--resume to start a run there, or give the run's folder")
        others = [name for name in present if name not in RUN_FILES and not _kits_temporary(name)]
        if others:
            raise ValueError(f"--out {out} holds files this run did not write ({', '.join(others[:3])}), which it "
                             "will not write beside: move them elsewhere")
    elif present:
        raise ValueError(f"--out {out} already holds files ({', '.join(present[:3])}): give a new folder, or "
                         "--resume to continue the run saved there")


def _kits_temporary(name: str) -> bool:
    """A name the kit's atomic saves use beside their files (a lock, a temporary being written)."""
    return name.startswith(".") and ("llama-lab" in name or "llama_lab" in name or name.endswith(".tmp"))


def _parser() -> OneLineParser:
    parser = OneLineParser(
        prog="python -m llama_lab.finetune",
        description="Fine-tune a Llama 2 on your own dialogs (TRL's .jsonl, Meta's Llama-2-chat format, the loss on "
                    "the assistant's tokens), in full or with LoRA or QLoRA adapters saved in peft's format. "
                    "Defaults: Meta's llama-recipes (LoRA r=8, alpha 32, dropout 0.05 on wq and wv; AdamW, lr 1e-4, "
                    "no weight decay, batch 4, 3 epochs), the learning rate kept constant.")
    parser.add_argument("data", type=Path, help=f"a .jsonl file, {DATA_FORMAT}")
    parser.add_argument("--out", type=Path, required=True,
                        help="a new folder for the run (or the run's own, with --resume): its checkpoint, the adapter "
                             "(lora, qlora) or the model (full), summary.json")
    parser.add_argument("--model", type=Path, default=tiny_dir("chat"),
                        help="the model folder (the kit's, Meta's or Hugging Face's layout); default: the kit's tiny "
                             "chat model")
    parser.add_argument("--tokenizer", type=Path,
                        help="the model's tokenizer.model (default: the one in the model folder, or beside it)")
    parser.add_argument("--method", choices=("full", "lora", "qlora"), default="lora",
                        help="full: every weight; lora: adapters on frozen weights; qlora: adapters on an NF4 base")
    defaults = TrainConfig()
    parser.add_argument("--lora-r", type=int, default=defaults.lora_r, help="the adapters' rank (default: %(default)s)")
    parser.add_argument("--lora-alpha", type=float, default=defaults.lora_alpha,
                        help="their scaling is alpha / r (default: %(default)s)")
    parser.add_argument("--lora-dropout", type=float, default=defaults.lora_dropout,
                        help="dropout on the adapters' input (default: %(default)s)")
    parser.add_argument("--lora-targets", default=defaults.lora_targets,
                        help="the projections to adapt, comma-separated, by Meta's names (wq wk wv wo w1 w2 w3) or "
                             "peft's (q_proj ... down_proj); default: %(default)s")
    parser.add_argument("--gradient-checkpointing", action="store_true",
                        help="recompute each block in the backward pass: less memory, about one more forward "
                             "pass of compute")
    parser.add_argument("--val-share", type=float, default=0.1,
                        help="the share of dialogs held out for validation, drawn by --seed (default: %(default)s)")
    parser.add_argument("--epochs", type=float, default=3, help="passes over the training dialogs (default: 3)")
    parser.add_argument("--steps", type=int, help="train this many steps instead of --epochs")
    parser.add_argument("--batch-size", type=int, default=4, help="dialogs a step (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-4, help="the learning rate, constant (default: %(default)s)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="AdamW's weight decay (default: 0)")
    parser.add_argument("--seed", type=int, default=42, help="the adapters' start, the split, the order of the "
                                                             "dialogs and the dropout (default: %(default)s)")
    parser.add_argument("--eval-interval", type=int, help="steps between validations (default: one epoch)")
    parser.add_argument("--save-interval", type=int, help="steps between checkpoints (default: one epoch)")
    parser.add_argument("--until", type=int, help="stop after this step, with a checkpoint, to --resume later")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out, exactly")
    parser.add_argument("--merge", nargs="?", const="kit", choices=("kit", "hf"),
                        help=f"also write the model with the adapters merged in, into --out/{MERGED}: in the kit's "
                             "format, or Hugging Face's with --merge hf (not for qlora: its base is NF4)")
    parser.add_argument("--device", default="auto", help="auto (cuda, else mps, else cpu), cpu, cuda, ...")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return parser


def finetune_config(options, n_dialogs: int, tokenizer: Path, context: int) -> TrainConfig:
    """The training loop's configuration for these options and a file of `n_dialogs` dialogs."""
    n_train = len(split_dialogs(list(range(n_dialogs)), options.val_share, options.seed)[0])
    n_val = n_dialogs - n_train
    epoch = math.ceil(n_train / options.batch_size)  # steps
    steps = options.steps or max(1, math.ceil(options.epochs * n_train / options.batch_size))
    targets = [t.strip() for t in options.lora_targets.split(",") if t.strip()]
    unknown = [t for t in targets if t not in TARGET_NAMES]
    if unknown:
        raise ValueError(f"--lora-targets {options.lora_targets}: {unknown[0]!r} is not a projection; name them by "
                         f"Meta's names ({', '.join(TARGETS)}) or peft's (q_proj, k_proj, ..., down_proj)")
    return TrainConfig(
        stage="chat", data=str(options.data), val_data=None, val_share=options.val_share,
        tokenizer=str(tokenizer), out=str(options.out), init=str(options.model), method=options.method,
        lora_r=options.lora_r, lora_alpha=options.lora_alpha, lora_dropout=options.lora_dropout,
        lora_targets=",".join(TARGET_NAMES[t] for t in targets),
        batch_size=options.batch_size, seq_len=context, steps=steps, lr=options.lr, warmup=0, min_lr_ratio=1.0,
        weight_decay=options.weight_decay, beta2=0.999, eps=1e-8, grad_clip=1.0, seed=options.seed,
        eval_interval=epoch if options.eval_interval is None else options.eval_interval,
        eval_batches=math.ceil(n_val / options.batch_size),
        save_interval=epoch if options.save_interval is None else options.save_interval,
        until=options.until, device=options.device,
        export=str(options.out / MERGED) if options.merge else None, export_format=options.merge or "kit",
        gradient_checkpointing=options.gradient_checkpointing, resume=options.resume, progress=options.progress)


def main(argv: list[str] | None = None) -> dict:
    """The command: check everything it was given (flags, --out, every line of the data) before it trains or writes
    anything, then train; a mistake is one line on stderr and exit status 2. Returns the training loop's summary."""
    options = _parser().parse_args(argv)
    with one_line_errors(ValueError, CheckpointError, writing="give another --out"):
        if not 0 < options.val_share < 1:
            raise ValueError(f"--val-share {options.val_share}: give a share above 0 and below 1, such as 0.1")
        if options.batch_size < 1 or not 0 < options.epochs < math.inf:
            raise ValueError(f"--batch-size {options.batch_size} --epochs {options.epochs}: give at least 1 dialog a "
                             "step and a positive number of epochs, such as --batch-size 4 --epochs 3")
        if options.method == "full" and options.merge:
            raise ValueError("--merge folds LoRA adapters into the model; --method full trains the model itself, which "
                             f"is saved whole in --out {options.out}: leave out --merge")
        if options.method == "qlora" and options.merge:
            raise ValueError("--merge with --method qlora: QLoRA's base is NF4, whose integers cannot hold W0 + B A. "
                             "Leave out --merge; the adapter is saved in peft's format, to merge into the "
                             "floating-point model (load_model, load_adapter, unload_lora); or train with --method "
                             "lora")
        check_out(options.out, options.model, options.resume)
        args, _ = load_state(options.model)  # the configuration; the weights are read when training starts
        tokenizer_path = find_tokenizer(options.model, options.tokenizer)
        tokenizer = Tokenizer(tokenizer_path)
        if tokenizer.n_words != args.vocab_size:
            raise ValueError(f"the tokenizer {tokenizer_path} has {tokenizer.n_words} pieces and the model "
                             f"{options.model} a vocabulary of {args.vocab_size}: give the model's own with "
                             "--tokenizer")
        dialogs = read_chat_data(options.data, tokenizer, args.max_seq_len)
        config = finetune_config(options, len(dialogs), tokenizer_path, args.max_seq_len)
        summary = train(config)
    _report(summary, config)
    return summary


def _report(summary: dict, config: TrainConfig) -> None:
    """What the run did, in a few lines: the validation loss before and after, the speed, what was written where."""
    history = summary["history"]
    if history["val"]:
        print(f"validation loss: {history['val'][0][1]:.4f} before, {history['val'][-1][1]:.4f} after step "
              f"{history['val'][-1][0]}")
    wall = history["wall_s"]
    print(f"{summary['steps']} of {summary['of_steps']} steps, {history['tokens']:,} answer tokens in {wall:.1f} s "
          f"({history['tokens'] / max(wall, 1e-9):,.0f} tokens/s, the loss's tokens)")
    if not summary["finished"]:
        print(f"stopped after step {summary['steps']}: continue with --resume and the same --out", file=sys.stderr)
        return
    saved = "the adapter (peft's format)" if config.method != "full" else "the model (the kit's format)"
    print(f"wrote {saved} into {config.out}" + (f", the merged model into {config.export}" if config.export else ""))


if __name__ == "__main__":
    main()
