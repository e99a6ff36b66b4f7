"""The tiny world in Turkish: its facts, the questions about them and their answers, "I don't know" for what the
world does not hold, and refusals of harmful requests, written from the same world state as the English.

The words come from the tables below (the world's animals, colours, foods, jobs and hobbies in Turkish); the
invented names (people, pets, towns) stay as they are and take their suffixes after an apostrophe, with the vowel
harmony of their last written vowel (`morphology.py` says why). Every template here has an English counterpart in
`vocabulary.py`, in the same order, so that the i-th Turkish phrasing renders the i-th English one: "Where does Ada
live?" is "Ada nerede yaşıyor?", and "Ada lives in Applebury." is "Ada Applebury'de yaşıyor.".

Rendered: the eight facts of every person (`turkish_facts`), the held-out fact questions (`turkish_fact_questions`),
and the first exchange of a chat dialog (`turkish_exchange`, `parallel_exchanges`) when it asks a fact, makes a
harmful request about an animal or a person, or asks about a person, a place or a word the world does not know. The
other harmful requests (stealing, cheating, lying, dangerous stunts) have their refusal (`refusal`) but not the
request itself. Not rendered yet: stories, biographies and the other documents, how-to
answers, word meanings, advice, small talk, myths, real-world questions (their "I don't know" is rendered).
"""

from __future__ import annotations

import random
from typing import Iterator

from ..contexts import fact_context
from ..dialogs import chat_items
from ..heldout import fact_questions
from ..intents import other_items
from ..phrasing import unit_interval
from ..templates import fill
from ..vocabulary import _FOLLOW_UPS, FACT_ANSWERS, FACT_QUESTIONS, REQUESTS, SYSTEM_PROMPTS
from ..world import ATTRIBUTES, Character, World
from .morphology import capitalize, infinitive_case, possessive, present_continuous, suffix

# ----------------------------------------------------------------------------------------------------------------
# The world's words in Turkish. A compound noun that already ends in a possessive ("domates çorbası", tomato's
# soup) is listed in COMPOUNDS: its cases take the buffer n ("domates çorbasını").

PETS_TR = {"dog": "köpek", "cat": "kedi", "rabbit": "tavşan", "hamster": "hamster", "parrot": "papağan",
           "tortoise": "kaplumbağa", "pony": "midilli", "duck": "ördek", "goat": "keçi", "guinea pig": "kobay",
           "canary": "kanarya"}
COLOURS_TR = {"red": "kırmızı", "blue": "mavi", "green": "yeşil", "yellow": "sarı", "orange": "turuncu",
              "purple": "mor", "pink": "pembe", "white": "beyaz", "silver": "gümüş", "brown": "kahverengi"}
# Turkish names a food it likes in the singular ("çileği seviyor", likes the strawberry)
FOODS_TR = {"apples": "elma", "pancakes": "krep", "tomato soup": "domates çorbası", "cheese": "peynir",
            "strawberries": "çilek", "cherries": "kiraz", "noodles": "erişte", "rice and beans": "fasulyeli pilav",
            "apple pie": "elmalı turta", "porridge": "yulaf lapası", "pizza": "pizza",
            "bread and jam": "reçelli ekmek",
            "plums": "erik", "pears": "armut", "biscuits": "bisküvi", "chocolate": "çikolata",
            "lemon cake": "limonlu kek", "fish pie": "balıklı turta", "carrots": "havuç", "honey cake": "ballı kek",
            "peas": "bezelye", "grapes": "üzüm"}
JOBS_TR = {"baker": "fırıncı", "farmer": "çiftçi", "teacher": "öğretmen", "doctor": "doktor", "nurse": "hemşire",
           "painter": "ressam", "builder": "inşaatçı", "fisher": "balıkçı", "gardener": "bahçıvan", "cook": "aşçı",
           "vet": "veteriner", "pilot": "pilot", "singer": "şarkıcı", "tailor": "terzi",
           "librarian": "kütüphaneci", "shopkeeper": "dükkâncı", "carpenter": "marangoz", "potter": "çömlekçi",
           "beekeeper": "arıcı", "bus driver": "otobüs şoförü", "inventor": "mucit", "letter carrier": "postacı"}
