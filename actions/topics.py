"""Topics and flows behind clarification buttons (``actions/data/topics.yml``).

A bare topic word ("退货", "发票？") names a subject, not a need: the shopper may want the policy, the how-to or the
service itself. :func:`bare_topic` finds the topic of such a message (whatever intent the NLU gave it: "退货" is a
return_request, "运费" a fallback, "优惠券" an FAQ question); :func:`flow_button` and :func:`flow_for_faq` give the
button that starts a service flow, which clarifications offer beside the FAQ entries.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypedDict

import yaml

TOPICS_PATH = Path(__file__).resolve().parent / "data" / "topics.yml"
MAX_BUTTONS = 4
# what a bare topic word may carry around it: punctuation, particles, "关于…的问题"
_FILLER = re.compile(r"[\s\W_]|关于|的?问题|的事|呢|吗|嘛|啊|呀|吧")


class ButtonSpec(TypedDict):
    title: str
    payload: str


@dataclass(frozen=True)
class Topic:
    words: tuple[str, ...]
    flow: str | None
    faqs: tuple[str, ...]


@lru_cache
def _data(path: Path = TOPICS_PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


@lru_cache
def topics() -> tuple[Topic, ...]:
    return tuple(
        Topic(words=tuple(t["words"]), flow=t.get("flow"), faqs=tuple(t.get("faqs") or ()))
        for t in _data()["topics"]
    )


def core_words(text: str) -> str:
    """The message without punctuation and filler ("退货呢？" -> "退货")."""
    return _FILLER.sub("", text)


def bare_topic(text: str) -> Topic | None:
    """The topic when ``text`` is nothing but a topic word ("退货", "发票？", "关于运费的问题"); "我要退货" is not."""
    core = core_words(text)
    for topic in topics():
        if core in topic.words:
            return topic
    return None


def flow_button(intent: str) -> ButtonSpec | None:
    """The button that starts the service flow of ``intent`` (payload ``/<intent>``), None for an unknown flow."""
    title = _data()["flows"].get(intent)
    if not title:
        return None
    return ButtonSpec(title=str(title), payload="/" + intent)


def flow_for_faq(faq_id: str | None) -> str | None:
    """The service flow a shopper asking FAQ ``faq_id`` may want next (e.g. return_how -> return_request)."""
    if not faq_id:
        return None
    flow = _data()["faq_flows"].get(faq_id)
    return str(flow) if flow else None


def faq_button(faq_id: str, title: str) -> ButtonSpec:
    return ButtonSpec(title=title, payload="/ask_faq" + json.dumps({"faq_id": faq_id}, ensure_ascii=False))
