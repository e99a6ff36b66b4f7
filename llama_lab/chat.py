"""The Llama-2-chat format: how a dialog becomes token ids, exactly as Meta's `chat_completion` builds them.

A dialog is a list of {"role": "system" | "user" | "assistant", "content": str}. An optional system message
comes first and is folded into the first user message between <<SYS>> tags. Each finished exchange is
`<s>[INST] user [/INST] answer </s>`; the last user message is left open for the model to answer:

    <s>[INST] <<SYS>>\\n{system}\\n<</SYS>>\\n\\n{user 1} [/INST] {answer 1} </s><s>[INST] {user 2} [/INST]

Every message is stripped of surrounding whitespace. Messages that contain the tags themselves are reported
(Meta answers them with UNSAFE_ERROR rather than letting a user forge a system prompt). The template is written
out here alone (`turn_parts`); everything else that needs a turn's text asks for it (`turn_text`). For
transformers, `HF_CHAT_TEMPLATE` writes the same rules in Jinja, as Hugging Face's Llama 2 chat tokenizers do.
`encode_dialog_with_roles` labels each id with the part of the dialog it came from (system, user, assistant or
the format itself), for readers of attention such as Ghost Attention's.
"""

from __future__ import annotations

import json
from typing import Sequence

B_INST, E_INST = "[INST]", "[/INST]"
B_SYS, E_SYS = "<<SYS>>\n", "\n<</SYS>>\n\n"
SPECIAL_TAGS = [B_INST, E_INST, "<<SYS>>", "<</SYS>>"]
UNSAFE_ERROR = "Error: special tags are not allowed as part of the prompt."

# The template Hugging Face's Llama 2 chat tokenizers carry (tokenizer_config.json's "chat_template", which
# `tokenizer.apply_chat_template` renders), with the tags above; save_model puts it in every Hugging Face export.
# It writes BOS and EOS as the text "<s>" and "</s>", and the export reads a typed "<s>" as text, as SentencePiece
# does, so for chat load the tokenizer with split_special_tokens=False. Then the ids are encode_dialog's: each
# exchange "<s>[INST] {user} [/INST] {answer} </s>", the system prompt folded into the first user message, the folded
# message and each answer stripped. Where it parts from Meta's rules (tests/engine/test_hf_chat_template.py checks each):
# - "<s>" or "</s>" typed in a message become BOS and EOS, unless apply_chat_template is given
#   sanitize_control_tokens=True; then they are text, but tokenized apart from the text around them (Llama 2's
#   tokenizer writes " <s>" as "▁<" "s" ">", the sanitized template as "▁" "<" "s" ">");
# - a message holding [INST] or <<SYS>> is formatted like any text, where Meta answers UNSAFE_ERROR;
# - a dialog may end on an answer, written whole and closed by EOS (encode_dialog_for_training's ids), and
#   add_generation_prompt adds nothing; a system message alone renders as nothing.
HF_CHAT_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}"
    "{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
    "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    f"{{% set content = {json.dumps(B_SYS)} + system_message + {json.dumps(E_SYS)} + message['content'] %}}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}"
    f"{{{{ bos_token + {json.dumps(B_INST + ' ')} + content.strip() + {json.dumps(' ' + E_INST)} }}}}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}"
    "{% endfor %}"
)


def _folded_parts(system: str, user: str) -> list[tuple[str, str]]:
    """A system prompt folded into the first user message, as (role, text) parts (Meta's `chat_completion`)."""
    return [("format", B_SYS), ("system", system), ("format", E_SYS), ("user", user)]


def system_prompt_text(system: str, user: str) -> str:
    """The first user message with the system prompt folded into it.

    Example: system_prompt_text("S", "U") -> "<<SYS>>\nS\n<</SYS>>\n\nU"
    """
    return "".join(text for _, text in _folded_parts(system, user))


