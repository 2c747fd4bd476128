"""Helpers of the browser tests (shared by the fixtures and the tests)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import httpx

from tests.procs import ROOT, Proc

# committed screenshots are refreshed on request only, so a test run never dirties the work tree
SCREENSHOTS = ROOT / ("docs" if os.environ.get("KEFU_UPDATE_SCREENSHOTS") else "var") / "screenshots"
PASSWORD = "web-test-pass-123"


@dataclass
class WebStack:
    url: str
    router: Proc
    http: httpx.Client
    credentials: dict[str, str]  # the shop's channel keys and web identity secret

    @property
    def backend(self) -> dict[str, str]:
        """Headers of the shop's backend (app channel key): reads any signed-in customer's state and history."""
        return {"X-Kefu-Channel-Key": self.credentials["app"]}

    def login(self, username: str) -> str:
        res = self.http.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert res.status_code == 200, res.text
        token: str = res.json()["access_token"]
        return token


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def login(page: Any, url: str, username: str) -> None:
    page.goto(url)
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")


def eventually(check: Any, timeout: float = 60, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value {last!r})")
