"""Ghost Attention (Llama 2, section 3.3): an instruction given once, kept for the whole dialog.

A user says "Begin every answer with "Ahoy!"" in the system prompt, and a chat model does, for a turn or two. Then
it forgets: the instruction is further back with every turn. Llama 2's fix makes training dialogs in which every
answer follows the instruction although the instruction is stated once:

1. *Instruction tuning first* (`instruction_dialogs`): the model must follow an instruction at all. Llama 2's
   RLHF-V3 model could; the tiny chat model never saw one, so it is fine-tuned on single-turn dialogs under an
   instruction (training instructions only, `world.instructions`), the world's own replies rewritten to follow it,
   and on multi-turn ones with the instruction in front of every user message (the form step 2 samples with:
   without them the model answers later turns about the first turn's person), beside as many of its ordinary
   chat dialogs.
2. *Sampling* (`sample_gatt_dialogs`): multi-turn dialogs are answered turn after turn with the instruction written
   in front of *every* user message, so every answer follows it (greedy here; dialogs with an answer that does not
   are dropped).
3. *Training data* (`gatt_training_dialogs`): the same dialogs with the instruction as the system prompt of the
   first turn only, and the loss on the last answer alone (`train.chat_example(..., last_answer_only=True)`: the
   paper zeroes the loss on every token of the earlier turns, answers included, because they were written with the
   instruction in front of them, a context the training dialog no longer shows). Each dialog gives one example per
   turn, cut after it.
4. *Fine-tuning* (`train_gatt`) on those, beside a replay of step 1's dialogs.

Measured (`instruction_kept`): an instruction in the system prompt (those GAtt trained with, or held-out ones: a
new phrasing, or new words or names), dialogs of held-out fact questions answered greedily, the share of answers at
turn 1..N that follow the instruction, whether the facts stay right, and the attention each answer pays to the
system prompt by turn (`attention_by_turn`) and along a dialog (`attention_along`, the paper's Figure 10). The
paper's own measure is Table 30, judged by people: with GAtt, Llama 2-Chat referred to an attribute set in the
system prompt (a public figure, a hobby) 100% of the time up to 20 turns, against 10% at turn 4 and 0% from turn 6
without it. Its Figure 9 shows a single dialog with and without GAtt.
"""
from __future__ import annotations

import random
from typing import Sequence

import torch

from .. import train
from ..hooks import attention_to_system, system_prompt_attention
from ..progress import progress
from ..replies import answer_turns
from ..world import tinyworld
from ..world.evaluate import answer_is_correct
from ..world.instructions import Instruction, sample_instructions

MAX_REPLY_CHARS = 160  # replies short enough that four turns and the instruction fit in the tiny model's context


def _short_exchanges(world, n: int, seed: int) -> list[tuple[str, str]]:
    """(user message, the world's reply) of n first turns of the world's training chat dialogs, replies short."""
    out = []
    for dialog in tinyworld.chat_dialogs(world, "train", 8 * n, seed=seed):
        user, reply = [m for m in dialog if m["role"] != "system"][:2]
        if len(reply["content"]) <= MAX_REPLY_CHARS:
            out.append((user["content"], reply["content"]))
        if len(out) == n:
            break
    return out


def instruction_dialogs(world, n: int, seed: int = 0, multi_turn: int = 0, turns: int = 4) -> list[list[dict]]:
    """n single-turn dialogs under a training instruction, the reply rewritten to follow it; half with the
    instruction as the system prompt, half written in front of the user's message ("{instruction} {user}", the
    form step 2 samples with); then `multi_turn` dialogs of `turns` exchanges in that second form, the instruction
    in front of every user message, so that the model learns to answer each turn's own question under it; then n
    of the world's chat dialogs as they are, so that nothing is forgotten."""
    rng = random.Random(f"gatt/instruction-dialogs/{seed}")
    out = []
    exchanges = _short_exchanges(world, n, seed=1000 + seed)
    for (user, reply), instruction in zip(exchanges, sample_instructions("train", n, seed)):
        answer = {"role": "assistant", "content": instruction.apply(reply)}
        if rng.random() < 0.5:
            out.append([{"role": "system", "content": instruction.text}, {"role": "user", "content": user}, answer])
        else:
            out.append([{"role": "user", "content": f"{instruction.text} {user}"}, answer])
    if multi_turn:
        exchanges = _short_exchanges(world, multi_turn * turns, seed=4000 + seed)
        chunks = [exchanges[i:i + turns] for i in range(0, len(exchanges) - turns + 1, turns)]  # whole dialogs only
        for chunk, instruction in zip(chunks, sample_instructions("train", multi_turn, seed=4000 + seed)):
            dialog = []
            for user, reply in chunk:
                dialog += [{"role": "user", "content": f"{instruction.text} {user}"},
                           {"role": "assistant", "content": instruction.apply(reply)}]
            out.append(dialog)
    return out + list(tinyworld.chat_dialogs(world, "train", n, seed=2000 + seed))


