"""Where a request's time went, as a ``Server-Timing`` response header (W3C Server Timing).

Browsers' developer tools show it, and the load bench reads it to split a slow reply into its stages: ``lock``
(waiting for the customer's previous message on this replica), ``db`` (every transaction of the request; ``pool`` is
the part spent waiting for a worker thread, ``sentiment`` the check inside the storing transaction), ``bot`` (the
Rasa server and the action server behind it) and ``app`` (the whole request inside the router). A stage that runs
twice in one request is summed. Only durations are sent, never a name or a text.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_stages: ContextVar[dict[str, float] | None] = ContextVar("kefu_server_timing", default=None)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as ``name`` for the current request's header (nothing outside a request)."""
    stages = _stages.get()
    if stages is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        stages[name] = stages.get(name, 0.0) + (time.perf_counter() - start) * 1000


def add(name: str, ms: float) -> None:
    """Add ``ms`` to the stage ``name`` of the current request (also from a worker thread that copied the context)."""
    stages = _stages.get()
    if stages is not None:
        stages[name] = stages.get(name, 0.0) + ms


def header_value(stages: dict[str, float]) -> str:
    return ", ".join(f"{name};dur={ms:.1f}" for name, ms in stages.items())


def parse(value: str) -> dict[str, float]:
    """``"bot;dur=12.5, app;dur=20.1"`` -> ``{"bot": 12.5, "app": 20.1}`` (entries without a duration are skipped)."""
    out: dict[str, float] = {}
    for entry in value.split(","):
        name, _, params = entry.strip().partition(";")
        for param in params.split(";"):
            key, _, number = param.strip().partition("=")
            if key == "dur" and name:
                with contextlib.suppress(ValueError):
                    out[name] = float(number)
    return out


class ServerTiming:
    """ASGI middleware: collects the stages of each HTTP request and sends them with the response's headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        stages: dict[str, float] = {}
        token = _stages.set(stages)
        start = time.perf_counter()

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                stages["app"] = (time.perf_counter() - start) * 1000
                headers = list(message.get("headers") or [])
                headers.append((b"server-timing", header_value(stages).encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_timing)
        finally:
            _stages.reset(token)
