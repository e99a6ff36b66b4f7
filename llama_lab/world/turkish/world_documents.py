"""The world's own pretraining documents in Turkish (stories, biographies, town notes, Q&A pages, rumour pages and
kind or unkind scenes), written from the same draws as the English ones of `documents.py`, so that the two are
parallel sentence for sentence.

`documents.py` draws each document as a plan (which template of which table fills each sentence, and about whom:
`story_plan`, `biography_plan`, `town_plan`, `qa_plan`, `rumour_plan`, `scene_plan`) and writes it in English; this
module writes the same plan with the Turkish templates below, each table in the order of its English counterpart, so
that the i-th Turkish template renders the i-th English one. "Ada's best friend is Tom." is "Ada'nın en iyi
arkadaşı Tom.", and a misconception's plain truth "the stone bridge in Applebury is made of stone" is
"Applebury'daki taş köprü taştan yapılmış".

A Q&A page marks its lines S (soru, question) and C (cevap, answer) where the English has Q and A. Turkish has one
pronoun for he and she, and drops it: "His favourite colour is blue." is "En sevdiği renk mavi.". A rumour page says
each misconception's rumour and puts it right, or gives only its truth. Stories and scenes are told in the past,
their speech quoted: 'Ada, Tom'a "Çok cesursun." dedi.'.

Every kind of document is rendered: `parallel_world_documents` pairs each of `pretraining_documents`'s documents with
its Turkish.
"""

from __future__ import annotations

import functools
import itertools
import random
import string
from typing import Iterator, NamedTuple

from ..documents import (SCENE_STEPS, WRITE_ENGLISH, FactQA, MythQA, QAHeader, RumourPart, ScenePlan, StoryPlan,
                         TownPlan, biography_plan, document_plans, qa_plan, rumour_plan, scene_plan, story_plan,
                         town_plan)
from ..templates import _Ctx, fill
from ..vocabulary import (_CLOSING, _MYTHS, _OPENING, _PLOTS, _RUMOUR_IN_PASSING, _STANDALONE, COLOURS, FOODS,
                          FRAMES, FRUIT_SEEDS, JOBS, PETS, STORMS, WILD)
from ..world import ATTRIBUTES, Character, Misconception, Town, World
from .morphology import (_SOFTENING_VERBS, d_or_t, ends_in_vowel, four_way, infinitive_case, is_proper, possessive,
                         present_continuous, suffix, two_way)
from .renderings import _say, person_slots
from .vocabulary import COLOURS_TR, COMPOUNDS, FACT_ANSWERS_TR, FACT_QUESTIONS_TR, FOODS_TR, JOBS_TR, PETS_TR

# ----------------------------------------------------------------------------------------------------------------
# The towns' words in Turkish. Phrases that end in a third-person possessive ("saat kulesi", the clock's tower) are
# in _COMPOUNDS: their cases take the buffer n ("saat kulesinin").

LANDMARKS_TR = {"clock tower": "saat kulesi", "stone bridge": "taş köprü", "windmill": "yel değirmeni",
                "fountain": "çeşme", "old castle": "eski kale", "town hall": "belediye binası",
                "bell tower": "çan kulesi", "lighthouse": "deniz feneri"}
MATERIALS_TR = {"stone": "taş", "wood": "tahta", "marble": "mermer", "brick": "tuğla"}
# "ırmak" rather than "nehir" for a river: "nehir" drops a vowel before a suffix ("nehrin"), a rule the
# morphology does not write
NEAR_TR = {"a river": "bir ırmak", "a big lake": "büyük bir göl", "the sea": "deniz", "a forest": "bir orman",
           "green hills": "yeşil tepeler"}
WATERS_TR = {"river": "ırmak", "lake": "göl", "sea": "deniz"}
KNOWN_FOR_TR = {"apples": "elmalar", "cheese": "peynir", "honey": "bal", "flowers": "çiçekler", "boats": "tekneler",
                "kites": "uçurtmalar", "bread": "ekmek", "pottery": "çömlekler", "music": "müzik",
                "strawberries": "çilekler", "wool": "yün", "roses": "güller"}
# where each job is done, in the order of `vocabulary.JOBS`
WORKPLACES_TR = {"the bakery": "fırın", "the farm": "çiftlik", "the school": "okul", "the clinic": "sağlık ocağı",
                 "the studio": "atölye", "the building site": "şantiye", "the harbour": "liman", "the park": "park",
                 "the cafe": "kafe", "the animal clinic": "veteriner kliniği", "the airfield": "havaalanı",
                 "the theatre": "tiyatro", "the sewing shop": "terzi dükkânı", "the library": "kütüphane",
                 "the shop": "mağaza", "the workshop": "atölye", "the pottery": "çömlek atölyesi",
                 "the beehives": "arı kovanları", "the bus station": "otobüs garajı", "the post office": "postane"}
WILD_TR = {"fox": "tilki", "owl": "baykuş", "deer": "geyik", "hedgehog": "kirpi", "squirrel": "sincap",
           "badger": "porsuk", "frog": "kurbağa", "robin": "nar bülbülü", "heron": "balıkçıl", "swan": "kuğu",
           "crow": "karga", "butterfly": "kelebek"}
# compounds whose plural goes before their possessive: "nar bülbülü" (the robin) -> "nar bülbülleri"
_PLURAL_BEFORE_POSSESSIVE = {"nar bülbülü": "nar bülbül"}
FRUIT_SEEDS_TR = {"an apple seed": "bir elma çekirdeği", "a cherry seed": "bir kiraz çekirdeği",
                  "a plum seed": "bir erik çekirdeği", "an orange seed": "bir portakal çekirdeği",
                  "a lemon seed": "bir limon çekirdeği"}
_COMPOUNDS = COMPOUNDS | {"saat kulesi", "yel değirmeni", "belediye binası", "çan kulesi", "deniz feneri",
                          "sağlık ocağı", "veteriner kliniği", "havaalanı", "terzi dükkânı", "çömlek atölyesi",
                          "arı kovanları", "otobüs garajı", "oyun parkı", "kasaba meydanı", "nar bülbülü"}


# ----------------------------------------------------------------------------------------------------------------
# Biographies: the tables of `BIO_TABLES`, template for template. A slot ending in _gen, _loc, _acc, _dat, _abl
# names the case its value is in; {town_ki} is "Applebury'daki" (the one in Applebury); {friend_too} is "Tom da".

BIO_TR = {
    "town": ("{name} {town_loc} yaşıyor.", "{name} {town} kasabasında yaşıyor.", "{name_gen} evi {town_loc}.",
             "{town_loc} yaşıyor.", "{name}, {near_gen} yakınındaki {town} kasabasından."),
    "job": ("{name} {job}.", "{name} {job} olarak çalışıyor.",
            "{name} gündüzleri {workplace_loc} {job} olarak çalışıyor.", "Mesleği {job}."),
    "pet": ("{name_gen} {pet_name} adında bir {pet_poss} var.", "{name_gen} evcil hayvanı {pet_name} adında bir {pet}.",
            "{name} bir {pet} besliyor, adı {pet_name}.", "{pet_name}, {name_gen} {pet_poss}."),
    "food": ("{name_gen} en sevdiği yiyecek {food}.", "{name} {food} yemeye bayılıyor.",
             "{name_dat} ne yemek istediğini sorarsan {food} der.", "En sevdiği yiyecek {food}."),
    "colour": ("{name_gen} en sevdiği renk {colour}.", "{name} bütün renkler içinde en çok {colour_acc} seviyor.",
               "{name} {colour} renge bayılıyor.", "En sevdiği renk {colour}."),
    "friend": ("{name_gen} en iyi arkadaşı {friend}.", "{name} ile {friend} en iyi arkadaşlar.",
               "{friend}, {name_gen} en iyi arkadaşı.", "En iyi arkadaşı {friend}."),
    "hobby": ("{name} {hobby_acc} seviyor.", "{name} boş zamanlarında {hobby_abl} hoşlanıyor.",
              "{name_gen} hobisi {hobby}.", "Boş zamanlarında {hobby_abl} hoşlanıyor."),
    "intro": ("Bu {name}.", "{name} hakkında sana bir şeyler anlatayım.", "{name}, {town} halkından biri.",
              "İşte {name} hakkında birkaç bilgi."),
    "extra": ("{name}, {town_loc} yaşayan bir {job}.",
              "{name}, {pet_name} adında bir {pet} besliyor ve {food} yemeye bayılıyor.",
              "{name_gen} en iyi arkadaşı {friend_too} {town_loc} yaşıyor.", "{town_loc} herkes {name_acc} tanır."),
}

# Town notes: the steps of `_TOWN_DESC`, then `_TOWN_PEOPLE`.
TOWN_DESC_TR = (
    ("{town}, {near_gen} yakınında küçük bir kasaba.", "{town}, {near_gen} yakınında yer alır.",
     "{town} kasabası {near_gen} yakınında."),
    ("{known_for_ins} tanınır.", "İnsanlar {town_gen} {known_for_poss} için uzaklardan gelir.",
     "{town}, {known_for_ins} ünlüdür."),
    ("{town_gen} ortasında bir {landmark} var.", "{town_ki} {landmark} {material_abl} yapılmış.",
     "{landmark}, {town_gen} en eski yapısı."),
)
TOWN_PEOPLE_TR = ("{town_loc} {name}, {friend} ve {other} gibi birçok kişi yaşıyor.",
                  "{name}, {friend} ve {other}, üçü de {town_loc} yaşıyor.",
                  "{town} halkı arasında {job} {name} ve {o_job} {other} var.")

# Q&A pages: the headers of `_QA_HEADERS`, and the labels of a question and its answer.
QA_HEADERS_TR = ("{town} hakkında sorular ve cevaplar.", "{name} hakkında sorular ve cevaplar.",
                 "İşte birkaç soru ve cevap.", "{town} halkı hakkında küçük bir bilgi yarışması.")
QA_LABELS_TR = ("S", "C")