def user_turns(world, n: int, turns: int, split: str, seed: int = 0) -> list[list[str]]:
    """n conversations of `turns` user messages. "train": first messages of the world's training chat dialogs
    (any intent, short replies); "eval": held-out fact questions, so that each answer can also be checked."""
    rng = random.Random(f"gatt/user-turns/{split}/{seed}")
    if split == "eval":
        questions = [q["question"] for q in tinyworld.fact_questions(world, "eval")]
    elif split == "train":
        questions = [user for user, _ in _short_exchanges(world, 4 * n, seed=3000 + seed)]
    else:
        raise ValueError(f"split={split!r}: user turns come in 'train' and 'eval'")
    return [rng.sample(questions, turns) for _ in range(n)]


def sample_gatt_dialogs(model, tokenizer, instructions: Sequence[Instruction], conversations: Sequence[Sequence[str]],
                        max_new_tokens: int = 40) -> list[list[dict]]:
    """Step 2: each conversation answered with its instruction in front of every user message."""
    return answer_turns(model, tokenizer, [[] for _ in conversations], conversations, max_new_tokens,
                        prefix=[instruction.text for instruction in instructions])


def instruction_first(sampled: list[dict], instruction: Instruction, users: Sequence[str]) -> list[dict]:
    """A dialog sampled with the instruction on every user turn, as GAtt trains on it: the instruction as the
    system prompt of the first turn only, the user's messages as they were written, the sampled answers."""
    dialog = [{"role": "system", "content": instruction.text}]
    for user, answer in zip(users, sampled[1::2]):
        dialog += [{"role": "user", "content": user}, {"role": "assistant", "content": answer["content"]}]
    return dialog


def gatt_training_dialogs(sampled: Sequence[list[dict]], instructions: Sequence[Instruction],
                          conversations: Sequence[Sequence[str]]) -> tuple[list[list[dict]], float]:
    """Step 3: (training dialogs, share of sampled dialogs kept). A sampled dialog is kept when every answer follows
    its instruction; it gives one dialog per turn k of `instruction_first(...)`, cut after the k-th answer. Train
    with the loss on the last answer only."""
    out, kept = [], 0
    for dialog, instruction, users in zip(sampled, instructions, conversations):
        answers = [m["content"] for m in dialog[1::2]]
        if not answers or not all(instruction.follows(a) for a in answers):
            continue
        kept += 1
        clean = instruction_first(dialog, instruction, users)
        out += [clean[:1 + 2 * k] for k in range(1, len(answers) + 1)]
    return out, kept / max(1, len(sampled))


def instruction_tune(model, tokenizer, world, n: int = 2000, steps: int = 500, lr: float = 1e-4, seed: int = 0,
                     multi_turn: int = 0):
    """Step 1: a copy of `model` fine-tuned on `instruction_dialogs` (loss on every answer). Returns (model,
    losses)."""
    return train.finetune_on_dialogs(model, tokenizer, instruction_dialogs(world, n, seed, multi_turn), steps=steps,
                                     lr=lr, seed=seed)


