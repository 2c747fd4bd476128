"""First-frame authentication of WebSockets: no long-lived secret in a URL (they end up in proxy and access logs).

The client opens the socket and sends ``{"type": "auth", "token": "..."}`` as its first frame within
:data:`AUTH_TIMEOUT_S`; anything else closes the socket with code 4401.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import TypeVar

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from router.auth import JWT_ALGORITHM, AuthError, Principal
from router.identity.service import IdentityService, Shopper
from router.routing.tables import User
from router.settings import Settings

AUTH_TIMEOUT_S = 10.0
USER_CHECK_S = 30.0  # how soon a disabled agent's open socket is closed
T = TypeVar("T")


async def first_frame_token(websocket: WebSocket, timeout_s: float = AUTH_TIMEOUT_S) -> str | None:
    """The token of the first frame; closes the socket (4401) and returns None when there is none."""
    try:
        raw = await asyncio.wait_for(websocket.receive_text(), timeout_s)
        data = json.loads(raw)
        token = data.get("token") if isinstance(data, dict) and data.get("type") == "auth" else None
    except (TimeoutError, ValueError, KeyError):
        token = None
    except WebSocketDisconnect:
        return None
    if not isinstance(token, str) or not token:
        await websocket.close(code=4401, reason='first frame must be {"type": "auth", "token": ...}')
        return None
    return token


async def authenticate_socket(websocket: WebSocket, check: Callable[[str], T]) -> T | None:
    """Run ``check`` on the first frame's token; on :class:`AuthError` close with 4401 (or 4403) and return None."""
    token = await first_frame_token(websocket)
    if token is None:
        return None
    websocket.scope["kefu.token"] = token  # close_when_invalid reads its expiry
    try:
        return await run_in_threadpool(check, token)
    except AuthError as exc:
        await websocket.close(code=4403 if exc.status == 403 else 4401, reason=exc.message[:120])
        return None


async def first_frame_shopper(websocket: WebSocket, identity: IdentityService) -> Shopper | None:
    return await authenticate_socket(websocket, identity.shopper_of_token)


async def close_when_invalid(
    websocket: WebSocket,
    user: Principal,
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    check_every_s: float | None = None,
) -> None:
    """Close a staff socket (4401) when its JWT expires or its user is disabled or deleted (checked every
    ``check_every_s``, default :data:`USER_CHECK_S`)."""
    check_every_s = check_every_s or USER_CHECK_S
    expires_at = _expiry(websocket, settings)
    while True:
        remaining = expires_at - time.time() if expires_at is not None else check_every_s
        if remaining <= 0:
            await websocket.close(code=4401, reason="token expired")
            return
        await asyncio.sleep(min(check_every_s, remaining))
        if expires_at is not None and time.time() >= expires_at:
            await websocket.close(code=4401, reason="token expired")
            return
        active = await run_in_threadpool(_is_active, sessions, user.id)
        if not active:
            await websocket.close(code=4401, reason="user disabled")
            return


def _expiry(websocket: WebSocket, settings: Settings) -> float | None:
    token = websocket.scope.get("kefu.token")
    if not isinstance(token, str):
        return None
    try:
        claims = jwt.decode(token, settings.secret_key, algorithms=[JWT_ALGORITHM])
    except jwt.InvalidTokenError:
        return time.time()
    return float(claims["exp"])


def _is_active(sessions: sessionmaker[Session], user_id: int) -> bool:
    with sessions() as session:
        return bool(session.scalar(select(User.is_active).where(User.id == user_id)))
