"""The training data: text files tokenized once into a cache beside them, random windows of that text for
pretraining, and dialogs as padded batches with the loss on the assistant's tokens for chat fine-tuning.

Batch `s` is drawn from a generator seeded with (seed, s) alone, so that a resumed run draws what an unbroken one
would, and each of N processes takes its slice of the very batch one process would take.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from ..chat import encode_dialog_for_training, fold_system_prompt
from ..fast.loss import IGNORE
from ..files import replacing
from ..tokenizer import Tokenizer
from .config import TrainConfig
from .processes import barrier


def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# what each stage accepts as --data, said with every refusal of a data file
PRETRAIN_DATA = ("pretraining reads a UTF-8 text file, its documents separated by blank lines, such as "
                 "data/world/train.txt (`make data` writes it)")
CHAT_DATA = ("chat fine-tuning reads a .jsonl file, one dialog a line: a JSON list of {\"role\", \"content\"} "
             "messages that ends with the assistant's, such as data/world/chat_train.jsonl (`make data` writes it)")


def read_text(path: str | os.PathLike, accepted: str) -> str:
    """The text of a data file, or an error that says why the kit cannot train on it and what it `accepted`.

    Nothing is written before the data has passed these checks, so a mistaken --data (a token file, a folder,
    a file in another encoding) is refused with the user's file as it was.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}. {accepted}")
    if not path.is_file():
        raise ValueError(f"{path} is a folder, not a file. {accepted}")
    data = path.read_bytes()
    if b"\0" in data:
        raise ValueError(f"{path} is not text: it holds zero bytes, as token ids and weights do. {accepted}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ValueError(f"{path} is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}, line "
                         f"{line}): save it as UTF-8, e.g. `iconv -f latin1 -t utf-8 old.txt > new.txt`") from None
    if not text.strip():
        raise ValueError(f"{path} is empty. {accepted}" if not text else
                         f"{path} holds only whitespace. {accepted}")
    return text


def split_documents(text: str) -> list[str]:
    """The documents of a pretraining text file: they are separated by blank lines."""
    return [doc.strip() for doc in text.split("\n\n") if doc.strip()]


TOKEN_CACHE = "llama_lab token cache 1"  # the sidecar's "format": a cache the kit wrote, in this layout


def token_cache_paths(text_path: str | os.PathLike) -> tuple[Path, Path]:
    """Where the token ids of a text file are kept: `train.txt` -> `train.txt.tokens.bin` and its sidecar
    `train.txt.tokens.bin.json`. The text's whole name goes into the cache's, so that it can never be the text
    itself, nor the `train.bin` a user may keep beside `train.txt`."""
    bin_path = Path(text_path).with_name(Path(text_path).name + ".tokens.bin")
    return bin_path, bin_path.with_name(bin_path.name + ".json")


