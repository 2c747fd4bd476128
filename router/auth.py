"""Users, password hashing (scrypt with a per-user salt), expiring JWTs and the FastAPI auth dependencies.

Roles: ``agent`` (takes conversations), ``content`` (edits the FAQ), ``supervisor`` (watches queues, also takes
conversations), ``admin`` (everything).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from router.errors import KefuError
from router.routing.tables import User
from router.settings import Settings

ROLES = ("agent", "content", "supervisor", "admin")
JWT_ALGORITHM = "HS256"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


class AuthError(KefuError):
    """Missing, malformed, expired or wrong credentials (HTTP 401)."""

    status = 401
    message_zh = "请先登录，或登录已过期，请重新登录。"

    def __init__(self, message: str = "not authenticated") -> None:
        super().__init__(message)

    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": "Bearer"} if self.status == 401 else None


class Forbidden(AuthError):
    """Authenticated but the role does not allow this (HTTP 403)."""

    status = 403
    message_zh = "您的账号没有权限执行此操作。"


class UserExists(Exception):
    def __init__(self, username: str) -> None:
        super().__init__(f"user {username} exists already")
        self.username = username


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        digest = hashlib.scrypt(password.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)


# a hash to compare against when the username is unknown, so both failures take the same time
_DUMMY_HASH = hash_password("kefu-no-such-user")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    id: int
    username: str
    role: str
    display_name: str


def create_user(
    sessions: sessionmaker[Session],
    *,
    username: str,
    password: str,
    display_name: str | None = None,
    role: str = "agent",
    skills: dict[str, int] | None = None,
    languages: Iterable[str] = ("zh",),
    capacity: dict[str, int] | None = None,
    status: str = "offline",
) -> int:
    """Create a user (agent profile included) and return its id. Skills are proficiencies 1-5."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    for skill, level in (skills or {}).items():
        if not 1 <= int(level) <= 5:
            raise ValueError(f"proficiency of {skill} must be 1-5")
    row = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        is_active=True,
        languages=list(languages),
        skills={k: int(v) for k, v in (skills or {}).items()},
        capacity=dict(capacity or {"chat": 3}),
        status=status,
        created_at=time.time(),
    )
    with sessions() as session:
        session.add(row)
        try:
            session.commit()
        except IntegrityError as exc:
            raise UserExists(username) from exc
        return row.id


def authenticate(sessions: sessionmaker[Session], username: str, password: str) -> Principal:
    with sessions() as session:
        row = session.scalar(select(User).where(User.username == username))
    if row is None or not row.is_active:
        verify_password(password, _DUMMY_HASH)
        raise AuthError("wrong username or password")
    if not verify_password(password, row.password_hash):
        raise AuthError("wrong username or password")
    return Principal(id=row.id, username=row.username, role=row.role, display_name=row.display_name)


def issue_token(principal: Principal, settings: Settings, *, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "sub": str(principal.id),
        "usr": principal.username,
        "role": principal.role,
        "name": principal.display_name,
        "iat": issued,
        "exp": issued + settings.token_ttl_s,
    }
    return jwt.encode(claims, settings.secret_key, algorithm=JWT_ALGORITHM)


def decode_token(token: str, settings: Settings) -> Principal:
    try:
        claims = jwt.decode(token, settings.secret_key, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub"]})
        return Principal(
            id=int(claims["sub"]),
            username=str(claims["usr"]),
            role=str(claims["role"]),
            display_name=str(claims["name"]),
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired") from exc
    except (jwt.InvalidTokenError, KeyError, ValueError) as exc:
        raise AuthError("invalid token") from exc


_bearer = HTTPBearer(auto_error=False, description="JWT from POST /api/v1/auth/login")


def get_settings_from_app(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("missing bearer token")
    return decode_token(credentials.credentials, get_settings_from_app(request))


CurrentUser = Annotated[Principal, Depends(current_user)]


def require_role(*roles: str) -> Callable[[Principal], Principal]:
    """Dependency factory: the caller must have one of ``roles`` (admin always passes)."""
    allowed = set(roles) | {"admin"}

    def check(user: CurrentUser) -> Principal:
        if user.role not in allowed:
            raise Forbidden(f"role {user.role} may not do this")
        return user

    check.roles = frozenset(allowed)  # type: ignore[attr-defined]  # read by the route-enumerating security test
    return check


CurrentAgent = Annotated[Principal, Depends(require_role("agent", "supervisor"))]
CurrentSupervisor = Annotated[Principal, Depends(require_role("supervisor"))]


def metrics_reader(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal | None:
    """``/metrics``: the scraper's bearer token from settings (``metrics_token``), or a supervisor's / admin's JWT."""
    settings = get_settings_from_app(request)
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("missing bearer token (KEFU_ROUTER_METRICS_TOKEN or a supervisor's JWT)")
    token = credentials.credentials
    if settings.metrics_token and hmac.compare_digest(token.encode(), settings.metrics_token.encode()):
        return None
    user = decode_token(token, settings)
    if user.role not in ("supervisor", "admin"):
        raise Forbidden(f"role {user.role} may not read metrics")
    return user


metrics_reader.roles = frozenset({"supervisor", "admin"})  # type: ignore[attr-defined]  # read by the route test
