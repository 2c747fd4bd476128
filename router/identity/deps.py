"""FastAPI dependencies of the shopper endpoints. Each route that serves a shopper declares exactly one of them:

* :func:`current_shopper` – ``Authorization: Bearer <visitor_token>`` (web) or ``X-Kefu-Channel-Key`` (shop backend);
* :func:`channel_backend` – ``X-Kefu-Channel-Key`` of that one channel (app / mini-program messages);
* :func:`web_credentials` – optional bearer: the web message endpoints admit anonymous visitors (and hand out a token).

The route-enumerating security test (tests/router/test_route_security.py) recognises routes by these functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from router.identity.errors import ShopperAuthError
from router.identity.service import IdentityService, Shopper

_bearer = HTTPBearer(auto_error=False, description="visitor_token returned by the first web POST /api/v1/messages")
ChannelKeyHeader = Annotated[
    str | None, Header(alias="X-Kefu-Channel-Key", description="the shop backend's key for this channel")
]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def get_identity(request: Request) -> IdentityService:
    identity: IdentityService = request.app.state.identity
    return identity


IdentityDep = Annotated[IdentityService, Depends(get_identity)]


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if credentials is None:
        return None
    if credentials.scheme.lower() != "bearer":
        raise ShopperAuthError("expected Authorization: Bearer <visitor_token>")
    return credentials.credentials


def current_shopper(identity: IdentityDep, credentials: BearerDep, channel_key: ChannelKeyHeader = None) -> Shopper:
    """A web visitor / verified customer (bearer token) or a shop backend (channel key of any channel)."""
    if channel_key is not None:
        return identity.check_channel_key(None, channel_key)
    token = _bearer_token(credentials)
    if token is None:
        raise ShopperAuthError("missing credentials: Authorization: Bearer <visitor_token> or X-Kefu-Channel-Key")
    return identity.shopper_of_token(token)


def channel_backend(channel: str) -> Callable[..., Shopper]:
    """Dependency factory: the request carries the key of ``channel``."""

    def check(identity: IdentityDep, channel_key: ChannelKeyHeader = None) -> Shopper:
        return identity.check_channel_key(channel, channel_key)

    check.channel = channel  # type: ignore[attr-defined]
    return check


def web_credentials(credentials: BearerDep) -> str | None:
    """The web endpoints' optional bearer token (absent: a new anonymous visitor is admitted)."""
    return _bearer_token(credentials)


ShopperDep = Annotated[Shopper, Depends(current_shopper)]
WebBearer = Annotated[str | None, Depends(web_credentials)]
