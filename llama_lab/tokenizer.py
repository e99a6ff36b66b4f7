"""Llama 2's tokenizer: SentencePiece BPE with byte fallback, wrapped with Meta's semantics.

`Tokenizer(path)` loads any SentencePiece model: Llama 2's own `tokenizer.model` (32000 pieces, BOS 1, EOS 2,
no pad) or the kit's (`data/tokenizer.model`). `train_tokenizer(...)` trains a new one with Llama 2's recipe.

Example (Llama 2's tokenizer):
    tok.encode("Hello world", bos=False)  -> [15043, 3186]     ("▁Hello", "▁world")
    tok.encode(" Hello world", bos=False) -> [29871, 15043, 3186]   (a leading space becomes its own "▁")
"""

from __future__ import annotations

import json
import operator
import os
import shutil
from pathlib import Path
from typing import Iterable, Sequence

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2  # protobuf ships with sentencepiece

from .files import replacing


class Tokenizer:
    """Text <-> token ids, as Meta's `llama/tokenizer.py`: encode(s, bos, eos), decode(ids), bos/eos/pad ids."""

    def __init__(self, model_path: str | os.PathLike):
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"no tokenizer model at {path}: pass the path of a SentencePiece "
                                    "`tokenizer.model` (the kit's own is data/tokenizer.model)")
        self.sp_model = spm.SentencePieceProcessor()
        try:
            self.sp_model.Load(str(path))
        except (OSError, RuntimeError) as error:
            raise ValueError(f"{path} is not a SentencePiece model ({error})") from error
        self.path = path
        self.n_words: int = self.sp_model.vocab_size()
        self.bos_id: int = self.sp_model.bos_id()
        self.eos_id: int = self.sp_model.eos_id()
        self.pad_id: int = self.sp_model.pad_id()  # -1 for Llama 2: it has no pad token

    def encode(self, s: str, bos: bool = True, eos: bool = False) -> list[int]:
        ids = self.sp_model.encode(_checked_text(s))
        if bos:
            ids = [self.bos_id] + ids
        if eos:
            ids = ids + [self.eos_id]
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a list of token ids (or a 1-D tensor or array of them)."""
        if hasattr(ids, "tolist"):  # a tensor or a numpy array: its numbers as Python's
            ids = ids.tolist()
        if isinstance(ids, (str, bytes, dict)) or not isinstance(ids, Iterable):
            raise TypeError(f"decode takes a list of token ids, such as [1, 450, 4799]; got {_shown(ids)}"
                            + (f": wrap one id as [{ids}]" if _is_token_id(ids) else ""))
        ids = list(ids)
        for position, i in enumerate(ids):
            if not _is_token_id(i):
                raise TypeError(f"decode takes a list of token ids (whole numbers); item {position} is {_shown(i)}"
                                + (": decode one row at a time" if isinstance(i, (list, tuple)) else ""))
        ids = [operator.index(i) for i in ids]
        self._check_range(ids)
        return self.sp_model.decode(ids)

    def _check_range(self, ids: list[int]) -> None:
        bad = [i for i in ids if not 0 <= i < self.n_words]
        if bad:
            which = f"token id {bad[0]} is" if len(bad) == 1 else f"token ids {bad[:5]} are"
            raise ValueError(f"{which} outside this tokenizer's range 0..{self.n_words - 1} (a vocabulary of "
                             f"{self.n_words} pieces)")

    def _token_id(self, i, method: str) -> int:
        """`i` as an int, once it is known to be an id of this vocabulary (a 0-d integer tensor will do)."""
        if not _is_token_id(i):
            raise TypeError(f"{method} takes one token id, a whole number such as 450; got {_shown(i)}")
        self._check_range([operator.index(i)])
        return operator.index(i)

    def decode_continuation(self, context: Sequence[int], new: Sequence[int]) -> str:
        """The text that the ids `new` add after the ids `context`, with the space that starts it.

        `decode` drops the space of a first piece such as "▁there" (SentencePiece removes the dummy prefix it
        adds to every text; Meta's `generate` returns its completions that way). A continuation is not the start
        of a text, so here the new ids are decoded after the end of the context and the context's own text is
        cut off: prompt + continuation reads exactly as SentencePiece decodes the whole. A few context ids are
        enough (a piece's text never depends on more than the UTF-8 bytes just before it).
        """
        context = [i for i in context if i not in (self.bos_id, self.eos_id)][-_CONTEXT_PIECES:]
        before = self.decode(context)
        whole = self.decode(context + list(new))
        # a context that ends inside a UTF-8 character decodes to a replacement mark that the whole may not start
        # with: then the continuation is decoded on its own
        return whole[len(before):] if whole.startswith(before) else self.decode(new)

    # What learners look at: the pieces themselves.
    def id_to_piece(self, i: int) -> str:
        return self.sp_model.id_to_piece(self._token_id(i, "id_to_piece"))

    def piece_to_id(self, piece: str) -> int:
        return self.sp_model.piece_to_id(piece)

    def pieces(self, s: str) -> list[str]:
        return self.sp_model.encode(_checked_text(s), out_type=str)

    def is_byte(self, i: int) -> bool:
        """True for the 256 byte-fallback pieces <0x00>..<0xFF> used for characters not in the vocabulary."""
        return self.sp_model.is_byte(self._token_id(i, "is_byte"))

    def is_control(self, i: int) -> bool:
        return self.sp_model.is_control(self._token_id(i, "is_control"))

    def score(self, i: int) -> float:
        return self.sp_model.get_score(self._token_id(i, "score"))

    def __len__(self) -> int:
        return self.n_words

    def __repr__(self) -> str:
        return f"Tokenizer({self.path.name!r}, n_words={self.n_words}, bos={self.bos_id}, eos={self.eos_id})"


_CONTEXT_PIECES = 8  # context ids decode_continuation decodes the new ids after (a UTF-8 character has <= 4 bytes)


def _is_token_id(value) -> bool:
    """Whether `value` is a whole number (an int, a numpy integer, a 0-d integer tensor) and not a bool."""
    if isinstance(value, bool) or "bool" in str(getattr(value, "dtype", "")):
        return False  # True is 1 to Python; here it is a mask passed by mistake
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def _shown(value) -> str:
    """How an error message shows a value it refuses: its type, and the value itself if it is short."""
    text = repr(value)
    return f"{type(value).__name__} {text}" if len(text) <= 40 else type(value).__name__


def _checked_text(s: str) -> str:
    """`s`, once it is known to be text SentencePiece can take (a str that UTF-8 can encode)."""
    if not isinstance(s, str):
        raise TypeError(f"the tokenizer takes a str, got {type(s).__name__}")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = s[error.start]
        raise ValueError(f"the text holds U+{ord(bad):04X} at position {error.start}, half of a UTF-16 pair "
                         "(a 'lone surrogate', often left by cutting text copied from elsewhere), which is no "
                         "character UTF-8 can write: remove it, or repair the text with "
                         "text.encode('utf-16', 'surrogatepass').decode('utf-16')") from None
    return s


def write_for_transformers(tokenizer: Tokenizer, folder: str | os.PathLike, model_max_length: int) -> None:
    """Write `tokenizer` into `folder` so that transformers' AutoTokenizer gives exactly its ids and text.

    transformers 5 rebuilds a `tokenizer.model` named LlamaTokenizer with a Metaspace pre-tokenizer, which adds the
    dummy-prefix space only where the text does not already start with one: " Hello" loses the "▁" of its own
    space that SentencePiece keeps (29871 in Llama 2's vocabulary), and it reads "<s>" in a text as BOS. So the
    tokenizer goes out as a `tokenizer.json` that does what SentencePiece does: prefix "▁" always, then turn every
    space into "▁" (the normalizer of Hugging Face's own Llama 2 export), with special tokens never parsed from
    text. Building it needs transformers' converter; without transformers, only the tokenizer.model and a
    LlamaTokenizer tokenizer_config.json are written, which transformers reads with that leading-space difference.
    """
    folder = Path(folder)
    shutil.copyfile(tokenizer.path, folder / "tokenizer.model")
    config = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True,
              "add_eos_token": False, "model_max_length": model_max_length, "clean_up_tokenization_spaces": False}
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "tokenizer_class": "LlamaTokenizer",
                                                              "legacy": True}, indent=2))
    try:
        import transformers
        from tokenizers import normalizers
    except ImportError:
        return
    converted = transformers.AutoTokenizer.from_pretrained(folder).backend_tokenizer
    converted.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    converted.pre_tokenizer = None
    spec = json.loads(converted.to_str())
    # SentencePiece merges the adjacent pair whose piece scores highest; transformers' BPE the pair listed first.
    # The converter lists the merges in the order of the pieces' ids, which is not always their scores' order:
    # Llama 2's whitespace pieces ("▁▁" is id 259) score lowest of all, so " Hello" became "▁▁" "Hello" where
    # SentencePiece writes "▁" "▁Hello". Listed by score (ties by id), the two merge alike.
    def by_score(pair):
        left, right = pair if isinstance(pair, list) else pair.split(" ")
        merged = tokenizer.piece_to_id(left + right)
        return -tokenizer.score(merged), merged
    spec["model"]["merges"] = sorted(spec["model"]["merges"], key=by_score)
    (folder / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {**config, "tokenizer_class": "PreTrainedTokenizerFast", "split_special_tokens": True}, indent=2))


def train_tokenizer(input_files: str | os.PathLike | Iterable[str | os.PathLike], model_prefix: str | os.PathLike,
                    vocab_size: int = 4096, *, input_sentence_size: int = 0, num_threads: int | None = None,
                    seed_sentencepiece_size: int = 1_000_000, max_sentence_length: int = 4192) -> Tokenizer:
    """Train a SentencePiece tokenizer with Llama 2's recipe and return it (writes `<model_prefix>.model`).

    The recipe, read off the trainer spec inside Llama 2's `tokenizer.model`: BPE; byte fallback (any character
    outside the vocabulary becomes its UTF-8 bytes, so nothing is ever unknown); digits split one by one;
    identity normalisation (text is kept exactly, no NFKC); whitespace-only pieces allowed; extra whitespace
    kept; a dummy prefix space; ids unk 0, bos 1, eos 2 and no pad.
    """
    files = [input_files] if isinstance(input_files, (str, os.PathLike)) else list(input_files)
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        raise FileNotFoundError(f"training text not found: {missing}")
    if vocab_size < 260:
        raise ValueError(f"vocab_size={vocab_size} is too small: byte fallback alone needs 256 pieces + 3 specials")
    Path(model_prefix).parent.mkdir(parents=True, exist_ok=True)
    try:
        _train(files, model_prefix, vocab_size, input_sentence_size, num_threads, seed_sentencepiece_size,
               max_sentence_length)
    except RuntimeError as error:
        if "Vocabulary size too high" in str(error):
            raise ValueError(f"vocab_size={vocab_size} is more than this text can fill "
                             f"(SentencePiece says: {str(error).split('. ')[-1]}): use a smaller vocabulary "
                             "or more text") from error
        raise
    forget_training_paths(f"{model_prefix}.model")
    return Tokenizer(f"{model_prefix}.model")


def forget_training_paths(model_file: str | os.PathLike) -> None:
    """Keep only the file names of the training text and the model in the trainer spec that SentencePiece stores
    inside a model, so that a shipped tokenizer does not carry the folders of the machine that trained it.
    Encoding never reads these fields: the pieces, their scores and the normaliser are untouched."""
    model = sentencepiece_model_pb2.ModelProto()
    model.ParseFromString(Path(model_file).read_bytes())
    spec = model.trainer_spec
    names = [Path(f).name for f in spec.input]
    del spec.input[:]
    spec.input.extend(names)
    spec.model_prefix = Path(spec.model_prefix).name
    with replacing(model_file) as tmp:
        tmp.write_bytes(model.SerializeToString())


def _train(files, model_prefix, vocab_size, input_sentence_size, num_threads, seed_sentencepiece_size,
           max_sentence_length):
    spm.SentencePieceTrainer.train(
        input=",".join(str(f) for f in files),
        model_prefix=str(model_prefix),
        model_type="bpe",
        vocab_size=vocab_size,
        character_coverage=0.99995,
        byte_fallback=True,
        split_digits=True,
        split_by_unicode_script=True,
        split_by_number=True,
        split_by_whitespace=True,
        treat_whitespace_as_suffix=False,
        allow_whitespace_only_pieces=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        max_sentencepiece_length=16,
        max_sentence_length=max_sentence_length,
        input_sentence_size=input_sentence_size,
        shuffle_input_sentence=True,
        seed_sentencepiece_size=seed_sentencepiece_size,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=num_threads or os.cpu_count() or 1,
        minloglevel=2,
    )
