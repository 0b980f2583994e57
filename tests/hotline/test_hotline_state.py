"""hotline.state.IngestState on SQLite and PostgreSQL: batched upserts (one statement per flush), final outcomes."""

from __future__ import annotations

import contextlib

import pytest

from citybot.db import create_tables, make_engine
from hotline.state import HotlineCall, IngestState
from tests.pgschema import fresh_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    with contextlib.ExitStack() as stack:
        url = (stack.enter_context(fresh_schema("hotline_test")) if request.param == "postgresql"
               else f"sqlite:///{tmp_path / 'citybot.db'}")
        engine = make_engine(url)
        stack.callback(engine.dispose)  # before the schema is dropped
        create_tables(engine)
        yield engine


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