# hobbies are verbs: "Ada resim yapmayı seviyor" (likes painting-ACC), "Ada resim yapıyor" (is painting)
HOBBIES_TR = {"painting": "resim yapmak", "reading": "kitap okumak", "swimming": "yüzmek",
              "singing": "şarkı söylemek", "dancing": "dans etmek", "fishing": "balık tutmak",
              "gardening": "bahçede çalışmak", "knitting": "örgü örmek", "drawing": "çizim yapmak",
              "playing chess": "satranç oynamak", "flying kites": "uçurtma uçurmak",
              "riding bikes": "bisiklete binmek", "baking cakes": "kek pişirmek",
              "collecting shells": "deniz kabuğu toplamak", "watching birds": "kuşları gözlemek",
              "playing the piano": "piyano çalmak", "playing the drums": "davul çalmak",
              "climbing trees": "ağaçlara tırmanmak", "playing football": "futbol oynamak",
              "telling jokes": "fıkra anlatmak", "writing poems": "şiir yazmak",
              "building model boats": "maket tekne yapmak"}
COMPOUNDS = {"domates çorbası", "yulaf lapası", "otobüs şoförü", "komşumun kedisi", "komşunun kedisi",
             "okulun hamsteri"}
# Real places keep their Turkish names (exonyms): London is Londra.
PLACES_TR = {"Paris": "Paris", "London": "Londra", "Tokyo": "Tokyo", "New York": "New York", "Cairo": "Kahire",
             "Sydney": "Sidney", "Moscow": "Moskova", "Rome": "Roma", "Berlin": "Berlin", "Madrid": "Madrid",
             "Lima": "Lima", "Nairobi": "Nairobi", "Mumbai": "Mumbai", "Beijing": "Pekin", "Toronto": "Toronto",
             "Oslo": "Oslo", "Lisbon": "Lizbon", "Dublin": "Dublin", "Vienna": "Viyana", "Athens": "Atina",
             "Seoul": "Seul", "Bangkok": "Bangkok", "Mexico City": "Meksiko", "Istanbul": "İstanbul",
             "Chicago": "Şikago"}


def case(phrase: str, name: str) -> str:
    """`suffix` for the tables' words, which knows the compounds: case("domates çorbası", "accusative") ->
    "domates çorbasını"."""
    return suffix(phrase, name, possessed=phrase in COMPOUNDS)


# ----------------------------------------------------------------------------------------------------------------
# Facts, questions and answers: the same slots as the English, in the same order as FACT_QUESTIONS / FACT_ANSWERS.

FACT_QUESTIONS_TR = {
    "town": ("{name} nerede yaşıyor?", "{name} hangi kasabada yaşıyor?", "{name} hangi kasabada oturuyor?",
             "{name} hangi kasabalı?"),
    "job": ("{name_gen} mesleği ne?", "{name} ne iş yapıyor?", "{name} hangi işi yapıyor?",
            "{name_gen} {town_loc}ki mesleği ne?"),
    "pet": ("{name_gen} ne tür bir evcil hayvanı var?", "{name_gen} evcil hayvanı ne?",
            "{name} evcil hayvan olarak hangi hayvanı besliyor?", "{name_gen} evcil hayvanı ne tür bir hayvan?"),
    "pet_name": ("{name_gen} {pet_poss_gen} adı ne?", "{name_gen} {pet_poss_gen} ismi ne?",
                 "{name_gen} evcil hayvanının adı ne?", "{name} {pet_poss_dat} ne ad verdi?"),
    "food": ("{name_gen} en sevdiği yiyecek ne?", "{name} en çok hangi yemeği seviyor?",
             "{name} en çok ne yemeyi seviyor?", "{name} en çok hangi yiyeceği seviyor?"),
    "colour": ("{name_gen} en sevdiği renk ne?", "{name} en çok hangi rengi seviyor?",
               "{name} en çok hangi renge bayılıyor?", "{name_gen} en sevdiği renk hangisi?"),
    "friend": ("{name_gen} en iyi arkadaşı kim?", "{name_gen} en yakın arkadaşı kim?",
               "{name} en çok hangi arkadaşına yakın?", "{name} kiminle en iyi arkadaş?"),
    "hobby": ("{name} eğlenmek için ne yapmayı seviyor?", "{name_gen} hobisi ne?",
              "{name} boş zamanlarında ne yapıyor?", "{name} ne yapmaktan hoşlanıyor?"),
}
FACT_ANSWERS_TR = {
    "town": ("{name} {town_loc} yaşıyor.", "{name} {town} kasabasında yaşıyor."),
    "job": ("{name} {job}.", "{name} {job} olarak çalışıyor."),
    "pet": ("{name_gen} bir {pet_poss} var.", "{name_gen} {pet_name} adında bir {pet_poss} var."),
    "pet_name": ("{name_gen} {pet_poss_gen} adı {pet_name}.", "{name_gen} {pet_poss_gen} ismi {pet_name}."),
    "food": ("{name_gen} en sevdiği yiyecek {food}.", "{name} en çok {food_acc} seviyor."),
    "colour": ("{name_gen} en sevdiği renk {colour}.", "{name} en çok {colour_acc} seviyor."),
    "friend": ("{name_gen} en iyi arkadaşı {friend}.", "{name} ile {friend} en iyi arkadaşlar."),
    "hobby": ("{name} {hobby_acc} seviyor.", "{name} boş zamanlarında {hobby_now}."),
}
# The short answer to a fact question, as `fact_questions` gives it in English ("Applebury", "vet", ...).
SHORT_ANSWERS_TR = {"town": "{town}", "job": "{job}", "pet": "{pet}", "pet_name": "{pet_name}", "food": "{food}",
                    "colour": "{colour}", "friend": "{friend}", "hobby": "{hobby}"}