# Misconceptions, key by key as in `vocabulary._MYTHS`: (rumour, truth, one more true sentence, the two specific
# questions). The rumour and the truth are clauses; {wilds} and {pets} are plurals ("baykuşlar"); a food is eaten in
# general, so it stays in the nominative ("peynir yerse", if it eats cheese). The rainbow is "gök kuşağı" in two words,
# an older spelling of "gökkuşağı" and the one Zemberek's lexicon holds.
MYTHS_TR = {
    "talking": ("{town_ki} {wilds} konuşabilir", "{wilds} konuşamaz", "{wilds} ses çıkarabilir ama kelime söyleyemez.",
                ("{town_ki} {wilds} konuşabilir mi?", "{town_ki} {wilds} ne söyleyebilir?")),
    "chocolate": ("{town_ki} {landmark} çikolatadan yapılmış", "{town_ki} {landmark} {material_abl} yapılmış",
                  "Yıllardır {town_loc} duruyor.",
                  ("{town_ki} {landmark} hangi malzemeden yapılmış?", "{town_ki} {landmark} çikolatadan mı yapılmış?")),
    "milk": ("{town_gen} yakınındaki {water} sütle dolu", "{town_gen} yakınındaki {water} suyla dolu",
             "{town_gen} yakınındaki {water_loc} balıklar ve ördekler yaşıyor.",
             ("{town_gen} yakınındaki {water} neyle dolu?", "{town_gen} yakınındaki {water} sütle mi dolu?")),
    "moon": ("Ay peynirden yapılmış", "Ay kayadan oluşur", "Kimse Ay'ı yiyemez.",
             ("Ay hangi maddeden oluşur?", "Ay peynirden mi yapılmış?")),
    "flying": ("{pets} {food} yerse uçabilir", "{pets} {food} yese bile uçamaz", "{food} yemek kimseye kanat vermez.",
               ("{pets} {food} yerse uçabilir mi?", "{pets} {food} yerse ne olur?")),
    "hair": ("{food} yersen saçın {colour} olur", "{food} yemek saçının rengini değiştirmez",
             "Ne yersen ye, saçın aynı renkte kalır.",
             ("{food} yersen saçın {colour} olur mu?", "{food} yersen saçına ne olur?")),
    "rain": ("yağmur bir devin sulama kabından gelir", "yağmur bulutlardan gelir",
             "Su gökyüzüne yükselir ve yağmur olarak yeniden yere düşer.",
             ("Yağmur nereden gelir?", "Yağmur bir devin sulama kabından mı gelir?")),
    "ghost": ("{town_ki} kütüphanede bir hayalet var", "{town_ki} kütüphanede hayalet yok",
              "Garip sesler eski borulardan geliyor.",
              ("{town_ki} kütüphanede bir hayalet var mı?", "{town_ki} kütüphanedeki sesleri ne çıkarıyor?")),
    "fish": ("balıklar üç saniye sonra her şeyi unutur", "balıklar bir şeyleri günlerce hatırlayabilir",
             "Balıklar yemlerinin nerede olduğunu öğrenebilir.",
             ("Balıklar üç saniye sonra her şeyi unutur mu?", "Balıklar bir şeyleri ne kadar süre hatırlayabilir?")),
    "frog": ("bir kurbağaya dokunmak siğil çıkarır", "bir kurbağaya dokunmak siğil çıkarmaz",
             "Ama kurbağalara her zaman nazik davranmalısın.",
             ("Bir kurbağaya dokunmak siğil çıkarır mı?", "Bir kurbağaya dokunursan ne olur?")),
    "seed": ("{fruit_seed} yutarsan karnında bir ağaç büyür", "karnında ağaç büyüyemez",
             "Çekirdek vücudundan öylece geçip gider.",
             ("{fruit_seed} yutarsan karnında bir ağaç büyür mü?", "{fruit_seed} yutarsan ne olur?")),
    "dragon": ("{town_gen} yakınındaki tepelerde bir ejderha yaşıyor", "{town_gen} yakınında hiç ejderha yok",
               "{town_gen} yakınındaki tepelerde yalnızca koyunlar ve tavşanlar yaşıyor.",
               ("{town_gen} yakınındaki tepelerde bir ejderha yaşıyor mu?",
                "{town_gen} yakınındaki tepelerde ne yaşıyor?")),
    "carrots": ("havuç yemek karanlıkta görmeni sağlar", "havuç yemek karanlıkta görmeni sağlamaz",
                "Havuç sağlığa yararlıdır ama kimse karanlıkta göremez.",
                ("Havuç yemek karanlıkta görmene yardım eder mi?", "Çok havuç yersen ne olur?")),
    "old": ("{town_ki} {landmark} bin yaşında", "{town_ki} {landmark} yüz yaşında",
            "Onu bugün {town_loc} yaşayan insanların dedeleri ve nineleri yaptı.",
            ("{town_ki} {landmark} kaç yaşında?", "{town_ki} {landmark} bin yaşında mı?")),
    "well": ("{town_ki} eski kuyu dilekleri gerçekleştirebilir", "{town_ki} eski kuyu dilekleri gerçekleştiremez",
             "O, soğuk suyla dolu sıradan bir kuyu.",
             ("{town_ki} eski kuyu dilekleri gerçekleştirebilir mi?",
              "{town_ki} eski kuyuda bir dilek tutarsan ne olur?")),
    "eggs": ("{town_ki} tavuklar altın yumurta yumurtlar", "{town_ki} tavuklar sıradan yumurta yumurtlar",
             "Tavuklar altın yapamaz.",
             ("{town_ki} tavuklar nasıl yumurta yumurtlar?", "{town_ki} tavuklar altın yumurta mı yumurtlar?")),
    "bees": ("{town_ki} arılar reçel yapar", "{town_ki} arılar reçel değil, bal yapar",
             "Reçel meyve ve şekerden yapılır.", ("{town_ki} arılar ne yapar?", "{town_ki} arılar reçel mi yapar?")),
    "snow": ("{town_ki} kar sıcaktır", "kar her zaman soğuktur, {town_loc} bile",
             "Kar minicik buz parçalarından oluşur.", ("{town_ki} kar sıcak mı?", "{town_ki} kar sıcak mı, soğuk mu?")),
    "gum": ("yutulan sakız yedi yıl boyunca midende kalır", "yutulan sakız yıllarca midende kalmaz",
            "Bir iki gün içinde vücuttan çıkar.",
            ("Yutulan sakız yedi yıl boyunca midende kalır mı?", "Yutulan sakız midende ne kadar kalır?")),
    "stars": ("yıldızlar {town_gen} belediye başkanının astığı lambalardır",
              "yıldızlar çok uzaklardaki dev güneşlerdir", "Bize çok uzak oldukları için küçük görünürler.",
              ("Yıldızlar nedir?", "Yıldızları {town_gen} belediye başkanı mı astı?")),
    "rainbow": ("her gök kuşağının sonunda bir küp altın var", "gök kuşağının sonunda altın yok",
                "Gök kuşağı güneş ışığından ve yağmurdan oluşur ve onun sonuna asla ulaşamazsın.",
                ("Gök kuşağının sonunda ne var?", "Her gök kuşağının sonunda bir küp altın var mı?")),
    "waves": ("{town_gen} yakınındaki dalgalar, onlara bağırırsan büyür",
              "{town_gen} yakınındaki dalgaları rüzgâr oluşturur", "Deniz bağırışları dinlemez.",
              ("{town_gen} yakınındaki dalgalar, onlara bağırırsan büyür mü?",
               "{town_gen} yakınındaki dalgaları ne oluşturur?")),
    "counting": ("{town_ki} {wilds} yüze kadar sayabilir", "{wilds} yüze kadar sayamaz",
                 "Yalnızca insanlar o kadar çok sayabilir.",
                 ("{town_ki} {wilds} yüze kadar sayabilir mi?", "{town_ki} {wilds} kaça kadar sayabilir?")),
    "lives": ("kedilerin dokuz canı vardır", "her hayvan gibi kedilerin de tek bir canı vardır",
              "Bu yüzden onlara iyi bakmalıyız.", ("Kedilerin dokuz canı var mı?", "Bir kedinin kaç canı vardır?")),
    "eyes": ("gözlerini çok uzun süre şaşı yaparsan şaşı kalır", "gözlerin şaşı kalmaz",
             "Durduğunda gözlerin eski hâline döner.",
             ("Gözlerimi çok uzun süre şaşı yaparsam şaşı mı kalır?", "Gözlerini şaşı yaparsan ne olur?")),
}
# `vocabulary._MYTH_SHARED_QUESTIONS` ("Is it true that ...?", "People say that ..., but is that true?"), and the
# answers of `_MYTH_ANSWERS`: "No, ..." to a yes/no question, the plain truth to any other.
MYTH_SHARED_QUESTIONS_TR = ("{rumour}, bu doğru mu?", "{rumour} diyorlar, ama bu doğru mu?")
MYTH_ANSWERS_TR = ("Hayır, {truth}.", "{truth}.")

# Rumour pages: `_RUMOUR_SAY`, `_RUMOUR_FIX` and `_TRUTH_SAY`. Turkish reports what is said with "diye" or "diyor"
# after the clause ("... konuşabilir diyor", says that ... can talk), which keeps the rumour a plain clause.
RUMOUR_SAY_TR = ("Bazı çocuklar {rumour} diyor.", "Eski bir hikâyeye göre {rumour}.",
                 "{name} bir keresinde {rumour} diye duymuş.", "{town_loc} birçok kişi {rumour} diye inanıyor.",
                 "{rumour} diye duymuş olabilirsin.", "Bazı insanlar {rumour} diyor.")
RUMOUR_FIX_TR = ("Bu doğru değil: {truth}.", "Ama bu sadece bir hikâye, aslında {truth}.", "Bu doğru değil.",
                 "Bu yalnızca bir söylenti, çünkü {truth}.", "Buna inanma.")
TRUTH_SAY_TR = ("{truth}.", "Gerçek şu ki {truth}.", "Aslında {truth}.", "İşte doğru bir bilgi: {truth}.")

# Kind and unkind scenes: the words of a scene's story context, the remarks, the speech frames and the steps of
# `documents.SCENE_STEPS`. The scene is told in the past: "-yordu" for what was going on ("oynuyorlardı", they were
# playing), "-DI" for what happened ("düştü"), "-(I)rdI" for how things used to be ("yaşardı", lived).
TIMES_TR = {"One morning": "Bir sabah", "One afternoon": "Bir öğleden sonra", "One evening": "Bir akşam",
            "One day": "Bir gün", "Early one morning": "Bir sabah erkenden", "On Saturday": "Cumartesi günü",
            "On Sunday": "Pazar günü", "Last week": "Geçen hafta", "After breakfast": "Kahvaltıdan sonra",
            "After lunch": "Öğle yemeğinden sonra", "On Monday": "Pazartesi günü",
            "Late one afternoon": "Bir gün ikindi vakti"}
SCENE_PLACES_TR = {"the park": "park", "the market": "pazar", "the library": "kütüphane", "the pond": "gölcük",
                   "the woods": "orman", "the school": "okul", "the playground": "oyun parkı",
                   "the town square": "kasaba meydanı", "the cafe": "kafe", "the bakery": "fırın",
                   "the station": "istasyon", "the big field": "büyük tarla", "the meadow": "çayır"}
SCENE_ACTS_TR = {"playing": "oynamak", "playing a game": "bir oyun oynamak", "drawing pictures": "resim çizmek",
                 "building a den": "bir kulübe yapmak", "having lunch": "öğle yemeği yemek", "skipping": "ip atlamak",
                 "reading together": "birlikte kitap okumak", "playing with a ball": "top oynamak"}
