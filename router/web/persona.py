"""The bot's persona as the pages show it. Its name is defined once, in ``bot/domain.yml`` (the initial value of
slot ``bot_name``, which the bot's own responses say as ``{bot_name}``); the chat widget and the agent console read it
from there, so the shopper meets one assistant wherever it speaks."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

DOMAIN_PATH = Path(__file__).resolve().parents[2] / "bot" / "domain.yml"
FALLBACK_NAME = "智能客服"


@lru_cache
def bot_name(domain_path: Path = DOMAIN_PATH) -> str:
    """``slots.bot_name.initial_value`` of the bot's domain (a neutral "智能客服" when the domain is not shipped)."""
    try:
        data = yaml.safe_load(domain_path.read_text(encoding="utf-8"))
        name = data["slots"]["bot_name"]["initial_value"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return FALLBACK_NAME
    return str(name).strip() or FALLBACK_NAME
