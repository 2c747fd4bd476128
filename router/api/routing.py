"""Routing operations for supervisors and tools: queue a conversation, queue feedback, abandon, rescind.

The gateway calls the engine in-process; these endpoints expose the same operations over HTTP.
"""

from __future__ import annotations

from fastapi import APIRouter

from router.api.deps import EngineDep
from router.api.schemas import AgentOffer, ConversationOut, HandoffIn, QueueStatusOut
from router.auth import CurrentSupervisor

router = APIRouter(prefix="/api/v1/routing", tags=["routing"])


@router.post("/handoffs", response_model=QueueStatusOut, status_code=201, summary="Queue a conversation for a human")
def create_handoff(body: HandoffIn, user: CurrentSupervisor, engine: EngineDep) -> QueueStatusOut:
    """409 ``NoAgentOnline`` when nobody who could take it is online (offer the shopper to leave a message)."""
    engine.enqueue(
        conversation_id=body.conversation_id,
        customer_id=body.customer_id,
        skill=body.skill,
        priority=body.priority,
        channel=body.channel,
        language=body.language,
        reason=body.reason,
        note=body.note,
    )
    return status(body.conversation_id, user, engine)


@router.get("/conversations/{conversation_id}/status", response_model=QueueStatusOut, summary="Queue position and ETA")
def status(conversation_id: str, user: CurrentSupervisor, engine: EngineDep) -> QueueStatusOut:
    st = engine.status_of(conversation_id)
    return QueueStatusOut(
        conversation_id=conversation_id,
        state=st.state,
        position=st.position,
        eta_s=st.eta_s,
        agents_online=st.agents_online,
    )


@router.post("/conversations/{conversation_id}/abandon", response_model=ConversationOut, summary="The shopper left")
def abandon(conversation_id: str, user: CurrentSupervisor, engine: EngineDep) -> ConversationOut:
    return ConversationOut.of(engine.abandon(conversation_id))


@router.post("/offers/{offer_id}/rescind", response_model=ConversationOut, summary="Withdraw a pending offer")
def rescind(offer_id: str, user: CurrentSupervisor, engine: EngineDep) -> ConversationOut:
    return ConversationOut.of(engine.rescind(offer_id))


@router.get("/offers", response_model=list[AgentOffer], summary="All pending offers")
def pending_offers(user: CurrentSupervisor, engine: EngineDep) -> list[AgentOffer]:
    return [AgentOffer.of(offer, item) for offer, item in engine.offers_with_items()]
