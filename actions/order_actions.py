"""Order actions: order-status lookup and delivery-address change.

Every order operation goes through :class:`shop.orders.OrderService`; its domain errors become polite responses
here, at the edge (``utter_order_not_found``, ``utter_order_not_yours``, ``utter_service_unavailable``).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.context import ADDRESS_REFUSED_RESPONSE, customer_id, set_aside_this_turn, slot_text
from actions.escalation import FALLBACK_COUNT_SLOT
from actions.payloads import OrderPayload
from shop.orders import (
    AddressChangeRefused,
    Order,
    OrderNotFound,
    OrderNotOwned,
    OrderService,
    OrderServiceUnavailable,
    normalize_order_id,
)
from shop.settings import get_order_service

logger = logging.getLogger(__name__)
T = TypeVar("T")


class OrderServiceAction(Action, ABC):
    """Base of the actions that use the order service; rasa-sdk builds them without arguments, tests pass one.

    Abstract, so rasa-sdk's package scan does not register the base class itself.
    """

    def __init__(self, service: OrderService | None = None) -> None:
        self._service = service

    @abstractmethod
    def name(self) -> str: ...

    @property
    def service(self) -> OrderService:
        return self._service if self._service is not None else get_order_service()

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a (blocking) order-service call off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)


def order_payload(order: Order) -> OrderPayload:
    return OrderPayload(kefu="order", order_id=order.order_id, status=order.status)


def report_order_error(dispatcher: CollectingDispatcher, exc: Exception, order_id: str) -> list[EventType]:
    """Tell the shopper why the order cannot be used; forget a wrong order number so it is asked again."""
    if isinstance(exc, OrderNotFound):
        dispatcher.utter_message(response="utter_order_not_found", order_id=order_id)
        return [SlotSet("order_id", None)]
    if isinstance(exc, OrderNotOwned):
        dispatcher.utter_message(response="utter_order_not_yours", order_id=order_id)
        return [SlotSet("order_id", None)]
    if isinstance(exc, OrderServiceUnavailable):
        logger.warning("order service unavailable: %s", exc.reason)
        dispatcher.utter_message(response="utter_service_unavailable")
        return []
    raise exc


def order_id_from_slot(tracker: Tracker, dispatcher: CollectingDispatcher) -> str | None:
    """The validated order number in slot ``order_id``; asks for it politely when missing or malformed."""
    raw = slot_text(tracker, "order_id")
    order_id = normalize_order_id(raw)
    if order_id is None and not set_aside_this_turn(tracker):  # a form that let go has said what there is to say
        dispatcher.utter_message(response="utter_invalid_order_id" if raw else "utter_ask_order_id")
    return order_id


class ActionOrderStatus(OrderServiceAction):
    """Look the order up and tell its status and latest logistics note."""

    def name(self) -> str:
        return "action_order_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        order_id = order_id_from_slot(tracker, dispatcher)
        if order_id is None:
            return [SlotSet("order_id", None)]
        try:
            order = await self.call(self.service.get_order, order_id, customer_id=customer_id(tracker))
        except (OrderNotFound, OrderNotOwned, OrderServiceUnavailable) as exc:
            return report_order_error(dispatcher, exc, order_id)
        dispatcher.utter_message(
            response="utter_order_status",
            order_id=order.order_id,
            product=order.product,
            status=order.status,
            detail=order.detail,
        )
        dispatcher.utter_message(json_message=order_payload(order))
        return [SlotSet("order_id", order.order_id), SlotSet("product", order.items[0].product),
                SlotSet(FALLBACK_COUNT_SLOT, 0.0)]


class ActionChangeAddress(OrderServiceAction):
    """Change the delivery address while the order has not left the warehouse."""

    def name(self) -> str:
        return "action_change_address"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        if set_aside_this_turn(tracker):  # the form ended early and said why (e.g. the order has left)
            return [SlotSet("new_address", None)]
        order_id = order_id_from_slot(tracker, dispatcher)
        new_address = slot_text(tracker, "new_address")
        if order_id is None:
            return [SlotSet("order_id", None)]
        if new_address is None:
            dispatcher.utter_message(response="utter_ask_new_address")
            return []
        events: list[dict[str, Any]] = [SlotSet("new_address", None), SlotSet(FALLBACK_COUNT_SLOT, 0.0)]
        try:
            receipt = await self.call(
                self.service.change_address, order_id, customer_id=customer_id(tracker), new_address=new_address
            )
        except AddressChangeRefused as exc:
            dispatcher.utter_message(response=ADDRESS_REFUSED_RESPONSE, order_id=order_id, status=exc.status)
            dispatcher.utter_message(json_message=OrderPayload(kefu="order", order_id=order_id, status=exc.status))
            return events
        except (OrderNotFound, OrderNotOwned, OrderServiceUnavailable) as exc:
            return report_order_error(dispatcher, exc, order_id) + events
        dispatcher.utter_message(
            response="utter_address_changed", order_id=receipt.order_id, new_address=receipt.new_address
        )
        return events
