"""Assignment 05: SentencePiece's BPE encoding, rebuilt: the same ids as SentencePiece for any text.

    pretokenize(text)          -> SentencePiece's symbols: "▁" + text with every space as "▁", split into characters
    bpe_merge(symbols, scores) -> merge the adjacent pair whose joined piece scores highest (leftmost on ties),
                                  until no adjacent pair is a piece
    encode(text, tokenizer)    -> ids, with byte fallback (<0x..> pieces) for symbols that are not pieces; no BOS

The right answers: the kit's `SentencePieceBPE` (llama_lab/bpe.py) for the first two, SentencePiece itself for
`encode`. The vocabulary is the kit's tokenizer (data/tokenizer.model) once `make data` has built it, and until
then a small one trained here with the kit's recipe on the text below.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from sentencepiece import SentencePieceProcessor

from ...bpe import SPACE, SentencePieceBPE
from ...tokenizer import Tokenizer, train_tokenizer
from ..engine.checks import Case, Part

TITLE = "BPE encoding that matches SentencePiece"

KIT_TOKENIZER = Path(__file__).resolve().parent.parent.parent.parent / "data" / "tokenizer.model"

# Text for the fallback vocabulary: plain sentences, so that merges form common English words.
TRAINING_TEXT = """\
The llama lives high in the mountains, where the grass is short and the nights are cold.
A young llama follows its mother across the hills and learns which plants are good to eat.
Farmers keep llamas to carry loads, to guard sheep, and for their soft and warm wool.
The alpaca is a smaller cousin of the llama, and its wool is even softer.
When a llama is angry it may spit, but most of the time it is calm and curious.
Every morning the herd walks down to the river to drink, and every evening it walks back up.
The children in the village know each llama by name and by the colour of its coat.
One llama is white, one is brown, and the oldest one has a grey face and a long neck.
A language model reads text as tokens, and a tokenizer decides where each token starts and ends.
The tokenizer learns its pieces from text: pairs of symbols that often stand together are merged first.
After training, the tokenizer keeps a list of pieces, each with a score, and merges by the highest score.
Words that the tokenizer has seen many times become single pieces, while rare words are split into parts.
A character that was never seen is written as its bytes, so that no text is ever unknown to the model.
The model then learns which token is likely to come next, one position at a time.
Small models learn simple stories; larger models learn to answer questions and to follow instructions.
Numbers such as 2023, 7, 13 and 70 are split into single digits, one piece for each digit.
The weather in the mountains changes quickly: the sun shines, then the wind brings rain and snow.
In the winter the llamas grow thick coats, and in the summer the farmers shear the wool.
The market in the town sells wool, cheese, bread, and warm hats made by the families of the valley.
Travellers who climb the long road stop to rest, to drink water, and to look at the herd on the hills.
"""


def tokenizer_path() -> str:
    """The SentencePiece model the BPE assignment is graded with (see the module's docstring)."""
    if KIT_TOKENIZER.is_file():
        return str(KIT_TOKENIZER)
    digest = hashlib.sha256(TRAINING_TEXT.encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / "llama-lab-grading"
    model = folder / f"bpe-{digest}.model"
    if not model.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=folder))
        text = work / "text.txt"
        text.write_text(TRAINING_TEXT, encoding="utf-8")
        try:
            train_tokenizer(text, work / "bpe", vocab_size=400, num_threads=1)
            os.replace(work / "bpe.model", model)  # atomic: two graders training at once end with one good file
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return str(model)


def vocabulary_scores(tokenizer: Tokenizer) -> dict[str, float]:
    """piece -> score for the pieces merges can make: every piece but <unk>, <s>, </s> and the byte pieces."""
    sp = tokenizer.sp_model
    return {sp.id_to_piece(i): sp.get_score(i) for i in range(sp.get_piece_size())
            if not (sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i))}


def _toy(scores: dict[str, float]) -> SentencePieceBPE:
    ids = {piece: i for i, piece in enumerate(scores)}
    return SentencePieceBPE(ids, {ids[p]: s for p, s in scores.items()}, unk_id=-1)


# ------------------------------------------------------------------------------------------- pretokenize

def kit_pretokenize(text):
    return list(_toy({}).normalize(text))


