"""Fixtures of the action tests: a seeded demo store (real SQLite), real Trackers and dispatchers."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import settings as action_settings
from shop.demo_data import load_catalog, seed_demo_store
from shop.demo_store import DemoOrderStore

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 24, 12, 0)
OWNER = "c0001"


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "template.db"
    template = DemoOrderStore.from_url(f"sqlite:///{path}", clock=lambda: NOW)
    seed_demo_store(template, n_orders=400, seed=7, now=NOW)
    template.close()
    return path


@pytest.fixture()
def store(seeded_template: Path, tmp_path: Path) -> DemoOrderStore:
    """A private copy of the seeded store (tests change addresses, file returns ...); its clock is NOW."""
    path = tmp_path / "orders.db"
    shutil.copy(seeded_template, path)
    return DemoOrderStore.from_url(f"sqlite:///{path}", clock=lambda: NOW)


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    """The real bot domain (forms, slots and responses)."""
    with open(ROOT / "bot" / "domain.yml", encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


@pytest.fixture()
def kb_disabled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run without the knowledge base (configuration switch KEFU_ACTIONS_KB_ENABLED=false)."""
    monkeypatch.setenv("KEFU_ACTIONS_KB_ENABLED", "false")
    action_settings.get_settings.cache_clear()
    yield
    action_settings.get_settings.cache_clear()


def find_order(store: DemoOrderStore, customer: str, status: str, *, index: int = 0) -> str:
    orders = [o for o in store.find_orders(customer_id=customer, limit=50) if o.status == status]
    return orders[index].order_id


def user_event(text: str, intent: str, *, entities: list[dict[str, Any]] | None = None,
               metadata: dict[str, Any] | None = None, ranking: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    parse = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities or [],
             "intent_ranking": ranking or [{"name": intent, "confidence": 0.9}]}
    return {"event": "user", "text": text, "parse_data": parse, "metadata": metadata or {}}


def make_tracker(
    text: str,
    intent: str,
    *,
    slots: dict[str, Any] | None = None,
    customer: str | None = OWNER,
    sentiment: str | None = None,
    entities: list[dict[str, Any]] | None = None,
    history: list[dict[str, Any]] | None = None,
    after_user: list[dict[str, Any]] | None = None,
    ranking: list[dict[str, Any]] | None = None,
    active_loop: str | None = None,
    sender_id: str = "web-session-1",
) -> Tracker:
    """A real Tracker whose latest message is ``text``; ``history`` are earlier events, ``after_user`` events
    that follow the latest user event (e.g. SlotSet from slot mappings, for form validation)."""
    metadata: dict[str, Any] = {"channel": "web", "conversation_id": "conv-1"}
    if customer is not None:
        metadata["customer_id"] = customer
    if sentiment is not None:
        metadata["sentiment"] = {"label": sentiment, "score": 0.9}
    latest = user_event(text, intent, entities=entities, metadata=metadata, ranking=ranking)
    events = [*(history or []), latest, *(after_user or [])]
    latest_message = {**latest["parse_data"], "metadata": metadata}
    return Tracker(
        sender_id=sender_id,
        slots=dict(slots or {}),
        latest_message=latest_message,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )


def run_action(action: Action, tracker: Tracker, domain: dict[str, Any]) -> tuple[list[dict[str, Any]],
                                                                                  list[dict[str, Any]]]:
    """Run an action like the action server does; returns (events, dispatcher.messages)."""
    dispatcher = CollectingDispatcher()
    result = action.run(dispatcher, tracker, domain)
    events = asyncio.run(result) if asyncio.iscoroutine(result) else result
    return list(events), dispatcher.messages


def responses(messages: list[dict[str, Any]]) -> list[str]:
    return [m["response"] for m in messages if m.get("response")]


def customs(messages: list[dict[str, Any]], kind: str | None = None) -> list[dict[str, Any]]:
    found = [m["custom"] for m in messages if m.get("custom")]
    return [c for c in found if kind is None or c.get("kefu") == kind]


def slot_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def run_validator(action: Action, domain: dict[str, Any], text: str, slot: str, value: Any, *,
                  history: list[dict[str, Any]] | None = None, **slots: Any) -> tuple[dict[str, Any],
                                                                                     list[dict[str, Any]]]:
    """Run a form's validator the way the form does: the slot candidate arrives as a trailing SlotSet event.
    Returns (the slots it set, the messages it sent)."""
    form = action.name().removeprefix("validate_")
    tracker = make_tracker(text, "inform", slots={**slots, slot: value, "requested_slot": slot}, history=history,
                           after_user=[{"event": "slot", "name": slot, "value": value, "timestamp": None}],
                           active_loop=form)
    events, messages = run_action(action, tracker, domain)
    return slot_events(events), messages


def delivered_order(store: DemoOrderStore, customer: str, *, within_period: bool) -> str:
    """A signed-for order of ``customer`` still inside (or already outside) its return period at NOW."""
    days = {p.name: p.return_days for p in load_catalog()}
    for order in store.find_orders(customer_id=customer, limit=100):
        if order.status != "已签收" or order.delivered_at is None:
            continue
        period = timedelta(days=min(days[i.product] for i in order.items))
        if (NOW - order.delivered_at <= period) == within_period:
            return order.order_id
    raise LookupError(f"no delivered order of {customer} with within_period={within_period}")
