"""Invoice requests for an order."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.context import customer_id, set_aside_this_turn, slot_text
from actions.escalation import FALLBACK_COUNT_SLOT, build_handoff, handoff_events
from actions.order_actions import OrderServiceAction, order_id_from_slot, report_order_error
from shop.orders import InvoiceRefused, OrderNotFound, OrderNotOwned, OrderServiceUnavailable

INVOICE_REFUSED_RESPONSE = "utter_invoice_refused"


class ActionSubmitInvoice(OrderServiceAction):
    def name(self) -> str:
        return "action_submit_invoice"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        if set_aside_this_turn(tracker):  # the form let go of the shopper and said so
            return []
        order_id = order_id_from_slot(tracker, dispatcher)
        title = slot_text(tracker, "invoice_title")
        if order_id is None:
            return [SlotSet("order_id", None)]
        if title is None:
            dispatcher.utter_message(response="utter_ask_invoice_title")
            return []
        events: list[dict[str, Any]] = [SlotSet("invoice_title", None), SlotSet(FALLBACK_COUNT_SLOT, 0.0)]
        try:
            receipt = await self.call(
                self.service.request_invoice, order_id, customer_id=customer_id(tracker), title=title
            )
        except InvoiceRefused as exc:
            if INVOICE_REFUSED_RESPONSE in (domain or {}).get("responses", {}):
                dispatcher.utter_message(response=INVOICE_REFUSED_RESPONSE, order_id=order_id, reason=exc.reason)
                return events
            # without a refusal response in the domain a billing agent explains it rather than the bot saying nothing
            dispatcher.utter_message(response="utter_handoff")
            dispatcher.utter_message(json_message=build_handoff(tracker, "order_problem", order_id=order_id,
                                                                skill="billing"))
            return events + handoff_events()
        except (OrderNotFound, OrderNotOwned, OrderServiceUnavailable) as exc:
            return report_order_error(dispatcher, exc, order_id) + events
        dispatcher.utter_message(
            response="utter_invoice_submitted", order_id=receipt.order_id, invoice_title=receipt.title
        )
        return events
