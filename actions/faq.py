"""FAQ answers from the knowledge base (``knowledge_base``): answer, clarify with buttons, or decline.

The knowledge base gets its say on every question the NLU cannot place: ``ask_faq`` (action_faq_answer),
``out_of_scope`` (action_out_of_scope: the out-of-scope reply only when the knowledge base declines too, so a topic
published today is reachable without retraining Rasa) and the low-confidence fallback (actions/handoff.py). A bare
topic word ("退货", "运费呢") gets buttons for its likely needs first, whichever intent the NLU gave it
(:func:`offer_topic`).

The KB is loaded once per process (``knowledge_base.get_knowledge_base()``); if it cannot be loaded the actions
say the service is busy instead of crashing, and retry loading after a pause.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.context import latest_text
from actions.escalation import (
    FAILURES_BEFORE_HANDOFF,
    FALLBACK_COUNT_SLOT,
    build_handoff,
    handoff_events,
    previous_failures,
)
from actions.payloads import FaqDecision, FaqPayload
from actions.settings import get_settings
from actions.topics import MAX_BUTTONS, ButtonSpec, bare_topic, faq_button, flow_button, flow_for_faq

if TYPE_CHECKING:
    from knowledge_base import KbAnswer, KnowledgeBase

logger = logging.getLogger(__name__)
RETRY_AFTER_S = 60.0
MAX_QUERY_CHARS = 500

_lock = threading.Lock()
_failed_at: float | None = None


def get_kb() -> KnowledgeBase | None:
    """The process-wide knowledge base, or ``None`` when disabled or not loadable right now (logged)."""
    global _failed_at
    if not get_settings().kb_enabled:
        return None
    with _lock:
        if _failed_at is not None and time.monotonic() - _failed_at < RETRY_AFTER_S:
            return None
        try:
            from knowledge_base import get_knowledge_base

            kb = get_knowledge_base()
        except Exception:  # any failure to load is an outage of the FAQ service, not a crash of the bot
            logger.exception("knowledge base unavailable; FAQ questions are declined for %.0f s", RETRY_AFTER_S)
            _failed_at = time.monotonic()
            return None
        _failed_at = None
        return kb


def _ask(text: str) -> KbAnswer | None:
    kb = get_kb()
    if kb is None:
        return None
    try:
        return kb.ask(text[:MAX_QUERY_CHARS])
    except Exception:
        logger.exception("knowledge base query failed")
        return None


async def ask_kb(text: str) -> KbAnswer | None:
    """Ask the KB off the event loop; ``None`` for an empty text or when the KB is unavailable."""
    if not text or not text.strip():
        return None
    return await asyncio.to_thread(_ask, text)


def faq_payload(decision: FaqDecision, *, faq_id: str | None, score: float, alternatives: list[str]) -> FaqPayload:
    return FaqPayload(kefu="faq", decision=decision, faq_id=faq_id, score=round(float(score), 4),
                      alternatives=alternatives)


def send_clarify(dispatcher: CollectingDispatcher, answer: KbAnswer) -> None:
    """Send a ``clarify`` decision: "您是不是想问：" with the alternatives as buttons, plus the service flow that goes
    with the best of them when there is one (e.g. "我要办理退货/退款" beside the return how-to)."""
    buttons: list[ButtonSpec] = [faq_button(alt.id, alt.question) for alt in answer.alternatives]
    flow = next((f for alt in answer.alternatives if (f := flow_for_faq(alt.id))), None)
    if flow and (button := flow_button(flow)) is not None:
        buttons.append(button)
    dispatcher.utter_message(response="utter_faq_clarify", buttons=[dict(b) for b in buttons[: MAX_BUTTONS]])
    dispatcher.utter_message(json_message=faq_payload(
        "clarify", faq_id=answer.hit.id if answer.hit else None, score=answer.confidence,
        alternatives=[alt.id for alt in answer.alternatives]))


def offer_from_kb(dispatcher: CollectingDispatcher, answer: KbAnswer | None) -> bool:
    """Send the knowledge base's answer or clarification; False when it declined (or is unavailable)."""
    if answer is None:
        return False
    if answer.decision == "answer" and answer.hit is not None:
        send_answer(dispatcher, answer)
        return True
    if answer.decision == "clarify" and answer.alternatives:
        send_clarify(dispatcher, answer)
        return True
    return False


def send_answer(dispatcher: CollectingDispatcher, answer: KbAnswer) -> None:
    """Send an ``answer`` decision: the FAQ's answer text (user-facing corpus content) plus the faq payload."""
    assert answer.hit is not None
    dispatcher.utter_message(text=answer.hit.answer)
    dispatcher.utter_message(
        json_message=faq_payload("answer", faq_id=answer.hit.id, score=answer.confidence, alternatives=[])
    )


