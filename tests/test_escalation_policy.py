"""The one escalation policy (knowledge_base/escalation.py), pinned by one table of cases and run through every entry
point that uses it: the policy itself, the bot's handoff payload (actions.escalation.build_handoff), the gateway's
handoff (GatewayService._handoff over a real SQLite database), the ticket service's decision and the routing queue's
order. docs/escalation.md explains the choices the table pins.

Feelings are (label, anger, polarity) of the shopper's recent messages, oldest first.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from actions.escalation import build_handoff
from knowledge_base.escalation import Feeling, classify_text, decide, load_policy, queue_rank
from router.conversations.models import Conversation, ConversationEvent, Customer, Message
from router.db import session_scope
from router.gateway.anger import OFFER_EVENT
from router.gateway.service import GatewayService
from router.routing.models import WorkItem
from router.routing.selection import sort_key
from router.settings import Settings
from router.tickets.service import Context, TicketService
from tests.actions.conftest import make_tracker, user_event
from tests.router.ops_support import migrated

BOT_REASONS = {"request_human", "fallback", "complaint", "refund_dispute", "faq_decline", "order_problem"}
ANGRY, VERY_ANGRY, NEUTRAL = ("angry", 0.6, -0.9), ("angry", 0.9, -0.9), ("neutral", 0.0, 0.0)


@dataclass(frozen=True)
class Case:
    id: str
    reason: str
    text: str
    skill: str  # expected
    priority: int  # expected
    topic: str | None = None  # expected
    intent: str | None = None
    faq_category: str | None = None
    given_topic: str | None = None
    given_skill: str | None = None
    product: bool = False
    earlier: tuple[str, ...] = ()
    feelings: tuple[tuple[str, float, float], ...] = ()
    offer_taken: bool = False
    vip: bool = False
    wait_s: float = 0.0
    floor: int = 0
    rank: float | None = None  # expected when it is not the priority


CASES = [
    # --- the NLU intent
    Case("intent order_status", "request_human", "转人工", "logistics", 1, intent="order_status"),
    Case("intent address_change", "request_human", "转人工", "logistics", 1, intent="address_change"),
    Case("intent invoice_request", "request_human", "转人工", "billing", 1, intent="invoice_request"),
    Case("intent refund_request", "request_human", "转人工", "after_sales", 1, intent="refund_request"),
    Case("intent beats keywords", "request_human", "发票开错了", "after_sales", 1, "invoice_apply",
         intent="return_request"),
    Case("intent beats FAQ category", "faq_decline", "转人工", "logistics", 1, intent="order_status",
         faq_category="billing"),
    # --- the knowledge base's FAQ category
    Case("FAQ category product", "faq_decline", "这个多少钱", "product", 1, intent="ask_faq", faq_category="product"),
    Case("FAQ category beats keywords", "faq_decline", "快递", "billing", 1, "logistics_track", intent="ask_faq",
         faq_category="billing"),
    Case("FAQ category general says nothing", "faq_decline", "快递到哪了", "logistics", 1, "logistics_track",
         intent="ask_faq", faq_category="general"),
    # --- topics and keywords of the text (where the old classifiers disagreed)
    Case("正品 is after_sales (authenticity)", "request_human", "是正品吗？怀疑买到假货", "after_sales", 1,
         "authenticity"),
    Case("地址 with a change is address_change", "request_human", "收货地址填错了，帮我转人工", "logistics", 1,
         "address_change"),
    Case("a bare 地址 is logistics", "request_human", "地址在哪看", "logistics", 1),
    Case("尺码不对 is a wrong item", "request_human", "尺码不对，发错货了", "after_sales", 2, "wrong_item"),
    Case("lost package is urgent", "request_human", "包裹丢了", "logistics", 3, "package_lost"),
    Case("failed payment is urgent", "request_human", "付款失败了但是扣了钱", "billing", 3, "payment_failed"),
    Case("damaged package", "request_human", "收到的杯子碎了", "after_sales", 2, "package_damaged"),
    Case("size question is product", "request_human", "有没有39的尺码", "product", 1, "size_guide"),
    Case("installment is billing", "request_human", "花呗分期可以吗", "billing", 1, "installment"),
    Case("product words", "request_human", "这个型号参数是多少", "product", 1),
    Case("no clue is general", "request_human", "找个真人聊聊", "general", 1),
    Case("a catalog product", "request_human", "戴森V12吸尘器想咨询下人工", "product", 1, product=True),
    Case("earlier intents", "request_human", "转人工", "billing", 1, earlier=("invoice_request", "greet")),
    Case("second fallback, angry", "fallback", "嗯嗯那个东西", "logistics", 4, intent="nlu_fallback",
         earlier=("order_status",), feelings=(ANGRY,)),
    Case("a decided skill wins", "refund_dispute", "质量问题", "after_sales", 4, "quality_issue", intent="inform",
         given_skill="after_sales"),
    Case("order problem", "order_problem", "发票", "billing", 2, "invoice_apply", given_skill="billing"),
    Case("bot down", "bot_unavailable", "退款多久到账", "after_sales", 2, "refund_time"),
    # --- sentiment
    Case("calm complaint", "complaint", "你们的服务太差了，我要投诉", "general", 5, intent="complaint",
         feelings=(NEUTRAL,)),
    Case("angry complaint", "complaint", "快递员态度恶劣，投诉！！", "logistics", 8, "logistics_track",
         intent="complaint", feelings=(ANGRY,)),
    Case("very angry request", "request_human", "转人工", "general", 5, feelings=(VERY_ANGRY,)),
    Case("angry handoff, lost package, capped", "angry", "气死我了，包裹丢了一个星期", "logistics", 10,
         "package_lost", feelings=(NEUTRAL, VERY_ANGRY)),
    Case("repeated anger", "angry", "你们太过分了", "general", 10, feelings=(ANGRY, NEUTRAL, VERY_ANGRY)),
    Case("angry but not very", "angry", "太过分了", "general", 8, feelings=(NEUTRAL, ANGRY)),
    Case("mild negative trend", "request_human", "转人工", "general", 2,
         feelings=(("negative", 0.0, -0.7), NEUTRAL, ("negative", 0.0, -0.6))),
    Case("strong negative trend", "request_human", "转人工", "general", 3,
         feelings=(("negative", 0.0, -0.9), ("negative", 0.0, -0.9), ("negative", 0.0, -0.95))),
    Case("recovering mood", "request_human", "转人工", "general", 1,
         feelings=(("negative", 0.0, -0.9), ("negative", 0.0, -0.9), ("positive", 0.0, 0.9))),
    Case("anger out of the window", "request_human", "转人工", "general", 1, feelings=(VERY_ANGRY, *[NEUTRAL] * 5)),
    Case("offer taken counts as angry", "request_human", "转人工", "general", 4, feelings=(NEUTRAL,),
         offer_taken=True),
    # --- VIP
    Case("VIP with no specific problem", "request_human", "找个真人聊聊", "vip", 4, vip=True),
    Case("VIP keeps a specific skill", "request_human", "快递到哪了", "logistics", 4, "logistics_track", vip=True),
    Case("angry VIP, capped", "angry", "太过分了", "vip", 10, feelings=(VERY_ANGRY,), vip=True),
    # --- wait: the queue rank (priority plus one point per 30 s waited); the priority itself does not age
    Case("waited a minute", "request_human", "转人工", "general", 1, wait_s=60, rank=3.0),
    Case("complaint waited 90 s", "complaint", "投诉", "general", 5, intent="complaint", wait_s=90, rank=8.0),
    # --- a priority the conversation already has is a floor
    Case("floor from the bot's payload", "request_human", "转人工", "logistics", 6, given_skill="logistics", floor=6),
    # --- tickets (the source is the reason)
    Case("left message about a lost package, angry", "leave_message", "物流显示签收了但我根本没收到", "logistics", 6,
         "package_lost", feelings=(ANGRY,)),
    Case("unresolved, angry VIP", "unresolved", "发票抬头写错了", "billing", 7, "invoice_apply", feelings=(ANGRY,),
         vip=True),
    Case("unresolved, plain", "unresolved", "发票抬头写错了", "billing", 1, "invoice_apply", feelings=(NEUTRAL,)),
    Case("agent ticket", "agent", "顾客要求补发赠品", "after_sales", 0, given_skill="after_sales"),
    Case("explicit vip category stays", "leave_message", "包裹在哪", "vip", 1, given_skill="vip"),
    Case("a known topic gives the skill", "leave_message", "", "logistics", 3, "package_lost",
         given_topic="package_lost"),
]


def feelings(case: Case) -> list[Feeling]:
    return [Feeling(label, anger, polarity) for label, anger, polarity in case.feelings]


def test_the_table_is_big_enough_and_names_every_skill() -> None:
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)
    assert {c.skill for c in CASES} == set(load_policy().skills)
    assert {c.reason for c in CASES} == set(load_policy().reasons)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_policy(case: Case) -> None:
    decision = decide(
        reason=case.reason,
        intent=case.intent,
        faq_category=case.faq_category,
        text=case.text,
        topic=case.given_topic,
        skill=case.given_skill,
        product_mentioned=case.product,
        earlier_intents=case.earlier,
        feelings=feelings(case),
        offer_taken=case.offer_taken,
        vip=case.vip,
        wait_s=case.wait_s,
        floor=case.floor,
    )
    assert (decision.skill, decision.priority, decision.topic) == (case.skill, case.priority, case.topic)
    assert decision.rank == (case.rank if case.rank is not None else case.priority)


# ------------------------------------------------------------------ the bot's entry point
def bot_can_see(case: Case) -> bool:
    """The bot knows one message's sentiment and no VIP status, wait, floor or earlier topic."""
    return (case.reason in BOT_REASONS and not case.vip and len(case.feelings) <= 1 and not case.offer_taken
            and not case.wait_s and not case.floor and case.given_topic is None)


