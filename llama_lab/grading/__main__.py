"""`python -m llama_lab.grading`, published as `python -m llama_lab.grade`: the autograder's command line
(engine/cli.py), run through llama_lab/grade.py, which says what to install when the lab extra is missing."""

from ..grade import main

if __name__ == "__main__":
    main()
