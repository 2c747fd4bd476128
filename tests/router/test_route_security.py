"""Every route of the app, enumerated from its FastAPI router, refuses missing, forged, expired and other-owner
credentials; a route that is neither guarded nor declared public fails the first test. So an endpoint added later is
covered without anyone remembering to write its test.

A route's guard is read from its dependencies: staff (``router.auth.current_user``, ``require_role``, ``/metrics``),
shopper (``router.identity.deps.current_shopper``) or shop backend (``channel_backend``). WebSockets authenticate
with their first frame and are listed in :data:`SOCKETS`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from fastapi import APIRouter, FastAPI, WebSocket
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import update
from starlette.routing import Route
from starlette.websockets import WebSocketDisconnect

from router.app import create_app
from router.auth import Principal, create_user, current_user, issue_token
from router.clock import utcnow
from router.db import make_engine, make_session_factory
from router.identity.deps import current_shopper
from router.identity.models import ChannelKey
from router.identity.service import IdentityService, digest
from router.migrate import upgrade
from router.settings import Settings
from tests.procs import free_port

pytestmark = pytest.mark.slow
PASSWORD = "route-security-pass"
JWT_SECRET = "route-security-jwt-secret-0123456789abcdef"

# (method, path) -> why anyone may call it
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "liveness probe, no data",
    ("POST", "/api/v1/auth/login"): "the login itself",
    ("POST", "/api/v1/messages"): "web visitors start anonymous; app / mini-program need their key (tested below)",
    ("POST", "/api/v1/channels/web/messages"): "web visitors start anonymous (the widget's REST fallback)",
    ("POST", "/api/v1/channels/web/session"): "proved by the identity hash (tests/router/identity)",
    ("GET", "/chat"): "page", ("GET", "/chat/embed"): "page", ("GET", "/widget.js"): "page",
    ("GET", "/favicon.ico"): "the site icon",
    ("GET", "/agent"): "page (its data needs a login)", ("GET", "/admin/faq"): "page (its data needs a login)",
    ("GET", "/dashboard"): "page (its data needs a login)", ("GET", "/admin"): "redirect",
    ("GET", "/static/web/{path:path}"): "static files",
    ("GET", "/openapi.json"): "API description", ("GET", "/docs"): "API docs",
    ("GET", "/docs/oauth2-redirect"): "API docs", ("GET", "/redoc"): "API docs",
    ("GET", "/agent/reviews"): "page (its data needs a login)",
    ("GET", "/supervisor"): "page (its data needs a login)",
    ("GET", "/admin/team"): "page (its data needs a login)",
    ("GET", "/admin/outbound"): "page (its data needs a login)",
    # WeChat's servers call these; each request carries WeChat's signature over the shop's token, checked in the
    # handler (tests/router/outbound/test_push_and_admin.py refuses a forged one)
    ("GET", "/api/v1/channels/miniprogram/push"): "WeChat's URL verification (signed)",
    ("POST", "/api/v1/channels/miniprogram/push"): "WeChat's message push (signed)",
}
# WebSocket path -> guard (they authenticate in the handler, by the first frame)
SOCKETS = {"/api/v1/agents/ws": "staff", "/api/v1/channels/web/ws": "shopper"}
# valid bodies, so that the other-owner check reaches the ownership check instead of stopping at validation (422)
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/conversations/{conversation_id}/survey"): {"rating": 5},
    ("POST", "/api/v1/agents/conversations/{conversation_id}/messages"): {"text": "您好"},
    ("POST", "/api/v1/agents/conversations/{conversation_id}/transfer"): {"to_skill": "billing"},
    ("POST", "/api/v1/channels/app/messages"): {"user_id": "u-sec", "text": "你好"},
    ("POST", "/api/v1/channels/miniprogram/messages"): {"openid": "o-sec", "content": "你好"},
}
ROLES = ("agent", "content", "supervisor", "admin")


@dataclass(frozen=True)
class Guarded:
    method: str  # GET, POST, ... or WS
    path: str
    guard: str  # staff | shopper | backend
    roles: frozenset[str] | None = None  # staff routes limited to these roles (None: any staff)
    channel: str | None = None  # backend routes: the key's channel

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def _calls(dependant: Any) -> Iterator[Callable[..., Any]]:
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from _calls(dep)


def _guard(context: Any, method: str) -> Guarded | None:
    path = context.path
    for call in _calls(context.dependant):
        if call is current_shopper:
            return Guarded(method, path, "shopper")
        if getattr(call, "channel", None):
            return Guarded(method, path, "backend", channel=call.channel)
        if hasattr(call, "roles"):
            return Guarded(method, path, "staff", roles=frozenset(call.roles))
        if call is current_user:
            return Guarded(method, path, "staff")
    return None


def enumerate_routes(app: FastAPI) -> tuple[list[Guarded], list[str]]:
    """(guarded routes, routes that are neither guarded nor declared public), with included routers flattened."""
    guarded: list[Guarded] = []
    unguarded: list[str] = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIWebSocketRoute):
            if context.path in SOCKETS:
                guarded.append(Guarded("WS", context.path, SOCKETS[context.path]))
            else:
                unguarded.append(f"WS {context.path}")
            continue
        if not isinstance(route, APIRoute | Route):
            unguarded.append(f"{type(route).__name__} {context.path}")  # a mount or a new kind of route: look at it
            continue
        for method in sorted((context.methods or set()) - {"HEAD"}):
            if (method, context.path) in PUBLIC:
                continue
            found = _guard(context, method) if isinstance(route, APIRoute) else None
            if found is None:
                unguarded.append(f"{method} {context.path}")
            else:
                guarded.append(found)
    return guarded, unguarded


def _settings(url: str = "sqlite://") -> Settings:
    return Settings(
        database_url=url,
        rasa_url=f"http://127.0.0.1:{free_port()}",
        rasa_timeout_s=2.0,
        secret_key=JWT_SECRET,
        web_identity_secret="route-security-web-secret-0123456789abcdef",
        metrics_token="route-security-metrics-token-0123456789",
        operations_background=False,
    )


GUARDED, UNGUARDED = enumerate_routes(create_app(_settings(), with_gateway=True))


@dataclass
class World:
    client: TestClient
    tokens: dict[str, str]  # staff role -> JWT; "agent2" another agent
    expired_staff: str
    victim: str  # visitor token owning conversation `conversation`
    attacker: str  # another visitor's token
    expired_visitor: str
    conversation: str  # the victim visitor's conversation
    customer: str
    assigned: str  # a conversation held by the "agent" user (not by agent2)
    keys: dict[str, str]
    revoked_key: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("route-security")
    url = f"sqlite:///{tmp / 'sec.db'}"
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    for role in ROLES:
        create_user(sessions, username=f"s-{role}", password=PASSWORD, role=role, skills={"general": 3})
    create_user(sessions, username="s-agent2", password=PASSWORD, role="agent", skills={"general": 3})
    with TestClient(create_app(_settings(url), with_gateway=True)) as client:
        identity: IdentityService = client.app.state.identity  # type: ignore[attr-defined]
        tokens = {}
        for name in (*ROLES, "agent2"):
            username = f"s-{name}" if name != "agent2" else "s-agent2"
            resp = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
            tokens[name] = resp.json()["access_token"]
        admin = jwt.decode(tokens["admin"], JWT_SECRET, algorithms=["HS256"])
        expired_staff = issue_token(
            Principal(id=int(admin["sub"]), username="s-admin", role="admin", display_name="s-admin"),
            client.app.state.settings,  # type: ignore[attr-defined]
            now=time.time() - 10 * 24 * 3600,
        )
        first = client.post("/api/v1/messages", json={"channel": "web", "text": "我的手机号13812345678"}).json()
        attacker = client.post("/api/v1/messages", json={"channel": "web", "text": "你好"}).json()["visitor_token"]
        keys = {channel: identity.rotate_channel_key(channel) for channel in ("app", "miniprogram")}
        revoked = identity.rotate_channel_key("app", keep_old=True)
        with sessions.begin() as session:
            session.execute(
                update(ChannelKey).where(ChannelKey.key_hash == digest(revoked)).values(revoked_at=utcnow())
            )
        # a conversation the "agent" user holds
        held = client.post(
            "/api/v1/messages", json={"channel": "app", "customer_id": "c-held", "text": "你好"},
            headers={"X-Kefu-Channel-Key": keys["app"]},
        ).json()["conversation_id"]
        auth = {"Authorization": f"Bearer {tokens['agent']}"}
        client.put("/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=auth)
        handoff = {"conversation_id": held, "customer_id": "c-held", "skill": "general"}
        created = client.post(
            "/api/v1/routing/handoffs", json=handoff, headers={"Authorization": f"Bearer {tokens['supervisor']}"}
        )
        assert created.status_code == 201, created.text
        [offer] = client.get("/api/v1/agents/me/offers", headers=auth).json()
        assert client.post(f"/api/v1/agents/offers/{offer['id']}/accept", headers=auth).status_code == 200
        yield World(
            client=client,
            tokens=tokens,
            expired_staff=expired_staff,
            victim=first["visitor_token"],
            attacker=attacker,
            expired_visitor=identity.issue_token(
                first["customer_id"], verified=False, now=utcnow() - timedelta(days=400)
            ),
            conversation=first["conversation_id"],
            customer=first["customer_id"],
            assigned=held,
            keys=keys,
            revoked_key=revoked,
        )


def _path(route: Guarded, world: World, *, held: bool = False) -> str:
    values = {"conversation_id": world.assigned if held else world.conversation, "customer_id": world.customer}
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), "1"), route.path)


def _call(world: World, route: Guarded, headers: dict[str, str], *, held: bool = False) -> Any:
    body = BODIES.get((route.method, route.path), {}) if route.method in ("POST", "PUT", "PATCH") else None
    path = _path(route, world, held=held)
    if route.method == "GET" and route.path.endswith("/events"):
        # a Server-Sent Events stream never ends by itself: the status and the first chunk are the answer
        with world.client.stream("GET", path, headers=headers) as resp:
            if resp.status_code >= 400:  # a refusal is a whole, short answer
                resp.read()
                return resp
            first = next(resp.iter_text(), "")
            return SimpleNamespace(status_code=resp.status_code, text=first)
    return world.client.request(route.method, path, json=body, headers=headers)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _credentials(world: World, route: Guarded) -> dict[str, dict[str, str]]:
    """missing / forged / expired credentials of the route's kind."""
    if route.guard == "staff":
        forged = jwt.encode({"sub": "1", "usr": "x", "role": "admin", "name": "x", "exp": time.time() + 3600},
                            "not-the-secret-0123456789-0123456789", algorithm="HS256")
        return {"missing": {}, "forged": _bearer(forged), "expired": _bearer(world.expired_staff)}
    if route.guard == "shopper":
        return {"missing": {}, "forged": _bearer("kv_" + "f" * 43), "expired": _bearer(world.expired_visitor)}
    return {"missing": {}, "forged": {"X-Kefu-Channel-Key": "kk_app_" + "f" * 43},
            "expired": {"X-Kefu-Channel-Key": world.revoked_key}}


