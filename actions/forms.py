"""Form validators: ``validate_order_status_form``, ``validate_address_change_form``, ``validate_return_form``,
``validate_invoice_form``.

Every form starts with ``order_id``: the number must be well-formed, exist and belong to the shopper before the
form goes on. A shopper who names a product instead ("我买的戴森吹风机到哪了") gets the matching order filled in
when exactly one of their recent orders contains it (spaCy EntityRuler over the catalog, see actions/products.py).

Shoppers change their mind inside a form: a question instead of a number is answered by the knowledge base and the
form asks again with one short reminder (``action_ask_order_id``); after a second question instead of the number
the form lets go (``utter_park_<form>``: say the number or the request again when you want it; an order number
outside a form is looked up anyway), instead of reminding after every answer and reading the next digits as a wrong
order number. The form's second slot (the new address, the return reason, the invoice title) is asked the same way
(``AskFormSlot``). The second wrong number in a row, or "订单号忘了", gets help instead of the same complaint (where to
find the number, or a human). Leaving a form ("算了", another service request, a human) is done by the rules in
bot/data/rules.yml.
"""

from __future__ import annotations

import asyncio
import logging
import re
from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.context import (
    ADDRESS_REFUSED_RESPONSE,
    RETURN_REFUSED_RESPONSE,
    SET_ASIDE_PREFIX,
    customer_id,
    events_since_user,
    latest_text,
    utter_action,
)
from actions.faq import ask_kb, offer_from_kb, offer_topic
from actions.products import get_product_recognizer
from shop.orders import (
    Order,
    OrderNotFound,
    OrderNotOwned,
    OrderService,
    OrderServiceUnavailable,
    normalize_order_id,
)
from shop.settings import get_order_service

logger = logging.getLogger(__name__)

ADDRESS_HINT = re.compile(r"[省市区县镇乡村路街道号巷弄栋幢楼室苑园]|小区|大厦|公寓")
CJK = re.compile(r"[\u4e00-\u9fff]")
INVALID_ADDRESS_RESPONSE = "utter_invalid_address"
MIN_ADDRESS_LEN, MAX_ADDRESS_LEN = 8, 200
MIN_REASON_LEN, MAX_REASON_LEN = 2, 500
MIN_TITLE_LEN, MAX_TITLE_LEN = 2, 100
DIGIT = re.compile(r"\d")
FORGOT = re.compile(r"忘|不记得|记不清|找不到|不知道|在哪|哪里看|怎么查")
# what the validator says about a wrong order number; the ask action stays silent after one of them
ORDER_ID_COMPLAINTS = frozenset({"utter_invalid_order_id", "utter_order_not_found", "utter_order_not_yours",
                                 "utter_order_id_help"})
HELP_AFTER_FAILURES = 2
FORMS = ("order_status_form", "address_change_form", "return_form", "invoice_form")
# actions that run inside a form turn without being a digression
_FORM_MACHINERY = frozenset(
    {"action_listen", "action_extract_slots", "action_deactivate_loop", *FORMS, *(f"validate_{f}" for f in FORMS)}
)


def _bot_responses_since_activation(tracker: Tracker, form: str) -> list[str]:
    """The responses the bot has given since ``form`` was last activated, latest first."""
    said: list[str] = []
    for event in reversed(list(tracker.events)):
        if event.get("event") == "active_loop" and event.get("name") == form:
            break
        if event.get("event") == "bot" and (name := utter_action(event)):
            said.append(name)
    return said


def order_id_failures(tracker: Tracker, form: str) -> int:
    """Wrong order numbers since ``form`` was last activated (each one made the validator complain)."""
    return sum(1 for name in _bot_responses_since_activation(tracker, form) if name in ORDER_ID_COMPLAINTS)


