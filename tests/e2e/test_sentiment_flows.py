"""Issue 16 end to end: ordinary flow messages never hand off, through the real router, Rasa and action server.

An agent is online throughout, so a false "angry" would show as a handoff (owner queue/agent, reason "angry"), not
be hidden by the leave-a-message path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from router.conversations.models import Conversation, ConversationEvent
from tests.e2e.helpers import sample_order
from tests.e2e.test_gateway import Shop, _make_shop, all_texts, customer
from tests.procs import Proc

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, rasa_server: Proc, orders_db: str) -> Iterator[Shop]:
    tmp = tmp_path_factory.mktemp("sentiment_flows")
    agents = [{"username": "zhao", "display_name": "小赵", "skills": {"general": 4, "logistics": 4, "after_sales": 4}}]
    shop = _make_shop(tmp, "router", rasa_server.url, orders_db, agents)
    token = shop.login("zhao")
    auth = {"Authorization": f"Bearer {token}"}
    assert shop.http.put(
        "/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=auth
    ).status_code == 200
    yield shop
    shop.proc.stop()


def _no_handoff(shop: Shop, body: dict[str, Any]) -> None:
    assert body["owner"] == "bot", body
    assert body["sentiment"]["label"] != "angry" and body["sentiment"]["mood"] == "neutral", body
    assert "优先转接" not in all_texts(body), body
    with shop.sessions() as session:
        conv = session.get(Conversation, body["conversation_id"])
        assert conv is not None and conv.owner == "bot" and conv.handoff_reason is None
        kinds = set(
            session.scalars(
                select(ConversationEvent.type).where(ConversationEvent.conversation_id == body["conversation_id"])
            )
        )
        assert not kinds & {"handoff_requested", "angry_message", "anger_offer"}, kinds


def test_order_status_flow_with_long_numbers_never_hands_off(shop: Shop, orders_db: str) -> None:
    order_id, cust = sample_order(orders_db, "已发货")
    first = shop.say(cust, "我的订单什么时候发货")
    _no_handoff(shop, first)
    # a 14-digit number (not an order number here): the bot asks again instead of apologising for anger
    wrong = shop.say(cust, "20261101123456")
    _no_handoff(shop, wrong)
    assert "订单号" in all_texts(wrong), wrong
    # the 16-digit order number alone, then inside a question
    status = shop.say(cust, order_id)
    _no_handoff(shop, status)
    assert order_id in all_texts(status), status
    again = shop.say(cust, f"我的订单{order_id}什么时候发货")
    _no_handoff(shop, again)
    done = shop.say(cust, "算了")
    _no_handoff(shop, done)


def test_phone_number_reply_in_the_address_flow_never_hands_off(shop: Shop, orders_db: str) -> None:
    order_id, cust = sample_order(orders_db, "待发货")
    _no_handoff(shop, shop.say(cust, "我想改一下收货地址"))
    asked = shop.say(cust, order_id)
    _no_handoff(shop, asked)
    assert "地址" in all_texts(asked), asked
    phone = shop.say(cust, "手机13812345678")
    _no_handoff(shop, phone)
    changed = shop.say(cust, "北京市朝阳区建国路88号院3号楼2单元501，张伟，13812345678")
    _no_handoff(shop, changed)
    assert "建国路" in all_texts(changed), changed


def test_suanle_never_hands_off(shop: Shop) -> None:
    cust = customer()
    for text in ["退货", "算了", "发票", "运费", "算了吧，不用了"]:
        _no_handoff(shop, shop.say(cust, text))


def test_moderate_anger_gets_an_offer_and_a_raised_priority_when_taken(shop: Shop) -> None:
    cust = customer()
    upset = shop.say(cust, "快递三天没动了，到底怎么回事")  # anger about 0.7: between the offer and handoff thresholds
    assert upset["owner"] == "bot" and upset["sentiment"]["mood"] == "angry", upset
    offer = upset["replies"][-1]
    assert "抱歉" in offer["text"] and [b["title"] for b in offer["buttons"]] == ["转人工"], upset
    assert len(upset["replies"]) >= 2, "the bot still answers the question"
    taken = shop.say(cust, offer["buttons"][0]["payload"])
    assert taken["owner"] in {"queue", "agent"}, taken
    with shop.sessions() as session:
        conv = session.get(Conversation, taken["conversation_id"])
        assert conv is not None and conv.handoff_reason == "request_human"
        assert conv.priority >= 4, conv.priority  # a plain 转人工 is 1-2; the offer adds the angry boost (3)
