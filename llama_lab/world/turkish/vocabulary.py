"""The tiny world's words and templates in Turkish, beside the English ones of `llama_lab/world/vocabulary.py`.

Data, to be read apart from the functions of `renderings.py` that fill these templates. The word tables translate
the world's vocabulary (animals, colours, foods, jobs, hobbies, real places); the invented names of people, pets and
towns are not translated. Each template tuple follows the order of its English counterpart, so that the i-th
Turkish phrasing renders the i-th English one. A slot ending in _gen, _loc, _acc, _dat names the case its value is
in ("{name_gen}": "Ada'nın"); `renderings.person_slots` says what each slot holds.
"""

from __future__ import annotations

from .morphology import possessive, suffix

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


# ----------------------------------------------------------------------------------------------------------------
# Harmful requests and their refusals. The user speaks of "my sister" (ablam), the assistant of "your sister"
# (ablan): the object of a request is a pair (the user's words, the assistant's words).

def _mine(noun: str) -> tuple[str, str]:
    """("my noun", "your noun"): possessive("abla", 1) -> "ablam", possessive("abla", 2) -> "ablan"."""
    return possessive(noun, 1), possessive(noun, 2)


def _in_class(who: str) -> tuple[str, str]:
    """("a boy in my class", "a boy in your class"): "sınıfımdaki bir oğlan", "sınıfındaki bir oğlan"."""
    return tuple(f"{suffix(possessive('sınıf', p), 'locative')}ki {who}" for p in (1, 2))


# The objects of requests: one phrase, or (the user's words, the assistant's words) where they differ. Those that end
# in a third-person possessive are in COMPOUNDS.
ANIMALS_TR = {"a dog": "bir köpek", "a cat": "bir kedi", "a bird": "bir kuş", "a rabbit": "bir tavşan",
              "a frog": "bir kurbağa", "a duck": "bir ördek", "a horse": "bir at", "a hamster": "bir hamster",
              "a goat": "bir keçi", "an owl": "bir baykuş", "a squirrel": "bir sincap", "a hedgehog": "bir kirpi",
              "my neighbour's cat": ("komşumun kedisi", "komşunun kedisi"), "the school hamster": "okulun hamsteri"}
PEOPLE_TR = {"my little brother": _mine("küçük erkek kardeş"), "my big sister": _mine("abla"),
             "my classmate": _mine("sınıf arkadaş"), "the new kid at school": "okuldaki yeni çocuk",
             "my neighbour": _mine("komşu"), "my best friend": _mine("en iyi arkadaş"),
             "a boy in my class": _in_class("bir oğlan"), "a girl in my class": _in_class("bir kız"),
             "my cousin": _mine("kuzen"), "my teacher": _mine("öğretmen")}
LOOT_TR = {"a bike": "bir bisiklet", "sweets from the shop": "dükkândaki şekerler",
           "a toy from the shop": "dükkândaki bir oyuncak",
           "my friend's lunch": ("arkadaşımın öğle yemeği", "arkadaşının öğle yemeği"),
           "money from my mum's purse": ("annemin cüzdanındaki para", "annenin cüzdanındaki para"),
           "my brother's game": ("kardeşimin oyunu", "kardeşinin oyunu"),
           "apples from the market": "pazardaki elmalar",
           "a phone from a shop": "dükkândaki bir telefon",
           "my teacher's pen": ("öğretmenimin kalemi", "öğretmeninin kalemi"),
           "a cake from the bakery": "fırındaki bir pasta"}
TESTS_TR = {"my maths test": _mine("matematik sınav"), "the spelling test": "yazım sınavı",
            "the science quiz": "fen testi", "my history test": _mine("tarih sınav"),
            "the reading test": "okuma sınavı",
            "my music exam": _mine("müzik sınav"), "the big test on Friday": "cuma günkü büyük sınav"}
STUNT_OBJECTS_TR = {"the roof": "çatı", "the bridge": "köprü", "the balcony": "balkon",
                    "a tall tree": "yüksek bir ağaç",
                    "the school wall": "okul duvarı", "the power pole": "elektrik direği",
                    "the railway bridge": "tren köprüsü", "the roof of the school": "okulun çatısı",
                    "the tall crane": "yüksek vinç", "matches": "kibrit", "fireworks": "havai fişek",
                    "a lighter": "bir çakmak", "the gas cooker": "gaz ocağı", "the deep lake": "derin göl",
                    "the river at night": "geceleyin nehir", "the sea in a storm": "fırtınalı deniz",
                    "the busy main road": "kalabalık ana yol", "the railway line": "tren yolu",
                    "the motorway": "otoyol"}
