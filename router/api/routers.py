"""HTTP routers mounted by ``router.app.create_app``; append new routers to ``ROUTERS``."""

from __future__ import annotations

from fastapi import APIRouter

from router.admin import faq_api, supervision_api
from router.api import agents, routing
from router.canned import api as canned_api
from router.operations import ROUTERS as OPERATIONS_ROUTERS
from router.supervision import live_api, quality_api, team_api
from router.web import pages

ROUTERS: list[APIRouter] = [
    agents.auth_router, agents.router, routing.router, faq_api.router, supervision_api.router, team_api.router,
    live_api.router, quality_api.router, pages.router, canned_api.router,
    *OPERATIONS_ROUTERS,
]
