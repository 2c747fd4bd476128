"""Generated shopper conversations: what each kind of shopper says (FAQ questions, order look-ups, questions the
FAQ does not cover, complaints, shoppers who leave or leave a message) and how the conversation should go.

>>> scripts = generate_scripts(3, seed=7)
>>> len(scripts), scripts[0].turns[0] != ""
(3, True)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal[
    "faq_answered", "faq_clarified", "order_status", "unknown_to_agent", "angry_complaint", "abandoned", "left_message"
]
CHANNELS = ("web", "app", "miniprogram")
CHANNEL_WEIGHTS = (0.45, 0.35, 0.20)

# FAQ topic -> (category, how shoppers ask)
FAQ_QUESTIONS: dict[str, tuple[str, list[str]]] = {
    "refund_time": ("after_sales", ["退款多久能到账", "钱什么时候退回来", "退款几天到", "申请退款了还没到账怎么回事"]),
    "return_how": ("after_sales", ["怎么退货", "我想退货怎么操作", "退货流程是什么", "衣服不合适想退"]),
    "exchange_how": ("after_sales", ["鞋子小了能换大一码吗", "怎么换货", "想换个颜色可以吗"]),
    "logistics_track": ("logistics", ["我的快递到哪了", "怎么查物流", "物流信息在哪看", "快递怎么还没到"]),
    "delivery_time": ("logistics", ["下单后多久发货", "什么时候能发货", "一般几天能送到"]),
    "address_change": ("logistics", ["地址填错了怎么改", "下单后能改地址吗", "收货电话写错了"]),
    "package_lost": ("logistics", ["包裹丢了怎么办", "显示已签收可是我没收到", "快递丢件了谁负责"]),
    "invoice_apply": ("billing", ["怎么开发票", "发票在哪里申请", "能开电子发票吗"]),
    "coupon_use": ("billing", ["优惠券怎么用", "领的券在哪里用", "满减券怎么使用"]),
    "price_protection": ("billing", ["刚买就降价了能补差价吗", "有价保吗", "降价了怎么申请保价"]),
    "size_guide": ("product", ["这件衣服我该穿多大码", "尺码表在哪看", "身高170穿什么尺码"]),
}
# questions the FAQ does not cover (the learning loop should propose them), with the answer agents give
UNKNOWN_THEMES: dict[str, tuple[str, list[str], str]] = {
    "trade_in": (
        "product",
        ["手机可以以旧换新吗", "旧手机能抵钱吗", "以旧换新怎么参加", "有没有旧机回收服务", "旧手机换新机能便宜多少"],
        "您好，支持以旧换新：在商品页点击“以旧换新”，填写旧机型号和成色即可估价，新机下单时直接抵扣，旧机由快递上门免费回收。",
    ),
    "bulk_purchase": (
        "general",
        ["可以企业批量采购吗", "公司大量购买有优惠吗", "批量订购怎么联系", "企业团购怎么下单", "我们单位想采购一百台"],
        "您好，企业批量采购请通过“企业购”入口提交需求，填写公司名称、联系人和采购清单，专属客户经理会在1个工作日内联系您并提供报价。",
    ),
    "special_invoice": (
        "billing",
        ["能开增值税专用发票吗", "可以开专票吗", "公司需要专用发票怎么开", "我要开增值税专票", "专票怎么申请"],
        "您好，可以开具增值税专用发票：申请开票时选择“专用发票”，填写公司名称、税号、地址电话、开户行及账号即可。",
    ),
    "installation": (
        "after_sales",
        ["空调包安装吗", "买洗衣机送装一体吗", "安装要另外收费吗", "什么时候上门安装", "热水器谁来装"],
        "您好，大家电支持送装一体，签收后师傅会在48小时内联系您预约上门，基础安装免费，如需额外材料会按价目表收费。",
    ),
}
ORDER_QUESTIONS = ["帮我查一下订单", "我的订单到哪一步了", "查订单状态", "订单 {order_id} 怎么样了"]
ANGRY_TEXTS = [
    "你们到底怎么回事！等了一个星期还没到！",
    "太离谱了，客服呢？！我要投诉！",
    "东西是坏的，你们就这样卖东西的吗？！",
    "退款拖了半个月了，再不处理我就去消协投诉！",
    "包裹丢了也没人管，气死我了！",
]
CLOSINGS = ["好的谢谢", "明白了，谢谢", "谢谢你", "好的"]
AGENT_REPLIES = {
    "after_sales": "您好，非常抱歉给您添麻烦了，我已为您登记售后，退款会在审核通过后1-3个工作日原路退回。",
    "logistics": "您好，我已联系快递公司核实，48小时内给您回复处理结果，如确认丢件我们会为您补发或全额退款。",
    "billing": "您好，发票和费用问题我已为您核实处理，稍后您可以在订单详情里查看。",
    "product": "您好，这个问题我帮您确认过了，您可以放心购买，有任何问题随时联系我们。",
    "general": "您好，您的问题我已经记录并处理，还有其他可以帮您的吗？",
}
DEFAULT_MIX: dict[Kind, float] = {
    "faq_answered": 0.40,
    "faq_clarified": 0.08,
    "order_status": 0.14,
    "unknown_to_agent": 0.14,
    "angry_complaint": 0.08,
    "abandoned": 0.08,
    "left_message": 0.08,
}


@dataclass
class Script:
    """One conversation: what the shopper says (``turns``) and how it should go (``kind``, ``topic``)."""

    kind: Kind
    channel: str
    customer_id: str
    turns: list[str]
    topic: str | None = None
    category: str = "general"
    sentiment: str = "neutral"
    meta: dict[str, Any] = field(default_factory=dict)


def pick_kind(rng: random.Random, mix: dict[Kind, float]) -> Kind:
    kinds = list(mix)
    return rng.choices(kinds, weights=[mix[k] for k in kinds])[0]


def make_script(rng: random.Random, kind: Kind, *, customer_id: str | None = None, channel: str | None = None,
                topic: str | None = None) -> Script:
    """One conversation of ``kind`` (``topic`` forces the FAQ topic, e.g. ``package_lost`` for a spike)."""
    channel = channel or rng.choices(CHANNELS, weights=CHANNEL_WEIGHTS)[0]
    customer_id = customer_id or f"c{rng.randrange(10**8):08d}"
    if kind in ("faq_answered", "faq_clarified", "abandoned", "left_message"):
        topic = topic or rng.choice(list(FAQ_QUESTIONS))
        category, questions = FAQ_QUESTIONS[topic]
        turns = [rng.choice(questions)]
        if kind == "faq_clarified":
            turns.append(rng.choice(questions))
        if kind in ("abandoned", "left_message"):
            turns.append("转人工")
        if kind == "left_message":
            turns.append(f"{turns[0]}，麻烦上线后尽快联系我，电话 13{rng.randrange(10**9):09d}")
        elif kind != "abandoned" and rng.random() < 0.6:
            turns.append(rng.choice(CLOSINGS))
        sentiment = "negative" if kind in ("abandoned", "left_message") and rng.random() < 0.4 else "neutral"
        return Script(kind, channel, customer_id, turns, topic, category, sentiment)
    if kind == "order_status":
        order_id = f"202611{rng.randrange(10**10):010d}"
        text = rng.choice(ORDER_QUESTIONS).format(order_id=order_id)
        turns = [text] if order_id in text else [text, order_id]
        return Script(kind, channel, customer_id, turns, "order_status_howto", "logistics", meta={"order_id": order_id})
    if kind == "unknown_to_agent":
        theme = topic or rng.choice(list(UNKNOWN_THEMES))
        category, questions, _answer = UNKNOWN_THEMES[theme]
        return Script(kind, channel, customer_id, [rng.choice(questions), "人工客服"], theme, category,
                      meta={"theme": theme})
    topic = topic or rng.choice(["package_lost", "refund_time", "logistics_track", None])
    category = FAQ_QUESTIONS[topic][0] if topic else "after_sales"
    first = rng.choice(FAQ_QUESTIONS[topic][1]) if topic else rng.choice(ANGRY_TEXTS)
    return Script("angry_complaint", channel, customer_id, [first, rng.choice(ANGRY_TEXTS)], topic, category, "angry")


def generate_scripts(n: int, *, seed: int = 0, mix: dict[Kind, float] | None = None) -> list[Script]:
    rng = random.Random(seed)
    return [make_script(rng, pick_kind(rng, mix or DEFAULT_MIX)) for _ in range(n)]