def test_every_route_is_guarded_or_declared_public() -> None:
    assert not UNGUARDED, f"routes with no credential check: {UNGUARDED} (guard them, or add them to PUBLIC)"
    assert len(GUARDED) >= 40, [r.id for r in GUARDED]  # the enumeration really saw the app


HTTP = [r for r in GUARDED if r.method != "WS"]


@pytest.mark.parametrize("route", HTTP, ids=[r.id for r in HTTP])
def test_route_refuses_missing_forged_and_expired_credentials(world: World, route: Guarded) -> None:
    for kind, headers in _credentials(world, route).items():
        resp = _call(world, route, headers)
        assert resp.status_code == 401, (kind, route.id, resp.status_code, resp.text[:200])
        assert resp.json()["detail"] and resp.json()["message"], (kind, route.id)  # English and Chinese reasons


@pytest.mark.parametrize("route", HTTP, ids=[r.id for r in HTTP])
def test_route_refuses_other_owners(world: World, route: Guarded) -> None:
    checked = False
    if route.guard == "shopper":
        resp = _call(world, route, _bearer(world.attacker))
        assert resp.status_code == 404, (route.id, resp.status_code, resp.text[:200])
        assert "13812345678" not in resp.text
        owner = _call(world, route, _bearer(world.victim))
        assert owner.status_code < 400, (route.id, "the owner must pass", owner.status_code, owner.text[:200])
        checked = True
    elif route.guard == "backend":
        other = "miniprogram" if route.channel == "app" else "app"
        resp = _call(world, route, {"X-Kefu-Channel-Key": world.keys[other]})
        assert resp.status_code == 403, (route.id, resp.status_code, resp.text[:200])
        checked = True
    else:
        if route.roles is not None:
            for role in sorted(set(ROLES) - route.roles):
                resp = _call(world, route, _bearer(world.tokens[role]))
                assert resp.status_code == 403, (route.id, role, resp.status_code, resp.text[:200])
                checked = True
        if "{conversation_id}" in route.path and "agent" in (route.roles or {"agent"}):
            resp = _call(world, route, _bearer(world.tokens["agent2"]), held=True)
            assert resp.status_code in (403, 404, 409), (route.id, resp.status_code, resp.text[:200])
            checked = True
    if not checked:
        # no other owner exists: any logged-in staff member may call it and it names no one's object (missing, forged
        # and expired credentials are refused: test_route_refuses_missing_forged_and_expired_credentials)
        assert route.guard == "staff" and route.roles is None and "{conversation_id}" not in route.path, route.id


