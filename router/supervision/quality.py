"""Quality inspection (seed 7.1-7.3): a rubric defined in the app, a daily review queue per agent (a sampled share of
each agent's conversations plus every flagged one), automatic pre-scores for the objective items, reviews, appeals.

A conversation is reviewed for the agent who held it last.  Flags: ``anger`` (the shopper sent an angry message),
``wait_over_sla`` (queue wait above the service-level threshold), ``csat_low`` (rating <= 2), ``forbidden`` (an agent
reply contains a phrase of the configured list), ``silence`` (the shopper waited longer than the silence limit for
the agent's next reply).  Sampling is deterministic (a hash of the conversation id), so building the queue twice
gives the same queue.  Scores are 0-100 per item; a review's total is the weighted mean of its items.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from router.clock import aware
from router.conversations.models import Conversation, Message, Survey
from router.db import session_scope
from router.routing.errors import RoutingError
from router.routing.tables import Assignment
from router.supervision.models import QaReview, QaRubricItem, QaSetting
from router.supervision.team import audit

DEFAULT_RUBRIC: list[tuple[str, str, int, str | None]] = [
    ("greeting", "规范问候", 10, "greeting"),
    ("response", "响应及时", 15, "first_response"),
    ("accuracy", "解答准确", 30, None),
    ("empathy", "服务态度与共情", 20, None),
    ("resolution", "问题解决", 15, None),
    ("compliance", "合规用语", 10, "forbidden"),
]
DEFAULT_SETTINGS: dict[str, Any] = {
    "sample_rate": 0.1,
    "forbidden_phrases": ["不知道", "不归我管", "你自己看", "爱买不买", "没办法"],
    "greeting_phrases": ["您好", "你好", "很高兴为您服务"],
    "silence_s": 120.0,
    "first_response_target_s": 30.0,
}
FLAG_NAMES = {"anger": "顾客愤怒", "wait_over_sla": "排队超时", "csat_low": "满意度低", "forbidden": "出现禁用语",
              "silence": "客服长时间未回复"}


class QualityError(RoutingError):
    status = 422
    message_zh = "质检操作未能完成，请检查填写的内容。"


class ReviewNotFound(QualityError):
    status = 404
    message_zh = "找不到该质检记录。"

    def __init__(self, review_id: int) -> None:
        super().__init__(f"review {review_id} not found", review_id=review_id)


class RubricItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")
    label: str = Field(min_length=1, max_length=64)
    weight: int = Field(ge=1, le=100)
    auto: str | None = Field(default=None, pattern=r"^(greeting|first_response|forbidden)$")


class QualitySettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_rate: float = Field(ge=0.0, le=1.0)
    forbidden_phrases: list[str] = Field(max_length=200)
    greeting_phrases: list[str] = Field(min_length=1, max_length=50)
    silence_s: float = Field(ge=10, le=3600)
    first_response_target_s: float = Field(ge=5, le=3600)


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scores: dict[str, float]
    comment: str | None = Field(default=None, max_length=2000)


class AppealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=2000)


class ReviewOut(BaseModel):
    id: int
    conversation_id: str
    agent_id: int
    day: str
    reason: str
    flags: list[str]
    pre_scores: dict[str, float]
    scores: dict[str, float] | None
    total: float | None
    comment: str | None
    status: str
    appeal_text: str | None
    appeal_reply: str | None


def review_out(r: QaReview) -> ReviewOut:
    return ReviewOut(id=r.id, conversation_id=r.conversation_id, agent_id=r.agent_id, day=r.day, reason=r.reason,
                     flags=list(r.flags or []), pre_scores=dict(r.pre_scores or {}), scores=r.scores, total=r.total,
                     comment=r.comment, status=r.status, appeal_text=r.appeal_text, appeal_reply=r.appeal_reply)


# ------------------------------------------------------------------ rubric and settings
def rubric(session: Session) -> list[QaRubricItem]:
    items = list(session.scalars(select(QaRubricItem).order_by(QaRubricItem.position)))
    if not items:  # first use: the default rubric
        for pos, (key, label, weight, auto) in enumerate(DEFAULT_RUBRIC):
            session.add(QaRubricItem(key=key, label=label, weight=weight, auto=auto, position=pos, active=True))
        session.flush()
        items = list(session.scalars(select(QaRubricItem).order_by(QaRubricItem.position)))
    return items


def set_rubric(*, sessions: sessionmaker[Session], actor_id: int, items: list[RubricItemIn]) -> None:
    """Replace the active rubric (items no longer listed are kept inactive, so old reviews still read)."""
    if not items or len({i.key for i in items}) != len(items):
        raise QualityError("the rubric needs at least one item and unique keys")
    with session_scope(sessions) as s:
        existing = {r.key: r for r in rubric(s)}
        for r in existing.values():
            r.active = False
        for pos, item in enumerate(items):
            row = existing.get(item.key) or QaRubricItem(key=item.key)
            row.label, row.weight, row.auto, row.position, row.active = item.label, item.weight, item.auto, pos, True
            s.add(row)
        audit(s, actor_id=actor_id, action="rubric_set", target="rubric", items=[i.model_dump() for i in items])


def settings_of(session: Session) -> dict[str, Any]:
    stored = {k: v for k, v in session.execute(select(QaSetting.key, QaSetting.value)).all()}
    return {**DEFAULT_SETTINGS, **stored}


def save_settings(*, sessions: sessionmaker[Session], actor_id: int, body: QualitySettingsIn) -> dict[str, Any]:
    with session_scope(sessions) as s:
        for key, value in body.model_dump().items():
            row = s.get(QaSetting, key)
            if row is None:
                s.add(QaSetting(key=key, value=value))
            else:
                row.value = value
        audit(s, actor_id=actor_id, action="quality_settings", target="settings", **body.model_dump())
    return body.model_dump()


# ------------------------------------------------------------------ the daily queue
def build_queue(
    *, sessions: sessionmaker[Session], day: date, timezone: str, queue_sla_s: float
) -> int:
    """Add the reviews of ``day`` (conversations that ended that local day): every flagged one and a sampled share
    of each agent's others.  Idempotent; returns how many reviews were added."""
    tz = ZoneInfo(timezone)
    start = datetime.combine(day, time.min, tz)
    end = start + timedelta(days=1)
    added = 0
    with session_scope(sessions) as s:
        cfg = settings_of(s)
        auto_items = {r.key: r.auto for r in rubric(s) if r.active and r.auto}
        convs = s.scalars(select(Conversation).where(
            Conversation.status == "closed", Conversation.agent_id.is_not(None),
            Conversation.closed_at >= start.astimezone(UTC), Conversation.closed_at < end.astimezone(UTC))).all()
        if not convs:
            return 0
        ids = [c.id for c in convs]
        known = set(s.execute(select(QaReview.conversation_id, QaReview.agent_id)
                              .where(QaReview.conversation_id.in_(ids))).all())
        messages: dict[str, list[Message]] = defaultdict(list)
        for m in s.scalars(select(Message).where(Message.conversation_id.in_(ids)).order_by(Message.id)):
            messages[m.conversation_id].append(m)
        ratings = dict(s.execute(select(Survey.conversation_id, Survey.rating)
                                 .where(Survey.conversation_id.in_(ids))).all())
        starts: dict[tuple[str, int], float] = {}
        for cid, aid, started in s.execute(select(Assignment.conversation_id, Assignment.agent_id,
                                                   Assignment.started_at).where(Assignment.conversation_id.in_(ids))):
            starts[(cid, aid)] = max(started, starts.get((cid, aid), 0.0))
        unflagged: dict[int, list[Conversation]] = defaultdict(list)
        pre_by_id: dict[str, dict[str, float]] = {}
        for c in convs:
            assert c.agent_id is not None
            if (c.id, c.agent_id) in known:
                continue
            accepted = starts.get((c.id, c.agent_id)) or (aware(c.assigned_at).timestamp() if c.assigned_at else None)
            flags = _flags(c, messages[c.id], ratings.get(c.id), cfg, queue_sla_s)
            pre = _pre_scores(c.agent_id, messages[c.id], accepted, cfg, auto_items)
            if flags:
                s.add(QaReview(conversation_id=c.id, agent_id=c.agent_id, day=day.isoformat(), reason="flagged",
                               flags=flags, pre_scores=pre, status="pending"))
                added += 1
            else:
                unflagged[c.agent_id].append(c)
                pre_by_id[c.id] = pre
        rate = float(cfg["sample_rate"])
        for agent_id, pool in unflagged.items():
            n = math.ceil(rate * len(pool)) if rate > 0 else 0
            for c in sorted(pool, key=lambda c: hashlib.sha256(c.id.encode()).hexdigest())[:n]:
                s.add(QaReview(conversation_id=c.id, agent_id=agent_id, day=day.isoformat(), reason="sampled",
                               flags=[], pre_scores=pre_by_id[c.id], status="pending"))
                added += 1
    return added


