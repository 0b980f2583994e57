"""Engine factory and the write transaction that keeps update ids in commit order.

Every write runs under `Database.write()`: one writer at a time in this process (a lock), `BEGIN IMMEDIATE`
on SQLite (the database-wide write lock, also across processes) and a transaction-scoped advisory lock on
PostgreSQL (across processes). Writers are thus serialized, so update ids are allocated in commit order and a
poller paging the feed with `after=<last id>` can never skip a lower id that commits later.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

from citybot.migrate import History
from hub import models

_WRITING: contextvars.ContextVar[bool] = contextvars.ContextVar("hub_writing", default=False)
# pg_advisory_xact_lock key for the hub's writers ("citybot" in ASCII, as an int).
ADVISORY_KEY = 0x63697479626F74


def tables() -> list:
    """The hub's tables: every table model defined in hub/models.py, the one home of the hub's schema."""
    return [obj.__table__ for obj in vars(models).values()
            if isinstance(obj, type) and obj.__module__ == models.__name__ and hasattr(obj, "__table__")]


# The hub's migration history (hub/migrations/; see citybot/migrate.py).
HISTORY = History(name="hub", package="hub", load_tables=tables)


def make_engine(url: str) -> Engine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        kwargs: dict = {"connect_args": {"check_same_thread": False}}
        if not u.database or u.database == ":memory:":
            kwargs["poolclass"] = StaticPool
        else:
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        _sqlite_setup(engine)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000", "foreign_keys=ON"):
            cur.execute(f"PRAGMA {pragma}")  # constants only
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _WRITING.get() else "BEGIN")


class Database:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> Database:
        return cls(make_engine(url))

    def migrate(self) -> str:
        """Bring the schema to the newest revision (under a lock: replicas may start together)."""
        from citybot.migrate import upgrade

        return upgrade(self.engine, HISTORY.name)

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A serialized write transaction; commits on success, rolls back on any exception."""
        with self._lock:
            token = _WRITING.set(True)
            try:
                with Session(self.engine, expire_on_commit=False) as session, session.begin():
                    if self.is_postgres:
                        session.execute(select(func.pg_advisory_xact_lock(ADVISORY_KEY)))
                    yield session
            finally:
                _WRITING.reset(token)

    @contextlib.contextmanager
    def write_conn(self) -> Iterator[Connection]:
        """The same serialized write transaction on a bare Core connection: the lean path for filing."""
        with self._lock:
            token = _WRITING.set(True)
            try:
                with self.engine.begin() as conn:
                    if self.is_postgres:
                        conn.execute(select(func.pg_advisory_xact_lock(ADVISORY_KEY)))
                    yield conn
            finally:
                _WRITING.reset(token)

    def ping(self) -> None:
        with self.read() as session:
            session.execute(select(1))

    def dispose(self) -> None:
        self.engine.dispose()
