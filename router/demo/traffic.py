"""Realistic, seeded shopper traffic: hundreds of conversations with the gateway's event vocabulary.

Two ways to use it:

* :class:`TrafficWriter` writes conversations, messages, events and surveys straight into the gateway's tables with
  past timestamps (fast; KPI, alert and learning tests, ``kefu demo seed``);
* :func:`replay` sends the shopper side of generated scripts to a running gateway's ``POST /api/v1/messages``.

>>> scripts = generate_scripts(3, seed=7)
>>> len(scripts), scripts[0].turns[0] != ""
(3, True)
"""

from __future__ import annotations

import inspect
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from sqlalchemy.orm import Session, sessionmaker

from knowledge_base.escalation import decide
from router.clock import aware
from router.conversations.models import Conversation, ConversationEvent, Customer, Message, Survey
from router.db import session_scope
from router.gateway.ports import TicketSink

Kind = Literal[
    "faq_answered", "faq_clarified", "order_status", "unknown_to_agent", "angry_complaint", "abandoned", "left_message"
]
CHANNELS = ("web", "app", "miniprogram")
CHANNEL_WEIGHTS = (0.45, 0.35, 0.20)

# FAQ topic -> (category, how shoppers ask)
FAQ_QUESTIONS: dict[str, tuple[str, list[str]]] = {
    "refund_time": ("after_sales", ["退款多久能到账", "钱什么时候退回来", "退款几天到", "申请退款了还没到账怎么回事"]),
    "return_how": ("after_sales", ["怎么退货", "我想退货怎么操作", "退货流程是什么", "衣服不合适想退"]),
    "exchange_how": ("after_sales", ["鞋子小了能换大一码吗", "怎么换货", "想换个颜色可以吗"]),
    "logistics_track": ("logistics", ["我的快递到哪了", "怎么查物流", "物流信息在哪看", "快递怎么还没到"]),
    "delivery_time": ("logistics", ["下单后多久发货", "什么时候能发货", "一般几天能送到"]),
    "address_change": ("logistics", ["地址填错了怎么改", "下单后能改地址吗", "收货电话写错了"]),
    "package_lost": ("logistics", ["包裹丢了怎么办", "显示已签收可是我没收到", "快递丢件了谁负责"]),
    "invoice_apply": ("billing", ["怎么开发票", "发票在哪里申请", "能开电子发票吗"]),
    "coupon_use": ("billing", ["优惠券怎么用", "领的券在哪里用", "满减券怎么使用"]),
    "price_protection": ("billing", ["刚买就降价了能补差价吗", "有价保吗", "降价了怎么申请保价"]),
    "size_guide": ("product", ["这件衣服我该穿多大码", "尺码表在哪看", "身高170穿什么尺码"]),
}
# questions the FAQ does not cover (the learning loop should propose them), with the answer agents give
UNKNOWN_THEMES: dict[str, tuple[str, list[str], str]] = {
    "trade_in": (
        "product",
        ["手机可以以旧换新吗", "旧手机能抵钱吗", "以旧换新怎么参加", "有没有旧机回收服务", "旧手机换新机能便宜多少"],
        "您好，支持以旧换新：在商品页点击“以旧换新”，填写旧机型号和成色即可估价，新机下单时直接抵扣，旧机由快递上门免费回收。",
    ),
    "bulk_purchase": (
        "general",
        ["可以企业批量采购吗", "公司大量购买有优惠吗", "批量订购怎么联系", "企业团购怎么下单", "我们单位想采购一百台"],
        "您好，企业批量采购请通过“企业购”入口提交需求，填写公司名称、联系人和采购清单，专属客户经理会在1个工作日内联系您并提供报价。",
    ),
    "special_invoice": (
        "billing",
        ["能开增值税专用发票吗", "可以开专票吗", "公司需要专用发票怎么开", "我要开增值税专票", "专票怎么申请"],
        "您好，可以开具增值税专用发票：申请开票时选择“专用发票”，填写公司名称、税号、地址电话、开户行及账号即可。",
    ),
    "installation": (
        "after_sales",
        ["空调包安装吗", "买洗衣机送装一体吗", "安装要另外收费吗", "什么时候上门安装", "热水器谁来装"],
        "您好，大家电支持送装一体，签收后师傅会在48小时内联系您预约上门，基础安装免费，如需额外材料会按价目表收费。",
    ),
}
ORDER_QUESTIONS = ["帮我查一下订单", "我的订单到哪一步了", "查订单状态", "订单 {order_id} 怎么样了"]
ANGRY_TEXTS = [
    "你们到底怎么回事！等了一个星期还没到！",
    "太离谱了，客服呢？！我要投诉！",
    "东西是坏的，你们就这样卖东西的吗？！",
    "退款拖了半个月了，再不处理我就去消协投诉！",
    "包裹丢了也没人管，气死我了！",
]
CLOSINGS = ["好的谢谢", "明白了，谢谢", "谢谢你", "好的"]
AGENT_REPLIES = {
    "after_sales": "您好，非常抱歉给您添麻烦了，我已为您登记售后，退款会在审核通过后1-3个工作日原路退回。",
    "logistics": "您好，我已联系快递公司核实，48小时内给您回复处理结果，如确认丢件我们会为您补发或全额退款。",
    "billing": "您好，发票和费用问题我已为您核实处理，稍后您可以在订单详情里查看。",
    "product": "您好，这个问题我帮您确认过了，您可以放心购买，有任何问题随时联系我们。",
    "general": "您好，您的问题我已经记录并处理，还有其他可以帮您的吗？",
}
DEFAULT_MIX: dict[Kind, float] = {
    "faq_answered": 0.40,
    "faq_clarified": 0.08,
    "order_status": 0.14,
    "unknown_to_agent": 0.14,
    "angry_complaint": 0.08,
    "abandoned": 0.08,
    "left_message": 0.08,
}


