"""HTTP routers mounted by ``router.app.create_app``; append new routers to ``ROUTERS``."""

from __future__ import annotations

from fastapi import APIRouter

from router.api import agents, routing

ROUTERS: list[APIRouter] = [agents.auth_router, agents.router, routing.router]