def turn_parts(user: str, answer: str | None = None, system: str | None = None) -> list[tuple[str, str]]:
    """One exchange of the template as (role, text) parts, in order; joined, they are its text between BOS and EOS.

    Roles: "format" (the tags and the spaces around them), "system", "user", "assistant". Messages are stripped;
    a system prompt (first exchange only) is folded in as `fold_system_prompt` does. Without an answer the text
    ends at "[/INST]", where the model starts its reply.

    Example: turn_parts("Hi", "Hello") -> [("format", "[INST] "), ("user", "Hi"), ("format", " [/INST]"),
                                            ("format", " "), ("assistant", "Hello"), ("format", " ")]
    """
    if system is None:
        message = [("user", user.strip())]
    else:  # Meta strips the folded message as a whole: <<SYS>> opens it, so only its end loses whitespace
        message = _folded_parts(system, user)
        while not message[-1][1].rstrip():  # a user message of spaces is dropped, and E_SYS loses its newlines
            message.pop()
        message[-1] = (message[-1][0], message[-1][1].rstrip())
    parts = [("format", f"{B_INST} "), *message, ("format", f" {E_INST}")]
    if answer is not None:
        parts += [("format", " "), ("assistant", answer.strip()), ("format", " ")]
    return parts


def turn_text(user: str, answer: str | None = None, system: str | None = None) -> str:
    """One exchange's text between its BOS and EOS: "[INST] {user} [/INST] {answer} ", or, while the answer is still
    to come, "[INST] {user} [/INST]". (`turn_parts` joined.)"""
    return "".join(text for _, text in turn_parts(user, answer, system))


def _check_messages(dialog: Sequence[dict]) -> None:
    if isinstance(dialog, (str, dict)) or not isinstance(dialog, Sequence):
        raise ValueError(f"the dialog is a {type(dialog).__name__}: give a list of messages, e.g. "
                         "[{'role': 'user', 'content': 'Where does Ada live?'}]")
    if not dialog:
        raise ValueError("the dialog is empty: give at least one {'role': 'user', 'content': ...} message")
    for i, message in enumerate(dialog):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise ValueError(f"message {i} is {message!r}: each message is a dict with 'role' and 'content'")
        if message["role"] not in ("system", "user", "assistant"):
            raise ValueError(f"message {i} has role {message['role']!r}: use 'system', 'user' or 'assistant'")
        if not isinstance(message["content"], str):
            content = message["content"]
            raise ValueError(f"message {i}'s content is {content!r} ({type(content).__name__}), not a str")


def special_tags_in(dialog: Sequence[dict]) -> list[str]:
    """The special tags ([INST], <<SYS>>, ...) that appear inside any message's content."""
    _check_messages(dialog)
    return [tag for tag in SPECIAL_TAGS if any(tag in message["content"] for message in dialog)]


def fold_system_prompt(dialog: Sequence[dict]) -> list[dict]:
    """Merge a leading system message into the first user message, and check the roles alternate."""
    _check_messages(dialog)
    dialog = list(dialog)
    if dialog[0]["role"] == "system":
        if len(dialog) < 2:
            raise ValueError("a system message must be followed by a user message")
        dialog = [{"role": dialog[1]["role"],
                   "content": system_prompt_text(dialog[0]["content"], dialog[1]["content"])}] + dialog[2:]
    for i, message in enumerate(dialog):
        expected = "user" if i % 2 == 0 else "assistant"
        if message["role"] != expected:
            raise ValueError(f"roles must alternate user/assistant (after an optional first system message): "
                             f"message {i} (after folding the system prompt) is {message['role']!r}, "
                             f"expected {expected!r}")
    return dialog


def encode_dialog(tokenizer, dialog: Sequence[dict]) -> list[int]:
    """Token ids of a dialog that ends on a user message, ready for the model to write the assistant's reply."""
    dialog = fold_system_prompt(dialog)
    if dialog[-1]["role"] != "user":
        raise ValueError("the dialog must end with a user message: the model writes the assistant's reply")
    ids: list[int] = []
    for prompt, answer in zip(dialog[:-1:2], dialog[1::2]):
        ids += tokenizer.encode(turn_text(prompt["content"], answer["content"]), bos=True, eos=True)
    ids += tokenizer.encode(turn_text(dialog[-1]["content"]), bos=True, eos=False)
    return ids


