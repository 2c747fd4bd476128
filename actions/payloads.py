"""Typed wire payloads shared with the gateway (see docs/bot-actions-contract.md).

Custom payloads go out with ``dispatcher.utter_message(json_message=payload)``; the REST channel returns them as
``{"recipient_id": ..., "custom": payload}`` and the gateway consumes them without showing them.
"""

from __future__ import annotations

from typing import Literal, TypedDict

Skill = Literal["after_sales", "logistics", "billing", "product", "general"]
HandoffReason = Literal["request_human", "fallback", "complaint", "refund_dispute", "faq_decline", "order_problem"]
FaqDecision = Literal["answer", "clarify", "decline"]
SentimentLabel = Literal["angry", "negative", "neutral", "positive"]

SKILLS: tuple[Skill, ...] = ("after_sales", "logistics", "billing", "product", "general")
MAX_PRIORITY = 10


class SentimentInfo(TypedDict):
    label: SentimentLabel
    score: float


class MessageMetadata(TypedDict, total=False):
    """``tracker.latest_message["metadata"]`` as sent by the gateway; every key may be missing."""

    channel: Literal["web", "app", "miniprogram"]
    customer_id: str
    conversation_id: str
    sentiment: SentimentInfo


class HandoffPayload(TypedDict):
    kefu: Literal["handoff"]
    skill: Skill
    priority: int
    reason: HandoffReason
    order_id: str | None
    intent: str


class FaqPayload(TypedDict):
    kefu: Literal["faq"]
    decision: FaqDecision
    faq_id: str | None
    score: float
    alternatives: list[str]


class FallbackPayload(TypedDict):
    kefu: Literal["fallback"]
    count: int


class OrderPayload(TypedDict):
    kefu: Literal["order"]
    order_id: str
    status: str
