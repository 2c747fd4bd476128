"""Database migrations (Alembic) as a function: ``upgrade(url)`` at app start and in tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

HERE = Path(__file__).resolve().parent
# modules that define tables on router.db.Base; add yours here so autogenerate and `alembic check` see them
MODEL_MODULES: list[str] = [
    "router.routing.tables",
    "router.conversations.models",
    "router.tickets.models",
    "router.alerts.models",
    "router.learning.models",
    "router.outbound.models",
    "router.supervision.models",
    "router.identity.models",
    "router.canned.models",
]


def alembic_config(url: str | None = None, engine: Engine | None = None) -> Config:
    config = Config(str(HERE / "alembic.ini"))
    config.set_main_option("script_location", str(HERE / "migrations"))
    if url is not None:
        config.attributes["url"] = url
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade(url: str | None = None, revision: str = "head", *, engine: Engine | None = None) -> None:
    """Bring the database at ``url`` (or the given engine's) to ``revision``."""
    command.upgrade(alembic_config(url, engine), revision)


def downgrade(url: str | None = None, revision: str = "base", *, engine: Engine | None = None) -> None:
    command.downgrade(alembic_config(url, engine), revision)
