"""Product recognition with spaCy: an EntityRuler built from the demo catalog, so that product names the NLU
training data never saw are still found in what the shopper writes.

The pipeline is ``spacy.blank("zh")`` with the jieba segmenter. Catalog names and aliases are added to a *private*
``jieba.Tokenizer`` (never to the global jieba dictionary, which the knowledge base's BM25 also uses), so that a
product name is segmented the same way inside a sentence as in its pattern. Matching is case-insensitive and
ignores the spaces inside names ("华为mate60pro" finds "华为Mate 60 Pro").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shop.demo_data import CATALOG_PATH, CatalogProduct, load_catalog

logger = logging.getLogger(__name__)
LABEL = "product"


@dataclass(frozen=True)
class ProductMention:
    """A product found in a text: the words used and the catalog product they name."""

    text: str
    start: int
    end: int
    product_id: str
    name: str
    category: str


def _variants(phrase: str) -> set[str]:
    compact = phrase.replace(" ", "")
    return {phrase, compact, phrase.lower(), compact.lower()}


class ProductRecognizer:
    """spaCy pipeline (jieba tokenizer + EntityRuler) over a product catalog. Thread-safe; build it once."""

    def __init__(self, catalog: Iterable[CatalogProduct]) -> None:
        import jieba
        import spacy

        self._products = {p.id: p for p in catalog}
        nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
        segmenter = jieba.Tokenizer()
        patterns: list[dict[str, str]] = []
        for product in self._products.values():
            for phrase in {product.name, *product.aliases}:
                for variant in _variants(phrase):
                    if " " not in variant:
                        segmenter.add_word(variant, freq=2000)
                    patterns.append({"label": LABEL, "pattern": variant, "id": product.id})
        nlp.tokenizer.jieba_seg = segmenter  # type: ignore[union-attr]
        ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
        ruler.add_patterns(patterns)  # type: ignore[attr-defined]
        self._nlp = nlp
        self._lock = threading.Lock()  # jieba's lazy initialisation and spaCy's Doc building are not thread-safe
        with self._lock:
            nlp("预热")  # load the jieba dictionary now, not during the first shopper message

    def find(self, text: str) -> list[ProductMention]:
        """Every catalog product mentioned in ``text``, in order of appearance."""
        if not text or not text.strip():
            return []
        with self._lock:
            doc = self._nlp(text[:2000])
        mentions: list[ProductMention] = []
        for ent in doc.ents:
            product = self._products.get(ent.ent_id_)
            if ent.label_ != LABEL or product is None:
                continue
            mentions.append(
                ProductMention(
                    text=ent.text,
                    start=ent.start_char,
                    end=ent.end_char,
                    product_id=product.id,
                    name=product.name,
                    category=product.category,
                )
            )
        return mentions

    def first(self, text: str) -> ProductMention | None:
        found = self.find(text)
        return found[0] if found else None


@lru_cache(maxsize=4)
def get_product_recognizer(catalog_path: Path = CATALOG_PATH) -> ProductRecognizer:
    """The process-wide recognizer (built on first use, ~2 s)."""
    logger.info("building the product EntityRuler from %s", catalog_path)
    return ProductRecognizer(load_catalog(catalog_path))