def reminders_given(tracker: Tracker, form: str, reminder: str) -> int:
    """How many times the short reminder ``reminder`` was given since ``form`` was last activated (each one after
    a question instead of the answer)."""
    return _bot_responses_since_activation(tracker, form).count(reminder)


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
        text = "" if slot_value is None else str(slot_value)
        order_id = normalize_order_id(text)
        if order_id is None:
            return await self._not_an_order_id(text, dispatcher, tracker)
        try:
            order = await asyncio.to_thread(self.service.get_order, order_id, customer_id=customer_id(tracker))
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
        return self.check_order(order, dispatcher)

    def check_order(self, order: Order, dispatcher: CollectingDispatcher) -> dict[str, Any]:
        """What this form makes of a valid order of the shopper's (the address form: whether it can still change)."""
        return {"order_id": order.order_id}

    async def _not_an_order_id(
        self, text: str, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        """No usable number: help the shopper find it, answer what they asked instead, or say what is wrong."""
        form = self.name().removeprefix("validate_")
        if not DIGIT.search(text):
            if FORGOT.search(text):
                dispatcher.utter_message(response="utter_order_id_help")
                return {"order_id": None}
            # a bare topic word or a question the NLU did not place ("运费呢？" taken for an answer): offer what the
            # knowledge base knows, then the form reminds once
            if await offer_topic(dispatcher, text) or offer_from_kb(dispatcher, await ask_kb(text)):
                return {"order_id": None}
        if order_id_failures(tracker, form) + 1 >= HELP_AFTER_FAILURES:
            dispatcher.utter_message(response="utter_order_id_help")
        else:
            dispatcher.utter_message(response="utter_invalid_order_id")
        return {"order_id": None}


class AskFormSlot(Action, ABC):
    """How a form asks for one of its slots: the full question the first time, one short reminder
    (``reminder``) after the shopper asked something else in between, the form set aside after a second such
    question (``utter_park_<form>``), and nothing when the validator has just said what was wrong (``complaints``).
    Abstract so rasa-sdk registers only the concrete ask actions."""

    slot: str
    question: str  # the full question, a response of the domain
    complaints: frozenset[str] = frozenset()

    @abstractmethod
    def name(self) -> str: ...

    def reminder(self, form: str) -> str:
        """The response that reminds the shopper of this slot inside ``form``."""
        return f"utter_resume_{self.slot}"

    async def first_ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        dispatcher.utter_message(response=self.question)

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        form = tracker.active_loop.get("name") or ""
        turn = events_since_user(tracker)
        if any(e.get("event") == "bot" and utter_action(e) in self.complaints for e in turn):
            return []
        digressed = any(e.get("event") == "bot" for e in turn) or any(
            e.get("event") == "action" and e.get("name") not in _FORM_MACHINERY for e in turn
        )
        reminder, set_aside = self.reminder(form), f"{SET_ASIDE_PREFIX}{form}"
        responses = (domain or {}).get("responses", {})
        if digressed and reminders_given(tracker, form, reminder) >= 1 and set_aside in responses:
            # a second question instead of the answer: the shopper has moved on; let go (the form's rule then runs
            # its final action, which sees set_aside_this_turn and stays silent)
            dispatcher.utter_message(response=set_aside)
            return [ActiveLoop(None)]
        if digressed and reminder in responses:
            dispatcher.utter_message(response=reminder)
        else:
            await self.first_ask(dispatcher, tracker)
        return []


class ActionAskOrderId(AskFormSlot):
    """The order number, which every form asks first; after a bare word like "退货" that started the form, buttons
    for the likely needs come before the question."""

    slot = "order_id"
    question = "utter_ask_order_id"
    complaints = ORDER_ID_COMPLAINTS

    def name(self) -> str:
        return "action_ask_order_id"

    def reminder(self, form: str) -> str:
        return f"utter_resume_{form}"

    async def first_ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        if await offer_topic(dispatcher, latest_text(tracker), with_flow=False):
            # the form was started by a bare word ("退货"): maybe they only wanted to know about it
            dispatcher.utter_message(response="utter_ask_order_id_or_leave")
        else:
            await super().first_ask(dispatcher, tracker)


class ActionAskNewAddress(AskFormSlot):
    """The form's second slot, once the order is known; its reminder is ``utter_resume_new_address``."""

    slot = "new_address"
    question = "utter_ask_new_address"
    complaints = frozenset({INVALID_ADDRESS_RESPONSE})

    def name(self) -> str:
        return "action_ask_new_address"


class ActionAskReturnReason(AskFormSlot):
    """The form's second slot, once the order is known; its reminder is ``utter_resume_return_reason``."""

    slot = "return_reason"
    question = "utter_ask_return_reason"

    def name(self) -> str:
        return "action_ask_return_reason"


class ActionAskInvoiceTitle(AskFormSlot):
    """The form's second slot, once the order is known; its reminder is ``utter_resume_invoice_title``."""

    slot = "invoice_title"
    question = "utter_ask_invoice_title"

    def name(self) -> str:
        return "action_ask_invoice_title"


class ValidateOrderStatusForm(OrderFormValidator):
    def name(self) -> str:
        return "validate_order_status_form"


class ValidateAddressChangeForm(OrderFormValidator):
    def name(self) -> str:
        return "validate_address_change_form"

    def check_order(self, order: Order, dispatcher: CollectingDispatcher) -> dict[str, Any]:
        """An order that can no longer change its address is said so at once and the form ends, rather than after
        the shopper has typed the whole new address (an order number carried over from the status look-up is
        checked here too, when the form starts).  The form's final action then stays silent."""
        if order.address_changeable is False:
            dispatcher.utter_message(response=ADDRESS_REFUSED_RESPONSE, order_id=order.order_id, status=order.status)
            return {"order_id": order.order_id, "requested_slot": None}
        return {"order_id": order.order_id}

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

    def check_order(self, order: Order, dispatcher: CollectingDispatcher) -> dict[str, Any]:
        """An order whose status rules a return out (not delivered yet, cancelled, being refunded) is said so at once
        and the form ends, rather than after the shopper has given the reason (an order number carried over from
        another flow is checked here too, when the form starts).  The form's final action then stays silent."""
        if order.return_refusal:
            dispatcher.utter_message(response=RETURN_REFUSED_RESPONSE, order_id=order.order_id,
                                     reason=order.return_refusal)
            return {"order_id": order.order_id, "requested_slot": None}
        return {"order_id": order.order_id}

    async def validate_return_reason(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        reason = " ".join(str(slot_value or "").split())
        other_order = normalize_order_id(reason)
        if other_order is not None:
            # an order number is no reason: the shopper means that order (checked like any order number)
            return {**await self.validate_order_id(other_order, dispatcher, tracker, domain), "return_reason": None}
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
