"""The gateway's FastAPI dependencies: the services built once in the lifespan (router/gateway/wiring.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from router.gateway.context import ContextBuilder
from router.gateway.service import GatewayService


def get_gateway(request: Request) -> GatewayService:
    gateway: GatewayService = request.app.state.gateway
    return gateway


def get_context_builder(request: Request) -> ContextBuilder:
    builder: ContextBuilder = request.app.state.context_builder
    return builder


GatewayDep = Annotated[GatewayService, Depends(get_gateway)]
ContextDep = Annotated[ContextBuilder, Depends(get_context_builder)]
