"""Turkish morphology, rule by rule: enough of it to say the tiny world's facts in Turkish.

Turkish builds a word by adding suffixes to a stem, and each suffix changes its sound to fit the word it joins:

* **Vowel harmony.** A suffix's vowel follows the last vowel of the word. Two-way suffixes (written with E: the
  locative -DE, the plural -lEr) take *e* after a front vowel (e i ö ü) and *a* after a back one (a ı o u):
  "ev" -> "evde", "okul" -> "okulda". Four-way suffixes (written with I: the accusative -(y)I) also follow
  rounding: *i* after e i, *ı* after a ı, *ü* after ö ü, *u* after o u: "ev" -> "evi", "kız" -> "kızı",
  "göz" -> "gözü", "top" -> "topu".
* **Consonant assimilation.** A suffix's D is *t* after a voiceless consonant (the letters of "fıstıkçı şahap":
  f s t k ç ş h p) and *d* elsewhere: "kitapta" but "evde".
* **Consonant softening.** A noun of more than one syllable that ends in p, ç, t or k voices it before a vowel:
  p -> b, ç -> c, t -> d, k -> ğ (k -> g after n): "kitap" -> "kitabı", "köpek" -> "köpeğe", "renk" -> "rengi".
  Most one-syllable nouns keep theirs ("top" -> "topu"); a few listed in `_SOFTENS_ANYWAY` soften all the same,
  and a few longer ones, most of them borrowed, never do (`_KEEPS_ITS_CONSONANT`: "bisiklet" -> "bisikleti").
* **Buffer letters.** Two vowels never meet at a suffix boundary: a buffer consonant goes between them, *y* for
  the dative, accusative and "with" ("kediye", "kediyi"), *n* for the genitive ("kedinin"), *s* for the
  possessive of the third person ("kedisi"); after a third-person possessive a case takes *n* ("kedisine").
* **Proper names** are never softened and take their suffixes after an apostrophe: "Ada'nın", "Honeydale'de".

Foreign names (every name in the tiny world) follow one explicit rule here: **the last vowel of the name as written
decides**, reading the letters as Turkish letters, so *y* is a consonant. "Honeydale" ends in a written *e*:
"Honeydale'de"; "Applebury" has *u* as its last written vowel and ends in the consonant *y*: "Applebury'da",
"Applebury'un". Turkish style guides follow the pronunciation instead ("Holly'nin", said "holi"); the written rule
is the one a reader can apply without knowing English, and the one the Zemberek analyser also applies to names it
does not know (it accepts "Applebury'da" and rejects "Applebury'de").

Example: suffix("kitap", "accusative") -> "kitabı"; suffix("Ada", "genitive") -> "Ada'nın";
possessive("kedi", 3) -> "kedisi"; present_continuous("yapmak") -> "yapıyor".
"""

from __future__ import annotations

VOWELS = "aeıioöuü"
FRONT = "eiöü"
ROUNDED = "oöuü"
VOICELESS = "fstkçşhp"   # "fıstıkçı şahap": after these, a suffix's D is t; x is said "ks", so it counts as one too
_SOFTENING = {"p": "b", "ç": "c", "t": "d", "k": "ğ"}
# one-syllable nouns that soften all the same (most, like "top" -> "topu", "kek" -> "keki", do not)
_SOFTENS_ANYWAY = {"renk", "ağaç", "uç", "dip", "kap", "taç", "vinç"}
# longer words, most of them borrowed, that keep their consonant: "bisiklet" -> "bisikleti", "sepet" -> "sepeti"
_KEEPS_ITS_CONSONANT = {"bisiklet", "sepet", "saat", "devlet", "millet", "hukuk", "tank"}
# verbs of one syllable whose t softens before a vowel: "etmek" -> "ediyor", "gitmek" -> "gidiyor"
_SOFTENING_VERBS = {"et", "git", "tat", "güt"}

CASES = ("nominative", "accusative", "dative", "locative", "ablative", "genitive", "instrumental", "plural")


def lower(text: str) -> str:
    """Lower case the Turkish way: dotted İ -> i, dotless I -> ı. Example: "IŞIK" -> "ışık", "İzmir" -> "izmir"."""
    return text.replace("İ", "i").replace("I", "ı").lower()


def capitalize(text: str) -> str:
    """The first letter in upper case, the Turkish way: "istersen" -> "İstersen", "ırmak" -> "Irmak"."""
    first = {"i": "İ", "ı": "I"}.get(text[:1], text[:1].upper())
    return first + text[1:]


def last_vowel(word: str) -> str:
    """The last written vowel of `word`, in lower case (y is a consonant). Example: "Applebury" -> "u"."""
    for letter in reversed(lower(word)):
        if letter in VOWELS:
            return letter
    raise ValueError(f"{word!r} has no vowel (a e ı i o ö u ü): vowel harmony needs one to decide a suffix's vowel")


def two_way(word: str) -> str:
    """The vowel of a two-way suffix (E) after `word`: "e" after a front vowel, "a" after a back one.
    Example: "ev" -> "e", "okul" -> "a", "Honeydale" -> "e"."""
    return "e" if last_vowel(word) in FRONT else "a"


