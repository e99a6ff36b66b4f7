"""`python -m llama_lab.bench` (what `make bench` runs): the command line is in cli.py."""

from .cli import main

if __name__ == "__main__":
    main()
