"""Agent API: login, profile and status, offers (accept / reject), conversations (transfer / close), queue overview,
and the agents' WebSocket (events pushed as JSON, chat messages both ways)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from router.api.deps import EngineDep, PresenceDep, SessionsDep, SettingsDep
from router.api.schemas import (
    AgentOffer,
    AgentOut,
    CloseIn,
    ConversationOut,
    LoginIn,
    StatusIn,
    TokenOut,
    TransferIn,
    agent_out,
)
from router.auth import (
    CurrentAgent,
    CurrentSupervisor,
    CurrentUser,
    Principal,
    authenticate,
    decode_token,
    issue_token,
)
from router.db import session_scope
from router.hub import AgentHub, NoMessageHandler
from router.identity.pii import mask_agent_event
from router.identity.sockets import authenticate_socket, close_when_invalid
from router.presence import PresenceTracker, is_connected
from router.reports.agents import record_status
from router.routing.errors import NotAssigned, RoutingError, UnknownAgent
from router.routing.models import AgentState, AgentStatus, ItemState
from router.routing.protocol import RoutingEngineProtocol
from router.routing.store import ROUTABLE_ROLES as ROUTABLE
from router.services import Services

log = logging.getLogger(__name__)
auth_router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
router = APIRouter(prefix="/api/v1/agents", tags=["agents"])
WS_ROLES = frozenset(ROUTABLE)
API_CONNECTION = "api"  # the presence connection id of an API client that declared connection=api


@auth_router.post("/login", response_model=TokenOut, summary="Log in; returns a bearer JWT")
def login(
    body: LoginIn, sessions: SessionsDep, settings: SettingsDep, engine: EngineDep, presence: PresenceDep
) -> TokenOut:
    principal = authenticate(sessions, body.username, body.password)
    if principal.role in ROUTABLE:
        agent = engine.reload_agent(principal.id)  # pick up profile changes made while the service ran
        _sync_presence(presence, engine, agent)  # her last chosen status counts only with a console connection
    return TokenOut(access_token=issue_token(principal, settings), expires_in=settings.token_ttl_s, role=principal.role)


def _agent(engine: RoutingEngineProtocol, user: Principal) -> AgentState:
    try:
        return engine.get_agent(user.id)
    except UnknownAgent:
        return engine.reload_agent(user.id)


def _sync_presence(tracker: PresenceTracker, engine: RoutingEngineProtocol, agent: AgentState) -> AgentState:
    """Mark the agent connected or not as her connections are right now.  No grace here: the grace is for a
    connection that was lost, not for an agent who has none (e.g. her status was left online yesterday)."""
    connected = is_connected(tracker, agent.id)
    if connected != agent.connected:
        return engine.set_presence(agent.id, connected, reason="agent_not_connected")
    return agent


def _me(engine: RoutingEngineProtocol, agent: AgentState, user: Principal) -> AgentOut:
    offered: dict[str, int] = {}
    for _offer, item in engine.offers_with_items(agent.id):
        if item is not None:
            offered[item.channel] = offered.get(item.channel, 0) + 1
    return agent_out(agent, username=user.username, role=user.role, offered=offered)


@router.get("/me", response_model=AgentOut, summary="Who am I (with routing profile, load and presence)")
def me(user: CurrentUser, engine: EngineDep) -> AgentOut:
    if user.role not in ROUTABLE:
        return AgentOut(id=user.id, username=user.username, display_name=user.display_name, role=user.role)
    return _me(engine, _agent(engine, user), user)


@router.put(
    "/me/status",
    response_model=AgentOut,
    summary="Go online, away or offline (routing needs an open console connection, or connection=api)",
)
def set_status(
    body: StatusIn,
    user: CurrentAgent,
    engine: EngineDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    tracker: PresenceDep,
) -> AgentOut:
    engine.reload_agent(user.id)  # a supervisor may have changed or disabled the profile (404 when disabled)
    if body.status is AgentStatus.offline:  # logging off ends an API client's declared connection
        tracker.closed(user.id, API_CONNECTION)
    elif body.connection == "api":  # an API client without a console: a connection that lasts as long as its token
        tracker.opened(user.id, API_CONNECTION, lease_s=float(settings.token_ttl_s))
    agent = engine.set_status(user.id, body.status)
    agent = _sync_presence(tracker, engine, agent)
    with session_scope(sessions) as session:  # for occupancy (time online) in the per-agent report
        record_status(session, agent_id=user.id, status=body.status.value, at=engine.clock())
    return _me(engine, agent, user)


@router.get("/me/offers", response_model=list[AgentOffer], summary="My pending offers")
def my_offers(user: CurrentAgent, engine: EngineDep) -> list[AgentOffer]:
    return [AgentOffer.of(offer, item) for offer, item in engine.offers_with_items(user.id)]


@router.get("/me/conversations", response_model=list[ConversationOut], summary="Conversations I hold")
def my_conversations(user: CurrentAgent, engine: EngineDep) -> list[ConversationOut]:
    return [ConversationOut.of(item) for item in engine.conversations_for(user.id)]


@router.post("/offers/{offer_id}/accept", response_model=ConversationOut, summary="Accept an offer (atomic claim)")
def accept_offer(offer_id: str, user: CurrentAgent, engine: EngineDep) -> ConversationOut:
    return ConversationOut.of(engine.accept(offer_id, user.id))


@router.post("/offers/{offer_id}/reject", response_model=ConversationOut, summary="Reject an offer")
def reject_offer(offer_id: str, user: CurrentAgent, engine: EngineDep) -> ConversationOut:
    return ConversationOut.of(engine.reject(offer_id, user.id))


@router.post(
    "/conversations/{conversation_id}/transfer",
    response_model=ConversationOut,
    summary="Transfer to another agent or skill, with a note",
)
def transfer(conversation_id: str, body: TransferIn, user: CurrentAgent, engine: EngineDep) -> ConversationOut:
    item = engine.transfer(
        conversation_id, user.id, to_agent_id=body.to_agent_id, to_skill=body.to_skill, note=body.note
    )
    return ConversationOut.of(item)


@router.post("/conversations/{conversation_id}/close", response_model=ConversationOut, summary="Close a conversation")
def close(conversation_id: str, user: CurrentAgent, engine: EngineDep, body: CloseIn | None = None) -> ConversationOut:
    return ConversationOut.of(engine.close(conversation_id, user.id, (body or CloseIn()).reason))


@router.get("/queue", summary="Queue overview per skill (supervisors)")
def queue_overview(user: CurrentSupervisor, engine: EngineDep) -> dict[str, Any]:
    return engine.overview()


# ---------------------------------------------------------------------------------------------- WebSocket
@router.websocket("/ws")
async def agent_socket(websocket: WebSocket) -> None:
    """The first frame authenticates: ``{"type": "auth", "token": "<JWT>"}`` (never the URL: it ends up in logs).
    Events ``{"type": "offer" | "offer_rescinded" | "offer_timed_out" | "assigned" | "message" | "closed", ...}``
    are pushed; the agent may send ``{"type": "message", "conversation_id", "text"}``, ``{"type": "accept" |
    "reject", "offer_id"}`` and ``{"type": "ping"}``.  Close codes: 4401 bad or expired token (also when it expires
    while connected, or the user is disabled), 4403 role not allowed."""
    services: Services = websocket.app.state.services
    await websocket.accept()
    user = await authenticate_socket(websocket, lambda token: decode_token(token, services.settings))
    if user is None:
        return
    if user.role not in WS_ROLES:
        await websocket.close(code=4403, reason="role may not take conversations")
        return
    engine, hub, tracker = services.engine, services.hub, services.presence
    idle_s = services.settings.agent_socket_idle_s
    connection_id = uuid.uuid4().hex
    queue = hub.connect(user.id)
    try:
        await _connected(engine, tracker, user.id, connection_id)
        offers = await run_in_threadpool(engine.offers_with_items, user.id)
        await websocket.send_json(
            {
                "type": "hello",
                "agent_id": user.id,
                "offers": [AgentOffer.of(offer, item).model_dump() for offer, item in offers],
            }
        )
        tasks = [
            asyncio.create_task(_pump(websocket, queue)),
            asyncio.create_task(close_when_invalid(websocket, user, services.sessions, services.settings)),
        ]
        try:
            while True:
                try:  # the console pings every 25 s: a socket silent for longer than idle_s is dead
                    data = await asyncio.wait_for(websocket.receive_json(), timeout=idle_s)
                except TimeoutError:
                    await websocket.close(code=4408, reason="no heartbeat")
                    break
                reply = await _handle(data, user, engine, hub)
                if reply is not None:
                    await websocket.send_json(reply)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    except WebSocketDisconnect:
        pass
    finally:
        hub.disconnect(user.id, queue)
        # the presence monitor makes her unavailable after the grace if this was her last connection; recorded even
        # when this handler is being cancelled (server shutdown, a test client leaving), or she would stay connected
        closing = asyncio.ensure_future(run_in_threadpool(tracker.closed, user.id, connection_id))
        closing.add_done_callback(_log_close_failure)
        with contextlib.suppress(Exception):  # a failure is logged by the callback
            await asyncio.shield(closing)


def _log_close_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:  # Redis away: the connection's expiry ends it anyway
        log.warning("could not record the end of an agent connection", exc_info=task.exception())


async def _connected(
    engine: RoutingEngineProtocol, tracker: PresenceTracker, agent_id: int, connection_id: str
) -> None:
    """Record the new connection and make the agent available at once (if her chosen status is online)."""
    try:
        await run_in_threadpool(tracker.opened, agent_id, connection_id)
    except Exception:  # Redis away: the socket still works; the next refresh records it once Redis is back
        log.warning("could not record agent %s's new connection", agent_id, exc_info=True)

    def mark() -> None:
        try:
            agent = engine.get_agent(agent_id)
        except UnknownAgent:
            agent = engine.reload_agent(agent_id)
        if not agent.connected:
            engine.set_presence(agent_id, True)

    await run_in_threadpool(mark)


async def _pump(websocket: WebSocket, queue: asyncio.Queue[dict[str, Any]]) -> None:
    while True:
        event = await queue.get()
        await websocket.send_json(mask_agent_event(event))  # personal data masked; the console reveals on request


async def _handle(data: Any, user: Principal, engine: RoutingEngineProtocol, hub: AgentHub) -> dict[str, Any] | None:
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return {"type": "error", "reason": "expected a JSON object with a 'type'"}
    kind = data["type"]
    try:
        if kind == "ping":
            return {"type": "pong"}
        if kind in ("accept", "reject"):
            offer_id = data.get("offer_id")
            if not isinstance(offer_id, str):
                return {"type": "error", "reason": "offer_id missing"}
            action = engine.accept if kind == "accept" else engine.reject
            item = await run_in_threadpool(action, offer_id, user.id)
            return {"type": f"{kind}ed", "offer_id": offer_id, "conversation_id": item.conversation_id}
        if kind == "message":
            conversation_id, text = data.get("conversation_id"), data.get("text")
            if not isinstance(conversation_id, str) or not isinstance(text, str) or not 0 < len(text) <= 4000:
                return {"type": "error", "reason": "message needs conversation_id and text (1-4000 characters)"}
            held = await run_in_threadpool(engine.conversations_for, user.id)  # copies the engine's view under its lock
            if not any(i.conversation_id == conversation_id and i.state is ItemState.assigned for i in held):
                raise NotAssigned(conversation_id, user.id)
            await hub.agent_message(user.id, conversation_id, text)
            return {"type": "message_ack", "conversation_id": conversation_id, "client_id": data.get("client_id")}
    except RoutingError as exc:
        return {"type": "error", "reason": exc.message, "code": type(exc).__name__, "message": exc.message_zh}
    except NoMessageHandler:
        return {"type": "error", "reason": "messages cannot be delivered right now"}
    except Exception as exc:  # a fault in a handler must not kill the agent's socket
        log.exception("agent socket handler failed")
        return {"type": "error", "reason": f"internal error: {type(exc).__name__}"}
    return {"type": "error", "reason": f"unknown type {kind!r}"}
