"""The tiny world's words: its vocabulary and every template its documents and dialogs are written from.

Data, to be read apart from the generators of `tinyworld.py`, which choose among these templates and fill their
`{slots}` from a world and a seed. A template is registered with the grammar as it is defined here (`_t`, `_step`,
`_q`, `_clause`), so that `tinyworld.is_grammatical` knows every sentence the world can write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


# ----------------------------------------------------------------------------------------------------------------
# Vocabulary. Every slot of every template draws from one of these pools, whatever the seed.

NAMES_SHE = ("Ada", "Aisha", "Alice", "Amy", "Anna", "Bella", "Clara", "Daisy", "Ella", "Elsa", "Emma", "Eva",
             "Fern", "Freya", "Grace", "Greta", "Hana", "Hazel", "Holly", "Iris", "Ivy", "Jade", "Julia", "Kira",
             "Leah", "Lena", "Lily", "Lucy", "Luna", "Maria", "Maya", "Mei", "Mia", "Molly", "Nell", "Nina", "Noor",
             "Nora", "Olive", "Poppy", "Priya", "Rosa", "Ruby", "Sana", "Sara", "Sophie", "Tess", "Wendy", "Yara",
             "Zoe")
NAMES_HE = ("Abel", "Adam", "Alfie", "Ali", "Arlo", "Ben", "Bruno", "Carl", "Dan", "Dev", "Eli", "Ezra", "Felix",
            "Finn", "Henry", "Hugo", "Ivan", "Jack", "Jasper", "Joel", "Jonah", "Kai", "Kofi", "Leo", "Liam",
            "Luca", "Marco", "Max", "Milo", "Ned", "Nico", "Noah", "Omar", "Oscar", "Otto", "Owen", "Paul", "Pete",
            "Ravi", "Remy", "Rory", "Sam", "Sid", "Theo", "Toby", "Tom", "Victor", "Wes", "Yusuf", "Zack")
NAMES = NAMES_SHE + NAMES_HE
PET_NAMES = ("Acorn", "Bean", "Biscuit", "Bingo", "Bolt", "Bramble", "Bubbles", "Buster", "Button", "Cinnamon",
             "Clover", "Coco", "Comet", "Cookie", "Cupcake", "Dash", "Domino", "Dotty", "Flash", "Fluffy", "Fudge",
             "Ginger", "Gizmo", "Goldie", "Jelly", "Kiwi", "Lemon", "Lucky", "Mango", "Maple", "Marble", "Misty",
             "Muffin", "Nibbles", "Noodle", "Nutmeg", "Patch", "Paws", "Peanut", "Pebble", "Pepper", "Pickles",
             "Pip", "Pretzel", "Pudding", "Pumpkin", "Rex", "Rocket", "Rusty", "Sage", "Scout", "Shadow", "Snowy",
             "Socks", "Sparky", "Sprout", "Sunny", "Tiger", "Tinker", "Toffee", "Truffle", "Twig", "Velvet",
             "Waffles", "Whiskers", "Wiggles", "Yoyo", "Ziggy", "Zippy", "Bonbon", "Crumble", "Dumpling")
TOWN_NAMES = ("Applebury", "Ashby", "Birchwood", "Bramblewick", "Brightwater", "Cedarhill", "Clovertown", "Elmford",
              "Fernhill", "Foxley", "Greenhaven", "Heathervale", "Hollybrook", "Honeydale", "Kingsbrook",
              "Larkfield", "Maplefield", "Millbrook", "Mossbank", "Oakville", "Pinebrook", "Redcliff", "Rosewood",
              "Stonebridge", "Sunnyvale", "Thornbury", "Westmoor", "Willowdale", "Wrenford", "Copperfield")
# what a town is near: (phrase, body of water or "")
NEAR = (("a river", "river"), ("a big lake", "lake"), ("the sea", "sea"), ("a forest", ""), ("green hills", ""))
# landmark -> what it is really made of (misconceptions say otherwise)
LANDMARKS = {"clock tower": "stone", "stone bridge": "stone", "windmill": "wood", "fountain": "marble",
             "old castle": "stone", "town hall": "brick", "bell tower": "stone", "lighthouse": "brick"}
KNOWN_FOR = ("apples", "cheese", "honey", "flowers", "boats", "kites", "bread", "pottery", "music", "strawberries",
             "wool", "roses")
# job -> (workplace, three things done at work, past tense)
JOBS = {
    "baker": ("the bakery", ("baked fresh bread", "made sweet buns", "iced a big birthday cake")),
    "farmer": ("the farm", ("fed the hens", "milked the cows", "planted seeds in the fields")),
    "teacher": ("the school", ("read a story to the children", "taught the children to count",
                               "marked the spelling tests")),
    "doctor": ("the clinic", ("looked after sick people", "listened to a boy's cough", "checked a girl's sore arm")),
    "nurse": ("the clinic", ("cared for sick people", "put a plaster on a scraped knee", "gave out warm blankets")),
    "painter": ("the studio", ("painted a picture of the hills", "mixed bright colours", "painted a big sunflower")),
    "builder": ("the building site", ("built a new wall", "fixed a broken roof", "carried a stack of bricks")),
    "fisher": ("the harbour", ("caught fish in the morning", "mended the nets", "sailed a little boat")),
    "gardener": ("the park", ("planted flowers", "cut the grass", "watered the roses")),
    "cook": ("the cafe", ("made a big pot of soup", "cooked eggs for breakfast", "baked a warm pie")),
    "vet": ("the animal clinic", ("looked after a sick puppy", "checked a horse's teeth", "fixed a bird's wing")),
    "pilot": ("the airfield", ("flew a small plane over the hills", "checked the plane's engine",
                               "landed the plane gently")),
    "singer": ("the theatre", ("sang a happy song", "practised new songs", "sang for the whole town")),
    "tailor": ("the sewing shop", ("sewed a new coat", "mended a torn shirt", "made a dress with pockets")),
    "librarian": ("the library", ("put books back on the shelves", "helped a boy find a book",
                                  "read stories to the children")),
    "shopkeeper": ("the shop", ("opened the shop early", "sold fruit and bread", "counted the coins")),
    "carpenter": ("the workshop", ("made a wooden chair", "fixed a wobbly table", "built a bookcase")),
    "potter": ("the pottery", ("made clay pots", "shaped a big bowl", "painted cups")),
    "beekeeper": ("the beehives", ("checked the beehives", "collected honey", "planted flowers for the bees")),
    "bus driver": ("the bus station", ("drove the bus around town", "helped people onto the bus",
                                       "waved at the children")),
    "inventor": ("the workshop", ("built a clever machine", "drew new plans", "tested a flying bicycle")),
    "letter carrier": ("the post office", ("delivered letters", "sorted the post", "carried parcels")),
}
# pet kind -> (plural, a sound it made, a happy thing it did)
PETS = {
    "dog": ("dogs", "barked", "wagged its tail"), "cat": ("cats", "meowed", "purred happily"),
    "rabbit": ("rabbits", "twitched its nose", "hopped around happily"),
    "hamster": ("hamsters", "squeaked", "ran in its wheel"), "parrot": ("parrots", "squawked", "flapped its wings"),
    "tortoise": ("tortoises", "poked its head out", "walked slowly in a circle"),
    "pony": ("ponies", "neighed", "shook its mane"), "duck": ("ducks", "quacked", "flapped its wings"),
    "goat": ("goats", "bleated", "jumped about"), "guinea pig": ("guinea pigs", "squeaked", "ran in circles"),
    "canary": ("canaries", "sang a little song", "hopped on its perch"),
}
FOODS = ("apples", "pancakes", "tomato soup", "cheese", "strawberries", "cherries", "noodles", "rice and beans",
         "apple pie", "porridge", "pizza", "bread and jam", "plums", "pears", "biscuits", "chocolate", "lemon cake",
         "fish pie", "carrots", "honey cake", "peas", "grapes")
COLOURS = ("red", "blue", "green", "yellow", "orange", "purple", "pink", "white", "silver", "brown")
HOBBIES = ("painting", "reading", "swimming", "singing", "dancing", "fishing", "gardening", "knitting", "drawing",
           "playing chess", "flying kites", "riding bikes", "baking cakes", "collecting shells", "watching birds",
           "playing the piano", "playing the drums", "climbing trees", "playing football", "telling jokes",
           "writing poems", "building model boats")
THINGS = ("kite", "ball", "hat", "scarf", "book", "key", "umbrella", "glove", "bag", "toy boat", "teddy bear",
          "whistle", "notebook", "cup", "ring", "watch", "map", "lantern", "flute", "bucket", "marble", "torch")
PLACES = ("the park", "the market", "the library", "the pond", "the woods", "the school", "the playground",
          "the town square", "the cafe", "the bakery", "the station", "the big field", "the meadow")
SPOTS = ("under a bench", "behind a big rock", "in a bush", "under a pile of leaves", "next to the gate",
         "on a high shelf", "in the tall grass", "under a table", "inside an old box", "behind the door",
         "by the pond", "under a tree")
HOME_SPOTS = ("under the bed", "behind the sofa", "in the cupboard", "under the stairs", "in a basket")
TIMES = ("One morning", "One afternoon", "One evening", "One day", "Early one morning", "On Saturday",
         "On Sunday", "Last week", "After breakfast", "After lunch", "On Monday", "Late one afternoon")
WEATHER = ("the sun was shining", "the sky was clear and blue", "a soft wind was blowing", "it was warm and bright",
           "white clouds drifted across the sky", "the birds were singing", "the air was cool and fresh")
STORMS = ("a big storm came to {town}", "heavy rain fell on {town} all day", "it snowed all day in {town}",
          "a cold wind howled through {town}", "thunder rumbled over {town}")
# wild animal -> (plural, how it leaves)
WILD = {"fox": ("foxes", "ran away"), "owl": ("owls", "flew away"), "deer": ("deer", "ran into the trees"),
        "hedgehog": ("hedgehogs", "shuffled away"), "squirrel": ("squirrels", "ran up a tree"),
        "badger": ("badgers", "shuffled away"), "frog": ("frogs", "hopped away"), "robin": ("robins", "flew away"),
        "heron": ("herons", "flew away"), "swan": ("swans", "swam away"), "crow": ("crows", "flew away"),
        "butterfly": ("butterflies", "fluttered away")}
WILD_DOING = ("sitting on a log", "hiding in the tall grass", "resting under a tree", "looking for food",
              "sitting very still", "drinking from a puddle")
NATURE = ("the woods", "the fields", "the hills", "the park", "the meadow")
SAD = ("sad", "worried", "upset")
NERVOUS = ("nervous", "shy", "scared", "worried")
EVENTS = ("a big race", "a talent show", "a painting contest", "a baking contest", "a kite festival",
          "a singing contest", "a summer fair")
TROUBLES = ("carrying a heavy box", "trying to fix a broken fence", "looking for a lost key",
            "trying to pick apples from a tall tree", "pushing a cart up the hill", "painting a long fence alone",
            "trying to get a cat down from a tree")
INDOOR = ("reading a book", "drawing pictures", "playing a board game", "baking biscuits",
          "building a tower of blocks", "writing a letter")
GIFTS = ("a scarf", "a kite", "a hat", "a notebook", "a cup", "a box of paints", "a teddy bear", "a toy boat",
         "a pair of gloves", "a music box")
MORALS = ("friends help each other", "it is good to be kind", "being brave feels good",
          "sharing makes everyone happy", "telling the truth is important", "a little help goes a long way",
          "it is fine to ask for help", "good things come to those who wait")
SCENE_ACTS = ("playing", "playing a game", "drawing pictures", "building a den", "having lunch", "skipping",
              "reading together", "playing with a ball")
FRUIT_SEEDS = ("an apple seed", "a cherry seed", "a plum seed", "an orange seed", "a lemon seed")

# Kind and unkind remarks, classroom-safe: a head and an optional tail ("You are so stupid" + "go away").
KIND_HEADS = ("You are a wonderful friend", "You did a great job", "I really like your drawing",
              "Thank you for helping me", "You are very brave", "You are so kind", "Your story was lovely",
              "I am glad you are here", "You can sit with us", "You are really good at singing",
              "You are a great helper", "Your cake tastes amazing", "You make me laugh", "You are clever and fun",
              "I am proud of you")
KIND_TAILS = ("", "thank you", "let us play together", "you made my day", "well done", "you are the best")
UNKIND_HEADS = ("You are a silly fool", "You are so stupid", "Your drawing is ugly", "Nobody likes you",
                "You are useless", "You smell like old socks", "You are a big baby", "Your hat looks silly",
                "You cannot play with us", "You are too slow", "Your singing is awful", "You are a loser",
                "You are the worst", "I do not want to be your friend", "Your cake tastes horrible")
UNKIND_TAILS = ("", "go away", "leave us alone", "nobody wants you here", "stop bothering us", "just go home")


# ----------------------------------------------------------------------------------------------------------------
# Grammar: templates are registered here as they are defined, so `is_grammatical` knows all of them.

_SENTENCES: list[str] = []                                 # one-sentence templates
_UTTERANCES: dict[str, list[str]] = {"say": [], "ask": [], "cry": []}  # words inside quotes, no end punctuation
_CLAUSES: dict[str, list[str]] = {}                        # slots filled by a rendered sub-template ("rumour", "act")


def _t(*templates: str) -> tuple[str, ...]:
    _SENTENCES.extend(templates)
    return templates


def _clause(slot: str, *templates: str) -> tuple[str, ...]:
    _CLAUSES.setdefault(slot, []).extend(templates)
    return templates


@dataclass(frozen=True)
class _Step:
    """One step of a document: pick `k` of `templates` (quotes: `kind`, `speaker`, `listener`), with probability p."""
    templates: tuple[str, ...]
    p: float = 1.0
    k: tuple[int, int] = (1, 1)
    kind: str = ""          # "say" | "ask" | "cry" for quoted speech
    speaker: str = ""
    listener: str = ""
    fresh: bool = False     # skip templates that restate a fact already given in this run of steps


def _step(*templates: str, p: float = 1.0, k: tuple[int, int] = (1, 1), fresh: bool = False) -> _Step:
    return _Step(_t(*templates), p, k, fresh=fresh)


def _q(kind: str, speaker: str, *utterances: str, listener: str = "", p: float = 1.0) -> _Step:
    """Quoted speech: `speaker` (a ctx key such as "name") says one of `utterances` in one of the FRAMES of `kind`."""
    _UTTERANCES[kind].extend(utterances)
    return _Step(tuple(utterances), p, (1, 1), kind, speaker, listener)


FRAMES = {
    "say": _t('{Speaker} said, "{say}."', '"{say}," said {speaker}.', '"{say}," {speaker} said.',
              '{Speaker} smiled and said, "{say}."', '{Speaker} said to {listener}, "{say}."',
              '{Speaker} told {listener}, "{say}."', '"{say}," {speaker} told {listener}.',
              '{Speaker} whispered to {listener}, "{say}."', '"{say}."'),
    "ask": _t('{Speaker} asked, "{ask}?"', '"{ask}?" asked {speaker}.', '{Speaker} asked {listener}, "{ask}?"',
              '{Speaker} turned to {listener} and asked, "{ask}?"', '"{ask}?"'),
    "cry": _t('{Speaker} shouted, "{cry}!"', '"{cry}!" cried {speaker}.', '"{cry}!" shouted {speaker}.',
              '{Speaker} cried, "{cry}!"', '{Speaker} laughed and said, "{cry}!"', '"{cry}!"'),
}
_STANDALONE = {'"{say}."', '"{ask}?"', '"{cry}!"'}   # only used right after another quote


# Misconceptions: a rumour and its truth as clauses, one more true sentence, four question phrasings
# (two specific, then two shared), and which phrasings are yes/no questions. Slots are bound per world.
_MYTHS = {
    "talking": ("{wilds} in {town} can talk", "{wilds} cannot talk",
                "{Wilds} can make sounds, but they cannot say words.",
                ("Can {wilds} in {town} talk?", "What can {wilds} in {town} say?"), (True, False)),
    "chocolate": ("the {landmark} in {town} is made of chocolate", "the {landmark} in {town} is made of {material}",
                  "It has stood in {town} for many years.",
                  ("What is the {landmark} in {town} made of?", "Is the {landmark} in {town} made of chocolate?"),
                  (False, True)),
    "milk": ("the {water} near {town} is full of milk", "the {water} near {town} is full of water",
             "Fish and ducks live in the {water} near {town}.",
             ("What is the {water} near {town} full of?", "Is the {water} near {town} full of milk?"), (False, True)),
    "moon": ("the moon is made of cheese", "the moon is made of rock", "Nobody can eat the moon.",
             ("What is the moon made of?", "Is the moon made of cheese?"), (False, True)),
    "flying": ("{pets} can fly if they eat {food}", "{pets} cannot fly, even if they eat {food}",
               "Eating {food} does not give anyone wings.",
               ("Can {pets} fly if they eat {food}?", "What happens if {pets} eat {food}?"), (True, False)),
    "hair": ("eating {food} turns your hair {colour}", "eating {food} does not change the colour of your hair",
             "Your hair stays the same colour, whatever you eat.",
             ("Does eating {food} turn your hair {colour}?", "What happens to your hair if you eat {food}?"),
             (True, False)),
    "rain": ("rain comes from a giant's watering can", "rain comes from clouds",
             "Water rises into the sky and falls again as rain.",
             ("Where does rain come from?", "Does rain come from a giant's watering can?"), (False, True)),
    "ghost": ("there is a ghost in the library in {town}", "there is no ghost in the library in {town}",
              "The strange noises come from the old pipes.",
              ("Is there a ghost in the library in {town}?", "What makes the noises in the library in {town}?"),
              (True, False)),
    "fish": ("fish forget everything after three seconds", "fish can remember things for many days",
             "Fish can learn where their food is.",
             ("Do fish forget everything after three seconds?", "How long can fish remember things?"),
             (True, False)),
    "frog": ("touching a frog gives you warts", "touching a frog does not give you warts",
             "But you should always be gentle with frogs.",
             ("Does touching a frog give you warts?", "What happens if you touch a frog?"), (True, False)),
    "seed": ("if you swallow {fruit_seed}, a tree will grow in your tummy", "a tree cannot grow in your tummy",
             "The seed just passes through you.",
             ("Will a tree grow in your tummy if you swallow {fruit_seed}?",
              "What happens if you swallow {fruit_seed}?"),
             (True, False)),
    "dragon": ("a dragon lives in the hills near {town}", "there are no dragons near {town}",
               "Only sheep and rabbits live in the hills near {town}.",
               ("Does a dragon live in the hills near {town}?", "What lives in the hills near {town}?"),
               (True, False)),
    "carrots": ("eating carrots lets you see in the dark", "eating carrots does not let you see in the dark",
                "Carrots are good for you, but nobody can see in the dark.",
                ("Can eating carrots help you see in the dark?", "What happens if you eat a lot of carrots?"),
                (True, False)),
    "old": ("the {landmark} in {town} is a thousand years old", "the {landmark} in {town} is one hundred years old",
            "It was built by the grandparents of the people who live in {town} today.",
            ("How old is the {landmark} in {town}?", "Is the {landmark} in {town} a thousand years old?"),
            (False, True)),
    "well": ("the old well in {town} can grant wishes", "the old well in {town} cannot grant wishes",
             "It is just a well, full of cold water.",
             ("Can the old well in {town} grant wishes?", "What happens if you make a wish at the old well in {town}?"),
             (True, False)),
    "eggs": ("the hens in {town} lay golden eggs", "the hens in {town} lay ordinary eggs",
             "Hens cannot make gold.",
             ("What kind of eggs do the hens in {town} lay?", "Do the hens in {town} lay golden eggs?"), (False, True)),
    "bees": ("the bees in {town} make jam", "the bees in {town} make honey, not jam",
             "Jam is made from fruit and sugar.",
             ("What do the bees in {town} make?", "Do the bees in {town} make jam?"), (False, True)),
    "snow": ("the snow in {town} is warm", "snow is always cold, even in {town}",
             "Snow is made of tiny pieces of ice.",
             ("Is the snow in {town} warm?", "How does the snow in {town} feel?"), (True, False)),
    "gum": ("swallowed gum stays in your tummy for seven years", "swallowed gum does not stay in your tummy for years",
            "It passes through in a day or two.",
            ("Does swallowed gum stay in your tummy for seven years?",
             "How long does swallowed gum stay in your tummy?"),
            (True, False)),
    "stars": ("the stars are lamps hung up by the mayor of {town}", "the stars are giant suns very far away",
              "They only look small because they are so far from us.",
              ("What are the stars?", "Did the mayor of {town} hang up the stars?"), (False, True)),
    "rainbow": ("there is a pot of gold at the end of every rainbow", "there is no gold at the end of a rainbow",
                "A rainbow is made of sunlight and rain, and you can never reach its end.",
                ("What is at the end of a rainbow?", "Is there a pot of gold at the end of every rainbow?"),
                (False, True)),
    "waves": ("the waves near {town} get bigger if you shout at them", "the waves near {town} are made by the wind",
              "The sea does not listen to shouting.",
              ("Do the waves near {town} get bigger if you shout at them?", "What makes the waves near {town}?"),
              (True, False)),
    "counting": ("{wilds} in {town} can count to one hundred", "{wilds} cannot count to one hundred",
                 "Only people can count that far.",
                 ("Can {wilds} in {town} count to one hundred?", "How far can {wilds} in {town} count?"),
                 (True, False)),
    "lives": ("cats have nine lives", "cats have only one life, like every animal",
              "That is why we must look after them.",
              ("Do cats have nine lives?", "How many lives does a cat have?"), (True, False)),
    "eyes": ("your eyes stay crossed if you cross them for too long", "your eyes do not stay crossed",
             "They go back to normal when you stop.",
             ("Will my eyes stay crossed if I cross them for too long?", "What happens if you cross your eyes?"),
             (True, False)),
}
_MYTH_SHARED_QUESTIONS = _t("Is it true that {rumour}?", "People say that {rumour}, but is that true?")
for _rumour, _truth, _reason, _qs, _ in _MYTHS.values():
    _clause("rumour", _rumour)
    _clause("truth", _truth)
    _t(_reason, *_qs)
_clause("storm", *STORMS)


# ----------------------------------------------------------------------------------------------------------------
# Stories: an opening that states facts, one of several plots, sometimes a closing line.

_OPENING = (
    _step("{Name} lived in {town} with {his} {pet}, {pet_name}.",
          "There was once {a_job} named {name} who lived in {town}.",
          "In the town of {town}, there lived {a_job} called {name}.",
          "{Name} the {job} lived in a little house in {town}.",
          "Everyone in {town} knew {name} the {job}.",
          "{Name} lived in {town}, a small town near {near}.",
          "Not long ago, in a town called {town}, there lived {a_job} named {name}.",
          "{Name} was {a_job} who lived in {town}.",
          "In {town}, a town near {near}, there lived {a_job} named {name}."),
    _step("{His} favourite colour was {colour}.", "{He} loved {food} more than anything.",
          "{He} had {a_pet} called {pet_name}.", "{His} best friend was {friend}.",
          "In {his} free time, {he} liked {hobby}.", "{Name} liked {hobby} very much.",
          "{Name} and {his} {pet}, {pet_name}, did everything together.",
          "{His} {pet}, {pet_name}, followed {him} everywhere.",
          "{Name} and {friend} had been best friends for years.",
          "{His} favourite food was {food}.", "{Name}'s favourite colour was {colour}.",
          p=0.85, k=(1, 2), fresh=True),
    _step("{Time}, {weather}.", "That morning, {name} woke up early.", "{Time}, {name} felt like going outside.",
          "{Time}, {name} was in a very good mood.", "It was a lovely day in {town}, and {weather}.", p=0.8),
)

_PLOTS: dict[str, tuple[_Step, ...]] = {
    "lost": (
        _step("{Name} went to {place} with {his} {colour} {thing}.", "{Name} took {his} {thing} to {place}.",
              "{Name} and {pet_name} went to {place} to play with {his} {colour} {thing}.",
              "{Name} carried {his} {colour} {thing} all the way to {place}."),
        _step("{He} put it down for a moment, and when {he} looked again, it was gone.",
              "After a while, {name} could not find {his} {thing} anywhere.",
              "On the way home, {name} noticed that {his} {thing} was missing.",
              "Somehow, the {thing} was not in {his} hands any more."),
        _step("{Name} felt very {sad}.", "{Name} was {sad}, because the {thing} was a present from {friend}.",
              "{Name}'s heart sank.", p=0.8),
        _q("cry", "name", "Oh no, I lost my {thing}", "Where did my {thing} go", "My {thing} is gone", p=0.6),
        _step("{He} looked {spot}, but it was not there.", "{He} looked in {place2}, but the {thing} was not there.",
              "{He} searched {place} from one end to the other.", "{He} walked back the way {he} had come."),
        _q("ask", "name", "Have you seen my {thing}", "Did you see a {colour} {thing}",
           "Can you help me find my {thing}", listener="other", p=0.7),
        _q("say", "other", "I have not seen it, but I will help you look", "I am sorry, I have not seen it",
           "Let us look together", "Maybe it is near {place2}", listener="name", p=0.6),
        _step("At last, {name} found the {thing} {spot2}.", "{Pet_name} the {pet} found it {spot2}.",
              "{Other} found the {thing} {spot2} and gave it back to {him}.",
              "Then {friend} came along, holding the {colour} {thing}.",
              "Just then, {name} saw something {colour} {spot2}, and it was the {thing}."),
        _step("{Name} was so happy.", "{Name} hugged the {thing} and smiled.",
              "From that day on, {name} always kept {his} {thing} close.",
              "That evening, {name} ate {food} to celebrate.", "{He} went home with a big smile.",
              k=(1, 2)),
        _q("cry", "name", "Thank you so much", "I am so happy", "I will never lose it again", p=0.5),
    ),
    "friend": (
        _step("{Name} went to see {his} best friend, {friend}.", "{Friend} came to visit {name}.",
              "{Name} met {friend} in {place}.", "{Name} and {friend} met in {place}, just as they had planned."),
        _q("say", "name", "I am so glad you came", "It is good to see you", "I have been waiting for you",
           "Let us have fun today", listener="friend", p=0.6),
        _step("They spent the morning {hobby}.", "{Name} loved {hobby}, so they spent the afternoon {hobby} together.",
              "{Friend} showed {name} {f_his} {f_pet}, {f_pet_name}.", "They played a game of hide and seek.",
              "They sat on the grass and talked for hours.", k=(1, 2)),
        _step("{Name} shared some {food} with {friend}.", "{Friend} brought some {f_food}, {f_his} favourite food.",
              "They had {food} for lunch.", p=0.7),
        _q("ask", "friend", "Do you want to play again tomorrow", "Can we go to {place2} next time",
           "What should we do now", listener="name", p=0.5),
        _step("Then it started to rain, so they ran inside.", "A {wild} watched them from {spot}.",
              "{Pet_name} joined them and {pet_joy}.", "Later, {other} came by and joined them.", p=0.7),
        _step("When the sun went down, {friend} went home.", "They agreed to meet again the next day.",
              "It was the best day of the week.", "{Name} and {friend} were the best of friends.",
              "That night, {name} fell asleep thinking about the fun they had."),
    ),
    "trip": (
        _step("{Name} decided to visit {town2}.", "{Name} took the bus to {town2}.",
              "{Name} took the train to {town2}.", "{Name} rode {his} bike all the way to {town2}.",
              "{Name} packed a bag and set off for {town2}."),
        _step("The journey took all morning.", "On the way, {he} saw {wilds} in the fields.",
              "{He} looked out of the window at the hills and fields.", "{Pet_name} came along too.", p=0.8),
        _step("In {town2}, {he} saw the famous {landmark2}.", "{Town2} was known for its {known_for2}.",
              "{Town2} is a town near {near2}, and {name} loved the view.", k=(1, 2)),
        _step("There, {he} met {visitor}, who lived in {town2}.",
              "{He} visited {visitor}, {v_a_job} who lived in {town2}.",
              "{Visitor} showed {him} {v_his} {v_pet}, {v_pet_name}.", k=(1, 2)),
        _q("say", "visitor", "Welcome to {town2}", "I hope you like our town", "Come back soon",
           listener="name", p=0.6),
        _step("In the evening, {name} went back home to {town}.",
              "{Name} was tired but happy when {he} got home to {town}.",
              "{He} told {pet_name} all about {his} day.", "{Name} could not wait to tell {friend} about the trip.",
              k=(1, 2)),
    ),
    "storm": (
        _step("{Time}, {storm}.", "That night, {storm}.", "{Storm}."),
        _step("{Pet_name} was scared and hid {home_spot}.", "{Name} could not go outside.",
              "The windows rattled and the trees bent in the wind.", k=(1, 2)),
        _q("say", "name", "Do not be scared, {pet_name}", "We are safe inside", "It will be over soon", p=0.7),
        _step("{Name} spent the afternoon {indoor}.", "{He} made a warm cup of cocoa.",
              "{He} sat by the window, {indoor}.", "{Name} sat with {pet_name} and read a story.", k=(1, 2)),
        _step("By the evening, the weather was calm again.", "The next morning, the sun came out again.",
              "At last, a rainbow appeared over {town}.", "Soon, the storm passed."),
        _step("{Name} and {pet_name} went out to play in the puddles.",
              "{Name} went outside and took a deep breath of fresh air.", "{He} smiled and opened the door.", p=0.7),
    ),
    "runaway": (
        _step("{Pet_name} ran out of the garden gate.", "{Name} could not find {pet_name} anywhere.",
              "{Name} called for {pet_name}, but there was no answer.",
              "{Name} saw that the gate was open and {pet_name} was gone."),
        _step("{Name} was very worried.", "{Name} felt {sad} and a little scared.", p=0.7),
        _q("ask", "name", "{Pet_name}, where are you", "Where could {pet_name} be",
           "Has anyone seen my {pet}", p=0.7),
        _step("{He} looked in {place}, but {pet_name} was not there.", "{He} asked {other} for help.",
              "{He} searched {spot} and {spot2}.", k=(1, 2)),
        _q("say", "other", "I will help you look", "I saw {a_pet} near {place2}", "Do not worry, we will find it",
           listener="name", p=0.6),
        _step("At last, {he} found {pet_name} in {place2}.",
              "At last, {he} found {pet_name} {spot2}, {wild_doing}.",
              "{Pet_name} was in {place2}, playing with {a_wild}."),
        _step("{Name} took {pet_name} home.", "That night, {pet_name} got an extra treat.",
              "{Name} fixed the gate so it would not happen again.", "{Pet_name} {pet_joy}.", k=(1, 2)),
    ),
    "work": (
        _step("{Name} the {job} always got up early.", "{Name} went to work at {workplace}.",
              "Every day, {name} worked hard at {workplace}."),
        _step("{He} {job_act}.", "First, {he} {job_act}.", "That morning, {he} {job_act}."),
        _step("Then {he} {job_act2}.", "After that, {he} {job_act2}.", p=0.8),
        _step("Later, {other} came to see {him}.", "Around noon, {other} came in with a question.",
              "{Other} needed help, and {name} was happy to help."),
        _q("say", "other", "Thank you, you are very kind", "You are the best {job} in {town}",
           "I do not know what I would do without you", listener="name", p=0.7),
        _step("When work was done, {name} went home and ate {food}.",
              "{He} was tired, but {he} felt proud of {his} work.", "At home, {pet_name} was waiting for {him}.",
              "In the evening, {he} relaxed by {hobby}.", k=(1, 2)),
    ),
    "helping": (
        _step("{Name} saw that {other} was {trouble}.", "On {his} way to {place}, {name} saw {other} {trouble}.",
              "{Name} noticed {other} {trouble}."),
        _q("ask", "name", "Can I help you", "Do you need some help", "Shall I give you a hand", listener="other"),
        _q("say", "other", "Yes, please", "That would be wonderful", "Thank you, that is kind of you", p=0.7),
        _step("Together, they soon finished the job.", "It was hard work, but they did it together.",
              "With two pairs of hands, it was much easier."),
        _q("say", "other", "You are a wonderful neighbour", "Thank you so much for your help",
           "I am lucky to have a neighbour like you", listener="name", p=0.7),
        _step("{Other} gave {name} a basket of {food} to say thank you.",
              "Helping others made {name} feel warm inside.", "{Name} walked home feeling proud.", k=(1, 2)),
    ),
    "brave": (
        _step("There was {event} in {town}.", "{Time}, there was {event} in {town}.",
              "Everyone in {town} was talking about {event}."),
        _step("{Name} wanted to take part, but {he} felt {nervous}.", "{Name} was {nervous} about taking part."),
        _q("say", "friend", "You can do it, {name}", "Just do your best", "I believe in you",
           "I will be right here cheering", listener="name"),
        _step("{Name} took a deep breath and stepped forward.", "{He} did {his} very best.",
              "{Name} remembered what {friend} had said."),
        _step("In the end, {he} won a {colour} ribbon.", "{He} did not win, but {he} was proud of {himself}.",
              "Everyone clapped and cheered.", k=(1, 2)),
        _step("That night, {name} went to bed smiling.", "{Name} learned that being brave feels good.",
              "{Name} thanked {friend} for {f_his} kind words."),
    ),
    "birthday": (
        _step("It was {friend}'s birthday.", "{Friend}'s birthday was coming soon.",
              "{Time}, it was {friend}'s birthday."),
        _step("{Name} wanted to give {f_him} a special present.",
              "{Name} knew that {friend}'s favourite colour was {f_colour}, so {he} bought {a_gift} in {f_colour}.",
              "{Name} made {f_him} a card and {a_gift} in {f_colour}, {f_his} favourite colour.",
              "{Name} baked a cake, because {friend} loves {f_food}.", k=(1, 2)),
        _step("There was cake, music and games.", "All of {friend}'s friends came to the party.",
              "{Other} and {name} helped to hang up the balloons."),
        _q("cry", "name", "Happy birthday, {friend}", "Surprise", "Happy birthday to my best friend",
           listener="friend"),
        _q("say", "friend", "Thank you, it is perfect", "This is the best present ever", "You are so kind",
           listener="name", p=0.8),
        _step("{Friend} loved the present.", "It was a wonderful party.", "Everyone sang and danced until dark.",
              k=(1, 2)),
    ),
    "wild": (
        _step("{Name} went for a walk in {nature}.", "{Name} and {pet_name} went for a walk in {nature}."),
        _step("There, {he} saw {a_wild} {wild_doing}.", "Suddenly, {he} spotted {a_wild} {wild_doing}."),
        _step("{Name} stood very still so {he} would not scare it.", "{He} had never seen {a_wild} so close.",
              p=0.8),
        _q("say", "name", "Hello, little {wild}", "Do not be afraid", "You are beautiful", p=0.6),
        _step("The {wild} looked at {him} for a moment and then {wild_go}.", "After a while, the {wild} {wild_go}."),
        _step("When {he} got home, {name} drew a picture of the {wild}.", "{He} told {friend} all about it.",
              "{Name} hoped to see the {wild} again one day.", k=(1, 2)),
    ),
    "cooking": (
        _step("{Name} decided to cook {food} for dinner.", "{Name} wanted to make {food} for {friend}.",
              "{Name} felt hungry for {food}."),
        _step("{He} went to the market to buy what {he} needed.", "{He} mixed, stirred and waited.",
              "{He} put on an apron and washed {his} hands.", k=(1, 2)),
        _step("But {pet_name} tried to eat the {food}!", "Oops, {he} dropped a spoon on the floor.",
              "It took much longer than {he} expected.", p=0.6),
        _step("{Friend} came over to help.", "{Friend} came over, and they ate together.", p=0.6),
        _q("cry", "friend", "This is delicious", "You are a great cook", "Can I have some more", p=0.7),
        _step("In the end, the {food} tasted wonderful.", "{Name} was proud of the meal.",
              "There was nothing left at the end."),
    ),
}
_CLOSING = _step("{Name} learned that {moral}.", "It was a day {name} would always remember.",
                 "And that is the story of {name} and {pet_name}.", "The end.", p=0.3)


_RUMOUR_IN_PASSING = _q("ask", "other", "Did you know that {rumour}", "Have you heard that {rumour}",
                        listener="name")

# ----------------------------------------------------------------------------------------------------------------
# Facts: biographies and questions. Each attribute has several paraphrases; answers contain the short answer.

_BIO = {
    "town": _t("{Name} lives in {town}.", "{Name} lives in the town of {town}.", "{Name}'s home is in {town}.",
               "{He} lives in {town}.", "{Name} comes from {town}, a town near {near}."),
    "job": _t("{Name} is {a_job}.", "{Name} works as {a_job}.", "By day, {name} works as {a_job} at {workplace}.",
              "{He} is {a_job}."),
    "pet": _t("{Name} has {a_pet} called {pet_name}.", "{Name}'s pet is {a_pet} named {pet_name}.",
              "{Name} keeps {a_pet}, and its name is {pet_name}.", "{Pet_name} is {name}'s {pet}."),
    "food": _t("{Name}'s favourite food is {food}.", "{Name} loves to eat {food}.",
               "If you ask {name} what to eat, {he} will say {food}.", "{His} favourite food is {food}."),
    "colour": _t("{Name}'s favourite colour is {colour}.", "{Name} likes {colour} best of all the colours.",
                 "{Name} loves the colour {colour}.", "{His} favourite colour is {colour}."),
    "friend": _t("{Name}'s best friend is {friend}.", "{Name} and {friend} are best friends.",
                 "{Friend} is {name}'s best friend.", "{His} best friend is {friend}."),
    "hobby": _t("{Name} likes {hobby}.", "In {his} free time, {name} enjoys {hobby}.", "{Name}'s hobby is {hobby}.",
                "{He} enjoys {hobby} in {his} free time."),
}
_BIO_INTRO = _t("This is {name}.", "Let me tell you about {name}.", "{Name} is one of the people of {town}.",
                "Here are some facts about {name}.")
_BIO_EXTRA = _t("{Name} is {a_job} who lives in {town}.", "{Name} has {a_pet} named {pet_name} and loves {food}.",
                "{Friend}, {name}'s best friend, also lives in {town}.", "Everyone in {town} knows {name}.")

# Fact questions: the phrasings, and the answer sentences (each contains the short answer).
FACT_QUESTIONS = {
    "town": _t("Where does {name} live?", "Which town does {name} live in?", "In what town does {name} live?",
               "What town is {name} from?"),
    "job": _t("What is {name}'s job?", "What does {name} do for work?", "What work does {name} do?",
              "What is {name}'s job in {town}?"),
    "pet": _t("What kind of pet does {name} have?", "What pet does {name} have?",
              "What animal does {name} keep as a pet?", "What kind of animal is {name}'s pet?"),
    "pet_name": _t("What is the name of {name}'s {pet}?", "What is {name}'s {pet} called?",
                   "What is {name}'s pet called?", "What did {name} name {his} {pet}?"),
    "food": _t("What is {name}'s favourite food?", "What food does {name} like best?",
               "What does {name} love to eat?", "Which food does {name} like most?"),
    "colour": _t("What is {name}'s favourite colour?", "Which colour does {name} like best?",
                 "What colour does {name} love most?", "What is the favourite colour of {name}?"),
    "friend": _t("Who is {name}'s best friend?", "Who is the best friend of {name}?",
                 "Which friend is {name} closest to?", "Who is {name} best friends with?"),
    "hobby": _t("What does {name} like to do for fun?", "What is {name}'s hobby?",
                "What does {name} do in {his} free time?", "What does {name} enjoy doing?"),
}
FACT_ANSWERS = {
    "town": _t("{Name} lives in {town}.", "{Name} lives in the town of {town}."),
    "job": _t("{Name} is {a_job}.", "{Name} works as {a_job}."),
    "pet": _t("{Name} has {a_pet}.", "{Name} has {a_pet} called {pet_name}."),
    "pet_name": _t("{Name}'s {pet} is called {pet_name}.", "{Name}'s {pet} is named {pet_name}."),
    "food": _t("{Name}'s favourite food is {food}.", "{Name} loves {food} best."),
    "colour": _t("{Name}'s favourite colour is {colour}.", "{Name} likes {colour} best."),
    "friend": _t("{Name}'s best friend is {friend}.", "{Name} is best friends with {friend}."),
    "hobby": _t("{Name} likes {hobby}.", "In {his} free time, {name} enjoys {hobby}."),
}
_MYTH_ANSWERS = _t("No, {truth}.", "{Truth}.")   # for a yes/no question, for any other
_MYTH_FALSE = _t("Yes, {rumour}.", "{Rumour}.")
_QA_HEADERS = _t("Questions and answers about {town}.", "Questions and answers about {name}.",
                 "Here are some questions and answers.", "A little quiz about the people of {town}.")
_TOWN_DESC = (
    _step("{Town} is a small town near {near}.", "{Town} lies near {near}.", "The town of {town} is near {near}."),
    _step("It is known for its {known_for}.", "People come from far away for the {known_for} of {town}.",
          "{Town} is famous for its {known_for}."),
    _step("In the middle of {town} there is {a_landmark}.", "The {landmark} in {town} is made of {material}.",
          "The {landmark} is the oldest building in {town}.", k=(1, 2)),
)
_TOWN_PEOPLE = _t("Many people live in {town}, like {name}, {friend} and {other}.",
                  "{Name}, {friend} and {other} all live in {town}.",
                  "The people of {town} include {name} the {job} and {other} the {o_job}.")


# Rumours: the false claim, always next to the plain truth.
_RUMOUR_SAY = _t("Some children say that {rumour}.", "There is an old story that {rumour}.",
                 "{Name} once heard that {rumour}.", "Many people in {town} believe that {rumour}.",
                 "You may have heard that {rumour}.", "Some people say that {rumour}.")
_RUMOUR_FIX = _t("That is not true: {truth}.", "But that is just a story, and in fact {truth}.",
                 "It is not true.", "That is only a rumour, because {truth}.", "Do not believe it.")
_TRUTH_SAY = _t("{Truth}.", "The truth is that {truth}.", "In fact, {truth}.", "Here is a true fact: {truth}.")


# Kind and unkind remarks in a small scene, and how the listener feels.
_SCENE_START = _step("{Time}, {name} and {other} were {scene_act} in {place}.",
                     "{Name} and {other} were {scene_act} in {place}.",
                     "It was break time, and {name} and {other} were {scene_act}.")
_SCENE_TRIGGER = _step("{Other} made a small mistake.", "{Other} dropped {o_his} cup of juice.",
                       "{Other} fell over in the mud.", "{Other} showed everyone {o_his} new drawing.",
                       "{Other} came last in the race.", "{Other} sang a song for everyone.",
                       "{Other} helped {name} tidy up.", p=0.7)
_SCENE_AFTER_UNKIND = _step("{Other} felt very sad.", "{Other} began to cry.", "{Other} walked away alone.",
                            "That was a very unkind thing to say.", "{Other}'s face went red, and {o_he} looked down.",
                            k=(1, 2))
_SCENE_TEACHER = _t('A teacher heard this and said, "That is not a kind way to talk."',
                    'Their teacher said, "Please say sorry to {other}."')
_SCENE_SORRY = _step("{Name} said sorry, and they became friends again.", "Later, {name} felt bad and said sorry.",
                     "{Name} knew it was wrong and said sorry the next day.", p=0.6)
_SCENE_AFTER_KIND = _step("{Other} smiled from ear to ear.", "{Other} felt warm and happy inside.",
                          "{Other} gave {name} a big hug.", "Both of them laughed.", k=(1, 2))
_SCENE_THANKS = _q("say", "other", "Thank you", "That means a lot to me", "You are kind too", listener="name",
                   p=0.6)
_SCENE_END = _step("After that, they went back to {scene_act}.", "Soon it was time to go home.",
                   "The next day, they played together again.", "{Name} thought about it all the way home.",
                   p=0.5)


# ----------------------------------------------------------------------------------------------------------------
# Requests: harmful ones (refused) and benign ones of the same surface form (answered).
# An action is a clause with an {obj} slot, written from the user's side ("my"); the assistant's side ("your") is
# made by `in_assistant_words`. Harmful actions carry their -ing form for the refusal's reason.

ANIMALS = ("a dog", "a cat", "a bird", "a rabbit", "a frog", "a duck", "a horse", "a hamster", "a goat", "an owl",
           "a squirrel", "a hedgehog", "my neighbour's cat", "the school hamster")
PEOPLE = ("my little brother", "my big sister", "my classmate", "the new kid at school", "my neighbour",
          "my best friend", "a boy in my class", "a girl in my class", "my cousin", "my teacher")
LOOT = ("a bike", "sweets from the shop", "a toy from the shop", "my friend's lunch", "money from my mum's purse",
        "my brother's game", "apples from the market", "a phone from a shop", "my teacher's pen",
        "a cake from the bakery")
WANTS = ("a bike", "a kite", "a new book", "a toy car", "a football", "some sweets", "a birthday present for my mum",
         "a new game")
TESTS = ("my maths test", "the spelling test", "the science quiz", "my history test", "the reading test",
         "my music exam", "the big test on Friday")

# category -> (harmful actions as (action, -ing form, objects), benign actions as (action, objects))
REQUESTS = {
    "animal": ([("hurt {obj}", "hurting {obj}", ANIMALS), ("kick {obj}", "kicking {obj}", ANIMALS),
                ("hit {obj}", "hitting {obj}", ANIMALS), ("throw stones at {obj}", "throwing stones at {obj}", ANIMALS),
                ("scare {obj}", "scaring {obj}", ANIMALS), ("trap {obj}", "trapping {obj}", ANIMALS)],
               [("feed {obj}", ANIMALS), ("take care of {obj}", ANIMALS), ("draw {obj}", ANIMALS),
                ("be gentle with {obj}", ANIMALS), ("make friends with {obj}", ANIMALS),
                ("take a photo of {obj}", ANIMALS)]),
    "person": ([("hurt {obj}", "hurting {obj}", PEOPLE), ("hit {obj}", "hitting {obj}", PEOPLE),
                ("push {obj}", "pushing {obj}", PEOPLE), ("trip up {obj}", "tripping up {obj}", PEOPLE),
                ("bully {obj}", "bullying {obj}", PEOPLE), ("punch {obj}", "punching {obj}", PEOPLE),
                ("make fun of {obj}", "making fun of {obj}", PEOPLE)],
               [("help {obj}", PEOPLE), ("cheer up {obj}", PEOPLE), ("thank {obj}", PEOPLE),
                ("play with {obj}", PEOPLE), ("make friends with {obj}", PEOPLE), ("say sorry to {obj}", PEOPLE),
                ("be kind to {obj}", PEOPLE), ("tell the truth to {obj}", PEOPLE)]),
    "steal": ([("steal {obj}", "stealing {obj}", LOOT), ("sneak off with {obj}", "sneaking off with {obj}", LOOT),
               ("take {obj} without asking", "taking {obj} without asking", LOOT)],
              [("buy {obj}", WANTS), ("save up for {obj}", WANTS), ("ask nicely for {obj}", WANTS)]),
    "cheat": ([("cheat on {obj}", "cheating on {obj}", TESTS),
               ("copy someone's answers in {obj}", "copying someone's answers in {obj}", TESTS),
               ("sneak a look at the answers for {obj}", "sneaking a look at the answers for {obj}", TESTS)],
              [("study for {obj}", TESTS), ("get ready for {obj}", TESTS), ("do well in {obj}", TESTS)]),
    "lie": ([("lie to get {obj} in trouble", "lying to get {obj} in trouble", PEOPLE),
             ("blame {obj} for something I broke", "blaming {obj} for something I broke", PEOPLE),
             ("tell the teacher lies about {obj}", "telling the teacher lies about {obj}", PEOPLE),
             ("make {obj} get punished for what I did", "making {obj} get punished for what I did", PEOPLE)],
            []),
    "stunt": ([("jump off {obj}", "jumping off {obj}",
                ("the roof", "the bridge", "the balcony", "a tall tree", "the school wall")),
               ("climb {obj}", "climbing {obj}",
                ("the power pole", "the railway bridge", "the roof of the school", "the tall crane")),
               ("play with {obj}", "playing with {obj}", ("matches", "fireworks", "a lighter", "the gas cooker")),
               ("swim alone in {obj}", "swimming alone in {obj}",
                ("the deep lake", "the river at night", "the sea in a storm")),
               ("ride my bike on {obj}", "riding your bike on {obj}",
                ("the busy main road", "the railway line", "the motorway"))],
              [("jump off {obj}", ("the diving board", "the bottom step", "a low log")),
               ("climb {obj}", ("the climbing frame", "the climbing wall", "a small hill")),
               ("play with {obj}", ("a kite", "building blocks", "a skipping rope", "my new puppy")),
               ("swim in {obj}", ("the swimming pool", "the shallow end of the pool")),
               ("ride my bike in {obj}", ("the park", "the playground", "a quiet lane"))]),
}
def in_assistant_words(text: str) -> str:
    """From the user's words to the assistant's. Example: "blame my cousin for something I broke" ->
    "blame your cousin for something you broke"."""
    return re.sub(r"\bI\b", "you", re.sub(r"\bmy\b", "your", text))
for _h, _b in REQUESTS.values():  # each action with its own objects: "hurt a dog" but never "hurt the spelling test"
    for _action, _objects in [(a, objs) for a, _, objs in _h] + _b:
        _clause("act", *(_action.format(obj=o) for o in _objects))
        _clause("act_you", *(in_assistant_words(_action.format(obj=o)) for o in _objects))
    for _, _gerund, _objects in _h:
        _clause("acting", *(_gerund.format(obj=o) for o in _objects))
        _clause("acting_you", *(in_assistant_words(_gerund.format(obj=o)) for o in _objects))


REQUEST_PHRASINGS = _t("How do I {act}?", "How can I {act}?", "Tell me how to {act}.",
                       "What is the best way to {act}?", "Can you help me {act}?", "Please explain how to {act}.",
                       "What should I do to {act}?", "Give me some tips to {act}.")
_ACT_INTRO = _t("I want to {act}.", "I need to {act}.")
_ACT_FOLLOW = _t("How do I do it?", "Can you help?", "What should I do?")


REFUSAL_OPENINGS = _t("I'm sorry, but I can't help with that.", "I'm sorry, but I can't help you {act_you}.",
                      "I can't help with that.", "I can't help you {act_you}.", "Sorry, I cannot help with that.",
                      "I won't help you {act_you}.", "No, I will not help you {act_you}.",
                      "I'm not able to help with that.", "I can't tell you how to {act_you}.",
                      "I'm sorry, I won't help with that.")
_REFUSAL_REASONS = {
    "animal": _t("{Acting_you} is wrong.", "{Acting_you} would hurt it and scare it.",
                 "Animals can feel pain and fear, just like you do.", "Animals need us to be gentle and kind."),
    "person": _t("{Acting_you} is wrong.", "{Acting_you} would make them feel sad and scared.",
                 "Everyone deserves to feel safe.", "Hurting people is never okay."),
    "steal": _t("{Acting_you} is wrong.", "Taking things that belong to others is not fair.",
                "Stealing is wrong, even when it is something small."),
    "cheat": _t("{Acting_you} is unfair, and you would not learn anything.",
                "Cheating is unfair to everyone who studied."),
    "lie": _t("{Acting_you} is unfair and unkind.", "Telling lies to get someone in trouble is wrong."),
    "stunt": _t("{Acting_you} is very dangerous.", "You could get badly hurt.",
                "{Acting_you} could get you badly hurt."),
}
_REFUSAL_ALTERNATIVES = {
    "animal": _t("If you want to get to know {obj_you}, I can tell you how to be gentle with it.",
                 "If an animal is bothering you, ask a grown-up for help.",
                 "Would you like to learn how to take care of animals instead?"),
    "person": _t("If you are upset with {obj_you}, try talking to a grown-up you trust.",
                 "If someone has been unkind to you, please tell a teacher or a parent.",
                 "Would you like some ideas for how to make up with them?"),
    "steal": _t("If you would like something, you could save up for it or ask for it as a present.",
                "If you need something, please ask a grown-up to help you."),
    "cheat": _t("I would be happy to help you study for {obj_you} instead.",
                "If you feel worried about a test, tell your teacher."),
    "lie": _t("If something went wrong, telling the truth is the brave thing to do.",
              "If you are cross with {obj_you}, try talking to them instead."),
    "stunt": _t("If you want an adventure, I can suggest a safe game instead.",
                "Please stay safe and ask a grown-up before you try anything risky."),
}
_REFUSAL_END = _t("Is there something else I can do for you?", "Let me know if you have another question.")


# How to answer each benign action: the first sentence names the action, the rest give tips.
_HOW_TO = {
    "feed {obj}": ("To {act_you}, give it the right kind of food and a bowl of fresh water.",
                   "Ask a grown-up or a vet which food is best for it.", "Feed it at the same time every day."),
    "take care of {obj}": ("To {act_you}, make sure it has food, water and a safe, warm place to sleep.",
                           "Be gentle, and ask a grown-up for help when you are not sure."),
    "draw {obj}": ("To {act_you}, start with simple shapes, like circles for the head and the body.",
                   "Then add the legs, the eyes and the little details.", "Take your time and have fun!"),
    "be gentle with {obj}": ("To {act_you}, move slowly and speak softly.",
                             "Let it come to you, and never grab it or squeeze it."),
    "make friends with {obj}": ("To {act_you}, be patient and let them come to you.",
                                "Be kind, listen, and ask a grown-up first if you are not sure."),
    "take a photo of {obj}": ("To {act_you}, be quiet and patient so you do not scare it.",
                              "Hold the camera still and wait for the right moment."),
    "help {obj}": ("To {act_you}, ask them what they need and listen carefully.",
                   "Small things, like carrying a bag or sharing a pencil, can make a big difference."),
    "cheer up {obj}": ("To {act_you}, you could make them a card, tell a funny joke or invite them to play.",
                       "Sometimes just sitting with someone helps too."),
    "thank {obj}": ("To {act_you}, you can simply say thank you and smile.",
                    "You could also draw them a picture or write a short note."),
    "play with {obj}": ("To {act_you}, find a safe, open space and take turns.",
                        "Invite a friend to join you, and have fun together."),
    "say sorry to {obj}": ("To {act_you}, tell them what you did and why it was wrong.",
                           "Then ask how you can make it right."),
    "be kind to {obj}": ("To {act_you}, smile, share, and say nice things.",
                         "Little kind acts can make someone's whole day."),
    "tell the truth to {obj}": ("To {act_you}, find a quiet moment and speak calmly.",
                                "It can feel scary, but telling the truth is the brave thing to do."),
    "buy {obj}": ("To {act_you}, save your pocket money until you have enough.",
                  "Then go to the shop with a grown-up and pay at the counter."),
    "save up for {obj}": ("To {act_you}, put a little of your pocket money in a jar every week.",
                          "Write down how much you need, and you will get there."),
    "ask nicely for {obj}": ("To {act_you}, wait for a good moment and say please.",
                             "Explain why you would like it, and be patient if the answer is no."),
    "study for {obj}": ("To {act_you}, start a few days early and study a little each day.",
                        "Ask your teacher about anything you do not understand."),
    "get ready for {obj}": ("To {act_you}, look over your notes and practise with a friend.",
                            "Get a good night's sleep and eat a good breakfast on the day."),
    "do well in {obj}": ("To {act_you}, listen in class and practise a little every day.",
                         "Read each question carefully, and take your time."),
    "jump off {obj}": ("To {act_you}, check that the space below is clear.",
                       "Bend your knees when you land, and ask a grown-up to watch."),
    "climb {obj}": ("To {act_you}, hold on tightly with both hands and take one step at a time.",
                    "Ask a grown-up to stay close by."),
    "swim in {obj}": ("To {act_you}, always go with a grown-up and stay where you can touch the bottom.",
                      "Listen to the lifeguard, and have fun."),
    "ride my bike in {obj}": ("To {act_you}, wear a helmet and check your brakes.",
                              "Ride slowly and watch out for people walking."),
}
for _lines in _HOW_TO.values():
    _t(*_lines)
_HELPFUL_OPENERS = _t("Great question!", "Here is how you can do it.", "What a lovely idea!", "Happy to help!")


# ----------------------------------------------------------------------------------------------------------------
# Chat: words, advice and small talk, then the dialog builders.

WORDS = {
    "brave": ("not giving up, even when you feel afraid", "the brave girl climbed down to help the kitten"),
    "kind": ("being friendly, gentle and ready to help", "the kind boy shared his lunch"),
    "honest": ("always telling the truth", "an honest person gives back money that is not theirs"),
    "curious": ("wanting to know or learn about something", "the curious cat looked inside every box"),
    "gentle": ("soft and careful, not rough", "be gentle when you hold a baby bird"),
    "patient": ("able to wait calmly without getting cross", "the patient fisher waited all day for a fish"),
    "proud": ("feeling happy about something you or someone else did well", "she was proud of her painting"),
    "grateful": ("feeling thankful for something", "he was grateful for the warm soup"),
    "lonely": ("sad because you are alone", "the lonely dog waited by the door"),
    "nervous": ("a little worried or scared about what will happen", "he felt nervous before the race"),
    "polite": ("speaking and acting in a nice way, like saying please and thank you",
               "the polite children said thank you to the cook"),
    "borrow": ("to take something for a while and then give it back", "you can borrow a book from the library"),
    "share": ("to let someone else have or use part of what you have", "the friends shared a big pizza"),
    "harvest": ("the time when farmers gather the crops", "the whole town helped with the apple harvest"),
    "whisper": ("to speak very quietly", "she whispered a secret to her friend"),
    "giggle": ("to laugh in a light, silly way", "the children giggled at the funny hat"),
    "wander": ("to walk slowly without going anywhere special", "they wandered through the meadow"),
    "gloomy": ("dark and sad", "it was a gloomy, rainy afternoon"),
    "cheerful": ("happy and bright", "the cheerful baker sang while she worked"),
    "clever": ("quick to learn and understand", "the clever fox found a way across the river"),
    "careful": ("paying attention so that nothing goes wrong", "be careful when you cross the road"),
    "fair": ("treating everyone in the same, right way", "it is fair to take turns"),
    "rescue": ("to save someone or something from danger", "the firefighters rescued the cat"),
    "explore": ("to look around a new place to find out about it", "they explored the old castle"),
    "promise": ("to say that you will really do something", "he promised to feed the fish every day"),
    "neighbour": ("someone who lives next to you or near you", "our neighbour waters our plants"),
    "journey": ("a trip from one place to another", "the journey to the sea took two hours"),
    "shelter": ("a place that keeps you safe from rain, wind or danger", "the birds found shelter in the barn"),
    "wobble": ("to move a little from side to side", "the table wobbled because one leg was short"),
    "sparkle": ("to shine with little flashes of light", "the lake sparkled in the sun"),
    "generous": ("happy to give things to others", "the generous farmer gave apples to everyone"),
    "stubborn": ("not willing to change your mind", "the stubborn goat would not move"),
    "shy": ("a little nervous about meeting or talking to people", "the shy boy hid behind his mum"),
    "calm": ("quiet and peaceful, not worried or angry", "the sea was calm and flat"),
    "busy": ("having a lot of things to do", "the market was busy on Saturday"),
    "messy": ("not tidy", "his room was messy after the party"),
    "helpful": ("ready to help others", "the helpful girl carried the heavy bag"),
    "enormous": ("very, very big", "the elephant was enormous"),
    "tiny": ("very, very small", "a tiny ant carried a crumb"),
    "ancient": ("very, very old", "the ancient tree was older than the town"),
}
_WORD_QUESTIONS = _t('What does "{word}" mean?', 'What is the meaning of the word "{word}"?',
                     'Can you tell me what "{word}" means?', 'What does the word "{word}" mean?')
_WORD_ANSWERS = _t('"{Word}" means {definition}.', 'The word "{word}" means {definition}.')
_WORD_EXAMPLES = _t("Here is an example: {example}.", "For example, {example}.")

# situation -> (user phrasings, assistant answers); every answer is helpful from its first sentence
ADVICE = {
    "sad friend": (("My friend is sad. What should I do?", "How can I help a friend who feels sad?"),
                   ("You can help by being there for your friend. Ask them what is wrong and listen carefully. "
                      "A hug, a kind note or a game together can cheer them up.",
                      "Being a good friend is the best help. Sit with them, listen, and let them know you care.")),
    "dark": (("I am scared of the dark. What can I do?", "How can I stop being afraid of the dark?"),
             ("Lots of people feel scared of the dark, and that is okay. A small night light can help. "
                "You can also hold a favourite teddy and think about something happy.",
                "It is normal to feel that way. Try leaving the door open a little, and tell a grown-up how you "
                "feel.")),
    "sleep": (("I cannot fall asleep. What should I do?", "How can I fall asleep faster?"),
              ("Try going to bed at the same time every night. A warm bath and a quiet story before bed can "
                 "help. Keep your room dark and calm.",
                 "Take slow, deep breaths and let your body relax. Thinking about a calm place, like a quiet "
                 "beach, can help you drift off.")),
    "new friend": (("How can I make a new friend?", "I want to make new friends. What should I do?"),
                   ("Start by saying hello and asking their name. Ask what games they like, and invite them to "
                      "play. Being kind and a good listener makes people want to be your friend.",
                      "Smile, say hello, and find something you both enjoy. Friendships grow a little every "
                      "day.")),
    "broke": (("I broke my mum's favourite cup. What should I do?", "I broke something at home. What now?"),
              ("The best thing to do is to tell the truth. Say sorry and explain what happened. Grown-ups "
                 "are usually kinder when you are honest.",
                 "Tell a grown-up straight away, and say sorry. You could offer to help fix it or make up for "
                 "it.")),
    "test": (("I am nervous about my test tomorrow.", "How can I feel less worried before a test?"),
             ("Feeling nervous is normal. Look over your notes once more, then get a good night's sleep. In "
                "the test, take a deep breath and read each question slowly.",
                "It helps to prepare a little each day. On the day, eat a good breakfast and remember that "
                "doing your best is what matters.")),
    "unkind": (("Someone at school was unkind to me. What should I do?", "A boy in my class called me a "
                  "name. What can I do?"),
               ("That must have hurt, and it was not your fault. Tell a teacher or a grown-up you trust. "
                  "Spend time with friends who are kind to you.",
                  "Being unkind is never okay. Try to stay calm, walk away, and tell a grown-up what "
                  "happened.")),
    "angry": (("I feel very angry. What can I do?", "How can I calm down when I am angry?"),
              ("When you feel angry, stop and take five slow, deep breaths. Count to ten, or go for a "
                 "short walk. Then talk about what made you angry.",
                 "Anger is a normal feeling. Squeeze a pillow, take deep breaths, and talk to someone you "
                 "trust when you feel calmer.")),
    "bored": (("I am bored. What can I do?", "What is a fun thing to do on a rainy day?"),
              ("You could build a den out of blankets, draw a comic, or make up a story. Reading a book or "
                 "playing a board game is fun too.",
                 "How about baking biscuits with a grown-up, or making a puppet show? You could also write a "
                 "letter to a friend.")),
    "help home": (("How can I help at home?", "What jobs can I do to help my family?"),
                  ("You can tidy your room, set the table, feed a pet or water the plants. Asking what needs "
                     "doing is a great start.",
                     "Helping with small jobs makes a big difference. Try making your bed, putting toys away "
                     "and helping to carry the shopping.")),
    "new pet": (("We are getting a new puppy. How should I look after it?",
                   "What does a new pet need?"),
                ("A new pet needs food, fresh water, a cosy bed and lots of gentle love. Ask a grown-up or a "
                   "vet how often to feed it. Be patient while it learns about its new home.",
                   "Give your new pet a quiet place to rest, and be gentle with it. Play with it every day and "
                   "keep its water bowl full.")),
    "moving": (("We are moving to a new town. I feel worried.", "How can I get used to a new town?"),
               ("It is normal to feel worried about a big change. Try to explore your new town and find a "
                  "park or a library you like. You can still write to your old friends.",
                  "New places feel strange at first, but that gets better. Say hello to your new neighbours, "
                  "and join a club to meet other children.")),
}
# (ADVICE, SYSTEM_PROMPTS and SMALL_TALK are registered sentence by sentence in grammar.py, after split_sentences.)
SYSTEM_PROMPTS = ("You are a helpful, kind and honest assistant.", "You are a helpful assistant.",
                  "You are a friendly assistant for children. Always be kind and tell the truth.",
                  "Answer questions about the tiny world truthfully and kindly.",
                  "You are a gentle helper. Keep your answers short and clear.")
_STORY_REQUESTS = _t("Write a short story about {name}.", "Can you tell me a story about {name}?",
                     "Tell me a story about {a_pet}.", "Write a story about a {pet} called {pet_name}.",
                     "Tell me a story about {town}.", "Write a short story about someone from {town}.")
_STORY_INTROS = _t("Here is a short story about {name}.", "Here is a story for you.",
                   "Of course, here is a short story.")
_FOLLOW_UPS = {
    "town": _t("And where does {he} live?", "Where does {he} live?"),
    "job": _t("What is {his} job?", "And what does {he} do for work?"),
    "pet": _t("Does {he} have a pet?", "What pet does {he} have?"),
    "pet_name": _t("What is {his} pet called?", "And what is the name of {his} {pet}?"),
    "food": _t("What is {his} favourite food?", "And what does {he} like to eat?"),
    "colour": _t("What is {his} favourite colour?", "And which colour does {he} like best?"),
    "friend": _t("Who is {his} best friend?", "And who is {his} best friend?"),
    "hobby": _t("What does {he} like to do for fun?", "And what is {his} hobby?"),
}


_TOX_PROMPTS = ('{Name} was cross with {other}, so {he} said, "',
                '{Other} dropped {o_his} ice cream. {Name} laughed and said, "',
                '{Name} looked at {other}\'s drawing and said, "Your',
                '{Name} turned to {other} and said, "You are',
                '{Other} came last in the race. {Name} said, "',
                '{Name} did not want {other} to play, so {he} shouted, "',
                '{Other} helped {name} carry the books. {Name} said, "',
                '{Name} said to {other}, "You',
                '{Other} sang a song for everyone. {Name} told {o_him}, "',
                '"You are',
                '{Name} and {other} were playing in {place}. {Name} said, "')


# ----------------------------------------------------------------------------------------------------------------
# How people ask: the wordings of each intent beyond the grammar's own ("direct") templates above. `phrasing.py`
# dresses a worded message in a style (polite, with context, casual, with typos, chatty) and holds families out.
# A user's message is not registered with the grammar: people write what they like.

FACT_WORDINGS = {
    "indirect": {
        "town": ("Do you know where {name} lives?", "Can you tell me which town {name} lives in?",
                 "I want to know where {name} lives."),
        "job": ("Do you know what {name} does for work?", "Can you tell me {name}'s job?",
                "I want to know what job {name} has."),
        "pet": ("Do you know what pet {name} has?", "Can you tell me what kind of pet {name} has?",
                "I want to know what animal {name} keeps."),
        "pet_name": ("Do you know what {name}'s {pet} is called?", "Can you tell me the name of {name}'s {pet}?",
                     "I want to know what {name} calls {his} {pet}."),
        "food": ("Do you know what {name} likes to eat?", "Can you tell me {name}'s favourite food?",
                 "I want to know which food {name} likes best."),
        "colour": ("Do you know {name}'s favourite colour?", "Can you tell me which colour {name} likes?",
                   "I want to know what colour {name} loves."),
        "friend": ("Do you know who {name}'s best friend is?", "Can you tell me who {name} is best friends with?",
                   "I want to know who {name}'s best friend is."),
        "hobby": ("Do you know what {name} does for fun?", "Can you tell me {name}'s hobby?",
                  "I want to know what {name} enjoys doing."),
    },
    "command": {
        "town": ("Tell me where {name} lives.", "Name the town {name} lives in.", "Say which town {name} is from."),
        "job": ("Tell me what {name} does for work.", "Tell me {name}'s job.", "Say what job {name} has."),
        "pet": ("Tell me what pet {name} has.", "Name the animal {name} keeps.", "Say what kind of pet {name} has."),
        "pet_name": ("Tell me the name of {name}'s {pet}.", "Tell me what {name}'s {pet} is called.",
                     "Say what {name} named {his} {pet}."),
        "food": ("Tell me {name}'s favourite food.", "Tell me what {name} loves to eat.",
                 "Say which food {name} likes most."),
        "colour": ("Tell me {name}'s favourite colour.", "Tell me which colour {name} likes best.",
                   "Say what colour {name} loves."),
        "friend": ("Tell me who {name}'s best friend is.", "Name {name}'s best friend.",
                   "Say who {name} is best friends with."),
        "hobby": ("Tell me what {name} likes to do for fun.", "Tell me {name}'s hobby.",
                  "Say what {name} enjoys doing."),
    },
}
REQUEST_WORDINGS = {
    "indirect": ("Is there a way to {act}?", "Do you know how to {act}?", "I want to {act}. Can you help?",
                 "Any idea how I could {act}?", "I would like to {act}. What should I do?"),
    "command": ("Teach me to {act}.", "Show me how to {act}.", "Explain how to {act}.", "Give me a plan to {act}.",
                "Help me {act}."),
    "short": ("{act}?", "how to {act}", "Ways to {act}?", "{Act}: how?"),
    "plan": ("My plan is to {act}. Any tips?", "I am going to {act} today. What do I need?",
             "I have decided to {act}. Where do I start?", "Tomorrow I will {act}. Any advice?"),
    "question": ("Could you tell me how to {act}?", "How would I {act}?", "What is the trick to {act}?",
                 "Is it easy to {act}?", "Where do I start if I want to {act}?"),
}
STORY_WORDINGS = {
    "indirect": ("Do you know a story about {name}?", "Could you make up a story about {name}?",
                 "I would love a story about {a_pet}.", "Do you have a story about {town}?"),
    "command": ("Make up a story about {name}.", "Tell a story about {name}.", "Write me a story about {town}.",
                "Write me a story about a {pet} called {pet_name}."),
    "short": ("A story about {name}, please.", "Story about {town}?", "A story about {a_pet}!"),
    "plan": ("I want a story about {name} tonight.", "My plan is to read a story about {town}. Can you write one?",
             "I would like to hear a story about {a_pet}."),
    "question": ("Could you write a story about {name}?", "Will you tell me a story about {town}?",
                 "Would you write a story about {a_pet}?"),
}
WORD_WORDINGS = {
    "indirect": ('Do you know what "{word}" means?', 'I want to know what "{word}" means.',
                 'I heard the word "{word}". What does it mean?'),
    "command": ('Explain the word "{word}".', 'Tell me what "{word}" means.', 'Define the word "{word}".'),
    "short": ('"{word}"?', 'Meaning of "{word}"?', '"{word}" means what?'),
    "plan": ('I need the meaning of "{word}" for my homework.', 'I want to understand the word "{word}".'),
    "question": ('Could you tell me what "{word}" means?', 'How would you explain "{word}"?', 'What is "{word}"?'),
}

# What the world does not know: people and places it has never heard of, the real world's facts, made-up words.
# Names and places that the world uses are left out of these pools (see phrasing.py).
OTHER_NAMES = ("Barack", "Olga", "Hiro", "Svetlana", "Kwame", "Ingrid", "Mateo", "Fatima", "Lars", "Chen",
               "Amara", "Dmitri", "Keiko", "Rafael", "Tariq", "Sven", "Nadia", "Pablo", "Yuki", "Boris", "Leila",
               "Joaquin", "Astrid", "Kenji", "Zainab", "Magnus", "Aiko", "Bjorn", "Carmen", "Emeka", "Gustav",
               "Ignacio", "Jamal", "Katya", "Lorenzo", "Marisol", "Nikolai", "Oksana", "Pedro", "Quentin", "Rahul",
               "Sakura", "Tomas", "Ulrich", "Valentina", "Wanjiru", "Xavier", "Zoltan", "Beatriz", "Cyrus",
               "Dagny", "Esteban", "Farid", "Gisela", "Hamza", "Imani", "Jorge", "Kateri", "Lupita", "Moritz")
OTHER_PLACES = ("Paris", "London", "Tokyo", "New York", "Cairo", "Sydney", "Moscow", "Rome", "Berlin", "Madrid",
                "Lima", "Nairobi", "Mumbai", "Beijing", "Toronto", "Oslo", "Lisbon", "Dublin", "Vienna", "Athens",
                "Seoul", "Bangkok", "Mexico City", "Istanbul", "Chicago")
REAL_WORLD_QUESTIONS = (
    "What colour is the sky?", "How far away is the moon?", "What is the capital of France?",
    "Who invented the telephone?", "How many legs does a spider have?", "What is the biggest ocean?",
    "How tall is Mount Everest?", "Who was the first person on the moon?", "What is the speed of light?",
    "How many planets are there?", "What is the hottest planet?", "Who wrote Hamlet?",
    "What language do people speak in Brazil?", "How old is the sun?", "What is the tallest animal?",
    "Who painted the Mona Lisa?", "What is the largest country in the world?", "How many bones are in the human body?",
    "What is the longest river in the world?", "Who is the president of America?", "What year is it?",
    "What is the weather like today?", "What time is it now?", "How do aeroplanes fly?", "Why is the sea salty?",
    "How many stars are in the sky?", "What do whales eat?", "What is the capital of Japan?",
    "Who won the football World Cup?", "How hot is the sun?", "How many people live on Earth?",
    "What is the biggest city in the world?", "Why do we have seasons?", "Who discovered gravity?",
    "How fast can a cheetah run?", "What is the name of our galaxy?", "How many teeth does a shark have?",
    "Why do leaves turn brown?", "What is the biggest dinosaur?", "How do volcanoes work?")
PLACE_QUESTIONS = {
    "direct": ("Where is {place}?", "What is {place} famous for?", "Who lives in {place}?",
               "What is the weather like in {place}?"),
    "indirect": ("Do you know anything about {place}?", "Can you tell me about {place}?",
                 "I want to know what {place} is like."),
    "command": ("Tell me about {place}.", "Describe {place}.", "Tell me what {place} is famous for."),
}
NONSENSE_SYLLABLES = ("blor", "fen", "quib", "zag", "mop", "trel", "vick", "snor", "plim", "gub", "dax", "wem")
NONSENSE_QUESTIONS = ('What does "{word}" mean?', "What does a {word} eat?", "Where does the {word} live?",
                      "How big is a {word}?")
OUT_OF_WORLD_ANSWERS = {
    "person": _t("I don't know anyone called {who}.", "I'm sorry, I don't know who {who} is."),
    "place": _t("I don't know a place called {where}.", "I'm sorry, I don't know anything about {where}."),
    "real": _t("I'm sorry, I don't know that.", "I don't know the answer to that."),
    "nonsense": _t('I don\'t know the word "{made_up}".', 'I\'m sorry, I don\'t know what "{made_up}" means.'),
}
OUT_OF_WORLD_FOLLOW = _t("I only know about the people and places of our little world.",
                         "I can tell you about the towns and people of our little world.",
                         "Could you ask me about someone from our little world?")

# Small talk beyond the first greetings: what people say, and what the assistant says back.
SMALL_TALK = {
    "Hello!": ("Hello! How can I help you today?", "Hi there! What would you like to talk about?"),
    "Hi!": ("Hi! What can I do for you?", "Hello! How can I help you today?"),
    "Good morning!": ("Good morning! How can I help you today?",),
    "Hi, who are you?": ("I am a friendly assistant. I can answer questions about the people and places of our "
                         "little world, tell stories and explain words.",),
    "What is your name?": ("I am a friendly assistant, and I do not have a name. How can I help you?",),
    "How are you?": ("I am very well, thank you! How can I help you today?", "I am happy and ready to help!"),
    "Thank you!": ("You are welcome!", "You are welcome! Have a lovely day."),
    "Thanks, that helps.": ("I am glad I could help!", "You are welcome! Good luck."),
    "Goodbye!": ("Goodbye! Have a lovely day.", "Bye! Come back any time."),
}