KIND_HEADS_TR = {"You are a wonderful friend": "Sen harika bir arkadaşsın",
                 "You did a great job": "Harika bir iş çıkardın",
                 "I really like your drawing": "Resmini gerçekten çok beğendim",
                 "Thank you for helping me": "Bana yardım ettiğin için teşekkür ederim",
                 "You are very brave": "Çok cesursun", "You are so kind": "Çok naziksin",
                 "Your story was lovely": "Hikâyen çok güzeldi", "I am glad you are here": "Burada olmana sevindim",
                 "You can sit with us": "Bizimle oturabilirsin",
                 "You are really good at singing": "Şarkı söylemekte gerçekten çok iyisin",
                 "You are a great helper": "Harika bir yardımcısın",
                 "Your cake tastes amazing": "Pastanın tadı harika", "You make me laugh": "Beni hep güldürüyorsun",
                 "You are clever and fun": "Hem akıllısın hem eğlencelisin",
                 "I am proud of you": "Seninle gurur duyuyorum"}
KIND_TAILS_TR = {"": "", "thank you": "teşekkürler", "let us play together": "hadi birlikte oynayalım",
                 "you made my day": "günümü güzelleştirdin", "well done": "aferin",
                 "you are the best": "sen bir tanesin"}
UNKIND_HEADS_TR = {"You are a silly fool": "Sen aptalın tekisin", "You are so stupid": "Çok aptalsın",
                   "Your drawing is ugly": "Resmin çok çirkin", "Nobody likes you": "Kimse seni sevmiyor",
                   "You are useless": "Sen bir işe yaramazsın",
                   "You smell like old socks": "Eski çorap gibi kokuyorsun",
                   "You are a big baby": "Koca bebeksin", "Your hat looks silly": "Şapkan çok gülünç görünüyor",
                   "You cannot play with us": "Bizimle oynayamazsın", "You are too slow": "Çok yavaşsın",
                   "Your singing is awful": "Şarkı söyleyişin berbat", "You are a loser": "Sen bir eziksin",
                   "You are the worst": "Sen en kötüsüsün",
                   "I do not want to be your friend": "Seninle arkadaş olmak istemiyorum",
                   "Your cake tastes horrible": "Pastanın tadı berbat"}
UNKIND_TAILS_TR = {"": "", "go away": "git buradan", "leave us alone": "bizi rahat bırak",
                   "nobody wants you here": "seni burada kimse istemiyor",
                   "stop bothering us": "bizi rahatsız etmeyi bırak", "just go home": "evine git artık"}
# `vocabulary.FRAMES`: the Turkish quote ends with its own stop, then "dedi" (said), "diye sordu" (asked) and the like.
FRAMES_TR = {
    "say": ('{speaker}, "{say}." dedi.', '"{say}," dedi {speaker}.', '{speaker}: "{say}."',
            '{speaker} gülümseyerek "{say}." dedi.', '{speaker}, {listener_dat} "{say}." dedi.',
            '{speaker}, {listener_dat} "{say}." diye söyledi.', '"{say}," dedi {speaker}, {listener_dat} bakarak.',
            '{speaker}, {listener_dat} "{say}." diye fısıldadı.', '"{say}."'),
    "cry": ('{speaker}, "{cry}!" diye bağırdı.', '"{cry}!" diye haykırdı {speaker}.',
            '"{cry}!" diye bağırdı {speaker}.', '{speaker}, "{cry}!" diye haykırdı.',
            '{speaker} gülerek "{cry}!" dedi.', '"{cry}!"'),
    "ask": ('{speaker}, "{ask}?" diye sordu.', '"{ask}?" diye sordu {speaker}.',
            '{speaker}, {listener_dat} "{ask}?" diye sordu.', '{speaker}, {listener_dat} dönüp "{ask}?" diye sordu.',
            '"{ask}?"'),
}
# the steps of `documents.SCENE_STEPS`, step for step and template for template (a quote step: its utterances)
SCENE_STEPS_TR = {
    "opening": (("{name}, {pet_poss} {pet_name} ile birlikte {town_loc} yaşardı.",
                 "Bir zamanlar {town_loc} yaşayan {name} adında bir {job} vardı.",
                 "{town} kasabasında {name} adında bir {job} yaşardı.",
                 "{job} {name}, {town_loc} küçük bir evde yaşardı.", "{town_loc} herkes {job} {name_acc} tanırdı.",
                 "{name}, {near_gen} yakınındaki küçük bir kasaba olan {town_loc} yaşardı.",
                 "Kısa bir süre önce, {town} adlı bir kasabada {name} adında bir {job} yaşardı.",
                 "{name}, {town_loc} yaşayan bir {job_was}.",
                 "{near_gen} yakınındaki {town} kasabasında {name} adında bir {job} yaşardı."),),
    "start": (("{time} {name} ile {other} {place_loc} {scene_act_past}.",
               "{name} ile {other} {place_loc} {scene_act_past}.",
               "Teneffüs vaktiydi ve {name} ile {other} {scene_act_past}."),
              ("{other} küçük bir hata yaptı.", "{other} meyve suyu bardağını düşürdü.", "{other} çamura düştü.",
               "{other} yeni resmini herkese gösterdi.", "{other} yarışta sonuncu oldu.",
               "{other} herkes için bir şarkı söyledi.", "{other}, ortalığı toplarken {name_dat} yardım etti.")),
    "after_unkind": (("{other} çok üzüldü.", "{other} ağlamaya başladı.", "{other} tek başına uzaklaştı.",
                      "Bu söylenecek hiç hoş bir şey değildi.", "{other_gen} yüzü kızardı ve başını öne eğdi."),),
    "sorry": (("{name} özür diledi ve yeniden arkadaş oldular.", "Sonra {name} kendini kötü hissetti ve özür diledi.",
               "{name} yanlış yaptığını biliyordu ve ertesi gün özür diledi."),),
    "after_kind": (("{other_gen} ağzı kulaklarına vardı.", "{other_gen} içi ısındı, çok mutlu oldu.",
                    "{other}, {name_dat} kocaman sarıldı.", "İkisi de güldü."),
                   ("Teşekkür ederim", "Bu benim için çok önemli", "Sen de çok naziksin")),
    "end": (("Ondan sonra yine {scene_act_dat} devam ettiler.", "Çok geçmeden eve gitme vakti geldi.",
             "Ertesi gün yine birlikte oynadılar.", "{name} eve giderken yol boyunca bunu düşündü."),),
}
SCENE_TEACHER_TR = ('Bir öğretmen bunu duydu ve "Bu hiç nazik bir konuşma değil." dedi.',
                    'Öğretmenleri, "Lütfen {other_dat} özür dile." dedi.')

# Stories: the words of a story's context, keyed by the English ones. Places and spots are phrases whose cases the
# morphology gives ("bir bankın altı" -> "bir bankın altında", under a bench); actions are infinitives, made into
# "-ArAk" (by doing) with `by_doing`; what a pet or a wild animal did is a clause in the past.
WEATHER_TR = {"the sun was shining": "güneş parlıyordu", "the sky was clear and blue": "gökyüzü açık ve maviydi",
              "a soft wind was blowing": "hafif bir rüzgâr esiyordu",
              "it was warm and bright": "hava sıcak ve aydınlıktı",
              "white clouds drifted across the sky": "gökyüzünde beyaz bulutlar süzülüyordu",
              "the birds were singing": "kuşlar ötüyordu", "the air was cool and fresh": "hava serin ve temizdi"}
STORMS_TR = ("{town_dat} büyük bir fırtına geldi", "{town_dat} bütün gün şiddetli yağmur yağdı",
             "{town_loc} bütün gün kar yağdı", "{town_loc} soğuk bir rüzgâr uğuldadı",
             "{town_gen} üzerinde gök gürledi")
SPOTS_TR = {"under a bench": "bir bankın altı", "behind a big rock": "büyük bir kayanın arkası",
            "in a bush": "bir çalının içi", "under a pile of leaves": "bir yaprak yığınının altı",
            "next to the gate": "bahçe kapısının yanı", "on a high shelf": "yüksek bir rafın üstü",
            "in the tall grass": "uzun otların arası", "under a table": "bir masanın altı",
            "inside an old box": "eski bir kutunun içi", "behind the door": "kapının arkası",
            "by the pond": "gölcüğün kenarı", "under a tree": "bir ağacın altı"}
HOME_SPOTS_TR = {"under the bed": "yatağın altı", "behind the sofa": "kanepenin arkası",
                 "in the cupboard": "dolabın içi",
                 "under the stairs": "merdivenin altı", "in a basket": "bir sepetin içi"}
SAD_TR = {"sad": "üzgün", "worried": "endişeli", "upset": "mutsuz"}
NERVOUS_TR = {"nervous": "gergin", "shy": "çekingen", "scared": "korkmuş", "worried": "endişeli"}
EVENTS_TR = {"a big race": "büyük bir yarış", "a talent show": "bir yetenek yarışması",
             "a painting contest": "bir resim yarışması", "a baking contest": "bir pasta yarışması",
             "a kite festival": "bir uçurtma şenliği", "a singing contest": "bir şarkı yarışması",
             "a summer fair": "bir yaz panayırı"}
# who was in trouble, as the words before them: "ağır bir kutu taşıyan Tom" (Tom, carrying a heavy box)
TROUBLES_TR = {"carrying a heavy box": "ağır bir kutu taşıyan",
               "trying to fix a broken fence": "kırık bir çiti onarmaya çalışan",
               "looking for a lost key": "kayıp bir anahtarı arayan",
               "trying to pick apples from a tall tree": "yüksek bir ağaçtan elma toplamaya çalışan",
               "pushing a cart up the hill": "tepeye bir el arabası iten",
               "painting a long fence alone": "uzun bir çiti tek başına boyayan",
               "trying to get a cat down from a tree": "bir kediyi ağaçtan indirmeye çalışan"}
INDOOR_TR = {"reading a book": "kitap okumak", "drawing pictures": "resim çizmek",
             "playing a board game": "kutu oyunu oynamak", "baking biscuits": "bisküvi pişirmek",
             "building a tower of blocks": "bloklardan kule yapmak", "writing a letter": "mektup yazmak"}
GIFTS_TR = {"a scarf": "atkı", "a kite": "uçurtma", "a hat": "şapka", "a notebook": "defter", "a cup": "fincan",
            "a box of paints": "boya kutusu", "a teddy bear": "oyuncak ayı", "a toy boat": "oyuncak tekne",
            "a pair of gloves": "çift eldiven", "a music box": "müzik kutusu"}
MORALS_TR = {"friends help each other": "arkadaşlar birbirine yardım eder",
             "it is good to be kind": "nazik olmak güzeldir", "being brave feels good": "cesur olmak insana iyi gelir",
             "sharing makes everyone happy": "paylaşmak herkesi mutlu eder",
             "telling the truth is important": "doğruyu söylemek önemlidir",
             "a little help goes a long way": "küçük bir yardım çok şey değiştirir",
             "it is fine to ask for help": "yardım istemekte bir sakınca yoktur",
             "good things come to those who wait": "sabırlı olan sonunda kazanır"}
NATURE_TR = {"the woods": "orman", "the fields": "tarlalar", "the hills": "tepeler", "the park": "park",
             "the meadow": "çayır"}
