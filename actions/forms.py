"""Form validators: ``validate_order_status_form``, ``validate_address_change_form``, ``validate_return_form``,
``validate_invoice_form``.

Every form starts with ``order_id``: the number must be well-formed, exist and belong to the shopper before the
form goes on. A shopper who names a product instead ("我买的戴森吹风机到哪了") gets the matching order filled in
when exactly one of their recent orders contains it (spaCy EntityRuler over the catalog, see actions/products.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.context import customer_id, latest_text
from actions.orders import (
    OrderNotFound,
    OrderNotOwned,
    OrderService,
    OrderServiceUnavailable,
    normalize_order_id,
)
from actions.products import get_product_recognizer
from actions.settings import get_order_service

logger = logging.getLogger(__name__)

ADDRESS_HINT = re.compile(r"[省市区县镇乡村路街道号巷弄栋幢楼室苑园]|小区|大厦|公寓")
CJK = re.compile(r"[\u4e00-\u9fff]")
INVALID_ADDRESS_RESPONSE = "utter_invalid_address"
MIN_ADDRESS_LEN, MAX_ADDRESS_LEN = 8, 200
MIN_REASON_LEN, MAX_REASON_LEN = 2, 500
MIN_TITLE_LEN, MAX_TITLE_LEN = 2, 100


class OrderFormValidator(FormValidationAction, ABC):
    """Shared order-number handling; abstract so rasa-sdk registers only the concrete validators."""

    def __init__(self, service: OrderService | None = None) -> None:
        self._service = service

    @abstractmethod
    def name(self) -> str: ...

    @property
    def service(self) -> OrderService:
        return self._service if self._service is not None else get_order_service()

    async def extract_order_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """No order number yet but a product named: use the shopper's only recent order containing it."""
        if tracker.get_slot("order_id") or normalize_order_id(latest_text(tracker)):
            return {}
        mention = get_product_recognizer().first(latest_text(tracker))
        if mention is None:
            return {}
        try:
            orders = await asyncio.to_thread(
                self.service.find_orders, customer_id=customer_id(tracker), product=mention.name, limit=2
            )
        except OrderServiceUnavailable:
            return {}
        if len(orders) != 1:
            return {}
        return {"order_id": orders[0].order_id}

    async def validate_order_id(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        order_id = normalize_order_id(None if slot_value is None else str(slot_value))
        if order_id is None:
            dispatcher.utter_message(response="utter_invalid_order_id")
            return {"order_id": None}
        try:
            await asyncio.to_thread(self.service.get_order, order_id, customer_id=customer_id(tracker))
        except OrderNotFound:
            dispatcher.utter_message(response="utter_order_not_found", order_id=order_id)
            return {"order_id": None}
        except OrderNotOwned:
            dispatcher.utter_message(response="utter_order_not_yours", order_id=order_id)
            return {"order_id": None}
        except OrderServiceUnavailable as exc:
            # cannot check now: keep the number, the final action reports the outage if it persists
            logger.warning("order service unavailable while validating %s: %s", order_id, exc.reason)
        return {"order_id": order_id}


class ValidateOrderStatusForm(OrderFormValidator):
    def name(self) -> str:
        return "validate_order_status_form"


class ValidateAddressChangeForm(OrderFormValidator):
    def name(self) -> str:
        return "validate_address_change_form"

    def validate_new_address(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        address = " ".join(str(slot_value or "").split())
        ok = (
            MIN_ADDRESS_LEN <= len(address) <= MAX_ADDRESS_LEN
            and len(CJK.findall(address)) >= 4
            and ADDRESS_HINT.search(address) is not None
        )
        if not ok:
            # the form asks again with utter_ask_new_address; say why first when the domain has the response
            if INVALID_ADDRESS_RESPONSE in (domain or {}).get("responses", {}):
                dispatcher.utter_message(response=INVALID_ADDRESS_RESPONSE)
            return {"new_address": None}
        return {"new_address": address}


class ValidateReturnForm(OrderFormValidator):
    def name(self) -> str:
        return "validate_return_form"

    def validate_return_reason(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        reason = " ".join(str(slot_value or "").split())
        if not MIN_REASON_LEN <= len(reason) <= MAX_REASON_LEN:
            return {"return_reason": None}
        return {"return_reason": reason}


class ValidateInvoiceForm(OrderFormValidator):
    def name(self) -> str:
        return "validate_invoice_form"

    def validate_invoice_title(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        title = " ".join(str(slot_value or "").split()).strip("“”\"'")
        if not MIN_TITLE_LEN <= len(title) <= MAX_TITLE_LEN or not CJK.search(title):
            return {"invoice_title": None}
        return {"invoice_title": title}
