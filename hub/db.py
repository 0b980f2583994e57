"""Engine factory and the write transactions that keep the updates feed gap-free for a cursor.

A poller pages the feed with `after=<last id>`, so update ids must become visible in id order: a poller may never
read an id while a lower one can still commit. How each database gets that:

- SQLite: one writer at a time (a lock in this process, `BEGIN IMMEDIATE` across processes), as SQLite has
  only one writer anyway.
- PostgreSQL: writers run concurrently. Each locks the rows it changes (the case, `SELECT ... FOR UPDATE`),
  and its feed rows are not inserted as it goes: they are queued (`feed(session, rows)`) and inserted at the
  very end, in the sequencing step (`sequence`): holding the *shared* side of a transaction-scoped advisory lock
  from before its ids are drawn until its commit. Writers share it, so they draw ids and commit (and flush the
  WAL) side by side. A feed read (`read_feed`) first takes the *exclusive* side: it waits until no writer holds
  ids it has not committed, then reads, holding new writers off for that one query. Every id it can see has
  been committed or rolled back, and ids drawn later are higher (the id sequence is not cached per session).
  Filing takes the same step before it inserts the case; its number comes from a sequence
  (`models.CASE_NUMBER`), drawn in the same round trip.

Lock order is always: case rows, then the sequencing lock (never the other way round), so writers cannot
deadlock; a feed row only ever refers to a case its writer holds or creates; a feed read takes no row lock.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Sequence, event, func, insert, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine
from starlette.concurrency import run_in_threadpool

from citybot.migrate import History
from hub import models

_WRITING: contextvars.ContextVar[bool] = contextvars.ContextVar("hub_writing", default=False)
# Run first in each write transaction of this context: hub/idempotency.py claims a request's key there, so that the
# claim commits or rolls back with the request's effect (and a concurrent repeat waits on it, then sees it).
ON_BEGIN: contextvars.ContextVar[Callable[[Connection], None] | None] = contextvars.ContextVar("hub_on_begin",
                                                                                                default=None)
# pg_advisory_xact_lock keys: the feed's sequencing step ("citybot" in ASCII, as an int), and the overdue sweep
# (one sweep at a time across processes).
SEQUENCE_KEY = 0x63697479626F74
SWEEP_KEY = SEQUENCE_KEY + 1


def tables() -> list:
    """The hub's tables: every table model defined in hub/models.py, the one home of the hub's schema."""
    return [obj.__table__ for obj in vars(models).values()
            if isinstance(obj, type) and obj.__module__ == models.__name__ and hasattr(obj, "__table__")]


# The hub's migration history (hub/migrations/; see citybot/migrate.py).
HISTORY = History(name="hub", package="hub", load_tables=tables,
                  legacy_tables=frozenset({"hub_case", "hub_update", "hub_audit"}))


def make_engine(url: str) -> Engine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        kwargs: dict = {"connect_args": {"check_same_thread": False}}
        if not u.database or u.database == ":memory:":
            kwargs["poolclass"] = StaticPool
        else:
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, hide_parameters=True, **kwargs)  # no personal data in SQL errors
        _sqlite_setup(engine)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True)


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
        # SQLite takes one writer at a time: queue this process's writers here rather than in busy retries.
        self._serial = threading.Lock() if not self.is_postgres else contextlib.nullcontext()

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
    def write(self, *, exclusive: int | None = None) -> Iterator[Session]:
        """A write transaction; commits on success (inserting the queued feed rows in the sequencing step), rolls
        back on any exception. The caller locks the case rows it changes (`store.get_case(for_update=True)`).
        `exclusive`: an advisory lock key held for the whole transaction (PostgreSQL), e.g. SWEEP_KEY."""
        with self._serial:
            token = _WRITING.set(True)
            try:
                with Session(self.engine, expire_on_commit=False) as session, session.begin():
                    queued = session.info["feed"] = []
                    if exclusive is not None and self.is_postgres:
                        session.execute(select(func.pg_advisory_xact_lock(exclusive)))
                    _on_begin(session.connection())
                    yield session
                    session.flush()  # the case and audit rows first (their row locks are held already)
                    if queued:
                        conn = session.connection()
                        self.sequence(conn)
                        conn.execute(insert(models.CaseUpdate.__table__), queued)
            finally:
                _WRITING.reset(token)

    @contextlib.contextmanager
    def write_conn(self) -> Iterator[Connection]:
        """A write transaction on a bare Core connection: the lean path for filing (which calls `sequence`)."""
        with self._serial:
            token = _WRITING.set(True)
            try:
                with self.engine.begin() as conn:
                    _on_begin(conn)
                    yield conn
            finally:
                _WRITING.reset(token)

    def sequence(self, conn: Connection, draw: Sequence | None = None) -> int | None:
        """Enter the sequencing step (see the module docstring): from here to commit, a feed read waits for this
        transaction (PostgreSQL; SQLite's writers are serialized from their first statement). Do only the feed
        inserts and the case after it. `draw`: also take the next value of this PostgreSQL sequence in the same
        round trip (None on SQLite)."""
        if not self.is_postgres:
            return None
        lock = func.pg_advisory_xact_lock_shared(SEQUENCE_KEY)
        if draw is None:
            conn.execute(select(lock))
            return None
        return conn.execute(select(lock, draw.next_value())).one()[1]

    @contextlib.contextmanager
    def read_feed(self) -> Iterator[Session]:
        """A read of the updates feed (`store.updates_after`): on PostgreSQL it first waits for the writers in the
        sequencing step, so that no id below one it sees can commit later (the module docstring)."""
        with self.read() as session:
            if self.is_postgres:
                session.execute(select(func.pg_advisory_xact_lock(SEQUENCE_KEY)))
            yield session

    async def run(self, fn: Callable, *args):
        """`fn(*args)` from async code: on the event loop for SQLite (its statements take tens of microseconds, less
        than a thread hop), in the thread pool for PostgreSQL (round trips over the network)."""
        return fn(*args) if self.is_sqlite else await run_in_threadpool(fn, *args)

    def ping(self) -> None:
        with self.read() as session:
            session.execute(select(1))

    def dispose(self) -> None:
        self.engine.dispose()


def _on_begin(conn: Connection) -> None:
    hook = ON_BEGIN.get()
    if hook is not None:
        hook(conn)


def feed(session: Session, rows: list[dict]) -> None:
    """Queue update rows (store.update_row) for the sequencing step at commit (see the module docstring)."""
    session.info["feed"].extend(rows)
