"""Who may read a conversation's messages through the polling and SSE endpoints: one small dependency.

Today the conversation id is the shopper's capability (as for ``/conversations/{id}/history``). When shopper
identity lands (visitor tokens, ``X-Kefu-Channel-Key`` for app / mini-program backends), only this function changes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from router.db import session_scope
from router.gateway.models import Conversation


def conversation_reader(conversation_id: str, request: Request) -> str:
    """The conversation the caller may read (404 when it does not exist); returns its id."""
    if len(conversation_id) > 32:
        raise HTTPException(status_code=404, detail="conversation not found")
    with session_scope(request.app.state.sessions) as session:
        if session.get(Conversation, conversation_id) is None:
            raise HTTPException(status_code=404, detail="conversation not found")
    return conversation_id


ReadableConversation = Annotated[str, Depends(conversation_reader)]
