"""Which conversations a member of staff may read through the agent API: supervisors and admins every one, an agent
those she serves (and, where the caller allows it, those nobody serves yet: offered or queued ones)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from router.auth import Principal
from router.conversations.models import Conversation
from router.errors import KefuError


class StaffConversationNotFound(KefuError):
    status = 404
    message_zh = "没有找到这个会话。"

    def __init__(self, conversation_id: str) -> None:
        super().__init__("conversation not found", conversation_id=conversation_id)


class AssignedToAnotherAgent(KefuError):
    status = 403
    message_zh = "该会话已分配给其他客服。"

    def __init__(self, conversation_id: str, agent_id: int) -> None:
        super().__init__("this conversation is assigned to another agent", conversation_id=conversation_id,
                         agent_id=agent_id)


def staff_conversation(
    session: Session, conversation_id: str, staff: Principal, *, unassigned_too: bool
) -> Conversation:
    """The conversation ``staff`` may read, or the domain error the edge answers with (404 / 403)."""
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise StaffConversationNotFound(conversation_id)
    allowed = (None, staff.id) if unassigned_too else (staff.id,)
    if staff.role == "agent" and conv.agent_id not in allowed:
        raise AssignedToAnotherAgent(conversation_id, staff.id)
    return conv
