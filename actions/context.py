"""Reading the conversation: who the shopper is, how they feel, what they asked (shared by every action)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from actions.payloads import MessageMetadata, SentimentLabel

FALLBACK_INTENT = "nlu_fallback"
SENTIMENT_LABELS: tuple[SentimentLabel, ...] = ("angry", "negative", "neutral", "positive")


def metadata(tracker: Tracker) -> MessageMetadata:
    """The gateway's metadata of the latest message (empty when absent or malformed)."""
    meta = (tracker.latest_message or {}).get("metadata")
    return meta if isinstance(meta, dict) else {}  # type: ignore[return-value]


def customer_id(tracker: Tracker) -> str:
    """The logged-in shopper (``metadata.customer_id``); falls back to the conversation's sender id."""
    value = metadata(tracker).get("customer_id")
    return str(value) if value else str(tracker.sender_id)


def sentiment_label(tracker: Tracker) -> SentimentLabel | None:
    sentiment: Any = metadata(tracker).get("sentiment")
    if isinstance(sentiment, dict) and sentiment.get("label") in SENTIMENT_LABELS:
        label: SentimentLabel = sentiment["label"]
        return label
    return None


def latest_text(tracker: Tracker) -> str:
    return str((tracker.latest_message or {}).get("text") or "")


def latest_intent(tracker: Tracker) -> str:
    intent = (tracker.latest_message or {}).get("intent") or {}
    return str(intent.get("name") or "")


def best_real_intent(tracker: Tracker) -> str | None:
    """The best-ranked intent other than ``nlu_fallback`` of the latest message (what the NLU half believed)."""
    for item in (tracker.latest_message or {}).get("intent_ranking") or []:
        name = item.get("name")
        if name and name != FALLBACK_INTENT:
            return str(name)
    return None


def earlier_intents(tracker: Tracker) -> list[str]:
    """Intents of the previous user messages, most recent first (the latest message excluded)."""
    users = [e for e in tracker.events if e.get("event") == "user"]
    names: list[str] = []
    for event in reversed(users[:-1]):
        name = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if name:
            names.append(str(name))
    return names


def slot_text(tracker: Tracker, name: str) -> str | None:
    value = tracker.get_slot(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def events_since_user(tracker: Tracker) -> list[dict[str, Any]]:
    """The events of the current turn (after the latest user message)."""
    events = list(tracker.events)
    for i in range(len(events) - 1, -1, -1):
        if events[i].get("event") == "user":
            return events[i + 1 :]
    return events


def utter_action(event: dict[str, Any]) -> str | None:
    """The response a bot event came from (``metadata.utter_action``), if any."""
    meta = event.get("metadata") or {}
    name = meta.get("utter_action") if isinstance(meta, dict) else None
    return str(name) if name else None


SET_ASIDE_PREFIX = "utter_park_"  # the responses with which a form that lost the shopper's attention lets go
ADDRESS_REFUSED_RESPONSE = "utter_address_change_refused"  # also said by the address form when it ends early
RETURN_REFUSED_RESPONSE = "utter_return_refused"  # also said by the return form when it ends early


def set_aside_this_turn(tracker: Tracker) -> bool:
    """Whether a form ended early in this turn: it let go of the shopper, or found that the request cannot be met
    (its final action, which the form's completion rule runs next, then has nothing to do or say)."""
    for event in events_since_user(tracker):
        name = utter_action(event) if event.get("event") == "bot" else None
        if name and (name.startswith(SET_ASIDE_PREFIX) or name in (ADDRESS_REFUSED_RESPONSE, RETURN_REFUSED_RESPONSE)):
            return True
    return False
