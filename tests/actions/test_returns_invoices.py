"""Return and invoice actions: receipts, refusals, and refund disputes handed to an after-sales agent."""

from __future__ import annotations

from typing import Any

from actions.forms import ValidateReturnForm
from actions.invoices import ActionSubmitInvoice
from actions.returns import ActionSubmitReturn
from shop.demo_store import DemoOrderStore
from tests.actions.conftest import (
    OWNER,
    customs,
    delivered_order,
    find_order,
    make_tracker,
    responses,
    run_action,
    run_validator,
    slot_events,
)


def test_return_inside_the_period_is_submitted(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    order_id = delivered_order(store, OWNER, within_period=True)
    tracker = make_tracker("尺码不合适", "inform", slots={"order_id": order_id, "return_reason": "尺码不合适"})
    events, messages = run_action(ActionSubmitReturn(store), tracker, domain)
    assert responses(messages) == ["utter_return_submitted"]
    assert messages[0]["order_id"] == order_id and messages[0]["return_id"].startswith("RT")
    assert not customs(messages, "handoff")
    assert slot_events(events)["return_reason"] is None


def test_return_outside_the_period_is_refused_and_handed_over(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    order_id = delivered_order(store, OWNER, within_period=False)
    tracker = make_tracker("质量问题", "inform", slots={"order_id": order_id, "return_reason": "质量问题"},
                           history=[{"event": "user", "text": "我要退货",
                                     "parse_data": {"intent": {"name": "return_request"}}}])
    events, messages = run_action(ActionSubmitReturn(store), tracker, domain)
    assert responses(messages) == ["utter_return_refused", "utter_handoff"]
    assert "售后期" in messages[0]["reason"]
    assert customs(messages, "handoff") == [{
        # refund dispute 3, a quality problem +1
        "kefu": "handoff", "skill": "after_sales", "priority": 4, "reason": "refund_dispute",
        "order_id": order_id, "intent": "inform",
    }]
    assert {"event": "pause", "timestamp": None} in events


def test_angry_refund_dispute_gets_a_higher_priority(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    order_id = delivered_order(store, OWNER, within_period=False)
    tracker = make_tracker("东西坏了凭什么不给退", "inform", sentiment="angry",
                           slots={"order_id": order_id, "return_reason": "东西坏了凭什么不给退"})
    _, messages = run_action(ActionSubmitReturn(store), tracker, domain)
    assert customs(messages, "handoff")[0]["priority"] == 7  # refund dispute 3, quality +1, angry +3


def test_return_before_delivery_is_refused_without_handoff(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    order_id = find_order(store, OWNER, "运输中")
    tracker = make_tracker("不想要了", "inform", slots={"order_id": order_id, "return_reason": "不想要了"})
    events, messages = run_action(ActionSubmitReturn(store), tracker, domain)
    assert responses(messages) == ["utter_return_refused"]
    assert "运输中" in messages[0]["reason"]
    assert not customs(messages, "handoff")
    assert all(e["event"] != "pause" for e in events)


def validate_return(store: DemoOrderStore, domain: dict[str, Any], slot: str, value: str,
                    slots: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return run_validator(ValidateReturnForm(store), domain, value, slot, value, **slots)


def test_an_order_not_yet_delivered_is_refused_when_the_return_flow_starts(
    store: DemoOrderStore, domain: dict[str, Any]
) -> None:
    """Found through `make run` (2026-12-07): an order carried over from the address flow (待发货) was taken for the
    return, the bot asked for the reason, and only after it said that the order cannot be returned."""
    order_id = find_order(store, OWNER, "运输中")
    slots, messages = validate_return(store, domain, "order_id", order_id, {})
    assert responses(messages) == ["utter_return_refused"] and "运输中" in messages[0]["reason"], messages
    assert messages[0]["order_id"] == order_id
    assert slots == {"order_id": order_id, "requested_slot": None}  # the form ends, nothing more is asked
    # the form's final action then says nothing more
    refused = {"event": "bot", "text": "…", "metadata": {"utter_action": "utter_return_refused"}}
    tracker = make_tracker(order_id, "inform", slots={"order_id": order_id}, after_user=[refused])
    assert run_action(ActionSubmitReturn(store), tracker, domain)[1] == []
    # a delivered order goes on to the reason
    delivered = delivered_order(store, OWNER, within_period=True)
    slots, messages = validate_return(store, domain, "order_id", delivered, {})
    assert (slots, messages) == ({"order_id": delivered}, [])


def test_an_order_number_is_no_return_reason(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    delivered = delivered_order(store, OWNER, within_period=True)
    slots, _ = validate_return(store, domain, "return_reason", delivered, {"order_id": delivered})
    assert slots == {"order_id": delivered, "return_reason": None}
    # another order's number: that order is meant, and checked like any order number
    in_transit = find_order(store, OWNER, "运输中")
    slots, messages = validate_return(store, domain, "return_reason", in_transit, {"order_id": delivered})
    assert slots == {"order_id": in_transit, "requested_slot": None, "return_reason": None}
    assert responses(messages) == ["utter_return_refused"]


def test_invoice_is_requested(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    order_id = find_order(store, OWNER, "待发货")
    title = "上海明德贸易有限公司"
    tracker = make_tracker(title, "inform", slots={"order_id": order_id, "invoice_title": title})
    events, messages = run_action(ActionSubmitInvoice(store), tracker, domain)
    assert responses(messages) == ["utter_invoice_submitted"]
    assert messages[0]["invoice_title"] == title
    assert slot_events(events)["invoice_title"] is None


def test_invoice_refusal(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    order_id = find_order(store, OWNER, "待付款")
    tracker = make_tracker("个人", "inform", slots={"order_id": order_id, "invoice_title": "个人"})
    with_response = {**domain, "responses": {**domain["responses"], "utter_invoice_refused": [{"text": "{reason}"}]}}
    _, messages = run_action(ActionSubmitInvoice(store), tracker, with_response)
    assert responses(messages) == ["utter_invoice_refused"]
    assert "付款" in messages[0]["reason"]
    without = {**domain, "responses": {k: v for k, v in domain["responses"].items() if k != "utter_invoice_refused"}}
    events, messages = run_action(ActionSubmitInvoice(store), tracker, without)
    assert responses(messages) == ["utter_handoff"]
    assert customs(messages, "handoff")[0]["skill"] == "billing"
    assert any(e["event"] == "pause" for e in events)
