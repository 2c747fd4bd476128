"""Client for the Rasa server: REST channel webhook, pause/resume and tracker reads (HTTP API with a token)."""

from __future__ import annotations

from typing import Any, TypedDict, cast

import httpx


class RasaUnavailable(Exception):
    """The Rasa server (or the action server behind it) did not answer in time or answered with an error."""

    def __init__(self, *, url: str, reason: str) -> None:
        super().__init__(f"Rasa at {url} unavailable: {reason}")
        self.url = url
        self.reason = reason


class RasaMessage(TypedDict, total=False):
    recipient_id: str
    text: str
    buttons: list[dict[str, Any]]
    image: str
    custom: dict[str, Any]


class RasaClient:
    """Async calls to one Rasa server; one pooled HTTP client per process."""

    def __init__(self, *, base_url: str, token: str, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=httpx.Timeout(timeout_s, connect=2.0))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, *, sender: str, text: str, metadata: dict[str, Any]) -> list[RasaMessage]:
        """Post one shopper message to the REST channel and return the bot's messages."""
        body = {"sender": sender, "message": text, "metadata": metadata}
        try:
            resp = await self._http.post("/webhooks/rest/webhook", json=body)
        except httpx.HTTPError as exc:
            raise RasaUnavailable(url=self.base_url, reason=type(exc).__name__) from exc
        if resp.status_code != 200:
            raise RasaUnavailable(url=self.base_url, reason=f"HTTP {resp.status_code}")
        data = resp.json()
        if not isinstance(data, list):
            raise RasaUnavailable(url=self.base_url, reason="unexpected webhook answer")
        return [cast(RasaMessage, m) for m in data if isinstance(m, dict)]

    async def append_events(self, sender: str, events: list[dict[str, Any]]) -> None:
        try:
            resp = await self._http.post(
                f"/conversations/{sender}/tracker/events",
                params={"token": self.token, "include_events": "NONE"},
                json=events,
            )
        except httpx.HTTPError as exc:
            raise RasaUnavailable(url=self.base_url, reason=type(exc).__name__) from exc
        if resp.status_code != 200:
            raise RasaUnavailable(url=self.base_url, reason=f"HTTP {resp.status_code}")

    async def pause(self, sender: str) -> None:
        await self.append_events(sender, [{"event": "pause"}])

    async def resume(self, sender: str) -> None:
        await self.append_events(sender, [{"event": "resume"}, {"event": "slot", "name": "fallback_count", "value": 0}])

    async def tracker(self, sender: str) -> dict[str, Any]:
        try:
            resp = await self._http.get(
                f"/conversations/{sender}/tracker", params={"token": self.token, "include_events": "ALL"}
            )
        except httpx.HTTPError as exc:
            raise RasaUnavailable(url=self.base_url, reason=type(exc).__name__) from exc
        if resp.status_code != 200:
            raise RasaUnavailable(url=self.base_url, reason=f"HTTP {resp.status_code}")
        result: dict[str, Any] = resp.json()
        return result


def nlu_summary(tracker: dict[str, Any]) -> dict[str, Any]:
    """Intents and entities the bot detected in a conversation, newest last (context for the agent)."""
    intents: list[dict[str, Any]] = []
    entities: dict[str, str] = {}
    for event in tracker.get("events", []):
        if event.get("event") != "user":
            continue
        parse = event.get("parse_data") or {}
        intent = parse.get("intent") or {}
        if intent.get("name"):
            intents.append(
                {"text": event.get("text"), "intent": intent["name"], "confidence": intent.get("confidence")}
            )
        for ent in parse.get("entities") or []:
            if ent.get("entity") and ent.get("value") is not None:
                entities[str(ent["entity"])] = str(ent["value"])
    slots = {k: v for k, v in (tracker.get("slots") or {}).items() if v not in (None, "", [], 0, 0.0)}
    return {"intents": intents[-10:], "entities": entities, "slots": slots}
