"""The spaCy EntityRuler over the demo catalog finds products that the NLU training data never mentions."""

from __future__ import annotations

from pathlib import Path

from actions.products import get_product_recognizer
from shop.demo_data import CatalogProduct, load_catalog

ROOT = Path(__file__).resolve().parents[2]


def _norm(text: str) -> str:
    return text.lower().replace(" ", "")


def unseen_products() -> list[CatalogProduct]:
    """Catalog products whose name and aliases appear nowhere in nlu_data/ (read now, not hard-coded)."""
    seen = _norm("\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "nlu_data").rglob("*") if p.is_file()))
    return [p for p in load_catalog() if not any(_norm(n) in seen for n in (p.name, *p.aliases))]


def test_products_absent_from_nlu_data_are_found() -> None:
    unseen = unseen_products()
    assert len(unseen) >= 3, "expected some catalog products the NLU data does not list"
    recognizer = get_product_recognizer()
    for product in unseen[:: max(1, len(unseen) // 8)]:
        found = recognizer.find(f"你好，我上周买的{product.name}怎么还没到？")
        assert [(m.product_id, m.text) for m in found] == [(product.id, product.name)], product.name
        if product.aliases:
            alias = product.aliases[0]
            mention = recognizer.first(f"请问{alias}能退吗")
            assert mention is not None and mention.product_id == product.id, alias


def test_matching_ignores_case_and_spaces() -> None:
    recognizer = get_product_recognizer()
    mention = recognizer.first("我的华为mate60pro发货了吗")
    assert mention is not None and mention.name == "华为Mate 60 Pro" and mention.category == "手机"
    found = recognizer.find("买了三只松鼠礼盒和飞天茅台，还有一本三体")
    assert [m.name for m in found] == ["三只松鼠坚果礼盒", "茅台飞天53度500ml", "三体全集"]
    assert [m.text for m in found] == ["三只松鼠礼盒", "飞天茅台", "三体"]


def test_no_false_products_and_bad_input() -> None:
    recognizer = get_product_recognizer()
    assert recognizer.find("我想问一下退款多久到账") == []
    assert recognizer.find("") == [] and recognizer.find("   ") == []
    assert recognizer.first("x" * 10_000) is None


def test_recognizer_is_built_once() -> None:
    assert get_product_recognizer() is get_product_recognizer()
