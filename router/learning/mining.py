"""Find what the bot handled badly: the shopper question behind each FAQ decline / clarify / low-score answer and
each fallback, plus the agent reply that followed when the conversation was then resolved by an agent."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from router.clock import aware
from router.conversations.models import Conversation, ConversationEvent, Message

# turns that are about the conversation itself, not a question worth an FAQ entry
NOT_A_QUESTION = re.compile(
    r"^\s*(转)?(人工|真人)(客服)?\s*$|^\s*(客服|你好|您好|在吗|谢谢|好的|嗯+|哦+|是的?|不是|对|没有)\s*[!！?？。.]*\s*$"
)
DIGITS_ONLY = re.compile(r"^[\d\s\-]+$")


@dataclass(frozen=True)
class Candidate:
    message_id: int
    conversation_id: str
    text: str
    reason: str  # decline | clarify | low_score | fallback
    score: float | None
    faq_id: str | None  # what the bot thought, if anything
    agent_answer: str | None
    created_at: datetime


def is_question(text: str) -> bool:
    t = text.strip()
    return len(t) >= 4 and not NOT_A_QUESTION.match(t) and not DIGITS_ONLY.match(t)


def collect_candidates(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    low_confidence: float = 0.5,
    exclude_message_ids: set[int] | None = None,
) -> list[Candidate]:
    """Shopper questions (one per message) the bot declined, only clarified, answered with low confidence or did
    not understand, in [since, until)."""
    exclude = exclude_message_ids or set()
    events = session.execute(
        select(ConversationEvent.conversation_id, ConversationEvent.type, ConversationEvent.data,
               ConversationEvent.created_at, ConversationEvent.id)
        .where(ConversationEvent.type.in_(("faq", "fallback")), ConversationEvent.created_at >= since,
               ConversationEvent.created_at < until)
        .order_by(ConversationEvent.created_at, ConversationEvent.id)
    ).all()
    weak: list[tuple[str, str, float | None, str | None, datetime]] = []
    for cid, type_, data, at, _eid in events:
        d = data or {}
        if type_ == "fallback":
            weak.append((cid, "fallback", None, None, aware(at)))
            continue
        decision = d.get("decision")
        score = float(d["score"]) if isinstance(d.get("score"), int | float) else None
        if decision == "decline":
            weak.append((cid, "decline", score, None, aware(at)))
        elif decision == "clarify":
            alts = d.get("alternatives") or []
            weak.append((cid, "clarify", score, str(alts[0]) if alts else None, aware(at)))
        elif decision == "answer" and score is not None and score < low_confidence:
            weak.append((cid, "low_score", score, d.get("faq_id"), aware(at)))
    if not weak:
        return []
    conv_ids = sorted({w[0] for w in weak})
    messages: dict[str, list[tuple[int, str, str, datetime]]] = defaultdict(list)
    resolution: dict[str, str | None] = {}
    for chunk in _chunks(conv_ids, 500):
        for mid, cid, sender, text, at in session.execute(
            select(Message.id, Message.conversation_id, Message.sender, Message.text, Message.created_at)
            .where(Message.conversation_id.in_(chunk))
            .order_by(Message.created_at, Message.id)
        ).all():
            messages[cid].append((mid, sender, text, aware(at)))
        for cid, res in session.execute(
            select(Conversation.id, Conversation.resolution).where(Conversation.id.in_(chunk))
        ).all():
            resolution[cid] = res
    out: dict[int, Candidate] = {}
    for cid, reason, score, faq_id, at in weak:
        thread = messages.get(cid, [])
        question = None
        for mid, sender, text, m_at in thread:
            if m_at > at:
                break
            if sender == "customer" and is_question(text):
                question = (mid, text, m_at)
        if question is None or question[0] in exclude or question[0] in out:
            continue
        answer = None
        if resolution.get(cid) == "agent":
            answer = next((text for _m, sender, text, m_at in thread if sender == "agent" and m_at >= question[2]),
                          None)
        out[question[0]] = Candidate(question[0], cid, question[1].strip(), reason, score, faq_id, answer, question[2])
    return sorted(out.values(), key=lambda c: c.message_id)


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
