from collections import defaultdict

import pytest

from support import llama2_tokenizer_file, small_model


@pytest.fixture
def llama2_tokenizer():
    """Llama 2's own tokenizer.model, where the user's settings say it is (never copied into the repository)."""
    from llama_lab import Tokenizer
    return Tokenizer(llama2_tokenizer_file())


@pytest.fixture
def model():
    return small_model()


def skips_by_reason(skipped_reports) -> dict[str, list[str]]:
    """{reason: [test file, ...]} of the skipped tests, in order of first appearance (one file per skipped test)."""
    by_reason: dict[str, list[str]] = defaultdict(list)
    for report in skipped_reports:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        by_reason[reason.removeprefix("Skipped: ")].append(report.nodeid.split("::")[0])
    return dict(by_reason)


def skip_line(reason: str, files: list[str]) -> str:
    """One line for every test skipped for one reason: how many, in which files, why.

    Example: skip_line("no GPU", ["a.py", "b.py", "a.py"]) -> "SKIPPED [3] no GPU (a.py, b.py)"
    """
    names = list(dict.fromkeys(files))
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more files" if len(names) > 3 else "")
    return f"SKIPPED [{len(files)}] {reason} ({shown})"


def pytest_terminal_summary(terminalreporter):
    """With -rs (in -ra, the project's default), one line per reason a test was skipped, however many tests and
    files share it. pytest's own -rs folds skips only when they come from the same line of the same file, so the
    tests that wait for Llama 2's tokenizer took a line each."""
    reporter = terminalreporter
    skipped = reporter.stats.get("skipped", [])
    if "s" not in reporter.reportchars or not skipped:
        return
    reporter.reportchars = reporter.reportchars.replace("s", "")  # pytest's own lines, one per location, go
    reporter.write_sep("=", "skipped tests, one line per reason")
    for reason, files in skips_by_reason(skipped).items():
        reporter.write_line(skip_line(reason, files))