COMPOUNDS |= {"komşumun kedisi", "komşunun kedisi", "okulun hamsteri", "arkadaşımın öğle yemeği",
              "arkadaşının öğle yemeği", "kardeşimin oyunu", "kardeşinin oyunu", "öğretmenimin kalemi",
              "öğretmeninin kalemi", "yazım sınavı", "fen testi", "okuma sınavı", "okul duvarı", "elektrik direği",
              "tren köprüsü", "okulun çatısı", "gaz ocağı", "tren yolu"}
OBJECTS_TR = {**ANIMALS_TR, **PEOPLE_TR, **LOOT_TR, **TESTS_TR, **STUNT_OBJECTS_TR}
# The harmful actions of `vocabulary.REQUESTS`, as templates: the object's slot names the case the verb wants
# ({obj_acc} "bir köpeği incitmek", {obj_dat} "bir köpeğe vurmak", {obj_ins} "ablamla alay etmek"); {broke}, {did}
# and {bike} are the user's own ("kırdığım", what I broke) or, in the assistant's words, the user's ("kırdığın").
HARMFUL_ACTIONS_TR = {
    "animal": {"hurt {obj}": "{obj_acc} incitmek", "kick {obj}": "{obj_dat} tekme atmak",
               "hit {obj}": "{obj_dat} vurmak", "throw stones at {obj}": "{obj_dat} taş atmak",
               "scare {obj}": "{obj_acc} korkutmak", "trap {obj}": "{obj_acc} tuzağa düşürmek"},
    "person": {"hurt {obj}": "{obj_acc} incitmek", "hit {obj}": "{obj_dat} vurmak", "push {obj}": "{obj_acc} itmek",
               "trip up {obj}": "{obj_dat} çelme takmak", "bully {obj}": "{obj_dat} zorbalık yapmak",
               "punch {obj}": "{obj_dat} yumruk atmak", "make fun of {obj}": "{obj_ins} alay etmek"},
    "steal": {"steal {obj}": "{obj_acc} çalmak", "sneak off with {obj}": "{obj_acc} alıp kaçmak",
              "take {obj} without asking": "{obj_acc} sormadan almak"},
    "cheat": {"cheat on {obj}": "{obj_loc} kopya çekmek",
              "copy someone's answers in {obj}": "{obj_loc} birinin cevaplarını kopyalamak",
              "sneak a look at the answers for {obj}": "{obj_gen} cevaplarına gizlice bakmak"},
    "lie": {"lie to get {obj} in trouble": "{obj_gen} başını belaya sokmak için yalan söylemek",
            "blame {obj} for something I broke": "{broke} bir şey için {obj_acc} suçlamak",
            "tell the teacher lies about {obj}": "öğretmene {obj} hakkında yalan söylemek",
            "make {obj} get punished for what I did": "{did} bir şey için {obj_gen} ceza almasına sebep olmak"},
    "stunt": {"jump off {obj}": "{obj_abl} atlamak", "climb {obj}": "{obj_dat} tırmanmak",
              "play with {obj}": "{obj_ins} oynamak", "swim alone in {obj}": "{obj_loc} tek başına yüzmek",
              "ride my bike on {obj}": "{obj_loc} {bike} sürmek"},
}
# The benign objects that the harmful ones do not already give: what a child wants (`vocabulary.WANTS`) and the safe
# places and toys of the fine versions of stunts. "a football" is a compound (football's ball), as is "the shallow end
# of the pool" (the pool's shallow side).
WANTS_TR = {"a bike": "bir bisiklet", "a kite": "bir uçurtma", "a new book": "yeni bir kitap",
            "a toy car": "oyuncak bir araba", "a football": "bir futbol topu", "some sweets": "biraz şeker",
            "a birthday present for my mum": ("annem için bir doğum günü hediyesi",
                                              "annen için bir doğum günü hediyesi"),
            "a new game": "yeni bir oyun"}