def _flags(c: Conversation, msgs: list[Message], rating: int | None, cfg: dict[str, Any], sla_s: float) -> list[str]:
    flags = []
    if any(m.direction == "in" and m.sentiment_label == "angry" for m in msgs):
        flags.append("anger")
    if c.handed_off_at is not None and c.assigned_at is not None and (
            aware(c.assigned_at) - aware(c.handed_off_at)).total_seconds() > sla_s:
        flags.append("wait_over_sla")
    if rating is not None and rating <= 2:
        flags.append("csat_low")
    phrases = [p for p in cfg["forbidden_phrases"] if p]
    if any(m.sender == "agent" and any(p in m.text for p in phrases) for m in msgs):
        flags.append("forbidden")
    if _longest_silence(c, msgs) > float(cfg["silence_s"]):
        flags.append("silence")
    return flags


def _longest_silence(c: Conversation, msgs: list[Message]) -> float:
    """Longest time a shopper waited, while an agent held the conversation, for the agent's next reply."""
    if c.assigned_at is None:
        return 0.0
    held_from = aware(c.assigned_at)
    waiting_since: datetime | None = None
    longest = 0.0
    for m in msgs:
        at = aware(m.created_at)
        if at < held_from:
            continue
        if m.direction == "in" and waiting_since is None:
            waiting_since = at
        elif m.sender == "agent" and waiting_since is not None:
            longest = max(longest, (at - waiting_since).total_seconds())
            waiting_since = None
    return longest