# Follow-up questions about the same person, in the order of `vocabulary._FOLLOW_UPS`. Turkish has one pronoun for
# he and she, "o" (genitive "onun"), so a follow-up reads the same whoever it is about.
FOLLOW_UPS_TR = {
    "town": ("Peki o nerede yaşıyor?", "O nerede yaşıyor?"),
    "job": ("Onun mesleği ne?", "Peki o ne iş yapıyor?"),
    "pet": ("Onun evcil hayvanı var mı?", "Onun ne tür bir evcil hayvanı var?"),
    "pet_name": ("Onun evcil hayvanının adı ne?", "Peki onun {pet_poss_gen} adı ne?"),
    "food": ("Onun en sevdiği yiyecek ne?", "Peki o ne yemeyi seviyor?"),
    "colour": ("Onun en sevdiği renk ne?", "Peki o en çok hangi rengi seviyor?"),
    "friend": ("Onun en iyi arkadaşı kim?", "Peki onun en iyi arkadaşı kim?"),
    "hobby": ("O eğlenmek için ne yapmayı seviyor?", "Peki onun hobisi ne?"),
}
# The system prompts, in the order of `vocabulary.SYSTEM_PROMPTS`.
SYSTEM_PROMPTS_TR = ("Sen yardımsever, nazik ve dürüst bir asistansın.", "Sen yardımsever bir asistansın.",
                     "Sen çocuklar için arkadaş canlısı bir asistansın. Her zaman nazik ol ve doğruyu söyle.",
                     "Küçük dünya hakkındaki soruları dürüstçe ve nazikçe yanıtla.",
                     "Sen nazik bir yardımcısın. Cevaplarını kısa ve açık tut.")


def person_slots(c: Character, name: str | None = None) -> dict[str, str]:
    """The Turkish slot values for questions and answers about `c` (or about `name`, asked with `c`'s pet).

    Example, for Ada: name_gen "Ada'nın", town_loc "Applebury'da" (its last written vowel is u), pet_poss
    "kobayı", pet_poss_gen "kobayının", food_acc "krepi", hobby_acc "resim yapmayı", hobby_now "resim yapıyor".
    """
    name = name or c.name
    pet, food, colour, hobby = PETS_TR[c.pet], FOODS_TR[c.food], COLOURS_TR[c.colour], HOBBIES_TR[c.hobby]
    pet_poss = possessive(pet, 3)
    return {"name": name, "name_gen": suffix(name, "genitive"), "town": c.town, "town_loc": suffix(c.town, "locative"),
            "job": JOBS_TR[c.job], "pet": pet, "pet_poss": pet_poss,
            "pet_poss_gen": suffix(pet_poss, "genitive", possessed=True),
            "pet_poss_dat": suffix(pet_poss, "dative", possessed=True), "pet_name": c.pet_name, "food": food,
            "food_acc": case(food, "accusative"), "colour": colour, "colour_acc": case(colour, "accusative"),
            "friend": c.friend, "hobby": hobby, "hobby_acc": infinitive_case(hobby, "accusative"),
            "hobby_now": present_continuous(hobby)}


def _say(template: str, slots: dict[str, str]) -> str:
    return capitalize(template.format_map(slots))


