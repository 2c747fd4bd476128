"""Endpoints for the shop's backend (server to server, ``X-Kefu-Channel-Key``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from router.gateway.service import GatewayService
from router.identity.deps import channel_backend
from router.identity.errors import ReservedCustomerId
from router.identity.schemas import CUSTOMER_ID
from router.identity.service import RESERVED_PREFIXES, Shopper

router = APIRouter(prefix="/api/v1/channels", tags=["shop backend"])


class Binding(BaseModel):
    model_config = ConfigDict(extra="forbid")
    openid: str = Field(min_length=1, max_length=128)
    customer_id: str = Field(min_length=1, max_length=128, pattern=CUSTOMER_ID)


@router.put("/miniprogram/bindings", status_code=204, summary="Bind a mini-program openid to the shop's customer")
async def bind_openid(
    body: Binding, request: Request, _backend: Annotated[Shopper, Depends(channel_backend("miniprogram"))]
) -> None:
    """After the shopper logged in inside the mini-program, the shop's backend binds the openid: from then on its
    messages belong to that customer (orders, history across channels)."""
    if body.customer_id.startswith(RESERVED_PREFIXES):
        raise ReservedCustomerId(body.customer_id)
    gateway: GatewayService = request.app.state.gateway
    await run_in_threadpool(
        lambda: gateway.link_identity(channel="miniprogram", external_id=body.openid, customer_id=body.customer_id)
    )
