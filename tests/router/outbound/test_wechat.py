"""The mini-program adapter against a fake WeChat server on loopback: token cache and refresh (42001), text and link
messages, the 48-hour reply window, and error codes that are retried (-1) or given up (45015, 40013)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from router.clock import utcnow
from router.conversations.models import Conversation, Customer, CustomerIdentity, Message
from router.db import session_scope
from router.gateway.schemas import Reply
from router.outbound.models import DEAD, DELIVERED
from router.outbound.outbox import OutboxWriter
from router.outbound.wechat import WeChatClient, classify, messages_for
from router.outbound.worker import DeliveryWorker, RetryPolicy
from tests.procs import free_port
from tests.router.outbound.fake_wechat import APP_ID, APP_SECRET, FakeWeChat, FakeWeChatServer
from tests.router.outbound.support import database, rows, run_worker, worker


@pytest.fixture
def wechat() -> FakeWeChatServer:
    with FakeWeChatServer(FakeWeChat(), free_port()) as server:
        yield server  # type: ignore[misc]


def client(server: FakeWeChatServer, secret: str = APP_SECRET) -> WeChatClient:
    return WeChatClient(app_id=APP_ID, app_secret=secret, api_base=server.url, timeout_s=5)


def text(openid: str, content: str) -> dict[str, object]:
    return {"touser": openid, "msgtype": "text", "text": {"content": content}}


def test_token_is_cached_and_refreshed_once_when_wechat_says_expired(wechat: FakeWeChatServer) -> None:
    async def main() -> None:
        wx = client(wechat)
        try:
            for i in range(3):
                assert (await wx.send(text("o-user", f"第{i}条"))).outcome == "delivered"
            assert wx.token_fetches == 1  # one token for all three
            wechat.fake.expire_token()
            result = await wx.send(text("o-user", "过期之后"))
            assert result.outcome == "delivered", result
            assert wx.token_fetches == 2
        finally:
            await wx.aclose()

    asyncio.run(main())
    assert [m["text"]["content"] for m in wechat.fake.sent] == ["第0条", "第1条", "第2条", "过期之后"]


def test_error_codes_retry_or_give_up(wechat: FakeWeChatServer) -> None:
    async def main() -> None:
        wx = client(wechat)
        try:
            wechat.fake.busy = 1
            busy = await wx.send(text("o-user", "忙"))
            assert busy.outcome == "retry" and "-1" in (busy.reason or "")
            assert (await wx.send(text("o-user", "不忙了"))).outcome == "delivered"
            wechat.fake.out_of_window.add("o-late")
            late = await wx.send(text("o-late", "太晚了"))
            assert late.outcome == "give_up" and "45015" in (late.reason or "")
            empty = await wx.send(text("o-user", ""))
            assert empty.outcome == "give_up" and "44002" in (empty.reason or "")
        finally:
            await wx.aclose()
        wrong = client(wechat, secret="wrong")
        try:
            refused = await wrong.send(text("o-user", "x"))
            assert refused.outcome == "give_up" and "40125" in (refused.reason or "")
        finally:
            await wrong.aclose()

    asyncio.run(main())
    assert classify(45047).outcome == "give_up" and classify(45011).outcome == "retry"
    assert classify(99999).outcome == "retry"  # unknown: bounded retries, then the dead-letter list


def test_survey_goes_as_a_link_and_long_text_is_split() -> None:
    payload = {
        "event": "survey",
        "to": "o-1",
        "conversation_id": "c1",
        "message": {"text": "请为本次服务打分", "buttons": []},
    }
    [link] = messages_for(payload, survey_url="https://shop.example.com/survey?c={conversation_id}")
    assert link["msgtype"] == "link" and link["link"]["url"] == "https://shop.example.com/survey?c=c1"
    long = {"event": "agent_message", "to": "o-1", "conversation_id": "c1", "message": {"text": "好" * 1300}}
    parts = messages_for(long)
    assert [len(p["text"]["content"]) for p in parts] == [600, 600, 100]


def mini_conversation(sessions: sessionmaker[Session], openid: str, *, last_message_age_s: float) -> str:
    customer_id = f"mp:{openid}"
    with session_scope(sessions) as session:
        session.add(Customer(id=customer_id))
        session.flush()
        session.add(CustomerIdentity(channel="miniprogram", external_id=openid, customer_id=customer_id))
        conv = Conversation(customer_id=customer_id, channel="miniprogram", first_channel="miniprogram", owner="agent")
        session.add(conv)
        session.flush()
        session.add(
            Message(
                conversation_id=conv.id,
                customer_id=customer_id,
                direction="in",
                sender="customer",
                channel="miniprogram",
                text="在吗",
                created_at=utcnow() - timedelta(seconds=last_message_age_s),
            )
        )
        return conv.id


def queue_agent_messages(sessions: sessionmaker[Session], conv_id: str, texts: list[str]) -> None:
    with session_scope(sessions) as session:
        conv = session.get(Conversation, conv_id)
        assert conv is not None
        OutboxWriter(wechat_enabled=True).notify(
            session, conv, "agent_message", [Reply(text=t, sender="agent") for t in texts]
        )


def wechat_worker(sessions: sessionmaker[Session], server: FakeWeChatServer) -> DeliveryWorker:
    base = worker(sessions)
    return DeliveryWorker(
        sessions=sessions,
        webhook=base.webhook,
        wechat=client(server),
        policy=RetryPolicy(base_s=0.05, max_s=0.3, max_attempts=5),
        poll_s=0.05,
    )


def test_worker_delivers_to_wechat_in_order_and_respects_the_48_hour_window(
    tmp_path: Path, wechat: FakeWeChatServer
) -> None:
    sessions = database(tmp_path)
    recent = mini_conversation(sessions, "o-recent", last_message_age_s=3600)
    stale = mini_conversation(sessions, "o-stale", last_message_age_s=49 * 3600)
    queue_agent_messages(sessions, recent, ["您好", "已为您查询", "明天送达"])
    queue_agent_messages(sessions, stale, ["两天后的回复"])
    wechat.fake.busy = 2  # the first two sends meet a busy WeChat: retried, order kept
    run_worker(wechat_worker(sessions, wechat), lambda: all(r.status != "pending" for r in rows(sessions)))
    by_conv = {(r.conversation_id, r.message_id): r for r in rows(sessions)}
    assert [m["text"]["content"] for m in wechat.fake.sent] == ["您好", "已为您查询", "明天送达"]
    assert all(m["touser"] == "o-recent" for m in wechat.fake.sent)
    stale_rows = [r for (c, _), r in by_conv.items() if c == stale]
    assert [r.status for r in stale_rows] == [DEAD] and "48-hour" in (stale_rows[0].last_error or "")
    assert {r.status for (c, _), r in by_conv.items() if c == recent} == {DELIVERED}
    assert not any(m["touser"] == "o-stale" for m in wechat.fake.sent)  # not even tried


def test_events_without_a_message_are_not_queued_for_wechat(tmp_path: Path) -> None:
    sessions = database(tmp_path)
    conv_id = mini_conversation(sessions, "o-events", last_message_age_s=60)
    with session_scope(sessions) as session:
        conv = session.get(Conversation, conv_id)
        assert conv is not None
        writer = OutboxWriter(wechat_enabled=True)
        assert writer.notify(session, conv, "conversation_closed", data={"by": "agent"}) == []
        assert writer.notify(session, conv, "queue_update", data={"position": 2}) == []
        [row] = writer.notify(session, conv, "survey", [Reply(text="请打分", sender="system")])
        assert row.transport == "wechat" and row.payload["to"] == "o-events"
