"""The ``ready`` process of the Procfile: waits for every service's health check, prints the URLs, then idles.

honcho (``make run``) starts it next to the Rasa server, the action server and the router; when any process exits, or on
Ctrl-C, honcho stops all of them. This process exits non-zero if a service does not come up in time, which makes honcho
stop the others instead of leaving a half-started system behind.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Check:
    name: str
    url: str


def _checks() -> list[Check]:
    rasa = os.environ.get("KEFU_RASA_PORT", "5005")
    actions = os.environ.get("KEFU_ACTIONS_PORT", "5055")
    router = os.environ.get("KEFU_ROUTER_PORT", "8000")
    return [
        Check("Rasa server", f"http://127.0.0.1:{rasa}/"),
        Check("action server", f"http://127.0.0.1:{actions}/health"),
        Check("router / gateway", f"http://127.0.0.1:{router}/healthz"),
    ]


def wait_healthy(checks: list[Check], timeout_s: float) -> list[Check]:
    """Poll every check until it answers 200; return the ones still failing at the deadline."""
    pending = list(checks)
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        still = []
        for check in pending:
            try:
                ok = httpx.get(check.url, timeout=2.0).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                print(f"  ✓ {check.name} is up ({check.url})", flush=True)
            else:
                still.append(check)
        pending = still
        if pending:
            time.sleep(1.0)
    return pending


def since_make_started(now: float | None = None) -> str:
    """The time since ``make run`` started, as `` (m:ss after `make run` started)``; empty when the Makefile did not
    pass its start time (``KEFU_MAKE_START``)."""
    try:
        start = float(os.environ["KEFU_MAKE_START"])
    except (KeyError, ValueError):
        return ""
    elapsed = int((time.time() if now is None else now) - start)
    return f" ({elapsed // 60}:{elapsed % 60:02d} after `make run` started)"


def main() -> int:
    timeout = float(os.environ.get("KEFU_STARTUP_TIMEOUT_S", "240"))
    began = time.monotonic()
    failing = wait_healthy(_checks(), timeout)
    if failing:
        names = ", ".join(c.name for c in failing)
        print(f"kefu did not start: no health answer from {names} within {timeout:.0f} s", file=sys.stderr, flush=True)
        return 1
    base = f"http://127.0.0.1:{os.environ.get('KEFU_ROUTER_PORT', '8000')}"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\nkefu is up on loopback: healthy {time.monotonic() - began:.0f} s after the processes started"
        f"{since_make_started()}, load average {load}\n"
        f"  shopper chat        {base}/chat\n"
        f"  agent console       {base}/agent\n"
        f"  FAQ admin           {base}/admin/faq\n"
        f"  KPI dashboard       {base}/dashboard\n"
        f"  API docs (OpenAPI)  {base}/docs\n"
        f"  public message API  POST {base}/api/v1/messages\n"
        f"  signed-in demo shop {base}/chat?as=c0001\n"
        "Demo logins: agent1 / agent1-pass, content1 / content1-pass, supervisor1 / supervisor1-pass, "
        "admin1 / admin1-pass (callback settings)\n"
        "Demo channel keys and web identity secret: var/demo/channel_keys.json\n"
        "Press Ctrl-C to stop everything.\n",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
