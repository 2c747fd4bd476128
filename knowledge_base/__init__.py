"""kefu FAQ knowledge base: a YAML corpus, USE / sentence-transformers embeddings in FAISS, BM25 over jieba tokens,
a learned fusion with a calibrated confidence, and hot reload.

>>> from knowledge_base import get_knowledge_base      # doctest: +SKIP
>>> get_knowledge_base().ask("退款多久能到账").hit.id    # doctest: +SKIP
'refund_time'
"""

from __future__ import annotations

from knowledge_base.corpus import CorpusError, FaqEntry
from knowledge_base.index import IndexNotBuilt
from knowledge_base.service import FaqHit, KbAnswer, KnowledgeBase, get_knowledge_base, search

__all__ = ["CorpusError", "FaqEntry", "FaqHit", "IndexNotBuilt", "KbAnswer", "KnowledgeBase", "get_knowledge_base",
           "search"]
