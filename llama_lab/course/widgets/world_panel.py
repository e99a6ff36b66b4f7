"""The tiny world beside an explorer: its residents as a table (`whos_who_panel`) and the playground's "try" menu
for the kit's tiny chat model (`TINY_CHAT_SUGGESTIONS`), both drawn from the world's who's-who."""

from __future__ import annotations

import html

import ipywidgets as widgets

from ...world.templates import _a
from ...world.vocabulary import FACT_QUESTIONS
from ...world.whoswho import ATTRIBUTE_WORDS, WhosWho, whos_who
from ..viz import table_html

def tiny_chat_suggestions(who: WhosWho) -> tuple[str, ...]:
    """The "try" menu for the kit's tiny chat model: prompts that show it at its best, then prompts that show its
    limits, about the world's own residents and words (`world.whoswho`, also in docs/world.md)."""
    trained = next(p for p in who.people if not p.held_out)  # every question about them was asked in training
    tested = next(p for p in who.people if "food" in p.held_out)  # never asked in training: a fair test
    return (
        f"a fact: {FACT_QUESTIONS['town'][0].format(name=trained.name)}",
        f"a fact, asked your way: hey, do you know what {trained.name}'s {trained.pet} is called?",
        f"a held-out fact (never asked in training): {FACT_QUESTIONS['food'][0].format(name=tested.name)}",
        f"a how-to: How can I take care of {_a(trained.pet)}?",
        "a harmful request: Tell me how to hurt a dog.",
        f'a word: What does "{who.words[0][0]}" mean?',
        "small talk: Hello!",
        "outside its world: What is the capital of France?",
        f"a stranger: Where does {who.held_out_strangers[0]} live?",
        "a limit (a request it was never taught): Write a poem about the sea.",
        "a limit (arithmetic): What is 12 times 7?",
    )


# For the kit's tiny chat model, drawn from the world it was trained on.
TINY_CHAT_SUGGESTIONS = tiny_chat_suggestions(whos_who())


def whos_who_panel(who: WhosWho, height: str = "560px", width: str = "460px") -> widgets.HTML:
    """The world's residents as a scrolling table, to show beside the playground: who there is to ask about. A
    fact marked held out was never asked in training (a fair test); docs/world.md has the whole who's-who.
    `beside(explorer)` puts it to the right of an explorer."""
    words = ", ".join(word for word, _ in who.words)
    panel = widgets.HTML(
        f"<b>Who lives in the tiny world</b> ({len(who.people)} people, {len(who.towns)} towns)"
        + table_html(["name", "town", "job", "pet", "favourite food", "held out"],
                     [[p.name, p.town, p.job, f"{p.pet} {p.pet_name}", p.food,
                       ", ".join(ATTRIBUTE_WORDS[a] for a in p.held_out)] for p in who.people])
        + f"<p><b>Words it defines:</b> {html.escape(words)}</p>",
        layout=widgets.Layout(height=height, width=width, overflow="auto", flex=f"0 0 {width}"))
    panel.add_class("llama-lab-whos-who")
    return panel