@pytest.mark.parametrize("case", [c for c in CASES if bot_can_see(c)], ids=lambda c: c.id)
def test_bot_handoff_payload(case: Case) -> None:
    history = [event for intent in reversed(case.earlier)
               for event in (user_event("嗯", intent), {"event": "action", "name": "action_listen"})]
    tracker = make_tracker(case.text, case.intent or "request_human", history=history)
    if case.feelings:
        label, anger, polarity = case.feelings[0]
        tracker.latest_message["metadata"] = {"sentiment": {"label": label, "anger": anger, "polarity": polarity}}
    payload = build_handoff(tracker, case.reason, faq_category=case.faq_category,  # type: ignore[arg-type]
                            skill=case.given_skill)  # type: ignore[arg-type]
    assert (payload["skill"], payload["priority"], payload["reason"]) == (case.skill, case.priority, case.reason)


# ------------------------------------------------------------------ the gateway's entry point
class RecordingQueue:
    def __init__(self) -> None:
        self.enqueued: list[dict[str, Any]] = []

    def enqueue(self, **kwargs: Any) -> None:
        self.enqueued.append(kwargs)

    def queue_status(self, conversation_id: str) -> None:
        return None

    def agents_online(self, skill: str | None = None) -> int:
        return 1

    def abandon(self, conversation_id: str) -> None:
        pass


