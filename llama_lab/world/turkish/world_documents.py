"""The world's own pretraining documents in Turkish: biographies, town notes, Q&A pages, rumour pages and kind or
unkind scenes, written from the same draws as the English ones of `documents.py`, so that the two are parallel
sentence for sentence.

`documents.py` draws each of these documents as a plan (which template of which table fills each sentence, and about
whom: `biography_plan`, `town_plan`, `qa_plan`, `rumour_plan`, `scene_plan`) and writes it in English; this module
writes the same plan with the Turkish templates below, each table in the order of its English counterpart, so that
the i-th Turkish template renders the i-th English one. "Ada's best friend is Tom." is "Ada'nın en iyi arkadaşı
Tom.", and a misconception's plain truth "the stone bridge in Applebury is made of stone" is "Applebury'daki taş
köprü taştan yapılmış".

A Q&A page marks its lines S (soru, question) and C (cevap, answer) where the English has Q and A. Turkish has one
pronoun for he and she, and drops it: "His favourite colour is blue." is "En sevdiği renk mavi.". A rumour page says
each misconception's rumour and puts it right, or gives only its truth. A kind or unkind scene is told in the past,
its remark quoted: 'Ada, Tom'a "Çok cesursun." dedi.'.

Not rendered yet: stories (`parallel_world_documents` skips them).
"""

from __future__ import annotations

import functools
import itertools
import random
import string
from typing import Iterator, NamedTuple

from ..documents import (SCENE_STEPS, WRITE_ENGLISH, FactQA, MythQA, QAHeader, RumourPart, ScenePlan, TownPlan,
                         biography_plan, document_plans, qa_plan, rumour_plan, scene_plan, town_plan)
