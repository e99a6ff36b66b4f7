"""The command line, `python -m llama_lab.train`: every TrainConfig field a flag, a mistake one line on stderr."""

from __future__ import annotations

import argparse
from dataclasses import fields

from ..checkpoint import CheckpointError
from ..cli import OneLineParser, one_line_errors
from .config import TrainConfig
from .loop import train

DESCRIPTION = "Training a Llama: pretraining on raw text, then chat fine-tuning on dialogs, with Llama 2's recipe."


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m llama_lab.train", description=DESCRIPTION)
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            kind = {"int": int, "float": float}.get(str(f.type).split(" ")[0], str)
            parser.add_argument(flag, type=_optional(kind), default=default)
    return parser


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    return TrainConfig(**vars(_parser().parse_args(argv)))


def _optional(kind):
    def parse(text: str):
        return None if text.lower() == "none" else kind(text)
    parse.__name__ = kind.__name__
    return parse


def main(argv: list[str] | None = None) -> dict:
    """The command line: train, or print a mistake in what it was given as one line and exit with status 2.

    The kit raises ValueError, FileNotFoundError and CheckpointError for what a learner gave it (a flag, a data
    file, --out, --resume), each message saying what was given and what to do: a traceback would bury it.
    """
    parser = _parser()
    config = parser.parse_args(argv)
    with one_line_errors(ValueError, CheckpointError, writing="give another --out"):
        return train(TrainConfig(**vars(config)))
