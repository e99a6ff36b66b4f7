"""What the tokenizer costs in Turkish: the same text in English and in Turkish, counted in tokens.

Llama 2 was pretrained on text that is mostly English (89.7% of it, the paper's Table 10), and Turkish builds its
words from a stem and a chain of suffixes ("evlerinizden", "from your houses"): a word the vocabulary has never seen
whole is cut into many pieces, and a letter it has no piece for (ş, ğ, ı in a vocabulary trained on English alone)
is spelled out as its UTF-8 bytes, one token each. Every token costs the same compute and takes one place of the
context window, so the price of a language is what its words cost in tokens.

The measures (`cost`), over a list of texts, each encoded on its own as a turn is (no BOS, SentencePiece's dummy
prefix space included):
    tokens per word     tokens / words, a word being what str.split() returns (punctuation stays with its word)
    bytes per token     UTF-8 bytes of the texts / tokens: how much text one token carries
    byte fallback       the share of tokens that are byte pieces <0x00>..<0xFF>, in %
    words per window    the words that fit in a 4,096-token context (Llama 2's), WINDOW / tokens per word

Two parallel texts: the tiny world's held-out fact questions and chat dialogs, in English and in the Turkish the
kit renders from the same world state (`world_texts`), and fourteen sentences of everyday life (EVERYDAY). Three
tokenizers: the kit's own (4,096 pieces, trained on the English world), Llama 2's when this machine has it, and a
bilingual one trained here with Llama 2's recipe on the world's other English and Turkish text at the kit's size
(`train_bilingual_tokenizer`).

    python -m llama_lab.course.tokenizer_cost               # the table, in seconds (Llama 2's rows when
    python -m llama_lab.course.tokenizer_cost --markdown    # LLAMA2_TOKENIZER is set); as docs/languages.md has it
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

from ..cli import OneLineParser, one_line_errors
from ..tables import markdown_table, text_table
from ..tokenizer import Tokenizer, train_tokenizer
from ..world.tiny import DATA
from ..world.turkish import parallel_dialogs, turkish_fact_questions, turkish_facts
from ..world.world import DEFAULT_SEED, World, build_world
from . import find_llama2_tokenizer

WINDOW = 4096  # Llama 2's context, in tokens
KIT_TOKENIZER = DATA / "tokenizer.model"
LANGUAGES = ("english", "turkish")
MEASURED_DIALOGS = 400  # validation chat dialogs drawn to measure on (about half are rendered in Turkish)
TRAINING_DIALOGS = 4000  # and from the training split, for the bilingual tokenizer

# Everyday sentences and their Turkish, written for this kit by its authors (not taken from any corpus or
# translation memory). The Turkish follows the English sentence by sentence, in ordinary spoken register.
EVERYDAY = (
    ("The bus to the city centre leaves every twenty minutes.",
     "Şehir merkezine giden otobüs yirmi dakikada bir kalkıyor."),
    ("Could you tell me where the nearest pharmacy is?",
     "En yakın eczanenin nerede olduğunu söyler misiniz?"),
    ("We are going to visit my grandmother this weekend.",
     "Bu hafta sonu büyükannemi ziyaret edeceğiz."),
    ("I forgot my umbrella at home, so I got wet on the way to work.",
     "Şemsiyemi evde unuttum, bu yüzden işe giderken ıslandım."),
    ("The children played in the garden until it got dark.",
     "Çocuklar hava kararana kadar bahçede oynadılar."),
    ("Please call me when you arrive at the station.",
     "Lütfen istasyona vardığında beni ara."),
    ("My sister is learning to play the guitar.",
     "Kız kardeşim gitar çalmayı öğreniyor."),
    ("This soup needs a little more salt.",
     "Bu çorbanın biraz daha tuza ihtiyacı var."),
    ("The shop on the corner closes at eight in the evening.",
     "Köşedeki dükkân akşam sekizde kapanıyor."),
    ("I have been waiting for you for half an hour.",
     "Yarım saattir seni bekliyorum."),
    ("Did you remember to water the plants before you left?",
     "Gitmeden önce bitkileri sulamayı hatırladın mı?"),
    ("If it rains tomorrow, we will stay at home and watch a film.",
     "Yarın yağmur yağarsa evde kalıp film izleyeceğiz."),
    ("The doctor said that I should rest for a few days.",
     "Doktor birkaç gün dinlenmem gerektiğini söyledi."),
    ("Our neighbours bought a new car last week.",
     "Komşularımız geçen hafta yeni bir araba aldı."),
)


def count_words(text: str) -> int:
    """The words of `text`, as str.split() finds them. Example: "Ada Applebury'da yaşıyor." -> 3."""
    return len(text.split())


def cost(tokenizer: Tokenizer, texts: Sequence[str]) -> dict[str, float]:
    """What `texts` cost in `tokenizer`'s tokens, each text encoded on its own without BOS.

    Returns the counts ("texts", "words", "bytes", "tokens", "byte tokens") and the measures ("tokens per word",
    "bytes per token", "byte fallback %", "words per window"). Example, with the kit's tokenizer: "Ada yağ" is
    "▁Ada" "▁y" "a" "<0xC4>" "<0x9F>" (ğ has no piece): 2 words, 8 bytes, 5 tokens of which 2 are bytes, so 2.5
    tokens per word, 1.6 bytes per token, 40% byte fallback and 4096 / 2.5 = 1638.4 words per window.
    """
    texts = list(texts)
    if not texts or not any(t.strip() for t in texts):
        raise ValueError("cost of no text: give a list of non-empty strings, such as EVERYDAY's sentences")
    ids = [tokenizer.encode(t, bos=False) for t in texts]
    words = sum(map(count_words, texts))
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    tokens = sum(map(len, ids))
    byte_tokens = sum(tokenizer.is_byte(i) for row in ids for i in row)
    return {"texts": len(texts), "words": words, "bytes": n_bytes, "tokens": tokens, "byte tokens": byte_tokens,
            "tokens per word": tokens / words, "bytes per token": n_bytes / tokens,
            "byte fallback %": 100 * byte_tokens / tokens, "words per window": WINDOW * words / tokens}


def same_text_tokens(first: dict[str, float], second: dict[str, float]) -> float:
    """The price of saying the same thing in a second language: the tokens of `second` over those of `first`, both
    `cost`s of the same content under one tokenizer (Turkish over English in this module's tables)."""
    return second["tokens"] / first["tokens"]


def _turns(dialogs) -> dict[str, list[str]]:
    out = {language: [] for language in LANGUAGES}
    for english, turkish in dialogs:
        out["english"] += [turn["content"] for turn in english]
        out["turkish"] += [turn["content"] for turn in turkish]
    return out


def world_texts(world: World, dialogs: int = MEASURED_DIALOGS, seed: int = DEFAULT_SEED) -> dict[str, list[str]]:
    """The tiny world's held-out parallel text: {"english": [...], "turkish": [...]}, item i of one the translation
    of item i of the other. The held-out fact questions ("eval") with their whole answer, then every turn of those
    of the first `dialogs` validation chat dialogs ("val") that are rendered in Turkish (`parallel_dialogs`)."""
    english_reply = {(f["character"], f["attribute"]): f["english"] for f in turkish_facts(world)}
    out = {language: [] for language in LANGUAGES}
    for item in turkish_fact_questions(world, "eval"):
        # "reply_tr" is the first answer phrasing, whose English `turkish_facts` writes
        out["english"] += [item["question"], english_reply[item["character"], item["attribute"]]]
        out["turkish"] += [item["question_tr"], item["reply_tr"]]
    for language, turns in _turns(parallel_dialogs(world, "val", dialogs, seed)).items():
        out[language] += turns
    return out


def everyday_texts() -> dict[str, list[str]]:
    """EVERYDAY as {"english": [...], "turkish": [...]}."""
    return {"english": [e for e, _ in EVERYDAY], "turkish": [t for _, t in EVERYDAY]}


def bilingual_training_text(world: World, dialogs: int = TRAINING_DIALOGS, seed: int = DEFAULT_SEED) -> list[str]:
    """The bilingual tokenizer's training text, one line a sentence or turn: every fact of the world and the turns
    of the training split's rendered chat dialogs, in English and in Turkish alike: none of the validation dialogs that
    `world_texts` measures."""
    facts = turkish_facts(world)
    turns = _turns(parallel_dialogs(world, "train", dialogs, seed))
    return [f["english"] for f in facts] + [f["turkish"] for f in facts] + turns["english"] + turns["turkish"]


def train_bilingual_tokenizer(folder: str | Path, world: World | None = None, vocab_size: int | None = None,
                              num_threads: int = 1) -> Tokenizer:
    """A tokenizer trained with Llama 2's recipe (`train_tokenizer`) on `bilingual_training_text`, at the kit's
    vocabulary size unless `vocab_size` says otherwise; its files go into `folder` (bilingual.txt, bilingual.model,
    bilingual.vocab). One thread by default: the text is small, and training takes about a second either way."""
    world = world or build_world(DEFAULT_SEED)
    vocab_size = vocab_size or len(Tokenizer(KIT_TOKENIZER))
    text = Path(folder) / "bilingual.txt"
    text.write_text("\n".join(bilingual_training_text(world)) + "\n", encoding="utf-8")
    return train_tokenizer(text, Path(folder) / "bilingual", vocab_size=vocab_size, num_threads=num_threads)


def compare(tokenizers: dict[str, Tokenizer], texts: dict[str, dict[str, list[str]]]) -> list[dict]:
    """`cost` of every tokenizer on every parallel text in both languages. `texts`: {name: {"english": [...],
    "turkish": [...]}}. One row per (tokenizer, text): {"tokenizer", "text", "english": cost, "turkish": cost,
    "turkish / english": Turkish's tokens per word over English's, "same text, tokens": the Turkish text's tokens
    over the English's, the price of saying the same thing (Turkish says it in fewer, longer words)}."""
    rows = []
    for name, tokenizer in tokenizers.items():
        for text_name, parallel in texts.items():
            costs = {language: cost(tokenizer, parallel[language]) for language in LANGUAGES}
            rows.append({"tokenizer": name, "text": text_name, **costs,
                         "turkish / english": costs["turkish"]["tokens per word"] /
                         costs["english"]["tokens per word"],
                         "same text, tokens": same_text_tokens(costs["english"], costs["turkish"])})
    return rows


def the_tokenizers(folder: str | Path, llama2: bool = True) -> dict[str, Tokenizer]:
    """The kit's tokenizer, Llama 2's (when `llama2` and this machine has it: `find_llama2_tokenizer`) and the
    bilingual one, trained into `folder`."""
    tokenizers = {"kit (English world)": Tokenizer(KIT_TOKENIZER)}
    found = find_llama2_tokenizer() if llama2 else None
    if found is not None:
        tokenizers["Llama 2"] = found
    tokenizers["bilingual (world, en+tr)"] = train_bilingual_tokenizer(folder)
    return tokenizers


def the_texts(world: World | None = None) -> dict[str, dict[str, list[str]]]:
    """The two parallel texts the comparison measures: the held-out world text and EVERYDAY."""
    return {"tiny world": world_texts(world or build_world(DEFAULT_SEED)), "everyday": everyday_texts()}


HEADER = ["tokenizer", "pieces", "text", "language", "words", "tokens", "tokens/word", "bytes/token",
          "byte fallback", "words/4096", "tr/en per word", "tr/en same text"]


def table_rows(rows: list[dict], tokenizers: dict[str, Tokenizer]) -> list[list[str]]:
    """`compare`'s rows as table cells, a line per language."""
    out = []
    for row in rows:
        for language in LANGUAGES:
            c = row[language]
            out.append([row["tokenizer"], f"{len(tokenizers[row['tokenizer']]):,}", row["text"], language,
                        f"{c['words']:,}", f"{c['tokens']:,}", f"{c['tokens per word']:.2f}",
                        f"{c['bytes per token']:.2f}", f"{c['byte fallback %']:.1f}%", f"{c['words per window']:,.0f}",
                        *([f"{row['turkish / english']:.2f}x", f"{row['same text, tokens']:.2f}x"]
                          if language == "turkish" else ["", ""])])
    return out


def print_tokenizer_costs(llama2: bool = True, markdown: bool = False) -> list[dict]:
    """Train the bilingual tokenizer in a temporary folder, measure the three tokenizers (two without Llama 2's)
    on both parallel texts, print the table (as Markdown with `markdown`) and return `compare`'s rows."""
    with tempfile.TemporaryDirectory() as folder:
        tokenizers = the_tokenizers(folder, llama2)
        rows = compare(tokenizers, the_texts())
        cells = table_rows(rows, tokenizers)
    if markdown:
        print("\n".join(markdown_table(HEADER, cells)))
    else:
        print(text_table(HEADER, cells, align="<><<>"))
    if "Llama 2" not in tokenizers and llama2:
        print("(no Llama 2 row: set LLAMA2_TOKENIZER to the path of Llama 2's tokenizer.model to add it)")
    return rows


def main(argv=None) -> list[dict]:
    parser = OneLineParser(prog="python -m llama_lab.course.tokenizer_cost",
                           description="Tokens per word in English and in Turkish for the kit's tokenizer, Llama 2's "
                                       "(with LLAMA2_TOKENIZER set) and a bilingual one trained on the tiny world.")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown, as docs/languages.md")
    parser.add_argument("--no-llama2", action="store_true", help="leave Llama 2's tokenizer out even when it is set")
    args = parser.parse_args(argv)
    with one_line_errors(ValueError):
        return print_tokenizer_costs(llama2=not args.no_llama2, markdown=args.markdown)


if __name__ == "__main__":
    main()
