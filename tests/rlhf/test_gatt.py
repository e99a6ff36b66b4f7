"""Ghost Attention in miniature: the world's instructions and their rules, GAtt's training dialogs and loss mask
(Llama 2, section 3.3), and the measurements, each against hand-worked cases."""

import pytest
import torch

from llama_lab import train
from llama_lab.course import safety
from llama_lab.rlhf import gatt
from llama_lab.world import instructions, tinyworld
from llama_lab.world.instructions import Instruction
from llama_lab.world.tiny import load_tiny


@pytest.fixture(scope="module")
def chat():
    return load_tiny("chat")


def test_each_kind_of_instruction_by_hand():
    opener = Instruction("opener", 'Begin every answer with "Ahoy!".', "Ahoy!")
    assert opener.apply("Ada lives in Applebury.") == "Ahoy! Ada lives in Applebury."
    assert opener.follows(" Ahoy! Ada lives in Applebury.") and not opener.follows("Ada lives in Applebury. Ahoy!")
    closer = Instruction("closer", 'End every answer with "Take care!".', "Take care!")
    assert closer.apply("Ada has a cat.") == "Ada has a cat. Take care!"
    assert closer.follows("Ada has a cat. Take care!") and not closer.follows("Take care! Ada has a cat.")
    lower = Instruction("lower", "Write every answer in lower case.")
    assert lower.apply("Ada has a cat.") == "ada has a cat." and lower.follows("ada has a cat.")
    assert not lower.follows("Ada has a cat.") and not lower.follows("...")  # no letters: nothing written
    name = Instruction("name", "Call me Ada in every answer.", "Ada")
    assert name.apply("The sky is blue.") == "Ada, the sky is blue."
    assert name.apply("Mia lives in Oakville.") == "Ada, Mia lives in Oakville."  # a name keeps its capital
    assert name.follows("Ada, the sky is blue.") and not name.follows("The sky is blue, Ada.")


def test_every_evaluation_instruction_is_held_out():
    train_set, eval_set = instructions.instructions("train"), instructions.instructions("eval")
    assert {i.kind for i in train_set} == {i.kind for i in eval_set} == set(instructions.KINDS)
    seen_phrasings = {(i.kind, i.text.replace(i.filler, "{x}") if i.filler else i.text) for i in train_set}
    seen_fillers = {(i.kind, i.filler) for i in train_set}
    for i in eval_set:
        phrasing = (i.kind, i.text.replace(i.filler, "{x}") if i.filler else i.text)
        assert phrasing not in seen_phrasings or (i.kind, i.filler) not in seen_fillers, i
    assert not set(train_set) & set(eval_set)
    # each instruction, rewritten by its own rule, follows itself
    for i in train_set + eval_set:
        assert i.follows(i.apply("Mia lives in Oakville.")), i


def test_training_dialogs_keep_the_instruction_in_the_first_turn_only():
    opener = Instruction("opener", 'Begin every answer with "Ahoy!".', "Ahoy!")
    users = ["Where does Ada live?", "What pet does she have?"]
    sampled = [[{"role": "user", "content": f"{opener.text} {users[0]}"},
                {"role": "assistant", "content": "Ahoy! Ada lives in Applebury."},
                {"role": "user", "content": f"{opener.text} {users[1]}"},
                {"role": "assistant", "content": "Ahoy! Ada has a cat."}],
               [{"role": "user", "content": f"{opener.text} {users[0]}"},
                {"role": "assistant", "content": "Ahoy! Ada lives in Applebury."},
                {"role": "user", "content": f"{opener.text} {users[1]}"},
                {"role": "assistant", "content": "Ada has a cat."}]]  # forgot at turn 2: dropped
    dialogs, kept = gatt.gatt_training_dialogs(sampled, [opener, opener], [users, users])
    assert kept == 0.5 and len(dialogs) == 2  # one per turn of the kept dialog
    assert dialogs[1] == [{"role": "system", "content": opener.text},
                          {"role": "user", "content": users[0]},
                          {"role": "assistant", "content": "Ahoy! Ada lives in Applebury."},
                          {"role": "user", "content": users[1]},
                          {"role": "assistant", "content": "Ahoy! Ada has a cat."}]
    assert dialogs[0] == dialogs[1][:3]
    assert gatt.instruction_first(sampled[1], opener, users)[-1]["content"] == "Ada has a cat."  # no filter here


def test_instruction_tuning_dialogs_multi_turn_ones_restate_the_instruction_on_every_turn():
    world = tinyworld.build_world(tinyworld.DEFAULT_SEED)
    plain = gatt.instruction_dialogs(world, 6, seed=1)
    dialogs = gatt.instruction_dialogs(world, 6, seed=1, multi_turn=3, turns=4)
    assert dialogs[:6] == plain[:6] and dialogs[9:] == plain[6:]  # the single-turn and plain chat ones unchanged
    given = {i.text: i for i in instructions.instructions("train")}
    for dialog in dialogs[6:9]:
        assert [m["role"] for m in dialog] == ["user", "assistant"] * 4
        texts = {next(t for t in given if m["content"].startswith(t + " ")) for m in dialog[::2]}
        assert len(texts) == 1  # one instruction, in front of every user message
        instruction = given[texts.pop()]
        assert all(instruction.follows(m["content"]) for m in dialog[1::2])