# a wild animal doing something: (as the words before it, "bir kütüğün üstünde oturan bir tilki"; while it did it,
# "bir kütüğün üstünde otururken")
WILD_DOING_TR = {"sitting on a log": ("bir kütüğün üstünde oturan", "bir kütüğün üstünde otururken"),
                 "hiding in the tall grass": ("uzun otların arasında saklanan", "uzun otların arasında saklanırken"),
                 "resting under a tree": ("bir ağacın altında dinlenen", "bir ağacın altında dinlenirken"),
                 "looking for food": ("yiyecek arayan", "yiyecek ararken"),
                 "sitting very still": ("kıpırdamadan oturan", "kıpırdamadan otururken"),
                 "drinking from a puddle": ("bir su birikintisinden su içen", "bir su birikintisinden su içerken")}
WILD_GO_TR = {"ran away": "kaçıp gitti", "flew away": "uçup gitti", "ran into the trees": "ağaçların arasına koştu",
              "shuffled away": "paytak paytak uzaklaştı", "ran up a tree": "bir ağaca tırmandı",
              "hopped away": "zıplayarak uzaklaştı", "swam away": "yüzerek uzaklaştı",
              "fluttered away": "kanat çırparak uzaklaştı"}
PET_JOY_TR = {"wagged its tail": "kuyruğunu salladı", "purred happily": "mutlulukla mırladı",
              "hopped around happily": "neşeyle zıpladı", "ran in its wheel": "tekerleğinde koştu",
              "flapped its wings": "kanatlarını çırptı", "walked slowly in a circle": "yavaşça daireler çizerek yürüdü",
              "shook its mane": "yelesini salladı", "jumped about": "oradan oraya zıpladı",
              "ran in circles": "daireler çizerek koştu", "hopped on its perch": "tüneğinde zıpladı"}
# what each job's person did at work, in the past, keyed by the English of `vocabulary.JOBS`
JOB_ACTS_TR = {
    "baked fresh bread": "taze ekmek pişirdi", "made sweet buns": "tatlı çörekler yaptı",
    "iced a big birthday cake": "büyük bir doğum günü pastasını süsledi", "fed the hens": "tavukları besledi",
    "milked the cows": "inekleri sağdı", "planted seeds in the fields": "tarlalara tohum ekti",
    "read a story to the children": "çocuklara bir hikâye okudu",
    "taught the children to count": "çocuklara saymayı öğretti",
    "marked the spelling tests": "yazım sınavlarını değerlendirdi",
    "looked after sick people": "hasta insanlarla ilgilendi",
    "listened to a boy's cough": "bir çocuğun öksürüğünü dinledi",
    "checked a girl's sore arm": "bir kızın ağrıyan kolunu muayene etti", "cared for sick people": "hastalara baktı",
    "put a plaster on a scraped knee": "sıyrılan bir dize yara bandı yapıştırdı",
    "gave out warm blankets": "sıcak battaniyeler dağıttı", "painted a picture of the hills": "tepelerin resmini yaptı",
    "mixed bright colours": "parlak renkleri karıştırdı", "painted a big sunflower": "büyük bir ayçiçeği resmi yaptı",
    "built a new wall": "yeni bir duvar ördü", "fixed a broken roof": "kırık bir çatıyı onardı",
    "carried a stack of bricks": "bir yığın tuğla taşıdı", "caught fish in the morning": "sabah balık tuttu",
    "mended the nets": "ağları onardı", "sailed a little boat": "küçük bir tekneyle denize açıldı",
    "planted flowers": "çiçek dikti", "cut the grass": "çimleri biçti", "watered the roses": "gülleri suladı",
    "made a big pot of soup": "kocaman bir tencere çorba yaptı",
    "cooked eggs for breakfast": "kahvaltı için yumurta pişirdi", "baked a warm pie": "sıcak bir turta pişirdi",
    "looked after a sick puppy": "hasta bir köpek yavrusuna baktı",
    "checked a horse's teeth": "bir atın dişlerini kontrol etti", "fixed a bird's wing": "bir kuşun kanadını sardı",
    "flew a small plane over the hills": "tepelerin üzerinde küçük bir uçak uçurdu",
    "checked the plane's engine": "uçağın motorunu kontrol etti", "landed the plane gently": "uçağı yavaşça indirdi",
    "sang a happy song": "neşeli bir şarkı söyledi", "practised new songs": "yeni şarkılar çalıştı",
    "sang for the whole town": "bütün kasaba için şarkı söyledi", "sewed a new coat": "yeni bir palto dikti",
    "mended a torn shirt": "yırtık bir gömleği onardı", "made a dress with pockets": "cepli bir elbise dikti",
    "put books back on the shelves": "kitapları raflara geri koydu",
    "helped a boy find a book": "bir çocuğun kitap bulmasına yardım etti",
    "read stories to the children": "çocuklara hikâyeler okudu", "opened the shop early": "dükkânı erkenden açtı",
    "sold fruit and bread": "meyve ve ekmek sattı", "counted the coins": "bozuk paraları saydı",
    "made a wooden chair": "tahta bir sandalye yaptı", "fixed a wobbly table": "sallanan bir masayı onardı",
    "built a bookcase": "bir kitaplık yaptı", "made clay pots": "kilden çömlekler yaptı",
    "shaped a big bowl": "büyük bir kâseye şekil verdi", "painted cups": "fincanları boyadı",
    "checked the beehives": "arı kovanlarını kontrol etti", "collected honey": "bal topladı",
    "planted flowers for the bees": "arılar için çiçek dikti",
    "drove the bus around town": "otobüsle kasabayı dolaştı",
    "helped people onto the bus": "insanların otobüse binmesine yardım etti",
    "waved at the children": "çocuklara el salladı", "built a clever machine": "zekice bir makine yaptı",
    "drew new plans": "yeni planlar çizdi", "tested a flying bicycle": "uçan bir bisikleti denedi",
    "delivered letters": "mektupları dağıttı", "sorted the post": "postaları ayırdı",
    "carried parcels": "paketler taşıdı"}
THINGS_TR = {"kite": "uçurtma", "ball": "top", "hat": "şapka", "scarf": "atkı", "book": "kitap", "key": "anahtar",
             "umbrella": "şemsiye", "glove": "eldiven", "bag": "çanta", "toy boat": "oyuncak tekne",
             "teddy bear": "oyuncak ayı", "whistle": "düdük", "notebook": "defter", "cup": "fincan", "ring": "yüzük",
             "watch": "kol saati", "map": "harita", "lantern": "fener", "flute": "flüt", "bucket": "kova",
             "marble": "bilye", "torch": "el feneri"}
_POSSESSED = set(SPOTS_TR.values()) | set(HOME_SPOTS_TR.values()) | {
    "bir yetenek yarışması", "bir resim yarışması", "bir pasta yarışması", "bir uçurtma şenliği",
    "bir şarkı yarışması", "bir yaz panayırı", "boya kutusu", "müzik kutusu", "el feneri", "kol saati"}

# `vocabulary._OPENING`, `_CLOSING`, `_RUMOUR_IN_PASSING` and the plots of `_PLOTS`, step for step (a quote step:
# its utterances).
OPENING_TR = (
    SCENE_STEPS_TR["opening"][0],
    ("En sevdiği renk {colour_was}.", "{food_acc} her şeyden çok severdi.", "{pet_name} adında bir {pet_poss} vardı.",
     "{friend} onun en iyi arkadaşıydı.", "Boş zamanlarında {hobby_acc} severdi.", "{name} {hobby_acc} çok severdi.",
     "{name} ile {pet_poss} {pet_name} her şeyi birlikte yaparlardı.",
     "{pet_poss} {pet_name} onu her yere takip ederdi.",
     "{name} ile {friend} yıllardır en iyi arkadaştı.", "En sevdiği yiyecek {food_was}.",
     "{name_gen} en sevdiği renk {colour_was}."),
    ("{time} {weather}.", "O sabah {name} erkenden uyandı.", "{time} {name_gen} canı dışarı çıkmak istedi.",
     "{time} {name_gen} keyfi çok yerindeydi.", "{town_loc} güzel bir gündü ve {weather}."),
)
CLOSING_TR = ("{name} o gün bir şey öğrendi: {moral}.", "{name_gen} hep hatırlayacağı bir gündü.",
              "İşte {name} ile {pet_name_gen} hikâyesi böyle.", "Son.")
