"""Alembic environment: the URL comes from ``-x url=...``, then ``config.attributes['url']`` (router.migrate),
then router.settings; engines are made by ``router.db.make_engine`` so SQLite gets WAL and Postgres psycopg 3."""

from __future__ import annotations

import importlib

from alembic import context
from sqlalchemy import text

from router.db import Base, make_engine
from router.migrate import MODEL_MODULES
from router.singleton import lock_key

for _module in MODEL_MODULES:
    importlib.import_module(_module)

target_metadata = Base.metadata
config = context.config


def include_name(name: str | None, type_: str, _parents: dict[str, str | None]) -> bool:
    """The FAQ corpus tables (``kb_*``) may share the database; knowledge_base.sql_store creates and owns them."""
    return not (type_ == "table" and name is not None and name.startswith("kb_"))


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.attributes.get("url")
    if url:
        return str(url)
    from router.settings import get_settings

    return get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True,
                      include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or make_engine(_url())
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          include_name=include_name)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # replicas starting together on a new database: one migrates, the others wait here and then find
                # the schema at head (without it the second failed creating alembic_version and had to restart)
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key("migrations")})
            context.run_migrations()
    if "engine" not in config.attributes:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
