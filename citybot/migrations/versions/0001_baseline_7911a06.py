"""Baseline: citybot's own schema as of release 7911a06, the last one made by `create_all` (no migrations).

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
    op.create_table('citybot_button_payload',
        sa.Column('key', sa.String(length=24), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key')
    )
    op.create_table('citybot_hotline_call',
        sa.Column('call_id', sa.String(length=128), nullable=False),
        sa.Column('source', sa.String(length=1000), nullable=False),
        sa.Column('line_no', sa.Integer(), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('case_id', sa.String(length=64), nullable=True),
        sa.Column('category', sa.String(length=16), nullable=True),
        sa.Column('subcategory', sa.String(length=32), nullable=True),
        sa.Column('confidence', sa.Float(), nullable=True),
        sa.Column('referral', sa.String(length=32), nullable=True),
        sa.Column('phone_hash', sa.String(length=64), nullable=True),
        sa.Column('reason', sa.String(length=1000), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('call_id')
    )
    op.create_index(op.f('ix_citybot_hotline_call_phone_hash'), 'citybot_hotline_call', ['phone_hash'], unique=False)
    op.create_table('citybot_notifier_cursor',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('after', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name')
    )
    op.create_table('citybot_outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('update_id', sa.Integer(), nullable=False),
        sa.Column('chat_id', sa.String(length=64), nullable=False),
        sa.Column('case_id', sa.String(length=32), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('state', sa.String(length=8), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=False),
        sa.Column('hub_time', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('update_id', 'chat_id', name='uq_citybot_outbox_update_chat')
    )
    op.create_index(op.f('ix_citybot_outbox_state'), 'citybot_outbox', ['state'], unique=False)
    op.create_index(op.f('ix_citybot_outbox_update_id'), 'citybot_outbox', ['update_id'], unique=False)
    op.create_table('citybot_report_outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('external_id', sa.String(length=128), nullable=False),
        sa.Column('sender_id', sa.String(length=128), nullable=False),
        sa.Column('payload', sa.String(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_error', sa.String(length=1000), nullable=False),
        sa.Column('case_id', sa.String(length=64), nullable=True),
        sa.Column('duplicate_of', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('filed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('external_id')
    )
    op.create_index(op.f('ix_citybot_report_outbox_sender_id'), 'citybot_report_outbox', ['sender_id'], unique=False)
    op.create_index(op.f('ix_citybot_report_outbox_status'), 'citybot_report_outbox', ['status'], unique=False)
    op.create_table('citybot_staff_user',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('telegram_user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('level', sa.String(length=8), nullable=False),
        sa.Column('department', sa.String(length=64), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_citybot_staff_user_telegram_user_id'), 'citybot_staff_user', ['telegram_user_id'], unique=True)
    op.create_table('citybot_subscription',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('chat_id', sa.String(length=64), nullable=False),
        sa.Column('case_id', sa.String(length=32), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('chat_id', 'case_id', name='uq_citybot_subscription_chat_case')
    )
    op.create_index(op.f('ix_citybot_subscription_case_id'), 'citybot_subscription', ['case_id'], unique=False)
    op.create_index(op.f('ix_citybot_subscription_chat_id'), 'citybot_subscription', ['chat_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_citybot_subscription_chat_id'), table_name='citybot_subscription')
    op.drop_index(op.f('ix_citybot_subscription_case_id'), table_name='citybot_subscription')
    op.drop_table('citybot_subscription')
    op.drop_index(op.f('ix_citybot_staff_user_telegram_user_id'), table_name='citybot_staff_user')
    op.drop_table('citybot_staff_user')
    op.drop_index(op.f('ix_citybot_report_outbox_status'), table_name='citybot_report_outbox')
    op.drop_index(op.f('ix_citybot_report_outbox_sender_id'), table_name='citybot_report_outbox')
    op.drop_table('citybot_report_outbox')
    op.drop_index(op.f('ix_citybot_outbox_update_id'), table_name='citybot_outbox')
    op.drop_index(op.f('ix_citybot_outbox_state'), table_name='citybot_outbox')
    op.drop_table('citybot_outbox')
    op.drop_table('citybot_notifier_cursor')
    op.drop_index(op.f('ix_citybot_hotline_call_phone_hash'), table_name='citybot_hotline_call')
    op.drop_table('citybot_hotline_call')
    op.drop_table('citybot_button_payload')