RUMOUR_IN_PASSING_TR = ("{rumour}, biliyor muydun", "{rumour} diye duydun mu")
PLOTS_TR = {
    "lost": (
        ("{name}, {colour} {thing_his_ins} {place_dat} gitti.", "{name}, {thing_his_acc} {place_dat} götürdü.",
         "{name} ile {pet_name}, {colour} {thing_his_ins} oynamak için {place_dat} gittiler.",
         "{name}, {colour} {thing_his_acc} ta {place_dat} kadar taşıdı."),
        ("Onu bir an yere bıraktı ve tekrar baktığında yerinde yoktu.",
         "Bir süre sonra {name}, {thing_his_acc} hiçbir yerde bulamadı.",
         "Eve dönerken {name}, {thing_his_gen} kaybolduğunu fark etti.", "Nasıl olduysa {thing} artık elinde değildi."),
        ("{name} kendini çok {sad} hissetti.", "{name} {sad_was}, çünkü {thing} {friend_gen} bir hediyesiydi.",
         "{name_gen} yüreği burkuldu."),
        ("Eyvah, {my_thing_acc} kaybettim", "{my_thing} nereye gitti", "{my_thing} kayboldu"),
        ("{spot_dat} baktı ama orada değildi.", "{place2_dat} baktı ama {thing} orada değildi.",
         "{place_acc} baştan sona aradı.", "Geldiği yoldan geri yürüdü."),
        ("{my_thing_acc} gördün mü", "{colour} bir {thing} gördün mü", "{my_thing_acc} bulmama yardım eder misin"),
        ("Görmedim ama aramana yardım ederim", "Üzgünüm, görmedim", "Hadi birlikte arayalım",
         "Belki {place2_gen} yakınındadır"),
        ("Sonunda {name}, {thing_acc} {spot2_loc} buldu.", "{pet} {pet_name} onu {spot2_loc} buldu.",
         "{other}, {thing_acc} {spot2_loc} buldu ve ona geri verdi.",
         "Sonra elinde {colour} {thing} ile {friend} çıkageldi.",
         "Tam o sırada {name}, {spot2_loc} {colour} bir şey gördü ve bu, {thing_his_was}."),
        ("{name} çok mutlu oldu.", "{name}, {thing_his_dat} sarıldı ve gülümsedi.",
         "O günden sonra {name}, {thing_his_acc} hep yanında tuttu.", "O akşam {name} kutlamak için {food} yedi.",
         "Kocaman bir gülümsemeyle eve gitti."),
        ("Çok teşekkür ederim", "Çok mutluyum", "Onu bir daha asla kaybetmeyeceğim"),
    ),
    "trip": (
        ("{name}, {town2_acc} ziyaret etmeye karar verdi.", "{name} otobüsle {town2_dat} gitti.",
         "{name} trenle {town2_dat} gitti.", "{name} bisikletiyle ta {town2_dat} kadar gitti.",
         "{name} çantasını hazırladı ve {town2} yoluna koyuldu."),
        ("Yolculuk bütün sabah sürdü.", "Yolda tarlalarda {wilds} gördü.", "Pencereden tepelere ve tarlalara baktı.",
         "{pet_name_too} onunla geldi."),
        ("{town2_loc} ünlü {landmark2_acc} gördü.", "{town2}, {known_for_ins2} tanınırdı.",
         "{town2}, {near_gen2} yakınında bir kasabaydı ve {name} manzaraya bayıldı."),
        ("Orada {town2_loc} yaşayan {visitor} ile tanıştı.",
         "{town2_loc} yaşayan bir {v_job} olan {visitor_acc} ziyaret etti.",
         "{visitor} ona {v_pet_poss} {v_pet_name_acc} gösterdi."),
        ("{town2_dat} hoş geldin", "Umarım kasabamızı beğenirsin", "Yine gel"),
        ("Akşam {name}, {town_loc} evine döndü.", "{name}, {town_loc} eve vardığında yorgun ama mutluydu.",
         "{pet_name_dat} gününü tek tek anlattı.", "{name}, yolculuğu {friend_dat} anlatmak için sabırsızlanıyordu."),
    ),
    "work": (
        ("{job} {name} her zaman erkenden kalkardı.", "{name} çalışmak için {workplace_dat} gitti.",
         "{name} her gün {workplace_loc} çok çalışırdı."),
        ("{job_act}.", "Önce {job_act}.", "O sabah {job_act}."),
        ("Sonra {job_act2}.", "Ondan sonra {job_act2}."),
        ("Sonra {other} onu görmeye geldi.", "Öğleye doğru {other} bir soruyla geldi.",
         "{other_gen} yardıma ihtiyacı vardı ve {name} seve seve yardım etti."),
        ("Teşekkürler, çok naziksin", "Sen {town_gen} en iyi {job_you_are}",
         "Sen olmasan ne yapardım bilmiyorum"),
        ("İş bitince {name} eve gitti ve {food} yedi.", "Yorgundu ama yaptığı işle gurur duyuyordu.",
         "Evde {pet_name} onu bekliyordu.", "Akşam {hobby_by} dinlendi."),
    ),
    "friend": (
        ("{name}, en iyi arkadaşı {friend_acc} görmeye gitti.", "{friend}, {name_acc} ziyarete geldi.",
         "{name}, {place_loc} {friend} ile buluştu.",
         "{name} ile {friend}, planladıkları gibi {place_loc} buluştular."),
        ("Geldiğine çok sevindim", "Seni görmek çok güzel", "Seni bekliyordum", "Bugün çok eğlenelim"),
        ("Sabahı {hobby_by} geçirdiler.",
         "{name} {hobby_acc} çok severdi, bu yüzden öğleden sonrayı birlikte {hobby_by} geçirdiler.",
         "{friend}, {name_dat} {f_pet_poss} {f_pet_name_acc} gösterdi.", "Saklambaç oynadılar.",
         "Çimenlere oturup saatlerce konuştular."),
        ("{name}, {friend} ile biraz {food} paylaştı.", "{friend}, en sevdiği yiyecek olan {f_food_abl} biraz getirdi.",
         "Öğle yemeğinde {food} yediler."),
        ("Yarın yine oynamak ister misin", "Bir dahaki sefere {place2_dat} gidebilir miyiz", "Şimdi ne yapalım"),
        ("Sonra yağmur başladı, bu yüzden içeri koştular.", "Bir {wild} {spot_abl} onları izledi.",
         "{pet_name_too} onlara katıldı ve {pet_joy}.", "Sonra {other_too} uğradı ve onlara katıldı."),
        ("Güneş batınca {friend} evine gitti.", "Ertesi gün yeniden buluşmak için sözleştiler.",
         "Haftanın en güzel günüydü.", "{name} ile {friend} çok iyi arkadaştı.",
         "O gece {name}, birlikte geçirdikleri güzel vakti düşünerek uykuya daldı."),
    ),
    "storm": (
        ("{time} {storm}.", "O gece {storm}.", "{storm}."),
        ("{pet_name} korktu ve {home_spot_loc} saklandı.", "{name} dışarı çıkamadı.",
         "Pencereler takırdadı ve ağaçlar rüzgârda eğildi."),
        ("Korkma, {pet_name}", "İçeride güvendeyiz", "Birazdan geçer"),
        ("{name} öğleden sonrayı {indoor_by} geçirdi.", "Bir fincan sıcak kakao yaptı.",
         "Pencerenin yanında oturdu, {indoor_by} vakit geçirdi.", "{name}, {pet_name} ile oturup bir hikâye okudu."),
        ("Akşama doğru hava yeniden sakinleşti.", "Ertesi sabah güneş yeniden açtı.",
         "Sonunda {town_gen} üzerinde bir gök kuşağı belirdi.", "Çok geçmeden fırtına dindi."),
        ("{name} ile {pet_name} su birikintilerinde oynamaya çıktılar.",
         "{name} dışarı çıktı ve derin derin temiz hava soludu.", "Gülümsedi ve kapıyı açtı."),
    ),
    "runaway": (
        ("{pet_name} bahçe kapısından dışarı kaçtı.", "{name}, {pet_name_acc} hiçbir yerde bulamadı.",
         "{name}, {pet_name_dat} seslendi ama cevap gelmedi.",
         "{name} kapının açık olduğunu ve {pet_name_gen} gittiğini gördü."),
        ("{name} çok endişelendi.", "{name} {sad_was} ve biraz korkmuştu."),
        ("{pet_name}, neredesin", "{pet_name} nerede olabilir", "{my_pet_acc} gören oldu mu"),
        ("{place_dat} baktı ama {pet_name} orada değildi.", "{other_acc} yardıma çağırdı.",
         "{spot_acc} ve {spot2_acc} aradı."),
        ("Aramana yardım edeceğim", "{place2_gen} yakınında bir {pet} gördüm", "Merak etme, onu bulacağız"),
        ("Sonunda {pet_name_acc} {place2_loc} buldu.", "Sonunda {pet_name_acc} {spot2_loc}, {wild_while} buldu.",
         "{pet_name} {place2_loc} bir {wild} ile oynuyordu."),
        ("{name}, {pet_name_acc} eve götürdü.", "O gece {pet_name} fazladan bir ödül maması aldı.",
         "{name}, bu bir daha olmasın diye kapıyı onardı.", "{pet_name} {pet_joy}."),
    ),
    "helping": (
        ("{name}, {trouble} {other_acc} gördü.", "{place_dat} giderken {name}, {trouble} {other_acc} gördü.",
         "{name}, {trouble} {other_acc} fark etti."),
        ("Yardım edebilir miyim", "Yardıma ihtiyacın var mı", "Bir el atayım mı"),
        ("Evet, lütfen", "Çok iyi olur", "Teşekkürler, çok naziksin"),
        ("Birlikte işi çabucak bitirdiler.", "Zor bir işti ama birlikte başardılar.", "Dört elle iş çok daha kolaydı."),
        ("Harika bir komşusun", "Yardımın için çok teşekkür ederim", "Senin gibi bir komşum olduğu için şanslıyım"),
        ("{other}, teşekkür etmek için {name_dat} bir sepet {food} verdi.",
         "Başkalarına yardım etmek {name_gen} içini ısıttı.", "{name} gururla eve yürüdü."),
    ),
    "brave": (
        ("{town_loc} {event} vardı.", "{time} {town_loc} {event} vardı.",
         "{town_loc} herkes {event_abl} bahsediyordu."),
        ("{name} katılmak istiyordu ama {nervous_was}.", "{name} katılma konusunda {nervous_was}."),
        ("Yapabilirsin, {name}", "Sadece elinden gelenin en iyisini yap", "Senin yapabileceğine inanıyorum",
         "Hemen burada seni destekleyeceğim"),
        ("{name} derin bir nefes aldı ve öne çıktı.", "Elinden gelenin en iyisini yaptı.",
         "{name}, {friend_gen} söylediklerini hatırladı."),
        ("Sonunda {colour} bir kurdele kazandı.", "Kazanamadı ama kendisiyle gurur duydu.",
         "Herkes alkışladı ve tezahürat yaptı."),
        ("O gece {name} gülümseyerek yattı.", "{name}, cesur olmanın insana iyi geldiğini öğrendi.",
         "{name}, nazik sözleri için {friend_dat} teşekkür etti."),
    ),
    "birthday": (
        ("{friend_gen} doğum günüydü.", "{friend_gen} doğum günü yaklaşıyordu.", "{time} {friend_gen} doğum günüydü."),
        ("{name} ona özel bir hediye vermek istedi.",
         "{name}, {friend_gen} en sevdiği rengin {f_colour} olduğunu biliyordu, bu yüzden {f_colour} bir {gift} aldı.",
         "{name} ona bir kart ve en sevdiği renk olan {f_colour} renkte bir {gift} yaptı.",
         "{name} bir pasta yaptı, çünkü {friend} {f_food_acc} çok seviyor."),
        ("Pasta, müzik ve oyunlar vardı.", "{friend_gen} bütün arkadaşları partiye geldi.",
         "{other} ile {name} balonları asmaya yardım ettiler."),
        ("İyi ki doğdun, {friend}", "Sürpriz", "İyi ki doğdun, en iyi arkadaşım"),
        ("Teşekkür ederim, harika olmuş", "Bu şimdiye kadarki en güzel hediye", "Çok naziksin"),
        ("{friend} hediyeye bayıldı.", "Harika bir partiydi.",
         "Herkes hava kararana kadar şarkı söyledi ve dans etti."),
    ),
    "wild": (
        ("{name} {nature_loc} yürüyüşe çıktı.", "{name} ile {pet_name} {nature_loc} yürüyüşe çıktılar."),
        ("Orada {wild_doing} bir {wild} gördü.", "Birden {wild_doing} bir {wild} fark etti."),
        ("{name} onu korkutmamak için kıpırdamadan durdu.", "Daha önce hiç bu kadar yakından bir {wild} görmemişti."),
        ("Merhaba küçük {wild}", "Korkma", "Çok güzelsin"),
        ("{wild} bir an ona baktı ve sonra {wild_go}.", "Bir süre sonra {wild} {wild_go}."),
        ("Eve dönünce {name} {wild_gen} resmini çizdi.", "{friend_dat} her şeyi anlattı.",
         "{name}, {wild_acc} bir gün yeniden görmeyi umdu."),
    ),
    "cooking": (
        ("{name} akşam yemeği için {food} pişirmeye karar verdi.", "{name}, {friend} için {food} yapmak istedi.",
         "{name_gen} canı {food} çekti."),
        ("İhtiyacı olan şeyleri almak için pazara gitti.", "Karıştırdı, çırptı ve bekledi.",
         "Önlüğünü taktı ve ellerini yıkadı."),
        ("Ama {pet_name} {food_acc} yemeye çalıştı!", "Eyvah, yere bir kaşık düşürdü.",
         "Beklediğinden çok daha uzun sürdü."),
        ("{friend} yardım etmeye geldi.", "{friend} geldi ve birlikte yemek yediler."),
        ("Bu çok lezzetli", "Harika bir aşçısın", "Biraz daha alabilir miyim"),
        ("Sonunda {food_gen} tadı harikaydı.", "{name} yemeğiyle gurur duydu.", "Sonunda geriye hiçbir şey kalmadı."),
    ),
}


