"""The sentiment model the tests score with: the committed artifact (router/sentiment/model/sentiment.npz), the one
`make run` serves. It needs no public data set; the tests of training build small synthetic data sets instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.sentiment import SentimentAnalyzer

REPO = Path(__file__).resolve().parents[3]
ARTIFACT = REPO / "router" / "sentiment" / "model" / "sentiment.npz"


@pytest.fixture(scope="session")
def model_path() -> Path:
    return ARTIFACT


@pytest.fixture(scope="session")
def analyzer(model_path: Path) -> SentimentAnalyzer:
    return SentimentAnalyzer.load(model_path)
