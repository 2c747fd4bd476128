"""The bot's custom payloads: the router-side types mirror actions/payloads.py exactly, and a turn of Rasa messages
is split into replies, recorded events and a handoff, with off-contract payloads still read as before."""

from __future__ import annotations

import logging
import typing

import pytest

import actions.payloads as sender
from router.gateway import bot_payloads
from router.gateway.relay import BotHandoff, read_bot_turn
from router.gateway.schemas import Button

HANDOFF = {"kefu": "handoff", "skill": "after_sales", "priority": 4, "reason": "refund_dispute",
           "order_id": "2026112400012345", "intent": "refund_request"}


@pytest.mark.parametrize("name", ["HandoffPayload", "FaqPayload", "FallbackPayload", "OrderPayload"])
def test_the_router_side_payload_types_are_the_senders(name: str) -> None:
    # actions and router may not import each other; this test is where the two copies meet
    ours, theirs = getattr(bot_payloads, name), getattr(sender, name)
    assert typing.get_type_hints(ours) == typing.get_type_hints(theirs)
    assert ours.__required_keys__ == theirs.__required_keys__


def test_the_literals_are_the_senders() -> None:
    for name in ("Skill", "HandoffReason", "FaqDecision"):
        assert typing.get_args(getattr(bot_payloads, name)) == typing.get_args(getattr(sender, name)), name


def test_a_valid_payload_validates_to_its_typed_dict() -> None:
    assert bot_payloads.validate(dict(HANDOFF)) == HANDOFF
    faq = bot_payloads.validate({"kefu": "faq", "decision": "answer", "faq_id": "refund_time", "score": 1,
                                 "alternatives": []})
    assert faq == {"kefu": "faq", "decision": "answer", "faq_id": "refund_time", "score": 1.0, "alternatives": []}


@pytest.mark.parametrize("raw", [
    {"kefu": "handoff", "reason": "request_human"},  # fields missing
    {**HANDOFF, "skill": "cooking"},  # a skill the contract does not know
    {**HANDOFF, "priority": "high"},
    {"kefu": "fallback"},
    {"kefu": "mystery", "count": 1},
], ids=["missing", "skill", "priority", "fallback", "kind"])
def test_an_off_contract_payload_is_refused_and_logged(
    raw: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="router.gateway.bot_payloads"):
        assert bot_payloads.validate(raw) is None
    assert "does not match the contract" in caplog.text


def test_a_turn_splits_replies_events_and_the_handoff() -> None:
    turn = read_bot_turn([
        {"recipient_id": "c", "text": "您可以选择：",
         "buttons": [{"title": "查订单", "payload": "/order_status"}, "junk"]},  # type: ignore[list-item]
        {"recipient_id": "c", "custom": {"kefu": "faq", "decision": "decline", "faq_id": None, "score": 0.2,
                                         "alternatives": []}},
        {"recipient_id": "c", "custom": {"kefu": "fallback", "count": 2}},
        {"recipient_id": "c", "custom": dict(HANDOFF)},
        {"recipient_id": "c", "custom": {"not_kefu": 1}},  # not ours: neither shown nor recorded
        {"recipient_id": "c", "text": ""},
    ])
    assert [(r.text, r.buttons, r.sender) for r in turn.replies] == [
        ("您可以选择：", [Button(title="查订单", payload="/order_status")], "bot")
    ]
    assert turn.events == [
        ("faq", {"decision": "decline", "faq_id": None, "score": 0.2, "alternatives": []}),
        ("fallback", {"count": 2}),
    ]
    assert turn.fallback
    assert turn.handoff == BotHandoff(reason="refund_dispute", skill="after_sales", intent="refund_request", floor=4)


def test_a_turn_without_payloads_is_no_fallback_and_no_handoff() -> None:
    turn = read_bot_turn([{"recipient_id": "c", "text": "您好！"}])
    assert not turn.fallback and turn.handoff is None and turn.events == []


def test_an_off_contract_handoff_still_hands_over_with_defaults() -> None:
    # a shopper who asked for a person is never stranded by a bot deployed with another contract version
    turn = read_bot_turn([{"recipient_id": "c", "custom": {"kefu": "handoff", "priority": "urgent"}}])
    assert turn.handoff == BotHandoff(reason="request_human", skill="general", intent=None, floor=0)
    turn = read_bot_turn([{"recipient_id": "c", "custom": {**HANDOFF, "skill": "cooking", "intent": ""}}])
    assert turn.handoff == BotHandoff(reason="refund_dispute", skill="cooking", intent=None, floor=4)


def test_an_unknown_kind_is_consumed_silently() -> None:
    turn = read_bot_turn([{"recipient_id": "c", "custom": {"kefu": "mystery"}}])
    assert turn.replies == [] and turn.events == [] and turn.handoff is None
