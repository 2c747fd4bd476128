"""Handing the conversation to a human: on request, on a complaint, and after two failed turns in a row.

Each handoff sends the ``{"kefu": "handoff", ...}`` payload (skill + priority for the router) and pauses the
conversation (``ConversationPaused``): the bot stays silent while an agent owns it; the gateway resumes it when the
agent closes.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.context import latest_text
from actions.escalation import (
    FAILURES_BEFORE_HANDOFF,
    FALLBACK_COUNT_SLOT,
    build_handoff,
    fallback_payload,
    handoff_events,
    previous_failures,
)
from actions.faq import ask_kb, offer_from_kb, offer_topic


class ActionHandoff(Action):
    """The shopper asked for a human."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_handoff")
        dispatcher.utter_message(json_message=build_handoff(tracker, "request_human"))
        return handoff_events()


class ActionComplaint(Action):
    """A complaint: apologise and go to a human with a raised priority."""

    def name(self) -> str:
        return "action_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_complaint_apology")
        dispatcher.utter_message(json_message=build_handoff(tracker, "complaint"))
        return handoff_events()


class ActionDefaultFallback(Action):
    """Replaces Rasa's default fallback: the knowledge base may still know the answer; otherwise ask to rephrase,
    and on the second failed turn in a row hand over to a human."""

    def name(self) -> str:
        return "action_default_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        # an answer or a clarification from the knowledge base beats "please rephrase"
        text = latest_text(tracker)
        if await offer_topic(dispatcher, text) or offer_from_kb(dispatcher, await ask_kb(text)):
            return [SlotSet(FALLBACK_COUNT_SLOT, 0.0), *_end_turn(tracker)]
        count = previous_failures(tracker) + 1
        dispatcher.utter_message(json_message=fallback_payload(count))
        if count >= FAILURES_BEFORE_HANDOFF:
            dispatcher.utter_message(response="utter_fallback_handoff")
            dispatcher.utter_message(json_message=build_handoff(tracker, "fallback"))
            return handoff_events()
        dispatcher.utter_message(response="utter_default")
        return [SlotSet(FALLBACK_COUNT_SLOT, float(count)), *_end_turn(tracker)]


def _end_turn(tracker: Tracker) -> list[EventType]:
    """Wait for the shopper after the fallback.

    Rasa's own fallback reverts the user message; this one keeps it (agents and the failure count need it), so when
    the fallback was Rasa Core's low-confidence fallback no rule follows it and Core would predict the fallback again
    and again until its circuit breaker trips. Inside a form the form's rules take over instead (it asks again).
    """
    if tracker.active_loop.get("name"):
        return []
    return [FollowupAction("action_listen")]