SOCKET_ROUTES = [r for r in GUARDED if r.method == "WS"]


def _socket_close_code(world: World, path: str, first: dict[str, Any]) -> int:
    with pytest.raises(WebSocketDisconnect) as closed:
        with world.client.websocket_connect(path) as ws:
            ws.send_json(first)
            for _ in range(5):  # a socket that stays open fails here (no disconnect raised)
                ws.receive_json()
    return closed.value.code


@pytest.mark.parametrize("route", SOCKET_ROUTES, ids=[r.id for r in SOCKET_ROUTES])
def test_sockets_refuse_missing_forged_and_expired_credentials(world: World, route: Guarded) -> None:
    for kind, headers in _credentials(world, route).items():
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        first = {"type": "auth", "token": token} if token else {"type": "ping"}
        assert _socket_close_code(world, route.path, first) == 4401, (kind, route.id)
    if route.guard == "staff":  # a role that may not take conversations
        assert _socket_close_code(world, route.path, {"type": "auth", "token": world.tokens["content"]}) == 4403


def test_a_new_endpoint_without_a_guard_is_reported() -> None:
    """The enumeration sees routers added later, including ones mounted through ``create_app(routers=...)``."""
    extra = APIRouter(prefix="/api/v1/new")

    @extra.get("/conversations/{conversation_id}")
    def leak(conversation_id: str) -> dict[str, str]:
        return {"conversation_id": conversation_id}

    @extra.websocket("/ws")
    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()

    _, unguarded = enumerate_routes(create_app(_settings(), with_gateway=True, routers=[extra]))
    assert unguarded == ["GET /api/v1/new/conversations/{conversation_id}", "WS /api/v1/new/ws"]


def test_the_site_icon_is_served(world: World) -> None:
    """Every page's browser asks for /favicon.ico; a 404 there was an error in each page's console."""
    res = world.client.get("/favicon.ico")
    assert res.status_code == 200 and res.headers["content-type"].startswith("image/svg+xml")
