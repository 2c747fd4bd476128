"""cluster integrity: one open conversation per customer, one automatic ticket per conversation, one alert per
signal and cool-down slot (unique keys, so two replicas racing cannot create duplicates)

Revision ID: 0006_cluster_integrity
Revises: 0005_identity
Create Date: 2026-12-06 10:10:00

Rows that already break the new rules are kept, not deleted: older duplicate open conversations are closed (as
abandoned), duplicate automatic tickets are marked ``source='duplicate'``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_cluster_integrity"
down_revision: str | Sequence[str] | None = "0005_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("status = 'open'")
AUTO_TICKET = sa.text("source IN ('unresolved', 'leave_message')")


def upgrade() -> None:
    op.execute(
        """
        UPDATE conversations
        SET status = 'closed', closed_at = updated_at, resolution = COALESCE(resolution, 'abandoned')
        WHERE status = 'open' AND EXISTS (
            SELECT 1 FROM conversations AS newer
            WHERE newer.customer_id = conversations.customer_id AND newer.status = 'open'
              AND (newer.created_at > conversations.created_at
                   OR (newer.created_at = conversations.created_at AND newer.id > conversations.id)))
        """
    )
    op.create_index(
        "uq_conversations_one_open", "conversations", ["customer_id"], unique=True,
        sqlite_where=OPEN, postgresql_where=OPEN,
    )
    op.execute(
        """
        UPDATE tickets SET source = 'duplicate'
        WHERE source IN ('unresolved', 'leave_message') AND conversation_id IS NOT NULL AND EXISTS (
            SELECT 1 FROM tickets AS first
            WHERE first.conversation_id = tickets.conversation_id AND first.source IN ('unresolved', 'leave_message')
              AND first.id < tickets.id)
        """
    )
    op.create_index(
        "uq_tickets_auto_per_conversation", "tickets", ["conversation_id"], unique=True,
        sqlite_where=AUTO_TICKET, postgresql_where=AUTO_TICKET,
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedup_key", sa.String(length=96), nullable=True))
        batch_op.create_index("uq_alerts_dedup_key", ["dedup_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("uq_alerts_dedup_key")
        batch_op.drop_column("dedup_key")
    op.drop_index("uq_tickets_auto_per_conversation", table_name="tickets")
    op.drop_index("uq_conversations_one_open", table_name="conversations")