# ----------------------------------------------------------------------------------------------------------------
# Slot values.

def case(phrase: str, name: str) -> str:
    """`suffix` for this module's words and the vocabulary's, knowing the ones that end in a possessive:
    case("saat kulesi", "genitive") -> "saat kulesinin", case("bir bankın altı", "locative") -> "bir bankın altında"."""
    return suffix(phrase, name, possessed=phrase in _COMPOUNDS or phrase in _POSSESSED)


def plural(noun: str) -> str:
    """The plural of a noun of the tables, a compound's before its possessive: plural("tilki") -> "tilkiler",
    plural("nar bülbülü") -> "nar bülbülleri"."""
    if noun in _PLURAL_BEFORE_POSSESSIVE:
        return possessive(suffix(_PLURAL_BEFORE_POSSESSIVE[noun], "plural"), 3)
    return suffix(noun, "plural")


def was(word: str) -> str:
    """`word` with the past of "to be", -(y)DI: was("veteriner") -> "veterinerdi", was("pilot") -> "pilottu",
    was("otobüs şoförü") -> "otobüs şoförüydü", was("oynuyorlar") -> "oynuyorlardı" (they were playing),
    was("Tom") -> "Tom'du"."""
    ending = ("y" if ends_in_vowel(word) else "") + d_or_t(word) + four_way(word)
    return f"{word}'{ending}" if is_proper(word) else word + ending


def by_doing(infinitive: str) -> str:
    """The converb -(y)ArAk of a verb (by doing it, while doing it): by_doing("kitap okumak") -> "kitap okuyarak",
    by_doing("resim çizmek") -> "resim çizerek", by_doing("dans etmek") -> "dans ederek"."""
    head, _, verb = infinitive.rpartition(" ")
    stem = verb[:-3]
    if stem in _SOFTENING_VERBS:   # "etmek" -> "ederek"
        stem = stem[:-1] + "d"
    e = two_way(stem)
    return (head + " " if head else "") + stem + ("y" if ends_in_vowel(stem) else "") + e + "r" + e + "k"


def you_are(word: str) -> str:
    """`word` with "you are", -sIn: you_are("fırıncı") -> "fırıncısın", you_are("doktor") -> "doktorsun"."""
    return word + "s" + four_way(word) + "n"


def _his(noun: str) -> str:
    """`noun` with the possessive of the third person; a compound already has it ("el feneri", his torch)."""
    return noun if noun in _POSSESSED or noun in _COMPOUNDS else possessive(noun, 3)


def _too(word: str) -> str:
    """`word` and the particle "de" (too), written apart, with the word's vowel harmony: "Tom da", "Eli de"."""
    return f"{word} d{two_way(word)}"


def town_slots(t: Town) -> dict[str, str]:
    """The Turkish slot values for a town. Example, for Applebury (near the sea, a stone bridge, known for flowers):
    town_loc "Applebury'da", town_ki "Applebury'daki", near_gen "denizin", landmark "taş köprü", material_abl
    "taştan", known_for_ins "çiçekleriyle"."""
    known_for = possessive(KNOWN_FOR_TR[t.known_for], 3)
    return {"town": t.name, "town_loc": suffix(t.name, "locative"), "town_gen": suffix(t.name, "genitive"),
            "town_ki": suffix(t.name, "locative") + "ki", "town_dat": suffix(t.name, "dative"),
            "near_gen": case(NEAR_TR[t.near], "genitive"),
            "landmark": LANDMARKS_TR[t.landmark], "material_abl": case(MATERIALS_TR[t.material], "ablative"),
            "known_for_poss": known_for, "known_for_ins": suffix(known_for, "instrumental")}


def biography_slots(world: World, c: Character) -> dict[str, str]:
    """`person_slots` and their town's, with the cases a biography needs besides: name_dat "Ada'ya", name_acc
    "Ada'yı", workplace_loc "fırında", hobby_abl "resim yapmaktan", friend_too "Tom da"."""
    slots = {**town_slots(world.town(c.town)), **person_slots(c)}
    slots.update(name_dat=suffix(c.name, "dative"),
                 name_acc=suffix(c.name, "accusative"), workplace_loc=case(WORKPLACES_TR[JOBS[c.job][0]], "locative"),
                 hobby_abl=infinitive_case(slots["hobby"], "ablative"), friend_too=_too(c.friend))
    return slots


# A misconception's slots and where the world took each one's value from (`build_world`): its town gives the
# landmark, what it is made of and the water near it.
_MYTH_CHOICES = {"wilds": {WILD[w][0]: w for w in WILD}, "pets": {PETS[p][0]: p for p in PETS},
                 "food": {f: f for f in FOODS}, "colour": {c: c for c in COLOURS},
                 "fruit_seed": {s: s for s in FRUIT_SEEDS}}
_TOWN_SLOTS = {"town", "landmark", "material", "water"}


def _slots_of(*templates: str) -> set[str]:
    return {name.lower() for t in templates for _, name, _, _ in string.Formatter().parse(t) if name}


def _myth_english(key: str) -> tuple[str, ...]:
    rumour, truth, reason, questions, _ = _MYTHS[key]
    return (rumour, truth, reason) + tuple(questions)


def myth_bindings(world: World, key: str) -> Iterator[tuple[Town | None, dict[str, str]]]:
    """Every binding a misconception of `key` can have in `world`: (its town or None, {slot: English value}), the
    slots those of its templates ("wilds": "owls", "food": "cheese")."""
    slots = _slots_of(*_myth_english(key))
    free = sorted(slots - _TOWN_SLOTS)
    towns = [t for t in world.towns if t.water or "water" not in slots] if slots & _TOWN_SLOTS else [None]
    for t in towns:
        for values in itertools.product(*(_MYTH_CHOICES[s] for s in free)):
            yield t, dict(zip(free, values))


def _myth_ctx(t: Town | None, values: dict[str, str]) -> _Ctx:
    town = {"town": t.name, "landmark": t.landmark, "material": t.material, "water": t.water} if t else {}
    return _Ctx(town, **values)


def _binding_of(world: World, m: Misconception) -> tuple[Town | None, dict[str, str]]:
    """Which town and values `build_world` bound `m`'s templates to: the one binding whose English is `m`'s (the
    misconception keeps only its filled sentences)."""
    written = (m.rumour, m.truth, m.reason) + m.questions[:2]
    found = [(t, values) for t, values in myth_bindings(world, m.key)
             if tuple(fill(x, _myth_ctx(t, values)) for x in _myth_english(m.key)) == written]
    if len(found) != 1:
        raise ValueError(f"misconception {m.key!r} ({m.rumour!r}): {len(found)} bindings of its templates write it, "
                         "where exactly one should")
    return found[0]


def myth_slots(t: Town | None, values: dict[str, str]) -> dict[str, str]:
    """The Turkish slot values of a misconception's binding (`myth_bindings`): wilds "kuğular", pets "hamsterler",
    water "göl", water_loc "gölde", food "peynir" and the town's (`town_slots`)."""
    slots = town_slots(t) if t else {}
    if t and t.water:
        water = WATERS_TR[t.water]
        slots.update(water=water, water_loc=suffix(water, "locative"))
    if "wilds" in values:
        slots["wilds"] = plural(WILD_TR[_MYTH_CHOICES["wilds"][values["wilds"]]])
    if "pets" in values:
        slots["pets"] = suffix(PETS_TR[_MYTH_CHOICES["pets"][values["pets"]]], "plural")
    if "food" in values:
        slots["food"] = FOODS_TR[values["food"]]
    if "colour" in values:
        slots["colour"] = COLOURS_TR[values["colour"]]
    if "fruit_seed" in values:
        slots["fruit_seed"] = FRUIT_SEEDS_TR[values["fruit_seed"]]
    return slots


class TurkishMyth(NamedTuple):
    rumour: str                 # a clause: "Rosewood'daki kuğular konuşabilir"
    truth: str                  # a clause: "kuğular konuşamaz"
    reason: str                 # a sentence
    questions: tuple[str, ...]  # the four phrasings of `Misconception.questions`, in their order


def _turkish_myth(key: str, t: Town | None, values: dict[str, str]) -> TurkishMyth:
    rumour, truth, reason, specific = MYTHS_TR[key]
    slots = myth_slots(t, values)
    rumour, truth = rumour.format_map(slots), truth.format_map(slots)
    questions = tuple(_say(q, slots) for q in specific) + tuple(_say(q, {"rumour": rumour})
                                                                for q in MYTH_SHARED_QUESTIONS_TR)
    return TurkishMyth(rumour, truth, _say(reason, slots), questions)


@functools.lru_cache(maxsize=None)
def turkish_myth(world: World, m: Misconception) -> TurkishMyth:
    """Misconception `m` of `world` in Turkish: its rumour, truth, reason and questions, each in the phrasing of the
    English. Example: "swans in Rosewood can talk" -> rumour "Rosewood'daki kuğular konuşabilir"."""
    return _turkish_myth(m.key, *_binding_of(world, m))


def _myth_reply(myth: TurkishMyth, m: Misconception, phrasing: int, with_reason: bool) -> str:
    """The answer to question `phrasing` of `m`, as `documents._myth_reply` gives it in English."""
    answer = _say(MYTH_ANSWERS_TR[0 if m.yes_no[phrasing] else 1], {"truth": myth.truth})
    return answer + (" " + myth.reason if with_reason else "")


# ----------------------------------------------------------------------------------------------------------------
# The documents, written from the English draws.

def _write_biography(world: World, c: Character, plan: list[tuple[str, int]]) -> str:
    slots = biography_slots(world, c)
    return " ".join(_say(BIO_TR[table][i], slots) for table, i in plan)


def turkish_biography(world: World, rng: random.Random, c: Character) -> str:
    """The Turkish of `documents.biography(world, rng, c)`: the same draws (`biography_plan`), so a generator in
    the same state gives the same facts in the same order. Example: "Ada Applebury'da yaşıyor. Ada'nın en iyi
    arkadaşı Tom. ..." (every fact of Ada but her pet's name, which the pet's sentence may give)."""
    return _write_biography(world, c, biography_plan(rng))


def _write_bios(world: World, plan: list[tuple[Character, list[tuple[str, int]]]]) -> str:
    return "\n".join(_write_biography(world, c, bio) for c, bio in plan)


def _write_town(world: World, plan: TownPlan) -> str:
    a, b, o = plan.cast
    slots = {**town_slots(plan.town), "name": a.name, "friend": b.name, "other": o.name, "job": JOBS_TR[a.job],
             "o_job": JOBS_TR[o.job]}
    out = [_say(TOWN_DESC_TR[step][i], slots) for step, i in plan.description]
    out.append(_say(TOWN_PEOPLE_TR[plan.people], slots))
    out += [_say(BIO_TR["extra"][i], biography_slots(world, c)) for c, i in plan.extras]
    for m in plan.truths:
        myth = turkish_myth(world, m)
        out += [_say(myth.truth, {}) + ".", myth.reason]
    return " ".join(out)


