"""Races between requests and replicas end as "the first one wins, both callers get the same answer", never a 500;
the database itself refuses a second open conversation per customer and a second automatic ticket."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from router.clock import utcnow
from router.conversations.models import Conversation, Customer, CustomerIdentity, Message
from router.db import session_scope
from router.gateway.schemas import InboundMessage
from router.tickets.models import Ticket
from router.tickets.service import TicketService
from tests.router.integrity.conftest import make_gateway

pytestmark = [pytest.mark.pg, pytest.mark.slow]


def _count(sessions, query) -> int:  # type: ignore[no-untyped-def]
    with session_scope(sessions) as s:
        return int(s.scalar(query) or 0)


def test_two_first_messages_from_one_new_openid(pg, analyzer) -> None:  # type: ignore[no-untyped-def]
    engine, sessions = pg
    a, b = make_gateway(engine, analyzer), make_gateway(engine, analyzer)

    async def both(openid: str) -> list[object]:
        first = InboundMessage(channel="miniprogram", customer_id=openid, text="你好", client_msg_id="m1")
        second = InboundMessage(channel="miniprogram", customer_id=openid, text="在吗", client_msg_id="m2")
        # one replica twice (the openid is resolved before the customer's lock) and two replicas
        return await asyncio.gather(a.handle(first), a.handle(second), return_exceptions=True) + list(
            await asyncio.gather(
                b.handle(first.model_copy(update={"customer_id": openid + "x"})),
                a.handle(second.model_copy(update={"customer_id": openid + "x"})),
                return_exceptions=True,
            )
        )

    for n in range(4):
        openid = f"oid{n}{uuid.uuid4().hex[:10]}"
        results = asyncio.run(both(openid))
        assert not [r for r in results if isinstance(r, BaseException)], results
        for who in (openid, openid + "x"):
            assert _count(sessions, select(func.count()).select_from(CustomerIdentity).where(
                CustomerIdentity.external_id == who)) == 1
            customer = f"mp:{who}"
            assert _count(sessions, select(func.count()).select_from(Message).where(
                Message.customer_id == customer, Message.direction == "in")) == 2
            assert _count(sessions, select(func.count()).select_from(Conversation).where(
                Conversation.customer_id == customer, Conversation.status == "open")) == 1


def test_one_client_msg_id_on_two_replicas_is_stored_once_and_answered_alike(pg, analyzer) -> None:  # type: ignore[no-untyped-def]
    engine, sessions = pg
    a, b = make_gateway(engine, analyzer), make_gateway(engine, analyzer)
    for n in range(4):
        customer = f"web-race-{n}-{uuid.uuid4().hex[:8]}"
        message = InboundMessage(channel="web", customer_id=customer, text="我的快递到哪了", client_msg_id="same-1")

        async def twice(m: InboundMessage = message) -> list[object]:
            return list(await asyncio.gather(a.handle(m), b.handle(m), return_exceptions=True))

        first, second = asyncio.run(twice())
        assert not isinstance(first, BaseException) and not isinstance(second, BaseException), (first, second)
        assert first.message_id == second.message_id  # type: ignore[union-attr]
        assert first.conversation_id == second.conversation_id  # type: ignore[union-attr]
        assert [r.text for r in first.replies] == [r.text for r in second.replies] != []  # type: ignore[union-attr]
        assert _count(sessions, select(func.count()).select_from(Message).where(
            Message.customer_id == customer, Message.direction == "in")) == 1


def test_two_replicas_never_open_two_conversations_for_one_customer(pg, analyzer) -> None:  # type: ignore[no-untyped-def]
    engine, sessions = pg
    a, b = make_gateway(engine, analyzer), make_gateway(engine, analyzer)
    for n in range(4):
        customer = f"web-two-{n}-{uuid.uuid4().hex[:8]}"

        async def both(c: str = customer) -> list[object]:
            return list(await asyncio.gather(
                a.handle(InboundMessage(channel="web", customer_id=c, text="你好", client_msg_id="x1")),
                b.handle(InboundMessage(channel="app", customer_id=c, text="有人吗", client_msg_id="x2")),
                return_exceptions=True,
            ))

        first, second = asyncio.run(both())
        assert not isinstance(first, BaseException) and not isinstance(second, BaseException), (first, second)
        assert first.conversation_id == second.conversation_id  # type: ignore[union-attr]
        assert _count(sessions, select(func.count()).select_from(Conversation).where(
            Conversation.customer_id == customer, Conversation.status == "open")) == 1
    # and the database refuses it outright, whatever the code above it does
    with pytest.raises(IntegrityError), session_scope(sessions) as s:
        s.add(Customer(id="c-direct"))
        s.flush()
        s.add_all([Conversation(customer_id="c-direct", channel="web", first_channel="web") for _ in range(2)])


def test_customer_locks_do_not_outlive_their_messages(pg, analyzer) -> None:  # type: ignore[no-untyped-def]
    engine, _sessions = pg
    gateway = make_gateway(engine, analyzer)

    async def many() -> None:
        await asyncio.gather(*[
            gateway.handle(InboundMessage(channel="web", customer_id=f"lock-{i}", text="你好")) for i in range(30)
        ])

    asyncio.run(many())
    assert len(gateway._locks) == 0


def test_two_unresolved_sweeps_racing_make_one_ticket_per_conversation(pg) -> None:  # type: ignore[no-untyped-def]
    engine, sessions = pg
    closed = utcnow() - timedelta(minutes=5)
    with session_scope(sessions) as s:
        for i in range(5):
            s.add(Customer(id=f"left-{i}"))
            s.flush()
            s.add(Conversation(customer_id=f"left-{i}", channel="web", first_channel="web", status="closed",
                               resolution="abandoned", closed_at=closed, required_skill="general"))
    # both sweeps have read the conversations without a ticket before either inserts one (deterministic race)
    barrier = threading.Barrier(2, timeout=10)
    waited = threading.local()

    @event.listens_for(engine, "before_cursor_execute")
    def _meet(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO TICKETS") and not getattr(waited, "done", False):
            waited.done = True
            barrier.wait()

    results: list[object] = []

    def sweep() -> None:
        try:
            results.append(TicketService(sessions).sweep_unresolved())
        except Exception as exc:  # noqa: BLE001 (collected and asserted below)
            results.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    event.remove(engine, "before_cursor_execute", _meet)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sorted(len(r) for r in results) == [0, 5]  # type: ignore[arg-type]
    with session_scope(sessions) as s:
        per_conversation = s.scalars(select(func.count()).select_from(Ticket).group_by(Ticket.conversation_id)).all()
    assert sorted(per_conversation) == [1] * 5
    with pytest.raises(IntegrityError), session_scope(sessions) as s:
        TicketService(sessions).create_from_conversation(
            conversation_id=s.scalar(select(Conversation.id).limit(1)) or "", customer_id="left-0", channel="web",
            text="again", category="general", priority=0, source="unresolved", session=s,
        )


def test_two_alert_evaluations_racing_store_one_alert(pg) -> None:  # type: ignore[no-untyped-def]
    from router.alerts.models import Alert
    from router.alerts.service import AlertService
    from router.demo.traffic import TrafficWriter
    from tests.router.alerts.test_alerts import CONFIG, NOW

    engine, sessions = pg
    writer = TrafficWriter(sessions, seed=21, queue_wait_mean_s=20.0)
    writer.write(120, start=NOW - timedelta(hours=6), end=NOW)
    writer.write_spike(topic="package_lost", start=NOW, duration_s=6 * 60, count=30, angry_share=0.2)
    barrier = threading.Barrier(2, timeout=10)
    services = [AlertService(session_factory=sessions, config=CONFIG, cooldown_s=1800) for _ in range(2)]
    for service in services:  # both have found the spike (and checked the cool-down) before either stores it
        detect = service.detector.evaluate

        def meet(session, now, _detect=detect):  # type: ignore[no-untyped-def]
            spikes = _detect(session, now)
            barrier.wait()
            return spikes

        service.detector.evaluate = meet  # type: ignore[method-assign]
    results: list[object] = []
    at = NOW + timedelta(minutes=7)

    def run(service: AlertService) -> None:
        try:
            results.append(service.evaluate(now=at))
        except Exception as exc:  # noqa: BLE001 (asserted below)
            results.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert _count(sessions, select(func.count()).select_from(Alert).where(Alert.signal == "topic")) == 1
