"""KPIs computed from stored conversations, events, surveys and tickets over any time range, by channel and hour.

Definitions (every rate is ``None`` when its denominator is 0):

* containment = conversations resolved by the bot / conversations started (every conversation starts with the bot)
* FAQ answer rate = FAQ decisions ``answer`` / all FAQ decisions
* escalation rate = conversations with a ``handoff_requested`` event / conversations started
* ASA = mean seconds from hand-off to an agent accepting; first response = hand-off to the agent's first reply
* service level = hand-offs answered within ``service_level_s`` / (answered + abandoned)   (the "80/20" target)
* abandonment = hand-offs abandoned before an agent answered / hand-offs
* CSAT = mean rating 1-5, and the share of 4-5 ratings
* ticket SLA breaches = tickets (created in the range) whose first-response or resolution timer ran out
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from router.gateway.models import Conversation, ConversationEvent, Survey
from router.tickets.models import Ticket
from router.tickets.sla import aware, sla_state

MAX_FILLED_HOURS = 24 * 31


class KpiValues(BaseModel):
    conversations: int
    bot_resolved: int
    containment_rate: float | None
    faq_decisions: int
    faq_answered: int
    faq_answer_rate: float | None
    escalated: int
    escalation_rate: float | None
    handoffs: int
    answered: int
    abandoned: int
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


@dataclass
class _Acc:
    conversations: int = 0
    bot_resolved: int = 0
    faq: int = 0
    faq_answered: int = 0
    escalated: int = 0
    handoffs: int = 0
    answered_waits: list[float] = field(default_factory=list)
    abandoned: int = 0
    first_responses: list[float] = field(default_factory=list)
    ratings: list[int] = field(default_factory=list)
    tickets: int = 0
    breaches: int = 0

    def values(self, sl_s: float) -> KpiValues:
        answered = len(self.answered_waits)
        within = sum(1 for w in self.answered_waits if w <= sl_s)
        return KpiValues(
            conversations=self.conversations,
            bot_resolved=self.bot_resolved,
            containment_rate=_rate(self.bot_resolved, self.conversations),
            faq_decisions=self.faq,
            faq_answered=self.faq_answered,
            faq_answer_rate=_rate(self.faq_answered, self.faq),
            escalated=self.escalated,
            escalation_rate=_rate(self.escalated, self.conversations),
            handoffs=self.handoffs,
            answered=answered,
            abandoned=self.abandoned,
            abandonment_rate=_rate(self.abandoned, self.handoffs),
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
    """Every KPI over [since, until): conversations, hand-offs and tickets by their start, FAQ decisions and surveys
    by when they happened."""
    since, until = aware(since), aware(until)
    if until <= since:
        raise ValueError("until must be after since")
    tz = ZoneInfo(timezone)
    b = _Buckets(tz)
    conv_q = select(
        Conversation.id, Conversation.first_channel, Conversation.created_at, Conversation.resolution,
        Conversation.handed_off_at, Conversation.assigned_at, Conversation.first_agent_reply_at,
    ).where(Conversation.created_at >= since, Conversation.created_at < until)
    if channel:
        conv_q = conv_q.where(Conversation.first_channel == channel)
    convs = session.execute(conv_q).all()
    escalated = set(
        session.scalars(
            select(ConversationEvent.conversation_id)
            .join(Conversation, Conversation.id == ConversationEvent.conversation_id)
            .where(
                ConversationEvent.type == "handoff_requested",
                Conversation.created_at >= since,
                Conversation.created_at < until,
            )
        ).all()
    )
    for cid, ch, created, resolution, handed, assigned, replied in convs:
        for acc in b.of(ch, created):
            acc.conversations += 1
            acc.bot_resolved += resolution == "bot" and cid not in escalated
            acc.escalated += cid in escalated
            if handed is None:
                continue
            acc.handoffs += 1
            if assigned is not None:
                acc.answered_waits.append((aware(assigned) - aware(handed)).total_seconds())
            elif resolution == "abandoned":
                acc.abandoned += 1
            if replied is not None:
                acc.first_responses.append((aware(replied) - aware(handed)).total_seconds())

    faq_q = select(ConversationEvent.channel, ConversationEvent.created_at, ConversationEvent.data).where(
        ConversationEvent.type == "faq", ConversationEvent.created_at >= since, ConversationEvent.created_at < until
    )
    if channel:
        faq_q = faq_q.where(ConversationEvent.channel == channel)
    for ch, at, data in session.execute(faq_q).all():
        for acc in b.of(ch, at):
            acc.faq += 1
            acc.faq_answered += (data or {}).get("decision") == "answer"

    survey_q = select(Survey.channel, Survey.created_at, Survey.rating, Survey.agent_id).where(
        Survey.created_at >= since, Survey.created_at < until
    )
    if channel:
        survey_q = survey_q.where(Survey.channel == channel)
    by_agent: dict[int, list[int]] = defaultdict(list)
    for ch, at, rating, agent_id in session.execute(survey_q).all():
        for acc in b.of(ch, at):
            acc.ratings.append(int(rating))
        if agent_id is not None:
            by_agent[int(agent_id)].append(int(rating))

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
    ("containment_rate", "机器人解决率 containment", "pct"),
    ("faq_answer_rate", "FAQ 回答率 FAQ answer rate", "pct"),
    ("escalation_rate", "转人工率 escalation", "pct"),
    ("handoffs", "转人工数 hand-offs", "int"),
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
