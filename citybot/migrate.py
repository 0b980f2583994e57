"""Schema migrations (Alembic): two histories, one per database, and `citybot migrate`.

- `citybot`: citybot's own tables (listed in citybot/tables.py), revisions in citybot/migrations/versions/,
  version table `alembic_version_citybot`, database `DATABASE_URL`.
- `hub`: the reference hub's tables (hub/models.py), revisions in hub/migrations/versions/, version table
  `alembic_version_hub`, database `HUB_DATABASE_URL`.
Both may share one database (docker-compose does): each history sees only its own tables.

`upgrade(engine, name)` brings a database to the newest revision and is what every service runs at start-up:
- under a lock, so replicas starting together never race (PostgreSQL: a transaction-scoped advisory lock, with
  the whole upgrade in that one transaction; SQLite: a file lock next to the database file);
- a database made before migrations existed (release 7911a06, `create_all`: it has that release's tables and
  no version table) is stamped at the baseline revision first;
- then the revisions after the current one run (all of them on an empty database). The revisions are the one
  way to a schema; tests/test_migrations.py proves they build exactly what the models describe. Upgrading needs
  no model (a service does not import every table's module to start); comparing and writing revisions do.

Adding a table or column: change the model, then `citybot migrate --revision "what changed" --citybot` (or
`--hub`) writes the next revision by comparing the models with a scratch database at head; read it, commit it.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import logging
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# Where each history is defined (strings: citybot does not import the reference hub's package).
HISTORIES = {"citybot": "citybot.tables:HISTORY", "hub": "hub.db:HISTORY"}
BASELINE = "0001"  # each history's first revision: the schema as of release 7911a06
_LOCAL = threading.Lock()


@dataclass(frozen=True)
class History:
    name: str
    package: str  # the package whose migrations/ directory holds the revisions
    load_tables: Callable[[], list]  # -> the history's sqlalchemy Table objects (imports their models)
    legacy_tables: frozenset[str]  # release 7911a06's tables: with no version table, the database predates migrations

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.name}"

    @property
    def directory(self) -> Path:
        return Path(importlib.import_module(self.package).__file__).parent / "migrations"

    def tables(self) -> list:
        return self.load_tables()

    def table_names(self) -> set[str]:
        return {t.name for t in self.tables()}


def history(name: str) -> History:
    module, _, attr = HISTORIES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


# -- Alembic plumbing -----------------------------------------------------------------------------------------

def config(h: History, connection=None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(h.directory))
    cfg.set_main_option("version_locations", str(h.directory / "versions"))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.attributes["history"] = h.name
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _script(name: str):
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config(history(name)))


def head(name: str) -> str:
    return _script(name).get_current_head()


def context_options(h: History, dialect_name: str) -> dict:
    """What env.py and the model comparison configure: only this history's tables, its version table,
    batch operations on SQLite (ALTER there means copying the table), and plain SQLAlchemy types in revisions."""
    own = h.table_names()

    def include_name(name, type_, parent_names):
        return name in own if type_ == "table" else True

    def include_object(obj, name, type_, reflected, compare_to):
        if type_ == "table":
            return name in own
        table = getattr(obj, "table", None)
        return table is None or table.name in own

    return {"version_table": h.version_table, "include_name": include_name, "include_object": include_object,
            "compare_type": True, "render_as_batch": dialect_name == "sqlite", "render_item": _render_item}


def _render_item(type_, obj, autogen_context):
    """Revisions use SQLAlchemy's own types, not SQLModel's decorators (a revision must not change with them)."""
    if type_ != "type":
        return False
    name = type(obj).__name__
    if name == "AutoString":
        length = getattr(obj.impl, "length", None)
        return f"sa.String(length={length})" if length else "sa.String()"
    if name == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    return False


def target_metadata(h: History):
    from sqlmodel import SQLModel

    h.tables()  # imports the models, so their tables are on SQLModel.metadata
    return SQLModel.metadata


def run_env(name: str) -> None:
    """The body of each history's env.py (online mode: on the connection `upgrade` passes, or on a URL).
    Only autogenerate (`new_revision`) needs the models; running revisions does not import them."""
    from alembic import context

    h = history(name)
    connection = context.config.attributes.get("connection")
    if connection is None:
        from citybot.db import make_engine

        url = context.config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no connection and no sqlalchemy.url: run migrations through `citybot migrate`")
        engine = make_engine(url)
        with engine.connect() as conn:
            _migrate_online(context, h, conn)
            conn.commit()
        engine.dispose()
        return
    _migrate_online(context, h, connection)


def _migrate_online(context, h: History, connection) -> None:
    if context.config.attributes.get("autogenerate"):
        context.configure(connection=connection, target_metadata=target_metadata(h),
                          **context_options(h, connection.dialect.name))
    else:
        context.configure(connection=connection, version_table=h.version_table)
    with context.begin_transaction():
        context.run_migrations()


# -- the guard ------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _guarded(engine, h: History) -> Iterator:
    """A connection in a transaction that only one migrator (any process) holds at a time; committed at the end."""
    with _LOCAL, _file_lock(engine, h), engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            from sqlalchemy import func, select

            key = zlib.crc32(f"citybot-migrate:{h.name}".encode())
            conn.execute(select(func.pg_advisory_xact_lock(key)))
        yield conn
        conn.commit()


@contextlib.contextmanager
def _file_lock(engine, h: History) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    import fcntl

    with open(f"{database}.migrate-{h.name}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# -- what services and the CLI call ---------------------------------------------------------------------------

def current(conn, h: History) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn, opts={"version_table": h.version_table}).get_current_revision()


def upgrade(engine, name: str) -> str:
    """Bring the database to the newest revision of history `name`; returns it."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    h = history(name)
    target = head(name)
    with _guarded(engine, h) as conn:
        at = current(conn, h)
        if at == target:
            return target
        if at is None and set(inspect(conn).get_table_names()) & h.legacy_tables:
            log.info("%s schema predates migrations: stamped at the baseline %s", name, BASELINE)
            MigrationContext.configure(conn, opts={"version_table": h.version_table}).stamp(_script(name), BASELINE)
        command.upgrade(config(h, conn), "head")
        log.info("%s schema upgraded from %s to %s", name, at or "nothing", target)
    return target


