"""Build the identity service into the app (called from the gateway's install, in the lifespan)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from router.identity.service import IdentityService
from router.settings import Settings


def build_identity(app: FastAPI, settings: Settings) -> IdentityService:
    """The app's identity service (once, on ``app.state.identity``); in dev mode with demo users, the demo keys too."""
    secret = settings.web_identity_secret
    if settings.env == "dev" and settings.demo_users:
        from router.identity.demo import install_demo_keys

        keys = install_demo_keys(
            IdentityService(session_factory=app.state.sessions, web_identity_secret=None, visitor_token_ttl_s=1),
            settings.demo_keys_path,
        )
        secret = secret or keys["web_identity_secret"]
    identity = IdentityService(
        session_factory=app.state.sessions, web_identity_secret=secret, visitor_token_ttl_s=settings.visitor_token_ttl_s
    )
    app.state.identity = identity
    return identity


def identity_routers() -> list[APIRouter]:
    from router.identity import admin_api, backend_api

    return [admin_api.router, backend_api.router]
