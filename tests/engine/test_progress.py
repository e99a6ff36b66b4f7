"""Long work shows its progress: every stage of `make data` and of the RLHF pipeline ends with one line that says
what it made and how long it took, and a command echoes each option once. (The bars themselves are tqdm's, drawn
only on a terminal; their rendering is not tested here.)"""

import re

import pytest

from llama_lab.progress import count, duration, progress, summary
from llama_lab.world import build


def test_duration_reads_as_a_person_says_it():
    assert [duration(s) for s in (0.4, 42.0, 95.0, 4000.0)] == ["0 s", "42 s", "1.6 min", "1.1 h"]
    assert [count(n, "round") for n in (0, 1, 2, 1200)] == ["0 rounds", "1 round", "2 rounds", "1,200 rounds"]


def test_a_summary_is_one_line_on_stderr_and_a_bar_changes_nothing(capsys):
    assert list(progress(iter(range(5)), "counting", total=5)) == [0, 1, 2, 3, 4]
    line = summary("pairs", "40 training and 24 held-out comparisons", 95.0)
    captured = capsys.readouterr()
    assert line == "pairs: 40 training and 24 held-out comparisons (1.6 min)"
    assert captured.err == line + "\n" and captured.out == ""  # stderr is no terminal here: no bar drawn


def test_an_overridden_option_is_given_once():
    command = ["--steps", "1800", "--lr", "2e-3", "--warmup", "100", "--stage", "pretrain"]
    assert build.with_steps(command, 40) == ["--steps", "40", "--lr", "2e-3", "--warmup", "4", "--stage", "pretrain"]
    assert build.with_steps(command, None) == command
    assert build.with_option(["--lr", "2e-3"], "--steps", 5) == ["--lr", "2e-3", "--steps", "5"]
    for argv in [build.with_steps([*build.MODEL, *build.PRETRAIN], 40),
                 *(build.with_steps(hyper, 8) for _, hyper, _ in build.LATER_ROUND_TRAINING)]:
        flags = [a for a in argv if a.startswith("--")]
        assert len(flags) == len(set(flags)), argv
        assert argv[argv.index("--steps") + 1] in ("40", "8")


def test_the_corpus_stage_ends_with_what_it_wrote(tmp_path, capsys):
    written = build.tinyworld.write_corpus(tmp_path, 0, n_train_docs=30, n_val_docs=5, n_train_chat=20,
                                           n_val_chat=4, n_train_chat_round_two=6, n_val_chat_round_two=2)
    line = summary("1. the tiny world", build.corpus_summary(written["counts"]), written["seconds"])
    assert line.startswith("1. the tiny world: 35 documents, 32 chat dialogs, ")
    assert re.search(r"\d+ held-out sets \(\d+ s\)$", line)
    assert capsys.readouterr().err.strip() == line


def test_an_rlhf_stage_ends_with_a_summary_line(tmp_path, capsys):
    """The comparisons stage at the smallest settings; every stage ends through the same `Pipeline._timed`."""
    from dataclasses import replace

    from llama_lab.rlhf import pipeline

    lines = []
    run = pipeline.Pipeline(tmp_path, replace(pipeline.QUICK, train_prompts=12, eval_prompts=8), log=lines.append)
    run.run(["pairs"])
    [line] = capsys.readouterr().err.strip().splitlines()
    pairs = run.results["pairs"]
    assert re.fullmatch(rf"pairs: {pairs['train']['n']} training and {pairs['eval']['n']} held-out comparisons "
                        r"\(\d+(\.\d)? (s|min)\)", line), line
    assert pairs["train"]["n"] > 0 and lines == []  # a stage run fresh logs nothing else


def test_a_rejection_sampling_round_reads_as_a_sentence():
    from llama_lab.rlhf.rejection import round_line

    record = {"round": 2, "best": 0.7452, "median": 0.7111, "kept": 1600, "final_loss": 0.41234}
    assert round_line(record) == ("round 2: mean best reward 0.745, mean median 0.711; fine-tuned on the 1,600 best "
                                  "replies so far (final loss 0.412)")