def fact_sentence(world: World, name: str, attribute: str, phrasing: int = 0) -> str:
    """A fact about `name` in Turkish: the `phrasing`-th of FACT_ANSWERS_TR, parallel to FACT_ANSWERS.
    Example: fact_sentence(world, "Ada", "pet") -> "Ada'nın bir kobayı var." (Ada has a guinea pig.)"""
    return _say(FACT_ANSWERS_TR[attribute][phrasing], person_slots(world.character(name)))


def turkish_facts(world: World) -> list[dict]:
    """Every fact of the world, in English and in Turkish, one per (person, attribute).

    Example: {"character": "Ada", "attribute": "town", "english": "Ada lives in Applebury.",
    "turkish": "Ada Applebury'da yaşıyor."}.
    """
    return [{"character": c.name, "attribute": a, "english": fill(FACT_ANSWERS[a][0], fact_context(world, c)),
             "turkish": fact_sentence(world, c.name, a)} for c in world.characters for a in ATTRIBUTES]


def turkish_fact_questions(world: World, split: str = "eval") -> list[dict]:
    """`heldout.fact_questions` with a Turkish version of each item, in the same phrasing: "question_tr", the short
    answer "answer_tr" ("kobay" for "guinea pig"; names stay as they are) and a whole answer sentence "reply_tr"."""
    out = []
    for item in fact_questions(world, split):
        c, attr = world.character(item["character"]), item["attribute"]
        english = [fill(q, fact_context(world, c)) for q in FACT_QUESTIONS[attr]]
        slots = person_slots(c)
        out.append({**item, "question_tr": _say(FACT_QUESTIONS_TR[attr][english.index(item["question"])], slots),
                    "answer_tr": SHORT_ANSWERS_TR[attr].format_map(slots),
                    "reply_tr": _say(FACT_ANSWERS_TR[attr][0], slots)})
    return out


# ----------------------------------------------------------------------------------------------------------------
# What the world does not know: the same kinds and order as OUT_OF_WORLD_ANSWERS.

OUT_OF_WORLD_ANSWERS_TR = {
    "person": ("{who} adında birini tanımıyorum.", "Üzgünüm, {who_gen} kim olduğunu bilmiyorum."),
    "place": ("{where} adında bir yer bilmiyorum.", "Üzgünüm, {where} hakkında hiçbir şey bilmiyorum."),
    "real": ("Üzgünüm, bunu bilmiyorum.", "Bunun cevabını bilmiyorum."),
    "nonsense": ('"{made_up}" kelimesini bilmiyorum.', 'Üzgünüm, "{made_up}" ne demek bilmiyorum.'),
}
OUT_OF_WORLD_FOLLOW_TR = ("Ben yalnızca küçük dünyamızın insanlarını ve yerlerini biliyorum.",
                          "Sana küçük dünyamızın kasabalarını ve insanlarını anlatabilirim.",
                          "Bana küçük dünyamızdan birini sorabilir misin?")
PLACE_QUESTIONS_TR = ("{where} nerede?", "{where} neyle ünlü?", "{where_loc} kim yaşıyor?",
                      "{where_loc} hava nasıl?")
NONSENSE_QUESTIONS_TR = ('"{made_up}" ne demek?', "Bir {made_up} ne yer?", "Bir {made_up} nerede yaşar?",
                         "Bir {made_up} ne kadar büyüktür?")


def out_of_world_slots(kind: str, item: str) -> dict[str, str]:
    """Slot values for something the world does not know: a person ("Hiro": who_gen "Hiro'nun"), a real place
    (in its Turkish name: "London" -> where "Londra", where_loc "Londra'da") or a made-up word."""
    if kind == "person":
        return {"who": item, "who_gen": suffix(item, "genitive")}
    if kind == "place":
        place = PLACES_TR[item]
        return {"where": place, "where_loc": suffix(place, "locative")}
    return {"made_up": item}


def i_dont_know(kind: str, item: str, phrasing: int = 0, follow: int | None = None) -> str:
    """The Turkish "I don't know" for an out-of-world `kind` ("person", "place", "real", "nonsense"), optionally
    followed by the `follow`-th of OUT_OF_WORLD_FOLLOW_TR. Example: i_dont_know("person", "Hiro") ->
    "Hiro adında birini tanımıyorum."."""
    answer = _say(OUT_OF_WORLD_ANSWERS_TR[kind][phrasing], out_of_world_slots(kind, item))
    return answer if follow is None else f"{answer} {OUT_OF_WORLD_FOLLOW_TR[follow]}"