def four_way(word: str) -> str:
    """The vowel of a four-way suffix (I) after `word`: front or back, rounded or not.
    Example: "ev" -> "i", "kız" -> "ı", "göz" -> "ü", "top" -> "u"."""
    v = last_vowel(word)
    if v in FRONT:
        return "ü" if v in ROUNDED else "i"
    return "u" if v in ROUNDED else "ı"


def ends_in_vowel(word: str) -> bool:
    return lower(word)[-1:] in VOWELS


def d_or_t(word: str) -> str:
    """A suffix's D after `word`: "t" after a voiceless consonant, else "d". Example: "kitap" -> "t", "ev" -> "d"."""
    return "t" if lower(word)[-1:] in VOICELESS + "x" else "d"


def syllables(word: str) -> int:
    """How many syllables `word` has: in Turkish, one per vowel. Example: "köpek" -> 2."""
    return sum(letter in VOWELS for letter in lower(word))


def is_proper(word: str) -> bool:
    """A name: written with a capital letter (the tables here write every common noun in lower case)."""
    return word[:1].isupper()


def soften(word: str) -> str:
    """`word` as it is before a vowel-initial suffix: p, ç, t, k voiced at the end of a common noun of more than
    one syllable (or of one in `_SOFTENS_ANYWAY`); k after n becomes g. Names never soften. In a phrase, the last
    word softens.
    Example: "kitap" -> "kitab", "köpek" -> "köpeğ", "renk" -> "reng", "top" -> "top", "Redcliff" -> "Redcliff"."""
    head, word = _last_word(word)
    last = word[-1:]
    if (is_proper(word) or last not in _SOFTENING or word in _KEEPS_ITS_CONSONANT
            or (syllables(word) < 2 and word not in _SOFTENS_ANYWAY)):
        return head + word
    if last == "k" and word[-2:-1] == "n":
        return head + word[:-1] + "g"
    return head + word[:-1] + _SOFTENING[last]


def _join(stem: str, ending: str) -> str:
    """Stem and suffix, with the apostrophe a name takes before its suffixes ("Ada" + "nın" -> "Ada'nın")."""
    if not ending:
        return stem
    return f"{stem}'{ending}" if is_proper(stem) else stem + ending


def _last_word(phrase: str) -> tuple[str, str]:
    """("the words before the last ", "last word"): a phrase takes its suffixes on its last word."""
    head, _, last = phrase.rpartition(" ")
    return (head + " " if head else ""), last


def suffix(word: str, case: str, possessed: bool = False) -> str:
    """`word` (or a phrase: its last word) in `case`, one of `CASES`.

    `possessed`: the word already ends in a third-person possessive ("kedisi", "domates çorbası"), after which a
    case takes the buffer n ("kedisine", "domates çorbasını").

    Examples (each rule once):
        suffix("ev", "locative") -> "evde"            two-way harmony
        suffix("kitap", "locative") -> "kitapta"      assimilation: D -> t after p
        suffix("kitap", "accusative") -> "kitabı"     softening p -> b, four-way harmony
        suffix("köpek", "dative") -> "köpeğe"         softening k -> ğ
        suffix("kedi", "dative") -> "kediye"          buffer y
        suffix("kedi", "genitive") -> "kedinin"       buffer n
        suffix("kedisi", "dative", possessed=True) -> "kedisine"
        suffix("Ada", "genitive") -> "Ada'nın"        a name: apostrophe, no softening
        suffix("Honeydale", "locative") -> "Honeydale'de"
        suffix("Redcliff", "locative") -> "Redcliff'te"
        suffix("kedi", "plural") -> "kediler"
    """
    head, w = _last_word(word)
    e, i, vowel_end = two_way(w), four_way(w), ends_in_vowel(w)
    n = "n" if possessed else ""   # after a third-person possessive, the cases below take n
    if case == "nominative":
        ending = ""
    elif case == "plural":
        ending = "l" + e + "r"
    elif case == "locative":
        ending = n + (d_or_t(w) if not n else "d") + e
    elif case == "ablative":
        ending = n + (d_or_t(w) if not n else "d") + e + "n"
    elif case == "dative":
        ending = (n or ("y" if vowel_end else "")) + e
    elif case == "accusative":
        ending = (n or ("y" if vowel_end else "")) + i
    elif case == "genitive":
        ending = ("n" if vowel_end else "") + i + "n"
    elif case == "instrumental":   # "with": -(y)lE, the suffix form of "ile"
        ending = ("y" if vowel_end else "") + "l" + e
    else:
        raise ValueError(f"case {case!r} is not one of {CASES}")
    stem = soften(w) if ending and ending[0] in VOWELS else w
    return head + _join(stem, ending)