def _requested_faq_id(tracker: Tracker) -> str | None:
    """``faq_id`` from a clarification button (``/ask_faq{"faq_id": "refund_time"}``)."""
    for entity in (tracker.latest_message or {}).get("entities") or []:
        if entity.get("entity") == "faq_id" and entity.get("value"):
            return str(entity["value"])
    return None


class ActionFaqAnswer(Action):
    def name(self) -> str:
        return "action_faq_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        faq_id = _requested_faq_id(tracker)
        if faq_id is not None:
            return await self._answer_chosen(dispatcher, tracker, faq_id)
        if await offer_topic(dispatcher, latest_text(tracker)):
            return [SlotSet(FALLBACK_COUNT_SLOT, 0.0)]
        answer = await ask_kb(latest_text(tracker))
        if answer is None:
            dispatcher.utter_message(response="utter_service_unavailable" if latest_text(tracker).strip()
                                     else "utter_default")
            return []
        if offer_from_kb(dispatcher, answer):
            return [SlotSet(FALLBACK_COUNT_SLOT, 0.0)]
        return self._decline(dispatcher, tracker, answer.confidence)

    async def _answer_chosen(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, faq_id: str
    ) -> list[dict[str, Any]]:
        kb = await asyncio.to_thread(get_kb)
        entry = kb.entry(faq_id) if kb is not None else None
        if entry is None:
            # a stale button (entry deleted since) or an unavailable KB: fall back to searching the text
            if kb is None:
                dispatcher.utter_message(response="utter_service_unavailable")
                return []
            return self._decline(dispatcher, tracker, 0.0)
        dispatcher.utter_message(text=entry.answer)
        dispatcher.utter_message(json_message=faq_payload("answer", faq_id=entry.id, score=1.0, alternatives=[]))
        return [SlotSet(FALLBACK_COUNT_SLOT, 0.0)]

    def _decline(self, dispatcher: CollectingDispatcher, tracker: Tracker, score: float) -> list[dict[str, Any]]:
        """Not answerable: decline politely; a second failed turn in a row goes to a human."""
        dispatcher.utter_message(json_message=faq_payload("decline", faq_id=None, score=score, alternatives=[]))
        count = previous_failures(tracker) + 1
        if count >= FAILURES_BEFORE_HANDOFF:
            dispatcher.utter_message(response="utter_fallback_handoff")
            dispatcher.utter_message(json_message=build_handoff(tracker, "faq_decline"))
            return handoff_events()
        dispatcher.utter_message(response="utter_faq_decline")
        return [SlotSet(FALLBACK_COUNT_SLOT, float(count))]


class ActionOutOfScope(Action):
    """``out_of_scope``: the NLU never saw the topic, but the knowledge base may know it (an entry published after
    the last training); only when it declines too is the question out of scope."""

    def name(self) -> str:
        return "action_out_of_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        text = latest_text(tracker)
        if await offer_topic(dispatcher, text) or offer_from_kb(dispatcher, await ask_kb(text)):
            return [SlotSet(FALLBACK_COUNT_SLOT, 0.0)]
        dispatcher.utter_message(response="utter_out_of_scope")
        return []


async def offer_topic(dispatcher: CollectingDispatcher, text: str, *, with_flow: bool = True) -> bool:
    """A bare topic word ("退货", "发票？", "运费呢"): buttons for the 2-4 likely needs, the service flow first.

    The topic's own entries come from actions/data/topics.yml; the knowledge base's best matches fill up the rest.
    False (nothing sent) when ``text`` is not a bare topic word or there is too little to offer.
    """
    topic = bare_topic(text)
    if topic is None:
        return False
    kb = await asyncio.to_thread(get_kb)
    buttons: list[ButtonSpec] = []
    if with_flow and topic.flow and (flow := flow_button(topic.flow)) is not None:
        buttons.append(flow)
    chosen: list[str] = []
    for faq_id in topic.faqs:
        entry = kb.entry(faq_id) if kb is not None else None
        if entry is not None:
            chosen.append(entry.id)
            buttons.append(faq_button(entry.id, entry.question))
    if kb is not None and len(buttons) < 3:
        for hit in await asyncio.to_thread(kb.search, text[:MAX_QUERY_CHARS], MAX_BUTTONS):
            if len(buttons) >= MAX_BUTTONS:
                break
            if hit.id not in chosen:
                chosen.append(hit.id)
                buttons.append(faq_button(hit.id, hit.question))
    if len(buttons) < 2:
        return False
    dispatcher.utter_message(response="utter_faq_clarify", buttons=[dict(b) for b in buttons[:MAX_BUTTONS]])
    dispatcher.utter_message(json_message=faq_payload("clarify", faq_id=chosen[0] if chosen else None, score=0.0,
                                                      alternatives=chosen[:MAX_BUTTONS]))
    return True