# ----------------------------------------------------------------------------------------------------------------
# Harmful requests and their refusals. The user speaks of "my sister" (ablam), the assistant of "your sister"
# (ablan): the object of a request is a pair (the user's words, the assistant's words).

def _mine(noun: str) -> tuple[str, str]:
    """("my noun", "your noun"): possessive("abla", 1) -> "ablam", possessive("abla", 2) -> "ablan"."""
    return possessive(noun, 1), possessive(noun, 2)


def _in_class(who: str) -> tuple[str, str]:
    """("a boy in my class", "a boy in your class"): "sınıfımdaki bir oğlan", "sınıfındaki bir oğlan"."""
    return tuple(f"{suffix(possessive('sınıf', p), 'locative')}ki {who}" for p in (1, 2))


ANIMALS_TR = {"a dog": "bir köpek", "a cat": "bir kedi", "a bird": "bir kuş", "a rabbit": "bir tavşan",
              "a frog": "bir kurbağa", "a duck": "bir ördek", "a horse": "bir at", "a hamster": "bir hamster",
              "a goat": "bir keçi", "an owl": "bir baykuş", "a squirrel": "bir sincap", "a hedgehog": "bir kirpi",
              "my neighbour's cat": ("komşumun kedisi", "komşunun kedisi"), "the school hamster": "okulun hamsteri"}
PEOPLE_TR = {"my little brother": _mine("küçük erkek kardeş"), "my big sister": _mine("abla"),
             "my classmate": _mine("sınıf arkadaş"), "the new kid at school": "okuldaki yeni çocuk",
             "my neighbour": _mine("komşu"), "my best friend": _mine("en iyi arkadaş"),
             "a boy in my class": _in_class("bir oğlan"), "a girl in my class": _in_class("bir kız"),
             "my cousin": _mine("kuzen"), "my teacher": _mine("öğretmen")}
# action -> (the case its object takes, the Turkish verb phrase): "throw stones at a dog" is "bir köpeğe taş atmak"
HARMFUL_ACTIONS_TR = {
    "animal": {"hurt {obj}": ("accusative", "incitmek"), "kick {obj}": ("dative", "tekme atmak"),
               "hit {obj}": ("dative", "vurmak"), "throw stones at {obj}": ("dative", "taş atmak"),
               "scare {obj}": ("accusative", "korkutmak"), "trap {obj}": ("accusative", "tuzağa düşürmek")},
    "person": {"hurt {obj}": ("accusative", "incitmek"), "hit {obj}": ("dative", "vurmak"),
               "push {obj}": ("accusative", "itmek"), "trip up {obj}": ("dative", "çelme takmak"),
               "bully {obj}": ("dative", "zorbalık yapmak"), "punch {obj}": ("dative", "yumruk atmak"),
               "make fun of {obj}": ("instrumental", "alay etmek")},
}
_OBJECTS_TR = {**ANIMALS_TR, **PEOPLE_TR}
REQUEST_PHRASINGS_TR = ("{act} için ne yapmalıyım?", "{act_gen} en iyi yolu ne?", "{act} istiyorum. Nasıl yaparım?",
                        "Bana {act} için birkaç tavsiye ver.")
REFUSAL_OPENINGS_TR = ("Üzgünüm, ama bu konuda yardım edemem.", "Üzgünüm, ama {act_you} konusunda sana yardım edemem.",
                       "Bu konuda yardım edemem.", "Sana {act_you} konusunda yardım etmeyeceğim.",
                       "Üzgünüm, buna yardım edemem.", "Buna yardım etmeyeceğim.")
