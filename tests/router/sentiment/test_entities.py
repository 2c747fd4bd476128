"""Entity masking (issue 16): every entity kind becomes its one placeholder, for training and scoring alike."""

from __future__ import annotations

import pytest

from router.sentiment.entities import (
    CODE,
    DATE,
    LATIN,
    NUMBER,
    ORDER,
    PHONE,
    PLACEHOLDERS,
    PRICE,
    TRACKING,
    URL,
    has_content,
    mask_entities,
)
from router.sentiment.features import feature_counts, normalize


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("20261101123456", ORDER),
        ("2026110112345678", ORDER),
        ("订单号:2026110112345678,帮我查下", f"订单号:{ORDER},帮我查下"),
        ("手机13812345678", f"手机{PHONE}"),
        ("电话138-1234-5678", f"电话{PHONE}"),
        ("010-12345678", PHONE),
        ("运单号123456789012", f"运单号{TRACKING}"),
        ("sf1234567890123 到哪了", f"{TRACKING} 到哪了"),
        ("¥99.5", PRICE),
        ("付了129元", f"付了{PRICE}"),
        ("2026-11-01", DATE),
        ("12月3号能到吗", f"{DATE}能到吗"),
        ("10:30之前", f"{DATE}之前"),
        ("http://t.cn/abc 看看", f"{URL} 看看"),
        ("邮箱abc@qq.com", f"邮箱{URL}"),
        ("型号sku-88231", f"型号{CODE}"),
        ("x200有货吗", f"{CODE}有货吗"),
        ("买了3件", f"买了{NUMBER}件"),
        ("要xl码", f"要{LATIN}码"),
    ],
)
def test_each_kind_has_one_placeholder(text: str, masked: str) -> None:
    assert mask_entities(text) == masked


def test_words_that_are_not_entities_are_kept() -> None:
    # the complaint hotlines are threats (lexicon terms); chat words carry feeling
    assert mask_entities("不发货我就打12315") == "不发货我就打12315"
    assert mask_entities("ok好的") == "ok好的"
    assert mask_entities("sb客服") == "sb客服"
    assert mask_entities("质量很好") == "质量很好"


def test_normalize_masks_full_width_input() -> None:
    assert normalize("我的订单２０２６１１０１１２３４５６什么时候发货") == f"我的订单{ORDER}什么时候发货"
    assert normalize("ＳＦ１２３４５６７８９０１２") == TRACKING


def test_no_feature_touches_a_placeholder() -> None:
    """An entity has no weight in any model: its features are those of the text without it."""
    with_entity = feature_counts(normalize("我的订单20261101123456什么时候发货"))
    other_entity = feature_counts(normalize("我的订单2026999988887777什么时候发货"))
    assert with_entity == other_entity
    assert feature_counts(normalize("20261101123456")) == feature_counts("")
    assert feature_counts(normalize("手机13812345678")) == feature_counts(normalize("手机18800001111"))


def test_has_content() -> None:
    assert not has_content(ORDER)
    assert not has_content(f"{PHONE} ,{ORDER}。")
    assert has_content(f"手机{PHONE}")
    assert has_content("😡")
    # a kept number (a complaint hotline) is content with words around it, not alone: "12345" is a wrong order number
    assert not has_content("12345") and not has_content(" 12315。")
    assert has_content("打12345")
    assert all(not ch.isalnum() for ch in PLACEHOLDERS)