PRETOKENIZE_MISTAKES = {
    "the dummy prefix is missing: SentencePiece puts one ▁ in front of the text, so 'Hello' is seen as '▁Hello' "
    "(the same piece as in 'say Hello')": lambda text: list(text.replace(" ", SPACE)),
    "spaces are left as ' ': SentencePiece writes each space as ▁ (U+2581) before merging":
        lambda text: list(SPACE + text) if text else [],
    "the empty text became ['▁']: the prefix is added only to non-empty text (''.encode is [])":
        lambda text: list(SPACE + text.replace(" ", SPACE)),
    "the text is split into words: BPE starts from single characters and merges them":
        lambda text: [SPACE + w for w in text.split(" ")] if text else [],
    "repeated spaces are collapsed: Llama 2's tokenizer keeps every space (remove_extra_whitespaces is off)":
        lambda text: list(SPACE + SPACE.join(text.split())) if text.strip() else [],
    "the text is split into UTF-8 bytes: the symbols are characters ('é' is one symbol; bytes come only in the "
    "fallback)": lambda text: list((SPACE + text.replace(" ", SPACE)).encode("utf-8").decode("latin-1"))
        if text else [],
}


def _pretokenize_cases():
    labels = {"": "the empty text ''", "a": "text 'a' (one character)",
              "   ": "text '   ' (spaces only: each one is a symbol)"}
    return [Case(labels.get(t, f"text {t!r}"), dict(text=t))
            for t in ("Hello world", " Hello  world ", "", "naïve café ☕", "a", "   ")]


# --------------------------------------------------------------------------------------------- bpe_merge

def kit_bpe_merge(symbols, scores):
    return _toy(scores).merge(symbols)


def _merge_by(symbols, scores, pick):
    """Merge repeatedly; `pick(candidates)` chooses among (index, merged piece, score) of the mergeable pairs."""
    symbols = list(symbols)
    while True:
        candidates = [(i, symbols[i] + symbols[i + 1], scores[symbols[i] + symbols[i + 1]])
                      for i in range(len(symbols) - 1) if symbols[i] + symbols[i + 1] in scores]
        if not candidates:
            return symbols
        i, merged, _ = pick(candidates)
        symbols[i:i + 2] = [merged]


def _longest_match(symbols, scores):
    text, out, i = "".join(symbols), [], 0
    while i < len(text):
        j = next((j for j in range(len(text), i + 1, -1) if text[i:j] in scores), i + 1)
        out.append(text[i:j])
        i = j
    return out


MERGE_MISTAKES = {
    "the lowest-scoring pair is merged first: merge the pair whose joined piece has the highest score "
    "(scores are negative; -1.0 beats -5.0)":
        lambda symbols, scores: _merge_by(symbols, scores, lambda c: min(c, key=lambda x: x[2])),
    "on a tie the rightmost pair is merged: SentencePiece takes the leftmost":
        lambda symbols, scores: _merge_by(symbols, scores, lambda c: max(reversed(c), key=lambda x: x[2])),
    "pairs are merged in reading order (the first mergeable pair from the left), not by score":
        lambda symbols, scores: _merge_by(symbols, scores, lambda c: c[0]),
    "this is greedy longest match (WordPiece's rule), not BPE: merge pairs by score, one merge at a time":
        _longest_match,
}


def _merge_cases():
    path = tokenizer_path()
    scores = vocabulary_scores(Tokenizer(path))
    sentence = "The young llama learns which plants are good, and the farmers shear the wool."
    return [
        Case("symbols ▁ l o w e r; scores er 0, lo -1, low -2, ▁l -3, ow -5, we -6",
             dict(symbols=list(SPACE + "lower"),
                  scores={"er": 0.0, "lo": -1.0, "low": -2.0, f"{SPACE}l": -3.0, "ow": -5.0, "we": -6.0})),
        Case("symbols ▁ a a a; scores aa -1, ▁a -2 (two pairs 'aa' tie)",
             dict(symbols=list(SPACE + "aaa"), scores={"aa": -1.0, f"{SPACE}a": -2.0})),
        Case("symbols ▁ a b c d; scores abc -1, cd -2 (no pair joins into 'abc', so it cannot form)",
             dict(symbols=list(SPACE + "abcd"), scores={"abc": -1.0, "cd": -2.0})),
        Case("no symbols (the empty text): nothing to merge", dict(symbols=[], scores={"aa": -1.0})),
        Case("one symbol ▁ (nothing next to it to merge with)", dict(symbols=[SPACE], scores={f"{SPACE}a": -1.0})),
        Case(f"the symbols of {sentence!r} with the vocabulary of {Path(path).name} "
             f"({len(scores)} pieces)", dict(symbols=kit_pretokenize(sentence), scores=scores)),
    ]