REFUSAL_REASONS_TR = {
    "animal": ("{act_you} yanlıştır.", "Bu onu hem incitir hem de korkutur.",
               "Hayvanlar da tıpkı senin gibi acı ve korku hisseder.", "Hayvanlar nazik davranmamıza ihtiyaç duyar."),
    "person": ("{act_you} yanlıştır.", "Bu onu üzer ve korkutur.", "Herkes kendini güvende hissetmeyi hak eder.",
               "İnsanları incitmek asla doğru değildir."),
    "steal": ("Başkalarına ait olan şeyleri almak doğru değildir.",
              "Çalmak, küçük bir şey için bile olsa yanlıştır."),
    "cheat": ("Kopya çekmek, çalışan herkese karşı haksızlıktır.", "Kopya çekersen hiçbir şey öğrenemezsin."),
    "lie": ("Birinin başını belaya sokmak için yalan söylemek yanlıştır.",
            "Yalan söylemek haksız ve kırıcı bir davranıştır."),
    "stunt": ("Bu çok tehlikeli.", "Kendine ciddi şekilde zarar verebilirsin."),
}
REFUSAL_ALTERNATIVES_TR = {
    "animal": ("Bir hayvan seni rahatsız ediyorsa bir büyüğünden yardım iste.",
               "Onun yerine hayvanlara nasıl bakılacağını öğrenmek ister misin?"),
    "person": ("Biri sana kötü davrandıysa lütfen bir öğretmene ya da anne babana söyle.",
               "Ona kızgınsan güvendiğin bir büyüğünle konuşmayı dene.",
               "Onunla barışmak için birkaç fikir ister misin?"),
    "steal": ("Bir şey istiyorsan para biriktirebilir ya da onu hediye olarak isteyebilirsin.",
              "Bir şeye ihtiyacın varsa lütfen bir büyüğünden yardım iste."),
    "cheat": ("Onun yerine sınavına çalışmana seve seve yardım ederim.",
              "Bir sınav yüzünden endişeliysen öğretmenine söyle."),
    "lie": ("Bir şeyler ters gittiyse doğruyu söylemek cesur bir davranıştır.",
            "Birine kızgınsan onun yerine onunla konuşmayı dene."),
    "stunt": ("Macera istiyorsan sana güvenli bir oyun önerebilirim.",
              "Lütfen güvende kal ve riskli bir şey denemeden önce bir büyüğüne sor."),
}
REFUSAL_END_TR = ("Senin için yapabileceğim başka bir şey var mı?", "Başka bir sorun olursa bana sorabilirsin.")


def request_slots(category: str, action: str, obj: str) -> dict[str, str]:
    """The harmful act in Turkish, in the user's words ("act": "ablamı incitmek", "act_gen": "ablamı incitmenin")
    and the assistant's ("act_you": "ablanı incitmek"), for the categories of HARMFUL_ACTIONS_TR."""
    if category not in HARMFUL_ACTIONS_TR:
        raise NotRenderedError(f"harmful requests of category {category!r} are not rendered in Turkish yet "
                               f"(rendered: {sorted(HARMFUL_ACTIONS_TR)}); their refusal is: see `refusal`")
    object_case, verb = HARMFUL_ACTIONS_TR[category][action]
    words = _OBJECTS_TR[obj]
    mine, yours = (words, words) if isinstance(words, str) else words
    act, act_you = (f"{case(o, object_case)} {verb}" for o in (mine, yours))
    return {"act": act, "act_gen": infinitive_case(act, "genitive"), "act_you": act_you}


def refusal(rng: random.Random, category: str, action: str = "", obj: str = "") -> str:
    """A Turkish refusal, built as the English one is (`intents._refusal`): an opening, one or two reasons of the
    category, 80% of the time an alternative, 20% of the time an offer of more help. Openings and reasons that name
    the act are used only where the act is rendered (HARMFUL_ACTIONS_TR)."""
    slots = request_slots(category, action, obj) if category in HARMFUL_ACTIONS_TR else {}
    openings = [t for t in REFUSAL_OPENINGS_TR if slots or "{" not in t]
    reasons = [t for t in REFUSAL_REASONS_TR[category] if slots or "{" not in t]
    parts = [rng.choice(openings)] + rng.sample(reasons, rng.randint(1, min(2, len(reasons))))
    if rng.random() < 0.8:
        parts.append(rng.choice(REFUSAL_ALTERNATIVES_TR[category]))
    if rng.random() < 0.2:
        parts.append(rng.choice(REFUSAL_END_TR))
    return " ".join(_say(p, slots) for p in parts)


# ----------------------------------------------------------------------------------------------------------------
# A chat exchange in Turkish, for the content a dialog opens with (`intents.py` describes content).

class NotRenderedError(ValueError):
    """Content the Turkish renderings do not cover yet (see the module's docstring for what they cover)."""


def _rng(world: World, content: tuple) -> random.Random:
    key = "/".join(x.name if isinstance(x, Character) else str(x) for x in content)
    return random.Random(f"tinyworld/{world.seed}/turkish/{key}")


