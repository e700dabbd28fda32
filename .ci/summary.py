"""Prints the one line `.ci/run` ends with: `N passed, N failed` over every suite it ran.

Counts pytest's JUnit XML reports (one per storage variant) and the Vitest tests and browser
scenarios that tests/frontend ran inside pytest (JSON lines they append to the counts file).
A variant that never ran adds nothing. A report missing after its phase started (pytest died)
and a failed phase outside the suites (lint) count as one failure each, so the line never reads
"0 failed" for a run that broke."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def pytest_counts(report: Path) -> tuple[int, int]:
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = failed = skipped = 0
    for suite in suites:
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return tests - failed - skipped, failed


def main(reports_dir: Path, exit_status: int) -> str:
    passed = failed = 0
    for started in sorted(reports_dir.glob("*.started")):
        report = started.with_suffix(".xml")
        if not report.exists():
            failed += 1
            continue
        p, f = pytest_counts(report)
        passed, failed = passed + p, failed + f
    counts = reports_dir / "counts.jsonl"
    if counts.exists():
        for line in counts.read_text().splitlines():
            entry = json.loads(line)
            passed += int(entry["passed"])
            failed += int(entry["failed"])
    # A phase that failed outside any suite (setup, lint) still fails the line.
    if exit_status and not failed:
        failed = 1
    return f"{passed} passed, {failed} failed"


if __name__ == "__main__":
    print(main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0))
