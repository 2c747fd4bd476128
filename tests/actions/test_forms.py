"""Form validators: order number format, existence and ownership; addresses, reasons, invoice titles;
an order found from the product name alone."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.forms import FormValidationAction

from actions.forms import (
    ValidateAddressChangeForm,
    ValidateInvoiceForm,
    ValidateOrderStatusForm,
    ValidateReturnForm,
)
from actions.order_actions import ActionChangeAddress
from shop.demo_store import DemoOrderStore
from tests.actions.conftest import OWNER, find_order, make_tracker, responses, run_action, run_validator, slot_events


def validate(action: FormValidationAction, domain: dict[str, Any], text: str, slot: str, value: Any,
             **slots: Any) -> tuple[dict[str, Any], list[str]]:
    """The slots a validator sets and the names of the responses it sends."""
    set_slots, messages = run_validator(action, domain, text, slot, value, **slots)
    return set_slots, responses(messages)


@pytest.mark.parametrize("validator", [ValidateOrderStatusForm, ValidateAddressChangeForm, ValidateReturnForm,
                                       ValidateInvoiceForm])
def test_every_form_checks_the_order_number(
    validator: type[ValidateOrderStatusForm], store: DemoOrderStore, domain: dict[str, Any]
) -> None:
    action = validator(store)
    own = find_order(store, OWNER, "待发货")  # one whose address may still change (see the test below)
    # a return is ruled out before delivery, and the return form says so at once (tests/actions/test_returns_invoices)
    taken = (({"order_id": own, "requested_slot": None}, ["utter_return_refused"]) if validator is ValidateReturnForm
             else ({"order_id": own}, []))
    assert validate(action, domain, own, "order_id", own) == taken
    spaced = f"{own[:4]} {own[4:8]}-{own[8:]}"
    assert validate(action, domain, spaced, "order_id", spaced) == taken
    # a shopper who lost the number is told where to find it (or offered a human), not scolded
    assert validate(action, domain, "订单号忘了", "order_id", "订单号忘了") == ({"order_id": None},
                                                                            ["utter_order_id_help"])
    assert validate(action, domain, "123456", "order_id", "123456")[1] == ["utter_invalid_order_id"]
    missing = "2025010100000000"
    assert validate(action, domain, missing, "order_id", missing) == ({"order_id": None}, ["utter_order_not_found"])
    other = store.find_orders(customer_id="c0050", limit=1)[0].order_id
    assert validate(action, domain, other, "order_id", other) == ({"order_id": None}, ["utter_order_not_yours"])


def test_order_found_from_a_product_name(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    """'我买的X到哪了' with no order number: the shopper's only order containing X fills the slot."""
    action = ValidateOrderStatusForm(store)
    orders = store.find_orders(customer_id=OWNER, limit=100)
    counts: dict[str, int] = {}
    for order in orders:
        for item in order.items:
            counts[item.product] = counts.get(item.product, 0) + 1
    unique = next(o for o in orders if counts[o.items[0].product] == 1 and len(o.items) == 1)
    product = unique.items[0].product
    tracker = make_tracker(f"我买的{product.lower().replace(' ', '')}到哪了", "order_status",
                           active_loop="order_status_form")
    events, messages = run_action(action, tracker, domain)
    assert slot_events(events) == {"order_id": unique.order_id}
    assert messages == []
    # a product the shopper never bought fills nothing; the form goes on to ask for the number
    never = make_tracker("我买的阳澄湖大闸蟹礼盒和始祖鸟Beta AR冲锋衣到哪了", "order_status",
                         active_loop="order_status_form", customer="nobody")
    events, _ = run_action(action, never, domain)
    assert slot_events(events) == {}


def test_an_order_whose_address_can_no_longer_change_ends_the_address_form_at_once(
    store: DemoOrderStore, domain: dict[str, Any]
) -> None:
    """Found through `make run` (2026-12-07): an order in transit was taken, the shopper typed the whole new address,
    and only then heard that it could no longer change."""
    action = ValidateAddressChangeForm(store)
    moving = find_order(store, OWNER, "运输中")
    slots, said = validate(action, domain, moving, "order_id", moving)
    assert slots == {"order_id": moving, "requested_slot": None}  # the form ends here
    assert said == ["utter_address_change_refused"]
    # the status look-up and the invoice form take the same order as before (the return form refuses it at once too)
    for other in (ValidateOrderStatusForm(store), ValidateInvoiceForm(store)):
        assert validate(other, domain, moving, "order_id", moving) == ({"order_id": moving}, [])
    # the form's final action (its completion rule runs it next) says nothing more and asks for no address
    ended = make_tracker(moving, "inform", slots={"order_id": moving},
                         after_user=[{"event": "bot", "text": "…", "metadata": {"utter_action": said[0]}}])
    events, messages = run_action(ActionChangeAddress(store), ended, domain)
    assert messages == [] and slot_events(events) == {"new_address": None}
    assert store.get_order(moving, customer_id=OWNER).address_changeable is False
    assert store.get_order(find_order(store, OWNER, "待发货"), customer_id=OWNER).address_changeable is True


def test_new_address_validation(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    action = ValidateAddressChangeForm(store)
    good = "  北京市海淀区中关村大街27号  3号楼 1202室 "
    cleaned = "北京市海淀区中关村大街27号 3号楼 1202室"
    assert validate(action, domain, good, "new_address", good)[0] == {"new_address": cleaned}
    for bad in ("好的", "abc", "就放门口吧谢谢", "x" * 300):
        assert validate(action, domain, bad, "new_address", bad)[0] == {"new_address": None}
    bad_with_reply = {**domain, "responses": {**domain["responses"], "utter_invalid_address": [{"text": "?"}]}}
    assert validate(action, bad_with_reply, "好的", "new_address", "好的")[1] == ["utter_invalid_address"]


def test_return_reason_and_invoice_title_validation(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    returns, invoices = ValidateReturnForm(store), ValidateInvoiceForm(store)
    assert validate(returns, domain, "尺码偏小", "return_reason", "尺码偏小")[0] == {"return_reason": "尺码偏小"}
    assert validate(returns, domain, "啊", "return_reason", "啊")[0] == {"return_reason": None}
    assert validate(invoices, domain, "个人", "invoice_title", "个人")[0] == {"invoice_title": "个人"}
    quoted = "“杭州云杉科技有限公司”"
    assert validate(invoices, domain, quoted, "invoice_title", quoted)[0] == {"invoice_title": "杭州云杉科技有限公司"}
    for bad in ("1", "123456", "x" * 150):
        assert validate(invoices, domain, bad, "invoice_title", bad)[0] == {"invoice_title": None}