from ..templates import _Ctx, fill
from ..vocabulary import _MYTHS, COLOURS, FOODS, FRUIT_SEEDS, JOBS, PETS, WILD
from ..world import ATTRIBUTES, Character, Misconception, Town, World
from .morphology import (d_or_t, ends_in_vowel, four_way, infinitive_case, possessive, present_continuous, suffix,
                         two_way)
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
                          "arı kovanları", "otobüs garajı", "oyun parkı", "kasaba meydanı"}


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
SCENE_PLACES_TR = {"the park": "park", "the market": "pazar", "the library": "kütüphane", "the pond": "gölet",
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
# `vocabulary.FRAMES` for "say" and "cry": the Turkish quote ends with its own stop, then "dedi" (said) and the like.
FRAMES_TR = {
    "say": ('{speaker}, "{say}." dedi.', '"{say}," dedi {speaker}.', '"{say}," diye konuştu {speaker}.',
            '{speaker} gülümseyerek "{say}." dedi.', '{speaker}, {listener_dat} "{say}." dedi.',
            '{speaker}, {listener_dat} "{say}." diye söyledi.', '"{say}," dedi {speaker}, {listener_dat} bakarak.',
            '{speaker}, {listener_dat} "{say}." diye fısıldadı.', '"{say}."'),
    "cry": ('{speaker}, "{cry}!" diye bağırdı.', '"{cry}!" diye haykırdı {speaker}.',
            '"{cry}!" diye bağırdı {speaker}.', '{speaker}, "{cry}!" diye haykırdı.',
            '{speaker} gülerek "{cry}!" dedi.', '"{cry}!"'),
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


# ----------------------------------------------------------------------------------------------------------------
# Slot values.

def case(phrase: str, name: str) -> str:
    """`suffix` for this module's words and the vocabulary's, knowing their compounds: case("saat kulesi",
    "genitive") -> "saat kulesinin"."""
    return suffix(phrase, name, possessed=phrase in _COMPOUNDS)


def plural(noun: str) -> str:
    """The plural of a noun of the tables, a compound's before its possessive: plural("tilki") -> "tilkiler",
    plural("nar bülbülü") -> "nar bülbülleri"."""
    if noun in _PLURAL_BEFORE_POSSESSIVE:
        return possessive(suffix(_PLURAL_BEFORE_POSSESSIVE[noun], "plural"), 3)
    return suffix(noun, "plural")


def was(word: str) -> str:
    """`word` with the past of "to be", -(y)DI: was("veteriner") -> "veterinerdi", was("pilot") -> "pilottu",
    was("otobüs şoförü") -> "otobüs şoförüydü", was("oynuyorlar") -> "oynuyorlardı" (they were playing)."""
    return word + ("y" if ends_in_vowel(word) else "") + d_or_t(word) + four_way(word)


def _too(word: str) -> str:
    """`word` and the particle "de" (too), written apart, with the word's vowel harmony: "Tom da", "Eli de"."""
    return f"{word} d{two_way(word)}"


def town_slots(t: Town) -> dict[str, str]:
    """The Turkish slot values for a town. Example, for Applebury (near the sea, a stone bridge, known for flowers):
    town_loc "Applebury'da", town_ki "Applebury'daki", near_gen "denizin", landmark "taş köprü", material_abl
    "taştan", known_for_ins "çiçekleriyle"."""
    known_for = possessive(KNOWN_FOR_TR[t.known_for], 3)
    return {"town": t.name, "town_loc": suffix(t.name, "locative"), "town_gen": suffix(t.name, "genitive"),
            "town_ki": suffix(t.name, "locative") + "ki", "near_gen": case(NEAR_TR[t.near], "genitive"),
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
    """`words` said by slot `speaker` (to slot `listener`) in the `frame`-th of FRAMES_TR[kind]."""
    return _say(FRAMES_TR[kind][frame], {**slots, "speaker": slots[speaker], "listener_dat": slots[listener + "_dat"],
                                         kind: _say(words, slots)})


def _write_steps(part: str, plan: list[tuple[int, ...]], slots: dict[str, str]) -> list[str]:
    """The sentences of a step plan of SCENE_STEPS[part], in Turkish (a quote step's speaker and listener are the
    English step's)."""
    out = []
    for n, *drawn in plan:
        step, templates = SCENE_STEPS[part][n], SCENE_STEPS_TR[part][n]
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
            out += _write_steps(part, drawn, slots)
    return " ".join(out)


def turkish_scene(world: World, rng: random.Random, c: Character, cores_kind, cores_unkind) -> str:
    """The Turkish of the kind or unkind scene `documents._kindness_doc(world, rng, c, cores_kind, cores_unkind)`
    writes from the same draws (`scene_plan`): "Bir sabah Ada ile Tom parkta top oynuyorlardı. Tom çamura düştü.
    Ada, Tom'a "Çok cesursun." dedi. ..."."""
    return _write_scene(world, scene_plan(world, rng, c, cores_kind, cores_unkind))


WRITE_TURKISH = {"bio": _write_bios, "town": _write_town, "qa": _write_qa, "rumour": _write_rumours,
                 "kindness": _write_scene}


def parallel_world_documents(world: World, split: str, n: int, seed: int) -> Iterator[tuple[str, str]]:
    """(English, Turkish) for those of `pretraining_documents(world, split, n, seed)` that are rendered in Turkish:
    biographies, town notes, Q&A pages, rumour pages and kind or unkind scenes (about 48% of the documents), each
    English document exactly as `pretraining_documents` gives it. Stories are skipped."""
    for kind, plan in document_plans(world, split, n, seed):
        if kind in WRITE_TURKISH:
            yield WRITE_ENGLISH[kind](world, plan), WRITE_TURKISH[kind](world, plan)


def every_document_sentence(world: World) -> list[str]:
    """Every Turkish sentence these documents can write about `world`: each biography template, fact question and
    answer (`renderings.py`'s, which the Q&A pages ask) for every person, each town description for every town, each
    people sentence with every person in each of its places, each Q&A header, every scene sentence
    (`_every_scene_sentence`), and every misconception's rumour, truth, reason, questions, answers and rumour-page
    sentences for every binding its templates can have in the world (not only the world's own misconceptions). For
    checking them all."""
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
    out += _every_scene_sentence(world)
    for key in MYTHS_TR:
        for t, values in myth_bindings(world, key):
            myth = _turkish_myth(key, t, values)
            out += [_say(myth.rumour, {}) + ".", _say(myth.truth, {}) + ".", myth.reason, *myth.questions]
            out += [_say(x, {"truth": myth.truth}) for x in MYTH_ANSWERS_TR]
            for town in world.towns:   # the rumour said by someone of each town
                c = world.residents(town.name)[0]
                out += [_say(x, _rumour_slots(myth, c)) for x in RUMOUR_SAY_TR + RUMOUR_FIX_TR + TRUTH_SAY_TR]
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
                    if step.kind:   # each utterance in each frame that has a listener
                        out += [_quote(step.kind, words, frame, slots, step.speaker, step.listener)
                                for words in templates for frame in range(len(FRAMES_TR[step.kind]))]
                    else:
                        out += [_say(t, slots) for t in templates]
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
           "SCENE_TEACHER_TR", "scene_slots", "turkish_scene", "was"]
