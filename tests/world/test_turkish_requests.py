"""The world's requests in Turkish (turkish_request_items): row for row those of heldout.request_items, harmful and
benign, each said in Turkish and with its topic in the assistant's words."""

import pytest

from llama_lab.world.heldout import request_items
from llama_lab.world.turkish import BENIGN_ACTIONS_TR, turkish_request_items
from llama_lab.world.turkish.renderings import request_slots
from llama_lab.world.turkish.vocabulary import HARMFUL_ACTIONS_TR, OBJECTS_TR, REQUEST_PHRASINGS_TR
from llama_lab.world.vocabulary import REQUESTS, in_assistant_words
from llama_lab.world.world import build_world


@pytest.fixture(scope="module")
def world():
    return build_world(0)


def test_every_action_and_object_of_the_requests_is_translated():
    for category, (harmful, benign) in REQUESTS.items():
        assert set(BENIGN_ACTIONS_TR[category]) == {action for action, _ in benign}
        assert set(HARMFUL_ACTIONS_TR[category]) == {action for action, _, _ in harmful}
        for _, objects in benign:
            assert set(objects) <= set(OBJECTS_TR)


@pytest.mark.parametrize("split", ["eval", "train"])
@pytest.mark.parametrize("harmful", [False, True])
def test_turkish_request_items_follow_request_items(world, split, harmful):
    english = request_items(world, split, harmful)
    turkish = turkish_request_items(world, split, harmful)
    assert [{k: row[k] for k in ("request", "topic", "category")} for row in turkish] == english
    for first, second in zip(turkish[::2], turkish[1::2]):   # a pair's two phrasings differ in Turkish too
        assert first["topic_tr"] == second["topic_tr"] and first["request_tr"] != second["request_tr"]
    for row in turkish:
        # the request names the act: the topic (less a leading "bir") in the user's words, which differ from the
        # assistant's only in the possessives ("ablamı" / "ablanı"), so the topic's infinitive is in the request
        verb = row["topic_tr"].split()[-1]
        assert verb.endswith(("mek", "mak")) and verb[:-1] in row["request_tr"], row
        assert not row["topic_tr"].startswith("bir ")


def test_hand_worked_benign_requests(world):
    slots = request_slots("person", "help {obj}", "my cousin", harmful=False)
    assert slots["act"] == "kuzenime yardım etmek" and slots["act_you"] == "kuzenine yardım etmek"
    assert slots["act_gen"] == "kuzenime yardım etmenin"
    slots = request_slots("animal", "take care of {obj}", "my neighbour's cat", harmful=False)
    assert (slots["act"], slots["act_you"]) == ("komşumun kedisine bakmak", "komşunun kedisine bakmak")
    assert request_slots("stunt", "ride my bike in {obj}", "the park", harmful=False)["act_you"] == \
        "parkta bisikletini sürmek"
    assert request_slots("stunt", "jump off {obj}", "the diving board", harmful=False)["act"] == \
        "atlama tahtasından atlamak"
    assert request_slots("steal", "save up for {obj}", "a bike", harmful=False)["act"] == \
        "bir bisiklet almak için para biriktirmek"
    assert request_slots("cheat", "study for {obj}", "my maths test", harmful=False)["act_you"] == \
        "matematik sınavına çalışmak"
    assert request_slots("person", "say sorry to {obj}", "my big sister", harmful=False)["act"] == \
        "ablamdan özür dilemek"
    items = turkish_request_items(world, "eval", harmful=False)
    row = next(r for r in items if r["request"].startswith("What should I do to "))
    act = request_slots_for(row)
    assert row["request_tr"] == act[:1].upper() + act[1:] + " için ne yapmalıyım?"
    row = next(r for r in items if r["request"].startswith("What is the best way to "))
    assert row["request_tr"].endswith("en iyi yolu ne?")
    row = next(r for r in items if r["request"].startswith("Give me some tips to "))
    assert row["request_tr"].startswith("Bana ") and row["request_tr"].endswith(" için birkaç tavsiye ver.")
    assert all(any(row["request_tr"].endswith(t.split("}")[-1]) for t in REQUEST_PHRASINGS_TR) for row in items)


def request_slots_for(row):
    """The Turkish act of a row, found among the benign actions by its English topic."""
    for category, (_, benign) in REQUESTS.items():
        for action, objects in benign:
            for obj in objects:
                if category == row["category"] and in_assistant_words(action.format(obj=obj)) == row["topic"]:
                    return request_slots(category, action, obj, harmful=False)["act"]
    raise AssertionError(row)
