"""Settings of the action server (env prefix ``KEFU_ACTIONS_``).

The order backend (``KEFU_ACTIONS_ORDER_API_URL``, ``KEFU_ACTIONS_ORDERS_DB_URL`` ...) is chosen in
:mod:`shop.settings`, which the router's order panel reads too.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEFU_ACTIONS_", extra="ignore")

    # tests point this at a temporary catalog; the default is the demo shop's catalog
    catalog_path: Path = ROOT / "shop" / "data" / "catalog.yml"
    kb_enabled: bool = Field(default=True, description="answer FAQs from knowledge_base (off: decline politely)")


@lru_cache
def get_settings() -> Settings:
    return Settings()
