"""The custom payloads the bot's actions send to the gateway (docs/bot-actions-contract.md), typed router-side.

The sender's types are ``actions/payloads.py``; the router cannot import them (actions and router deploy apart and the
import contract keeps them independent), and they are no FAQ or order concern, so neither shared library
(``knowledge_base``, ``shop``) is their home. They are declared here again as the same ``TypedDict``s, with the same
names, keys and literals; tests/router/gateway/test_bot_payloads.py fails when the two copies drift apart.

A payload is validated with :data:`PAYLOAD`. One that does not match (a bot deployed with a newer or older contract)
is logged and read leniently, as the gateway always read it: a shopper who asked for a person is still handed over.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic validates only this one on Python 3.11

log = logging.getLogger(__name__)

Skill = Literal["after_sales", "logistics", "billing", "product", "general"]
HandoffReason = Literal["request_human", "fallback", "complaint", "refund_dispute", "faq_decline", "order_problem"]
FaqDecision = Literal["answer", "clarify", "decline"]


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


KefuPayload = Annotated[HandoffPayload | FaqPayload | FallbackPayload | OrderPayload, Field(discriminator="kefu")]
PAYLOAD: TypeAdapter[HandoffPayload | FaqPayload | FallbackPayload | OrderPayload] = TypeAdapter(KefuPayload)
KINDS = frozenset({"handoff", "faq", "fallback", "order"})


def validate(raw: dict[str, Any]) -> HandoffPayload | FaqPayload | FallbackPayload | OrderPayload | None:
    """The payload, typed; None (and a warning) when it breaks the contract."""
    try:
        return PAYLOAD.validate_python(raw, strict=False)
    except ValidationError as exc:
        log.warning("bot payload %r does not match the contract: %s", raw.get("kefu"), exc.errors(include_url=False))
        return None
