"""`python -m llama_lab.train` (and `torchrun -m llama_lab.train`): the command line in cli.py."""

from .cli import main

main()
