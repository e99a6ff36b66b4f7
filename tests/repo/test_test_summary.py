"""`make test`'s output, checked on small pytest runs: skips folded into one line per reason (tests/conftest.py), and
the summary of the phases read back from pytest's JUnit reports (scripts/test_summary.py)."""

import os
import subprocess
import sys

from support import REPO

SUMMARY = REPO / "scripts" / "test_summary.py"

# a conftest that takes the kit's skip-folding hook and nothing else from tests/conftest.py
HOOK_ONLY = f"""
import importlib.util, sys
sys.path.insert(0, {str(REPO / "tests")!r})
spec = importlib.util.spec_from_file_location("kit_tests_conftest", {str(REPO / "tests" / "conftest.py")!r})
kit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kit)
pytest_terminal_summary = kit.pytest_terminal_summary
"""

SKIPPING = """
import pytest

def needs_tokenizer():
    pytest.skip("no tokenizer: set TOKENIZER")

def test_a():
    needs_tokenizer()

def test_b():
    pytest.skip("no tokenizer: set TOKENIZER")

@pytest.mark.parametrize("i", range(3))
def test_c(i):
    needs_tokenizer()

def test_d():
    pytest.skip("no GPU")

def test_e():
    assert 1 + 1 == 2
"""

MORE_SKIPPING = """
import pytest

@pytest.fixture
def tokenizer():
    pytest.skip("no tokenizer: set TOKENIZER")

def test_f(tokenizer):
    pass
"""

FAILING = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("set-up fails")

def test_passes():
    pass

def test_fails():
    assert 1 == 2

def test_errors(broken):
    pass

def test_skips():
    pytest.skip("later")
"""


def run_pytest(folder, *options) -> subprocess.CompletedProcess:
    """pytest on `folder` alone, without the plugins installed beside it (nbval, hypothesis, ...: seconds each)."""
    return subprocess.run([sys.executable, "-m", "pytest", str(folder), "-p", "no:cacheprovider", *options],
                          capture_output=True, text=True, cwd=folder, timeout=300,
                          env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})


def test_skips_for_one_reason_take_one_line(tmp_path):
    (tmp_path / "conftest.py").write_text(HOOK_ONLY)
    (tmp_path / "test_one.py").write_text(SKIPPING)
    (tmp_path / "test_two.py").write_text(MORE_SKIPPING)
    done = run_pytest(tmp_path, "-ra")
    assert done.returncode == 0, done.stdout + done.stderr
    skip_lines = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skip_lines == ["SKIPPED [6] no tokenizer: set TOKENIZER (test_one.py, test_two.py)",
                          "SKIPPED [1] no GPU (test_one.py)"], done.stdout
    assert "1 passed, 7 skipped" in done.stdout
    # pytest's own lines are one per place the skip came from: three here for the one reason
    (tmp_path / "conftest.py").unlink()
    plain = run_pytest(tmp_path, "-ra").stdout
    assert sum(line.startswith("SKIPPED") and "no tokenizer" in line for line in plain.splitlines()) == 3, plain


def test_without_rs_no_skip_lines(tmp_path):
    (tmp_path / "conftest.py").write_text(HOOK_ONLY)
    (tmp_path / "test_one.py").write_text(SKIPPING)
    done = run_pytest(tmp_path, "-rf")
    assert "SKIPPED" not in done.stdout and "1 passed, 6 skipped" in done.stdout


def summarize(*phases) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SUMMARY), *phases], capture_output=True, text=True, timeout=60)


def test_the_summary_counts_each_phase_as_pytest_does(tmp_path):
    for name, source in [("unit", SKIPPING), ("notebooks", FAILING)]:
        (tmp_path / name).mkdir()
        (tmp_path / name / f"test_{name}.py").write_text(source)
        run_pytest(tmp_path / name, f"--junitxml={tmp_path / name}.xml")
    pytest_says = run_pytest(tmp_path / "notebooks").stdout.splitlines()[-1]
    assert "1 failed, 1 passed, 1 skipped, 1 error" in pytest_says

    done = summarize(f"unit tests={tmp_path / 'unit.xml'}", f"notebooks={tmp_path / 'notebooks.xml'}")
    assert done.returncode == 1, done.stdout + done.stderr  # a test failed
    lines = done.stdout.splitlines()
    unit = next(line for line in lines if line.startswith("unit tests"))
    notebooks = next(line for line in lines if line.startswith("notebooks"))
    total = next(line for line in lines if line.startswith("all"))
    assert "1 passed, 6 skipped" in unit and "failed" not in unit and "error" not in unit
    assert "1 passed, 1 skipped, 1 failed, 1 error" in notebooks
    below = lines[lines.index(notebooks) + 1:lines.index(notebooks) + 3]  # the tests that failed, under their phase
    assert [line.strip() for line in below] == ["failed: test_notebooks::test_fails",
                                                "error: test_notebooks::test_errors"]
    assert "2 passed, 7 skipped, 1 failed, 1 error in " in total and " min " in total

    passing = summarize(f"unit tests={tmp_path / 'unit.xml'}")
    assert passing.returncode == 0 and "1 passed, 6 skipped" in passing.stdout


def test_a_phase_without_a_report_fails_the_summary(tmp_path):
    (tmp_path / "unit").mkdir()
    (tmp_path / "unit" / "test_unit.py").write_text(SKIPPING)
    run_pytest(tmp_path / "unit", f"--junitxml={tmp_path / 'unit.xml'}")
    done = summarize(f"unit tests={tmp_path / 'unit.xml'}", f"browser={tmp_path / 'browser.xml'}")
    assert done.returncode == 1
    assert any(line.startswith("browser") and "no report" in line for line in done.stdout.splitlines())


def test_a_malformed_call_is_one_line_and_status_2():
    done = summarize("unit.xml")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
