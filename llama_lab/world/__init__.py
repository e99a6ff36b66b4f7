"""The tiny world and its models, a layer on the engine (llama_lab/): the world's generators, gathered in
tinyworld.py (the world in world.py, template filling in templates.py and contexts.py, pretraining documents in
documents.py, what users ask and how the assistant answers in intents.py, chat dialogs in dialogs.py, the held-out
sets in heldout.py, the grammar's checker in grammar.py, the files on disk in corpus.py), its phrasing families
(phrasing.py), its vocabulary and templates (vocabulary.py), `make data` (build.py: `python -m
llama_lab.world.build`), evaluation and the model cards (evaluate.py), the shipped tiny models (tiny.py), and the
who's-who of its people, towns and words (whoswho.py: `python -m llama_lab.world.whoswho` writes docs/world.md).
The world in Turkish, beside the English it was trained on: turkish/ (Turkish morphology as rules, and the facts,
questions, answers, refusals and "I don't know" replies rendered with them).
"""

from .tiny import load_tiny

__all__ = ["load_tiny"]
