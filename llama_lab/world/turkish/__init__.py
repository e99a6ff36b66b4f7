"""The tiny world in Turkish: Turkish morphology as explicit rules (morphology.py: vowel harmony, softening,
assimilation, buffer letters, cases, possessives, verbs), the world's words and templates in Turkish (vocabulary.py)
and its facts, questions, answers, refusals and "I don't know" replies rendered with them, parallel to the English
(renderings.py), every kind of the world's pretraining documents (world_documents.py: stories, biographies, town
notes, Q&A pages, rumours, kind and unkind scenes, each written from the English document's own draws), profiles and
question lists about its people (documents.py), and the judge of replies in Turkish (judge.py: refusals, "I don't
know", right answers, answers on topic).

Example: fact_sentence(build_world(0), "Ada", "town") -> "Ada Applebury'da yaşıyor."
"""

from .judge import answer_is_correct_tr, is_decline_tr, is_on_topic_tr, is_refusal_tr
from .morphology import (CASES, capitalize, four_way, infinitive_case, past, possessive, present_continuous, soften,
                         suffix, two_way)
from .renderings import (NotRenderedError, fact_sentence, i_dont_know, parallel_dialogs, parallel_exchanges, refusal,
                         turkish_dialog, turkish_exchange, turkish_fact_questions, turkish_facts,
                         turkish_request_items)
from .vocabulary import (BENIGN_ACTIONS_TR, COLOURS_TR, FACT_ANSWERS_TR, FACT_QUESTIONS_TR, FOODS_TR, HOBBIES_TR,
                         JOBS_TR, OUT_OF_WORLD_ANSWERS_TR, PETS_TR, PLACES_TR)
from .world_documents import (every_document_sentence, parallel_world_documents, turkish_biography,
                              turkish_qa_page, turkish_rumour_page, turkish_scene, turkish_story, turkish_town_note)

__all__ = ["CASES", "capitalize", "four_way", "infinitive_case", "past", "possessive", "present_continuous", "soften",
           "suffix", "two_way", "BENIGN_ACTIONS_TR", "COLOURS_TR", "FACT_ANSWERS_TR", "FACT_QUESTIONS_TR", "FOODS_TR",
           "HOBBIES_TR", "JOBS_TR", "NotRenderedError", "OUT_OF_WORLD_ANSWERS_TR", "PETS_TR", "PLACES_TR",
           "fact_sentence", "i_dont_know", "parallel_dialogs", "parallel_exchanges", "refusal", "turkish_dialog",
           "turkish_exchange", "turkish_fact_questions", "turkish_facts", "turkish_request_items",
           "answer_is_correct_tr", "is_decline_tr", "is_on_topic_tr", "is_refusal_tr", "every_document_sentence",
           "parallel_world_documents", "turkish_biography", "turkish_qa_page", "turkish_rumour_page", "turkish_scene",
           "turkish_story", "turkish_town_note"]