class SilentPush:
    async def to_customer(self, customer_id: str, event: dict[str, Any]) -> None:
        pass

    async def to_agent(self, agent_id: int, event: dict[str, Any]) -> None:
        pass


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    engine, factory = migrated(tmp_path_factory.mktemp("policy"))
    yield factory
    engine.dispose()


def gateway_can_see(case: Case) -> bool:
    """The gateway knows the text, the bot's skill / intent / priority, the stored sentiment, VIP and an offer."""
    return not (case.faq_category or case.product or case.earlier or case.wait_s or case.given_topic)


_ids = itertools.count()


@pytest.mark.parametrize("case", [c for c in CASES if gateway_can_see(c)], ids=lambda c: c.id)
def test_gateway_handoff(case: Case, sessions: sessionmaker[Session]) -> None:
    n = next(_ids)
    customer, conv_id = f"policy-{n}", f"conv-policy-{n}"
    with session_scope(sessions) as s:
        s.add(Customer(id=customer, vip=case.vip))
        s.flush()
        s.add(Conversation(id=conv_id, customer_id=customer, channel="web", first_channel="web"))
        s.flush()
        for label, anger, polarity in case.feelings:
            s.add(Message(conversation_id=conv_id, customer_id=customer, direction="in", sender="customer",
                          channel="web", text="…", sentiment_label=label, sentiment_score=abs(polarity),
                          anger=anger))
        if case.offer_taken:
            s.add(ConversationEvent(conversation_id=conv_id, type=OFFER_EVENT, channel="web", data={}))
    queue = RecordingQueue()
    gateway = GatewayService(session_factory=sessions, rasa=None, sentiment=None, queue=queue,  # type: ignore[arg-type]
                             tickets=None, push=SilentPush())  # type: ignore[arg-type]

    with session_scope(sessions) as s:
        offered = gateway.anger.offered_before(s, conv_id)  # as the gateway asks before relaying a bot handoff
    asyncio.run(gateway.handoffs.request(conv_id, reason=case.reason, text=case.text, skill=case.given_skill,
                                 intent=case.intent, floor=case.floor, offer_taken=offered, lead=None))
    [enqueued] = queue.enqueued
    assert (enqueued["skill"], enqueued["priority"], enqueued["reason"]) == (case.skill, case.priority, case.reason)
    with session_scope(sessions) as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None and (conv.required_skill, conv.priority) == (case.skill, case.priority)


