"""Handoff, complaint and the counting fallback: payloads, skills, priorities, pausing the bot."""

from __future__ import annotations

from typing import Any

import pytest

from actions.handoff import ActionComplaint, ActionDefaultFallback, ActionHandoff
from tests.actions.conftest import customs, make_tracker, responses, run_action, slot_events, user_event

PAUSE = {"event": "pause", "timestamp": None}


def turn(text: str, intent: str, action: str, *, fallback_count: float | None = None) -> list[dict[str, Any]]:
    """An earlier user turn and the bot's reply to it, as Rasa records them."""
    events = [user_event(text, intent), {"event": "action", "name": action}]
    if fallback_count is not None:
        events.append({"event": "slot", "name": "fallback_count", "value": fallback_count})
    events.append({"event": "action", "name": "action_listen"})
    return events


def test_request_human_uses_the_conversation_context(domain: dict[str, Any]) -> None:
    history = turn("我要退货", "return_request", "return_form")
    tracker = make_tracker("转人工", "request_human", history=history, slots={"order_id": "2026112400012345"})
    events, messages = run_action(ActionHandoff(), tracker, domain)
    assert responses(messages) == ["utter_handoff"]
    assert customs(messages) == [{"kefu": "handoff", "skill": "after_sales", "priority": 1,
                                  "reason": "request_human", "order_id": "2026112400012345",
                                  "intent": "request_human"}]
    assert PAUSE in events and slot_events(events) == {"fallback_count": 0}


@pytest.mark.parametrize(("text", "skill"), [
    ("快递一直不动，帮我转人工", "logistics"),
    ("发票开错了找人工", "billing"),
    ("我要人工客服，退款的事", "after_sales"),
    ("戴森V12吸尘器想咨询下人工", "product"),
    ("找个真人聊聊", "general"),
])
def test_handoff_skill_from_the_message(text: str, skill: str, domain: dict[str, Any]) -> None:
    _, messages = run_action(ActionHandoff(), make_tracker(text, "request_human"), domain)
    assert customs(messages, "handoff")[0]["skill"] == skill


def test_complaint_priority_and_sentiment(domain: dict[str, Any]) -> None:
    calm = make_tracker("你们的服务太差了，我要投诉", "complaint")
    events, messages = run_action(ActionComplaint(), calm, domain)
    assert responses(messages) == ["utter_complaint_apology"]
    payload = customs(messages, "handoff")[0]
    assert (payload["reason"], payload["priority"], payload["skill"]) == ("complaint", 5, "general")
    assert PAUSE in events
    angry = make_tracker("快递员态度恶劣，投诉！！", "complaint", sentiment="angry")
    _, messages = run_action(ActionComplaint(), angry, domain)
    payload = customs(messages, "handoff")[0]
    assert (payload["priority"], payload["skill"]) == (8, "logistics")  # complaint 5, angry +3


# skill and priority rules themselves: tests/test_escalation_policy.py (the one policy's table test)


def test_the_metadata_sentiment_reaches_the_policy(domain: dict[str, Any]) -> None:
    calm = make_tracker("转人工", "request_human", sentiment="neutral")
    very_angry = make_tracker("转人工", "request_human")
    very_angry.latest_message["metadata"] = {"sentiment": {"label": "angry", "score": 0.95, "anger": 0.9}}
    priorities = [customs(run_action(ActionHandoff(), t, domain)[1], "handoff")[0]["priority"]
                  for t in (calm, very_angry)]
    assert priorities == [1, 5]  # request 1; angry +3, very angry (anger >= 0.85) +1


@pytest.mark.usefixtures("kb_disabled")
def test_first_fallback_asks_to_rephrase(domain: dict[str, Any]) -> None:
    tracker = make_tracker("阿巴阿巴", "nlu_fallback", history=turn("你好", "greet", "utter_greet"))
    events, messages = run_action(ActionDefaultFallback(), tracker, domain)
    assert responses(messages) == ["utter_default"]
    assert customs(messages) == [{"kefu": "fallback", "count": 1}]
    assert slot_events(events) == {"fallback_count": 1.0}
    assert PAUSE not in events
    # the turn ends here (Rasa Core would otherwise predict its low-confidence fallback again)
    assert {"event": "followup", "name": "action_listen", "timestamp": None} in events


@pytest.mark.usefixtures("kb_disabled")
def test_fallback_inside_a_form_lets_the_form_go_on(domain: dict[str, Any]) -> None:
    tracker = make_tracker("阿巴阿巴", "nlu_fallback", active_loop="return_form", slots={"requested_slot": "order_id"})
    events, messages = run_action(ActionDefaultFallback(), tracker, domain)
    assert responses(messages) == ["utter_default"]
    assert all(e["event"] != "followup" for e in events)


@pytest.mark.usefixtures("kb_disabled")
def test_second_fallback_in_a_row_hands_over(domain: dict[str, Any]) -> None:
    history = turn("阿巴阿巴", "nlu_fallback", "action_default_fallback", fallback_count=1.0)
    ranking = [{"name": "nlu_fallback", "confidence": 0.7}, {"name": "order_status", "confidence": 0.3}]
    tracker = make_tracker("嗯嗯那个东西", "nlu_fallback", history=history, slots={"fallback_count": 1.0},
                           ranking=ranking, sentiment="angry")
    events, messages = run_action(ActionDefaultFallback(), tracker, domain)
    assert responses(messages) == ["utter_fallback_handoff"]
    assert customs(messages, "fallback") == [{"kefu": "fallback", "count": 2}]
    handoff = customs(messages, "handoff")[0]
    assert (handoff["reason"], handoff["skill"], handoff["priority"]) == ("fallback", "logistics", 4)  # 1, angry +3
    assert PAUSE in events and slot_events(events) == {"fallback_count": 0}


@pytest.mark.usefixtures("kb_disabled")
def test_fallbacks_that_are_not_consecutive_do_not_hand_over(domain: dict[str, Any]) -> None:
    history = [*turn("阿巴阿巴", "nlu_fallback", "action_default_fallback", fallback_count=1.0),
               *turn("谢谢", "thanks", "utter_you_are_welcome")]
    tracker = make_tracker("嗯嗯那个东西", "nlu_fallback", history=history, slots={"fallback_count": 1.0})
    events, messages = run_action(ActionDefaultFallback(), tracker, domain)
    assert responses(messages) == ["utter_default"]
    assert slot_events(events) == {"fallback_count": 1.0}