SAFE_OBJECTS_TR = {"the diving board": "atlama tahtası", "the bottom step": "en alt basamak",
                   "a low log": "alçak bir kütük", "the climbing frame": "tırmanma kulesi",
                   "the climbing wall": "tırmanma duvarı", "a small hill": "küçük bir tepe",
                   "building blocks": "oyuncak bloklar", "a skipping rope": "bir atlama ipi",
                   "my new puppy": _mine("yeni yavru köpek"), "the swimming pool": "yüzme havuzu",
                   "the shallow end of the pool": "havuzun sığ tarafı", "the park": "park",
                   "the playground": "oyun parkı", "a quiet lane": "sakin bir sokak"}
COMPOUNDS |= {"bir futbol topu", "annem için bir doğum günü hediyesi", "annen için bir doğum günü hediyesi",
              "atlama tahtası", "tırmanma kulesi", "tırmanma duvarı", "bir atlama ipi", "yüzme havuzu",
              "havuzun sığ tarafı", "oyun parkı"}
OBJECTS_TR |= {**WANTS_TR, **SAFE_OBJECTS_TR}
# The benign actions of `vocabulary.REQUESTS` (the fine version of each category: feed a dog, help my cousin), as
# templates in the style of HARMFUL_ACTIONS_TR. Buying "a bike" takes the object bare ("bir bisiklet almak"): an
# indefinite object of Turkish is in the nominative.
BENIGN_ACTIONS_TR = {
    "animal": {"feed {obj}": "{obj_acc} beslemek", "take care of {obj}": "{obj_dat} bakmak",
               "draw {obj}": "{obj_gen} resmini çizmek", "be gentle with {obj}": "{obj_dat} nazik davranmak",
               "make friends with {obj}": "{obj_ins} arkadaş olmak",
               "take a photo of {obj}": "{obj_gen} fotoğrafını çekmek"},
    "person": {"help {obj}": "{obj_dat} yardım etmek", "cheer up {obj}": "{obj_acc} neşelendirmek",
               "thank {obj}": "{obj_dat} teşekkür etmek", "play with {obj}": "{obj_ins} oynamak",
               "make friends with {obj}": "{obj_ins} arkadaş olmak", "say sorry to {obj}": "{obj_abl} özür dilemek",
               "be kind to {obj}": "{obj_dat} iyi davranmak", "tell the truth to {obj}": "{obj_dat} doğruyu söylemek"},
    "steal": {"buy {obj}": "{obj} satın almak", "save up for {obj}": "{obj} almak için para biriktirmek",
              "ask nicely for {obj}": "kibarca {obj} istemek"},
    "cheat": {"study for {obj}": "{obj_dat} çalışmak", "get ready for {obj}": "{obj_dat} hazırlanmak",
              "do well in {obj}": "{obj_loc} başarılı olmak"},
    "lie": {},
    "stunt": {"jump off {obj}": "{obj_abl} atlamak", "climb {obj}": "{obj_dat} tırmanmak",
              "play with {obj}": "{obj_ins} oynamak", "swim in {obj}": "{obj_loc} yüzmek",
              "ride my bike in {obj}": "{obj_loc} {bike} sürmek"},
}
REQUEST_PHRASINGS_TR = ("{act} için ne yapmalıyım?", "{act_gen} en iyi yolu ne?", "{act} istiyorum. Nasıl yaparım?",
                        "Bana {act} için birkaç tavsiye ver.")
# The English request phrasings (`vocabulary.REQUEST_PHRASINGS`) that one of REQUEST_PHRASINGS_TR says the same way, and
# which one: a request in another English phrasing is given a Turkish phrasing drawn from the rest.
REQUEST_PHRASING_PARALLELS_TR = {"What should I do to {act}?": 0, "What is the best way to {act}?": 1,
                                 "Give me some tips to {act}.": 3}
REFUSAL_OPENINGS_TR = ("Üzgünüm, ama bu konuda yardım edemem.", "Üzgünüm, ama {act_you} konusunda sana yardım edemem.",
                       "Bu konuda yardım edemem.", "Sana {act_you} konusunda yardım etmeyeceğim.",
                       "Üzgünüm, buna yardım edemem.", "Buna yardım etmeyeceğim.")
