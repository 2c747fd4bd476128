"""No test skips on a bare clone except for a missing public data set (issue 15).

``make test`` builds every artifact and starts every service the suite needs before pytest runs, so a test that
skipped because one is missing would hide a broken build. Such tests fail instead (``tests/artifacts.py``); only
``tests.datasets.needs_datasets`` may skip, for the public data sets a user's clone does not have.
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ALLOWED = {TESTS / "datasets.py"}
# known defects kept visible as non-strict xfail (they run every time; the issue note says what is open), by file
KNOWN_DEFECTS = {
    TESTS / "router" / "web" / "test_dialogue.py": "mark.xfail",
}
SKIP = re.compile(r"\b(pytest\.skip\(|skipif\(|importorskip\(|mark\.skip\b|mark\.xfail\b|unittest\.skip)")


def test_only_the_data_set_marker_skips() -> None:
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{n}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        if path not in ALLOWED and path != Path(__file__).resolve()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SKIP.search(line) and KNOWN_DEFECTS.get(path) not in line
    ]
    assert not offenders, "tests that skip (use tests.artifacts or tests.datasets.needs_datasets):\n" + "\n".join(
        offenders)
