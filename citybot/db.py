"""citybot's own database (subscriptions, the job queue, hotline ingestion state).

Separate from the hub's: a city may run citybot against its own hub. SQLite by default, PostgreSQL by URL.
citybot's tables are listed in citybot/tables.py; `create_tables` brings this database's schema to the newest
revision of their migration history (citybot/migrate.py), so the reference hub's tables never land here.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import create_engine


def make_engine(url: str) -> Engine:
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)  # no personal data in SQL errors
    kwargs: dict = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if not u.database or u.database == ":memory:":
        kwargs["poolclass"] = StaticPool
    else:
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, hide_parameters=True, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
            cur.execute(f"PRAGMA {pragma}")  # constants only
        cur.close()

    return engine


def create_tables(engine: Engine) -> None:
    """Migrate citybot's database to the newest revision (every service does this at start-up, under a lock)."""
    from citybot.migrate import upgrade

    upgrade(engine, "citybot")