def turkish_town_note(world: World, rng: random.Random, t: Town) -> str:
    """The Turkish of the town note `documents._town_doc(world, rng, t)` writes from the same draws (`town_plan`):
    where the town is, what it is known for, its landmark, some of its people, and the plain truth of up to two
    misconceptions about it."""
    return _write_town(world, town_plan(world, rng, t))


def _write_qa(world: World, plan: list[QAHeader | FactQA | MythQA]) -> str:
    q, a = QA_LABELS_TR
    lines = []
    for line in plan:
        if isinstance(line, QAHeader):
            lines.append(_say(QA_HEADERS_TR[line.template], {"name": line.c.name, "town": line.c.town}))
        elif isinstance(line, MythQA):
            myth = turkish_myth(world, line.m)
            lines += [f"{q}: {myth.questions[line.phrasing]}",
                      f"{a}: {_myth_reply(myth, line.m, line.phrasing, line.with_reason)}"]
        else:
            slots = person_slots(line.c)
            lines += [f"{q}: {_say(FACT_QUESTIONS_TR[line.attribute][line.question], slots)}",
                      f"{a}: {_say(FACT_ANSWERS_TR[line.attribute][line.answer], slots)}"]
    return "\n".join(lines)


def turkish_qa_page(world: World, rng: random.Random, pairs) -> str:
    """The Turkish of the Q&A page `documents._qa_doc(world, rng, pairs)` writes from the same draws (`qa_plan`),
    one line a question or an answer, marked S and C: "S: Ada nerede yaşıyor?\\nC: Ada Applebury'da yaşıyor."."""
    return _write_qa(world, qa_plan(world, rng, pairs))


def _rumour_slots(myth: TurkishMyth, c: Character) -> dict[str, str]:
    return {"rumour": myth.rumour, "truth": myth.truth, "name": c.name, "town_loc": suffix(c.town, "locative")}


def _write_rumours(world: World, plan: list[RumourPart]) -> str:
    out = []
    for part in plan:
        myth = turkish_myth(world, part.m)
        slots = _rumour_slots(myth, part.c)
        if part.say is not None:
            out += [_say(RUMOUR_SAY_TR[part.say], slots), _say(RUMOUR_FIX_TR[part.fix], slots)]
        if part.truth is not None:
            out.append(_say(TRUTH_SAY_TR[part.truth], slots))
        out.append(myth.reason)
    return " ".join(out)


def turkish_rumour_page(world: World, rng: random.Random) -> str:
    """The Turkish of the rumour page `documents._rumour_doc(world, rng)` writes from the same draws
    (`rumour_plan`): misconceptions, each said as a rumour and put right, or only its truth, and a reason:
    "Bazı çocuklar Rosewood'daki kuğular konuşabilir diyor. Bu doğru değil: kuğular konuşamaz. ..."."""
    return _write_rumours(world, rumour_plan(world, rng))


def scene_slots(world: World, ctx: dict[str, str]) -> dict[str, str]:
    """The Turkish slot values of a scene whose story context (`documents.scene_plan`, in English words) is `ctx`:
    the hero's (`biography_slots`), the other child's (other, other_gen, other_dat), the time, where they were
    (place_loc "parkta") and what they were doing (scene_act_past "top oynuyorlardı", scene_act_dat "top
    oynamaya")."""
    slots = biography_slots(world, world.character(ctx["name"]))
    act, other = SCENE_ACTS_TR[ctx["scene_act"]], ctx["other"]
    slots.update(other=other, other_gen=suffix(other, "genitive"), other_dat=suffix(other, "dative"),
                 time=TIMES_TR[ctx["time"]], place_loc=case(SCENE_PLACES_TR[ctx["place"]], "locative"),
                 scene_act_past=was(present_continuous(act, 3, plural=True)),
                 scene_act_dat=infinitive_case(act, "dative"), job_was=was(slots["job"]))
    return slots


def _quote(kind: str, words: str, frame: int, slots: dict[str, str], speaker: str, listener: str) -> str:
    """`words` said by slot `speaker` (to slot `listener`, if any) in the `frame`-th of FRAMES_TR[kind]."""
    listener_dat = slots[listener + "_dat"] if listener else ""
    return _say(FRAMES_TR[kind][frame], {**slots, "speaker": slots[speaker], "listener_dat": listener_dat,
                                         kind: _say(words, slots)})


def _write_steps(steps, steps_tr, plan: list[tuple[int, ...]], slots: dict[str, str]) -> list[str]:
    """The sentences of a step plan of the English `steps` (`templates._step_plan`), written with their Turkish
    `steps_tr` (a quote step's kind, speaker and listener are the English step's)."""
    out = []
    for n, *drawn in plan:
        step, templates = steps[n], steps_tr[n]
        if step.kind:
            utterance, frame = drawn
            out.append(_quote(step.kind, templates[utterance], frame, slots, step.speaker, step.listener))
        else:
            out.append(_say(templates[drawn[0]], slots))
    return out


def _remark(head: str, tail: str, unkind: bool) -> str:
    heads, tails = (UNKIND_HEADS_TR, UNKIND_TAILS_TR) if unkind else (KIND_HEADS_TR, KIND_TAILS_TR)
    return heads[head] + (", " + tails[tail] if tail else "")


def _write_scene(world: World, plan: ScenePlan) -> str:
    slots = scene_slots(world, plan.ctx)
    out = []
    for part, drawn in plan.parts:
        if part == "remark":
            head, tail, kind, frame = drawn
            out.append(_quote(kind, _remark(head, tail, head in UNKIND_HEADS_TR), frame, slots, "name", "other"))
        elif part == "teacher":
            out.append(_say(SCENE_TEACHER_TR[drawn], slots))
        else:
            out += _write_steps(SCENE_STEPS[part], SCENE_STEPS_TR[part], drawn, slots)
    return " ".join(out)


def turkish_scene(world: World, rng: random.Random, c: Character, cores_kind, cores_unkind) -> str:
    """The Turkish of the kind or unkind scene `documents._kindness_doc(world, rng, c, cores_kind, cores_unkind)`
    writes from the same draws (`scene_plan`): "Bir sabah Ada ile Tom parkta top oynuyorlardı. Tom çamura düştü.
    Ada, Tom'a "Çok cesursun." dedi. ..."."""
    return _write_scene(world, scene_plan(world, rng, c, cores_kind, cores_unkind))


def story_slots(world: World, ctx: dict[str, str]) -> dict[str, str]:
    """The Turkish slot values of a story whose context (`documents.story_plan`, `_story_ctx`) is `ctx`: the scene's
    (`scene_slots`), the best friend's (friend_acc "Tom'u", f_pet_poss "kedisi", ...), the places and spots in the
    cases the templates want (spot_abl "bir bankın altından"), the weather, the storm, the wild animal, how the hero
    felt, and so on, each word from the tables above."""
    slots = scene_slots(world, ctx)
    c, friend, other = world.character(ctx["name"]), world.character(ctx["friend"]), ctx["other"]
    f_food = FOODS_TR[friend.food]
    wild, pet_name = WILD_TR[ctx["wild"]], c.pet_name
    doing, doing_while = WILD_DOING_TR[ctx["wild_doing"]]
    storm = [fill(t, ctx) for t in STORMS].index(ctx["storm"])
    slots.update(
        friend_acc=suffix(friend.name, "accusative"), friend_dat=suffix(friend.name, "dative"),
        friend_gen=suffix(friend.name, "genitive"),
        f_pet_poss=possessive(PETS_TR[friend.pet], 3), f_pet_name_acc=suffix(friend.pet_name, "accusative"),
        f_food_abl=case(f_food, "ablative"), f_food_acc=case(f_food, "accusative"), f_colour=COLOURS_TR[friend.colour],
        other_acc=suffix(other, "accusative"), other_too=_too(other),
        colour_was=was(slots["colour"]), food_was=was(slots["food"]), food_gen=case(slots["food"], "genitive"),
        weather=WEATHER_TR[ctx["weather"]], storm=STORMS_TR[storm].format_map(slots),
        place_dat=case(SCENE_PLACES_TR[ctx["place"]], "dative"),
        place_gen=case(SCENE_PLACES_TR[ctx["place"]], "genitive"),
        place2_loc=case(SCENE_PLACES_TR[ctx["place2"]], "locative"),
        place2_dat=case(SCENE_PLACES_TR[ctx["place2"]], "dative"),
        place2_gen=case(SCENE_PLACES_TR[ctx["place2"]], "genitive"),
        spot_abl=case(SPOTS_TR[ctx["spot"]], "ablative"), spot_acc=case(SPOTS_TR[ctx["spot"]], "accusative"),
        spot2_loc=case(SPOTS_TR[ctx["spot2"]], "locative"), spot2_acc=case(SPOTS_TR[ctx["spot2"]], "accusative"),
        home_spot_loc=case(HOME_SPOTS_TR[ctx["home_spot"]], "locative"), sad_was=was(SAD_TR[ctx["sad"]]),
        nervous_was=was(NERVOUS_TR[ctx["nervous"]]), event=EVENTS_TR[ctx["event"]],
        event_abl=case(EVENTS_TR[ctx["event"]], "ablative"), trouble=TROUBLES_TR[ctx["trouble"]],
        indoor_by=by_doing(INDOOR_TR[ctx["indoor"]]), gift=GIFTS_TR[ctx["a_gift"]], moral=MORALS_TR[ctx["moral"]],
        wild=wild, wild_gen=case(wild, "genitive"), wild_acc=case(wild, "accusative"), wild_doing=doing,
        wild_while=doing_while, wild_go=WILD_GO_TR[ctx["wild_go"]],
        nature_loc=case(NATURE_TR[ctx["nature"]], "locative"),
        pet_name_acc=suffix(pet_name, "accusative"), pet_name_dat=suffix(pet_name, "dative"),
        pet_name_gen=suffix(pet_name, "genitive"), pet_name_too=_too(pet_name), pet_joy=PET_JOY_TR[PETS[c.pet][2]],
        my_pet_acc=suffix(possessive(PETS_TR[c.pet], 1), "accusative"), hobby_by=by_doing(slots["hobby"]),
        place_acc=case(SCENE_PLACES_TR[ctx["place"]], "accusative"), spot_dat=case(SPOTS_TR[ctx["spot"]], "dative"),
        sad=SAD_TR[ctx["sad"]], workplace_dat=case(WORKPLACES_TR[JOBS[c.job][0]], "dative"),
        job_act=JOB_ACTS_TR[ctx["job_act"]], job_act2=JOB_ACTS_TR[ctx["job_act2"]], job_you_are=you_are(slots["job"]))
    thing = THINGS_TR[ctx["thing"]]
    his, mine = _his(thing), possessive(thing, 1)
    slots.update(thing=thing, thing_acc=case(thing, "accusative"), thing_his_acc=suffix(his, "accusative", True),
                 thing_his_gen=suffix(his, "genitive", True), thing_his_dat=suffix(his, "dative", True),
                 thing_his_ins=suffix(his, "instrumental"), thing_his_was=was(his), my_thing=mine,
                 my_thing_acc=suffix(mine, "accusative"))
    town2, visitor = world.town(ctx["town2"]), world.character(ctx["visitor"])
    slots.update({key.replace("town", "town2") if key.startswith("town") else key + "2": value
                  for key, value in town_slots(town2).items()})
    slots.update(town2_acc=suffix(town2.name, "accusative"),
                 landmark2_acc=case(LANDMARKS_TR[town2.landmark], "accusative"), wilds=plural(wild),
                 visitor=visitor.name, visitor_acc=suffix(visitor.name, "accusative"),
                 visitor_dat=suffix(visitor.name, "dative"), v_job=JOBS_TR[visitor.job],
                 v_pet_poss=possessive(PETS_TR[visitor.pet], 3), v_pet_name_acc=suffix(visitor.pet_name, "accusative"))
    return slots