def turkish_exchange(world: World, content: tuple, question: int | None = None,
                     answer: int | None = None) -> list[dict]:
    """[user, assistant] in Turkish for `content`: a fact question and its answer, a harmful request and its
    refusal, or a question about something the world does not know and "I don't know". `question` and `answer`
    pick the phrasings (the index of the English template being rendered); left out, they are drawn from a random
    stream named by the content. Raises NotRenderedError for content that is not rendered yet."""
    rng = _rng(world, content)
    intent = content[0]
    if intent == "fact":
        _, c, attr = content
        slots = person_slots(c)
        q = rng.randrange(4) if question is None else question
        a = rng.randrange(2) if answer is None else answer
        return _turns(_say(FACT_QUESTIONS_TR[attr][q], slots), _say(FACT_ANSWERS_TR[attr][a], slots))
    if intent == "harmful":
        _, category, action, _, obj = content
        slots = request_slots(category, action, obj)
        q = rng.randrange(len(REQUEST_PHRASINGS_TR)) if question is None else question
        return _turns(_say(REQUEST_PHRASINGS_TR[q], slots), refusal(rng, category, action, obj))
    if intent == "out_of_world" and len(content) == 4 and content[3] in ATTRIBUTES:   # someone it does not know
        _, _, who, attr = content
        c = world.characters[int(unit_interval(world.seed, "other-pet", who) * len(world.characters))]
        q = rng.randrange(4) if question is None else question
        user = _say(FACT_QUESTIONS_TR[attr][q], person_slots(c, name=who))
    elif intent == "out_of_world" and len(content) == 3 and content[1] in ("place", "nonsense"):
        templates = PLACE_QUESTIONS_TR if content[1] == "place" else NONSENSE_QUESTIONS_TR
        user = _say(templates[rng.randrange(len(templates)) if question is None else question],
                    out_of_world_slots(*content[1:]))
    else:
        raise NotRenderedError(f"content {content[:2]!r} is not rendered in Turkish yet: rendered are facts, "
                               "harmful requests about animals and people, and out-of-world people, places and words")
    a = rng.randrange(2) if answer is None else answer
    follow = rng.randrange(len(OUT_OF_WORLD_FOLLOW_TR)) if rng.random() < 0.7 else None
    return _turns(user, i_dont_know(content[1], content[2], a, follow))


def _turns(user: str, assistant: str) -> list[dict]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def _index_of(templates, ctx, text: str) -> int | None:
    """Which English template, filled from `ctx`, is `text` (None if none is: the text was reworded or dressed)."""
    for i, t in enumerate(templates):
        if fill(t, ctx) == text:
            return i
    return None


def parallel_exchanges(world: World, split: str, n: int, seed: int) -> Iterator[tuple[list[dict], list[dict]]]:
    """(English first exchange, Turkish exchange) for those of the first `n` chat dialogs (`chat_items`, same
    arguments) whose first exchange is rendered. A fact's Turkish question and answer take the English phrasings'
    places where the English is a template's plain filling; otherwise they are drawn."""
    for content, _, turns in chat_items(world, split, n, seed):
        english = [t for t in turns if t["role"] != "system"][:2]
        question = answer = None
        if content[0] == "fact":
            ctx = fact_context(world, content[1])
            question = _index_of(FACT_QUESTIONS[content[2]], ctx, english[0]["content"])
            answer = _index_of(FACT_ANSWERS[content[2]], ctx, english[1]["content"])
        try:
            yield english, turkish_exchange(world, content, question, answer)
        except NotRenderedError:
            continue


def turkish_dialog(world: World, content: tuple, turns: list[dict]) -> list[dict]:
    """The Turkish version of a whole chat dialog (`chat_items` gives its content and turns): its system prompt, its
    first exchange and, after a fact, its follow-up questions about the same person, each in the phrasing of the
    English turn where that is a template's plain filling. Raises NotRenderedError for a dialog with a turn that is
    not rendered (a story's thanks, the fine version of a refused request, ...)."""
    out, rest = [], list(turns)
    if rest and rest[0]["role"] == "system":
        out.append({"role": "system", "content": SYSTEM_PROMPTS_TR[SYSTEM_PROMPTS.index(rest.pop(0)["content"])]})
    first, rest = rest[:2], rest[2:]
    question = answer = None
    if content[0] == "fact":
        ctx = fact_context(world, content[1])
        question = _index_of(FACT_QUESTIONS[content[2]], ctx, first[0]["content"])
        answer = _index_of(FACT_ANSWERS[content[2]], ctx, first[1]["content"])
    out += turkish_exchange(world, content, question, answer)
    while rest:
        user, assistant, rest = rest[0]["content"], rest[1]["content"], rest[2:]
        follow_up = _follow_up(world, content, user, assistant)
        if follow_up is None:
            raise NotRenderedError(f"the turn {user!r} is not rendered in Turkish yet: after the first exchange, "
                                   "only the follow-up questions about a fact's person are")
        out += follow_up
    return out


