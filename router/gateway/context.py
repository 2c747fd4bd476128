"""What an agent sees beside a conversation: transcript, sentiment trend, NLU, the order, FAQ ideas."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from router.gateway.models import Conversation, Message
from router.gateway.rasa_client import RasaClient, RasaUnavailable, nlu_summary

log = logging.getLogger(__name__)
ORDER_ID_RE = re.compile(r"(?<!\d)\d{16}(?!\d)")


class ContextBuilder:
    """Assembles the agent's side panel; every part degrades on its own (a down Rasa still leaves the transcript)."""

    def __init__(
        self,
        *,
        rasa: RasaClient,
        order_lookup: Callable[[str, str], dict[str, Any] | None] | None,
        faq_search: Callable[[str, int], list[dict[str, Any]]] | None,
        mood: Callable[[str | None, float | None, float | None], str] | None = None,
    ) -> None:
        self.rasa = rasa
        # the label agents see: confident only (router/gateway/anger.py); without a policy, the stored label
        self.mood = mood or (lambda label, score, anger: label or "neutral")
        self.order_lookup = order_lookup
        self.faq_search = faq_search

    def transcript(self, session: Session, conv: Conversation, limit: int = 200) -> list[dict[str, Any]]:
        rows = session.scalars(
            select(Message).where(Message.customer_id == conv.customer_id).order_by(Message.id.desc()).limit(limit)
        ).all()
        return [
            {
                "id": m.id,
                "conversation_id": m.conversation_id,
                "direction": m.direction,
                "sender": m.sender,
                "channel": m.channel,
                "text": m.text,
                "sentiment_label": m.sentiment_label,
                "sentiment_score": m.sentiment_score,
                "mood": self.mood(m.sentiment_label, m.sentiment_score, m.anger) if m.direction == "in" else None,
                "created_at": m.created_at.isoformat(),
            }
            for m in reversed(rows)
        ]

    async def build(self, session: Session, conv: Conversation) -> dict[str, Any]:
        transcript = self.transcript(session, conv)
        inbound = [m for m in transcript if m["direction"] == "in" and m["conversation_id"] == conv.id]
        trend = [
            {"label": m["mood"], "score": m["sentiment_score"], "at": m["created_at"]}
            for m in inbound
            if m["sentiment_label"]
        ]
        try:
            nlu = nlu_summary(await self.rasa.tracker(conv.id))
        except RasaUnavailable as exc:
            log.info("no NLU context for %s: %s", conv.id, exc.reason)
            nlu = {"intents": [], "entities": {}, "slots": {}}
        order_id = nlu["entities"].get("order_id") or nlu["slots"].get("order_id")
        if not order_id:
            for m in reversed(inbound):
                found = ORDER_ID_RE.search(m["text"])
                if found:
                    order_id = found.group(0)
                    break
        order = None
        if order_id and self.order_lookup is not None:
            try:
                order = self.order_lookup(str(order_id), conv.customer_id)
            except Exception as exc:  # the shop's order API may be down; the agent still gets everything else
                log.info("order lookup failed for %s: %s", order_id, exc)
        suggestions: list[dict[str, Any]] = []
        question = next((m["text"] for m in reversed(inbound)), None)
        if question and self.faq_search is not None:
            try:
                suggestions = self.faq_search(question, 3)
            except Exception as exc:  # an index being rebuilt must not break the agent console
                log.info("faq suggestions failed: %s", exc)
        return {
            "conversation": {
                "id": conv.id,
                "customer_id": conv.customer_id,
                "channel": conv.channel,
                "owner": conv.owner,
                "status": conv.status,
                "required_skill": conv.required_skill,
                "priority": conv.priority,
                "handoff_reason": conv.handoff_reason,
                "created_at": conv.created_at.isoformat(),
            },
            "transcript": transcript,
            "sentiment_trend": trend,
            "nlu": nlu,
            "order": order,
            "faq_suggestions": suggestions,
        }


def default_order_lookup() -> Callable[[str, str], dict[str, Any] | None]:
    """Order details through the same order service the actions use (demo store or the shop's API)."""
    from actions.orders import OrderError
    from actions.settings import get_order_service

    def lookup(order_id: str, customer_id: str) -> dict[str, Any] | None:
        try:
            order = get_order_service().get_order(order_id, customer_id=customer_id)
        except OrderError:
            return None
        return order.model_dump(mode="json")

    return lookup


def default_faq_search() -> Callable[[str, int], list[dict[str, Any]]]:
    from knowledge_base import get_knowledge_base

    def search(question: str, k: int) -> list[dict[str, Any]]:
        return [
            {"id": h.id, "question": h.question, "answer": h.answer, "score": round(float(h.score), 4)}
            for h in get_knowledge_base().search(question, k=k)
        ]

    return search
