"""Alembic environment of the reference hub's database (the `hub` history; see citybot/migrate.py)."""

from citybot.migrate import run_env

run_env("hub")