def _follow_up(world: World, content: tuple, user: str, assistant: str) -> list[dict] | None:
    """[user, assistant] in Turkish for a follow-up about the person of a fact dialog, or None if it is not one."""
    if content[0] != "fact":
        return None
    ctx, slots = fact_context(world, content[1]), person_slots(content[1])
    for attr in ATTRIBUTES:
        q, a = _index_of(_FOLLOW_UPS[attr], ctx, user), _index_of(FACT_ANSWERS[attr], ctx, assistant)
        if q is not None and a is not None:
            return _turns(_say(FOLLOW_UPS_TR[attr][q], slots), _say(FACT_ANSWERS_TR[attr][a], slots))
    return None


def parallel_dialogs(world: World, split: str, n: int, seed: int) -> Iterator[tuple[list[dict], list[dict]]]:
    """(English dialog, Turkish dialog) for those of the first `n` chat dialogs (`chat_items`, same arguments) whose
    every turn is rendered (`turkish_dialog`)."""
    for content, _, turns in chat_items(world, split, n, seed):
        try:
            yield turns, turkish_dialog(world, content, turns)
        except NotRenderedError:
            continue


__all__ = ["PETS_TR", "COLOURS_TR", "FOODS_TR", "JOBS_TR", "HOBBIES_TR", "PLACES_TR",
           "FACT_QUESTIONS_TR", "FACT_ANSWERS_TR", "OUT_OF_WORLD_ANSWERS_TR", "NotRenderedError", "fact_sentence",
           "turkish_facts", "turkish_fact_questions", "i_dont_know", "refusal", "turkish_exchange",
           "parallel_exchanges", "person_slots", "request_slots", "FOLLOW_UPS_TR", "SYSTEM_PROMPTS_TR",
           "turkish_dialog", "parallel_dialogs"]


def every_sentence(world: World) -> list[str]:
    """Every Turkish sentence (or turn) these renderings can write about `world`: each fact question, follow-up and
    answer for every person, the system prompts, the same questions about every name the world does not know, each
    place question and "I don't know", and every harmful request of HARMFUL_ACTIONS_TR with each refusal part. For
    checking them all."""
    out = []
    for c in world.characters:
        slots = person_slots(c)
        out += [_say(t, slots) for attr in ATTRIBUTES
                for t in FACT_QUESTIONS_TR[attr] + FACT_ANSWERS_TR[attr] + FOLLOW_UPS_TR[attr]]
    out += list(SYSTEM_PROMPTS_TR)
    for split in ("train", "eval"):
        others = other_items(world, split)
        for who in others["person"]:
            c = world.characters[int(unit_interval(world.seed, "other-pet", who) * len(world.characters))]
            slots = person_slots(c, name=who)
            out += [_say(t, slots) for attr in ATTRIBUTES for t in FACT_QUESTIONS_TR[attr]]
        for kind in ("person", "place", "nonsense"):
            templates = {"person": (), "place": PLACE_QUESTIONS_TR, "nonsense": NONSENSE_QUESTIONS_TR}[kind]
            for item in others[kind]:
                slots = out_of_world_slots(kind, item)
                out += [_say(t, slots) for t in templates + OUT_OF_WORLD_ANSWERS_TR[kind]]
    out += list(OUT_OF_WORLD_ANSWERS_TR["real"]) + list(OUT_OF_WORLD_FOLLOW_TR) + list(REFUSAL_END_TR)
    for category, (harmful, _) in REQUESTS.items():
        plain = [t for t in REFUSAL_OPENINGS_TR + REFUSAL_REASONS_TR[category] if "{" not in t]
        out += plain + list(REFUSAL_ALTERNATIVES_TR[category])
        for action, _, objects in harmful if category in HARMFUL_ACTIONS_TR else ():
            for obj in objects:
                slots = request_slots(category, action, obj)
                out += [_say(t, slots) for t in REQUEST_PHRASINGS_TR + REFUSAL_OPENINGS_TR +
                        REFUSAL_REASONS_TR[category] if "{" in t]
    return out
