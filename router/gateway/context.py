"""What an agent sees beside a conversation: transcript, sentiment trend, NLU, the order, FAQ ideas."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from router.conversations.access import staff_conversation
from router.conversations.models import Conversation, Message
from router.db import session_scope
from router.gateway.rasa_client import RasaClient, RasaUnavailable, nlu_summary

log = logging.getLogger(__name__)
ORDER_ID_RE = re.compile(r"(?<!\d)\d{16}(?!\d)")
SUGGESTIONS = 3
QUESTIONS_FOR_SUGGESTIONS = 3
# messages that say nothing about what the shopper needs: asking for a human, greetings, thanks, bare numbers
NOT_A_QUESTION = re.compile(
    r"^[\s\W\d_]*$|转人工|人工客服|真人|找客服|接人工|^(?:你好|您好|在吗|在不在|hi|hello|嗨|喂|谢谢|好的|嗯|哦|ok)\W*$",
    re.IGNORECASE,
)
# intents of the same kind, when the bot classified the message (the NLU panel's data)
NOT_A_QUESTION_INTENTS = frozenset({"request_human", "greet", "goodbye", "thanks", "affirm", "deny", "inform"})


def substantive_questions(inbound: list[dict[str, Any]], nlu_intents: list[dict[str, Any]]) -> list[str]:
    """The shopper's messages that say what they need, latest first (for FAQ suggestions)."""
    skip = {str(i.get("text")) for i in nlu_intents if i.get("intent") in NOT_A_QUESTION_INTENTS}
    found: list[str] = []
    for m in reversed(inbound):
        text = str(m["text"]).strip()
        if len(text) < 2 or text in skip or NOT_A_QUESTION.search(text) or text in found:
            continue
        found.append(text)
    return found


def _inbound(conv: dict[str, Any], transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The shopper's messages in this conversation (the transcript also holds her earlier ones)."""
    return [m for m in transcript if m["direction"] == "in" and m["conversation_id"] == conv["id"]]


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
                # the clarification options the shopper saw (their titles), so the agent reads what was offered
                "buttons": [str(b.get("title", "")) for b in (m.buttons or []) if isinstance(b, dict)],
                "sentiment_label": m.sentiment_label,
                "sentiment_score": m.sentiment_score,
                "mood": self.mood(m.sentiment_label, m.sentiment_score, m.anger) if m.direction == "in" else None,
                "created_at": m.created_at.isoformat(),
            }
            for m in reversed(rows)
        ]

    def load(self, session: Session, conv: Conversation) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The database part (run it in a worker thread): the conversation's fields and the transcript."""
        fields = {
            "id": conv.id,
            "customer_id": conv.customer_id,
            "channel": conv.channel,
            "owner": conv.owner,
            "status": conv.status,
            "required_skill": conv.required_skill,
            "priority": conv.priority,
            "handoff_reason": conv.handoff_reason,
            "created_at": conv.created_at.isoformat(),
        }
        return fields, self.transcript(session, conv)

    def load_for_agent(
        self, sessions: sessionmaker[Session], *, conversation_id: str, agent_id: int, role: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """:meth:`load` for a member of staff who may look into the conversation: an agent sees unassigned ones and
        hers (else :class:`~router.conversations.access.AssignedToAnotherAgent`), supervisors and admins every one."""
        with session_scope(sessions) as session:
            conv = staff_conversation(session, conversation_id, staff_id=agent_id, role=role, unassigned_too=True)
            return self.load(session, conv)

    async def build(self, conv: dict[str, Any], transcript: list[dict[str, Any]]) -> dict[str, Any]:
        """The panel from :meth:`load`'s data; the order lookup and the FAQ search (which may load or build the
        index) run in worker threads, never on the event loop."""
        inbound = _inbound(conv, transcript)
        trend = [
            {"label": m["mood"], "score": m["sentiment_score"], "at": m["created_at"]}
            for m in inbound
            if m["sentiment_label"]
        ]
        nlu = await self.nlu(conv["id"])
        order = await self._order(conv, inbound, nlu)
        suggestions: list[dict[str, Any]] = []
        questions = substantive_questions(inbound, nlu["intents"])[:QUESTIONS_FOR_SUGGESTIONS]
        if questions and self.faq_search is not None:
            try:
                suggestions = await run_in_threadpool(self._suggest, questions)
            except Exception as exc:  # an index being rebuilt must not break the agent console
                log.info("faq suggestions failed: %s", exc)
        return {
            "conversation": conv,
            "transcript": transcript,
            "sentiment_trend": trend,
            "nlu": nlu,
            "order": order,
            "faq_suggestions": suggestions,
        }

    async def nlu(self, conversation_id: str) -> dict[str, Any]:
        """What the bot understood (intents, entities, slots); empty when Rasa cannot answer."""
        try:
            return nlu_summary(await self.rasa.tracker(conversation_id))
        except RasaUnavailable as exc:
            log.info("no NLU context for %s: %s", conversation_id, exc.reason)
            return {"intents": [], "entities": {}, "slots": {}}

    async def order(self, conv: dict[str, Any], transcript: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The order the panel shows for :meth:`load`'s data, found as :meth:`build` finds it (the audited reveal
        reads it again, unmasked)."""
        return await self._order(conv, _inbound(conv, transcript), await self.nlu(conv["id"]))

    async def _order(
        self, conv: dict[str, Any], inbound: list[dict[str, Any]], nlu: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The order the bot understood, else the latest order number the shopper wrote; None when the lookup fails."""
        order_id = nlu["entities"].get("order_id") or nlu["slots"].get("order_id")
        if not order_id:
            for m in reversed(inbound):
                found = ORDER_ID_RE.search(m["text"])
                if found:
                    order_id = found.group(0)
                    break
        if not order_id or self.order_lookup is None:
            return None
        try:
            return await run_in_threadpool(self.order_lookup, str(order_id), conv["customer_id"])
        except Exception as exc:  # the shop's order API may be down; the agent still gets everything else
            log.info("order lookup failed for %s: %s", order_id, exc)
            return None

    def _suggest(self, questions: list[str]) -> list[dict[str, Any]]:
        """The latest question's two best entries, then the best entry of each earlier question, then the rest."""
        assert self.faq_search is not None
        ranked = [(q, self.faq_search(q, SUGGESTIONS)) for q in questions]
        order = [(q, hits[:2]) for q, hits in ranked[:1]] + [(q, hits[:1]) for q, hits in ranked[1:]] + ranked
        suggestions: list[dict[str, Any]] = []
        for question, hits in order:
            for hit in hits:
                if len(suggestions) < SUGGESTIONS and all(s["id"] != hit["id"] for s in suggestions):
                    suggestions.append({**hit, "question_asked": question})
        return suggestions


def default_order_lookup() -> Callable[[str, str], dict[str, Any] | None]:
    """Order details through the same order service the actions use (demo store or the shop's API)."""
    from shop.orders import OrderError
    from shop.settings import get_order_service

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
