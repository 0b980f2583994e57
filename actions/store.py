"""citybot's durable dialogue state: the outbox of reports the hub could not take yet, and who follows which case
(the `citybot_subscription` table is defined once, in citybot.subscriptions; this module only writes to it).

Both tables live in citybot's own database (citybot.db). An outbox row carries the filing's stable
`external_id`, so that re-sending it after a crash or a lost answer cannot file twice: the hub is idempotent
on (channel, external_id). The notifier reads `citybot_subscription` to know whom to tell about a case.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from citybot import subscriptions
from citybot.subscriptions import Subscription
from hubapi.models import Filing


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class OutboxRow(SQLModel, table=True):
    __tablename__ = "citybot_report_outbox"  # citybot_outbox is the notifier's (bot/outbox.py)

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=128, unique=True)
    sender_id: str = Field(max_length=128, index=True)
    payload: str  # JSON: the Filing (hubapi.models.Filing.to_json)
    status: str = Field(default="pending", max_length=16, index=True)  # pending | filed | rejected
    attempts: int = 0
    next_attempt_at: dt.datetime = Field(default_factory=_now)
    last_error: str = Field(default="", max_length=1000)
    case_id: str | None = Field(default=None, max_length=64)
    duplicate_of: str | None = Field(default=None, max_length=64)
    created_at: dt.datetime = Field(default_factory=_now)
    filed_at: dt.datetime | None = None

    @property
    def filing(self) -> Filing:
        return Filing.from_json(json.loads(self.payload))


class Store:
    """Synchronous, short transactions; async callers run them with asyncio.to_thread."""

    def __init__(self, engine: Engine):
        self.engine = engine

    # -- outbox ----------------------------------------------------------------------------------------------
    def enqueue(self, sender_id: str, filing: Filing) -> OutboxRow:
        """Save a filing (idempotent on its external_id: queuing the same report twice keeps one row)."""
        with Session(self.engine) as s:
            row = s.exec(select(OutboxRow).where(OutboxRow.external_id == filing.external_id)).first()
            if row is None:
                row = OutboxRow(external_id=filing.external_id, sender_id=sender_id,
                                payload=json.dumps(filing.to_json(), ensure_ascii=False))
                s.add(row)
                s.commit()
                s.refresh(row)
            return row

    def due(self, limit: int = 50, now: dt.datetime | None = None) -> list[OutboxRow]:
        now = now or _now()
        with Session(self.engine) as s:
            q = (select(OutboxRow).where(OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now)
                 .order_by(OutboxRow.id).limit(limit))
            return list(s.exec(q))

    def pending(self) -> list[OutboxRow]:
        with Session(self.engine) as s:
            return list(s.exec(select(OutboxRow).where(OutboxRow.status == "pending").order_by(OutboxRow.id)))

    def all_rows(self) -> list[OutboxRow]:
        with Session(self.engine) as s:
            return list(s.exec(select(OutboxRow).order_by(OutboxRow.id)))

    def mark_filed(self, row_id: int, case_id: str, duplicate_of: str | None) -> None:
        with Session(self.engine) as s:
            row = s.get(OutboxRow, row_id)
            row.status, row.case_id, row.duplicate_of, row.filed_at = "filed", case_id, duplicate_of, _now()
            row.attempts += 1
            s.add(row)
            s.commit()

    def mark_failed(self, row_id: int, error: str, *, retry_in_s: float | None) -> None:
        """A failed attempt: retry after `retry_in_s`, or give up (status rejected) when it is None."""
        with Session(self.engine) as s:
            row = s.get(OutboxRow, row_id)
            row.attempts += 1
            row.last_error = error[:1000]
            if retry_in_s is None:
                row.status = "rejected"
            else:
                row.next_attempt_at = _now() + dt.timedelta(seconds=retry_in_s)
            s.add(row)
            s.commit()

    # -- subscriptions ---------------------------------------------------------------------------------------
    def subscribe(self, sender_id: str, case_id: str, after_update_id: int | None = None) -> None:
        """The conversation's sender id is the chat id (Telegram relays chat ids as REST senders); updates up to
        `after_update_id` were told in the filing answer and are not pushed."""
        with Session(self.engine) as s:
            subscriptions.subscribe(sender_id, case_id, session=s, after_update_id=after_update_id)
            s.commit()

    def subscriptions(self, sender_id: str | None = None, case_id: str | None = None) -> list[Subscription]:
        with Session(self.engine) as s:
            q = select(Subscription).order_by(Subscription.id)
            if sender_id is not None:
                q = q.where(Subscription.chat_id == sender_id)
            if case_id is not None:
                q = q.where(Subscription.case_id == case_id)
            return list(s.exec(q))
