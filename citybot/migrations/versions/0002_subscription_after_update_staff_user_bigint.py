"""Subscriptions remember how far the filing answer told the chat (citybot_subscription.after_update_id);
Telegram user ids are 64-bit (citybot_staff_user.telegram_user_id: INTEGER -> BIGINT; ids past 2^31 exist).

Databases created by `create_all` from main between 7911a06 and the first migration already have the new
column (they are stamped at the baseline like any unversioned database), so it is added only where it is missing.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if "after_update_id" not in {c["name"] for c in sa.inspect(bind).get_columns("citybot_subscription")}:
        with op.batch_alter_table("citybot_subscription") as batch:
            batch.add_column(sa.Column("after_update_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("citybot_staff_user") as batch:  # on SQLite a copy of the (small) table
        batch.alter_column("telegram_user_id", type_=sa.BigInteger(), existing_type=sa.Integer(),
                           existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("citybot_staff_user") as batch:
        batch.alter_column("telegram_user_id", type_=sa.Integer(), existing_type=sa.BigInteger(),
                           existing_nullable=False)
    with op.batch_alter_table("citybot_subscription") as batch:
        batch.drop_column("after_update_id")
