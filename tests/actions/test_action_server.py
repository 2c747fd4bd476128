"""The real action server process (`python -m rasa_sdk --actions actions`) answering Rasa's /webhook calls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shop.demo_store import DemoOrderStore
from tests.actions.conftest import OWNER, delivered_order, find_order
from tests.procs import Proc, start_action_server

pytestmark = pytest.mark.e2e

CONTRACT_ACTIONS = {
    "action_faq_answer", "action_order_status", "action_change_address", "action_submit_return",
    "action_submit_invoice", "action_handoff", "action_complaint", "action_default_fallback",
    "validate_order_status_form", "validate_address_change_form", "validate_return_form", "validate_invoice_form",
    "action_out_of_scope", "action_ask_order_id", "action_ask_new_address", "action_ask_return_reason",
    "action_ask_invoice_title",
}


@pytest.fixture(scope="module")
def server(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, float, str]]:
    workdir = tmp_path_factory.mktemp("action-server")
    db = workdir / "orders.db"
    db.write_bytes(seeded_template.read_bytes())
    started = time.monotonic()
    proc = start_action_server(log_dir=workdir, orders_db_url=f"sqlite:///{db}")
    try:
        yield proc, time.monotonic() - started, f"sqlite:///{db}"
    finally:
        proc.stop()


def webhook(proc: Proc, action: str, *, text: str, intent: str, slots: dict[str, Any],
            domain: dict[str, Any], customer: str = OWNER) -> dict[str, Any]:
    metadata = {"channel": "web", "customer_id": customer, "conversation_id": "c-1"}
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.95}, "entities": [],
              "intent_ranking": [{"name": intent, "confidence": 0.95}], "metadata": metadata}
    body = {
        "next_action": action,
        "sender_id": "web-abc",
        "version": "3.6.21",
        "domain": domain,
        "tracker": {
            "sender_id": "web-abc", "slots": slots, "latest_message": latest, "paused": False,
            "events": [{"event": "action", "name": "action_listen"},
                       {"event": "user", "text": text, "parse_data": latest, "metadata": metadata}],
            "latest_event_time": time.time(), "followup_action": None, "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }
    response = httpx.post(f"{proc.url}/webhook", json=body, timeout=60)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_server_starts_fast_and_lists_every_contract_action(server: tuple[Proc, float, str]) -> None:
    proc, startup_s, _ = server
    assert startup_s < 30, f"action server took {startup_s:.1f}s to answer /health"
    listed = {a["name"] for a in httpx.get(f"{proc.url}/actions", timeout=10).json()}
    assert listed == CONTRACT_ACTIONS


def test_webhook_order_status(server: tuple[Proc, float, str], domain: dict[str, Any]) -> None:
    proc, _, db_url = server
    store = DemoOrderStore.from_url(db_url)
    order_id = find_order(store, OWNER, "运输中")
    result = webhook(proc, "action_order_status", text=f"订单{order_id}到哪了", intent="order_status",
                     slots={"order_id": order_id}, domain=domain)
    assert result["responses"][0]["response"] == "utter_order_status"
    assert result["responses"][0]["status"] == "运输中"
    assert result["responses"][1]["custom"] == {"kefu": "order", "order_id": order_id, "status": "运输中"}
    other = webhook(proc, "action_order_status", text=order_id, intent="inform", slots={"order_id": order_id},
                    domain=domain, customer="c0002")
    assert other["responses"][0]["response"] == "utter_order_not_yours"


def test_webhook_refund_dispute_pauses_the_bot(server: tuple[Proc, float, str], domain: dict[str, Any]) -> None:
    proc, _, db_url = server
    order_id = delivered_order(DemoOrderStore.from_url(db_url), OWNER, within_period=False)
    result = webhook(proc, "action_submit_return", text="质量问题", intent="inform",
                     slots={"order_id": order_id, "return_reason": "质量问题"}, domain=domain)
    assert [r.get("response") for r in result["responses"]] == ["utter_return_refused", "utter_handoff", None]
    assert result["responses"][2]["custom"]["kefu"] == "handoff"
    assert {"event": "pause", "timestamp": None} in result["events"]


@pytest.mark.slow
def test_webhook_faq_answer_uses_the_knowledge_base(server: tuple[Proc, float, str], domain: dict[str, Any]) -> None:
    proc, _, _ = server
    result = webhook(proc, "action_faq_answer", text="退款多久能到账", intent="ask_faq", slots={}, domain=domain)
    faq = [r["custom"] for r in result["responses"] if r.get("custom")]
    assert faq and faq[0]["kefu"] == "faq" and faq[0]["decision"] in {"answer", "clarify"}
    if faq[0]["decision"] == "answer":
        assert result["responses"][0]["text"]
        assert {"event": "slot", "name": "fallback_count", "value": 0.0, "timestamp": None} in result["events"]


def test_webhook_unknown_action_is_a_404(server: tuple[Proc, float, str], domain: dict[str, Any]) -> None:
    proc, _, _ = server
    body = {"next_action": "action_nope", "sender_id": "x", "tracker": {"sender_id": "x", "events": []},
            "domain": domain, "version": "3.6.21"}
    assert httpx.post(f"{proc.url}/webhook", json=body, timeout=30).status_code == 404
