"""The hub's case operations: filing, lifecycle transitions, staff and citizen actions, the overdue sweep.

Each operation is one write transaction (hub.db.Database.write) that locks the case, changes it, writes exactly
one update row per transition or event (in commit order: hub.db) and records who did it in the audit table.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import statistics
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

from sqlalchemy.exc import IntegrityError

from hub import lifecycle as lc
from hub import store
from hub.limits import ADDRESS_NORM, AUDIT_REASON, STATUS_NOTES, UPDATE_TEXT, fit
from hub.db import SWEEP_KEY, Database
from citybot.places import index_keys
from hub.duplicates import find_duplicate, normalise_address
from hub.models import CASE_NUMBER, Case
from hub.services import Services
from hub.workclock import WorkClock

log = logging.getLogger(__name__)
UTC = dt.timezone.utc


class CaseError(Exception):
    status = 400

    def __init__(self, description: str):
        super().__init__(description)
        self.description = description


class NotFound(CaseError):
    status = 404


class Forbidden(CaseError):
    status = 403


class Conflict(CaseError):
    status = 409


def to_db(t: dt.datetime) -> dt.datetime:
    """Any aware time -> aware UTC, the stored form (SQLModel stores UTC and returns it aware)."""
    return t.astimezone(UTC)


_CASE_ID = re.compile(r"^[0-9]{14}$")


def address_key(address: str | None) -> str | None:
    """The duplicate rule's normalised address, cut to its column (normalisation may lengthen a text)."""
    norm = normalise_address(address)
    return norm[:ADDRESS_NORM] if norm else None


def check_id(case_id: str) -> None:
    """A case number is 14 digits; anything else cannot exist (and never reaches the database)."""
    if not _CASE_ID.fullmatch(case_id or ""):
        raise NotFound(f"service_request_id {case_id[:32]} not found")


@dataclass
class Filing:
    service_code: str
    description: str = ""
    lat: float | None = None
    long: float | None = None
    address: str | None = None
    address_id: str | None = None
    zipcode: str | None = None
    media_url: str | None = None
    more_media_urls: list[str] = field(default_factory=list)  # photos 2..n: photo updates in the filing transaction
    attributes: dict = field(default_factory=dict)
    account_id: str | None = None
    device_id: str | None = None
    channel: str | None = None
    external_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    email: str | None = None
    needs_place: bool = False  # may be filed without a location, for triage (待补充地点): staff complete it
    client: str | None = None  # the api client filing it (hub/auth.py)


@dataclass(frozen=True)
class Principal:
    """Who acts: a staff token's identity or a citizen's account; `name` goes to the audit trail."""

    name: str


SYSTEM = Principal("system")  # the hub itself (automatic escalation)