def _pre_scores(agent_id: int, msgs: list[Message], accepted: float | None, cfg: dict[str, Any],
                auto_items: dict[str, str]) -> dict[str, float]:
    """0-100 for the objective items: greeting in the first reply, first response time, no forbidden phrase."""
    replies = [m for m in msgs if m.sender == "agent" and m.agent_id == agent_id]
    out: dict[str, float] = {}
    for key, check in auto_items.items():
        if check == "greeting":
            first = replies[0].text if replies else ""
            out[key] = 100.0 if any(p in first for p in cfg["greeting_phrases"]) else 0.0
        elif check == "first_response":
            after = [aware(m.created_at).timestamp() for m in replies
                     if accepted is None or aware(m.created_at).timestamp() >= accepted]
            if not after or accepted is None:
                out[key] = 0.0
                continue
            frt, target = after[0] - accepted, float(cfg["first_response_target_s"])
            out[key] = 100.0 if frt <= target else 60.0 if frt <= 2 * target else 0.0
        elif check == "forbidden":
            phrases = [p for p in cfg["forbidden_phrases"] if p]
            out[key] = 0.0 if any(p in m.text for m in replies for p in phrases) else 100.0
    return out


# ------------------------------------------------------------------ reviewing and appeals
def list_reviews(*, sessions: sessionmaker[Session], status: str | None = None, agent_id: int | None = None,
                 limit: int = 200) -> list[ReviewOut]:
    with sessions() as s:
        q = select(QaReview).order_by(QaReview.reason, QaReview.id.desc()).limit(limit)
        if status:
            q = q.where(QaReview.status == status)
        if agent_id is not None:
            q = q.where(QaReview.agent_id == agent_id)
        return [review_out(r) for r in s.scalars(q)]


def complete_review(*, sessions: sessionmaker[Session], reviewer_id: int, review_id: int, body: ReviewIn) -> ReviewOut:
    """Score every active rubric item 0-100; also answers an appeal (``appealed`` -> ``completed``)."""
    with session_scope(sessions) as s:
        review = s.get(QaReview, review_id)
        if review is None:
            raise ReviewNotFound(review_id)
        items = [r for r in rubric(s) if r.active]
        missing = [r.key for r in items if r.key not in body.scores]
        if missing or any(not 0 <= v <= 100 for v in body.scores.values()):
            raise QualityError(f"score every item 0-100 (missing: {', '.join(missing) or 'none'})")
        weight = sum(r.weight for r in items)
        review.scores = {r.key: float(body.scores[r.key]) for r in items}
        review.total = round(sum(r.weight * body.scores[r.key] for r in items) / weight, 1)
        if review.status == "appealed":
            review.appeal_reply = body.comment
        else:
            review.comment = body.comment
        review.status, review.reviewer_id, review.reviewed_at = "completed", reviewer_id, datetime.now(UTC)
        audit(s, actor_id=reviewer_id, action="review", target=review.conversation_id, review_id=review.id,
              total=review.total)
        return review_out(review)


def appeal(*, sessions: sessionmaker[Session], agent_id: int, review_id: int, text: str) -> ReviewOut:
    with session_scope(sessions) as s:
        review = s.get(QaReview, review_id)
        if review is None or review.agent_id != agent_id:
            raise ReviewNotFound(review_id)
        if review.status != "completed" or review.appeal_text:
            raise QualityError("only a completed review may be appealed, once", review_id=review_id)
        review.status, review.appeal_text = "appealed", text
        audit(s, actor_id=agent_id, action="appeal", target=review.conversation_id, review_id=review.id, text=text)
        return review_out(review)


def quality_scores(session: Session, conversation_ids: Iterable[str]) -> dict[tuple[str, int], float]:
    """Final totals of reviewed conversations, for the per-agent performance view (appealed ones count as scored)."""
    ids = list(conversation_ids)
    if not ids:
        return {}
    rows = session.execute(select(QaReview.conversation_id, QaReview.agent_id, QaReview.total).where(
        QaReview.conversation_id.in_(ids), QaReview.total.is_not(None)))
    return {(cid, int(aid)): float(total) for cid, aid, total in rows if total is not None}
