"""Masking of personal data shown to agents: mobile numbers (138****5678) and street addresses (the detail after the
district). Agents see masked text by default; the unmasked transcript is an audited action (``reveal``)."""

from __future__ import annotations

import copy
import re
from typing import Any

PHONE_RE = re.compile(r"(?<!\d)(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
# an address detail: a place name with a street marker, then a house number ("文三路90号", "望京街道阜通东大街6号院")
_NUMBER_RE = re.compile(r"\d+\s*号")
_STREET = re.compile(r"路|街|道|巷|弄|胡同|村|里|镇|乡|园|城|大厦|小区|公寓|花园")
_STOP = set("省市区县旗州盟")
_AFTER = re.compile(r"[院栋幢楼层室单元号A-Za-z0-9\-#]*")
MASK = "****"


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


def _masked(value: Any) -> Any:
    """Every string in ``value`` (a JSON-like structure) masked."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def mask_context(context: dict[str, Any]) -> dict[str, Any]:
    """The agent's side panel with everything the shopper wrote masked (the input is not changed): the transcript,
    the texts, entities and slots the bot understood, and the question each suggested answer quotes."""
    masked = copy.copy(context)
    masked["transcript"] = [{**line, "text": mask_text(str(line.get("text", "")))} for line in context["transcript"]]
    if isinstance(context.get("nlu"), dict):
        masked["nlu"] = _masked(context["nlu"])
    masked["faq_suggestions"] = [
        {**hit, "question_asked": mask_text(str(hit.get("question_asked", "")))}
        for hit in context.get("faq_suggestions") or []
    ]
    masked["masked"] = True
    return masked


def mask_agent_event(event: dict[str, Any]) -> dict[str, Any]:
    """A pushed ``message`` event with the shopper's text masked, and the shopper's last message an offer or an
    assignment carries in its routing context; other events unchanged."""
    context = event.get("context")
    if isinstance(context, dict) and isinstance(context.get("last_message"), str):
        return {**event, "context": {**context, "last_message": mask_text(context["last_message"])}}
    message = event.get("message")
    if event.get("type") != "message" or not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return event
    return {**event, "message": {**message, "text": mask_text(message["text"])}}
