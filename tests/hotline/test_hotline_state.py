"""hotline.state.IngestState on SQLite and PostgreSQL: batched upserts (one statement per flush), final outcomes."""

from __future__ import annotations

import uuid

import pytest

from citybot.db import create_tables, make_engine
from hotline.state import HotlineCall, IngestState

PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def _pg_reason() -> str | None:
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"PostgreSQL not reachable at 127.0.0.1:5432: {type(exc).__name__}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'citybot.db'}")
        create_tables(engine)
        yield engine
        engine.dispose()
        return
    reason = _pg_reason()
    if reason:
        pytest.skip(reason)
    import sqlalchemy as sa

    schema = f"hotline_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.schema.CreateSchema(schema))
    engine = make_engine(f"{PG_URL}?options=-csearch_path%3D{schema}")
    try:
        create_tables(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True))
        admin.dispose()


def _row(call_id: str, outcome: str, **kw) -> HotlineCall:
    return HotlineCall(call_id=call_id, source="calls.jsonl", line_no=1, outcome=outcome, **kw)


def test_flush_inserts_then_updates_and_done_sees_final_outcomes(engine):
    state = IngestState(engine)
    for i in range(450):
        state.record(_row(f"C-{i}", "filed" if i % 3 else "failed", case_id=f"2024060100{i:04d}", confidence=0.5))
    assert state.done(["C-1", "C-3"]) == {"C-1"}  # pending rows count before the flush
    assert state.flush() == 450 and state.flush() == 0
    assert state.done([f"C-{i}" for i in range(450)]) == {f"C-{i}" for i in range(450) if i % 3}
    # a failed call filed on the next run: the same row, updated
    state.record(_row("C-0", "linked", case_id="20240601009999", reason=None))
    state.flush()
    again = IngestState(engine)
    assert "C-0" in again.done(["C-0"])
    from sqlmodel import Session

    with Session(engine) as session:
        row = session.get(HotlineCall, "C-0")
        assert (row.outcome, row.case_id) == ("linked", "20240601009999")
        assert session.get(HotlineCall, "C-1").confidence == 0.5


def test_by_phone_hash(engine):
    state = IngestState(engine)
    state.record(_row("P-1", "filed", phone_hash="abc"))
    state.record(_row("P-2", "referred", phone_hash="def"))
    state.flush()
    assert [r.call_id for r in state.by_phone_hash("abc")] == ["P-1"]
