"""The update's note: the actor's own words apart from the hub's standard phrase (hub_update.note).

Databases created by `create_all` from main between 7911a06 and the first migration already have the column
(they are stamped at the baseline like any unversioned database), so it is added only where it is missing.

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
    if "note" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("hub_update")}:
        return
    with op.batch_alter_table("hub_update") as batch:
        batch.add_column(sa.Column("note", sa.String(length=4000), nullable=False, server_default=""))
    if op.get_bind().dialect.name != "sqlite":  # as the model: no server default (SQLite cannot drop one cheaply)
        op.alter_column("hub_update", "note", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("hub_update") as batch:
        batch.drop_column("note")
