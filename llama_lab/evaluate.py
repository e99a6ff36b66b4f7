"""`python -m llama_lab.evaluate`: every figure of the kit's tiny base and chat models, on the tiny world's held-out
pairs and held-out phrasings (the measures themselves are in `llama_lab/world/evaluate.py`).

    python -m llama_lab.evaluate                  # print the figures (about 2 minutes on 2 CPU cores)
    python -m llama_lab.evaluate --write-cards    # and put them into data/tiny-*/MODEL_CARD.md
"""

from .world.evaluate import main

if __name__ == "__main__":
    main()
