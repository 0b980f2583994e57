"""Alembic environment of citybot's own database (the `citybot` history; see citybot/migrate.py)."""

from citybot.migrate import run_env

run_env("citybot")
