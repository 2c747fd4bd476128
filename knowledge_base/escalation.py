"""The one escalation policy: which skill a shopper's problem needs and how urgent it is.

Used by the bot's actions (handoff payloads), the gateway (its own handoffs and the bot's), tickets (category, topic
and priority), routing (queue order), alerts and learning (topic and category of a text). The data, including every
keyword, lives in ``escalation.yml`` next to this module; docs/escalation.md says why this home and what was chosen
where the old rules disagreed.

This module is pure: the standard library and PyYAML, no database, network, settings or service. It lives in
``knowledge_base`` because that is the one library both processes (the action server and the router) already ship and
import, and it imports neither of them.

>>> decide(reason="complaint", text="快递三天没动了").skill
'logistics'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

POLICY_PATH = Path(__file__).with_name("escalation.yml")
NON_SPECIFIC = frozenset({"general", "vip"})


@dataclass(frozen=True, slots=True)
class Feeling:
    """The sentiment of one shopper message: label (angry / negative / neutral / positive), anger score in [0, 1]
    and polarity in [-1, 1]."""

    label: str | None
    anger: float = 0.0
    polarity: float = 0.0

    @classmethod
    def stored(cls, label: str | None, score: float | None, anger: float | None) -> Feeling:
        """From a stored message (label, confidence score, anger): polarity is the score signed by the label."""
        sign = {"angry": -1.0, "negative": -1.0, "positive": 1.0}.get(label or "", 0.0)
        return cls(label=label, anger=anger or 0.0, polarity=sign * (score or 0.0))


@dataclass(frozen=True, slots=True)
class TextRule:
    skill: str
    topic: str | None
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class SentimentRule:
    window: int
    decay: float
    angry: int
    very_angry_anger: float
    very_angry: int
    repeated_angry: int
    strong_trend: float
    strong_trend_boost: int
    mild_trend: float
    mild_trend_boost: int
    max_boost: int


@dataclass(frozen=True, slots=True)
class Policy:
    skills: tuple[str, ...]
    intents: dict[str, str]
    faq_categories: dict[str, str]
    text_rules: tuple[TextRule, ...]
    max_priority: int
    reasons: dict[str, int]
    default_reason: int
    topics: dict[str, int]
    vip: int
    sentiment: SentimentRule
    aging_s: float


@dataclass(frozen=True, slots=True)
class Classification:
    """What a text is about: the FAQ id of a known problem (or None) and the skill it needs."""

    topic: str | None
    skill: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's answer: the skill an agent needs, the priority 0..10, the topic (FAQ id) if one is known, and the
    queue rank (priority plus the points the shopper has earned by waiting; higher is served first)."""

    skill: str
    priority: int
    topic: str | None
    rank: float


def _rule(raw: dict[str, Any]) -> TextRule:
    if "words" in raw:
        source = "|".join(re.escape(str(w)) for w in raw["words"])
    else:
        source = str(raw["pattern"])
    topic = raw.get("topic")
    return TextRule(skill=str(raw["skill"]), topic=str(topic) if topic else None, pattern=re.compile(source))


def parse_policy(data: dict[str, Any]) -> Policy:
    """A :class:`Policy` from the mapping of ``escalation.yml``; unknown skills are an error."""
    skills = tuple(str(s) for s in data["skills"])
    rules = tuple(_rule(r) for r in data["text_rules"])
    prio: dict[str, Any] = data["priority"]
    policy = Policy(
        skills=skills,
        intents={str(k): str(v) for k, v in data["intents"].items()},
        faq_categories={str(k): str(v) for k, v in data["faq_categories"].items()},
        text_rules=rules,
        max_priority=int(prio["max"]),
        reasons={str(k): int(v) for k, v in prio["reasons"].items()},
        default_reason=int(prio["default_reason"]),
        topics={str(k): int(v) for k, v in prio["topics"].items()},
        vip=int(prio["vip"]),
        sentiment=SentimentRule(**prio["sentiment"]),
        aging_s=float(prio["aging_s"]),
    )
    named = [*policy.intents.values(), *policy.faq_categories.values(), *(r.skill for r in rules)]
    unknown = sorted({s for s in named if s not in skills})
    if unknown:
        raise ValueError(f"escalation policy names unknown skills: {unknown}")
    return policy


@lru_cache
def load_policy(path: Path = POLICY_PATH) -> Policy:
    with open(path, encoding="utf-8") as fh:
        return parse_policy(yaml.safe_load(fh))


def skills() -> tuple[str, ...]:
    return load_policy().skills


