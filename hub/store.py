"""Repository functions over the hub's tables. Each takes a keyword-only `session=`; no SQL by interpolation."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence

from sqlalchemy import bindparam, func, insert
from sqlalchemy.engine import Connection
from sqlmodel import Session, select

from hub.db import feed
from hub.models import AuditEntry, Case, CaseUpdate

MAX_PER_DAY = 999_999


class DailyLimitReached(RuntimeError):
    pass


@functools.cache
def _hot() -> dict:
    """The filing hot path's statements, built once (on first use) with bind parameters."""
    t, u = Case.__table__, CaseUpdate.__table__
    return {
        "max_id": select(func.max(t.c.id)).where(t.c.id >= bindparam("lo"), t.c.id <= bindparam("hi")),
        "by_ext": select(t).where(t.c.channel == bindparam("channel"), t.c.external_id == bindparam("external_id")),
        "by_ext_null": select(t).where(t.c.channel.is_(None), t.c.external_id == bindparam("external_id")),
        "insert_case": insert(t),
        "insert_updates": insert(u).returning(u.c.id, sort_by_parameter_order=True),
        "last_update": select(func.max(u.c.id)).where(u.c.case_id == bindparam("case_id")),
        "last_update_upto": select(func.max(u.c.id)).where(u.c.case_id == bindparam("case_id"),
                                                            u.c.created_at <= bindparam("upto")),
        "updates_after": select(u).where(u.c.id > bindparam("after")).order_by(u.c.id).limit(bindparam("limit")),
    }


def next_case_id(day: dt.date, *, session: Session | Connection, drawn: int | None = None) -> str:
    """YYYYMMDD + 6 digits. `drawn`: a value of the case-number sequence (PostgreSQL, where filings run side by
    side: unique within a day below MAX_PER_DAY filings a day, not consecutive); else the day's last number + 1
    (SQLite, whose writers take turns)."""
    prefix = day.strftime("%Y%m%d")
    if drawn is not None:
        return f"{prefix}{drawn % (MAX_PER_DAY + 1):06d}"
    last = session.execute(_hot()["max_id"], {"lo": prefix + "000000", "hi": prefix + "999999"}).scalar()
    seq = int(last[8:]) + 1 if last else 1
    if seq > MAX_PER_DAY:
        raise DailyLimitReached(f"more than {MAX_PER_DAY} cases on {prefix}")
    return f"{prefix}{seq:06d}"


def get_case(case_id: str, *, session: Session, for_update: bool = False) -> Case | None:
    q = select(Case).where(Case.id == case_id)
    if for_update:
        q = q.with_for_update()
    return session.exec(q).first()


def get_case_by_token(token: str, *, session: Session) -> Case | None:
    return session.exec(select(Case).where(Case.token == token)).first()


def get_case_by_external_id(channel: str | None, external_id: str, *, session: Session) -> Case | None:
    return session.exec(select(Case).where(Case.channel == channel, Case.external_id == external_id)).first()


def list_cases(*, session: Session, ids: Sequence[str] | None = None, service_codes: Sequence[str] | None = None,
               start: dt.datetime | None = None, end: dt.datetime | None = None,
               states: Sequence[str] | None = None, account_id: str | None = None, client: str | None = None,
               limit: int = 1000) -> list[Case]:
    q = select(Case)
    if ids is not None:
        q = q.where(Case.id.in_(list(ids)))
    else:
        if service_codes:
            q = q.where(Case.service_code.in_(list(service_codes)))
        if start is not None:
            q = q.where(Case.requested_at >= start)
        if end is not None:
            q = q.where(Case.requested_at <= end)
        if states:
            q = q.where(Case.state.in_(list(states)))
        if account_id is not None:
            q = q.where(Case.account_id == account_id, Case.client == client)
    return list(session.exec(q.order_by(Case.requested_at.desc(), Case.id.desc()).limit(limit)))


def case_row_by_external_id(channel: str | None, external_id: str, *, session: Session | Connection) -> dict | None:
    if channel is None:
        row = session.execute(_hot()["by_ext_null"], {"external_id": external_id}).mappings().first()
    else:
        row = session.execute(_hot()["by_ext"], {"channel": channel, "external_id": external_id}).mappings().first()
    return dict(row) if row is not None else None


def update_row(case, event: str, description: str, now: dt.datetime, *, media_url: str | None = None,
               note: str = "") -> dict:
    """The update row for `case` as it is now (a Case or any object with the same attributes)."""
    return {"case_id": case.id, "event": event, "state": case.state, "description": description, "note": note or "",
            "media_url": media_url, "agency_responsible": case.agency_responsible, "expected_at": case.expected_at,
            "result_media_urls": list(case.result_media_urls or []), "level": case.level,
            "priority": case.priority, "created_at": now}


