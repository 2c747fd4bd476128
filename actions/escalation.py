"""When and how a conversation goes to a human: skill, priority, the handoff payload, consecutive failures.

Used by the handoff / complaint / fallback actions, the FAQ action (repeated declines) and the return action
(refund disputes).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet

from actions.context import best_real_intent, earlier_intents, latest_intent, latest_text, sentiment_label, slot_text
from actions.payloads import MAX_PRIORITY, SKILLS, FallbackPayload, HandoffPayload, HandoffReason, Skill
from actions.products import get_product_recognizer

SKILLS_PATH = Path(__file__).resolve().parent / "data" / "skills.yml"
FALLBACK_COUNT_SLOT = "fallback_count"
# actions that end a turn without helping the shopper; two such turns in a row go to a human
FAILURE_ACTIONS = frozenset({"action_default_fallback", "action_faq_answer"})
FAILURES_BEFORE_HANDOFF = 2

BASE_PRIORITY: dict[HandoffReason, int] = {
    "complaint": 5,
    "refund_dispute": 3,
    "order_problem": 2,
    "request_human": 1,
    "fallback": 1,
    "faq_decline": 1,
}
SENTIMENT_BONUS = {"angry": 4}


@lru_cache
def _skill_rules(path: Path = SKILLS_PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


def _as_skill(name: object) -> Skill | None:
    for skill in SKILLS:
        if name == skill:
            return skill
    return None


def skill_for(
    *,
    intent: str | None,
    faq_category: str | None = None,
    text: str = "",
    product_mentioned: bool = False,
    earlier: Iterable[str] = (),
) -> Skill:
    """The agent skill for a handoff: intent, then FAQ category, message keywords, product, earlier intents."""
    rules = _skill_rules()
    by_intent: dict[str, str] = rules["intents"]
    if intent and (skill := _as_skill(by_intent.get(intent))):
        return skill
    if faq_category and (skill := _as_skill(rules["faq_categories"].get(faq_category, faq_category))):
        return skill
    keywords: dict[str, list[str]] = rules["keywords"]
    for name, words in keywords.items():
        if any(word in text for word in words) and (skill := _as_skill(name)):
            return skill
    if product_mentioned:
        return "product"
    for previous in earlier:
        if skill := _as_skill(by_intent.get(previous)):
            return skill
    return "general"


def priority_for(reason: HandoffReason, sentiment: str | None) -> int:
    """Complaint 5, refund dispute 3, plain request 1; an angry shopper +4; capped at 10."""
    return min(MAX_PRIORITY, BASE_PRIORITY[reason] + SENTIMENT_BONUS.get(sentiment or "", 0))


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
    if skill is None:
        text = latest_text(tracker)
        skill = skill_for(
            intent=effective,
            faq_category=faq_category,
            text=text,
            product_mentioned=get_product_recognizer().first(text) is not None,
            earlier=earlier_intents(tracker),
        )
    return HandoffPayload(
        kefu="handoff",
        skill=skill,
        priority=priority_for(reason, sentiment_label(tracker)),
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
