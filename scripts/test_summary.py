"""The summary at the end of `make test`: one line per phase (unit tests, notebooks, browser), read from the JUnit
reports pytest wrote (`--junitxml`), then the total time.

    python scripts/test_summary.py "unit tests=REPORTS/unit.xml" "notebooks=REPORTS/notebooks.xml" ...

prints, for example (made-up figures),

    unit tests  700 passed, 24 skipped  6 min 12 s
    notebooks   300 passed              3 min 40 s
    browser     1 failed                0 min 31 s
                  failed: tests.test_browser::test_the_playground_renders
    all         1001 passed, 24 skipped, 1 failed in 10 min 23 s

and exits with status 1 when a test failed or errored, or a phase wrote no report (it did not run to the end).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

OUTCOMES = ("passed", "skipped", "failed", "errors")


@dataclass
class Phase:
    name: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    seconds: float = 0.0
    failed_tests: list[str] = field(default_factory=list)  # "failed: NODE" or "error: NODE"
    reported: bool = True


def read_report(name: str, path: Path) -> Phase:
    """Count a JUnit report's test cases by outcome, as pytest's own summary counts them: an error in a test's set-up
    is an error only; an error in its teardown is an error beside the test's own outcome."""
    phase = Phase(name)
    if not path.is_file():
        phase.reported = False
        return phase
    root = ElementTree.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for suite in suites:
        phase.seconds += float(suite.get("time", 0))
        for case in suite.iter("testcase"):
            errors = case.findall("error")
            phase.counts["errors"] += len(errors)
            if case.find("failure") is not None:
                phase.counts["failed"] += 1
            elif case.find("skipped") is not None:
                phase.counts["skipped"] += 1
            elif all(error.get("message", "").startswith("failed on teardown") for error in errors):
                phase.counts["passed"] += 1  # passed, even if its teardown then failed (counted as an error)
            if case.find("failure") is not None or errors:
                kind = "failed" if case.find("failure") is not None else "error"
                phase.failed_tests.append(f"{kind}: {case.get('classname')}::{case.get('name')}")
    return phase


def counts_text(counts: dict[str, int]) -> str:
    parts = [f"{n} {'error' if outcome == 'errors' and n == 1 else outcome}" for outcome, n in counts.items() if n]
    return ", ".join(parts) or "no tests"


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {round(seconds % 60):02d} s"


def summary(phases: list[Phase]) -> str:
    rows = []
    for phase in phases:
        if not phase.reported:
            rows.append((phase.name, "no report: this phase stopped before its end (see its output above)", ""))
        else:
            rows.append((phase.name, counts_text(phase.counts), minutes(phase.seconds)))
    total = {outcome: sum(phase.counts[outcome] for phase in phases) for outcome in OUTCOMES}
    rows.append(("all", f"{counts_text(total)} in {minutes(sum(phase.seconds for phase in phases))}", ""))
    name_width = max(len(name) for name, _, _ in rows)
    text_width = max(len(text) for _, text, time in rows if time)
    lines = []
    for (name, text, time), phase in zip(rows, [*phases, None]):
        lines.append(f"{name:<{name_width}}  {text:<{text_width}}  {time}".rstrip())
        for test in phase.failed_tests if phase else []:
            lines.append(f"{'':<{name_width}}    {test}")
    rule = "=" * max(len(line) for line in lines)
    return "\n".join([rule, "make test: summary", *lines, rule])


def main(arguments: list[str]) -> int:
    if not arguments or any("=" not in argument for argument in arguments):
        print('error: give each phase as NAME=REPORT.xml, e.g. "unit tests=.venv/test-reports/unit.xml"',
              file=sys.stderr)
        return 2
    phases = [read_report(name, Path(path)) for name, path in (a.split("=", 1) for a in arguments)]
    print(summary(phases))
    broken = any(not p.reported or p.counts["failed"] or p.counts["errors"] for p in phases)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
