"""The tiny world in Turkish: Turkish morphology as explicit rules (morphology.py: vowel harmony, softening,
assimilation, buffer letters, cases, possessives, verbs), the world's words and templates in Turkish (vocabulary.py)
and its facts, questions, answers, refusals and "I don't know" replies rendered with them, parallel to the English
(renderings.py).

Example: fact_sentence(build_world(0), "Ada", "town") -> "Ada Applebury'da yaşıyor."
"""

from .morphology import (CASES, capitalize, four_way, infinitive_case, past, possessive, present_continuous, soften,
                         suffix, two_way)
from .renderings import (NotRenderedError, fact_sentence, i_dont_know, parallel_dialogs, parallel_exchanges, refusal,
                         turkish_dialog, turkish_exchange, turkish_fact_questions, turkish_facts)
from .vocabulary import (COLOURS_TR, FACT_ANSWERS_TR, FACT_QUESTIONS_TR, FOODS_TR, HOBBIES_TR, JOBS_TR,
                         OUT_OF_WORLD_ANSWERS_TR, PETS_TR, PLACES_TR)
from .world_documents import (every_document_sentence, parallel_world_documents, turkish_biography,  # noqa: F401
                              turkish_qa_page, turkish_rumour_page, turkish_scene, turkish_story, turkish_town_note)

__all__ = ["CASES", "capitalize", "four_way", "infinitive_case", "past", "possessive", "present_continuous", "soften",
           "suffix", "two_way", "COLOURS_TR", "FACT_ANSWERS_TR", "FACT_QUESTIONS_TR", "FOODS_TR", "HOBBIES_TR",
           "JOBS_TR", "NotRenderedError", "OUT_OF_WORLD_ANSWERS_TR", "PETS_TR", "PLACES_TR", "fact_sentence",
           "i_dont_know", "parallel_dialogs", "parallel_exchanges", "refusal", "turkish_dialog", "turkish_exchange",
           "turkish_fact_questions", "turkish_facts"]