class Hub:
    def __init__(self, db: Database, services: Services, workclock: WorkClock, *,
                 clock: Callable[[], dt.datetime] | None = None, auto_dispatch: bool = True,
                 duplicate_radius_m: float = 100.0, duplicate_window_hours: float = 72.0,
                 escalate_after_hours: float = 4.0):
        self.db, self.services, self.workclock = db, services, workclock
        self.clock = clock or (lambda: dt.datetime.now(UTC))
        self.auto_dispatch = auto_dispatch
        self.escalate_after_hours = escalate_after_hours  # working hours; 0 = no automatic escalation
        self.duplicate_radius_m, self.duplicate_window_hours = duplicate_radius_m, duplicate_window_hours

    def now(self) -> dt.datetime:
        return self.clock()

    def is_overdue(self, case: Case, now: dt.datetime | None = None) -> bool:
        now_db = to_db(now or self.now())
        return case.state in lc.ACTIVE_STATES and case.expected_at is not None and now_db > case.expected_at

    # -- filing ---------------------------------------------------------------------------------------------
    def file(self, f: Filing) -> tuple[SimpleNamespace, bool]:
        """(case, created). Re-filing the same channel+external_id returns the existing case (idempotent).

        The hot path: Core statements on one connection (no ORM objects). The checks run concurrently; numbering
        and inserting the case and its first updates is the sequencing step (hub.db).
        """
        sub = self._service(f)
        now = self.now()
        now_db = to_db(now)
        address_norm = address_key(f.address)
        try:
            with self.db.write_conn() as conn:
                # A repeat of channel+external_id is answered from the unique constraint (below), which costs
                # nothing on the common path; without a channel the constraint cannot tell (NULLs are distinct).
                if f.external_id and f.channel is None:
                    existing = store.case_row_by_external_id(f.channel, f.external_id, session=conn)
                    if existing is not None:
                        return self._existing(existing, conn), False
                original = self._original(f, sub, address_norm, now_db, conn)
                drawn = self.db.sequence(conn, CASE_NUMBER)
                case_id = store.next_case_id(now.astimezone(self.workclock.tz).date(), session=conn, drawn=drawn)
                case, updates = self._draft(f, sub, case_id, address_norm, original, now)
                ids = store.insert_case(vars(case), updates, session=conn)
                # what the filer is told: the new case's filing updates, or the open case as it is now
                case.update_id = store.last_update_id(original, session=conn) if original else max(ids)
                return case, True
        except IntegrityError:
            # this channel+external_id was filed before (or by a concurrent request that committed first):
            # answer with that case
            if not f.external_id:
                raise
            with self.db.engine.connect() as conn:
                existing = store.case_row_by_external_id(f.channel, f.external_id, session=conn)
                if existing is None:
                    raise
                return self._existing(existing, conn), False

    def _existing(self, row: dict, conn) -> SimpleNamespace:
        case = SimpleNamespace(**row)
        case.update_id = self._told(case, conn)
        return case

    @staticmethod
    def _told(case, conn) -> int | None:
        """The feed position the filer is told about in the answer: for a duplicate, the open case as it is now;
        for a new case, its filing updates (received, dispatched)."""
        if case.duplicate_of:
            return store.last_update_id(case.duplicate_of, session=conn)
        return store.last_update_id(case.id, session=conn, upto=case.requested_at)

    def preview(self, f: Filing) -> tuple[SimpleNamespace, bool]:
        """What `file` would answer, creating nothing (a dry run): (the existing case, False) for a re-filed
        channel+external_id, else (the case as it would be filed, with id and token None, True). Same checks,
        same duplicate rule; a read, so it takes no write lock."""
        sub = self._service(f)
        now = self.now()
        address_norm = address_key(f.address)
        with self.db.engine.connect() as conn:
            if f.external_id:
                existing = store.case_row_by_external_id(f.channel, f.external_id, session=conn)
                if existing is not None:
                    return SimpleNamespace(**existing), False
            original = self._original(f, sub, address_norm, to_db(now), conn)
        case, _ = self._draft(f, sub, None, address_norm, original, now)
        case.token = None
        return case, True

    def _service(self, f: Filing):
        sub = self.services.get(f.service_code)
        if sub is None:
            raise CaseError(f"service_code {f.service_code!r} not found")
        return sub

    def _original(self, f: Filing, sub, address_norm: str | None, now_db: dt.datetime, conn) -> str | None:
        """The open case this filing duplicates (same 小类, same place, within the window), if any."""
        if f.needs_place:
            return None  # no place, nothing to compare: staff see it in the triage list
        return find_duplicate(
            session=conn, service_code=sub.code, lat=f.lat, long=f.long, address_norm=address_norm,
            since=now_db - dt.timedelta(hours=self.duplicate_window_hours), radius_m=self.duplicate_radius_m,
            address=f.address)

    def _draft(self, f: Filing, sub, case_id: str | None, address_norm: str | None, original: str | None,
               now: dt.datetime) -> tuple[SimpleNamespace, list[dict]]:
        """The new case and its first update rows: received, then duplicate or (auto) dispatched."""
        now_db = to_db(now)
        case = SimpleNamespace(
            **vars(f), id=case_id, token=str(uuid.uuid4()), address_norm=address_norm, state=lc.RECEIVED,
            **dict(zip(("place_road", "place_mark"), index_keys(f.address))),
            status_notes=lc.note(lc.RECEIVED), service_name=sub.name, group=sub.category, level=sub.level,
            priority="normal", agency_responsible=None, duplicate_of=None, requested_at=now_db,
            updated_at=now_db, dispatched_at=None, expected_at=None, resolved_at=None, closed_at=None,
            overdue_marked_at=None, result_media_urls=[], rating=None, rating_comment=None)
        updates = [store.update_row(case, lc.RECEIVED, case.status_notes, now_db, media_url=f.media_url)]
        # the filing's further photos, as a citizen's photo comments are: filed together, or not at all
        updates += [store.update_row(case, lc.COMMENT, "", now_db, media_url=u) for u in f.more_media_urls]
        if original is not None:
            self._enter(case, lc.DUPLICATE, now, duplicate_of=original)
            updates.append(store.update_row(case, lc.DUPLICATE, case.status_notes, now_db))
        elif f.needs_place:
            case.status_notes = lc.note(lc.RECEIVED) + "，" + lc.NEEDS_PLACE_NOTE  # dispatched once staff set the place
        elif self.auto_dispatch:
            self._enter(case, lc.DISPATCHED, now, department=sub.department)
            updates.append(store.update_row(case, lc.DISPATCHED, case.status_notes, now_db))
        return case, updates

    def set_place(self, case_id: str, principal: Principal, *, address: str | None = None, lat: float | None = None,
                  long: float | None = None, actor: str = "", note: str = "", check=None) -> Case:
        """Staff complete a case's place (the triage of a call filed without one, or a correction): address and/or
        lat/long, one `place` update and an audit row. A case that was waiting for its place (received, 待补充地点)
        then goes on as a new filing would: linked to an open case at the same place (duplicate), or dispatched."""
        if not address and (lat is None or long is None):
            raise CaseError("a place is required: address, or lat and long")

        def apply(case: Case, now: dt.datetime, s) -> None:
            waiting = case.needs_place and case.state == lc.RECEIVED
            if address:
                case.address, case.address_norm = address, address_key(address)
            if lat is not None and long is not None:
                case.lat, case.long = lat, long
            case.place_road, case.place_mark = index_keys(case.address)
            case.updated_at = to_db(now)
            store.add_update(case, lc.PLACE_SET, lc.note(lc.PLACE_SET) + (f"：{note}" if note else ""), to_db(now),
                             session=s)
            if not waiting:
                return
            original = find_duplicate(
                session=s, service_code=case.service_code, lat=case.lat, long=case.long,
                address_norm=case.address_norm, address=case.address,
                since=to_db(now) - dt.timedelta(hours=self.duplicate_window_hours), radius_m=self.duplicate_radius_m)
            if original is not None and original != case.id:
                self._enter(case, lc.DUPLICATE, now, duplicate_of=original)
                store.add_update(case, lc.DUPLICATE, case.status_notes, to_db(now), session=s)
            elif self.auto_dispatch:
                self._enter(case, lc.DISPATCHED, now)
                store.add_update(case, lc.DISPATCHED, case.status_notes, to_db(now), session=s)

        return self._act(case_id, principal, "set_place", actor=actor, reason=note, check=check, apply=apply,
                         detail={"address": address, "lat": lat, "long": long})

    def needing_place(self) -> list[Case]:
        """Cases filed without a place that are still waiting for one (the triage list), oldest first."""
        from sqlmodel import select

        with self.db.read() as s:
            return list(s.exec(select(Case).where(
                Case.address.is_(None), Case.address_id.is_(None), Case.lat.is_(None),
                Case.state.in_(sorted(lc.ACTIVE_STATES))).order_by(Case.requested_at, Case.id)))

    # -- transitions ---------------------------------------------------------------------------------------------
    def _enter(self, case: Case, target: str, now: dt.datetime, *, note: str = "", department: str | None = None,
               duplicate_of: str | None = None, media_urls: list[str] | None = None, rating: int | None = None,
               comment: str | None = None) -> None:
        """Move `case` to `target` (checked against the lifecycle table) and apply the state's side effects."""
        lc.check(case.state, target)
        now_db = to_db(now)
        if target == lc.DISPATCHED:
            sub = self.services.catalogue.by_code(case.service_code)
            department = department or case.agency_responsible or (sub.department if sub else None)
            case.agency_responsible = department
            case.dispatched_at = now_db
            case.expected_at = to_db(self.workclock.due(now, sub.time_limit)) if sub else None
            case.overdue_marked_at = None  # a new dispatch period may go overdue again once
        elif target == lc.RESOLVED:
            case.resolved_at = now_db
            case.result_media_urls = [*(case.result_media_urls or []), *(media_urls or [])]
        elif target in (lc.CLOSED, lc.CANCELLED, lc.REFERRED):
            case.closed_at = now_db
        elif target == lc.RATED:
            case.rating, case.rating_comment = rating, comment
        elif target == lc.DUPLICATE:
            case.duplicate_of = duplicate_of
        elif target == lc.REOPENED:
            case.closed_at = case.resolved_at = None
            case.duplicate_of = None
            case.overdue_marked_at = None
        case.state = target
        base = lc.note(target, department=case.agency_responsible or "", duplicate_of=duplicate_of or "")
        case.status_notes = fit(f"{base}：{note}" if note else base, STATUS_NOTES)
        case.updated_at = now_db

    def _act(self, case_id: str, principal: Principal, action: str, *, actor: str = "", reason: str = "",
             check: Callable[[Case], None] | None = None,
             apply: Callable[[Case, dt.datetime, object], None], detail: dict | None = None) -> Case:
        check_id(case_id)
        now = self.now()
        with self.db.write() as s:
            case = store.get_case(case_id, session=s, for_update=self.db.is_postgres)
            if case is None:
                raise NotFound(f"service_request_id {case_id} not found")
            if check is not None:
                check(case)
            try:
                apply(case, now, s)
            except lc.IllegalTransition as exc:
                raise Conflict(f"{action} not allowed: case {case_id} is {exc.current}") from None
            store.add_audit(case.id, to_db(now), session=s, principal=principal.name, action=action, actor=actor,
                            reason=fit(reason, AUDIT_REASON), detail=detail)
            return case

    def _transition_apply(self, target: str, *, note: str = "", event: str | None = None, redispatch: bool = False,
                          **kw) -> Callable:
        def apply(case: Case, now: dt.datetime, s) -> None:
            self._enter(case, target, now, note=note, **kw)
            store.add_update(case, event or target, case.status_notes, to_db(now), session=s, note=note)
            if redispatch and self.auto_dispatch:
                self._enter(case, lc.DISPATCHED, now)
                store.add_update(case, lc.DISPATCHED, case.status_notes, to_db(now), session=s)
        return apply

    def transition(self, case_id: str, target: str, principal: Principal, *, actor: str = "", note: str = "",
                   check: Callable[[Case], None] | None = None, action: str | None = None, **kw) -> Case:
        if target not in lc.TRANSITIONS:
            raise CaseError(f"unknown state {target!r}; one of {', '.join(lc.STATES)}")
        if target == lc.REOPENED:
            kw.setdefault("redispatch", True)
        return self._act(case_id, principal, action or target, actor=actor, reason=note, check=check,
                         apply=self._transition_apply(target, note=note, **kw),
                         detail={k: v for k, v in kw.items() if k in ("department", "duplicate_of", "media_urls", "rating")})

    def reclassify(self, case_id: str, service_code: str, principal: Principal, *, actor: str = "", note: str = "",
                   check=None) -> Case:
        sub = self.services.get(service_code)
        if sub is None:
            raise CaseError(f"service_code {service_code!r} not found")

        def apply(case: Case, now: dt.datetime, s) -> None:
            lc.check(case.state, lc.DISPATCHED)
            old = case.service_code
            case.service_code, case.service_name, case.group, case.level = sub.code, sub.name, sub.category, sub.level
            case.agency_responsible = None
            self._enter(case, lc.DISPATCHED, now, department=sub.department)
            case.status_notes = fit(lc.note(lc.RECLASSIFIED, department=sub.department) + (f"：{note}" if note else ""),
                                    STATUS_NOTES)
            store.add_update(case, lc.RECLASSIFIED, case.status_notes, to_db(now), session=s, note=note)
            detail["from"] = old

        detail = {"service_code": sub.code}
        return self._act(case_id, principal, "reclassify", actor=actor, reason=note, check=check, apply=apply,
                         detail=detail)

    def escalate(self, case_id: str, principal: Principal, *, actor: str = "", reason: str = "", check=None) -> Case:
        from citybot.catalogue import LEVELS

        def apply(case: Case, now: dt.datetime, s) -> None:
            if case.state not in lc.ACTIVE_STATES and case.state != lc.RESOLVED:
                raise Conflict(f"escalate not allowed: case {case.id} is {case.state}")
            level_i, prio_i = LEVELS.index(case.level), lc.PRIORITIES.index(case.priority)
            if level_i == len(LEVELS) - 1 and prio_i == len(lc.PRIORITIES) - 1:
                raise Conflict(f"case {case.id} is already at the top level and priority")
            self._raise_level(case, now, s, reason)

        return self._act(case_id, principal, "escalate", actor=actor, reason=reason, check=check, apply=apply)

    @staticmethod
    def _raise_level(case: Case, now: dt.datetime, s, reason: str) -> None:
        """One step up: level 街道→区→市 and priority normal→high→urgent (each capped), one `escalated` update."""
        from citybot.catalogue import LEVELS

        level_i, prio_i = LEVELS.index(case.level), lc.PRIORITIES.index(case.priority)
        case.level = LEVELS[min(level_i + 1, len(LEVELS) - 1)]
        case.priority = lc.PRIORITIES[min(prio_i + 1, len(lc.PRIORITIES) - 1)]
        case.updated_at = to_db(now)
        notes = fit(lc.note(lc.ESCALATED) + f"（{case.level}级，{case.priority}）" + (f"：{reason}" if reason else ""),
                    STATUS_NOTES)
        case.status_notes = notes
        store.add_update(case, lc.ESCALATED, notes, to_db(now), session=s, note=reason)

    def merge(self, case_id: str, into_id: str, principal: Principal, *, actor: str = "", note: str = "",
              check=None) -> Case:
        if into_id == case_id:
            raise Conflict("a case cannot be merged into itself")
        check_id(case_id)
        check_id(into_id)
        with self.db.read() as s:
            root = store.get_case(into_id, session=s)
            seen = {case_id}
            while root is not None and root.duplicate_of:
                if root.id in seen:
                    break
                seen.add(root.id)
                root = store.get_case(root.duplicate_of, session=s)
        if root is None:
            raise NotFound(f"into_id {into_id} not found")
        if root.id == case_id:
            raise Conflict(f"case {into_id} is already a duplicate of {case_id}")
        return self.transition(case_id, lc.DUPLICATE, principal, actor=actor, note=note, check=check,
                               action="merge", duplicate_of=root.id)

    def comment(self, case_id: str, principal: Principal, *, text: str = "", media_url: str | None = None,
                check=None) -> Case:
        def apply(case: Case, now: dt.datetime, s) -> None:
            case.updated_at = to_db(now)
            store.add_update(case, lc.COMMENT, fit(text, UPDATE_TEXT), to_db(now), session=s, media_url=media_url,
                             note=text)

        return self._act(case_id, principal, "comment", reason=text, check=check, apply=apply,
                         detail={"media_url": media_url} if media_url else None)

    # -- overdue -------------------------------------------------------------------------------------------------
    def sweep_overdue(self) -> list[str]:
        """Run the sweep (see `sweep`); returns the ids of the newly overdue cases."""
        return self.sweep()["newly_overdue"]

    def sweep(self) -> dict[str, list[str]]:
        """One write transaction, one sweep at a time (threads or processes: SWEEP_KEY on PostgreSQL), locking the
        cases it changes, so concurrent sweeps never act twice and never undo a concurrent staff action:
        1. automatic escalation: a case still overdue `escalate_after_hours` working hours after it was marked
           overdue or last escalated (whichever is later) goes one level up (街道→区→市; never past 市, so at
           most once per level), with an `escalated` update and an audit row by "system";
        2. marking: exactly one `overdue` update per newly overdue case and dispatch period.
        Returns {"newly_overdue": [ids], "escalated": [ids]}."""
        now = self.now()
        now_db = to_db(now)
        with self.db.write(exclusive=SWEEP_KEY) as s:
            escalated = self._auto_escalate(now, s)
            cases = store.due_unmarked(now_db, sorted(lc.ACTIVE_STATES), session=s, for_update=self.db.is_postgres)
            for case in cases:
                case.overdue_marked_at = now_db
                store.add_update(case, lc.OVERDUE, lc.note(lc.OVERDUE), now_db, session=s)
            ids = [c.id for c in cases]
        if ids:
            log.info("overdue sweep marked %d case(s): %s", len(ids), ", ".join(ids[:20]))
        if escalated:
            log.info("overdue sweep escalated %d case(s): %s", len(escalated), ", ".join(escalated[:20]))
        return {"newly_overdue": ids, "escalated": escalated}

    def escalation_reason(self) -> str:
        return f"超过处置时限{self.escalate_after_hours:g}个工作小时仍未办结，按超期督办规则自动升级"

    def _auto_escalate(self, now: dt.datetime, s) -> list[str]:
        from citybot.catalogue import LEVELS

        hours = self.escalate_after_hours
        if hours <= 0:
            return []
        now_db = to_db(now)
        cases = store.marked_overdue_below(LEVELS[-1], sorted(lc.ACTIVE_STATES), session=s,
                                           for_update=self.db.is_postgres)
        last = store.last_event_at([c.id for c in cases], lc.ESCALATED, session=s)
        reason, out = self.escalation_reason(), []
        for case in cases:
            anchor = max(filter(None, (case.overdue_marked_at, last.get(case.id))))
            if now_db < to_db(self.workclock.add_working(anchor, hours * 3600)):
                continue
            old = case.level
            self._raise_level(case, now, s, reason)
            store.add_audit(case.id, now_db, session=s, principal=SYSTEM.name, action="escalate", actor="system",
                            reason=reason, detail={"rule": "auto_escalate", "after_working_hours": hours,
                                                   "from": old, "to": case.level})
            out.append(case.id)
        return out

    def overdue(self) -> list[Case]:
        with self.db.read() as s:
            return store.overdue_cases(to_db(self.now()), sorted(lc.ACTIVE_STATES), session=s)

    # -- reads ------------------------------------------------------------------------------------------------
    def get(self, case_id: str) -> Case:
        check_id(case_id)
        with self.db.read() as s:
            case = store.get_case(case_id, session=s)
        if case is None:
            raise NotFound(f"service_request_id {case_id} not found")
        return case

    def stats(self, since: dt.datetime | None, *, visible: Callable[[Case], bool] | None = None) -> dict:
        """Figures over the cases filed since `since` (all when None) for which `visible(case)` holds."""
        now_db = to_db(self.now())
        with self.db.read() as s:
            cases = store.cases_since(to_db(since) if since else None, session=s)
        if visible is not None:
            cases = [c for c in cases if visible(c)]
        by_group: dict[str, Counter] = {}
        for c in cases:
            by_group.setdefault(c.group, Counter())[c.state] += 1
        judged = [c for c in cases if c.resolved_at and c.expected_at]
        on_time = sum(1 for c in judged if c.resolved_at <= c.expected_at)
        hours = [(c.resolved_at - c.requested_at).total_seconds() / 3600 for c in cases if c.resolved_at]
        return {
            "since": since.isoformat() if since else None,
            "total": len(cases),
            "by_group": {g: dict(cnt) for g, cnt in sorted(by_group.items())},
            "by_state": dict(Counter(c.state for c in cases)),
            "overdue": sum(1 for c in cases if c.state in lc.ACTIVE_STATES and c.expected_at and now_db > c.expected_at),
            "on_time_rate": round(on_time / len(judged), 4) if judged else None,
            "median_handling_hours": round(statistics.median(hours), 2) if hours else None,
        }