def known_skill(name: str | None) -> str | None:
    """``name`` if it is a routing skill, else None (unknown values are derived again instead of trusted)."""
    return name if name and name in load_policy().skills else None


def _specific(name: str | None) -> str | None:
    skill = known_skill(name)
    return skill if skill and skill not in NON_SPECIFIC else None


def classify_text(text: str) -> Classification:
    """The first text rule that matches: its topic and skill; no match is (None, general)."""
    for rule in load_policy().text_rules:
        if rule.pattern.search(text):
            return Classification(rule.topic, rule.skill)
    return Classification(None, "general")


def skill_of_topic(topic: str | None) -> str | None:
    """The skill of a topic (FAQ id) the text rules know, else None."""
    for rule in load_policy().text_rules:
        if topic and rule.topic == topic:
            return rule.skill
    return None


def trend(feelings: Sequence[Feeling]) -> float:
    """Exponentially weighted mean valence of the last ``window`` messages (newest weight 1), in [-1, 1]: angry counts
    as -1, neutral as 0, others their polarity. 0.0 for no messages."""
    rule = load_policy().sentiment
    recent = list(feelings)[-rule.window :]
    if not recent:
        return 0.0
    weights = [rule.decay ** (len(recent) - 1 - i) for i in range(len(recent))]

    def valence(f: Feeling) -> float:
        return -1.0 if f.label == "angry" else 0.0 if f.label == "neutral" else f.polarity

    return sum(w * valence(f) for w, f in zip(weights, recent, strict=True)) / sum(weights)


def sentiment_boost(feelings: Sequence[Feeling], *, offer_taken: bool = False) -> int:
    """Priority points from the shopper's recent messages, oldest first (rules in ``escalation.yml``)."""
    rule = load_policy().sentiment
    boost = 0
    if feelings and feelings[-1].label == "angry":
        last = feelings[-1]
        boost = rule.angry
        if last.anger >= rule.very_angry_anger:
            boost += rule.very_angry
        if any(f.label == "angry" for f in list(feelings)[-rule.window : -1]):
            boost += rule.repeated_angry
    elif feelings:
        value = trend(feelings)
        if value <= rule.strong_trend:
            boost = rule.strong_trend_boost
        elif value <= rule.mild_trend:
            boost = rule.mild_trend_boost
    if offer_taken:
        boost = max(boost, rule.angry)
    return min(boost, rule.max_boost)


def decide(
    *,
    reason: str,
    intent: str | None = None,
    faq_category: str | None = None,
    text: str = "",
    topic: str | None = None,
    skill: str | None = None,
    product_mentioned: bool = False,
    earlier_intents: Iterable[str] = (),
    feelings: Sequence[Feeling] = (),
    offer_taken: bool = False,
    vip: bool = False,
    wait_s: float = 0.0,
    floor: int = 0,
) -> Decision:
    """Skill, priority, topic and queue rank for a shopper who needs a person.

    ``reason``: why (a handoff reason such as ``complaint``, ``angry``, ``request_human``, or a ticket source such as
    ``leave_message``). ``skill``: a skill already decided (the bot's payload, a ticket's category; general counts
    as undecided); ``topic``: an FAQ
    id already known. ``feelings``: the shopper's recent messages, oldest first. ``wait_s``: seconds already waited
    for a person. ``floor``: a priority the conversation already has (the result is never lower).
    """
    policy = load_policy()
    found = classify_text(text) if text else Classification(None, "general")
    topic = topic or found.topic
    chosen = (
        (known_skill(skill) if skill != "general" else None)
        or _specific(policy.intents.get(intent or ""))
        or _specific(policy.faq_categories.get(faq_category or ""))
        or _specific(skill_of_topic(topic))
        or _specific(found.skill)
        or ("product" if product_mentioned else None)
        or next((s for s in (_specific(policy.intents.get(i)) for i in earlier_intents) if s), None)
        or "general"
    )
    if vip and chosen == "general":
        chosen = "vip"
    points = (
        policy.reasons.get(reason, policy.default_reason)
        + policy.topics.get(topic or "", 0)
        + sentiment_boost(feelings, offer_taken=offer_taken)
        + (policy.vip if vip else 0)
    )
    priority = max(0, min(policy.max_priority, max(points, floor)))
    return Decision(skill=chosen, priority=priority, topic=topic, rank=queue_rank(priority, wait_s))


def queue_rank(priority: int, wait_s: float) -> float:
    """Queue order: priority plus one point per ``aging_s`` seconds waited (the higher, the sooner served)."""
    return priority + max(0.0, wait_s) / load_policy().aging_s
