"""`python -m llama_lab.bench` (what `make bench` runs): the code is in __init__.py."""

from . import main

if __name__ == "__main__":
    main()
