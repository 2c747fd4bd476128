"""Return / refund requests. A refusal the shopper may contest (outside the after-sale period, or an earlier
return was rejected) is a refund dispute: the conversation goes to an after-sales agent."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.context import RETURN_REFUSED_RESPONSE, customer_id, set_aside_this_turn, slot_text
from actions.escalation import FALLBACK_COUNT_SLOT, build_handoff, handoff_events
from actions.order_actions import OrderServiceAction, order_id_from_slot, report_order_error
from shop.orders import OrderNotFound, OrderNotOwned, OrderServiceUnavailable, ReturnRefused


class ActionSubmitReturn(OrderServiceAction):
    def name(self) -> str:
        return "action_submit_return"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        if set_aside_this_turn(tracker):  # the form let go of the shopper, or said why the order cannot be returned
            return []
        order_id = order_id_from_slot(tracker, dispatcher)
        reason = slot_text(tracker, "return_reason")
        if order_id is None:
            return [SlotSet("order_id", None)]
        if reason is None:
            dispatcher.utter_message(response="utter_ask_return_reason")
            return []
        events: list[dict[str, Any]] = [SlotSet("return_reason", None), SlotSet(FALLBACK_COUNT_SLOT, 0.0)]
        try:
            receipt = await self.call(
                self.service.submit_return, order_id, customer_id=customer_id(tracker), reason=reason
            )
        except ReturnRefused as exc:
            dispatcher.utter_message(response=RETURN_REFUSED_RESPONSE, order_id=order_id, reason=exc.reason)
            if not exc.dispute:
                return events
            dispatcher.utter_message(response="utter_handoff")
            dispatcher.utter_message(
                json_message=build_handoff(tracker, "refund_dispute", order_id=order_id, skill="after_sales")
            )
            return events + handoff_events()
        except (OrderNotFound, OrderNotOwned, OrderServiceUnavailable) as exc:
            return report_order_error(dispatcher, exc, order_id) + events
        dispatcher.utter_message(
            response="utter_return_submitted", order_id=receipt.order_id, return_id=receipt.return_id
        )
        return events
