"""Return and invoice actions: receipts, refusals, and refund disputes handed to an after-sales agent."""

from __future__ import annotations

from typing import Any

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