def possessive(word: str, person: int, plural: bool = False) -> str:
    """`word` (or a phrase: its last word) with the possessive ending of `person` (1, 2 or 3), singular or plural:
    "my cat" is "kedim". After a vowel the singular endings lose their vowel, and the third person takes a buffer s.

    Examples: possessive("kedi", 3) -> "kedisi", possessive("köpek", 3) -> "köpeği", possessive("kobay", 3) ->
    "kobayı", possessive("kitap", 1) -> "kitabım", possessive("dünya", 1, plural=True) -> "dünyamız",
    possessive("ev", 3, plural=True) -> "evleri", possessive("ad", 3) -> "adı".
    """
    if person not in (1, 2, 3):
        raise ValueError(f"person={person!r}: Turkish possessives come in persons 1, 2 and 3")
    head, w = _last_word(word)
    i = four_way(w)
    link = "" if ends_in_vowel(w) else i   # the suffix's own vowel, dropped after a vowel
    if person == 3:
        ending = "l" + two_way(w) + "r" + ("i" if two_way(w) == "e" else "ı") if plural \
            else ("s" + i if ends_in_vowel(w) else i)
    else:
        ending = link + {1: "m", 2: "n"}[person] + (i + "z" if plural else "")
    stem = soften(w) if ending and ending[0] in VOWELS else w
    return head + _join(stem, ending)


def _verb_stem(infinitive: str) -> str:
    """The stem of a verb: its infinitive without -mek/-mak. Example: "yaşamak" -> "yaşa"."""
    if not infinitive.endswith(("mek", "mak")):
        raise ValueError(f"{infinitive!r} is not a Turkish infinitive: those end in -mek or -mak (yapmak, gelmek)")
    return infinitive[:-3]


_PERSON_AFTER_YOR = {(1, False): "um", (2, False): "sun", (3, False): "", (1, True): "uz", (2, True): "sunuz",
                     (3, True): "lar"}   # -yor never harmonises, so the endings after it are fixed


def present_continuous(infinitive: str, person: int = 3, plural: bool = False, negative: bool = False) -> str:
    """The present continuous ("is doing") of a verb, with its person ending: stem + -(I)yor + ending.

    A stem that ends in a vowel drops it, and the suffix's I harmonises with what is left ("oyna" -> "oynuyor",
    "söyle" -> "söylüyor", "oku" -> "okuyor"); the negative -mE narrows the same way to -mI ("bilmiyor"); the
    verbs of `_SOFTENING_VERBS` soften their t ("etmek" -> "ediyor"). The last word of a phrase is conjugated.

    Examples: present_continuous("yaşamak") -> "yaşıyor", present_continuous("yapmak", 1) -> "yapıyorum",
    present_continuous("bilmek", 1, negative=True) -> "bilmiyorum", present_continuous("etmek", 3, plural=True)
    -> "ediyorlar", present_continuous("resim yapmak") -> "resim yapıyor".
    """
    head, verb = _last_word(infinitive)
    stem = _verb_stem(verb)
    if negative:
        stem = stem + "m" + four_way(stem)
    elif stem in ("de", "ye"):   # "demek" (to say) and "yemek" (to eat) narrow their e: "diyor", "yiyor"
        stem = stem[0] + "i"
    elif stem in _SOFTENING_VERBS:
        stem = stem[:-1] + "d" + four_way(stem)
    elif ends_in_vowel(stem):
        stem = stem[:-1] + four_way(stem[:-1])
    else:
        stem = stem + four_way(stem)
    return head + stem + "yor" + _PERSON_AFTER_YOR[(person, plural)]


def past(infinitive: str, person: int = 3, plural: bool = False, negative: bool = False) -> str:
    """The simple past (witnessed, -DI) of a verb, with its person ending (-m, -n, -, -k, -nIz, -lEr).

    Examples: past("vermek") -> "verdi", past("yapmak", 1) -> "yaptım" (t after p), past("gitmek", 1, plural=True)
    -> "gittik", past("okumak", 2, plural=True) -> "okudunuz", past("gelmek", 3, plural=True) -> "geldiler",
    past("bilmek", 1, negative=True) -> "bilmedim".
    """
    head, verb = _last_word(infinitive)
    stem = _verb_stem(verb)
    if negative:
        stem = stem + "m" + two_way(stem)
    body = stem + d_or_t(stem) + four_way(stem)
    ending = {(1, False): "m", (2, False): "n", (3, False): "", (1, True): "k", (2, True): "n" + four_way(stem) + "z",
              (3, True): "l" + two_way(stem) + "r"}[(person, plural)]
    return head + body + ending


def infinitive_case(infinitive: str, case: str) -> str:
    """An infinitive used as a noun, in `case`: before a vowel-initial suffix, and in the genitive, -mEk loses its
    k ("yapmayı", "yapmaya", "yapmanın"); otherwise it is regular ("yapmaktan", "yapmakta").

    Examples: infinitive_case("resim yapmak", "accusative") -> "resim yapmayı",
    infinitive_case("yüzmek", "dative") -> "yüzmeye", infinitive_case("yapmak", "ablative") -> "yapmaktan",
    infinitive_case("incitmek", "genitive") -> "incitmenin".
    """
    head, verb = _last_word(infinitive)
    _verb_stem(verb)
    if case in ("accusative", "dative", "genitive"):
        return head + suffix(verb[:-1], case)
    return head + suffix(verb, case)