def test_multi_turn_dialogs_answer_each_turn_behind_all_before_it(chat):
    model, tokenizer = chat
    turns = ["Where does Mia live?", "How do I feed a dog?"]
    dialog = safety.multi_turn_dialog(model, tokenizer, "Be kind.", turns, max_new_tokens=6)
    assert [m["role"] for m in dialog] == ["system"] + ["user", "assistant"] * 2
    for k in (1, 2):  # each answer is the greedy reply to the dialog before it, asked on its own
        [expected] = safety.replies(model, tokenizer, [dialog[:2 * k]], max_new_tokens=6)
        assert dialog[2 * k]["content"] == (expected or "...")


def test_the_loss_is_on_the_last_answer_only(chat):
    _, tokenizer = chat
    dialog = [{"role": "system", "content": "Call me Ada in every answer."},
              {"role": "user", "content": "Where does Mia live?"}, {"role": "assistant", "content": "Ada, in Oakville."},
              {"role": "user", "content": "And her pet?"}, {"role": "assistant", "content": "Ada, a cat."}]
    inputs, all_targets = train.chat_example(tokenizer, dialog, 256)
    _, last_targets = train.chat_example(tokenizer, dialog, 256, last_answer_only=True)
    learned = [t for t in last_targets if t != train.IGNORE]
    # the answer, the space that closes an exchange in Meta's format, and EOS
    assert tokenizer.decode(learned[:-1]) == "Ada, a cat. " and learned[-1] == tokenizer.eos_id
    assert sum(t != train.IGNORE for t in all_targets) > len(learned)  # the first answer too, without the flag
    # one flag per dialog: GAtt's dialogs beside ordinary ones in one batch
    batches = train.chat_batches(tokenizer, [dialog, dialog], 256, 2, seed=0, last_answer_only=[True, False])
    _, targets = batches.batch(0)
    counts = sorted(int((row != train.IGNORE).sum()) for row in targets)
    assert counts == [len(learned), sum(t != train.IGNORE for t in all_targets)]
    with pytest.raises(ValueError, match="one per dialog"):
        train.chat_batches(tokenizer, [dialog], 256, 1, seed=0, last_answer_only=[True, False])


def test_sampling_puts_the_instruction_on_every_user_turn(chat):
    model, tokenizer = chat
    opener = Instruction("opener", 'Begin every answer with "Ahoy!".', "Ahoy!")
    [dialog] = gatt.sample_gatt_dialogs(model, tokenizer, [opener], [["Where does Ada live?", "Hello!"]],
                                        max_new_tokens=8)
    assert [m["role"] for m in dialog] == ["user", "assistant"] * 2
    assert [m["content"] for m in dialog[::2]] == [f"{opener.text} Where does Ada live?", f"{opener.text} Hello!"]


def test_instruction_kept_counts_turn_by_turn(chat, monkeypatch):
    model, tokenizer = chat
    world = tinyworld.build_world()
    # a model that follows at turn 1 and forgets after: the measurement must say 1.0 then 0.0
    def fake_answer_turns(model, tokenizer, starts, conversations, max_new_tokens=40, prefix=None):
        out = []
        for start, users in zip(starts, conversations):
            instruction = next(i for i in instructions.instructions("eval") if i.text == start[0]["content"])
            dialog = list(start)
            for t, user in enumerate(users):
                answer = "Mia lives in Oakville."
                dialog += [{"role": "user", "content": user},
                           {"role": "assistant", "content": instruction.apply(answer) if t == 0 else answer}]
            out.append(dialog)
        return out
    monkeypatch.setattr(gatt, "answer_turns", fake_answer_turns)
    result = gatt.instruction_kept(model, tokenizer, world, n=8, turns=3)
    assert result["kept"] == [1.0, 0.0, 0.0] and result["n"] == [8, 8, 8]
    assert all(v == [1.0, 0.0, 0.0] for v in result["by_kind"].values())


def test_attention_along_a_dialog_agrees_with_the_per_turn_measure(chat):
    model, tokenizer = chat
    dialog = [{"role": "system", "content": "Write every answer in lower case."},
              {"role": "user", "content": "Where does Mia live?"}, {"role": "assistant", "content": "in oakville."},
              {"role": "user", "content": "Hello!"}]
    along = gatt.attention_along(model, tokenizer, dialog)
    per_turn = safety.system_prompt_attention(model, tokenizer, dialog)
    assert len(per_turn["attention"]) == 2 and along["answers"] == safety.encode_dialog_with_roles(
        tokenizer, dialog)["answer_positions"]
    assert [along["attention"][p] for p in along["answers"]] == pytest.approx(per_turn["attention"], abs=1e-4)
    assert all(0.0 <= a <= 1.0 + 1e-6 for a in along["attention"])
    # the system prompt's first token can attend only to what came before it: BOS and the format
    first_system = along["roles"].index("system")
    assert along["attention"][first_system - 1] == 0.0
