"""supervisor's workbench: working hours per skill group, audit trail, agent status changes

Revision ID: 0010_supervisor
Revises: 0003_ops
Create Date: 2026-12-06 10:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010_supervisor'
down_revision: str | Sequence[str] | None = '0003_ops'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('skill_hours',
    sa.Column('skill', sa.String(length=32), nullable=False),
    sa.Column('days', sa.JSON(), nullable=False),
    sa.Column('opens', sa.String(length=5), nullable=False),
    sa.Column('closes', sa.String(length=5), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('skill')
    )
    op.create_table('supervision_audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_supervision_audit_actor_id', 'supervision_audit', ['actor_id'], unique=False)
    op.create_index('ix_supervision_audit_created_at', 'supervision_audit', ['created_at'], unique=False)
    op.create_table('agent_status_changes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_agent_status_changes_agent_at', 'agent_status_changes', ['agent_id', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_agent_status_changes_agent_at', table_name='agent_status_changes')
    op.drop_table('agent_status_changes')
    op.drop_index('ix_supervision_audit_created_at', table_name='supervision_audit')
    op.drop_index('ix_supervision_audit_actor_id', table_name='supervision_audit')
    op.drop_table('supervision_audit')
    op.drop_table('skill_hours')
