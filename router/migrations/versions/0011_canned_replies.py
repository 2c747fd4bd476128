"""canned replies: team (skill group) and personal snippets for the agent console

Revision ID: 0011_canned_replies
Revises: 0010_supervisor
Create Date: 2026-12-06 13:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011_canned_replies'
down_revision: str | Sequence[str] | None = '0010_supervisor'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('canned_replies',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('scope', sa.String(length=8), nullable=False),
    sa.Column('skill', sa.String(length=32), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('shortcut', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=60), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_canned_replies_owner_id', 'canned_replies', ['owner_id'], unique=False)
    op.create_index('ix_canned_replies_scope_skill', 'canned_replies', ['scope', 'skill'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_canned_replies_scope_skill', table_name='canned_replies')
    op.drop_index('ix_canned_replies_owner_id', table_name='canned_replies')
    op.drop_table('canned_replies')
