"""kefu FAQ knowledge base: a YAML corpus, USE / sentence-transformers embeddings in FAISS, BM25 over jieba tokens,
a learned fusion with a calibrated confidence, and hot reload.

>>> from knowledge_base import get_knowledge_base      # doctest: +SKIP
>>> get_knowledge_base().ask("退款多久能到账").hit.id    # doctest: +SKIP
'refund_time'

The public names are imported on first use (PEP 562), so the Rasa venv can import
:mod:`knowledge_base.rasa_featurizer` without FAISS, BM25 or pydantic v2.

:mod:`knowledge_base.escalation` (pure, data in ``escalation.yml``) is the one escalation policy: which skill and
which priority a shopper's problem needs. The action server and the router both use it; neither imports the other.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knowledge_base.corpus import CorpusError, FaqEntry
    from knowledge_base.index import IndexNotBuilt
    from knowledge_base.service import FaqHit, KbAnswer, KnowledgeBase, get_knowledge_base, search

_EXPORTS = {
    "CorpusError": "knowledge_base.corpus",
    "FaqEntry": "knowledge_base.corpus",
    "IndexNotBuilt": "knowledge_base.index",
    "FaqHit": "knowledge_base.service",
    "KbAnswer": "knowledge_base.service",
    "KnowledgeBase": "knowledge_base.service",
    "get_knowledge_base": "knowledge_base.service",
    "search": "knowledge_base.service",
}

__all__ = ["CorpusError", "FaqEntry", "FaqHit", "IndexNotBuilt", "KbAnswer", "KnowledgeBase", "get_knowledge_base",
           "search"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
