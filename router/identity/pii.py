"""Masking of personal data shown to agents: mobile numbers (138****5678) and street addresses (the detail after the
district). Agents see masked text by default; the unmasked transcript and order are an audited action (``reveal``)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
from typing import Any, TypedDict

PHONE_RE = re.compile(r"(?<!\d)(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
# an address detail: a place name with a street marker, then a house number ("文三路90号", "望京街道阜通东大街6号院")
_NUMBER_RE = re.compile(r"\d+\s*号")
_STREET = re.compile(r"路|街|道|巷|弄|胡同|村|里|镇|乡|园|城|大厦|小区|公寓|花园")
_STOP = set("省市区县旗州盟")
_AFTER = re.compile(r"[院栋幢楼层室单元号A-Za-z0-9\-#]*")
# the region of a delivery address: province, city, district or county ("浙江省杭州市西湖区"); a district's name holds
# no street marker, so "文三路" never passes for one
_CJK = "[\u4e00-\u9fff]"
_REGION_RE = re.compile(
    rf"(?:{_CJK}{{2,3}}省|{_CJK}{{2,5}}自治区|{_CJK}{{2}}特别行政区)?"
    rf"(?:{_CJK}{{1,8}}?(?:市|自治州|地区|盟))?"
    rf"(?:(?:(?![路街道巷弄村镇乡号]){_CJK}){{1,8}}?(?:区|县|旗|市))?"
)
MASK = "****"
# the order fields that may hold the shopper's personal data: the delivery address (with any receiver name and phone
# a shop writes into it) and the logistics note ("快递员…（电话）", "已由…签收")
ORDER_PERSONAL_FIELDS = ("address", "detail")


def mask_phones(text: str) -> str:
    return PHONE_RE.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", text)


def mask_addresses(text: str) -> str:
    out: list[str] = []
    pos = 0
    for number in _NUMBER_RE.finditer(text):
        if number.start() < pos:
            continue
        start = number.start()
        while start > pos and number.start() - start < 24:
            ch = text[start - 1]
            if ch in _STOP or not (ch.isalnum() or "\u4e00" <= ch <= "\u9fff"):
                break
            start -= 1
        if not _STREET.search(text, start, number.start()):
            continue
        end = _AFTER.match(text, number.end())
        stop = end.end() if end else number.end()
        out.append(text[pos:start] + MASK)
        pos = stop
    out.append(text[pos:])
    return "".join(out)


def mask_text(text: str) -> str:
    """``text`` with mobile numbers and street addresses masked."""
    return mask_addresses(mask_phones(text))


def mask_address_field(address: str) -> str:
    """A delivery address field with everything after its region masked: a field known to be an address needs no
    house number to be found ("上海市浦东新区碧波路690弄5幢301室" -> "上海市浦东新区****"); one that does not start with
    a region (a receiver's name and phone first) is masked whole.

    >>> mask_address_field("浙江省杭州市西湖区文三路90号")
    '浙江省杭州市西湖区****'
    >>> mask_address_field("张三 13812345678 浙江省杭州市西湖区文三路90号")
    '****'
    """
    text = address.strip()
    found = _REGION_RE.match(text)
    region = found.group(0) if found else ""
    return text if not text or region == text else region + MASK


class RevealedOrder(TypedDict):
    """The order part of the audited reveal: the full personal fields of the order the panel shows."""

    order_id: str
    address: str
    detail: str
    personal_ref: str


def _personal_values(order: dict[str, Any]) -> dict[str, str]:
    return {name: str(order.get(name) or "") for name in ORDER_PERSONAL_FIELDS}


def personal_ref(order: dict[str, Any], *, secret: str) -> str:
    """A keyed digest of the order's personal fields: the masked panel and the reveal carry the same one while those
    fields are unchanged, so the console shows a revealed address only for the data it was revealed for (an address
    the shopper changed since is masked again). Keyed with the app's secret: the masked panel must not let anyone
    test guesses of the address against it."""
    key = hmac.new(secret.encode(), b"kefu personal-data ref", hashlib.sha256).digest()
    values = json.dumps([order.get("order_id"), _personal_values(order)], ensure_ascii=False, sort_keys=True)
    return hmac.new(key, values.encode(), hashlib.sha256).hexdigest()[:32]


def mask_order(order: dict[str, Any], *, secret: str) -> dict[str, Any]:
    """The order panel's data with the address and the logistics note masked, and their :func:`personal_ref`."""
    masked = {**order, "personal_ref": personal_ref(order, secret=secret)}
    if isinstance(order.get("address"), str):
        masked["address"] = mask_address_field(order["address"])
    if isinstance(order.get("detail"), str):
        masked["detail"] = mask_text(order["detail"])
    return masked


def revealed_order(order: dict[str, Any] | None, *, secret: str) -> RevealedOrder | None:
    """What the audited reveal returns of the panel's order (None without one): its id, the full personal fields, and
    the :func:`personal_ref` the masked panel carries for the same data."""
    if not order:
        return None
    values = _personal_values(order)
    return RevealedOrder(order_id=str(order.get("order_id") or ""), address=values["address"],
                         detail=values["detail"], personal_ref=personal_ref(order, secret=secret))


def _masked(value: Any) -> Any:
    """Every string in ``value`` (a JSON-like structure) masked."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def mask_context(context: dict[str, Any], *, secret: str) -> dict[str, Any]:
    """The agent's side panel with the shopper's personal data masked (the input is not changed): the transcript,
    the texts, entities and slots the bot understood, the question each suggested answer quotes, and the order's
    address and logistics note (:func:`mask_order`; ``secret`` keys its ``personal_ref``)."""
    masked = copy.copy(context)
    masked["transcript"] = [{**line, "text": mask_text(str(line.get("text", "")))} for line in context["transcript"]]
    if isinstance(context.get("nlu"), dict):
        masked["nlu"] = _masked(context["nlu"])
    masked["faq_suggestions"] = [
        {**hit, "question_asked": mask_text(str(hit.get("question_asked", "")))}
        for hit in context.get("faq_suggestions") or []
    ]
    if isinstance(context.get("order"), dict):
        masked["order"] = mask_order(context["order"], secret=secret)
    masked["masked"] = True
    return masked


def mask_agent_event(event: dict[str, Any]) -> dict[str, Any]:
    """A pushed ``message`` event with the shopper's text masked, the shopper's last message an offer or an
    assignment carries in its routing context, and the subject of a ``ticket_assigned`` notice (a ticket from a left
    message is titled with the shopper's words); other events unchanged."""
    if event.get("type") == "ticket_assigned" and isinstance(event.get("subject"), str):
        return {**event, "subject": mask_text(event["subject"])}
    context = event.get("context")
    if isinstance(context, dict) and isinstance(context.get("last_message"), str):
        return {**event, "context": {**context, "last_message": mask_text(context["last_message"])}}
    message = event.get("message")
    if event.get("type") != "message" or not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return event
    return {**event, "message": {**message, "text": mask_text(message["text"])}}
