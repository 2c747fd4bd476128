"""Demo accounts for `make run` (dev mode only): a few agents with different skills, content staff, a supervisor and an
administrator (the app callback settings and dead letters are theirs alone)."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from router.auth import create_user
from router.routing.tables import User

log = logging.getLogger(__name__)

DEMO_USERS: list[dict[str, object]] = [
    {
        "username": "agent1",
        "display_name": "小美",
        "role": "agent",
        "skills": {"after_sales": 5, "general": 4, "logistics": 3},
    },
    {
        "username": "agent2",
        "display_name": "小刚",
        "role": "agent",
        "skills": {"logistics": 5, "general": 3, "product": 4},
    },
    {"username": "agent3", "display_name": "小芳", "role": "agent", "skills": {"billing": 5, "vip": 4, "general": 3}},
    {"username": "content1", "display_name": "内容运营", "role": "content"},
    {"username": "supervisor1", "display_name": "值班主管", "role": "supervisor", "skills": {"general": 3, "vip": 5}},
    {"username": "admin1", "display_name": "系统管理员", "role": "admin"},
]


def seed_demo_users(app: FastAPI) -> None:
    """Create the demo accounts (password ``<username>-pass``) when the user table is empty; never in prod."""
    settings = app.state.settings
    if settings.env != "dev":
        raise RuntimeError("demo users are for dev mode only")
    sessions = app.state.sessions
    with sessions() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return
    for spec in DEMO_USERS:
        username = str(spec["username"])
        create_user(sessions, password=f"{username}-pass", **spec)  # type: ignore[arg-type]
    for agent_id in _agent_ids(app):
        app.state.engine.reload_agent(agent_id)
    log.info("created %d demo users", len(DEMO_USERS))
    from router.canned.demo import seed_demo_canned

    log.info("created %d demo canned replies", seed_demo_canned(sessions))


def _agent_ids(app: FastAPI) -> list[int]:
    with app.state.sessions() as session:
        return list(session.scalars(select(User.id).where(User.role.in_(("agent", "supervisor")))))


async def seed_demo_users_hook(app: FastAPI) -> None:
    await run_in_threadpool(seed_demo_users, app)