@dataclass
class Script:
    """One conversation: what the shopper says (``turns``) and how it should go (``kind``, ``topic``)."""

    kind: Kind
    channel: str
    customer_id: str
    turns: list[str]
    topic: str | None = None
    category: str = "general"
    sentiment: str = "neutral"
    meta: dict[str, Any] = field(default_factory=dict)


def _pick_kind(rng: random.Random, mix: dict[Kind, float]) -> Kind:
    kinds = list(mix)
    return rng.choices(kinds, weights=[mix[k] for k in kinds])[0]


def make_script(rng: random.Random, kind: Kind, *, customer_id: str | None = None, channel: str | None = None,
                topic: str | None = None) -> Script:
    """One conversation of ``kind`` (``topic`` forces the FAQ topic, e.g. ``package_lost`` for a spike)."""
    channel = channel or rng.choices(CHANNELS, weights=CHANNEL_WEIGHTS)[0]
    customer_id = customer_id or f"c{rng.randrange(10**8):08d}"
    if kind in ("faq_answered", "faq_clarified", "abandoned", "left_message"):
        topic = topic or rng.choice(list(FAQ_QUESTIONS))
        category, questions = FAQ_QUESTIONS[topic]
        turns = [rng.choice(questions)]
        if kind == "faq_clarified":
            turns.append(rng.choice(questions))
        if kind in ("abandoned", "left_message"):
            turns.append("转人工")
        if kind == "left_message":
            turns.append(f"{turns[0]}，麻烦上线后尽快联系我，电话 13{rng.randrange(10**9):09d}")
        elif kind != "abandoned" and rng.random() < 0.6:
            turns.append(rng.choice(CLOSINGS))
        sentiment = "negative" if kind in ("abandoned", "left_message") and rng.random() < 0.4 else "neutral"
        return Script(kind, channel, customer_id, turns, topic, category, sentiment)
    if kind == "order_status":
        order_id = f"202611{rng.randrange(10**10):010d}"
        text = rng.choice(ORDER_QUESTIONS).format(order_id=order_id)
        turns = [text] if order_id in text else [text, order_id]
        return Script(kind, channel, customer_id, turns, "order_status_howto", "logistics", meta={"order_id": order_id})
    if kind == "unknown_to_agent":
        theme = topic or rng.choice(list(UNKNOWN_THEMES))
        category, questions, _answer = UNKNOWN_THEMES[theme]
        return Script(kind, channel, customer_id, [rng.choice(questions), "人工客服"], theme, category,
                      meta={"theme": theme})
    topic = topic or rng.choice(["package_lost", "refund_time", "logistics_track", None])
    category = FAQ_QUESTIONS[topic][0] if topic else "after_sales"
    first = rng.choice(FAQ_QUESTIONS[topic][1]) if topic else rng.choice(ANGRY_TEXTS)
    return Script("angry_complaint", channel, customer_id, [first, rng.choice(ANGRY_TEXTS)], topic, category, "angry")


