"""The agent console's order panel reads the shop's orders through ``shop`` (the same service the actions use)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from router.gateway.context import ContextBuilder, default_order_lookup
from router.gateway.rasa_client import RasaClient, RasaUnavailable
from shop.orders import Order
from tests.router.conftest import DEMO_NOW as NOW


def test_lookup_shows_the_customers_own_order_only(demo_order: Order) -> None:
    lookup = default_order_lookup()
    shown = lookup(demo_order.order_id, "c0001")
    assert shown is not None
    assert shown["order_id"] == demo_order.order_id and shown["status"] == demo_order.status
    assert shown["items"][0]["product"] == demo_order.items[0].product
    assert lookup(demo_order.order_id, "c0002") is None  # another shopper's order
    assert lookup("9" * 16, "c0001") is None  # no such order


class _NoRasa:
    async def tracker(self, conversation_id: str) -> dict[str, Any]:
        raise RasaUnavailable(url="http://rasa.invalid", reason="test")


def test_the_panel_finds_the_order_number_in_the_transcript(demo_order: Order) -> None:
    builder = ContextBuilder(rasa=cast(RasaClient, _NoRasa()), order_lookup=default_order_lookup(), faq_search=None)
    conv = {"id": "conv-1", "customer_id": "c0001"}
    transcript = [
        {"direction": "in", "conversation_id": "conv-1", "text": f"订单 {demo_order.order_id} 怎么还没到",
         "sentiment_label": None, "sentiment_score": None, "mood": None, "created_at": NOW.isoformat()},
    ]
    panel = asyncio.run(builder.build(conv, transcript))
    assert panel["order"] is not None and panel["order"]["order_id"] == demo_order.order_id