def differences(engine, name: str) -> list:
    """What the models have that the database does not (or the other way round): [] when they match."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    h = history(name)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts=context_options(h, conn.dialect.name))
        return compare_metadata(ctx, target_metadata(h))


def new_revision(name: str, message: str) -> Path | None:
    """Write the next revision of history `name` from the difference between the models and a scratch SQLite
    database migrated to head. None when there is no difference."""
    import tempfile

    from alembic import command

    from citybot.db import make_engine

    h = history(name)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/scratch.db")
        upgrade(engine, name)
        if not differences(engine, name):
            engine.dispose()
            return None
        number = f"{int(head(name)) + 1:04d}"
        with engine.connect() as conn:
            cfg = config(h, conn)
            cfg.attributes["autogenerate"] = True
            script = command.revision(cfg, message=message, autogenerate=True, rev_id=number)
        engine.dispose()
    _script.cache_clear()
    return Path(script.path)


# -- citybot migrate --------------------------------------------------------------------------------------------

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="bring citybot's and the hub's database schemas to the newest revision",
                       description="Alembic migrations of citybot's database (DATABASE_URL) and the reference "
                                   "hub's (HUB_DATABASE_URL). Without options: upgrade both to the newest revision "
                                   "(the services also do this at start-up).")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--citybot", dest="only", action="store_const", const="citybot",
                       help="only citybot's own database")
    which.add_argument("--hub", dest="only", action="store_const", const="hub", help="only the reference hub's")
    p.add_argument("--database-url", help="the database (with --citybot or --hub; default from the settings)")
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 unless the database is at the newest revision and matches the models")
    p.add_argument("--revision", metavar="MESSAGE",
                   help="write the next revision from the models (with --citybot or --hub), for a developer")
    p.set_defaults(func=_run)


def _url(name: str, settings) -> str:
    return settings.resolved_database_url if name == "citybot" else settings.resolved_hub_database_url


def _run(args: argparse.Namespace) -> int:
    from citybot.db import make_engine
    from citybot.settings import get_settings

    for noisy in ("alembic.runtime.plugins", "alembic.runtime.migration"):  # our own lines say what happened
        logging.getLogger(noisy).setLevel(logging.WARNING)
    names = [args.only] if args.only else ["citybot", "hub"]
    if (args.database_url or args.revision) and not args.only:
        print("citybot migrate: --database-url and --revision need --citybot or --hub", file=sys.stderr)
        return 2
    if args.revision:
        path = new_revision(args.only, args.revision)
        print(f"wrote {path}" if path else "the models match the newest revision: nothing to write")
        return 0
    settings = get_settings()
    status = 0
    for name in names:
        engine = make_engine(args.database_url or _url(name, settings))
        try:
            if args.check:
                with engine.connect() as conn:
                    at = current(conn, history(name))
                diff = differences(engine, name) if at == head(name) else []
                ok = at == head(name) and not diff
                print(f"{name}: at {at or 'no revision'}, newest {head(name)}"
                      + ("" if ok else f"; differences: {diff}" if diff else "; run `citybot migrate`"))
                status = status or (0 if ok else 1)
            else:
                print(f"{name}: at {upgrade(engine, name)}")
        finally:
            engine.dispose()
    return status
