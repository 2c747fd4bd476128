"""Shoppers changing their mind inside a form, bare topic words and out-of-scope questions the knowledge base knows.

Real trackers and dispatchers, the real knowledge base (var/kb) and the real demo store."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import ActionFaqAnswer, ActionOutOfScope
from actions.forms import (
    ActionAskInvoiceTitle,
    ActionAskNewAddress,
    ActionAskOrderId,
    ActionAskReturnReason,
    AskFormSlot,
    ValidateReturnForm,
    order_id_failures,
)
from actions.handoff import ActionDefaultFallback
from actions.invoices import ActionSubmitInvoice
from actions.order_actions import ActionChangeAddress, order_id_from_slot
from actions.returns import ActionSubmitReturn
from actions.topics import bare_topic, core_words
from shop.demo_store import DemoOrderStore
from tests.actions.conftest import customs, make_tracker, responses, run_action, run_validator, user_event


def bot_event(response: str, text: str = "…") -> dict[str, Any]:
    return {"event": "bot", "text": text, "metadata": {"utter_action": response}}


def activated(form: str) -> dict[str, Any]:
    return {"event": "active_loop", "name": form}


def validate_order_id(store: DemoOrderStore, domain: dict[str, Any], text: str,
                      history: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return run_validator(ValidateReturnForm(store), domain, text, "order_id", text, history=history)


# ---------------------------------------------------------------- two wrong numbers in a row
def test_the_second_wrong_number_gets_help_instead_of_the_same_complaint(
    store: DemoOrderStore, domain: dict[str, Any]
) -> None:
    start = [user_event("我要退货", "return_request"), activated("return_form")]
    slots, messages = validate_order_id(store, domain, "12345", start)
    assert (slots, responses(messages)) == ({"order_id": None}, ["utter_invalid_order_id"])
    after_one = [*start, user_event("12345", "inform"), bot_event("utter_invalid_order_id")]
    slots, messages = validate_order_id(store, domain, "2026", after_one)
    assert (slots, responses(messages)) == ({"order_id": None}, ["utter_order_id_help"])
    help_buttons = domain["responses"]["utter_order_id_help"][0]["buttons"]
    assert {b["payload"] for b in help_buttons} == {"/request_human", "/deny"}


def test_failures_count_from_the_latest_activation_of_the_form() -> None:
    old = [activated("return_form"), bot_event("utter_invalid_order_id"), bot_event("utter_order_not_found")]
    fresh = [*old, {"event": "active_loop", "name": None}, activated("return_form")]
    assert order_id_failures(make_tracker("x", "inform", history=old), "return_form") == 2
    assert order_id_failures(make_tracker("x", "inform", history=fresh), "return_form") == 0
    assert order_id_failures(make_tracker("x", "inform", history=[*fresh, bot_event("utter_greet")]),
                             "return_form") == 0


@pytest.mark.slow
def test_a_question_instead_of_a_number_is_answered_not_called_a_wrong_number(
    store: DemoOrderStore, domain: dict[str, Any]
) -> None:
    start = [user_event("我要退货", "return_request"), activated("return_form")]
    slots, messages = validate_order_id(store, domain, "退货的运费谁来出", start)
    assert slots == {"order_id": None}
    assert "utter_invalid_order_id" not in responses(messages)
    faq = customs(messages, "faq")
    assert faq and faq[0]["decision"] in {"answer", "clarify"}
    assert "return_shipping_fee" in [faq[0]["faq_id"], *faq[0]["alternatives"]]


# ---------------------------------------------------------------- how the form asks again
def ask(domain: dict[str, Any], turn: list[dict[str, Any]]) -> list[str]:
    tracker = make_tracker("…", "ask_faq", active_loop="return_form", after_user=turn)
    _, messages = run_action(ActionAskOrderId(), tracker, domain)
    return responses(messages)


def test_the_form_asks_in_full_once_then_reminds_briefly_after_a_digression(domain: dict[str, Any]) -> None:
    assert ask(domain, []) == ["utter_ask_order_id"]
    # switching from another form is a new start, not a digression
    assert ask(domain, [{"event": "action", "name": "action_deactivate_loop"}]) == ["utter_ask_order_id"]
    digression = [{"event": "action", "name": "action_faq_answer"}, {"event": "bot", "text": "退货运费…"}]
    assert ask(domain, digression) == ["utter_resume_return_form"]
    # the validator has just said what was wrong: no second prompt on top
    assert ask(domain, [bot_event("utter_invalid_order_id")]) == []
    assert ask(domain, [bot_event("utter_order_id_help")]) == []
    for form in ("order_status_form", "address_change_form", "return_form", "invoice_form"):
        assert f"utter_resume_{form}" in domain["responses"]


def test_a_second_question_in_a_row_sets_the_form_aside_and_its_final_action_stays_silent(
    domain: dict[str, Any]
) -> None:
    reminded = [user_event("我要退货", "return_request"), activated("return_form"), bot_event("utter_ask_order_id"),
                user_event("运费谁出", "ask_faq"), bot_event("utter_resume_return_form")]
    digression = [{"event": "action", "name": "action_faq_answer"}, {"event": "bot", "text": "发票…"}]
    tracker = make_tracker("发票怎么开", "ask_faq", active_loop="return_form", history=reminded, after_user=digression)
    events, messages = run_action(ActionAskOrderId(), tracker, domain)
    assert responses(messages) == ["utter_park_return_form"]
    assert {"event": "active_loop", "name": None} in [{k: e.get(k) for k in ("event", "name")} for e in events]
    # the reminder counts from the latest activation: a new start of the form reminds again
    fresh = [*reminded, {"event": "active_loop", "name": None}, activated("return_form")]
    tracker = make_tracker("发票怎么开", "ask_faq", active_loop="return_form", history=fresh, after_user=digression)
    assert responses(run_action(ActionAskOrderId(), tracker, domain)[1]) == ["utter_resume_return_form"]
    # the form's rule then runs its final action: nothing more to ask
    parked = [*digression, bot_event("utter_park_return_form")]
    tracker = make_tracker("发票怎么开", "ask_faq", history=reminded, after_user=parked)
    dispatcher = CollectingDispatcher()
    assert order_id_from_slot(tracker, dispatcher) is None and dispatcher.messages == []
    unparked = make_tracker("发票怎么开", "ask_faq", history=reminded, after_user=digression)
    assert order_id_from_slot(unparked, dispatcher) is None and responses(dispatcher.messages) == ["utter_ask_order_id"]
    for form in ("order_status_form", "address_change_form", "return_form", "invoice_form"):
        assert f"utter_park_{form}" in domain["responses"]


# ---------------------------------------------------------------- the form's second question
SECOND_SLOTS = [("address_change_form", ActionAskNewAddress, "我要改地址"),
                ("return_form", ActionAskReturnReason, "我要退货"),
                ("invoice_form", ActionAskInvoiceTitle, "我要开发票")]
OWNER_ORDER = "2026120500113034"


def known_order(form: str, opening: str, asked: str) -> list[dict[str, Any]]:
    """The form started, the order number given and accepted, the second question asked in full."""
    return [user_event(opening, "request"), activated(form), bot_event("utter_ask_order_id"),
            user_event(OWNER_ORDER, "inform"), bot_event(asked)]


@pytest.mark.parametrize(("form", "action_class", "opening"), SECOND_SLOTS)
def test_the_second_question_reminds_once_then_lets_go_like_the_order_number(
    domain: dict[str, Any], form: str, action_class: type[AskFormSlot], opening: str
) -> None:
    action = action_class()
    digression = [{"event": "action", "name": "action_faq_answer"}, {"event": "bot", "text": "运费…"}]
    history = known_order(form, opening, action.question)
    # the first time, and again after an answer that was not taken (no digression): the full question
    tracker = make_tracker("…", "inform", active_loop=form, history=history[:-1])
    assert responses(run_action(action, tracker, domain)[1]) == [action.question]
    # a question in between: a short reminder, not the whole question again
    tracker = make_tracker("运费谁出", "ask_faq", active_loop=form, history=history, after_user=digression)
    assert responses(run_action(action, tracker, domain)[1]) == [f"utter_resume_{action.slot}"]
    # a second question in a row: the form lets go, and its final action has nothing to add
    reminded = [*history, user_event("运费谁出", "ask_faq"), *digression, bot_event(f"utter_resume_{action.slot}")]
    tracker = make_tracker("发票怎么开", "ask_faq", active_loop=form, history=reminded, after_user=digression)
    events, messages = run_action(action, tracker, domain)
    assert responses(messages) == [f"utter_park_{form}"]
    assert {"event": "active_loop", "name": None} in [{k: e.get(k) for k in ("event", "name")} for e in events]
    assert action.name() in domain["actions"] and f"utter_resume_{action.slot}" in domain["responses"]


@pytest.mark.parametrize(("final_action", "form"), [(ActionChangeAddress, "address_change_form"),
                                                    (ActionSubmitReturn, "return_form"),
                                                    (ActionSubmitInvoice, "invoice_form")])
def test_a_form_set_aside_at_its_second_question_ends_without_a_word(
    store: DemoOrderStore, domain: dict[str, Any], final_action: type[ActionChangeAddress], form: str
) -> None:
    """The order number is known, the second slot empty: the final action would ask for it again (or worse)."""
    parked = [{"event": "action", "name": "action_faq_answer"}, {"event": "bot", "text": "发票…"},
              bot_event(f"utter_park_{form}"), {"event": "active_loop", "name": None}]
    tracker = make_tracker("发票怎么开", "ask_faq", slots={"order_id": OWNER_ORDER}, after_user=parked)
    events, messages = run_action(final_action(store), tracker, domain)
    assert messages == []
    assert all(e.get("event") != "slot" or e.get("value") is None for e in events)


def test_an_invalid_address_is_explained_once_not_followed_by_the_whole_question(domain: dict[str, Any]) -> None:
    history = known_order("address_change_form", "我要改地址", "utter_ask_new_address")
    tracker = make_tracker("北京", "inform", active_loop="address_change_form", history=history,
                           after_user=[bot_event("utter_invalid_address")])
    assert responses(run_action(ActionAskNewAddress(), tracker, domain)[1]) == []


# ---------------------------------------------------------------- bare topic words
def test_bare_topic_words_are_told_from_requests_and_questions() -> None:
    assert core_words("退货呢？") == "退货"
    assert core_words("关于发票的问题") == "发票"
    invoice = bare_topic("发票？")
    assert invoice is not None and invoice.flow == "invoice_request"
    assert bare_topic("运费险") is not None and bare_topic("优惠券呢") is not None
    for not_bare in ("我要退货", "退货运费谁出", "发票怎么开", "？？", ""):
        assert bare_topic(not_bare) is None, not_bare


def clarify(domain: dict[str, Any], text: str, intent: str = "ask_faq") -> list[dict[str, Any]]:
    action = ActionOutOfScope() if intent == "out_of_scope" else ActionFaqAnswer()
    _, messages = run_action(action, make_tracker(text, intent), domain)
    assert responses(messages) == ["utter_faq_clarify"], messages
    buttons: list[dict[str, Any]] = messages[0]["buttons"]
    assert 2 <= len(buttons) <= 4
    assert len({b["payload"] for b in buttons}) == len(buttons)
    return buttons


def faq_ids(buttons: list[dict[str, Any]]) -> list[str]:
    return [json.loads(b["payload"].removeprefix("/ask_faq"))["faq_id"] for b in buttons
            if b["payload"].startswith("/ask_faq")]


@pytest.mark.slow
def test_bare_topic_words_offer_the_likely_needs_with_the_flow_first(domain: dict[str, Any]) -> None:
    buttons = clarify(domain, "退货")
    assert buttons[0]["payload"] == "/return_request"
    assert "return_how" in faq_ids(buttons)
    buttons = clarify(domain, "发票", "out_of_scope")
    assert buttons[0]["payload"] == "/invoice_request"
    assert "invoice_apply" in faq_ids(buttons)
    assert "return_shipping_fee" in faq_ids(clarify(domain, "运费"))
    assert "coupon_use" in faq_ids(clarify(domain, "优惠券呢"))
    # the fallback (the NLU could not place "运费呢") offers the same buttons
    _, messages = run_action(ActionDefaultFallback(), make_tracker("运费呢", "nlu_fallback"), domain)
    assert "return_shipping_fee" in faq_ids(messages[0]["buttons"])


@pytest.mark.slow
def test_a_form_started_by_a_bare_word_offers_the_needs_and_a_way_out(domain: dict[str, Any]) -> None:
    tracker = make_tracker("退货", "return_request", active_loop="return_form")
    _, messages = run_action(ActionAskOrderId(), tracker, domain)
    assert responses(messages) == ["utter_faq_clarify", "utter_ask_order_id_or_leave"]
    assert "/return_request" not in [b["payload"] for b in messages[0]["buttons"]]  # already in that flow
    assert "算了" in domain["responses"]["utter_ask_order_id_or_leave"][0]["text"]


# ---------------------------------------------------------------- out of scope: the knowledge base first
@pytest.mark.slow
def test_out_of_scope_only_when_the_knowledge_base_declines_too(domain: dict[str, Any]) -> None:
    _, messages = run_action(ActionOutOfScope(), make_tracker("退款一般多久能到账", "out_of_scope"), domain)
    faq = customs(messages, "faq")
    assert faq and faq[0]["decision"] in {"answer", "clarify"}
    assert "utter_out_of_scope" not in responses(messages)
    _, messages = run_action(ActionOutOfScope(), make_tracker("明天北京会下雨吗", "out_of_scope"), domain)
    assert responses(messages) == ["utter_out_of_scope"]
