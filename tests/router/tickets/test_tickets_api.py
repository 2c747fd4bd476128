"""The tickets REST API on the real app (create_app), real JWTs and the live routing engine's agents."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.settings import Settings
from tests.router.ops_support import add_user, bearer, migrated, ops_app, running


@pytest.fixture
def api(tmp_path: Path):
    engine, sessions = migrated(tmp_path)
    users = {
        "amy": add_user(sessions, "amy", skills={"logistics": 4, "general": 2}),
        "bob": add_user(sessions, "bob", skills={"after_sales": 4}),
        "sue": add_user(sessions, "sue", role="supervisor", skills={"general": 1}, status="offline"),
        "cat": add_user(sessions, "cat", role="content", status="offline"),
    }
    settings = Settings(database_url="sqlite://")
    roles = {"amy": "agent", "bob": "agent", "sue": "supervisor", "cat": "content"}
    headers = {name: bearer(settings, uid, name, roles[name]) for name, uid in users.items()}
    with running(ops_app(settings, engine)) as client:
        yield client, users, headers
    engine.dispose()


def test_agent_opens_works_and_closes_a_ticket(api) -> None:
    client, users, h = api
    created = client.post("/api/v1/tickets", headers=h["bob"], json={
        "subject": "顾客反映快递显示签收但没收到", "description": "订单 2026112400012345，需要联系快递核实",
        "channel": "app", "customer_id": "c-42",
    })
    assert created.status_code == 201, created.text
    t = created.json()
    # classified from the text, routed to the logistics agent by the skill router
    assert t["category"] == "logistics" and t["topic"] == "package_lost"
    assert t["assignee_id"] == users["amy"] and t["status"] == "assigned"
    assert t["ref"].startswith("T") and t["sla"]["first_response_breached"] is False
    assert t["sla"]["first_response_remaining_s"] > 0
    assert [e["type"] for e in t["history"]] == ["created", "assigned", "status_changed"]

    by_ref = client.get(f"/api/v1/tickets/{t['ref']}", headers=h["amy"])
    assert by_ref.status_code == 200 and by_ref.json()["id"] == t["id"]

    # only the assignee (or a supervisor) may change it
    denied = client.patch(f"/api/v1/tickets/{t['id']}", headers=h["bob"], json={"status": "resolved"})
    assert denied.status_code == 403
    reply = client.post(f"/api/v1/tickets/{t['id']}/comments", headers=h["amy"],
                        json={"text": "您好，已联系快递核实，24小时内给您答复。"})
    assert reply.status_code == 201
    assert reply.json()["first_responded_at"] is not None
    assert reply.json()["sla"]["first_response_remaining_s"] is None
    waiting = client.patch(f"/api/v1/tickets/{t['id']}", headers=h["amy"],
                           json={"status": "waiting_customer", "note": "等顾客提供照片"})
    assert waiting.status_code == 200 and waiting.json()["sla"]["paused"] is True
    bad = client.patch(f"/api/v1/tickets/{t['id']}", headers=h["amy"], json={"status": "new"})
    assert bad.status_code == 409 and bad.json()["code"] == "InvalidTransition"
    done = client.patch(f"/api/v1/tickets/{t['id']}", headers=h["amy"], json={"status": "resolved"})
    assert done.status_code == 200 and done.json()["resolved_at"] is not None
    closed = client.patch(f"/api/v1/tickets/{t['id']}", headers=h["sue"], json={"status": "closed"})
    assert closed.status_code == 200
    history = closed.json()["history"]
    assert [e["type"] for e in history].count("status_changed") == 4
    assert history[-1]["actor_id"] == users["sue"]
    assert client.post(f"/api/v1/tickets/{t['id']}/comments", headers=h["sue"],
                       json={"text": "补充"}).status_code == 409


def test_listing_filters_and_reassignment(api) -> None:
    client, users, h = api
    ids = []
    for subject, category in [("退款还没到账", None), ("发票抬头错了", "billing"), ("想换个尺码", None)]:
        body = {"subject": subject, **({"category": category} if category else {})}
        r = client.post("/api/v1/tickets", headers=h["amy"], json=body)
        assert r.status_code == 201, r.text
        ids.append(r.json())
    assert ids[0]["category"] == "after_sales" and ids[0]["assignee_id"] == users["bob"]
    mine = client.get("/api/v1/tickets", headers=h["bob"], params={"assignee": "me"}).json()
    assert {t["id"] for t in mine["items"]} == {ids[0]["id"], ids[2]["id"]} and mine["total"] == 2
    billing = client.get("/api/v1/tickets", headers=h["amy"], params={"category": "billing"}).json()
    assert [t["id"] for t in billing["items"]] == [ids[1]["id"]]
    assigned = client.get("/api/v1/tickets", headers=h["amy"], params=[("status", "assigned"), ("status", "new")])
    assert assigned.json()["total"] == 3
    page = client.get("/api/v1/tickets", headers=h["amy"], params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["total"] == 3
    prios = [t["priority"] for t in page["items"]]
    assert prios == sorted(prios, reverse=True)
    # an agent may not hand a ticket to someone else; a supervisor may
    assert client.post(f"/api/v1/tickets/{ids[1]['id']}/assign", headers=h["amy"],
                       json={"agent_id": users["bob"]}).status_code in (403,)
    moved = client.post(f"/api/v1/tickets/{ids[1]['id']}/assign", headers=h["sue"], json={"agent_id": users["bob"]})
    assert moved.status_code == 200 and moved.json()["assignee_id"] == users["bob"]
    rerouted = client.post(f"/api/v1/tickets/{ids[1]['id']}/assign", headers=h["sue"], json={})
    assert rerouted.status_code == 200 and rerouted.json()["assignee_id"] != users["bob"]
    assert rerouted.json()["history"][-1]["data"]["how"] == "router"


def test_bad_input_is_a_clear_4xx(api) -> None:
    client, users, h = api
    assert client.get("/api/v1/tickets").status_code == 401
    assert client.get("/api/v1/tickets", headers=h["cat"]).status_code == 403  # content staff have no tickets
    assert client.get("/api/v1/tickets/99999", headers=h["amy"]).status_code == 404
    assert client.get("/api/v1/tickets/T000", headers=h["amy"]).status_code == 404
    assert client.post("/api/v1/tickets", headers=h["amy"], json={"subject": "x"}).status_code == 422
    assert client.post("/api/v1/tickets", headers=h["amy"],
                       json={"subject": "退货", "category": "weird"}).status_code == 422
    assert client.post("/api/v1/tickets", headers=h["amy"],
                       json={"subject": "退货", "priority": 11}).status_code == 422
    missing = client.post("/api/v1/tickets", headers=h["amy"],
                          json={"subject": "退货问题", "conversation_id": "nope"})
    assert missing.status_code == 422 and "does not exist" in missing.json()["detail"]
    t = client.post("/api/v1/tickets", headers=h["amy"], json={"subject": "退货问题", "assign": "me"}).json()
    assert t["assignee_id"] == users["amy"]
    assert client.patch(f"/api/v1/tickets/{t['id']}", headers=h["amy"],
                        json={"status": "done"}).status_code == 422
    assert client.patch(f"/api/v1/tickets/{t['id']}", headers=h["sue"],
                        json={"assignee_id": 4242}).status_code == 422
    assert client.get("/api/v1/tickets", headers=h["amy"], params={"assignee": "everyone"}).status_code == 422
    # numbers too large for a database integer, and digits that int() does not read, are refused, not a 500
    for params in ({"offset": str(10**30)}, {"assignee": "9" * 30}, {"assignee": "²"}, {"assignee": "١٢"}):
        assert client.get("/api/v1/tickets", headers=h["amy"], params=params).status_code == 422, params
    sla = client.get("/api/v1/tickets/sla", headers=h["amy"]).json()
    assert sla["targets"]["logistics"]["first_response_s"] == 7200


def test_assignment_is_pushed_to_the_agent_console(api) -> None:
    import time

    client, users, h = api
    hub = client.app.state.hub  # type: ignore[attr-defined]
    queue = client.portal.call(lambda: _connect(hub, users["amy"]))  # type: ignore[union-attr]
    created = client.post("/api/v1/tickets", headers=h["bob"], json={"subject": "快递三天没更新了"}).json()
    assert created["assignee_id"] == users["amy"]
    deadline = time.monotonic() + 5
    while queue.empty() and time.monotonic() < deadline:
        time.sleep(0.05)
    notice = queue.get_nowait()
    assert notice["type"] == "ticket_assigned" and notice["ref"] == created["ref"]
    assert notice["category"] == "logistics"


async def _connect(hub, agent_id: int):  # type: ignore[no-untyped-def]
    return hub.connect(agent_id)