def generate_scripts(n: int, *, seed: int = 0, mix: dict[Kind, float] | None = None) -> list[Script]:
    rng = random.Random(seed)
    return [make_script(rng, _pick_kind(rng, mix or DEFAULT_MIX)) for _ in range(n)]



class TrafficWriter:
    """Writes generated conversations into the gateway tables as the gateway would have, with past timestamps.

    ``queue_wait_mean_s`` shapes ASA and abandonment; ``tickets`` (any ``TicketSink``) receives left messages.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        seed: int = 0,
        agent_ids: Sequence[int] = (1, 2, 3),
        tickets: TicketSink | None = None,
        queue_wait_mean_s: float = 25.0,
        vip_share: float = 0.05,
    ) -> None:
        self.sessions = session_factory
        self.rng = random.Random(seed)
        self.agent_ids = list(agent_ids)
        self.tickets = tickets
        self.queue_wait_mean_s = queue_wait_mean_s
        self.vip_share = vip_share

    # ------------------------------------------------------------------ public
    def write(
        self,
        n: int,
        *,
        start: datetime,
        end: datetime,
        mix: dict[Kind, float] | None = None,
        channels: Sequence[str] | None = None,
    ) -> list[str]:
        """``n`` conversations starting uniformly at random in [start, end); returns their ids."""
        start, end = aware(start), aware(end)
        span = (end - start).total_seconds()
        starts = sorted(start + timedelta(seconds=self.rng.random() * span) for _ in range(n))
        scripts = [
            make_script(self.rng, _pick_kind(self.rng, mix or DEFAULT_MIX),
                        channel=self.rng.choice(list(channels)) if channels else None)
            for _ in range(n)
        ]
        return self.write_scripts(zip(scripts, starts, strict=True))

    def write_spike(
        self, *, topic: str, start: datetime, duration_s: float, count: int, angry_share: float = 0.3
    ) -> list[str]:
        """``count`` shoppers raising ``topic`` (e.g. ``package_lost``) within ``duration_s`` from ``start``."""
        start = aware(start)
        items = []
        for _ in range(count):
            kind: Kind = "angry_complaint" if self.rng.random() < angry_share else "faq_answered"
            script = make_script(self.rng, kind, topic=topic)
            items.append((script, start + timedelta(seconds=self.rng.random() * duration_s)))
        return self.write_scripts(sorted(items, key=lambda pair: pair[1]))

    def write_scripts(self, items: Iterable[tuple[Script, datetime]]) -> list[str]:
        ids: list[str] = []
        with session_scope(self.sessions) as session:
            for script, at in items:
                ids.append(self._write_one(session, script, aware(at)))
        return ids

    # ------------------------------------------------------------------ one conversation
    def _write_one(self, s: Session, script: Script, t0: datetime) -> str:
        rng = self.rng
        if s.get(Customer, script.customer_id) is None:
            s.add(Customer(id=script.customer_id, vip=rng.random() < self.vip_share, created_at=t0))
            s.flush()
        conv = Conversation(
            id=uuid.UUID(int=rng.getrandbits(128)).hex, customer_id=script.customer_id, channel=script.channel,
            first_channel=script.channel, owner="bot", status="open", created_at=t0, updated_at=t0,
        )
        s.add(conv)
        s.flush()
        clock = [t0]

        def tick(lo: float, hi: float) -> datetime:
            clock[0] = clock[0] + timedelta(seconds=rng.uniform(lo, hi))
            return clock[0]

        def event(type_: str, at: datetime, **data: Any) -> None:
            s.add(
                ConversationEvent(conversation_id=conv.id, type=type_, channel=conv.channel, data=data, created_at=at)
            )

        def say(
            sender: str, text: str, at: datetime, *, sentiment: str | None = None, agent_id: int | None = None
        ) -> None:
            inbound = sender == "customer"
            label = sentiment if inbound else None
            score = {"angry": 0.9, "negative": 0.75, "neutral": 0.6, "positive": 0.8}.get(label or "", None)
            s.add(Message(
                conversation_id=conv.id, customer_id=conv.customer_id, direction="in" if inbound else "out",
                sender=sender, channel=conv.channel, text=text, agent_id=agent_id,
                sentiment_label=label, sentiment_score=score if inbound else None,
                anger=(0.85 if label == "angry" else 0.05) if inbound else None, created_at=at,
            ))
            if inbound and label == "angry":
                event("angry_message", at, score=score, anger=0.85)

        event("conversation_started", t0, channel=conv.channel)
        first, *rest = script.turns
        mood = script.sentiment
        say("customer", first, t0, sentiment=mood if mood != "angry" else "negative")
        kind = script.kind
        if kind in ("faq_answered", "faq_clarified"):
            at = tick(0.5, 1.5)
            if kind == "faq_clarified":
                alts = [script.topic, *rng.sample([t for t in FAQ_QUESTIONS if t != script.topic], 2)]
                event("faq", at, decision="clarify", faq_id=None, score=round(rng.uniform(0.3, 0.5), 3),
                      alternatives=alts)
                say("bot", "您是不是想问以下问题？", at)
                at = tick(5, 20)
                say("customer", rest.pop(0), at, sentiment="neutral")
                at = tick(0.5, 1.5)
            event("faq", at, decision="answer", faq_id=script.topic, score=round(rng.uniform(0.62, 0.97), 3),
                  alternatives=[])
            event("bot_reply", at, count=1)
            say("bot", f"（FAQ {script.topic} 的答案）", at)
            for text in rest:
                at = tick(5, 30)
                say("customer", text, at, sentiment="positive")
                event("bot_reply", tick(0.5, 1.5), count=1)
            self._close(conv, event, tick(120, 600), resolution="bot", by="idle")
        elif kind == "order_status":
            at = tick(0.5, 1.5)
            if rest:
                say("bot", "请提供您的订单号。", at)
                at = tick(5, 20)
                say("customer", rest[0], at, sentiment="neutral")
                at = tick(0.5, 1.5)
            event("order", at, order_id=script.meta["order_id"], status="shipped")
            event("bot_reply", at, count=1)
            say("bot", "您的订单已发货，正在运输中。", at)
            self._close(conv, event, tick(120, 600), resolution="bot", by="idle")
        elif kind == "unknown_to_agent":
            at = tick(0.5, 1.5)
            if rng.random() < 0.5:
                event("faq", at, decision="decline", faq_id=None, score=round(rng.uniform(0.05, 0.2), 3),
                      alternatives=[])
            else:
                event("fallback", at, count=1)
            say("bot", "抱歉，我没有理解您的问题。", at)
            at = tick(3, 15)
            say("customer", rest[0], at, sentiment="neutral")
            answer = UNKNOWN_THEMES[script.meta["theme"]][2]
            self._to_agent(s, conv, script, event, say, tick, reason="request_human", answer=answer)
        elif kind == "angry_complaint":
            at = tick(10, 40)
            say("customer", rest[0], at, sentiment="angry")
            self._to_agent(s, conv, script, event, say, tick, reason="angry", answer=AGENT_REPLIES[script.category],
                           rating_weights=(0.25, 0.25, 0.25, 0.15, 0.10))
        elif kind == "abandoned":
            at = tick(0.5, 1.5)
            event("faq", at, decision="answer", faq_id=script.topic, score=round(rng.uniform(0.55, 0.9), 3),
                  alternatives=[])
            say("bot", f"（FAQ {script.topic} 的答案）", at)
            at = tick(5, 30)
            say("customer", rest[0], at, sentiment=mood)
            self._handoff(conv, event, at, "request_human", script.category)
            left = tick(self.queue_wait_mean_s * 1.5, self.queue_wait_mean_s * 8)
            conv.status, conv.closed_at, conv.resolution, conv.owner = "closed", left, "abandoned", "bot"
            event("abandoned", left, by="customer")
        else:  # left_message
            at = tick(0.5, 1.5)
            event("faq", at, decision="answer", faq_id=script.topic, score=round(rng.uniform(0.55, 0.9), 3),
                  alternatives=[])
            say("bot", f"（FAQ {script.topic} 的答案）", at)
            at = tick(5, 30)
            say("customer", rest[0], at, sentiment=mood)
            priority = decide(reason="request_human", skill=script.category).priority
            event("handoff_requested", at, reason="request_human", skill=script.category, priority=priority)
            conv.required_skill, conv.priority, conv.handoff_reason = script.category, priority, "leave_message"
            event("no_agent_online", at)
            say("system", "抱歉，目前没有人工客服在线。", at)
            at = tick(20, 90)
            say("customer", rest[1], at, sentiment=mood)
            s.flush()
            if self.tickets is not None:
                ticket_id = self.tickets.create_from_conversation(
                    conversation_id=conv.id, customer_id=conv.customer_id, channel=conv.channel, text=rest[1],
                    category=script.category, priority=priority, source="leave_message",
                    **_sink_kw(self.tickets, s, at),
                )
            else:
                ticket_id = f"T{at:%Y%m%d}{rng.randrange(10**5):05d}"
            event("ticket_created", at, ticket_id=ticket_id, source="leave_message")
            conv.status, conv.closed_at, conv.resolution, conv.handoff_reason = "closed", at, "ticket", None
        conv.updated_at = conv.closed_at or clock[0]
        s.flush()
        return conv.id

    def _handoff(self, conv: Conversation, event: Any, at: datetime, reason: str, skill: str) -> None:
        priority = decide(reason=reason, skill=skill).priority
        event("handoff_requested", at, reason=reason, skill=skill, priority=priority)
        conv.required_skill, conv.priority, conv.handoff_reason = skill, priority, reason
        conv.owner, conv.handed_off_at = "queue", at
        event("queued", at, position=self.rng.randint(1, 4))

    def _to_agent(self, s: Session, conv: Conversation, script: Script, event: Any, say: Any, tick: Any, *,
                  reason: str, answer: str,
                  rating_weights: tuple[float, ...] = (0.03, 0.04, 0.13, 0.35, 0.45)) -> None:
        rng = self.rng
        at = tick(0.3, 1.0)
        self._handoff(conv, event, at, reason, script.category)
        wait = rng.expovariate(1.0 / self.queue_wait_mean_s)
        assigned = tick(wait, wait + 0.01)
        agent_id = rng.choice(self.agent_ids)
        conv.owner, conv.agent_id, conv.assigned_at = "agent", agent_id, assigned
        event("assigned", assigned, agent_id=agent_id, first=True)
        say("system", "您好，客服已接入。", assigned)
        replied = tick(8, 60)
        conv.first_agent_reply_at = replied
        event("agent_first_reply", replied, agent_id=agent_id)
        say("agent", answer, replied, agent_id=agent_id)
        if rng.random() < 0.5:
            say("customer", rng.choice(CLOSINGS), tick(10, 40), sentiment="positive")
        closed = tick(30, 240)
        self._close(conv, event, closed, resolution="agent", by="agent", agent_id=agent_id)
        if rng.random() < 0.7:
            rating = rng.choices([1, 2, 3, 4, 5], weights=rating_weights)[0]
            rated = tick(5, 60)
            comment = {1: "太慢了", 2: "没解决问题", 5: "客服很耐心，点赞"}.get(rating)
            s.add(Survey(conversation_id=conv.id, customer_id=conv.customer_id, agent_id=agent_id,
                         channel=conv.channel, rating=rating, comment=comment, created_at=rated))
            event("survey", rated, rating=rating, agent_id=agent_id)

    @staticmethod
    def _close(conv: Conversation, event: Any, at: datetime, *, resolution: str, by: str,
               agent_id: int | None = None) -> None:
        conv.status, conv.owner, conv.closed_at, conv.resolution = "closed", "bot", at, resolution
        if agent_id is None:
            event("closed", at, by=by)
        else:
            event("closed", at, by=by, agent_id=agent_id)


def _sink_kw(sink: TicketSink, session: Session, at: datetime) -> dict[str, Any]:
    """Pass our session (one SQLite writer) and the scripted time to sinks that accept them (``TicketService``)."""
    params = inspect.signature(sink.create_from_conversation).parameters
    return {k: v for k, v in (("session", session), ("at", at)) if k in params}


# ------------------------------------------------------------------ replay against a running gateway
@dataclass
class ReplayResult:
    script: Script
    conversation_id: str | None
    owners: list[str]
    replies: list[list[str]]
    statuses: list[int]


def replay(base_url: str, scripts: Sequence[Script], *, keys: Mapping[str, str], client: httpx.Client | None = None,
           timeout_s: float = 30.0, run_id: str | None = None) -> list[ReplayResult]:
    """Send each script's shopper turns to ``POST /api/v1/messages`` in order; collect owners and replies.

    ``keys`` has the shape of ``var/demo/channel_keys.json``: the ``app`` / ``miniprogram`` channel keys and the
    ``web_identity_secret`` that signs web customers (as the shop's servers would)."""
    from router.identity.service import identity_hash

    run_id = run_id or uuid.uuid4().hex[:8]
    own = client is None
    http = client or httpx.Client(base_url=base_url, timeout=timeout_s)
    results: list[ReplayResult] = []
    try:
        for i, script in enumerate(scripts):
            result = ReplayResult(script, None, [], [], [])
            for j, text in enumerate(script.turns):
                body = {
                    "channel": script.channel,
                    "customer_id": script.customer_id,
                    "text": text,
                    "client_msg_id": f"replay-{run_id}-{i}-{j}",
                }
                headers = {}
                if script.channel == "web":
                    body["identity_hash"] = identity_hash(keys["web_identity_secret"], script.customer_id)
                else:
                    headers["X-Kefu-Channel-Key"] = keys[script.channel]
                response = http.post("/api/v1/messages", json=body, headers=headers)
                result.statuses.append(response.status_code)
                if response.status_code != 200:
                    break
                payload = response.json()
                result.conversation_id = payload.get("conversation_id")
                result.owners.append(str(payload.get("owner")))
                result.replies.append([str(r.get("text", "")) for r in payload.get("replies", [])])
            results.append(result)
    finally:
        if own:
            http.close()
    return results


# ------------------------------------------------------------------ demo history
def seed_history(
    database_url: str,
    *,
    conversations: int = 600,
    days: float = 7.0,
    seed: int = 0,
    spike_topic: str | None = "package_lost",
    now: datetime | None = None,
) -> dict[str, int]:
    """Fill a migrated database with ``days`` of history ending ``now`` (for ``kefu demo seed`` and dashboards):
    conversations with events and surveys, tickets from left messages and unresolved chats (assigned to the agents
    in the users table), SLA breaches marked, and optionally a topic spike in the last ten minutes."""
    from router.db import make_engine, make_session_factory
    from router.routing.store import SqlStore
    from router.tickets.assign import SkillAssigner, store_directory
    from router.tickets.service import TicketService

    end = aware(now or datetime.now(UTC))
    engine = make_engine(database_url)
    try:
        sessions = make_session_factory(engine)
        store = SqlStore(engine)
        agent_ids = [a.id for a in store.load_agents()] or [1, 2, 3]
        tickets = TicketService(sessions, assigner=SkillAssigner(store_directory(store)))
        writer = TrafficWriter(sessions, seed=seed, agent_ids=agent_ids, tickets=tickets)
        ids = writer.write(conversations, start=end - timedelta(days=days), end=end - timedelta(minutes=15))
        spiked = []
        if spike_topic:
            spiked = writer.write_spike(topic=spike_topic, start=end - timedelta(minutes=10), duration_s=480,
                                        count=max(12, conversations // 40))
        unresolved = tickets.sweep_unresolved()
        breaches = tickets.check_breaches(now=end)
    finally:
        engine.dispose()
    return {"conversations": len(ids) + len(spiked), "unresolved_tickets": len(unresolved),
            "sla_breaches": len(breaches)}
