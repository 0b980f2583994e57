"""case number sequence (PostgreSQL): filings no longer take turns to number the day's cases

Revision ID: 0006
Revises: 0005
Created: 2026-11-26 19:10:00
"""

from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's writers take turns: the day's last number + 1 (hub/store.py)
    op.execute("CREATE SEQUENCE hub_case_number")
    # start past every number already given, so today's new numbers cannot meet today's old ones
    op.execute("SELECT setval('hub_case_number', COALESCE((SELECT max(substr(id, 9)::int) FROM hub_case), 0) + 1, "
               "false)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE hub_case_number")
