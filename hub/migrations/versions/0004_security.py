"""The security model: the api client that filed each case (hub_case.client: account-linked reads answer a
client only its own cases), staff members registered at the hub (hub_staff_member: channels act for them), and
columns wide enough for the texts the hub composes (a standard phrase plus a note of the full allowed length).

Cases filed before this revision were filed by citybot itself (the hub did not record the client): they are
given to the first client of HUB_API_KEYS, so that citizens keep seeing their earlier cases.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hub_staff_member',
    sa.Column('member_id', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('level', sa.String(length=4), nullable=False),
    sa.Column('department', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('member_id')
    )
    with op.batch_alter_table('hub_audit', schema=None) as batch_op:
        batch_op.alter_column('reason',
               existing_type=sa.VARCHAR(length=2000),
               type_=sa.String(length=4000),
               existing_nullable=False)

    with op.batch_alter_table('hub_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client', sa.String(length=64), nullable=True))
        batch_op.alter_column('status_notes',
               existing_type=sa.VARCHAR(length=2000),
               type_=sa.String(length=2128),
               existing_nullable=False)
        batch_op.create_index('ix_hub_case_client_account', ['client', 'account_id'], unique=False)
    first = _first_client()
    if first:
        op.get_bind().execute(sa.text("UPDATE hub_case SET client = :client WHERE client IS NULL"), {"client": first})

    with op.batch_alter_table('hub_update', schema=None) as batch_op:
        batch_op.alter_column('description',
               existing_type=sa.VARCHAR(length=4000),
               type_=sa.String(length=4128),
               existing_nullable=False)


def _first_client() -> str | None:
    from citybot.settings import get_settings
    from hub.auth import parse_api_keys

    clients = list(parse_api_keys(get_settings().hub_api_keys).values())
    return clients[0] if clients else None


def downgrade() -> None:
    with op.batch_alter_table('hub_update', schema=None) as batch_op:
        batch_op.alter_column('description',
               existing_type=sa.String(length=4128),
               type_=sa.VARCHAR(length=4000),
               existing_nullable=False)

    with op.batch_alter_table('hub_case', schema=None) as batch_op:
        batch_op.drop_index('ix_hub_case_client_account')
        batch_op.alter_column('status_notes',
               existing_type=sa.String(length=2128),
               type_=sa.VARCHAR(length=2000),
               existing_nullable=False)
        batch_op.drop_column('client')

    with op.batch_alter_table('hub_audit', schema=None) as batch_op:
        batch_op.alter_column('reason',
               existing_type=sa.String(length=4000),
               type_=sa.VARCHAR(length=2000),
               existing_nullable=False)

    op.drop_table('hub_staff_member')
