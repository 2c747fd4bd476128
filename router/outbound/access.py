"""Who may read a conversation's messages through the polling and SSE endpoints: one small dependency.

The owner only, as for ``/conversations/{id}/history``: a web visitor's token or a verified customer's, or the shop's
backend with its channel key vouching for the customer (router/identity). Another owner gets 404, as for an unknown
conversation, so the answer never confirms that an id exists.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from router.conversations.models import Conversation
from router.db import session_scope
from router.identity.deps import ShopperDep
from router.identity.errors import NotYours


def conversation_reader(conversation_id: str, request: Request, shopper: ShopperDep) -> str:
    """The conversation the caller owns (404 when it does not exist or is someone else's); returns its id."""
    if len(conversation_id) > 32:
        raise NotYours("conversation")
    with session_scope(request.app.state.sessions) as session:
        conv = session.get(Conversation, conversation_id)
        if conv is None or not shopper.owns(conv.customer_id):
            raise NotYours("conversation")
    return conversation_id


ReadableConversation = Annotated[str, Depends(conversation_reader)]
