"""Baseline: the reference hub's schema as of release 7911a06, the last one made by `create_all` (no migrations).

A database from that release has no version table; `citybot migrate` stamps it at this revision, then upgrades.
tests/test_migrations.py checks this revision against that release's schema (tests/migrations/*_7911a06.sql).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hub_case',
        sa.Column('service_code', sa.String(length=32), nullable=False),
        sa.Column('service_name', sa.String(length=64), nullable=False),
        sa.Column('group', sa.String(length=64), nullable=False),
        sa.Column('description', sa.String(length=4000), nullable=False),
        sa.Column('lat', sa.Float(), nullable=True),
        sa.Column('long', sa.Float(), nullable=True),
        sa.Column('address', sa.String(length=1000), nullable=True),
        sa.Column('address_id', sa.String(length=128), nullable=True),
        sa.Column('zipcode', sa.String(length=16), nullable=True),
        sa.Column('media_url', sa.String(length=2048), nullable=True),
        sa.Column('attributes', sa.JSON(), nullable=False),
        sa.Column('account_id', sa.String(length=128), nullable=True),
        sa.Column('device_id', sa.String(length=128), nullable=True),
        sa.Column('channel', sa.String(length=16), nullable=True),
        sa.Column('external_id', sa.String(length=128), nullable=True),
        sa.Column('first_name', sa.String(length=64), nullable=True),
        sa.Column('last_name', sa.String(length=64), nullable=True),
        sa.Column('phone', sa.String(length=32), nullable=True),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('id', sa.String(length=14), nullable=False),
        sa.Column('token', sa.String(length=36), nullable=False),
        sa.Column('address_norm', sa.String(length=1000), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('status_notes', sa.String(length=2000), nullable=False),
        sa.Column('agency_responsible', sa.String(length=64), nullable=True),
        sa.Column('level', sa.String(length=4), nullable=False),
        sa.Column('priority', sa.String(length=8), nullable=False),
        sa.Column('duplicate_of', sa.String(length=14), nullable=True),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('expected_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('overdue_marked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('result_media_urls', sa.JSON(), nullable=False),
        sa.Column('rating', sa.Integer(), nullable=True),
        sa.Column('rating_comment', sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('channel', 'external_id', name='uq_hub_case_channel_external_id')
    )
    op.create_index(op.f('ix_hub_case_account_id'), 'hub_case', ['account_id'], unique=False)
    op.create_index('ix_hub_case_dup', 'hub_case', ['service_code', 'requested_at'], unique=False)
    op.create_index('ix_hub_case_state_due', 'hub_case', ['state', 'expected_at'], unique=False)
    op.create_index(op.f('ix_hub_case_token'), 'hub_case', ['token'], unique=False)
    op.create_table('hub_audit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.String(length=14), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=128), nullable=False),
        sa.Column('principal', sa.String(length=128), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('reason', sa.String(length=2000), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['hub_case.id'], ),
        sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_hub_audit_case_id'), 'hub_audit', ['case_id'], unique=False)
    op.create_table('hub_update',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.String(length=14), nullable=False),
        sa.Column('event', sa.String(length=16), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('description', sa.String(length=4000), nullable=False),
        sa.Column('media_url', sa.String(length=2048), nullable=True),
        sa.Column('agency_responsible', sa.String(length=64), nullable=True),
        sa.Column('expected_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('result_media_urls', sa.JSON(), nullable=False),
        sa.Column('level', sa.String(length=4), nullable=False),
        sa.Column('priority', sa.String(length=8), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['hub_case.id'], ),
        sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_hub_update_case_id'), 'hub_update', ['case_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_hub_update_case_id'), table_name='hub_update')
    op.drop_table('hub_update')
    op.drop_index(op.f('ix_hub_audit_case_id'), table_name='hub_audit')
    op.drop_table('hub_audit')
    op.drop_index(op.f('ix_hub_case_token'), table_name='hub_case')
    op.drop_index('ix_hub_case_state_due', table_name='hub_case')
    op.drop_index('ix_hub_case_dup', table_name='hub_case')
    op.drop_index(op.f('ix_hub_case_account_id'), table_name='hub_case')
    op.drop_table('hub_case')