def tokenize_corpus(text_path: str | os.PathLike, tokenizer: Tokenizer) -> np.memmap:
    """All documents of a text file as one flat array of token ids, each document opened by BOS.

    Written once to a cache beside the text (token_cache_paths: uint16, so 2 bytes a token) whose sidecar
    records the kit's format, the sha256 of the text and of the tokenizer; later calls map the cache instead of
    tokenizing again, and a changed text or tokenizer (even of the same size and time) is tokenized afresh.
    The kit replaces only a cache it wrote: a file in the cache's place without the kit's sidecar is someone
    else's, and is refused rather than overwritten. The cache's name is the text's name and `.tokens.bin`,
    not `train.bin`, so that this happens only to a file named like the kit's cache, never to a user's
    `train.bin`: a user expects training on `train.txt` to work and to leave their other files alone.
    Example: documents "Tom ran." and "Mia sat." -> [BOS, ▁Tom, ▁ran, ., BOS, ▁Mia, ▁sat, .]
    """
    text_path = Path(text_path)
    text = read_text(text_path, PRETRAIN_DATA)
    bin_path, meta_path = token_cache_paths(text_path)
    meta = {"format": TOKEN_CACHE, "text": text_path.name, "dtype": "uint16",
            "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "tokenizer_sha256": file_sha256(tokenizer.path)}
    old = _kits_cache_meta(bin_path, meta_path)
    fresh = old is not None and {k: old.get(k) for k in meta} == meta
    if fresh and bin_path.is_file() and bin_path.stat().st_size == 2 * old["n_tokens"]:
        ids = np.memmap(bin_path, dtype=np.uint16, mode="r")
        if ids.size == 0 or int(ids.max()) < tokenizer.n_words:  # an id past the vocabulary: damaged, made afresh
            return ids
    if tokenizer.n_words > 2 ** 16:
        raise ValueError(f"a vocabulary of {tokenizer.n_words} does not fit in uint16 token files")
    documents = split_documents(text)
    pieces = tokenizer.sp_model.encode(documents, num_threads=os.cpu_count() or 1)  # list of lists, in order
    ids = np.fromiter((t for doc in pieces for t in [tokenizer.bos_id, *doc]), dtype=np.uint16)
    # The sidecar first claims the name (it describes no tokens yet), then the ids, then the sidecar that
    # describes them: a crash at any point leaves a cache the next call recognises as the kit's and replaces.
    claim = {"format": TOKEN_CACHE, "text": text_path.name}
    described = {**meta, "n_tokens": int(ids.size), "n_documents": len(documents)}
    try:
        for path, content in ((meta_path, json.dumps(claim).encode()), (bin_path, ids.tobytes()),
                              (meta_path, json.dumps(described, indent=2).encode())):
            with replacing(path) as tmp:
                tmp.write_bytes(content)
    except OSError as error:
        if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):  # a failing disk is no folder to fix
            raise
        raise ValueError(f"cannot write the token cache {bin_path.name} beside {text_path} ({error.strerror}): the "
                         f"kit keeps a text's token ids beside it. Make {text_path.parent} writable, or copy the "
                         "text into a folder you can write to and train on the copy") from None
    return np.memmap(bin_path, dtype=np.uint16, mode="r")


def _kits_cache_meta(bin_path: Path, meta_path: Path) -> dict | None:
    """The sidecar of a token cache the kit wrote, None if there is no cache; an error for someone else's file."""
    if not bin_path.exists() and not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != TOKEN_CACHE:
        raise ValueError(f"{bin_path if bin_path.exists() else meta_path} is not a token cache the kit wrote (it "
                         f"has no sidecar {meta_path.name} of the kit's), so the kit will not overwrite it: move it "
                         "elsewhere, or train on a copy of the text in another folder")
    return meta


def batch_rng(seed: int, step: int) -> np.random.Generator:
    """The random numbers of one step depend on (seed, step) only: resuming needs no generator state."""
    return np.random.default_rng([seed, step])


class TextBatches:
    """Random windows of seq_len + 1 tokens from the flat token array: inputs are [:-1], targets [1:]."""

    def __init__(self, tokens: np.ndarray, seq_len: int, batch_size: int, seed: int):
        if len(tokens) < seq_len + 2:  # the last start is drawn below len(tokens) - seq_len - 1
            raise ValueError(f"{len(tokens)} tokens are too few; training draws windows of seq_len + 1 = "
                             f"{seq_len + 1} tokens, so needs at least {seq_len + 2}: give more text or a smaller "
                             "seq_len")
        self.tokens, self.seq_len, self.batch_size, self.seed = tokens, seq_len, batch_size, seed

    def _windows(self, starts: np.ndarray):
        rows = np.stack([self.tokens[s:s + self.seq_len + 1] for s in starts]).astype(np.int64)  # (B, T+1)
        rows = torch.from_numpy(rows)
        return rows[:, :-1], rows[:, 1:]  # (B, T) inputs, (B, T) targets

    def batch(self, step: int, rank: int = 0, world: int = 1):
        """This process's slice of the global batch of step `step`."""
        starts = batch_rng(self.seed, step).integers(0, len(self.tokens) - self.seq_len - 1, self.batch_size)
        return self._windows(_my_slice(starts, rank, world))

    def eval_batches(self, n_batches: int):
        """Fixed, evenly spaced windows: the same validation set at every evaluation."""
        n = n_batches * self.batch_size
        starts = np.linspace(0, len(self.tokens) - self.seq_len - 1, n).astype(np.int64)
        return [self._windows(starts[i:i + self.batch_size]) for i in range(0, n, self.batch_size)]


