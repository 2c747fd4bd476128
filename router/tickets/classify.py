"""Topic and category of a shopper's problem: from the FAQ decision the bot already made, else from keywords.

Categories are routing skills (``after_sales``, ``logistics``, ``billing``, ``product``, ``general``) so a ticket's
category is also the skill its assignee needs. Topics are FAQ ids (see ``/work/shared/faq_topics.yml``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CATEGORIES = ("after_sales", "logistics", "billing", "product", "vip", "general")

# (topic, category, pattern) in order of specificity: the first match wins.
TOPIC_RULES: list[tuple[str, str, re.Pattern[str]]] = [
    (t, c, re.compile(p))
    for t, c, p in [
        (
            "package_lost",
            "logistics",
            r"包裹.{0,4}(丢|没了|不见)|丢件|丢失|(显示|已经?)签收.{0,8}(没|未)收到|快递.{0,4}丢",
        ),
        ("package_damaged", "after_sales", r"破损|压坏|摔坏|碎了|包装.{0,3}(坏|烂|破)"),
        ("wrong_item", "after_sales", r"发错|(颜色|尺码|型号|款式).{0,4}不对|不是我(买|要|下单)的"),
        ("missing_item", "after_sales", r"少件|漏发|少发|少了一|赠品.{0,4}没"),
        ("refund_time", "after_sales", r"退款.{0,6}(多久|几天|什么时候|还没|没到|到账)"),
        ("return_how", "after_sales", r"(怎么|如何|想|要).{0,3}退货|退货.{0,4}(流程|怎么)"),
        ("exchange_how", "after_sales", r"换货|换(个|一)?(尺码|颜色|大一码|小一码)"),
        ("quality_issue", "after_sales", r"质量|坏了|不能用|用不了|故障|开不了机|维修"),
        ("authenticity", "after_sales", r"假货|正品|山寨|仿冒"),
        ("logistics_track", "logistics", r"物流|快递|运单|到哪了|还没到|没收到|派送|配送"),
        ("delivery_time", "logistics", r"(什么时候|多久|几天).{0,4}(发货|到货|送到)|还不发货|没发货"),
        ("address_change", "logistics", r"(改|修改|换).{0,3}地址|地址.{0,3}(错|改)"),
        ("order_cancel", "logistics", r"取消订单|撤单|不想要了"),
        ("invoice_apply", "billing", r"发票|开票|抬头|税号"),
        (
            "payment_failed",
            "billing",
            r"(支付|付款).{0,4}(失败|不了|不成功)|扣(了)?(款|钱).{0,6}(未支付|没成功|待支付)",
        ),
        ("price_protection", "billing", r"降价|价保|差价|保价"),
        ("coupon_invalid", "billing", r"优惠券.{0,6}(用不了|不能用|无效|过期)"),
        ("coupon_use", "billing", r"优惠券|满减|红包"),
        ("installment", "billing", r"分期|花呗|白条"),
        ("size_guide", "product", r"尺码|尺寸|穿多大|多大码"),
        ("restock", "product", r"缺货|补货|到货通知|有货"),
    ]
]


@dataclass(frozen=True)
class Classification:
    topic: str | None
    category: str


def classify_text(text: str) -> Classification:
    """Keyword classification of one shopper text (the fallback when no FAQ decision is known)."""
    for topic, category, pattern in TOPIC_RULES:
        if pattern.search(text):
            return Classification(topic, category)
    return Classification(None, "general")


def category_of_topic(topic: str) -> str | None:
    for t, category, _ in TOPIC_RULES:
        if t == topic:
            return category
    return None


def normalise_category(value: str | None) -> str | None:
    """A known category, or None (unknown values are re-derived instead of being trusted)."""
    if value and value in CATEGORIES:
        return value
    return None