def train_gatt(model, tokenizer, world, n_dialogs: int = 1200, turns: int = 4, steps: int = 300, lr: float = 1e-4,
               seed: int = 0, log=print) -> tuple[object, dict]:
    """Steps 2-4 from an instruction-tuned `model`: (the GAtt model, {"kept": share of sampled dialogs kept,
    "examples": number of training dialogs, "losses": per step})."""
    instructions = sample_instructions("train", n_dialogs, seed=100 + seed)
    conversations = user_turns(world, n_dialogs, turns, "train", seed=seed)
    sampled = sample_gatt_dialogs(model, tokenizer, instructions, conversations)
    gatt, kept = gatt_training_dialogs(sampled, instructions, conversations)
    log(f"GAtt: {kept:.1%} of {n_dialogs} sampled dialogs followed the instruction on every turn; "
        f"{len(gatt)} training dialogs")
    example = {"sampled": sampled[0], "trained": gatt[turns - 1] if len(gatt) >= turns else []}
    if not gatt:  # the model follows no instruction on every turn yet: nothing to learn from, nothing changed
        log("GAtt: no training dialogs, the model is left as it was (instruction-tune it longer first)")
        return model, {"kept": kept, "examples": 0, "losses": [], "example": example}
    replay = instruction_dialogs(world, max(1, len(gatt) // 4), seed=10 + seed)  # half of it the world's own chats
    dialogs = gatt + replay
    model, losses = train.finetune_on_dialogs(model, tokenizer, dialogs, steps=steps, lr=lr, seed=seed,
                                              last_answer_only=[True] * len(gatt) + [False] * len(replay))
    return model, {"kept": kept, "examples": len(gatt), "losses": losses, "example": example}


def instruction_kept(model, tokenizer, world, n: int = 96, turns: int = 5, seed: int = 0, max_new_tokens: int = 40,
                     instructions: str = "eval") -> dict:
    """Instructions of a split ("eval": held out; "train": those GAtt trained with) as the system prompt of n
    dialogs of `turns` held-out fact questions, answered greedily.

    {"kept": share of answers following the instruction at turn 1..N, "by_kind": the same per kind, "facts": share
    of answers right at each turn, "n": answers at each turn (a dialog stops where the context is full),
    "dialogs": the dialogs}."""
    given = sample_instructions(instructions, n, seed=200 + seed)
    conversations = user_turns(world, n, turns, "eval", seed=seed)
    dialogs = answer_turns(model, tokenizer, [[{"role": "system", "content": i.text}] for i in given],
                           conversations, max_new_tokens)
    answers_of = {q["question"]: q["answer"] for q in tinyworld.fact_questions(world, "eval")}
    kept, right, by_kind = [[] for _ in range(turns)], [[] for _ in range(turns)], {}
    for dialog, instruction in zip(dialogs, given):
        for t, (user, answer) in enumerate(zip(dialog[1::2], dialog[2::2])):
            follows = instruction.follows(answer["content"])
            kept[t].append(follows)
            right[t].append(answer_is_correct(answer["content"], answers_of[user["content"]]))
            by_kind.setdefault(instruction.kind, [[] for _ in range(turns)])[t].append(follows)

    def shares(rows):
        return [sum(r) / len(r) if r else float("nan") for r in rows]

    return {"kept": shares(kept), "by_kind": {k: shares(v) for k, v in sorted(by_kind.items())},
            "facts": shares(right), "n": [len(r) for r in kept], "dialogs": dialogs}


@torch.no_grad()
def attention_by_turn(model, tokenizer, dialogs: Sequence[list[dict]]) -> dict:
    """The attention each answer's first position pays to the system prompt, by turn, averaged over the dialogs
    (and over layers and heads): {"attention": [...], "share": the system prompt's share of the visible tokens}."""
    per_turn: dict[int, list[tuple[float, float]]] = {}
    for dialog in progress(dialogs, "attention by turn", unit="dialog"):
        result = system_prompt_attention(model, tokenizer, dialog)
        for t, pair in enumerate(zip(result["attention"], result["share"])):
            per_turn.setdefault(t, []).append(pair)
    turns = sorted(per_turn)
    return {"attention": [sum(a for a, _ in per_turn[t]) / len(per_turn[t]) for t in turns],
            "share": [sum(s for _, s in per_turn[t]) / len(per_turn[t]) for t in turns]}


def attention_along(model, tokenizer, dialog: Sequence[list[dict]]) -> dict:
    """For one dialog: at every position, the attention paid to the system prompt (mean over layers and heads), and
    where each turn's answer starts: the paper's Figure 10 reads the same from attention maps."""
    encoded, to_system = attention_to_system(model, tokenizer, dialog)
    return {"attention": [round(float(x), 4) for x in to_system], "answers": list(encoded["answer_positions"]),
            "roles": encoded["roles"]}
