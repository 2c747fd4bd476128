"""Order status and address change actions, run like the action server runs them (real Tracker, dispatcher)."""

from __future__ import annotations

import socket
from typing import Any

from actions.order_actions import ActionChangeAddress, ActionOrderStatus
from shop.demo_store import DemoOrderStore
from shop.order_http import HttpOrderService
from tests.actions.conftest import OWNER, customs, find_order, make_tracker, responses, run_action, slot_events

NEW_ADDRESS = "浙江省杭州市西湖区文三路90号3号楼1202室 王芳 13800138000"


def test_order_status_reports_status_and_logistics(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    order_id = find_order(store, OWNER, "运输中")
    order = store.get_order(order_id, customer_id=OWNER)
    tracker = make_tracker(f"帮我查下订单{order_id}", "order_status", slots={"order_id": order_id})
    events, messages = run_action(ActionOrderStatus(store), tracker, domain)
    assert messages[0]["response"] == "utter_order_status"
    assert messages[0]["order_id"] == order_id
    assert messages[0]["status"] == "运输中"
    assert messages[0]["product"] == order.product
    assert order.tracking_no and order.tracking_no in messages[0]["detail"]
    assert customs(messages, "order") == [{"kefu": "order", "order_id": order_id, "status": "运输中"}]
    assert slot_events(events)["fallback_count"] == 0


def test_order_status_of_unknown_order(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    tracker = make_tracker("2026010100000001", "inform", slots={"order_id": "2026010100000001"})
    events, messages = run_action(ActionOrderStatus(store), tracker, domain)
    assert responses(messages) == ["utter_order_not_found"]
    assert messages[0]["order_id"] == "2026010100000001"
    assert slot_events(events) == {"order_id": None}


def test_order_status_of_someone_elses_order(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    other = store.find_orders(customer_id="c0042", limit=1)[0].order_id
    tracker = make_tracker(other, "inform", slots={"order_id": other})
    events, messages = run_action(ActionOrderStatus(store), tracker, domain)
    assert responses(messages) == ["utter_order_not_yours"]
    assert not customs(messages)
    assert slot_events(events) == {"order_id": None}


def test_customer_falls_back_to_sender_id(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    order_id = find_order(store, OWNER, "待发货")
    anonymous = make_tracker(order_id, "inform", slots={"order_id": order_id}, customer=None, sender_id="guest-9")
    _, messages = run_action(ActionOrderStatus(store), anonymous, domain)
    assert responses(messages) == ["utter_order_not_yours"]
    logged_in = make_tracker(order_id, "inform", slots={"order_id": order_id}, customer=None, sender_id=OWNER)
    _, messages = run_action(ActionOrderStatus(store), logged_in, domain)
    assert responses(messages) == ["utter_order_status"]


def test_malformed_order_number(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    tracker = make_tracker("12345", "inform", slots={"order_id": "12345"})
    events, messages = run_action(ActionOrderStatus(store), tracker, domain)
    assert responses(messages) == ["utter_invalid_order_id"]
    assert slot_events(events) == {"order_id": None}
    _, messages = run_action(ActionOrderStatus(store), make_tracker("查订单", "order_status"), domain)
    assert responses(messages) == ["utter_ask_order_id"]


def test_address_change_before_shipping(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    order_id = find_order(store, OWNER, "待发货")
    tracker = make_tracker(NEW_ADDRESS, "inform", slots={"order_id": order_id, "new_address": NEW_ADDRESS})
    events, messages = run_action(ActionChangeAddress(store), tracker, domain)
    assert responses(messages) == ["utter_address_changed"]
    assert messages[0]["new_address"] == NEW_ADDRESS and messages[0]["order_id"] == order_id
    assert store.get_order(order_id, customer_id=OWNER).address == NEW_ADDRESS
    assert slot_events(events)["new_address"] is None


def test_address_change_refused_once_shipped(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    for status in ("已发货", "运输中", "已签收"):
        order_id = find_order(store, OWNER, status)
        before = store.get_order(order_id, customer_id=OWNER).address
        tracker = make_tracker(NEW_ADDRESS, "inform", slots={"order_id": order_id, "new_address": NEW_ADDRESS})
        _, messages = run_action(ActionChangeAddress(store), tracker, domain)
        assert responses(messages) == ["utter_address_change_refused"]
        assert messages[0]["status"] == status
        assert store.get_order(order_id, customer_id=OWNER).address == before


def test_unreachable_order_service_gives_a_polite_reply(domain: dict[str, Any]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    service = HttpOrderService(f"http://127.0.0.1:{port}", timeout_s=1.0)
    tracker = make_tracker("2026112400012345", "inform", slots={"order_id": "2026112400012345"})
    events, messages = run_action(ActionOrderStatus(service), tracker, domain)
    assert responses(messages) == ["utter_service_unavailable"]
    assert events == []