# ------------------------------------------------------------------ the ticket service's entry point
def tickets_can_see(case: Case) -> bool:
    """A ticket knows its text, category, the conversation's FAQ topic, sentiment, VIP and queue priority."""
    return not (case.intent or case.faq_category or case.product or case.earlier or case.offer_taken or case.wait_s)


@pytest.mark.parametrize("case", [c for c in CASES if tickets_can_see(c)], ids=lambda c: c.id)
def test_ticket_decision(case: Case) -> None:
    service = TicketService(None)  # type: ignore[arg-type]  # deciding touches no database
    ctx = Context(vip=case.vip, feelings=tuple(feelings(case)), topic=case.given_topic)
    decision = service.decide(case.text, ctx, case.reason, case.given_skill, case.floor)
    assert (decision.skill, decision.priority, decision.topic) == (case.skill, case.priority, case.topic)


# ------------------------------------------------------------------ the routing queue's order
def test_the_routing_queue_orders_by_the_policy_rank() -> None:
    weight = Settings().priority_weight_s
    assert weight == load_policy().aging_s
    now = 10_000.0
    items = [(c.priority, c.wait_s) for c in CASES] + [(p, w) for p in (0, 3, 10) for w in (0.0, 29.0, 45.0, 600.0)]
    ranked = sorted(items, key=lambda pw: -queue_rank(*pw))
    keyed = sorted(items, key=lambda pw: sort_key(
        WorkItem(id="i", conversation_id="c", customer_id="u", channel="web", skill="general", priority=pw[0],
                 enqueued_at=now - pw[1]), weight))
    assert [queue_rank(*pw) for pw in ranked] == [queue_rank(*pw) for pw in keyed]


def test_classify_text_is_the_one_keyword_classifier() -> None:
    assert (classify_text("包裹丢了").topic, classify_text("包裹丢了").skill) == ("package_lost", "logistics")
    assert classify_text("今天天气不错").skill == "general" and classify_text("今天天气不错").topic is None


def test_the_data_file_is_the_only_keyword_list() -> None:
    root = Path(__file__).resolve().parents[1]
    assert not (root / "actions" / "data" / "skills.yml").exists()
    assert not (root / "router" / "tickets" / "classify.py").exists()
    gateway = (root / "router" / "gateway" / "service.py").read_text(encoding="utf-8")
    assert "SKILL_KEYWORDS" not in gateway and "退款|" not in gateway
