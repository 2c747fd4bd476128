"""Live monitoring API on the real app and routing engine: the live list, whisper (stored as an event, never a
message), barge-in and re-route refusals with clear reasons, roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from router.conversations.models import Conversation, ConversationEvent, Customer, Message
from router.db import session_scope
from router.settings import Settings
from tests.router.ops_support import add_user, bearer, migrated, ops_app, running

SETTINGS = Settings(database_url="sqlite://", service_level_s=20.0, supervision_reply_sla_s=60.0)


def open_conversation(sessions, cid: str, *, owner: str, minutes_ago: float, angry: bool = False) -> None:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    with session_scope(sessions) as s:
        s.add(Customer(id=f"cust-{cid}"))
        s.flush()
        s.add(Conversation(id=cid, customer_id=f"cust-{cid}", channel="app", first_channel="app", owner=owner,
                           status="open", created_at=at, updated_at=at,
                           handed_off_at=at if owner != "bot" else None))
        s.flush()
        s.add(Message(conversation_id=cid, customer_id=f"cust-{cid}", direction="in", sender="customer",
                      channel="app", text="怎么还没人理我", sentiment_label="angry" if angry else "neutral",
                      anger=0.9 if angry else 0.0, created_at=at))


def test_live_list_whisper_and_refusals(tmp_path: Path) -> None:
    engine, sessions = migrated(tmp_path)
    sup = add_user(sessions, "sup", role="supervisor", status="offline")
    amy = add_user(sessions, "amy", skills={"general": 5})
    open_conversation(sessions, "c-queue", owner="queue", minutes_ago=3, angry=True)  # waited 3 min > 20 s
    open_conversation(sessions, "c-agent", owner="agent", minutes_ago=0.2)
    open_conversation(sessions, "c-bot", owner="bot", minutes_ago=1)
    open_conversation(sessions, "c-stale", owner="bot", minutes_ago=90)  # a quiet bot chat is not live
    headers = bearer(SETTINGS, sup, "sup", "supervisor")
    with running(ops_app(SETTINGS, engine)) as client:
        routing = client.app.state.engine
        routing.reload_agent(amy)
        routing.enqueue(conversation_id="c-agent", customer_id="cust-c-agent", skill="general")
        from router.routing.models import AgentStatus

        routing.set_status(amy, AgentStatus.online)
        offer = routing.offers_for(amy)[0]
        routing.accept(offer.id, amy)
        routing.enqueue(conversation_id="c-queue", customer_id="cust-c-queue", skill="billing")  # nobody has it
        live = client.get("/api/v1/supervision/live", headers=headers).json()
        assert [r["conversation_id"] for r in live] == ["c-queue", "c-agent", "c-bot"]
        queue = live[0]
        assert (queue["sla"], queue["sentiment"], queue["owner"]) == ("breached", "angry", "queue")
        assert queue["wait_s"] >= 170
        assert live[1]["agent_id"] == amy and live[1]["state"] == "assigned" and live[1]["sla"] == "ok"

        res = client.post("/api/v1/supervision/conversations/c-agent/whisper", headers=headers,
                          json={"text": "注意语气"})
        assert res.status_code == 200, res.text
        with session_scope(sessions) as s:
            assert s.query(Message).filter(Message.text == "注意语气").count() == 0  # never a message
            assert s.query(ConversationEvent).filter(ConversationEvent.type == "whisper").count() == 1
        lines = client.get("/api/v1/supervision/conversations/c-agent/transcript", headers=headers).json()
        assert [x["kind"] for x in lines][-1] == "whisper"

        queued = client.post("/api/v1/supervision/conversations/c-queue/whisper", headers=headers,
                             json={"text": "x"})
        assert queued.status_code == 409 and "没有客服接待" in queued.json()["message"]
        offline = client.post("/api/v1/supervision/conversations/c-agent/barge-in", headers=headers)
        assert offline.status_code == 409 and "上线" in offline.json()["message"]
        assert client.post("/api/v1/supervision/conversations/nope/reroute", headers=headers,
                           json={"to_skill": "billing"}).status_code == 404
        assert client.post("/api/v1/supervision/conversations/c-agent/whisper", headers=headers,
                           json={"text": ""}).status_code == 422
        agent_headers = bearer(SETTINGS, amy, "amy", "agent")
        assert client.get("/api/v1/supervision/live", headers=agent_headers).status_code == 403
        moved = client.post("/api/v1/supervision/conversations/c-agent/reroute", headers=headers,
                            json={"to_skill": "billing", "note": "转支付组"})
        assert moved.status_code == 200 and moved.json()["done"] == "transferred"
        assert routing.items["c-agent"].skill == "billing" and routing.items["c-agent"].state.value == "waiting"
        audit = client.get("/api/v1/team/audit", headers=headers).json()
        assert [a["action"] for a in audit] == ["reroute", "whisper"]
    engine.dispose()
