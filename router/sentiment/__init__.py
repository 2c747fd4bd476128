"""Sentiment and anger check of every shopper message (issue 4).

>>> from router.sentiment import SentimentAnalyzer, ConversationSignals, priority_boost
>>> analyzer = SentimentAnalyzer.load("router/sentiment/model/sentiment.npz")  # doctest: +SKIP
>>> r = analyzer.score("你们太过分了！！！", signals=ConversationSignals(previous_texts=[], consecutive_fallbacks=0))
... # doctest: +SKIP
>>> r.label, priority_boost([r])  # doctest: +SKIP
('angry', 4)
"""

from __future__ import annotations

from router.sentiment.analyzer import SentimentAnalyzer
from router.sentiment.errors import DatasetsNotFound, EvalFileError, ModelFormatError, ModelNotBuilt, SentimentError
from router.sentiment.priority import feelings, negative_trend, priority_boost
from router.sentiment.result import LABELS, ConversationSignals, Label, SentimentPayload, SentimentResult

__all__ = [
    "LABELS",
    "ConversationSignals",
    "DatasetsNotFound",
    "EvalFileError",
    "Label",
    "ModelFormatError",
    "ModelNotBuilt",
    "SentimentAnalyzer",
    "SentimentError",
    "SentimentPayload",
    "SentimentResult",
    "feelings",
    "negative_trend",
    "priority_boost",
]
