"""What the gateway itself says to shoppers: the wordings of ``texts.yml`` and the queue estimate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TEXTS_PATH = Path(__file__).with_name("texts.yml")


def load_texts(path: Path = TEXTS_PATH) -> dict[str, str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def format_eta(eta_s: float | None) -> str:
    """A queue estimate after "预计等待", worded as the widget words it (router/web/static/common.js fmtEta)."""
    if eta_s is None:
        return "几分钟"
    if eta_s < 60:
        return "1分钟以内"
    return f"约{round(eta_s / 60)}分钟"


class Texts:
    """The wordings by key, filled with their values (``texts("queued", position=2, eta="约3分钟")``)."""

    def __init__(self, texts: dict[str, str] | None = None) -> None:
        self.by_key = texts or load_texts()

    def __call__(self, key: str, **values: Any) -> str:
        return self.by_key[key].format(**values)
