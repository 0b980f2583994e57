"""The notifier's durable state: the hub-feed cursor and the outbox of messages to send.

Reading the feed and queuing its messages is one transaction (rows inserted + cursor advanced together), so a
crash either loses nothing (the cursor did not move; the batch is read again) or repeats nothing (the rows are
there; the unique (update_id, chat_id) makes a re-read insert nothing). A row goes pending -> sent, or
pending -> dead (retries used up; staff see it with `dead_letters`), or pending -> dropped (the chat blocked
the bot).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import JSON, Column, UniqueConstraint, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

PENDING, SENT, DEAD, DROPPED = "pending", "sent", "dead", "dropped"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class NotifierCursor(SQLModel, table=True):
    __tablename__ = "citybot_notifier_cursor"

    name: str = Field(primary_key=True, max_length=32)  # one cursor per feed consumer, e.g. "telegram"
    after: int = 0  # the last hub update_id whose messages are queued
    updated_at: dt.datetime = Field(default_factory=utcnow)


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "citybot_outbox"
    __table_args__ = (UniqueConstraint("update_id", "chat_id", name="uq_citybot_outbox_update_chat"),)

    id: int | None = Field(default=None, primary_key=True)
    update_id: int = Field(index=True)
    chat_id: str = Field(max_length=64)
    case_id: str = Field(max_length=32)
    channel: str = Field(default="telegram", max_length=16)
    state: str = Field(default=PENDING, max_length=8, index=True)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    attempts: int = 0
    next_attempt_at: dt.datetime | None = None  # UTC; None = now
    last_error: str = Field(default="", max_length=500)
    hub_time: dt.datetime | None = None  # the update's time at the hub (UTC), for delay figures
    created_at: dt.datetime = Field(default_factory=utcnow)
    sent_at: dt.datetime | None = None


@dataclass(frozen=True)
class Item:
    """A pending message as the sender holds it in memory."""

    id: int
    chat_id: str
    case_id: str
    payload: dict
    attempts: int
    next_attempt_at: dt.datetime | None


def _insert_ignore(engine_name: str):
    return (postgresql.insert if engine_name == "postgresql" else sqlite.insert)(OutboxMessage.__table__)


class Outbox:
    def __init__(self, engine: Engine, *, cursor: str = "telegram"):
        self.engine, self.cursor_name = engine, cursor

    def cursor(self) -> int:
        with Session(self.engine) as s:
            row = s.get(NotifierCursor, self.cursor_name)
            return row.after if row else 0

    def enqueue(self, rows: list[dict], after: int, *, session: Session) -> int:
        """Insert `rows` (dicts of OutboxMessage columns) unless already there, and move the cursor to `after`,
        inside the caller's transaction. Returns how many rows are new."""
        new = 0
        if rows:
            stmt = _insert_ignore(self.engine.dialect.name).values(
                [{"state": PENDING, "attempts": 0, "last_error": "", "created_at": utcnow(),
                  "channel": "telegram", **r} for r in rows]
            ).on_conflict_do_nothing(index_elements=["update_id", "chat_id"])
            new = session.execute(stmt).rowcount or 0
        row = session.get(NotifierCursor, self.cursor_name)
        if row is None:
            session.add(NotifierCursor(name=self.cursor_name, after=after))
        elif after > row.after:
            row.after, row.updated_at = after, utcnow()
            session.add(row)
        return max(new, 0)

    def pending(self, after_id: int = 0) -> list[Item]:
        with Session(self.engine) as s:
            rows = s.exec(select(OutboxMessage).where(OutboxMessage.state == PENDING, OutboxMessage.id > after_id)
                          .order_by(OutboxMessage.id)).all()
            return [Item(r.id, r.chat_id, r.case_id, r.payload, r.attempts, r.next_attempt_at) for r in rows]

    def _set(self, row_id: int, **values) -> None:
        with Session(self.engine) as s, s.begin():
            s.execute(update(OutboxMessage).where(OutboxMessage.id == row_id, OutboxMessage.state == PENDING)
                      .values(**values))

    def mark_sent(self, row_id: int) -> None:
        self._set(row_id, state=SENT, sent_at=utcnow())

    def mark_retry(self, row_id: int, attempts: int, at: dt.datetime, error: str) -> None:
        self._set(row_id, attempts=attempts, next_attempt_at=at, last_error=error[:500])

    def mark_dead(self, row_id: int, attempts: int, error: str) -> None:
        self._set(row_id, state=DEAD, attempts=attempts, last_error=error[:500])

    def drop_chat(self, chat_id: str, reason: str) -> int:
        """Every pending message to `chat_id` -> dropped (the chat blocked the bot)."""
        with Session(self.engine) as s, s.begin():
            res = s.execute(update(OutboxMessage).where(OutboxMessage.chat_id == chat_id,
                                                        OutboxMessage.state == PENDING)
                            .values(state=DROPPED, last_error=reason[:500]))
            return res.rowcount or 0

    def counts(self) -> dict[str, int]:
        with Session(self.engine) as s:
            q = select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
            return {state: n for state, n in s.exec(q)}


def dead_letters(engine: Engine, *, limit: int = 100) -> list[OutboxMessage]:
    """Messages that could not be delivered after every retry, newest first (for staff)."""
    with Session(engine) as s:
        rows = s.exec(select(OutboxMessage).where(OutboxMessage.state == DEAD)
                      .order_by(OutboxMessage.id.desc()).limit(limit)).all()
        for r in rows:
            s.expunge(r)
        return list(rows)


def retry_dead(engine: Engine) -> int:
    """Put every dead message back to pending (after the cause is fixed); returns how many."""
    with Session(engine) as s, s.begin():
        res = s.execute(update(OutboxMessage).where(OutboxMessage.state == DEAD)
                        .values(state=PENDING, attempts=0, next_attempt_at=None))
        return res.rowcount or 0
