"""When and how a conversation goes to a human: the handoff payload (skill and priority from the one escalation
policy, knowledge_base/escalation.py), consecutive failures.

Used by the handoff / complaint / fallback actions, the FAQ action (repeated declines) and the return action
(refund disputes).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet

from actions.context import (
    best_real_intent,
    earlier_intents,
    latest_intent,
    latest_text,
    metadata,
    sentiment_label,
    slot_text,
)
from actions.payloads import SKILLS, FallbackPayload, HandoffPayload, HandoffReason, Skill
from actions.products import get_product_recognizer
from knowledge_base.escalation import Feeling, decide

FALLBACK_COUNT_SLOT = "fallback_count"
# actions that end a turn without helping the shopper; two such turns in a row go to a human
FAILURE_ACTIONS = frozenset({"action_default_fallback", "action_faq_answer"})
FAILURES_BEFORE_HANDOFF = 2


def _as_skill(name: str) -> Skill:
    """The policy's skill as a payload skill; the bot does not know VIP status, so "vip" never comes back here."""
    for skill in SKILLS:
        if name == skill:
            return skill
    return "general"


def latest_feeling(tracker: Tracker) -> Feeling | None:
    """The sentiment the gateway measured for the latest message (``metadata.sentiment``), if any."""
    label = sentiment_label(tracker)
    if label is None:
        return None
    sentiment: Any = metadata(tracker).get("sentiment")

    def number(key: str) -> float:
        try:
            return float(sentiment.get(key) or 0.0)
        except (TypeError, ValueError):
            return 0.0

    return Feeling(label=label, anger=number("anger"), polarity=number("polarity"))


def build_handoff(
    tracker: Tracker,
    reason: HandoffReason,
    *,
    faq_category: str | None = None,
    order_id: str | None = None,
    skill: Skill | None = None,
) -> HandoffPayload:
    """The ``{"kefu": "handoff", ...}`` payload for the latest message of ``tracker``."""
    intent = latest_intent(tracker)
    effective = intent if intent and intent != "nlu_fallback" else (best_real_intent(tracker) or intent)
    text = latest_text(tracker)
    feeling = latest_feeling(tracker)
    decision = decide(
        reason=reason,
        skill=skill,
        intent=effective,
        faq_category=faq_category,
        text=text,
        product_mentioned=skill is None and get_product_recognizer().first(text) is not None,
        earlier_intents=earlier_intents(tracker),
        feelings=[feeling] if feeling else [],
    )
    return HandoffPayload(
        kefu="handoff",
        skill=_as_skill(decision.skill),
        priority=decision.priority,
        reason=reason,
        order_id=order_id or slot_text(tracker, "order_id"),
        intent=intent or "unknown",
    )


def handoff_events() -> list[EventType]:
    """After a handoff: the failure streak is over and the bot stays silent until the agent closes."""
    return [SlotSet(FALLBACK_COUNT_SLOT, 0.0), ConversationPaused()]


def previous_failures(tracker: Tracker) -> int:
    """How many turns in a row before the latest message ended in a failure (fallback / FAQ decline).

    The count lives in slot ``fallback_count``; it only carries over if the previous user turn was handled by a
    failure-capable action, so a turn answered by a plain response (e.g. a greeting) breaks the streak.
    """
    users = [i for i, e in enumerate(tracker.events) if e.get("event") == "user"]
    if len(users) < 2:
        return 0
    between = tracker.events[users[-2] + 1 : users[-1]]
    if not any(e.get("event") == "action" and e.get("name") in FAILURE_ACTIONS for e in between):
        return 0
    value = tracker.get_slot(FALLBACK_COUNT_SLOT)
    try:
        return max(0, int(float(value or 0)))
    except (TypeError, ValueError):
        return 0


def fallback_payload(count: int) -> FallbackPayload:
    return FallbackPayload(kefu="fallback", count=count)
