"""What handling one inbound message produced, before it becomes the wire response."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from router.gateway.ports import QueuePlace
from router.gateway.schemas import MessageResponse, QueueInfo, Reply


@dataclass
class Outcome:
    conversation_id: str
    owner: str
    replies: list[Reply] = field(default_factory=list)
    queue: QueuePlace | None = None
    message_id: int | None = None
    sentiment: dict[str, Any] | None = None
    pending: bool = False  # a duplicate of a message whose answer another request is still producing
    survey_done: bool = False  # a typed rating closed the survey: the widget's stars close too

    def response(self) -> MessageResponse:
        return MessageResponse(
            conversation_id=self.conversation_id,
            owner=self.owner,  # type: ignore[arg-type]
            replies=self.replies,
            queue=QueueInfo(position=self.queue.position, eta_s=self.queue.eta_s) if self.queue else None,
            message_id=self.message_id,
            sentiment=self.sentiment,
        )
