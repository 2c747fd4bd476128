"""KPIs computed from stored conversations, events, surveys and tickets over any time range, by channel and hour.

Every figure is defined once here and in docs/operations.md ("KPI definitions"); the dashboard, ``kefu report``,
``/metrics`` and the per-agent view all read :func:`compute_kpis` or the same per-conversation facts
(:func:`conversation_facts`), so two cards can never count one thing two ways.

The cohort is the conversations *started* in [since, until) (by the channel they started on).  Each conversation
contributes one :class:`ConversationFacts` row; totals, channels and hours are sums over those rows.
Every rate is ``None`` when its denominator is 0.

* ended = conversations of the cohort that are closed (by the agent, the shopper, the idle timeout or a ticket)
* handoffs = conversations with at least one ``handoff_requested`` event (counted once per conversation)
* containment = ended conversations without a hand-off / ended conversations
* escalation rate = handoffs / conversations
* queued = handoffs that entered the queue; left_message = handoffs that did not (nobody online: a ticket)
* answered = queued conversations an agent accepted; abandoned = queued, never answered, shopper left
* ASA = mean seconds from hand-off to an agent accepting; first response = hand-off to the agent's first reply
* service level = answered within ``service_level_s`` / (answered + abandoned)   (the "80/20" target)
* abandonment = abandoned / queued
* FAQ answer rate = FAQ decisions ``answer`` / all FAQ decisions, in the cohort's conversations
* CSAT = mean rating 1-5 and the share of 4-5, of the cohort's surveys
* ticket SLA breaches = tickets created in the range whose first-response or resolution timer ran out
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from router.clock import aware
from router.conversations.models import Conversation, ConversationEvent, Survey
from router.tickets.models import Ticket
from router.tickets.sla import sla_state

MAX_FILLED_HOURS = 24 * 31


class KpiValues(BaseModel):
    conversations: int
    ended: int
    open: int
    bot_resolved: int
    containment_rate: float | None
    faq_decisions: int
    faq_answered: int
    faq_answer_rate: float | None
    handoffs: int
    escalation_rate: float | None
    queued: int
    left_message: int
    answered: int
    abandoned: int
    waiting: int
    abandonment_rate: float | None
    asa_s: float | None
    first_response_s: float | None
    first_response_p90_s: float | None
    service_level: float | None
    surveys: int
    csat_avg: float | None
    csat_share: float | None
    tickets: int
    ticket_sla_breaches: int
    ticket_breach_rate: float | None


class HourKpis(BaseModel):
    hour: datetime
    values: KpiValues


class AgentCsat(BaseModel):
    agent_id: int
    surveys: int
    csat_avg: float
    csat_share: float


class KpiReport(BaseModel):
    since: datetime
    until: datetime
    channel: str | None
    timezone: str
    service_level_s: float
    service_level_target: float
    service_level_met: bool | None
    totals: KpiValues
    by_channel: dict[str, KpiValues]
    by_hour: list[HourKpis]
    csat_by_agent: list[AgentCsat]


@dataclass(frozen=True)
class ConversationFacts:
    """What one conversation of the cohort contributes to the KPIs."""

    id: str
    channel: str
    created_at: datetime
    ended: bool
    escalated: bool
    queued: bool
    answered_wait_s: float | None
    abandoned: bool
    first_response_s: float | None
    faq_decisions: int
    faq_answered: int
    rating: int | None
    survey_agent_id: int | None
    agent_id: int | None
    resolution: str | None
    closed_at: datetime | None
    assigned_at: datetime | None


def conversation_facts(
    session: Session, *, since: datetime, until: datetime, channel: str | None = None
) -> list[ConversationFacts]:
    """One row per conversation started in [since, until): the single source of every KPI."""
    in_range = (Conversation.created_at >= since, Conversation.created_at < until)
    handoff = (
        select(ConversationEvent.conversation_id)
        .where(ConversationEvent.type == "handoff_requested")
        .group_by(ConversationEvent.conversation_id)
        .subquery()
    )
    answered = case((ConversationEvent.data["decision"].as_string() == "answer", 1), else_=0)
    faq = (
        select(
            ConversationEvent.conversation_id.label("cid"),
            func.count().label("n"),
            func.sum(answered).label("answered"),
        )
        .where(ConversationEvent.type == "faq")
        .group_by(ConversationEvent.conversation_id)
        .subquery()
    )
    query = (
        select(
            Conversation.id, Conversation.first_channel, Conversation.created_at, Conversation.status,
            Conversation.resolution, Conversation.handed_off_at, Conversation.assigned_at,
            Conversation.first_agent_reply_at, Conversation.closed_at, Conversation.agent_id,
            handoff.c.conversation_id, faq.c.n, faq.c.answered, Survey.rating, Survey.agent_id,
        )
        .outerjoin(handoff, handoff.c.conversation_id == Conversation.id)
        .outerjoin(faq, faq.c.cid == Conversation.id)
        .outerjoin(Survey, Survey.conversation_id == Conversation.id)
        .where(*in_range)
    )
    if channel:
        query = query.where(Conversation.first_channel == channel)
    rows = []
    for (cid, ch, created, status, resolution, handed, assigned, replied, closed, agent_id, handoff_cid, n_faq,
         n_answered, rating, survey_agent) in session.execute(query).all():
        queued = handed is not None
        rows.append(ConversationFacts(
            id=cid,
            channel=ch,
            created_at=aware(created),
            ended=status == "closed",
            escalated=handoff_cid is not None or queued,
            queued=queued,
            answered_wait_s=_seconds(handed, assigned),
            abandoned=queued and assigned is None and resolution == "abandoned",
            first_response_s=_seconds(handed, replied),
            faq_decisions=int(n_faq or 0),
            faq_answered=int(n_answered or 0),
            rating=None if rating is None else int(rating),
            survey_agent_id=None if survey_agent is None else int(survey_agent),
            agent_id=agent_id,
            resolution=resolution,
            closed_at=None if closed is None else aware(closed),
            assigned_at=None if assigned is None else aware(assigned),
        ))
    return rows


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (aware(end) - aware(start)).total_seconds()


@dataclass
class _Acc:
    conversations: int = 0
    ended: int = 0
    bot_resolved: int = 0
    faq: int = 0
    faq_answered: int = 0
    handoffs: int = 0
    queued: int = 0
    answered_waits: list[float] = field(default_factory=list)
    abandoned: int = 0
    first_responses: list[float] = field(default_factory=list)
    ratings: list[int] = field(default_factory=list)
    tickets: int = 0
    breaches: int = 0

    def add(self, c: ConversationFacts) -> None:
        self.conversations += 1
        self.ended += c.ended
        self.bot_resolved += c.ended and not c.escalated
        self.faq += c.faq_decisions
        self.faq_answered += c.faq_answered
        self.handoffs += c.escalated
        self.queued += c.queued
        if c.answered_wait_s is not None:
            self.answered_waits.append(c.answered_wait_s)
        self.abandoned += c.abandoned
        if c.first_response_s is not None:
            self.first_responses.append(c.first_response_s)
        if c.rating is not None:
            self.ratings.append(c.rating)

    def values(self, sl_s: float) -> KpiValues:
        answered = len(self.answered_waits)
        within = sum(1 for w in self.answered_waits if w <= sl_s)
        return KpiValues(
            conversations=self.conversations,
            ended=self.ended,
            open=self.conversations - self.ended,
            bot_resolved=self.bot_resolved,
            containment_rate=_rate(self.bot_resolved, self.ended),
            faq_decisions=self.faq,
            faq_answered=self.faq_answered,
            faq_answer_rate=_rate(self.faq_answered, self.faq),
            handoffs=self.handoffs,
            escalation_rate=_rate(self.handoffs, self.conversations),
            queued=self.queued,
            left_message=self.handoffs - self.queued,
            answered=answered,
            abandoned=self.abandoned,
            waiting=self.queued - answered - self.abandoned,
            abandonment_rate=_rate(self.abandoned, self.queued),
            asa_s=_mean(self.answered_waits),
            first_response_s=_mean(self.first_responses),
            first_response_p90_s=_quantile(self.first_responses, 0.9),
            service_level=_rate(within, answered + self.abandoned),
            surveys=len(self.ratings),
            csat_avg=_mean([float(r) for r in self.ratings], digits=2),
            csat_share=_rate(sum(1 for r in self.ratings if r >= 4), len(self.ratings)),
            tickets=self.tickets,
            ticket_sla_breaches=self.breaches,
            ticket_breach_rate=_rate(self.breaches, self.tickets),
        )


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _mean(xs: list[float], digits: int = 1) -> float | None:
    return round(sum(xs) / len(xs), digits) if xs else None


def _quantile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    ordered = sorted(xs)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo), 1)


class _Buckets:
    """Accumulators for the total, each channel and each hour (in the report's time zone)."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self.total = _Acc()
        self.channels: dict[str, _Acc] = defaultdict(_Acc)
        self.hours: dict[datetime, _Acc] = defaultdict(_Acc)

    def hour_of(self, at: datetime) -> datetime:
        return aware(at).astimezone(self.tz).replace(minute=0, second=0, microsecond=0)

    def of(self, channel: str | None, at: datetime) -> Iterable[_Acc]:
        yield self.total
        if channel:
            yield self.channels[channel]
        yield self.hours[self.hour_of(at)]


def compute_kpis(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    channel: str | None = None,
    service_level_s: float = 20.0,
    service_level_target: float = 0.8,
    timezone: str = "Asia/Shanghai",
    now: datetime | None = None,
) -> KpiReport:
    """Every KPI over the conversations started in [since, until) and the tickets created then."""
    since, until = aware(since), aware(until)
    if until <= since:
        raise ValueError("until must be after since")
    tz = ZoneInfo(timezone)
    b = _Buckets(tz)
    by_agent: dict[int, list[int]] = defaultdict(list)
    for facts in conversation_facts(session, since=since, until=until, channel=channel):
        for acc in b.of(facts.channel, facts.created_at):
            acc.add(facts)
        if facts.rating is not None and facts.survey_agent_id is not None:
            by_agent[facts.survey_agent_id].append(facts.rating)

    ticket_q = select(Ticket).where(Ticket.created_at >= since, Ticket.created_at < until)
    if channel:
        ticket_q = ticket_q.where(Ticket.channel == channel)
    moment = aware(now) if now else datetime.now(tz)
    for ticket in session.scalars(ticket_q).all():
        state = sla_state(ticket, moment)
        breached = state.first_response_breached or state.resolution_breached
        for acc in b.of(ticket.channel, ticket.created_at):
            acc.tickets += 1
            acc.breaches += breached

    totals = b.total.values(service_level_s)
    hours = dict(b.hours)
    first, last = b.hour_of(since), b.hour_of(until - timedelta(microseconds=1))
    if (last - first) <= timedelta(hours=MAX_FILLED_HOURS):
        h = first
        while h <= last:
            hours.setdefault(h, _Acc())
            h = (h + timedelta(hours=1)).astimezone(tz)
    return KpiReport(
        since=since,
        until=until,
        channel=channel,
        timezone=timezone,
        service_level_s=service_level_s,
        service_level_target=service_level_target,
        service_level_met=None if totals.service_level is None else totals.service_level >= service_level_target,
        totals=totals,
        by_channel={ch: acc.values(service_level_s) for ch, acc in sorted(b.channels.items())},
        by_hour=[HourKpis(hour=h, values=hours[h].values(service_level_s)) for h in sorted(hours)],
        csat_by_agent=[
            AgentCsat(
                agent_id=agent,
                surveys=len(rs),
                csat_avg=round(sum(rs) / len(rs), 2),
                csat_share=round(sum(1 for r in rs if r >= 4) / len(rs), 4),
            )
            for agent, rs in sorted(by_agent.items())
        ],
    )


# ------------------------------------------------------------------ presentation (CLI, CSV)
ROWS: list[tuple[str, str, str]] = [
    # (field, label, format)
    ("conversations", "会话数 conversations", "int"),
    ("ended", "已结束 ended", "int"),
    ("bot_resolved", "机器人独立解决 bot resolved", "int"),
    ("containment_rate", "机器人解决率 containment", "pct"),
    ("faq_answer_rate", "FAQ 回答率 FAQ answer rate", "pct"),
    ("handoffs", "转人工会话 hand-offs", "int"),
    ("escalation_rate", "转人工率 escalation", "pct"),
    ("queued", "进入排队 queued", "int"),
    ("left_message", "无人在线留言 left message", "int"),
    ("asa_s", "平均应答时间 ASA (s)", "num"),
    ("first_response_s", "首次响应 first response (s)", "num"),
    ("service_level", "服务水平 service level", "pct"),
    ("abandonment_rate", "放弃率 abandonment", "pct"),
    ("csat_avg", "满意度均分 CSAT avg", "num"),
    ("csat_share", "满意率 CSAT 4-5", "pct"),
    ("surveys", "评价数 surveys", "int"),
    ("tickets", "工单数 tickets", "int"),
    ("ticket_sla_breaches", "工单超时 SLA breaches", "int"),
]


def fmt(value: float | int | None, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "pct":
        return f"{float(value) * 100:.1f}%"
    if kind == "num":
        return f"{float(value):.1f}"
    return str(int(value))


def table_rows(report: KpiReport) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per KPI, columns total then each channel."""
    channels = list(report.by_channel)
    header = ["KPI", "total", *channels]
    rows = []
    for name, label, kind in ROWS:
        row = [label, fmt(getattr(report.totals, name), kind)]
        row += [fmt(getattr(report.by_channel[ch], name), kind) for ch in channels]
        rows.append(row)
    return header, rows