def encode_dialog_for_training(tokenizer, dialog: Sequence[dict]) -> tuple[list[int], list[bool]]:
    """Ids of a dialog that ends on an assistant message, and a mask that is True on the assistant's tokens.

    The mask marks the tokens the model should learn to produce (each answer and its closing EOS), so chat
    fine-tuning puts its loss on the assistant alone. The ids equal `encode_dialog` of the dialog up to
    its last user message, followed by the reply and EOS.
    """
    dialog = fold_system_prompt(dialog)
    if dialog[-1]["role"] != "assistant":
        raise ValueError("a training dialog must end with the assistant's reply")
    ids: list[int] = []
    is_answer: list[bool] = []
    for prompt, answer in zip(dialog[::2], dialog[1::2]):
        question = tokenizer.encode(turn_text(prompt["content"]), bos=True, eos=False)
        # Encoding the exchange as one string (as encode_dialog does) and as two halves gives the same ids
        # because SentencePiece starts the reply with "▁": check it rather than assume it.
        whole = tokenizer.encode(turn_text(prompt["content"], answer["content"]), bos=True, eos=True)
        if whole[:len(question)] != question:
            raise ValueError(f"the prompt's ids change when its answer follows: {prompt['content']!r}")
        ids += whole
        is_answer += [False] * len(question) + [True] * (len(whole) - len(question))
    return ids, is_answer


def _token_spans(tokenizer, text: str, bos: bool, eos: bool) -> tuple[list[int], list[tuple[int, int]]]:
    """Ids of `text` and each id's (start, end) character span in it (BOS/EOS get empty spans)."""
    proto = tokenizer.sp_model.encode(text, return_type="proto")
    ids = [p.id for p in proto.pieces]
    spans = [(p.begin, p.end) for p in proto.pieces]
    if bos:
        ids, spans = [tokenizer.bos_id] + ids, [(0, 0)] + spans
    if eos:
        ids, spans = ids + [tokenizer.eos_id], spans + [(len(text), len(text))]
    return ids, spans


def encode_dialog_with_roles(tokenizer, dialog: Sequence[dict]) -> dict:
    """A dialog's ids, each labelled with where it came from.

    Returns {"ids": exactly `encode_dialog(tokenizer, dialog)` (or, for a dialog that ends with the assistant,
    the ids of `encode_dialog_for_training`), "roles": per id "system", "user", "assistant" or
    "format" ([INST], <<SYS>>, BOS, EOS and the spaces between), "turns": per id its exchange number (0-based),
    "answer_positions": per exchange the index of the last token of its [/INST], where the model decides how to
    answer}.
    """
    fold_system_prompt(dialog)  # checks the roles
    system = dialog[0]["content"] if dialog[0]["role"] == "system" else None
    messages = list(dialog[1:] if system is not None else dialog)
    ids, roles, turn_of, answer_positions = [], [], [], []
    for k in range(0, len(messages), 2):
        user = messages[k]["content"]
        answer = messages[k + 1]["content"] if k + 1 < len(messages) else None
        parts = turn_parts(user, answer, system if k == 0 else None)  # [(role, text)], in the text's order
        text = "".join(part for _, part in parts)
        pieces, spans = _token_spans(tokenizer, text, bos=True, eos=answer is not None)
        inst_end = len(turn_text(user, system=system if k == 0 else None))  # the character after "[/INST]"
        regions, start = [], 0  # (role, first character, end) of each message
        for role, part in parts:
            if role != "format":
                regions.append((role, start, start + len(part)))
            start += len(part)
        for begin, end in spans:
            roles.append(next((name for name, a, b in regions if begin < b and end > a), "format"))
        answer_positions.append(len(ids) + max(i for i, (a, b) in enumerate(spans) if a < inst_end <= b))
        ids += pieces
        turn_of += [k // 2] * len(pieces)
    whole = (encode_dialog if dialog[-1]["role"] == "user" else encode_dialog_for_training)(tokenizer, dialog)
    if ids != (whole if dialog[-1]["role"] == "user" else whole[0]):  # piece-wise must equal whole: check it
        raise ValueError("the dialog's ids differ when encoded turn by turn; report this dialog as a bug")
    return {"ids": ids, "roles": roles, "turns": turn_of, "answer_positions": answer_positions}


def chat(model, tokenizer, dialog: Sequence[dict], max_new_tokens: int = 256, temperature: float = 0.6,
         top_p: float = 0.9, **options) -> str:
    """The assistant's reply to a dialog that ends with a user message.

    As in Meta's `chat_completion`, a dialog whose messages contain the special tags gets UNSAFE_ERROR
    instead of a reply.
    """
    from .generate import generate_tokens  # the format sits above the sampler: import it only when chatting

    if special_tags_in(dialog):
        return UNSAFE_ERROR
    prompt = encode_dialog(tokenizer, dialog)
    options.setdefault("eos_id", tokenizer.eos_id)
    [reply] = generate_tokens(model, [prompt], max_new_tokens, temperature=temperature, top_p=top_p, **options)
    return tokenizer.decode(reply).strip()
