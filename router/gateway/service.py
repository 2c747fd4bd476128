"""The gateway: every shopper message goes through here; it decides who owns the conversation (bot, queue or agent).

Order of work for one inbound message: persist it with its sentiment, then route it to exactly one owner. Nothing is
dropped: a message is stored before any network call, and a failing Rasa server turns into a polite reply (and a
handoff where agents are online), never into an error for the shopper.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from knowledge_base.escalation import Feeling, decide
from router.clock import aware, utcnow
from router.conversations.models import Conversation, ConversationEvent, Customer, CustomerIdentity, Message, Survey
from router.db import session_scope
from router.gateway.anger import OFFER_EVENT, AngerPolicy, Grade
from router.gateway.context import substantive_questions
from router.gateway.errors import ConversationNotFound, NoAgentsOnline, NotConversationOwner
from router.gateway.limits import LocalRateLimiter, RateLimiter
from router.gateway.ports import HandoffQueue, OutboundSink, Push, QueueStatus, TicketSink
from router.gateway.rasa_client import RasaClient, RasaMessage, RasaUnavailable
from router.gateway.schemas import Button, InboundMessage, MessageResponse, QueueInfo, Reply
from router.identity.pii import mask_text
from router.sentiment import ConversationSignals, SentimentAnalyzer, SentimentResult

log = logging.getLogger(__name__)
T = TypeVar("T")
TEXTS_PATH = Path(__file__).with_name("texts.yml")

OFFER_CARD_LOOKBACK = 20  # the shopper's messages searched for her last substantive one (the agent's offer card)
OFFER_CARD_CHARS = 200
DB_RETRIES = 4  # 0.5 + 1 + 2 s of back-off covers a database restart or a fail-over
RACE_RETRIES = 3  # a transaction that lost a unique-key race runs again and finds the winner's rows
RACE_ANSWER_WAIT_S = 10.0  # how long the loser of a client_msg_id race waits for the winner's bot answer
SURVEY_RE = re.compile(r"^\s*([1-5])\s*(?:分|星)?[\s,，。.!！:：、]*(.*)$", re.S)
# a second rating this soon after the first updates it (the shopper changed their mind, or typed after clicking stars)
SURVEY_UPDATE_WINDOW = timedelta(minutes=10)


def load_texts(path: Path = TEXTS_PATH) -> dict[str, str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def format_eta(eta_s: float | None) -> str:
    """A queue estimate after "预计等待", worded as the widget words it (router/web/static/common.js fmtEta)."""
    if eta_s is None:
        return "几分钟"
    if eta_s < 60:
        return "1分钟以内"
    return f"约{round(eta_s / 60)}分钟"


@dataclass
class Followup:
    """Async work left after an ownership change was written: tell Rasa, push to the shopper."""

    customer_id: str
    conversation_id: str
    owner: str
    replies: list[Reply]
    pause: bool = False
    resume: bool = False
    survey: bool = False


@dataclass
class Outcome:
    """What handling one inbound message produced (before it is turned into the wire response)."""

    conversation_id: str
    owner: str
    replies: list[Reply] = field(default_factory=list)
    queue: QueueStatus | None = None
    message_id: int | None = None
    sentiment: dict[str, Any] | None = None
    pending: bool = False  # a duplicate of a message whose answer another request is still producing
    survey_done: bool = False  # a typed rating closed the survey: the widget's stars close too


# after "leave a message": a greeting is not the message, and these withdraw the offer (the whole text, punctuation
# aside)
_GREETING_ONLY = re.compile(r"(你好|您好|hi|hello|哈喽|嗨|在吗|在不在|有人吗|有人在吗|喂|人呢|客服|亲)+")
_DECLINE_LEAVE = re.compile(
    r"(不留言了?|不用留言了?|不留了|算了吧?|不用了|不需要了?|取消留言|取消|没事了?|好的?不用了)"
)


def _leave_message_reply(text: str) -> str | None:
    """The text key of the answer to ``text`` after the leave-a-message offer, or None when it is the message."""
    core = re.sub(r"[\s，,。.！!？?~～、…]+", "", text).lower()
    if _DECLINE_LEAVE.fullmatch(core):
        return "leave_message_cancelled"
    if not core or _GREETING_ONLY.fullmatch(core):
        return "leave_message_greeting"
    return None


class GatewayService:
    """Routes shopper messages to the bot, the queue or an agent and relays everything back."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        rasa: RasaClient,
        sentiment: SentimentAnalyzer,
        queue: HandoffQueue,
        tickets: TicketSink,
        push: Push,
        texts: dict[str, str] | None = None,
        history_for_sentiment: int = 5,
        rate_limiter: RateLimiter | None = None,
        outbound: OutboundSink | None = None,
        anger: AngerPolicy | None = None,
        leave_message_window_s: float = 1800.0,
    ) -> None:
        self.sessions = session_factory
        self.rasa = rasa
        self.sentiment = sentiment
        self.queue = queue
        self.tickets = tickets
        self.push = push
        self.texts = texts or load_texts()
        self.history_for_sentiment = history_for_sentiment
        self.rate_limiter = rate_limiter or LocalRateLimiter(limit=20, window_s=60.0)
        self.anger = anger or AngerPolicy()
        self.leave_message_window_s = leave_message_window_s
        self._locks: dict[str, _CustomerLock] = {}  # only customers with a message in flight (bounded)
        self.outbound = outbound

    # ------------------------------------------------------------------ helpers
    async def _db(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in one transaction off the event loop; a dropped database connection is retried briefly."""

        def run() -> T:
            with session_scope(self.sessions) as session:
                return fn(session)

        for attempt in range(DB_RETRIES):
            try:
                return await run_in_threadpool(run)
            except OperationalError:
                if attempt == DB_RETRIES - 1:
                    raise
                log.warning("database unavailable, retrying (%d/%d)", attempt + 1, DB_RETRIES)
                await asyncio.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    async def _db_first_wins(self, fn: Callable[[Session], T]) -> T:
        """Like :meth:`_db`, for a transaction that may lose a unique-key race (another request or replica inserted
        the same customer, identity, open conversation or ``client_msg_id`` first): it runs again and, seeing the
        winner's rows, gives the same answer the winner got instead of an error."""
        for attempt in range(RACE_RETRIES):
            try:
                return await self._db(fn)
            except IntegrityError as exc:
                if attempt == RACE_RETRIES - 1:
                    raise
                log.info("lost a race to another request (%s); reading the winner's rows", exc.orig)
        raise AssertionError("unreachable")

    @contextlib.asynccontextmanager
    async def _lock(self, customer_id: str) -> AsyncIterator[None]:
        """One message per customer at a time on this replica; the entry goes away with its last waiter."""
        entry = self._locks.get(customer_id)
        if entry is None:
            entry = self._locks[customer_id] = _CustomerLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._locks[customer_id]

    def text(self, key: str, **values: Any) -> str:
        return self.texts[key].format(**values)

    @staticmethod
    def _event(session: Session, conv: Conversation, type_: str, **data: Any) -> None:
        session.add(ConversationEvent(conversation_id=conv.id, type=type_, channel=conv.channel, data=data))

    @staticmethod
    def _reply_of(msg: Message) -> Reply:
        return Reply(
            id=msg.id,
            text=msg.text,
            buttons=[Button(**b) for b in (msg.buttons or [])],
            sender="agent" if msg.sender == "agent" else ("system" if msg.sender == "system" else "bot"),
            created_at=msg.created_at.isoformat() if msg.created_at else None,
        )

    def _store_in(
        self,
        session: Session,
        conversation_id: str,
        customer_id: str,
        inbound: InboundMessage,
        sentiment: SentimentResult | None = None,
    ) -> Message:
        """Persist one shopper message (flushed, so it has its id) with its sentiment.

        Survey comments and left messages come without conversation signals; they are scored here on their text
        alone, so that every stored shopper message carries a score (KPIs and agents read it).
        """
        if sentiment is None:
            sentiment = self.sentiment.score(inbound.text)
        msg = Message(
            conversation_id=conversation_id,
            customer_id=customer_id,
            direction="in",
            sender="customer",
            channel=inbound.channel,
            text=inbound.text,
            client_msg_id=inbound.client_msg_id,
            sentiment_label=sentiment.label,
            sentiment_score=sentiment.score,
            anger=sentiment.anger,
            created_at=utcnow(),
        )
        session.add(msg)
        session.flush()
        return msg

    @staticmethod
    def _add_out(
        session: Session, conv: Conversation, reply: Reply, sender: str, agent_id: int | None = None
    ) -> Message:
        """Persist one message to the shopper (flushed, so it has its id); an agent's is signed by ``agent_id``,
        by default the agent who owns the conversation."""
        msg = Message(
            conversation_id=conv.id,
            customer_id=conv.customer_id,
            direction="out",
            sender=sender if reply.sender != "system" else "system",
            channel=conv.channel,
            text=reply.text,
            buttons=[b.model_dump() for b in reply.buttons] or None,
            agent_id=(conv.agent_id if agent_id is None else agent_id) if sender == "agent" else None,
            created_at=utcnow(),
        )
        session.add(msg)
        session.flush()
        return msg

    def _store_out(self, session: Session, conv: Conversation, replies: list[Reply], sender: str) -> list[Reply]:
        stored = [self._reply_of(self._add_out(session, conv, reply, sender)) for reply in replies]
        conv.updated_at = utcnow()
        return stored

    def _outbound(
        self, session: Session, conv: Conversation, event: str, replies: list[Reply] | None = None, **data: Any
    ) -> None:
        """Messages that are not the synchronous reply also go to app / mini-program shoppers (router/outbound)."""
        if self.outbound is not None:
            self.outbound.notify(session, conv, event, replies, data or None)

    async def _push_replies(self, customer_id: str, conversation_id: str, owner: str, replies: list[Reply]) -> None:
        for reply in replies:
            await self.push.to_customer(
                customer_id,
                {"type": "reply", "conversation_id": conversation_id, "owner": owner, "reply": reply.model_dump()},
            )

    # ------------------------------------------------------------------ identity
    def resolve_customer_id(self, session: Session, channel: str, external_id: str) -> str:
        """Map a channel identity to the customer; mini-program openids are linked rows, others are customer ids."""
        if channel == "miniprogram":
            row = session.scalar(
                select(CustomerIdentity).where(
                    CustomerIdentity.channel == channel, CustomerIdentity.external_id == external_id
                )
            )
            if row is not None:
                return row.customer_id
            customer_id = f"mp:{external_id}"
            if session.get(Customer, customer_id) is None:
                session.add(Customer(id=customer_id))
                session.flush()
            session.add(CustomerIdentity(channel=channel, external_id=external_id, customer_id=customer_id))
            session.flush()
            return customer_id
        if session.get(Customer, external_id) is None:
            session.add(Customer(id=external_id))
            session.flush()
        return external_id

    def link_identity(self, *, channel: str, external_id: str, customer_id: str) -> None:
        """Link e.g. a mini-program openid to an existing customer so every channel shares one history."""
        with session_scope(self.sessions) as session:
            if session.get(Customer, customer_id) is None:
                session.add(Customer(id=customer_id))
                session.flush()
            row = session.scalar(
                select(CustomerIdentity).where(
                    CustomerIdentity.channel == channel, CustomerIdentity.external_id == external_id
                )
            )
            if row is None:
                session.add(CustomerIdentity(channel=channel, external_id=external_id, customer_id=customer_id))
            else:
                row.customer_id = customer_id

    # ------------------------------------------------------------------ inbound
    async def handle(self, inbound: InboundMessage) -> MessageResponse:
        if inbound.channel == "miniprogram":  # an openid names a customer only through the identity table
            customer_id = await self._db_first_wins(
                lambda s: self.resolve_customer_id(s, inbound.channel, inbound.customer_id)
            )
        else:  # web and app identities are customer ids; the row is made in the message's own transaction
            customer_id = inbound.customer_id
        await self.rate_limiter.check(customer_id)  # raises RateLimited; the edge answers 429
        async with self._lock(customer_id):
            outcome = await self._handle_locked(inbound, customer_id)
        return MessageResponse(
            conversation_id=outcome.conversation_id,
            owner=outcome.owner,  # type: ignore[arg-type]
            replies=outcome.replies,
            queue=QueueInfo(position=outcome.queue.position, eta_s=outcome.queue.eta_s) if outcome.queue else None,
            message_id=outcome.message_id,
            sentiment=outcome.sentiment,
        )

    async def _handle_locked(self, inbound: InboundMessage, customer_id: str) -> Outcome:
        stage = await self._db_first_wins(lambda s: self._persist_inbound(s, inbound, customer_id))
        if isinstance(stage, Outcome) and stage.pending:
            stage = await self._winner_answer(inbound, customer_id, stage)
        if isinstance(stage, Outcome):  # duplicate, survey answer or left message: already complete
            await self._push_replies(customer_id, stage.conversation_id, stage.owner, stage.replies)
            if stage.survey_done:
                await self.push.to_customer(
                    customer_id, {"type": "survey_done", "conversation_id": stage.conversation_id}
                )
            return stage
        conv_id, owner, agent_id, msg_id, result, channel, shown = stage
        sentiment: dict[str, Any] = dict(result.as_dict())
        sentiment["mood"] = self.anger.mood(result.label, result.score, result.anger)  # what agents are shown
        if owner == "agent" and agent_id is not None:
            await self.push.to_agent(
                agent_id,
                {
                    "type": "message",
                    "conversation_id": conv_id,
                    "message": {"id": msg_id, "sender": "customer", "text": shown, "sentiment": sentiment},
                },
            )
            return Outcome(conv_id, "agent", [], None, msg_id, sentiment)
        if owner == "queue":
            status = await run_in_threadpool(self.queue.queue_status, conv_id)
            text = self.text(
                "still_queued",
                position=status.position if status else 1,
                eta=format_eta(status.eta_s if status else None),
            )

            def store_waiting(session: Session) -> list[Reply]:
                conv = session.get(Conversation, conv_id)
                assert conv is not None
                return self._store_out(session, conv, [Reply(text=text, sender="system")], "system")

            replies = await self._db(store_waiting)
            await self._push_replies(customer_id, conv_id, "queue", replies)
            return Outcome(conv_id, "queue", replies, status, msg_id, sentiment)

        # bot-owned: the response to anger is graded (router/gateway/anger.py)
        grade = await self._anger_grade(conv_id, msg_id, result)
        if grade == "handoff":
            outcome = await self._handoff(
                conv_id, reason="angry", text=inbound.text, lead=self.text("angry_handoff")
            )
            outcome.message_id, outcome.sentiment = msg_id, sentiment
            await self._pause_bot(conv_id)
            return outcome
        metadata = {
            "channel": channel,
            "customer_id": customer_id,
            "conversation_id": conv_id,
            "sentiment": sentiment,
            **{k: v for k, v in inbound.metadata.items() if k not in {"channel", "customer_id", "conversation_id"}},
        }
        try:
            bot_messages = await self.rasa.send(sender=conv_id, text=inbound.text, metadata=metadata)
        except RasaUnavailable as exc:
            log.warning("rasa unavailable for %s: %s", conv_id, exc.reason)
            outcome = await self._bot_down(conv_id, inbound.text)
            outcome.message_id, outcome.sentiment = msg_id, sentiment
            return outcome
        outcome = await self._relay_bot(conv_id, customer_id, bot_messages, inbound.text)
        if grade == "offer" and outcome.owner == "bot":
            outcome.replies += await self._anger_offer(conv_id, customer_id, msg_id)
        outcome.message_id, outcome.sentiment = msg_id, sentiment
        return outcome

    def _persist_inbound(
        self, session: Session, inbound: InboundMessage, customer_id: str
    ) -> Outcome | tuple[str, str, int | None, int, SentimentResult, str, str]:
        if inbound.channel != "miniprogram":
            self.resolve_customer_id(session, inbound.channel, customer_id)
        if inbound.client_msg_id:
            dup = self._duplicate(session, customer_id, inbound.client_msg_id)
            if dup is not None:
                return dup

        survey = self._maybe_survey(session, inbound, customer_id)
        if survey is not None:
            return survey
        left = self._maybe_left_message(session, inbound, customer_id)
        if left is not None:
            return left

        conv = session.scalar(
            select(Conversation)
            .where(Conversation.customer_id == customer_id, Conversation.status == "open")
            .order_by(Conversation.created_at.desc())
        )
        if conv is None:
            conv = Conversation(customer_id=customer_id, channel=inbound.channel, first_channel=inbound.channel)
            session.add(conv)
            session.flush()
            self._event(session, conv, "conversation_started", channel=inbound.channel)
        elif conv.channel != inbound.channel:
            self._event(session, conv, "channel_switched", from_channel=conv.channel, to_channel=inbound.channel)
            conv.channel = inbound.channel

        # a clicked button arrives as its payload ("/ask_faq{...}"): store what the shopper saw and clicked
        title = self._button_title(session, conv.id, inbound.text)
        if title is not None:
            inbound = inbound.model_copy(update={"text": title})
        previous = session.scalars(
            select(Message.text)
            .where(Message.conversation_id == conv.id, Message.direction == "in")
            .order_by(Message.id.desc())
            .limit(self.history_for_sentiment)
        ).all()
        result = self.sentiment.score(
            inbound.text,
            signals=ConversationSignals(
                previous_texts=list(reversed(previous)), consecutive_fallbacks=conv.consecutive_fallbacks
            ),
        )
        # the same client_msg_id racing in from another replica fails here (unique key); _db_first_wins runs this
        # again, and the duplicate check above answers it with the first request's message
        msg = self._store_in(session, conv.id, customer_id, inbound, result)
        conv.updated_at = utcnow()
        if result.label == "angry":
            self._event(session, conv, "angry_message", message_id=msg.id, anger=result.anger)
        return conv.id, conv.owner, conv.agent_id, msg.id, result, conv.channel, inbound.text

    @staticmethod
    def _button_title(session: Session, conv_id: str, text: str) -> str | None:
        """The title of the button whose payload ``text`` is, among the latest bot messages with buttons."""
        if not text.startswith("/"):
            return None
        rows = session.scalars(
            select(Message.buttons)
            .where(Message.conversation_id == conv_id, Message.direction == "out", Message.buttons.is_not(None))
            .order_by(Message.id.desc())
            .limit(5)
        ).all()
        for buttons in rows:
            for button in buttons or []:
                if isinstance(button, dict) and button.get("payload") == text and button.get("title"):
                    return str(button["title"])
        return None

    def _duplicate(self, session: Session, customer_id: str, client_msg_id: str) -> Outcome | None:
        """A retried (or raced) message: the stored one, with the replies that followed it so far."""
        dup = session.scalar(
            select(Message).where(Message.customer_id == customer_id, Message.client_msg_id == client_msg_id)
        )
        if dup is None:
            return None
        conv = session.get(Conversation, dup.conversation_id)
        assert conv is not None
        later = session.scalars(
            select(Message)
            .where(Message.conversation_id == dup.conversation_id, Message.id > dup.id)
            .order_by(Message.id)
        ).all()
        replies = []
        for m in later:
            if m.direction == "in":
                break
            replies.append(self._reply_of(m))
        # a bot answer still being made elsewhere (the message is recent and nothing followed it yet)
        recent = aware(dup.created_at) > utcnow() - timedelta(seconds=RACE_ANSWER_WAIT_S * 3)
        pending = recent and not later and conv.status == "open" and conv.owner == "bot"
        return Outcome(conv.id, conv.owner, replies, None, dup.id, None, pending=pending)

    async def _winner_answer(self, inbound: InboundMessage, customer_id: str, stage: Outcome) -> Outcome:
        """The same message is being answered by another request (another replica): wait, bounded, for that
        answer so both callers get the same one."""
        if not inbound.client_msg_id:
            return stage
        client_msg_id = inbound.client_msg_id
        deadline = asyncio.get_running_loop().time() + RACE_ANSWER_WAIT_S
        while stage.pending and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
            found = await self._db(lambda s: self._duplicate(s, customer_id, client_msg_id))
            if found is None:
                return stage
            stage = found
        return stage

    def _maybe_survey(self, session: Session, inbound: InboundMessage, customer_id: str) -> Outcome | None:
        """A typed rating ("4 客服态度不错") answers the pending survey of the shopper's last closed conversation,
        or updates a rating given in the last few minutes (by stars or typing); both close the widget's stars."""
        match = SURVEY_RE.match(inbound.text)
        if not match:
            return None
        open_conv = session.scalar(
            select(Conversation.id).where(Conversation.customer_id == customer_id, Conversation.status == "open")
        )
        if open_conv is not None:
            return None
        conv = session.scalar(
            select(Conversation)
            .where(Conversation.customer_id == customer_id, Conversation.status == "closed")
            .order_by(Conversation.closed_at.desc())
        )
        if conv is None:
            return None
        if not conv.survey_pending:
            done = session.get(Survey, conv.id)
            if done is None or aware(done.created_at) < datetime.now(UTC) - SURVEY_UPDATE_WINDOW:
                return None
        rating, comment = int(match.group(1)), (match.group(2) or "").strip() or None
        msg = self._store_in(session, conv.id, customer_id, inbound)
        replies = self._rate(session, conv, rating, comment)
        return Outcome(conv.id, "bot", replies, None, msg.id, survey_done=True)

    def _rate(self, session: Session, conv: Conversation, rating: int, comment: str | None) -> list[Reply]:
        """Record (or update) the rating and store the thank-you that says which one counts."""
        updated = self._record_survey(session, conv, rating, comment)
        text = self.text("survey_updated", rating=rating) if updated else self.text("survey_thanks")
        return self._store_out(session, conv, [Reply(text=text, sender="system")], "system")

    def _record_survey(self, session: Session, conv: Conversation, rating: int, comment: str | None) -> bool:
        """Store the rating; True when it replaced an earlier one (a second rating is never dropped silently)."""
        survey = session.get(Survey, conv.id)
        if survey is None:
            session.add(
                Survey(
                    conversation_id=conv.id,
                    customer_id=conv.customer_id,
                    agent_id=conv.agent_id,
                    channel=conv.channel,
                    rating=rating,
                    comment=comment,
                )
            )
        else:
            survey.rating = rating
            survey.comment = comment or survey.comment
        conv.survey_pending = False
        self._event(session, conv, "survey", rating=rating, agent_id=conv.agent_id, updated=survey is not None)
        return survey is not None

    async def submit_survey(
        self, *, conversation_id: str, rating: int, comment: str | None, owned_by: Callable[[str], bool] | None = None
    ) -> list[Reply] | None:
        """Survey answered with the widget's stars; the thank-you goes into the history and to every open window.
        None when the conversation is unknown (or not ``owned_by`` the caller: checked in the transaction that
        records the answer)."""

        def apply(session: Session) -> tuple[str, list[Reply]] | None:
            conv = session.get(Conversation, conversation_id)
            if conv is None or (owned_by is not None and not owned_by(conv.customer_id)):
                return None
            return conv.customer_id, self._rate(session, conv, rating, comment)

        done = await self._db(apply)
        if done is None:
            return None
        customer_id, replies = done
        await self._push_replies(customer_id, conversation_id, "bot", replies)
        await self.push.to_customer(customer_id, {"type": "survey_done", "conversation_id": conversation_id})
        return replies

    def _maybe_left_message(self, session: Session, inbound: InboundMessage, customer_id: str) -> Outcome | None:
        """The message after "no agent online, leave a message": the note of a ticket, unless the offer is stale (the
        shopper comes back later: the bot answers again), the shopper changed their mind ("不留言了", "算了") or
        only greets ("你好", "在吗": asked to describe the problem, the offer stays)."""
        conv = session.scalar(
            select(Conversation).where(
                Conversation.customer_id == customer_id,
                Conversation.status == "open",
                Conversation.owner == "bot",
                Conversation.handoff_reason == "leave_message",
            )
        )
        if conv is None:
            return None
        offered = session.scalar(
            select(func.max(ConversationEvent.created_at)).where(
                ConversationEvent.conversation_id == conv.id, ConversationEvent.type == "no_agent_online"
            )
        )
        if offered is not None and (utcnow() - aware(offered)).total_seconds() > self.leave_message_window_s:
            conv.handoff_reason = None  # a stale offer: this message is a new question for the bot
            self._event(session, conv, "leave_message_expired")
            return None
        msg = self._store_in(session, conv.id, customer_id, inbound)
        reply = _leave_message_reply(inbound.text)
        if reply is not None:
            if reply == "leave_message_cancelled":
                conv.handoff_reason = None
                self._event(session, conv, "leave_message_declined")
            replies = self._store_out(session, conv, [Reply(text=self.text(reply), sender="system")], "system")
            return Outcome(conv.id, "bot", replies, None, msg.id)
        ticket_id = self.tickets.create_from_conversation(
            conversation_id=conv.id,
            customer_id=customer_id,
            channel=inbound.channel,
            text=inbound.text,
            category=conv.required_skill or "general",  # the ticket service derives a general one again
            priority=conv.priority,
            source="leave_message",
            session=session,
        )
        conv.handoff_reason = None
        conv.status = "closed"
        conv.resolution = "ticket"
        conv.closed_at = utcnow()
        self._event(session, conv, "ticket_created", ticket_id=ticket_id, source="leave_message")
        replies = self._store_out(
            session, conv, [Reply(text=self.text("left_message", ticket_id=ticket_id), sender="system")], "system"
        )
        return Outcome(conv.id, "bot", replies, None, msg.id)

    # ------------------------------------------------------------------ bot
    async def _relay_bot(
        self, conv_id: str, customer_id: str, messages: list[RasaMessage], shopper_text: str
    ) -> Outcome:
        replies: list[Reply] = []
        handoff: dict[str, Any] | None = None
        custom: list[dict[str, Any]] = []
        for m in messages:
            payload = m.get("custom")
            if isinstance(payload, dict) and "kefu" in payload:
                custom.append(payload)
                if payload.get("kefu") == "handoff":
                    handoff = payload
                continue
            text = m.get("text")
            if text:
                buttons = [
                    Button(title=str(b.get("title", "")), payload=str(b.get("payload", "")))
                    for b in m.get("buttons") or []
                    if isinstance(b, dict)
                ]
                replies.append(Reply(text=text, buttons=buttons, sender="bot"))

        def record(session: Session) -> list[Reply]:
            conv = session.get(Conversation, conv_id)
            assert conv is not None
            for payload in custom:
                kind = str(payload.get("kefu"))
                if kind == "fallback":
                    conv.consecutive_fallbacks += 1
                    self._event(session, conv, "fallback", count=payload.get("count"))
                elif kind == "faq":
                    self._event(session, conv, "faq", **{k: v for k, v in payload.items() if k != "kefu"})
                elif kind == "order":
                    self._event(session, conv, "order", **{k: v for k, v in payload.items() if k != "kefu"})
            if not any(p.get("kefu") == "fallback" for p in custom):
                conv.consecutive_fallbacks = 0
            self._event(session, conv, "bot_reply", count=len(replies))
            return self._store_out(session, conv, replies, "bot")

        stored = await self._db(record)
        await self._push_replies(customer_id, conv_id, "bot", stored)
        if handoff is None:
            return Outcome(conv_id, "bot", stored)
        outcome = await self._handoff(
            conv_id,
            reason=str(handoff.get("reason") or "request_human"),
            text=shopper_text,
            # the bot's skill (it knew the intent and the FAQ category) and its priority (a floor: the gateway adds
            # what only it knows, the recent messages and VIP status, by the same policy)
            skill=str(handoff.get("skill") or "general"),
            intent=str(handoff.get("intent") or "") or None,
            floor=int(handoff.get("priority") or 0),
            # a shopper who takes the "转人工" offered after an upset message is served like an angry one
            offer_taken=await self._db(lambda s: self.anger.offered_before(s, conv_id)),
            lead=None,
        )
        outcome.replies = stored + outcome.replies
        return outcome

    async def _anger_grade(self, conv_id: str, msg_id: int, result: SentimentResult) -> Grade:
        if result.anger < min(self.anger.settings.offer_anger, self.anger.settings.handoff_anger) and not (
            self.anger.negative(result.label, result.score, result.anger)
        ):
            return "none"  # the common case, without a query
        earlier = await self._db(lambda s: self.anger.earlier_turns(s, conv_id, msg_id))
        return self.anger.grade(result, earlier)

    async def _anger_offer(self, conv_id: str, customer_id: str, msg_id: int) -> list[Reply]:
        """After the bot's answer to a moderately upset message: one apology per conversation and a 转人工 button."""

        def store(session: Session) -> list[Reply]:
            conv = session.get(Conversation, conv_id)
            assert conv is not None
            first = not self.anger.offered_before(session, conv_id)
            self._event(session, conv, OFFER_EVENT, message_id=msg_id, apology=first)
            button = self.text("anger_offer_button")
            reply = Reply(
                text=self.text("anger_offer_apology" if first else "anger_offer"),
                buttons=[Button(title=button, payload=button)],
                sender="bot",
            )
            return self._store_out(session, conv, [reply], "bot")

        replies = await self._db(store)
        await self._push_replies(customer_id, conv_id, "bot", replies)
        return replies

    async def _bot_down(self, conv_id: str, text: str) -> Outcome:
        if await run_in_threadpool(self.queue.agents_online, None) > 0:
            outcome = await self._handoff(
                conv_id,
                reason="bot_unavailable",
                text=text,
                lead=self.text("rasa_down") + self.text("rasa_down_handoff"),
            )
            return outcome

        def store(session: Session) -> tuple[str, list[Reply]]:
            conv = session.get(Conversation, conv_id)
            assert conv is not None
            self._event(session, conv, "bot_unavailable")
            reply = Reply(text=self.text("rasa_down") + self.text("rasa_down_no_agent"), sender="system")
            return conv.customer_id, self._store_out(session, conv, [reply], "system")

        customer_id, replies = await self._db(store)
        await self._push_replies(customer_id, conv_id, "bot", replies)
        return Outcome(conv_id, "bot", replies)

    async def _pause_bot(self, conv_id: str) -> None:
        try:
            await self.rasa.pause(conv_id)
        except RasaUnavailable as exc:  # the gateway owns the routing either way; Rasa is only told to stay quiet
            log.warning("could not pause rasa for %s: %s", conv_id, exc.reason)

    # ------------------------------------------------------------------ handoff
    async def _handoff(
        self,
        conv_id: str,
        *,
        reason: str,
        lead: str | None,
        text: str = "",
        skill: str | None = None,
        intent: str | None = None,
        floor: int = 0,
        offer_taken: bool = False,
    ) -> Outcome:
        """Hand the conversation to the queue, or offer to leave a message when no agent is online. Skill and
        priority come from the escalation policy (knowledge_base/escalation.py)."""
        off_hours: str | None = None

        def stage(session: Session) -> tuple[str, str, str, int, dict[str, Any]]:
            conv = session.get(Conversation, conv_id)
            assert conv is not None
            customer = session.get(Customer, conv.customer_id)
            vip = bool(customer and customer.vip)
            decision = decide(
                reason=reason,
                skill=skill,
                intent=intent,
                text=text,
                feelings=self._recent_feelings(session, conv_id),
                offer_taken=offer_taken,
                vip=vip,
                floor=floor,
            )
            required, priority = decision.skill, decision.priority
            self._event(session, conv, "handoff_requested", reason=reason, skill=required, priority=priority)
            return conv.customer_id, conv.channel, required, priority, self._offer_card(session, conv_id, vip)

        customer_id, channel, required, priority, card = await self._db(stage)
        try:
            # the engine may offer the conversation to an agent at once; ownership moves only when the agent accepts
            await run_in_threadpool(
                self.queue.enqueue,
                conversation_id=conv_id,
                customer_id=customer_id,
                channel=channel,
                skill=required,
                priority=priority,
                reason=reason,
                card=card,
            )
            queued = True
        except NoAgentsOnline as exc:
            queued, off_hours = False, exc.off_hours
        status = await run_in_threadpool(self.queue.queue_status, conv_id) if queued else None

        def store(session: Session) -> tuple[str, list[Reply]]:
            conv = session.get(Conversation, conv_id)
            assert conv is not None
            conv.required_skill, conv.priority = required, priority
            texts = [lead] if lead else []
            if not queued:
                conv.handoff_reason = "leave_message"
                self._event(session, conv, "no_agent_online", skill=required, off_hours=off_hours)
                texts.append(self.text("off_hours", hours=off_hours) if off_hours else self.text("no_agent_online"))
            else:
                if conv.owner == "bot":  # an accept that raced ahead already made it "agent": keep that
                    conv.owner = "queue"
                conv.handoff_reason = reason
                conv.handed_off_at = conv.handed_off_at or utcnow()
                self._event(session, conv, "queued", position=status.position if status else None, skill=required)
                if conv.owner == "queue":
                    eta = format_eta(status.eta_s if status else None)
                    if status is None or status.position <= 1:
                        texts.append(self.text("queued_next", eta=eta))
                    else:
                        texts.append(self.text("queued", position=status.position - 1, eta=eta))
            return conv.owner, self._store_out(session, conv, [Reply(text=t, sender="system") for t in texts], "system")

        owner, replies = await self._db(store)
        await self._push_replies(customer_id, conv_id, owner, replies)
        return Outcome(conv_id, owner, replies, status if owner == "queue" else None)

    def _offer_card(self, session: Session, conv_id: str, vip: bool) -> dict[str, Any]:
        """What the agent's offer card shows: the shopper's last substantive message (masked: it is stored with the
        queue entry), her mood at her last message, and whether she is a VIP."""
        rows = session.execute(
            select(Message.text, Message.sentiment_label, Message.sentiment_score, Message.anger)
            .where(Message.conversation_id == conv_id, Message.direction == "in")
            .order_by(Message.id.desc())
            .limit(OFFER_CARD_LOOKBACK)
        ).all()
        questions = substantive_questions([{"text": r.text} for r in reversed(rows)], [])
        card: dict[str, Any] = {"vip": vip}
        if questions:
            card["last_message"] = mask_text(questions[0])[:OFFER_CARD_CHARS]
        if rows:
            card["mood"] = self.anger.mood(rows[0].sentiment_label, rows[0].sentiment_score, rows[0].anger)
        return card

    def _recent_feelings(self, session: Session, conv_id: str) -> list[Feeling]:
        """The sentiment of the shopper's recent messages, oldest first (the policy reads anger now and the trend)."""
        rows = session.execute(
            select(Message.sentiment_label, Message.sentiment_score, Message.anger)
            .where(Message.conversation_id == conv_id, Message.direction == "in", Message.sentiment_label.is_not(None))
            .order_by(Message.id.desc())
            .limit(self.history_for_sentiment)
        ).all()
        return [Feeling.stored(label, score, anger) for label, score, anger in reversed(rows)]

    # ------------------------------------------------------------------ agent side
    # Ownership changes from the routing engine happen in two steps: the database change runs synchronously in the
    # engine's callback (so the accept/close API call returns only once the gateway routes by the new owner), and the
    # follow-up (pause/resume Rasa, pushes to the shopper) runs afterwards on the event loop.
    def apply_assigned(self, *, conversation_id: str, agent_id: int, agent_name: str) -> Followup | None:
        """An agent accepted: the agent owns the conversation."""
        with session_scope(self.sessions) as session:
            conv = session.get(Conversation, conversation_id)
            if conv is None or conv.status != "open":
                return None
            first = conv.assigned_at is None
            conv.owner, conv.agent_id = "agent", agent_id
            if first:
                conv.assigned_at = utcnow()
            self._event(session, conv, "assigned", agent_id=agent_id, first=first)
            reply = Reply(text=self.text("agent_joined", agent_name=agent_name), sender="system")
            replies = self._store_out(session, conv, [reply], "system")
            self._outbound(session, conv, "agent_joined", replies, agent_name=agent_name)
            return Followup(conv.customer_id, conversation_id, "agent", replies, pause=True)

    def apply_requeued(self, *, conversation_id: str, reason: str | None = None) -> Followup | None:
        """Transferred to another skill or agent, or put back in the queue because its agent's console vanished
        (``reason="agent_lost"``): back to the queue until someone accepts."""
        lost = reason == "agent_lost"
        with session_scope(self.sessions) as session:
            conv = session.get(Conversation, conversation_id)
            if conv is None or conv.status != "open":
                return None
            conv.owner, conv.agent_id = "queue", None
            self._event(session, conv, "requeued" if lost else "transferred", **({"reason": reason} if lost else {}))
            text = self.text("agent_lost_requeued" if lost else "agent_transferred")
            replies = self._store_out(session, conv, [Reply(text=text, sender="system")], "system")
            self._outbound(session, conv, "agent_transferred", replies)
            return Followup(conv.customer_id, conversation_id, "queue", replies)

    def apply_closed(self, *, conversation_id: str, agent_id: int | None) -> Followup | None:
        """The agent closed: the bot gets the customer back and the shopper is asked to rate the service."""
        with session_scope(self.sessions) as session:
            conv = session.get(Conversation, conversation_id)
            if conv is None or conv.status != "open":
                return None
            conv.status, conv.owner = "closed", "bot"
            conv.resolution = "agent"
            conv.closed_at = utcnow()
            conv.survey_pending = True
            self._event(session, conv, "closed", by="agent", agent_id=agent_id)
            replies = [
                Reply(text=self.text("agent_left"), sender="system"),
                Reply(text=self.text("survey"), sender="system"),
            ]
            stored = self._store_out(session, conv, replies, "system")
            self._outbound(session, conv, "agent_left", stored[:1])
            self._outbound(session, conv, "survey", stored[1:], rating_min=1, rating_max=5)
            self._outbound(session, conv, "conversation_closed", by="agent")
            return Followup(conv.customer_id, conversation_id, "bot", stored, resume=True, survey=True)

    async def follow_up(self, followup: Followup | None) -> None:
        if followup is None:
            return
        if followup.pause:
            await self._pause_bot(followup.conversation_id)
        if followup.resume:
            try:
                await self.rasa.resume(followup.conversation_id)
            except RasaUnavailable as exc:
                log.warning("could not resume rasa for %s: %s", followup.conversation_id, exc.reason)
        await self._push_replies(followup.customer_id, followup.conversation_id, followup.owner, followup.replies)
        if followup.survey:
            await self.push.to_customer(
                followup.customer_id, {"type": "survey", "conversation_id": followup.conversation_id}
            )

    async def on_assigned(self, *, conversation_id: str, agent_id: int, agent_name: str) -> None:
        followup = await run_in_threadpool(
            lambda: self.apply_assigned(conversation_id=conversation_id, agent_id=agent_id, agent_name=agent_name)
        )
        await self.follow_up(followup)

    async def on_requeued(self, *, conversation_id: str) -> None:
        await self.follow_up(await run_in_threadpool(lambda: self.apply_requeued(conversation_id=conversation_id)))

    async def on_closed(self, *, conversation_id: str, agent_id: int | None) -> None:
        followup = await run_in_threadpool(
            lambda: self.apply_closed(conversation_id=conversation_id, agent_id=agent_id)
        )
        await self.follow_up(followup)

    async def agent_message(self, *, conversation_id: str, agent_id: int, text: str) -> Reply:
        """An agent's reply: only the agent who owns the conversation may send; the shopper gets it pushed."""

        def apply(session: Session) -> tuple[str, Reply]:
            conv = session.get(Conversation, conversation_id)
            if conv is None:
                raise ConversationNotFound(conversation_id=conversation_id)
            if conv.status != "open" or conv.owner != "agent" or conv.agent_id != agent_id:
                raise NotConversationOwner(conversation_id=conversation_id, agent_id=agent_id)
            if conv.first_agent_reply_at is None:
                conv.first_agent_reply_at = utcnow()
                self._event(session, conv, "agent_first_reply", agent_id=agent_id)
            stored = self._store_out(session, conv, [Reply(text=text, sender="agent")], "agent")
            self._outbound(session, conv, "agent_message", stored)
            return conv.customer_id, stored[0]

        customer_id, reply = await self._db(apply)
        await self._push_replies(customer_id, conversation_id, "agent", [reply])
        return reply

    async def ticket_reply(self, *, conversation_id: str, ticket_ref: str, agent_id: int, text: str) -> Reply | None:
        """An agent's public reply to a ticket the shopper opened from a conversation (e.g. a left message).

        It goes into that conversation's history, which the shopper sees on any channel, and is pushed to the
        chat windows the shopper has open. The conversation's owner does not change (it is usually closed).
        Returns None when the conversation no longer exists."""

        def apply(session: Session) -> tuple[str, Reply] | None:
            conv = session.get(Conversation, conversation_id)
            if conv is None:
                return None
            reply = Reply(text=self.text("ticket_reply", ticket_ref=ticket_ref, text=text), sender="agent")
            msg = self._add_out(session, conv, reply, "agent", agent_id)
            self._event(session, conv, "ticket_reply", ticket_ref=ticket_ref, agent_id=agent_id, message_id=msg.id)
            self._outbound(session, conv, "ticket_reply", [self._reply_of(msg)], ticket=ticket_ref)
            return conv.customer_id, self._reply_of(msg)

        stored = await self._db(apply)
        if stored is None:
            return None
        customer_id, reply = stored
        await self.push.to_customer(
            customer_id,
            {
                "type": "ticket_reply",
                "conversation_id": conversation_id,
                "ticket": ticket_ref,
                "reply": reply.model_dump(),
            },
        )
        return reply

    async def shopper_left(self, *, conversation_id: str, owned_by: Callable[[str], bool] | None = None) -> bool:
        """The shopper left while waiting: the queue entry is abandoned and the conversation ends.

        With ``owned_by``, a conversation that is unknown or not the caller's raises :class:`ConversationNotFound`
        (checked in the transaction that closes it)."""

        def apply(session: Session) -> bool:
            conv = session.get(Conversation, conversation_id)
            if owned_by is not None and (conv is None or not owned_by(conv.customer_id)):
                raise ConversationNotFound(conversation_id=conversation_id)
            if conv is None or conv.status != "open":
                return False
            was_queued = conv.owner == "queue"
            conv.status, conv.closed_at = "closed", utcnow()
            conv.resolution = "abandoned" if was_queued else conv.resolution or "bot"
            self._event(session, conv, "abandoned" if was_queued else "closed", by="customer")
            return was_queued

        was_queued = await self._db(apply)
        if was_queued:
            await run_in_threadpool(self.queue.abandon, conversation_id)
        return was_queued

    def close_idle_bot_conversations(self, *, idle_s: float, now: datetime | None = None) -> int:
        """Bot conversations idle for ``idle_s`` end as resolved by the bot (containment counts them)."""
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=idle_s)
        with session_scope(self.sessions) as session:
            rows = session.scalars(
                select(Conversation).where(
                    Conversation.status == "open", Conversation.owner == "bot", Conversation.updated_at < cutoff
                )
            ).all()
            for conv in rows:
                conv.status, conv.closed_at = "closed", utcnow()
                conv.resolution = "bot" if conv.handed_off_at is None else "abandoned"
                self._event(session, conv, "closed", by="idle")
                self._outbound(session, conv, "conversation_closed", by="idle")
            return len(rows)



@dataclass
class _CustomerLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0

