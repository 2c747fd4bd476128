"""Learning-loop proposals: clusters of questions the bot handled badly, offered to content staff as FAQ changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from router.clock import utcnow
from router.db import Base


class Proposal(Base):
    """``new_entry``: a question the FAQ lacks (with the agents' answer as a draft); ``paraphrase``: new ways of
    asking an existing entry (``faq_id``)."""

    __tablename__ = "faq_proposals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # new_entry | paraphrase
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending | accepted | rejected
    faq_id: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    question: Mapped[str] = mapped_column(Text)
    paraphrases: Mapped[list[str]] = mapped_column(JSON, default=list)
    answer: Mapped[str | None] = mapped_column(Text)
    similarity: Mapped[float | None] = mapped_column(Float)  # to the nearest existing entry
    size: Mapped[int] = mapped_column(Integer)  # questions in the cluster
    message_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    conversation_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[int | None] = mapped_column(Integer)
    result_faq_id: Mapped[str | None] = mapped_column(String(64))
