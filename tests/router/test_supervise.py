"""The ``ready`` process: how long `make run` took to become healthy (issue 15)."""

from __future__ import annotations

import pytest

from router.supervise import since_make_started


def test_time_since_make_started(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_MAKE_START", "1000")
    assert since_make_started(now=1000 + 9 * 60 + 5.7) == " (9:05 after `make run` started)"
    monkeypatch.setenv("KEFU_MAKE_START", "not a time")
    assert since_make_started(now=2000) == ""
    monkeypatch.delenv("KEFU_MAKE_START")
    assert since_make_started() == ""
