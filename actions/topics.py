"""Topics and flows behind clarification buttons (``actions/data/topics.yml``).

A bare topic word ("退货", "发票？") names a subject, not a need: the shopper may want the policy, the how-to or the
service itself. :func:`topic_for` finds the topic of such a message; :func:`flow_button` and :func:`flow_for_faq` give
the button that starts a service flow, which clarifications offer beside the FAQ entries.
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


def topic_for(text: str) -> Topic | None:
    """The topic a (short) message names; the longest matching word wins ("运费险" over "运费")."""
    core = core_words(text)
    if not core:
        return None
    best: tuple[int, Topic] | None = None
    for topic in topics():
        for word in topic.words:
            if word in core and (best is None or len(word) > best[0]):
                best = (len(word), topic)
    return best[1] if best else None


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
