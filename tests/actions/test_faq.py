"""The FAQ action and the fallback against the real knowledge base (knowledge_base, built index in var/kb)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from actions.faq import ActionFaqAnswer, get_kb
from actions.handoff import ActionDefaultFallback
from tests.actions.conftest import customs, make_tracker, responses, run_action, slot_events, user_event

pytestmark = pytest.mark.slow

# vague, mixed and clear questions: together they exercise every KB decision
CANDIDATES = ["退款多久能到账", "我想退货，运费谁出", "今天天气怎么样", "有没有", "不好用", "谁出", "流程", "处理",
              "麻烦问下规则", "这个怎么弄", "东西呢", "怎么开发票"]


@pytest.fixture(scope="module")
def kb() -> Any:
    loaded = get_kb()
    assert loaded is not None, "the knowledge base must load (run `kefu kb build`)"
    return loaded


def test_each_decision_is_rendered_as_the_contract_says(kb: Any, domain: dict[str, Any]) -> None:
    seen: set[str] = set()
    for text in CANDIDATES:
        expected = kb.ask(text)
        seen.add(expected.decision)
        events, messages = run_action(ActionFaqAnswer(), make_tracker(text, "ask_faq"), domain)
        faq = customs(messages, "faq")
        assert len(faq) == 1 and faq[0]["decision"] == expected.decision, text
        if expected.decision == "answer":
            assert messages[0]["text"] == expected.hit.answer
            assert faq[0]["faq_id"] == expected.hit.id and faq[0]["alternatives"] == []
            assert slot_events(events) == {"fallback_count": 0}
        elif expected.decision == "clarify":
            assert responses(messages) == ["utter_faq_clarify"]
            buttons = messages[0]["buttons"]
            n = len(expected.alternatives)
            assert [b["title"] for b in buttons[:n]] == [alt.question for alt in expected.alternatives]
            # after the entries at most the service flow that goes with them ("/return_request" ...)
            assert all(b["payload"].startswith("/") and "{" not in b["payload"] for b in buttons[n:]), buttons
            assert len(buttons) <= n + 1
            for button, alt in zip(buttons[:n], expected.alternatives, strict=True):
                assert button["payload"].startswith("/ask_faq{")
                assert json.loads(button["payload"].removeprefix("/ask_faq")) == {"faq_id": alt.id}
            assert faq[0]["alternatives"] == [alt.id for alt in expected.alternatives]
        else:
            assert responses(messages) == ["utter_faq_decline"]
            assert faq[0]["faq_id"] is None
            assert slot_events(events) == {"fallback_count": 1.0}
    assert seen == {"answer", "clarify", "decline"}


def test_clarification_button_answers_the_chosen_entry(kb: Any, domain: dict[str, Any]) -> None:
    entry = kb.entries()[0]
    text = "/ask_faq" + json.dumps({"faq_id": entry.id})
    tracker = make_tracker(text, "ask_faq", entities=[{"entity": "faq_id", "value": entry.id}])
    _, messages = run_action(ActionFaqAnswer(), tracker, domain)
    assert messages[0]["text"] == entry.answer
    assert customs(messages, "faq") == [{"kefu": "faq", "decision": "answer", "faq_id": entry.id, "score": 1.0,
                                         "alternatives": []}]
    stale = make_tracker('/ask_faq{"faq_id": "deleted_entry"}', "ask_faq",
                         entities=[{"entity": "faq_id", "value": "deleted_entry"}])
    _, messages = run_action(ActionFaqAnswer(), stale, domain)
    assert responses(messages) == ["utter_faq_decline"]


def test_two_declines_in_a_row_hand_over(kb: Any, domain: dict[str, Any]) -> None:
    assert kb.ask("今天天气怎么样").decision == "decline"
    history = [user_event("有没有", "ask_faq"), {"event": "action", "name": "action_faq_answer"},
               {"event": "slot", "name": "fallback_count", "value": 1.0}, {"event": "action", "name": "action_listen"}]
    tracker = make_tracker("今天天气怎么样", "ask_faq", history=history, slots={"fallback_count": 1.0})
    events, messages = run_action(ActionFaqAnswer(), tracker, domain)
    assert responses(messages) == ["utter_fallback_handoff"]
    handoff = customs(messages, "handoff")[0]
    assert (handoff["reason"], handoff["priority"]) == ("faq_decline", 1)
    assert {"event": "pause", "timestamp": None} in events


def test_fallback_answers_from_the_knowledge_base(kb: Any, domain: dict[str, Any]) -> None:
    text = "退款多久能到账"
    expected = kb.ask(text)
    assert expected.decision == "answer"
    history = [user_event("阿巴阿巴", "nlu_fallback"), {"event": "action", "name": "action_default_fallback"},
               {"event": "slot", "name": "fallback_count", "value": 1.0}, {"event": "action", "name": "action_listen"}]
    tracker = make_tracker(text, "nlu_fallback", history=history, slots={"fallback_count": 1.0})
    events, messages = run_action(ActionDefaultFallback(), tracker, domain)
    assert messages[0]["text"] == expected.hit.answer
    assert customs(messages, "faq")[0]["faq_id"] == expected.hit.id
    assert not customs(messages, "handoff")
    assert slot_events(events) == {"fallback_count": 0}


@pytest.mark.usefixtures("kb_disabled")
def test_without_a_knowledge_base_the_bot_apologises(domain: dict[str, Any]) -> None:
    events, messages = run_action(ActionFaqAnswer(), make_tracker("退款多久能到账", "ask_faq"), domain)
    assert responses(messages) == ["utter_service_unavailable"]
    assert events == []
