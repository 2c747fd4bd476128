"""Who may read a conversation, and the two answers when they may not: one definition for every domain (the
gateway's agent API, personal-data reveal, outbound delivery status). Supervisors and admins read every
conversation; an agent those she serves (and, where the caller allows it, those nobody serves yet: offered or queued
ones)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from router.conversations.models import Conversation
from router.errors import KefuError


class ConversationNotFound(KefuError):
    """No conversation with this id (or, for a shopper's own calls, none of hers: the same answer for both)."""

    status = 404
    message_zh = "没有找到这个会话。"

    def __init__(self, *, conversation_id: str) -> None:
        super().__init__("conversation not found", conversation_id=conversation_id)
        self.conversation_id = conversation_id


class AssignedToAnotherAgent(KefuError):
    """An agent (not a supervisor) asked for a conversation another agent serves."""

    status = 403
    message_zh = "该会话已分配给其他客服。"

    def __init__(self, *, conversation_id: str, agent_id: int) -> None:
        super().__init__(
            "this conversation is assigned to another agent", conversation_id=conversation_id, agent_id=agent_id
        )
        self.conversation_id = conversation_id
        self.agent_id = agent_id


def staff_conversation(
    session: Session, conversation_id: str, *, staff_id: int, role: str, unassigned_too: bool
) -> Conversation:
    """The conversation this member of staff may read, or the domain error the edge answers with (404 / 403)."""
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise ConversationNotFound(conversation_id=conversation_id)
    allowed = (None, staff_id) if unassigned_too else (staff_id,)
    if role == "agent" and conv.agent_id not in allowed:
        raise AssignedToAnotherAgent(conversation_id=conversation_id, agent_id=staff_id)
    return conv
