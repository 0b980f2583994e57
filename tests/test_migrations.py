"""Migrations (citybot/migrate.py) on SQLite and PostgreSQL: every table in one history; the models equal each
history's newest revision (a forgotten revision fails here); an empty database and a database of the last release
before migrations (7911a06) both reach the newest revision with their data; replicas starting together migrate
once; `citybot migrate` upgrades and checks."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from citybot import migrate
from citybot.db import make_engine
from tests.pgschema import fresh_schema

ROOT = Path(__file__).resolve().parent.parent
OLD = ROOT / "tests" / "migrations"
HISTORIES = ("citybot", "hub")
RASA_SIDE = ("nlu.components", "nlu.worker", "nlu.category_model")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db.sqlite'}"
        return
    with fresh_schema("migrations") as url:
        yield url


@pytest.fixture
def engine(db_url):
    e = make_engine(db_url)
    yield e
    e.dispose()


def test_every_table_of_the_code_belongs_to_exactly_one_history():
    """Import every module of the app (as its image does): each table on the metadata is in one history's list,
    so a new model that nobody registered (and so has no revision) fails here."""
    from sqlmodel import SQLModel

    for package in ("citybot", "hub", "hubapi", "hotline", "actions", "bot", "nlu"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            if not name.startswith(RASA_SIDE) and "migrations" not in name:
                importlib.import_module(name)
    owners = {name: migrate.history(name).table_names() for name in HISTORIES}
    assert not owners["citybot"] & owners["hub"]
    for table in SQLModel.metadata.tables:
        if table.startswith(("citybot_", "hub_")):
            assert sum(table in names for names in owners.values()) == 1, f"{table} is in no migration history"
    assert all(t.startswith("citybot_") for t in owners["citybot"]) and all(t.startswith("hub_") for t in owners["hub"])


@pytest.mark.parametrize("name", HISTORIES)
def test_the_revisions_from_an_empty_database_build_exactly_the_models(engine, name):
    """Every revision run in order on an empty database gives the schema the models describe (autogenerate finds
    no difference): a model changed without a revision fails here."""
    assert migrate.upgrade(engine, name) == migrate.head(name)
    assert migrate.differences(engine, name) == []
    with engine.connect() as conn:
        assert migrate.current(conn, migrate.history(name)) == migrate.head(name)
    other = next(n for n in HISTORIES if n != name)
    assert not set(sa.inspect(engine).get_table_names()) & migrate.history(other).table_names()


def test_the_legacy_tables_are_the_baseline_revisions_tables():
    for name in HISTORIES:
        tables = set(re.findall(r"CREATE TABLE (\w+)", (OLD / f"{name}_7911a06.sqlite.sql").read_text()))
        assert migrate.history(name).legacy_tables == tables


def load_old_release(engine, name: str) -> None:
    sql = (OLD / f"{name}_7911a06.{engine.dialect.name}.sql").read_text(encoding="utf-8")
    sql = "\n".join(ln for ln in sql.splitlines() if not ln.startswith("--"))
    statements = [s.strip() for s in sql.split(";\n") if s.strip()]
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def schema_of(engine, names: set[str]) -> dict:
    """A comparable description of the tables: columns (type, nullability), primary key, indexes, unique
    constraints and foreign keys."""
    insp = sa.inspect(engine)
    out = {}
    for table in sorted(set(insp.get_table_names()) & names):
        out[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)],
            "pk": insp.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(table)),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"]) for f in insp.get_foreign_keys(table)),
        }
    return out


@pytest.mark.parametrize("name", HISTORIES)
def test_the_baseline_revision_is_the_schema_of_release_7911a06(db_url, tmp_path, name):
    from alembic import command

    h = migrate.history(name)
    old = make_engine(db_url)
    load_old_release(old, name)
    if old.dialect.name == "sqlite":
        baseline = make_engine(f"sqlite:///{tmp_path / 'baseline.sqlite'}")
        with baseline.connect() as conn:
            command.upgrade(migrate.config(h, conn), migrate.BASELINE)
            conn.commit()
        assert schema_of(baseline, h.table_names()) == schema_of(old, h.table_names())
        baseline.dispose()
    else:
        with fresh_schema("migrations_base") as url:
            baseline = make_engine(url)
            with baseline.connect() as conn:
                command.upgrade(migrate.config(h, conn), migrate.BASELINE)
                conn.commit()
            assert schema_of(baseline, h.table_names()) == schema_of(old, h.table_names())
            baseline.dispose()
    old.dispose()


def test_an_old_release_hub_database_reaches_head_with_its_cases(engine):
    load_old_release(engine, "hub")
    now = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.timezone.utc)
    case = {"id": "20260302000001", "token": "t", "service_code": "SRHJ-01", "service_name": "暴露垃圾",
            "group": "市容环境", "description": "垃圾", "attributes": {}, "state": "dispatched", "status_notes": "",
            "level": "街道", "priority": "normal", "requested_at": now, "updated_at": now, "result_media_urls": []}
    update = {"case_id": case["id"], "event": "received", "state": "received", "description": "已受理",
              "result_media_urls": [], "level": "街道", "priority": "normal", "created_at": now}
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        conn.execute(meta.tables["hub_case"].insert(), [case])
        conn.execute(meta.tables["hub_update"].insert(), [update, {**update, "event": "dispatched"}])
    assert migrate.upgrade(engine, "hub") == migrate.head("hub")
    assert migrate.differences(engine, "hub") == []

    from hub import store
    from hub.db import Database

    db = Database(engine)
    with db.read() as s:
        assert store.get_case(case["id"], session=s).description == "垃圾"
        assert [(u.event, u.note) for u in store.updates_of(case["id"], session=s)] == [("received", ""),
                                                                                        ("dispatched", "")]
    # a case filed the same day after the upgrade gets a new number (PostgreSQL: the sequence starts past it)
    from hub.models import CASE_NUMBER

    with db.write_conn() as conn:
        drawn = db.sequence(conn, CASE_NUMBER)
        assert store.next_case_id(dt.date(2026, 3, 2), session=conn, drawn=drawn) == "20260302000002"


def test_an_old_release_citybot_database_reaches_head_with_its_rows(engine):
    load_old_release(engine, "citybot")
    meta = sa.MetaData()
    meta.reflect(engine)
    now = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.timezone.utc)
    with engine.begin() as conn:
        conn.execute(meta.tables["citybot_subscription"].insert(), [
            {"chat_id": "42", "case_id": "20260302000001", "channel": "telegram", "active": True, "created_at": now}])
        conn.execute(meta.tables["citybot_staff_user"].insert(), [
            {"telegram_user_id": 7, "name": "王", "role": "admin", "level": "市", "department": "", "active": True,
             "created_at": now, "updated_at": now}])
        # unfinished rows of the old outboxes move to the job queue; finished ones are history
        conn.execute(meta.tables["citybot_outbox"].insert(), [
            {"update_id": 5, "chat_id": "42", "case_id": "20260302000001", "channel": "telegram", "state": state,
             "payload": {"text": "t"}, "attempts": 1, "last_error": "", "created_at": now} for state in ("pending",)] + [
            {"update_id": 4, "chat_id": "42", "case_id": "20260302000001", "channel": "telegram", "state": "sent",
             "payload": {"text": "t"}, "attempts": 1, "last_error": "", "created_at": now}])
        conn.execute(meta.tables["citybot_report_outbox"].insert(), [
            {"external_id": "ext-1", "sender_id": "42", "payload": '{"service_code": "X", "description": "d"}',
             "status": "pending", "attempts": 2, "next_attempt_at": now, "last_error": "down", "created_at": now}])
    assert migrate.upgrade(engine, "citybot") == migrate.head("citybot")
    with engine.connect() as conn:
        moved = conn.execute(sa.text("SELECT kind, key, lane, state, attempts FROM citybot_job ORDER BY id")).all()
    assert [tuple(r) for r in moved] == [("push", "push:5:42", "chat:42", "pending", 1),
                                         ("file", "file:ext-1", "file:ext-1", "pending", 2)]
    assert migrate.differences(engine, "citybot") == []

    from sqlmodel import Session

    from bot.staff.legacy import LegacyStaffUser as StaffUser
    from citybot import subscriptions

    with Session(engine) as s:
        assert subscriptions.subscribers("20260302000001", session=s) == ["42"]
        s.add(StaffUser(telegram_user_id=7_000_000_001, name="李", role="operator", level="区"))  # past 2^31
        s.commit()
        assert {u.telegram_user_id for u in s.exec(sa.select(StaffUser)).scalars()} == {7, 7_000_000_001}


@pytest.mark.parametrize("name", HISTORIES)
def test_replicas_starting_together_migrate_once(db_url, name):
    """Four processes' worth of engines upgrade one database at once: one migrates, the others wait and find it
    at head (the advisory lock on PostgreSQL, the file lock on SQLite)."""
    engines = [make_engine(db_url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    results, errors = [], []

    def start(e) -> None:
        try:
            barrier.wait()
            results.append(migrate.upgrade(e, name))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert results == [migrate.head(name)] * len(engines)
    with engines[0].connect() as conn:
        assert conn.execute(sa.text(f"select count(*) from alembic_version_{name}")).scalar() == 1
    assert migrate.differences(engines[0], name) == []
    for e in engines:
        e.dispose()


def test_citybot_migrate_upgrades_both_databases_and_checks_them(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'citybot.db'}",
           "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}", "LOG_LEVEL": "WARNING"}

    def citybot(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "citybot.cli", "migrate", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)

    before = citybot("--check")
    assert before.returncode == 1 and "run `citybot migrate`" in before.stdout
    done = citybot()
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["citybot:", "at", migrate.head("citybot"), "hub:", "at", migrate.head("hub")]
    after = citybot("--check")
    assert after.returncode == 0, after.stdout + after.stderr


def test_a_revision_is_written_only_when_the_models_changed():
    assert migrate.new_revision("citybot", "nothing") is None
    assert migrate.new_revision("hub", "nothing") is None