def read_jsonl(path: str | os.PathLike, accepted: str) -> Iterator[tuple[int, object]]:
    """(line number, value) for each non-blank line of a JSON Lines file, parsed; a line that is not JSON raises
    ValueError naming `path:line`, followed by `accepted` (what the file should hold)."""
    # JSON Lines ends a line at "\n" only: str.splitlines would also cut at U+2028 and the like, which JSON
    # leaves unescaped inside strings (json.dumps(..., ensure_ascii=False) writes them as they are)
    for number, line in enumerate(read_text(path, accepted).split("\n"), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as error:
            raise ValueError(f"{path}:{number}: this line is not JSON ({error}). {accepted}") from None
        except RecursionError:
            raise ValueError(f"{path}:{number}: this line nests lists or objects too deeply to be a dialog (a "
                             f"dialog is a list of messages, two levels). {accepted}") from None
        yield number, item


def read_dialogs(path: str | os.PathLike) -> list[list[dict]]:
    """A .jsonl file of dialogs: each line a list of messages, or an object with a "messages"/"dialog" list.

    Each dialog is checked here, where the line it came from is known: a mistake is reported as `file:line`.
    """
    dialogs = []
    for number, item in read_jsonl(path, CHAT_DATA):
        if isinstance(item, dict):
            item = item.get("messages") or item.get("dialog")
        if not isinstance(item, list):
            raise ValueError(f"{path}:{number}: expected a list of {{'role', 'content'}} messages. {CHAT_DATA}")
        try:
            if fold_system_prompt(item)[-1]["role"] != "assistant":
                raise ValueError("a training dialog must end with the assistant's reply")
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {error}") from None
        dialogs.append(item)
    return dialogs


def chat_example(tokenizer: Tokenizer, dialog: list[dict], seq_len: int,
                 last_answer_only: bool = False) -> tuple[list[int], list[int]]:
    """(inputs, targets) of one dialog; targets are IGNORE except where the next token is the assistant's.

    Example: ids [BOS, [INST], hi, [/INST], hello, EOS] with mask [0, 0, 0, 0, 1, 1] ->
             inputs [BOS, [INST], hi, [/INST], hello], targets [-100, -100, -100, hello, EOS].
    With `last_answer_only`, the earlier answers get IGNORE too: only the last answer and its EOS are learned, as in
    Ghost Attention's training dialogs (Llama 2, section 3.3: the loss is zero on every token of the earlier turns).
    """
    ids, is_answer = encode_dialog_for_training(tokenizer, dialog)
    if last_answer_only:  # the last answer is the final run of True: it starts after the last prompt token
        start = max(i for i, answer in enumerate(is_answer) if not answer) + 1
        is_answer = [i >= start for i in range(len(is_answer))]
    ids, is_answer = ids[:seq_len + 1], is_answer[:seq_len + 1]  # a dialog longer than the context is cut
    targets = [t if answer else IGNORE for t, answer in zip(ids[1:], is_answer[1:])]
    return ids[:-1], targets


class ChatBatches:
    """Dialogs as right-padded (inputs, targets) rows; each epoch visits every dialog once, in a fresh order."""

    def __init__(self, examples: list[tuple[list[int], list[int]]], batch_size: int, seed: int, pad_id: int):
        if not examples:
            raise ValueError("no dialogs to train on")
        self.examples, self.batch_size, self.seed, self.pad_id = examples, batch_size, seed, pad_id

    def _pad(self, chosen: list[int]):
        width = max(len(self.examples[i][0]) for i in chosen)
        inputs = torch.full((len(chosen), width), self.pad_id, dtype=torch.long)  # (B, T)
        targets = torch.full((len(chosen), width), IGNORE, dtype=torch.long)  # (B, T)
        for row, i in enumerate(chosen):
            x, y = self.examples[i]
            inputs[row, :len(x)], targets[row, :len(y)] = torch.tensor(x), torch.tensor(y)
        return inputs, targets

    def batch(self, step: int, rank: int = 0, world: int = 1):
        n = len(self.examples)
        positions = np.arange(step * self.batch_size, (step + 1) * self.batch_size)  # places in an endless stream
        order = {}
        chosen = []
        for position in positions:
            epoch = int(position // n)
            if epoch not in order:
                order[epoch] = batch_rng(self.seed, epoch).permutation(n)
            chosen.append(int(order[epoch][position % n]))
        return self._pad(_my_slice(np.array(chosen), rank, world).tolist())

    def eval_batches(self, n_batches: int):
        chosen = list(range(min(len(self.examples), n_batches * self.batch_size)))
        return [self._pad(chosen[i:i + self.batch_size]) for i in range(0, len(chosen), self.batch_size)]


def chat_batches(tokenizer: Tokenizer, dialogs: list[list[dict]], seq_len: int, batch_size: int,
                 seed: int, last_answer_only: bool | Sequence[bool] = False) -> ChatBatches:
    """The chat stage's batches: each dialog as `chat_example` makes it, right-padded with EOS (`ChatBatches`).
    `last_answer_only`: for all dialogs, or one flag per dialog (Ghost Attention's examples beside ordinary ones)."""
    flags = [last_answer_only] * len(dialogs) if isinstance(last_answer_only, bool) else list(last_answer_only)
    if len(flags) != len(dialogs):
        raise ValueError(f"{len(flags)} last_answer_only flags for {len(dialogs)} dialogs: give one per dialog")
    examples = [chat_example(tokenizer, d, seq_len, flag) for d, flag in zip(dialogs, flags)]
    if all(t == IGNORE for _, targets in examples for t in targets):
        raise ValueError(f"no dialog has an answer within seq_len={seq_len} tokens: give a longer seq_len")
    return ChatBatches(examples, batch_size, seed, pad_id=tokenizer.eos_id)


def split_dialogs(dialogs: list, share: float, seed: int) -> tuple[list, list]:
    """(training, validation): a share of the dialogs held out, drawn by `seed` alone, each kept in file order.

    Example: 10 dialogs, share 0.2 -> 8 to train on and 2 to validate on, the same 2 at every run with this seed.
    """
    n_val = min(len(dialogs) - 1, max(1, round(share * len(dialogs))))
    if len(dialogs) < 2 or not share:
        raise ValueError(f"{len(dialogs)} dialog(s) cannot be split into training and validation: give at least 2, "
                         "and a share above 0")
    held_out = set(np.random.default_rng(seed).permutation(len(dialogs))[:n_val].tolist())
    return ([d for i, d in enumerate(dialogs) if i not in held_out],
            [d for i, d in enumerate(dialogs) if i in held_out])


def _my_slice(items: np.ndarray, rank: int, world: int) -> np.ndarray:
    if len(items) % world:
        raise ValueError(f"the global batch of {len(items)} does not split evenly over {world} processes")
    per_rank = len(items) // world
    return items[rank * per_rank:(rank + 1) * per_rank]


def load_split_batches(cfg: TrainConfig, tokenizer: Tokenizer, seq_len: int) -> tuple[ChatBatches, ChatBatches]:
    """The chat stage's training and validation batches when validation is a share of --data (cfg.val_share)."""
    try:
        train, held_out = split_dialogs(read_dialogs(cfg.data), cfg.val_share, cfg.seed)
        return tuple(chat_batches(tokenizer, part, seq_len, cfg.batch_size, cfg.seed) for part in (train, held_out))
    except ValueError as error:
        raise ValueError(f"{cfg.data}: {error}") from None


def load_batches(path: str, cfg: TrainConfig, tokenizer: Tokenizer, seq_len: int, rank: int):
    if cfg.stage == "chat":
        try:
            return chat_batches(tokenizer, read_dialogs(path), seq_len, cfg.batch_size, cfg.seed)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    if Path(path).suffix == ".jsonl":
        raise ValueError(f"{path} holds dialogs: pass --stage chat to fine-tune on them. {PRETRAIN_DATA}")
    if rank == 0:  # one process tokenizes; the others wait, then map the same file
        tokenize_corpus(path, tokenizer)
    barrier()
    tokens = tokenize_corpus(path, tokenizer)
    try:
        return TextBatches(tokens, seq_len, cfg.batch_size, cfg.seed)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
