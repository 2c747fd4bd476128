"""Two gateways (as two router replicas) on one throw-away PostgreSQL database; the Rasa server is down (a closed
loopback port), so every message takes the "bot unavailable" path, which stores a polite reply."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from router.db import make_engine, make_session_factory
from router.gateway.limits import LocalRateLimiter
from router.gateway.push import CustomerSockets, LocalPush
from router.gateway.rasa_client import RasaClient
from router.gateway.routing_adapter import EngineQueue
from router.gateway.service import GatewayService
from router.migrate import upgrade
from router.routing.engine import RoutingEngine
from router.routing.store import SqlStore
from router.sentiment import SentimentAnalyzer
from router.settings import Settings
from router.tickets.service import TicketService
from tests.router.ops_support import fresh_pg_url

REPO = Path(__file__).resolve().parents[3]
ARTIFACT = Settings().sentiment_model_path  # the committed model (router/sentiment/model)


@pytest.fixture(scope="session")
def analyzer() -> SentimentAnalyzer:
    return SentimentAnalyzer.load(ARTIFACT)


@pytest.fixture()
def pg() -> Iterator[tuple[Engine, sessionmaker[Session]]]:
    with fresh_pg_url() as url:
        engine = make_engine(url)
        upgrade(engine=engine)
        yield engine, make_session_factory(engine)
        engine.dispose()


async def _no_agent_push(agent_id: int, event: dict[str, object]) -> None:
    return None


def make_gateway(engine: Engine, analyzer: SentimentAnalyzer) -> GatewayService:
    """One replica's gateway: its own routing engine, locks and push, the shared database."""
    from tests.procs import free_port  # bound and released: nothing listens there

    sessions = make_session_factory(engine)
    return GatewayService(
        session_factory=sessions,
        rasa=RasaClient(base_url=f"http://127.0.0.1:{free_port()}", token="t", timeout_s=1.0),
        sentiment=analyzer,
        queue=EngineQueue(RoutingEngine(SqlStore(engine))),
        tickets=TicketService(sessions),
        push=LocalPush(CustomerSockets(), _no_agent_push),
        rate_limiter=LocalRateLimiter(limit=1000, window_s=60.0),
    )