# ------------------------------------------------------------------------------------------------ encode

def sentencepiece_encode(text, tokenizer):
    return tokenizer.encode(text, bos=False)


def _encode_with(text, tokenizer, fallback, pretokenize=kit_pretokenize):
    ids = {tokenizer.id_to_piece(i): i for i in range(tokenizer.n_words)}
    out = []
    for symbol in kit_bpe_merge(pretokenize(text), vocabulary_scores(tokenizer)):
        out += [ids[symbol]] if symbol in ids else fallback(symbol, ids)
    return out


ENCODE_MISTAKES = {
    "symbols that are not pieces became <unk> (id 0): with byte fallback each of their UTF-8 bytes becomes the "
    "piece <0xXX>": lambda text, tok: _encode_with(text, tok, lambda s, ids: [0]),
    "byte fallback used the byte's value as its id: the piece '<0x0A>' has its own id, "
    "tokenizer.piece_to_id('<0x0A>') (3 + the byte's value, after <unk>, <s>, </s>)":
        lambda text, tok: _encode_with(text, tok, lambda s, ids: list(s.encode("utf-8"))),
    "byte fallback used the character's code point: a character is its UTF-8 bytes ('🦙' is 4 bytes, "
    "symbol.encode('utf-8'))": lambda text, tok: _encode_with(
        text, tok, lambda s, ids: [ids[f"<0x{ord(c):02X}>"] if ord(c) < 256 else 0 for c in s]),
    "a BOS id was added: this encode is Tokenizer.encode(text, bos=False), without <s>":
        lambda text, tok: [tok.bos_id] + tok.encode(text, bos=False),
    "the empty text gave the id of ▁: the dummy prefix goes only in front of non-empty text, so '' encodes to [] "
    "(pretokenize('') is [])": lambda text, tok: _encode_with(
        text, tok, lambda s, ids: [ids[f"<0x{b:02X}>"] for b in s.encode("utf-8")],
        pretokenize=lambda t: list(SPACE + t.replace(" ", SPACE))),
}


def _run_encode(impl, inputs):
    return impl(inputs["text"], Tokenizer(inputs["tokenizer"]))


def _encode_cases():
    path = tokenizer_path()
    texts = ["The llama walks down to the river.", "Line one\n\tindented line two", "Llamas 🦙 in Zürich, ©2023",
             "In 2023, 7 farmers kept 70 llamas!", "", "€", " "]
    labels = {"": "the empty text '' (no ids at all)", "€": "text '€' (a single character)",
              " ": "text ' ' (a single space)"}
    return [Case(labels.get(t, f"text {t!r}"), dict(text=t, tokenizer=path)) for t in texts]


PARTS = [
    Part("pretokenize", "SentencePiece's symbols", kit_pretokenize, lambda f, i: f(i["text"]), _pretokenize_cases,
         PRETOKENIZE_MISTAKES, kit=(SentencePieceBPE.normalize,),
         hint="Expected: '▁' + text with each ' ' replaced by '▁', as a list of characters; [] for the empty text"),
    Part("bpe_merge", "BPE merges", kit_bpe_merge, lambda f, i: f(i["symbols"], i["scores"]), _merge_cases,
         MERGE_MISTAKES, kit=(SentencePieceBPE.merge,),
         hint="Each round, among adjacent pairs whose joined string is in scores, merge the highest-scoring one "
              "(the leftmost on ties); stop when no pair is a piece"),
    Part("encode", "ids that match SentencePiece", sentencepiece_encode, _run_encode, _encode_cases,
         ENCODE_MISTAKES,
         kit=(Tokenizer.encode, SentencePieceBPE.encode, SentencePieceBPE.encode_pieces,
              SentencePieceProcessor.Encode),  # the last is SentencePiece's own encode (and its aliases)
         uses={"pretokenize": kit_pretokenize, "bpe_merge": kit_bpe_merge, "vocabulary_scores": vocabulary_scores},
         hint="pretokenize, merge with vocabulary_scores(tokenizer), then one id per piece, or the ids of the "
              "<0xXX> pieces of its UTF-8 bytes for a symbol that is not a piece",
         error_hints={"KeyError": "a symbol that is not a piece needs byte fallback"}),
]
