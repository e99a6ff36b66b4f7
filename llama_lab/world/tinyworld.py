"""The tiny world: every word our tiny Llama 2 ever reads, made from a seed. This module gathers its public names
in one place (`from llama_lab.world import tinyworld`) and runs the corpus writer from the command line.

Nothing is downloaded. `build_world(seed)` invents a small world (towns, ~60 people with a job, a pet, a favourite
food, colour and hobby, a best friend) and a handful of *misconceptions* bound to it ("owls in Applebury can talk").
Everything else is text written about that world by one small grammar:

    build_world(seed) -> World -> pretraining_documents  (stories, biographies, Q&A, rumours + truths, kind/unkind)
                               -> chat_dialogs           (helpful answers and refusals, Llama-2-chat roles)
                               -> fact_questions, harmful_requests, benign_requests, truthfulness_items,
                                  toxicity_examples, toxicity_prompts, out_of_world_questions,
                                  held_out_phrasings                      (held-out evaluation sets)

The idea of a synthetic corpus of simple stories for very small models comes from TinyStories (Eldan and Li, 2023);
the world, its facts and its held-out splits are what make it usable for *evaluation*: we know every true answer.

Where each part lives (each module's docstring says more):
    world.py        the World (people, towns, misconceptions) and `build_world`
    templates.py    filling a template; contexts.py: the slot values a text about the world may use
    documents.py    pretraining documents
    intents.py      what a user asks, how it is put into words and how the assistant answers
    dialogs.py      chat dialogs and their rounds
    heldout.py      the held-out evaluation sets, and how every split follows from the seed
    grammar.py      sentences and the grammar's checker (`is_grammatical`)
    corpus.py       writing every file (`write_corpus`; `python -m llama_lab.world.tinyworld --out data/world`)
The vocabulary and the templates are in vocabulary.py, the phrasing families in phrasing.py. Same seed, same bytes.
"""

from __future__ import annotations

from .contexts import fact_context
from .corpus import (N_TRAIN_CHAT, N_TRAIN_DOCS, N_VAL_CHAT, N_VAL_DOCS, eval_files, main, read_documents,
                     write_corpus, write_jsonl)
from .dialogs import (CHAT_WEIGHTS, LATER_ROUNDS, ROUND_THREE_WEIGHTS, ROUND_TWO_WEIGHTS, chat_dialogs,
                      chat_dialogs_round, chat_items)
from .documents import biography, pretraining_documents, remark_pairs
from .grammar import is_grammatical, sentence_templates, split_sentences, template_pattern
from .heldout import (benign_requests, fact_questions, harmful_requests, held_out_phrasings, out_of_world_questions,
                      request_items, toxicity_examples, toxicity_prompts, truthfulness_items)
from .intents import asked_as, other_items, phrased_as, request_pairs, training_pools
from .phrasing import INTENTS, STYLES, held_out_families
from .templates import fill
from .vocabulary import (FACT_ANSWERS, FACT_QUESTIONS, FACT_WORDINGS, JOBS, NAMES, PETS, REFUSAL_OPENINGS,
                         SYSTEM_PROMPTS, TOWN_NAMES, WORDS)
from .world import ATTRIBUTES, Character, DEFAULT_SEED, Misconception, Town, World, build_world

__all__ = [
    # the world
    "ATTRIBUTES", "DEFAULT_SEED", "Character", "Misconception", "Town", "World", "build_world",
    # filling a template
    "fill", "fact_context",
    # the text written about it
    "pretraining_documents", "biography", "remark_pairs", "training_pools", "request_pairs", "other_items",
    "phrased_as", "asked_as", "chat_dialogs", "chat_dialogs_round", "chat_items", "CHAT_WEIGHTS", "LATER_ROUNDS",
    "ROUND_TWO_WEIGHTS", "ROUND_THREE_WEIGHTS",
    # the held-out evaluation sets
    "fact_questions", "request_items", "harmful_requests", "benign_requests", "out_of_world_questions",
    "held_out_phrasings", "truthfulness_items", "toxicity_examples", "toxicity_prompts",
    # sentences and the grammar
    "split_sentences", "is_grammatical", "sentence_templates", "template_pattern",
    # the corpus on disk
    "read_documents", "eval_files", "write_corpus", "write_jsonl", "main", "N_TRAIN_DOCS", "N_VAL_DOCS", "N_TRAIN_CHAT",
    "N_VAL_CHAT",
    # the vocabulary and phrasing names read through this module
    "FACT_ANSWERS", "FACT_QUESTIONS", "FACT_WORDINGS", "JOBS", "NAMES", "PETS", "REFUSAL_OPENINGS", "SYSTEM_PROMPTS",
    "TOWN_NAMES", "WORDS", "INTENTS", "STYLES", "held_out_families",
]


if __name__ == "__main__":
    main()
