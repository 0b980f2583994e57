"""What ingestion has done with each call, so that a second run files nothing again and a killed run resumes.

One row per call_id (unique). Rows are written in batches; a call filed but not yet recorded when a run is
killed is filed again on the next run, and the hub answers with the same case (it is idempotent on
channel + external_id), so nothing is filed twice.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

# Outcomes after which a call is never processed again.
FINAL = ("filed", "linked", "triaged", "referred", "quarantined")


class HotlineCall(SQLModel, table=True):
    __tablename__ = "citybot_hotline_call"

    call_id: str = Field(primary_key=True, max_length=128)
    source: str = Field(max_length=1000)
    line_no: int
    outcome: str = Field(max_length=16)  # filed | linked | triaged | referred | quarantined | failed
    case_id: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, max_length=16)
    subcategory: str | None = Field(default=None, max_length=32)
    confidence: float | None = None
    referral: str | None = Field(default=None, max_length=32)
    phone_hash: str | None = Field(default=None, max_length=64, index=True)
    reason: str | None = Field(default=None, max_length=1000)
    updated_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))


class IngestState:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._pending: dict[str, HotlineCall] = {}

    def done(self, call_ids: list[str]) -> set[str]:
        """Those of `call_ids` that already reached a final outcome."""
        found: set[str] = set()
        with Session(self.engine) as session:
            for i in range(0, len(call_ids), 500):
                chunk = call_ids[i : i + 500]
                rows = session.exec(
                    select(HotlineCall.call_id).where(HotlineCall.call_id.in_(chunk), HotlineCall.outcome.in_(FINAL))
                )
                found.update(rows)
        return found | {c for c in call_ids if c in self._pending and self._pending[c].outcome in FINAL}

    def record(self, row: HotlineCall) -> None:
        self._pending[row.call_id] = row

    def flush(self) -> int:
        """Write the pending rows in one transaction and one multi-row upsert (insert, or update on call_id);
        returns how many."""
        if not self._pending:
            return 0
        rows, self._pending = list(self._pending.values()), {}
        table = HotlineCall.__table__
        dialect = self.engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            with Session(self.engine) as session:
                for row in rows:
                    session.merge(row)
                session.commit()
            return len(rows)
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        stmt = insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.call_id],
            set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name != "call_id"})
        columns = [c.name for c in table.columns]
        with self.engine.begin() as conn:
            conn.execute(stmt, [{name: getattr(row, name) for name in columns} for row in rows])
        return len(rows)

    def by_phone_hash(self, phone_hash: str) -> list[HotlineCall]:
        with Session(self.engine) as session:
            return list(session.exec(select(HotlineCall).where(HotlineCall.phone_hash == phone_hash)))