def insert_case(case: dict, updates: list[dict], *, session: Session | Connection) -> list[int]:
    """Insert a new case and its first update rows (Core: the filing hot path, in the sequencing step); returns
    the update ids."""
    columns = Case.__table__.columns.keys()
    session.execute(_hot()["insert_case"], [{k: case[k] for k in columns}])
    return list(session.execute(_hot()["insert_updates"], updates).scalars())


def last_update_id(case_id: str, *, session: Session | Connection, upto: dt.datetime | None = None) -> int | None:
    """The id of the case's latest update (written at or before `upto`, when given)."""
    if upto is None:
        return session.execute(_hot()["last_update"], {"case_id": case_id}).scalar()
    return session.execute(_hot()["last_update_upto"], {"case_id": case_id, "upto": upto}).scalar()


def add_update(case: Case, event: str, description: str, now: dt.datetime, *, session: Session,
               media_url: str | None = None, note: str = "") -> dict:
    """Queue the update row for `case` as it is now; it is inserted at commit, in the sequencing step (hub.db)."""
    row = update_row(case, event, description, now, media_url=media_url, note=note)
    feed(session, [row])
    return row


def add_audit(case_id: str, now: dt.datetime, *, session: Session, principal: str, action: str,
              actor: str = "", reason: str = "", detail: dict | None = None) -> None:
    session.add(AuditEntry(case_id=case_id, at=now, actor=actor or "", principal=principal, action=action,
                           reason=reason or "", detail=detail or {}))


def updates_after(after: int, limit: int, *, session: Session | Connection) -> list:
    """Feed rows (Core rows with the CaseUpdate columns as attributes) with id > after, in id order; in a
    `Database.read_feed()` session, so that none below them can still appear."""
    return list(session.execute(_hot()["updates_after"], {"after": after, "limit": limit}))


def updates_of(case_id: str, *, session: Session) -> list[CaseUpdate]:
    return list(session.exec(select(CaseUpdate).where(CaseUpdate.case_id == case_id).order_by(CaseUpdate.id)))


def audit_of(case_id: str, *, session: Session) -> list[AuditEntry]:
    return list(session.exec(select(AuditEntry).where(AuditEntry.case_id == case_id).order_by(AuditEntry.id)))


def due_unmarked(now: dt.datetime, states: Sequence[str], *, session: Session, for_update: bool = False) -> list[Case]:
    """Cases past due in an active state whose current dispatch period has not been marked overdue yet (locked
    for the transaction with `for_update`; the conditions are re-checked after waiting for a lock)."""
    q = (select(Case).where(Case.state.in_(list(states)), Case.expected_at.is_not(None), Case.expected_at < now,
                            Case.overdue_marked_at.is_(None)).order_by(Case.expected_at, Case.id))
    return list(session.exec(q.with_for_update() if for_update else q))


def marked_overdue_below(top_level: str, states: Sequence[str], *, session: Session,
                         for_update: bool = False) -> list[Case]:
    """Cases in an active state marked overdue in their current dispatch period, below the top level."""
    q = (select(Case).where(Case.state.in_(list(states)), Case.overdue_marked_at.is_not(None),
                            Case.level != top_level).order_by(Case.overdue_marked_at, Case.id))
    return list(session.exec(q.with_for_update() if for_update else q))


def last_event_at(case_ids: Sequence[str], event: str, *, session: Session) -> dict[str, dt.datetime]:
    """{case_id: time of its latest update with this event} for the given cases (absent when none)."""
    out: dict[str, dt.datetime] = {}
    ids = list(case_ids)
    for i in range(0, len(ids), 500):  # SQLite's bound-variable limit
        q = (select(CaseUpdate.case_id, func.max(CaseUpdate.created_at))
             .where(CaseUpdate.case_id.in_(ids[i:i + 500]), CaseUpdate.event == event).group_by(CaseUpdate.case_id))
        out.update({cid: at for cid, at in session.exec(q)})
    return out


def overdue_cases(now: dt.datetime, states: Sequence[str], *, session: Session, limit: int = 1000) -> list[Case]:
    return list(session.exec(select(Case).where(Case.state.in_(list(states)), Case.expected_at.is_not(None),
                                                Case.expected_at < now).order_by(Case.expected_at).limit(limit)))


def cases_since(since: dt.datetime | None, *, session: Session) -> list[Case]:
    q = select(Case)
    if since is not None:
        q = q.where(Case.requested_at >= since)
    return list(session.exec(q))
