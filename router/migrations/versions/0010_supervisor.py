"""supervisor's workbench: working hours per skill group, audit trail, agent status changes, quality inspection

Revision ID: 0010_supervisor
Revises: 0009_outbound
Create Date: 2026-12-06 10:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010_supervisor'
down_revision: str | Sequence[str] | None = '0009_outbound'
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
    op.create_table('qa_rubric_items',
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('weight', sa.Integer(), nullable=False),
    sa.Column('auto', sa.String(length=32), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('qa_settings',
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('qa_reviews',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('conversation_id', sa.String(length=32), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('pre_scores', sa.JSON(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=True),
    sa.Column('total', sa.Float(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('appeal_text', sa.Text(), nullable=True),
    sa.Column('appeal_reply', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('conversation_id', 'agent_id', name='uq_qa_review_conversation_agent')
    )
    op.create_index('ix_qa_reviews_conversation_id', 'qa_reviews', ['conversation_id'], unique=False)
    op.create_index('ix_qa_reviews_agent_id', 'qa_reviews', ['agent_id'], unique=False)
    op.create_index('ix_qa_reviews_day', 'qa_reviews', ['day'], unique=False)


def downgrade() -> None:
    op.drop_table('qa_reviews')
    op.drop_table('qa_settings')
    op.drop_table('qa_rubric_items')
    op.drop_index('ix_agent_status_changes_agent_at', table_name='agent_status_changes')
    op.drop_table('agent_status_changes')
    op.drop_index('ix_supervision_audit_created_at', table_name='supervision_audit')
    op.drop_index('ix_supervision_audit_actor_id', table_name='supervision_audit')
    op.drop_table('supervision_audit')
    op.drop_table('skill_hours')
