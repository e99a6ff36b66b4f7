"""The tiny world and its models, a layer on the engine (llama_lab/): the world's generators (tinyworld.py), its
vocabulary and templates (vocabulary.py), `make data` (build.py: `python -m llama_lab.world.build`), evaluation
and the model cards (evaluate.py), the shipped tiny models (tiny.py), and the who's-who of its people, towns and
words (whoswho.py: `python -m llama_lab.world.whoswho` writes docs/world.md).
"""

from .tiny import load_tiny

__all__ = ["load_tiny"]
