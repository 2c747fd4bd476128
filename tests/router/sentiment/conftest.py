"""One trained sentiment model per session: the Makefile-built artifact when it is newer than the sources,
otherwise a fresh training run into a temp dir (the same code path as ``kefu sentiment train``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.sentiment import SentimentAnalyzer
from router.sentiment.training import train

REPO = Path(__file__).resolve().parents[3]
ARTIFACT = REPO / "var" / "sentiment" / "model.joblib"
SOURCES = [p for p in (REPO / "router" / "sentiment").iterdir() if p.suffix in {".py", ".txt", ".tsv"}]


def _fresh(artifact: Path) -> bool:
    return artifact.is_file() and artifact.stat().st_mtime >= max(p.stat().st_mtime for p in SOURCES)


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if _fresh(ARTIFACT):
        return ARTIFACT
    out = tmp_path_factory.mktemp("sentiment") / "model.joblib"
    train(out)
    return out


@pytest.fixture(scope="session")
def analyzer(model_path: Path) -> SentimentAnalyzer:
    return SentimentAnalyzer.load(model_path)
