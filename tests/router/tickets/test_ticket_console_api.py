"""What the agent console needs from the tickets API: only visible tickets (404 otherwise), the team and SLA-at-risk
filters, the masked conversation a ticket came from, hand-off to a skill group, and clear refusals of blank or
oversize replies. Real app (``create_app``), real SQLite, real JWTs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from router.clock import utcnow
from router.conversations.models import Conversation, Customer, Message
from router.db import session_scope
from router.settings import Settings
from router.tickets.models import Ticket
from tests.router.ops_support import add_user, bearer, migrated, ops_app, running


class World:
    def __init__(self, client: TestClient, users: dict[str, int], headers: dict[str, dict[str, str]], sessions: Any):
        self.client, self.users, self.h, self.sessions = client, users, headers, sessions

    def create(self, who: str, **body: Any) -> dict[str, Any]:
        res = self.client.post("/api/v1/tickets", headers=self.h[who], json=body)
        assert res.status_code == 201, res.text
        data: dict[str, Any] = res.json()
        return data


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    engine, sessions = migrated(tmp_path)
    users = {
        "amy": add_user(sessions, "amy", skills={"logistics": 4}),
        "bob": add_user(sessions, "bob", skills={"after_sales": 4}),
        "cal": add_user(sessions, "cal", skills={"after_sales": 2, "billing": 3}),
        "sue": add_user(sessions, "sue", role="supervisor", skills={"general": 1}, status="offline"),
    }
    roles = {"amy": "agent", "bob": "agent", "cal": "agent", "sue": "supervisor"}
    settings = Settings(database_url="sqlite://")
    headers = {name: bearer(settings, uid, name, roles[name]) for name, uid in users.items()}
    with running(ops_app(settings, engine)) as client:
        yield World(client, users, headers, sessions)
    engine.dispose()


def _conversation(world: World, agent: str, texts: list[str]) -> str:
    with session_scope(world.sessions) as s:
        s.add(Customer(id="c-refund"))
        s.flush()
        conv = Conversation(customer_id="c-refund", channel="web", first_channel="web", owner="agent",
                            agent_id=world.users[agent], required_skill="after_sales")
        s.add(conv)
        s.flush()
        for i, text in enumerate(texts):
            s.add(Message(conversation_id=conv.id, customer_id="c-refund", direction="in" if i % 2 == 0 else "out",
                          sender="customer" if i % 2 == 0 else "agent", channel="web", text=text))
        return conv.id


def test_agents_see_only_their_own_their_teams_and_what_they_opened(world: World) -> None:
    c, h = world.client, world.h
    lost = world.create("bob", subject="包裹一直显示运输中", category="logistics")  # routed to amy
    refund = world.create("amy", subject="顾客申请退款", category="after_sales", assign="me")  # amy's own
    invoice = world.create("sue", subject="发票抬头开错了", category="billing")  # cal's group
    assert lost["assignee_id"] == world.users["amy"] and invoice["assignee_id"] == world.users["cal"]

    def listed(who: str, **params: Any) -> set[int]:
        res = c.get("/api/v1/tickets", headers=h[who], params=params)
        assert res.status_code == 200, res.text
        return {t["id"] for t in res.json()["items"]}

    assert listed("amy") == {lost["id"], refund["id"]}
    # bob opened "lost" (still his to follow) and is in the after-sales group of "refund"
    assert listed("bob") == {lost["id"], refund["id"]}
    assert listed("cal") == {refund["id"], invoice["id"]}
    assert listed("sue") == {lost["id"], refund["id"], invoice["id"]}
    assert listed("cal", team="true") == {refund["id"], invoice["id"]}
    assert listed("amy", team="true") == {lost["id"]}  # amy's group is logistics only
    assert listed("cal", assignee="me") == {invoice["id"]}

    # a ticket amy may not see: every route answers 404, as for a ticket that does not exist
    tid = invoice["id"]
    assert c.get(f"/api/v1/tickets/{tid}", headers=h["amy"]).status_code == 404
    assert c.get(f"/api/v1/tickets/{invoice['ref']}", headers=h["amy"]).status_code == 404
    reply = c.post(f"/api/v1/tickets/{tid}/comments", headers=h["amy"], json={"text": "您好"})
    assert reply.status_code == 404 and reply.json()["code"] == "TicketNotFound"
    assert c.patch(f"/api/v1/tickets/{tid}", headers=h["amy"], json={"status": "resolved"}).status_code == 404
    assert c.post(f"/api/v1/tickets/{tid}/assign", headers=h["amy"], json={}).status_code == 404
    assert c.get(f"/api/v1/tickets/{tid}/conversation", headers=h["amy"]).status_code == 404
    # bob sees the ticket he opened but may not work on amy's ticket
    assert c.get(f"/api/v1/tickets/{lost['id']}", headers=h["bob"]).status_code == 200
    assert c.post(f"/api/v1/tickets/{lost['id']}/comments", headers=h["bob"],
                  json={"text": "您好"}).status_code == 403


def test_blank_and_oversize_replies_are_refused_with_a_reason(world: World) -> None:
    c, h = world.client, world.h
    t = world.create("amy", subject="包裹丢了", category="logistics", assign="me")
    url = f"/api/v1/tickets/{t['id']}/comments"
    for text in ("", "   \n "):
        res = c.post(url, headers=h["amy"], json={"text": text})
        assert res.status_code == 422, res.text
    assert "empty" in str(c.post(url, headers=h["amy"], json={"text": "  "}).json())
    too_long = c.post(url, headers=h["amy"], json={"text": "您" * 2001})
    assert too_long.status_code == 422 and "2000" in str(too_long.json())
    note = c.post(url, headers=h["amy"], json={"text": "备" * 2001, "public": False})  # internal notes may be longer
    assert note.status_code == 201, note.text
    assert c.post(url, headers=h["amy"], json={"text": "备" * 5001, "public": False}).status_code == 422
    stored = c.post(url, headers=h["amy"], json={"text": "  您好，已为您处理。 \n"}).json()
    assert stored["history"][-2]["data"]["text"] == "您好，已为您处理。"  # then first_response


def test_sla_at_risk_filter_and_flag(world: World) -> None:
    c, h = world.client, world.h
    calm = world.create("amy", subject="想问一下物流进度", category="logistics", assign="me", priority=0)
    risky = world.create("amy", subject="包裹丢了", category="logistics", assign="me", priority=0)
    late = world.create("amy", subject="快递三天没更新", category="logistics", assign="me", priority=0)
    now = utcnow()
    with session_scope(world.sessions) as s:
        s.execute(update(Ticket).where(Ticket.id == risky["id"])
                  .values(first_response_due_at=now + timedelta(minutes=20)))
        s.execute(update(Ticket).where(Ticket.id == late["id"])
                  .values(first_response_due_at=now - timedelta(minutes=5)))
    page = c.get("/api/v1/tickets", headers=h["amy"], params={"at_risk": "true"}).json()
    assert {t["id"] for t in page["items"]} == {risky["id"], late["id"]}
    assert all(t["sla"]["at_risk"] for t in page["items"])
    assert c.get(f"/api/v1/tickets/{calm['id']}", headers=h["amy"]).json()["sla"]["at_risk"] is False
    # waiting on the customer pauses the timers: no longer at risk
    assert c.patch(f"/api/v1/tickets/{risky['id']}", headers=h["amy"],
                   json={"status": "waiting_customer"}).status_code == 200
    page = c.get("/api/v1/tickets", headers=h["amy"], params={"at_risk": "true"}).json()
    assert [t["id"] for t in page["items"]] == [late["id"]]


def test_ticket_from_a_live_conversation_shows_its_masked_transcript(world: World) -> None:
    c, h = world.client, world.h
    conv = _conversation(world, "bob", [
        "我要退款，东西坏了，电话 13812345678", "您好，已收到，我帮您登记退款", "地址是杭州市西湖区文三路90号",
    ])
    # only the agent holding the conversation (or a supervisor) may open a ticket from it
    denied = c.post("/api/v1/tickets", headers=h["amy"], json={"subject": "退款需仓库核实", "conversation_id": conv})
    assert denied.status_code == 403, denied.text
    t = world.create("bob", subject="退款需仓库核实", description="商品破损，需仓库确认退货入库；顾客电话 13812345678",
                     conversation_id=conv, category="after_sales", assign="me")
    assert t["description"] == "商品破损，需仓库确认退货入库；顾客电话 138****5678"  # agent-facing text is masked
    noted = c.post(f"/api/v1/tickets/{t['id']}/comments", headers=h["bob"],
                   json={"text": "已致电 13812345678 确认", "public": False})
    assert noted.status_code == 201 and "13812345678" not in noted.text
    assert t["conversation_id"] == conv and t["customer_id"] == "c-refund" and t["channel"] == "web"
    res = c.get(f"/api/v1/tickets/{t['id']}/conversation", headers=h["bob"])
    assert res.status_code == 200, res.text
    lines = res.json()["transcript"]
    assert [line["sender"] for line in lines] == ["customer", "agent", "customer"]
    assert "138****5678" in lines[0]["text"] and "13812345678" not in res.text
    assert "文三路90号" not in res.text and res.json()["masked"] is True
    without = world.create("bob", subject="没有会话的工单", category="after_sales", assign="me")
    assert c.get(f"/api/v1/tickets/{without['id']}/conversation", headers=h["bob"]).status_code == 404


def test_hand_a_ticket_to_a_skill_group(world: World) -> None:
    c, h = world.client, world.h
    t = world.create("amy", subject="顾客要求退款，需要售后处理", category="logistics", assign="me")
    moved = c.post(f"/api/v1/tickets/{t['id']}/assign", headers=h["amy"], json={"skill": "after_sales"})
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["category"] == "after_sales" and body["assignee_id"] in (world.users["bob"], world.users["cal"])
    assert [e["type"] for e in body["history"]][-2:] == ["category_changed", "assigned"]
    # amy opened it, so she still follows it, but it is no longer hers to change
    assert c.get(f"/api/v1/tickets/{t['id']}", headers=h["amy"]).status_code == 200
    assert c.patch(f"/api/v1/tickets/{t['id']}", headers=h["amy"], json={"priority": 3}).status_code == 403
    both = c.post(f"/api/v1/tickets/{t['id']}/assign", headers=h["sue"],
                  json={"skill": "billing", "agent_id": world.users["cal"]})
    assert both.status_code == 422
    bad = c.post(f"/api/v1/tickets/{t['id']}/assign", headers=h["sue"], json={"skill": "warehouse"})
    assert bad.status_code == 422