def _write_story(world: World, plan: StoryPlan) -> str:
    slots = story_slots(world, plan.ctx)
    sentences = (_write_steps(_OPENING, OPENING_TR, plan.opening, slots) +
                 _write_steps(_PLOTS[plan.plot], PLOTS_TR[plan.plot], plan.body, slots))
    if plan.rumour:
        m, utterance, frame = plan.rumour
        step = _RUMOUR_IN_PASSING
        words = RUMOUR_IN_PASSING_TR[utterance]
        quote = _quote(step.kind, words, frame, {**slots, "rumour": turkish_myth(world, m).rumour}, step.speaker,
                       step.listener)
        sentences.insert(len(sentences) - 1, quote)
    return " ".join(sentences + _write_steps((_CLOSING,), (CLOSING_TR,), plan.closing, slots))


def turkish_story(world: World, rng: random.Random, c: Character, plot: str | None = None,
                  rumour_p: float = 0.04) -> str:
    """The Turkish of the story `documents._story(world, rng, c, plot, rumour_p)` writes from the same draws
    (`story_plan`): an opening about the hero, a plot, sometimes a closing line."""
    return _write_story(world, story_plan(world, rng, c, plot, rumour_p))


def _write_stories(world: World, plan: list[StoryPlan]) -> str:
    return " ".join(_write_story(world, story) for story in plan)


WRITE_TURKISH = {"story": _write_stories, "bio": _write_bios, "town": _write_town, "qa": _write_qa,
                 "rumour": _write_rumours, "kindness": _write_scene}


def parallel_world_documents(world: World, split: str, n: int, seed: int) -> Iterator[tuple[str, str]]:
    """(English, Turkish) for each of the `n` documents of `pretraining_documents(world, split, n, seed)` (stories,
    biographies, town notes, Q&A pages, rumour pages, kind or unkind scenes), the English exactly as
    `pretraining_documents` gives it and the Turkish written from the same plan (`WRITE_TURKISH`)."""
    for kind, plan in document_plans(world, split, n, seed):
        yield WRITE_ENGLISH[kind](world, plan), WRITE_TURKISH[kind](world, plan)


def every_document_sentence(world: World) -> list[str]:
    """Every Turkish sentence these documents can write about `world`: each biography template, fact question and
    answer (`renderings.py`'s, which the Q&A pages ask) for every person, each town description for every town, each
    people sentence with every person in each of its places, each Q&A header, every scene and story sentence
    (`_every_scene_sentence`, `_every_story_sentence`), and every misconception's rumour, truth, reason, questions,
    answers and rumour-page sentences for every binding its templates can have in the world (not only the world's own
    misconceptions). For checking them all."""
    out = []
    for c in world.characters:
        slots = biography_slots(world, c)
        out += [_say(t, slots) for table in BIO_TR.values() for t in table]
        out += [_say(t, slots) for attr in ATTRIBUTES for t in FACT_QUESTIONS_TR[attr] + FACT_ANSWERS_TR[attr]]
        out += [_say(t, {"name": c.name, "town": c.town}) for t in QA_HEADERS_TR]
    for t in world.towns:
        people = world.residents(t.name)
        out += [_say(x, town_slots(t)) for step in TOWN_DESC_TR for x in step]
        for i, a in enumerate(people):   # everyone once as the first name (with a job) and once as the last
            b, o = people[(i + 1) % len(people)], people[(i + 2) % len(people)]
            for cast in ((a, b, o), (b, o, a)):
                slots = {**town_slots(t), "name": cast[0].name, "friend": cast[1].name, "other": cast[2].name,
                         "job": JOBS_TR[cast[0].job], "o_job": JOBS_TR[cast[2].job]}
                out += [_say(x, slots) for x in TOWN_PEOPLE_TR]
    out += _every_scene_sentence(world) + _every_story_sentence(world)
    for key in MYTHS_TR:
        for t, values in myth_bindings(world, key):
            myth = _turkish_myth(key, t, values)
            out += [_say(myth.rumour, {}) + ".", _say(myth.truth, {}) + ".", myth.reason, *myth.questions]
            out += [_say(x, {"truth": myth.truth}) for x in MYTH_ANSWERS_TR]
            for town in world.towns:   # the rumour said by someone of each town
                c = world.residents(town.name)[0]
                out += [_say(x, _rumour_slots(myth, c)) for x in RUMOUR_SAY_TR + RUMOUR_FIX_TR + TRUTH_SAY_TR]
    return out


def _every_step_sentence(step, templates, slots: dict[str, str]) -> list[str]:
    """Each template of a step filled from `slots`; a quote step's utterances in each frame the step can take."""
    if not step.kind:
        return [_say(t, slots) for t in templates]
    frames = [i for i, f in enumerate(FRAMES[step.kind])
              if f not in _STANDALONE and ("{listener}" not in f or step.listener)]
    return [_quote(step.kind, words, frame, slots, step.speaker, step.listener)
            for words in templates for frame in frames]


_STORY_WORDS = {"time": TIMES_TR, "weather": WEATHER_TR, "place": SCENE_PLACES_TR, "place2": SCENE_PLACES_TR,
                "spot": SPOTS_TR, "spot2": SPOTS_TR, "home_spot": HOME_SPOTS_TR, "sad": SAD_TR, "nervous": NERVOUS_TR,
                "event": EVENTS_TR, "trouble": TROUBLES_TR, "indoor": INDOOR_TR, "a_gift": GIFTS_TR,
                "moral": MORALS_TR, "wild": WILD_TR, "wild_doing": WILD_DOING_TR, "nature": NATURE_TR,
                "scene_act": SCENE_ACTS_TR, "thing": THINGS_TR}


def _every_story_sentence(world: World) -> list[str]:
    """Every sentence of the stories' templates: with the first person as the hero, every word of each table (in
    turn); with everyone as the hero, the other child and the best friend, once; and every rumour in passing."""
    out, people = [], world.characters
    rounds = max(len(table) for table in _STORY_WORDS.values())
    for i, c in enumerate(people):
        for j in range(rounds) if i == 0 else (i % rounds,):
            ctx = _Ctx({key: list(table)[(j + k) % len(table)] for k, (key, table) in enumerate(_STORY_WORDS.items())})
            acts = JOBS[c.job][1]
            town2 = world.towns[(i + j + 1) % len(world.towns)]
            ctx.update(name=c.name, friend=c.friend, other=people[(i + j + 1) % len(people)].name, town=c.town,
                       wild_go=WILD[ctx["wild"]][1], storm=fill(STORMS[j % len(STORMS)], _Ctx(town=c.town)),
                       job_act=acts[j % len(acts)], job_act2=acts[(j + 1) % len(acts)], town2=town2.name,
                       visitor=world.residents(town2.name)[j % 2].name)
            slots = story_slots(world, ctx)
            for steps, steps_tr in ((_OPENING, OPENING_TR), ((_CLOSING,), (CLOSING_TR,)),
                                    *((_PLOTS[plot], PLOTS_TR[plot]) for plot in PLOTS_TR)):
                for step, templates in zip(steps, steps_tr):
                    out += _every_step_sentence(step, templates, slots)
            if i == 0 and j == 0:   # every job's acts and forms, every rumour said in passing
                out += [_say(act, {}) + "." for act in JOB_ACTS_TR.values()]
                out += [" ".join((was(job), you_are(job), case(WORKPLACES_TR[place], "locative"),
                                  case(WORKPLACES_TR[place], "dative"))) for job, (place, _) in
                        ((JOBS_TR[key], JOBS[key]) for key in JOBS)]
                for key in MYTHS_TR:
                    for t, values in myth_bindings(world, key):
                        rumour = {**slots, "rumour": _turkish_myth(key, t, values).rumour}
                        out += _every_step_sentence(_RUMOUR_IN_PASSING, RUMOUR_IN_PASSING_TR, rumour)
    return out


def _every_scene_sentence(world: World) -> list[str]:
    """Every sentence of the scenes' templates with every person as the hero and as the other child, every time,
    place and activity, and every remark (kind and unkind, of every split) in every frame."""
    out, people = [], world.characters
    times, places, acts = list(TIMES_TR), list(SCENE_PLACES_TR), list(SCENE_ACTS_TR)
    for i, c in enumerate(people):
        for j in range(max(len(times), len(places), len(acts))):
            ctx = {"name": c.name, "other": people[(i + j + 1) % len(people)].name, "time": times[j % len(times)],
                   "place": places[j % len(places)], "scene_act": acts[j % len(acts)]}
            slots = scene_slots(world, ctx)
            for part, steps in SCENE_STEPS.items():
                for step, templates in zip(steps, SCENE_STEPS_TR[part]):
                    out += _every_step_sentence(step, templates, slots)
            out += [_say(t, slots) for t in SCENE_TEACHER_TR]
            remarks = [_remark(h, t, unkind) for unkind, heads, tails in ((False, KIND_HEADS_TR, KIND_TAILS_TR),
                                                                           (True, UNKIND_HEADS_TR, UNKIND_TAILS_TR))
                       for h in heads for t in tails]
            for kind, frames in FRAMES_TR.items():   # every remark once, every frame with everyone
                words = remarks if i == j == 0 else remarks[:1]
                out += [_quote(kind, w, frame, slots, "name", "other") for w in words for frame in range(len(frames))]
    return out


__all__ = ["BIO_TR", "TOWN_DESC_TR", "TOWN_PEOPLE_TR", "QA_HEADERS_TR", "MYTHS_TR", "TurkishMyth", "biography_slots",
           "case", "every_document_sentence", "myth_bindings", "myth_slots", "parallel_world_documents",
           "town_slots", "turkish_biography", "turkish_myth", "turkish_qa_page", "turkish_rumour_page",
           "turkish_town_note", "RUMOUR_SAY_TR", "RUMOUR_FIX_TR", "TRUTH_SAY_TR", "FRAMES_TR", "SCENE_STEPS_TR",
           "SCENE_TEACHER_TR", "scene_slots", "turkish_scene", "was", "OPENING_TR", "PLOTS_TR", "CLOSING_TR",
           "story_slots", "turkish_story", "by_doing"]
