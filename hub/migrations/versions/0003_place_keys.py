"""Duplicates by place: the road and landmark keys of a case's place (hub_case.place_road / place_mark), indexed
with the 小类 for the duplicate lookup.

Cases filed before this revision have no keys; they still match by GPS radius and exact address, and the
duplicate window (72 h by default) ages them out, so no backfill is needed.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hub_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('place_road', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('place_mark', sa.String(length=200), nullable=True))
        batch_op.create_index('ix_hub_case_place_mark', ['service_code', 'place_mark'], unique=False)
        batch_op.create_index('ix_hub_case_place_road', ['service_code', 'place_road'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('hub_case', schema=None) as batch_op:
        batch_op.drop_index('ix_hub_case_place_road')
        batch_op.drop_index('ix_hub_case_place_mark')
        batch_op.drop_column('place_mark')
        batch_op.drop_column('place_road')