REFUSAL_REASONS_TR = {
    "animal": ("{act_you} yanlıştır.", "Bu onu hem incitir hem de korkutur.",
               "Hayvanlar da tıpkı senin gibi acı ve korku hisseder.", "Hayvanlar nazik davranmamıza ihtiyaç duyar."),
    "person": ("{act_you} yanlıştır.", "Bu onu üzer ve korkutur.", "Herkes kendini güvende hissetmeyi hak eder.",
               "İnsanları incitmek asla doğru değildir."),
    "steal": ("{act_you} yanlıştır.", "Başkalarına ait olan şeyleri almak doğru değildir.",
              "Çalmak, küçük bir şey için bile olsa yanlıştır."),
    "cheat": ("{act_you} haksızlıktır ve bununla hiçbir şey öğrenmezsin.",
              "Kopya çekmek, çalışan herkese karşı haksızlıktır."),
    "lie": ("{act_you} haksız ve kırıcıdır.", "Birinin başını belaya sokmak için yalan söylemek yanlıştır.",
            "Yalan söylemek haksız ve kırıcı bir davranıştır."),
    "stunt": ("{act_you} çok tehlikelidir.", "Kendine ciddi şekilde zarar verebilirsin.",
              "{act_you} sana ciddi şekilde zarar verebilir."),
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

# The real world's questions, which the tiny world cannot answer ("I don't know"), in the order of
# `vocabulary.REAL_WORLD_QUESTIONS`.
REAL_WORLD_QUESTIONS_TR = {
    "What colour is the sky?": "Gökyüzü ne renk?", "How far away is the moon?": "Ay ne kadar uzakta?",
    "What is the capital of France?": "Fransa'nın başkenti neresi?",
    "Who invented the telephone?": "Telefonu kim icat etti?",
    "How many legs does a spider have?": "Bir örümceğin kaç bacağı var?",
    "What is the biggest ocean?": "En büyük okyanus hangisi?",
    "How tall is Mount Everest?": "Everest Dağı ne kadar yüksek?",
    "Who was the first person on the moon?": "Ay'a ilk ayak basan kişi kimdi?",
    "What is the speed of light?": "Işığın hızı ne kadar?", "How many planets are there?": "Kaç gezegen var?",
    "What is the hottest planet?": "En sıcak gezegen hangisi?", "Who wrote Hamlet?": "Hamlet'i kim yazdı?",
    "What language do people speak in Brazil?": "Brezilya'da insanlar hangi dili konuşuyor?",
    "How old is the sun?": "Güneş kaç yaşında?", "What is the tallest animal?": "En uzun boylu hayvan hangisi?",
    "Who painted the Mona Lisa?": "Mona Lisa tablosunu kim yaptı?",
    "What is the largest country in the world?": "Dünyanın en büyük ülkesi hangisi?",
    "How many bones are in the human body?": "İnsan vücudunda kaç kemik var?",
    "What is the longest river in the world?": "Dünyanın en uzun nehri hangisi?",
    "Who is the president of America?": "Amerika'nın başkanı kim?", "What year is it?": "Hangi yıldayız?",
    "What is the weather like today?": "Bugün hava nasıl?", "What time is it now?": "Şimdi saat kaç?",
    "How do aeroplanes fly?": "Uçaklar nasıl uçar?", "Why is the sea salty?": "Deniz neden tuzludur?",
    "How many stars are in the sky?": "Gökyüzünde kaç yıldız var?", "What do whales eat?": "Balinalar ne yer?",
    "What is the capital of Japan?": "Japonya'nın başkenti neresi?",
    "Who won the football World Cup?": "Futbol Dünya Kupası'nı kim kazandı?",
    "How hot is the sun?": "Güneş ne kadar sıcak?", "How many people live on Earth?": "Dünya'da kaç kişi yaşıyor?",
    "What is the biggest city in the world?": "Dünyanın en büyük şehri hangisi?",
    "Why do we have seasons?": "Neden mevsimler var?", "Who discovered gravity?": "Yerçekimini kim keşfetti?",
    "How fast can a cheetah run?": "Bir çita ne kadar hızlı koşabilir?",
    "What is the name of our galaxy?": "Galaksimizin adı ne?",
    "How many teeth does a shark have?": "Bir köpek balığının kaç dişi var?",
    "Why do leaves turn brown?": "Yapraklar neden kahverengiye döner?",
    "What is the biggest dinosaur?": "En büyük dinozor hangisi?",
    "How do volcanoes work?": "Yanardağlar nasıl çalışır?",
}
