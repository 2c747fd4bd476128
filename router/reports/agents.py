"""Per-agent performance (seed 6.3) over a time range, per day or per ISO week, from the routing assignments.

The unit is an **assignment**: one agent holding one conversation, from accepting it to closing, transferring or
losing it (the shopper left).  A conversation transferred once gives two assignments, one per agent.  Periods are
the local dates (or weeks starting on Monday) of ``KEFU_ROUTER_REPORT_TIMEZONE`` in which the assignment started.

* handled = assignments started in the period
* first response = mean seconds from accepting to the agent's first reply in that conversation
* average handle time (AHT) = mean seconds from accepting to the end, over ended assignments
* resolution without ticket = closed by the agent with no ticket opened for the conversation / ended assignments
* transfer rate = ended by a transfer / ended assignments
* CSAT = mean rating of the surveys naming the agent, of the conversations they handled in the period
* quality = mean final score (0-100) of the completed quality reviews of those conversations
* occupancy = time holding at least one conversation / time online, from the agent's status changes (``None`` when
  no status change of the agent is recorded)
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from router.clock import aware
from router.conversations.models import Message, Survey
from router.routing.tables import Assignment, User
from router.supervision.models import AgentStatusChange
from router.tickets.models import Ticket

Period = Literal["day", "week"]
# (conversation id, agent id) -> final review score 0-100; the quality module plugs in here
QualityScores = Callable[[Session, Iterable[str]], dict[tuple[str, int], float]]


class AgentPeriodRow(BaseModel):
    agent_id: int
    name: str
    period_start: date
    handled: int
    ended: int
    first_response_s: float | None
    aht_s: float | None
    resolved_without_ticket: int
    resolution_rate: float | None
    transferred: int
    transfer_rate: float | None
    surveys: int
    csat_avg: float | None
    reviews: int
    quality_score: float | None
    busy_s: float
    online_s: float | None
    occupancy: float | None


class AgentPerformance(BaseModel):
    since: datetime
    until: datetime
    period: Period
    timezone: str
    rows: list[AgentPeriodRow]  # one per agent and period, agents by name then period
    totals: list[AgentPeriodRow]  # one per agent over the whole range (period_start = the range's first day)


@dataclass
class _Acc:
    handled: int = 0
    ended: int = 0
    first_responses: list[float] = field(default_factory=list)
    handle_times: list[float] = field(default_factory=list)
    resolved: int = 0
    transferred: int = 0
    ratings: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    busy: list[tuple[float, float]] = field(default_factory=list)
    online_s: float | None = None


def _mean(xs: list[float], digits: int = 1) -> float | None:
    return round(sum(xs) / len(xs), digits) if xs else None


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def _union_s(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def period_start(at: datetime, tz: ZoneInfo, period: Period) -> date:
    day = aware(at).astimezone(tz).date()
    return day - timedelta(days=day.weekday()) if period == "week" else day


def compute_agent_performance(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    period: Period = "day",
    timezone: str = "Asia/Shanghai",
    agent_id: int | None = None,
    quality: QualityScores | None = None,
    now: datetime | None = None,
) -> AgentPerformance:
    since, until = aware(since), aware(until)
    if until <= since:
        raise ValueError("until must be after since")
    tz = ZoneInfo(timezone)
    now_ts = (aware(now) if now else datetime.now(tz)).timestamp()
    q = select(Assignment.conversation_id, Assignment.agent_id, Assignment.started_at, Assignment.ended_at,
               Assignment.end_reason).where(Assignment.started_at >= since.timestamp(),
                                            Assignment.started_at < until.timestamp())
    if agent_id is not None:
        q = q.where(Assignment.agent_id == agent_id)
    rows = session.execute(q).all()
    conv_ids = sorted({r[0] for r in rows})
    with_ticket = set(session.scalars(select(Ticket.conversation_id).where(Ticket.conversation_id.in_(conv_ids))))
    surveys = {(c, a): int(r) for c, a, r in session.execute(
        select(Survey.conversation_id, Survey.agent_id, Survey.rating).where(Survey.conversation_id.in_(conv_ids)))}
    replies: dict[tuple[str, int], list[float]] = defaultdict(list)
    for cid, aid, at in session.execute(
        select(Message.conversation_id, Message.agent_id, Message.created_at)
        .where(Message.conversation_id.in_(conv_ids), Message.sender == "agent")
    ):
        if aid is not None:
            replies[(cid, int(aid))].append(aware(at).timestamp())
    scores = quality(session, conv_ids) if quality is not None else {}
    names = dict(session.execute(select(User.id, User.display_name)).all())

    per: dict[tuple[int, date], _Acc] = defaultdict(_Acc)
    whole: dict[int, _Acc] = defaultdict(_Acc)
    rated: set[tuple[str, int]] = set()
    for cid, aid, started, ended, reason in rows:
        key = (aid, period_start(datetime.fromtimestamp(started, tz), tz, period))
        for acc in (per[key], whole[aid]):
            acc.handled += 1
            first = min((t for t in replies.get((cid, aid), []) if t >= started and (ended is None or t <= ended)),
                        default=None)
            if first is not None:
                acc.first_responses.append(first - started)
            acc.busy.append((started, ended if ended is not None else min(now_ts, until.timestamp())))
            if ended is not None:
                acc.ended += 1
                acc.handle_times.append(ended - started)
                acc.transferred += reason == "transferred"
                acc.resolved += reason == "closed" and cid not in with_ticket
        if (cid, aid) not in rated:  # a conversation rated once even if the agent held it twice
            rated.add((cid, aid))
            for acc in (per[key], whole[aid]):
                if (cid, aid) in surveys:
                    acc.ratings.append(surveys[(cid, aid)])
                if (cid, aid) in scores:
                    acc.scores.append(scores[(cid, aid)])
    online = _online_seconds(session, since, until, tz, period, now_ts, agent_id)
    for (aid, start), secs in online.items():
        per[(aid, start)].online_s = secs
        whole[aid].online_s = (whole[aid].online_s or 0.0) + secs

    def row(aid: int, start: date, acc: _Acc) -> AgentPeriodRow:
        busy = round(_union_s(acc.busy), 1)
        return AgentPeriodRow(
            agent_id=aid, name=str(names.get(aid, f"#{aid}")), period_start=start, handled=acc.handled,
            ended=acc.ended, first_response_s=_mean(acc.first_responses), aht_s=_mean(acc.handle_times),
            resolved_without_ticket=acc.resolved, resolution_rate=_rate(acc.resolved, acc.ended),
            transferred=acc.transferred, transfer_rate=_rate(acc.transferred, acc.ended), surveys=len(acc.ratings),
            csat_avg=_mean([float(r) for r in acc.ratings], 2), reviews=len(acc.scores),
            quality_score=_mean(acc.scores), busy_s=busy,
            online_s=None if acc.online_s is None else round(acc.online_s, 1),
            occupancy=None if not acc.online_s else round(min(1.0, busy / acc.online_s), 4),
        )

    first_day = period_start(since, tz, period)
    return AgentPerformance(
        since=since, until=until, period=period, timezone=timezone,
        rows=sorted((row(a, d, acc) for (a, d), acc in per.items()),
                    key=lambda r: (r.name, r.agent_id, r.period_start)),
        totals=sorted((row(a, first_day, acc) for a, acc in whole.items()), key=lambda r: (r.name, r.agent_id)),
    )


def _online_seconds(
    session: Session, since: datetime, until: datetime, tz: ZoneInfo, period: Period, now_ts: float,
    agent_id: int | None,
) -> dict[tuple[int, date], float]:
    """Seconds online per agent and period, cut at period boundaries, from the recorded status changes."""
    lo, hi = since.timestamp(), min(until.timestamp(), now_ts)
    q = select(AgentStatusChange.agent_id, AgentStatusChange.status, AgentStatusChange.at).order_by(
        AgentStatusChange.agent_id, AgentStatusChange.at)
    if agent_id is not None:
        q = q.where(AgentStatusChange.agent_id == agent_id)
    q = q.where(AgentStatusChange.at < hi)
    spans: dict[int, list[tuple[float, float]]] = defaultdict(list)
    current: dict[int, float | None] = {}
    for aid, status, at in session.execute(q):
        opened = current.get(aid)
        if status == "online" and opened is None:
            current[aid] = at
        elif status != "online" and opened is not None:
            spans[aid].append((opened, at))
            current[aid] = None
        else:
            current.setdefault(aid, None)
    for aid, opened in current.items():
        if opened is not None:
            spans[aid].append((opened, hi))
        spans.setdefault(aid, [])
    out: dict[tuple[int, date], float] = defaultdict(float)
    for aid, intervals in spans.items():
        for a, b in intervals:
            a, b = max(a, lo), min(b, hi)
            while a < b:
                start = period_start(datetime.fromtimestamp(a, tz), tz, period)
                boundary_day = start + timedelta(days=7 if period == "week" else 1)
                boundary = datetime.combine(boundary_day, datetime.min.time(), tz).timestamp()
                cut = min(b, boundary)
                out[(aid, start)] += cut - a
                a = cut
        if not intervals:  # recorded but never online in the range: 0 s online (occupancy stays None)
            out[(aid, period_start(since, tz, period))] += 0.0
    return out


CSV_FIELDS = ["agent_id", "name", "period_start", "handled", "ended", "first_response_s", "aht_s",
              "resolved_without_ticket", "resolution_rate", "transferred", "transfer_rate", "surveys", "csat_avg",
              "reviews", "quality_score", "busy_s", "online_s", "occupancy"]


def to_csv(report: AgentPerformance) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["scope", *CSV_FIELDS])
    for scope, rows in (("period", report.rows), ("total", report.totals)):
        for r in rows:
            data = r.model_dump()
            writer.writerow([scope, *["" if data[k] is None else data[k] for k in CSV_FIELDS]])
    return out.getvalue()


def record_status(session: Session, *, agent_id: int, status: str, at: float) -> None:
    """Remember an agent's status change (occupancy needs the time online)."""
    session.add(AgentStatusChange(agent_id=agent_id, status=status, at=at))

