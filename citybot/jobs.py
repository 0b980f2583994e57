"""The durable job queue: everything that must leave the process (a push to a chat, a staff alert, filing a report,
following a merged case) is a row here until it is done. One table, one vocabulary, any number of workers.

A job (FixMyStreet's shape): `kind`, a unique `key` (push:{update}:{chat}, file:{external_id}, ...) so that reading
the same thing twice inserts nothing, `state`, `attempts`, `next_attempt_at`, `first_attempt_at`, `last_error`,
and a lease (`lease_owner`, `lease_until`).

States:
  pending  waiting or being worked on (a worker holds it while `lease_until` is in the future)
  sent     done (for a filing: filed; `result` holds the case number)
  dead     a permanent error (Telegram 400, the hub refusing a filing for good) or trying for longer than the
           policy's `give_up_after`; reported once to the staff chat, re-sendable (`citybot notifier --resend`)
  dropped  will never be sent: the chat blocked the bot

Lanes and order. Every job has a `lane` (chat:{chat_id} for pushes and alerts, file:{external_id}, ...). A worker
may only claim the EARLIEST pending job of a lane (its head), so a chat's messages go in the order they were
queued - also when another replica takes over mid-stream: the next job is not claimable while the one before it is
pending, whoever holds it. Claiming is a conditional UPDATE of the lease columns (lease free or expired, still the
head); on PostgreSQL the candidates are first locked with `SELECT ... FOR UPDATE SKIP LOCKED` so concurrent
workers pass over each other's rows instead of waiting. A worker renews its leases while it holds jobs; a crashed
worker's leases expire after `lease_s` and anyone takes the jobs over.

Exactly once: a job is marked sent right after the far side answered; only a hard kill in the milliseconds between
that answer and the row update can send it again (Telegram has no idempotency key). A lease that expired while
its holder was still working (a stall longer than `lease_s`) could also let a second worker send it: keep
`lease_s` well above the longest call (default 30 s; calls time out well before that).

The retry policy is citybot/retry.py's Backoff (fail()).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import JSON, Column, Index, UniqueConstraint, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import aliased
from sqlmodel import Field, Session, SQLModel

from citybot.retry import Backoff

PENDING, SENT, DEAD, DROPPED = "pending", "sent", "dead", "dropped"
PUSH, ALERT, FILE, MERGE = "push", "alert", "file", "merge"
INSERT_CHUNK = 500  # rows per INSERT (SQLite's bound-variable limit)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def worker_id() -> str:
    """A lease owner: unique per process start."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def chat_lane(chat_id: str | int) -> str:
    return f"chat:{chat_id}"


class Job(SQLModel, table=True):
    __tablename__ = "citybot_job"
    __table_args__ = (UniqueConstraint("key", name="uq_citybot_job_key"),
                      Index("ix_citybot_job_state_lane_id", "state", "lane", "id"))

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    key: str = Field(max_length=200)
    lane: str = Field(max_length=160)
    chat_id: str | None = Field(default=None, max_length=64)  # the recipient of a push/alert
    case_id: str = Field(default="", max_length=64)
    update_id: int | None = None  # the hub update a push/alert tells
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default=PENDING, max_length=8)
    attempts: int = 0
    next_attempt_at: dt.datetime | None = None  # UTC; None = now
    first_attempt_at: dt.datetime | None = None  # when it first failed; the give-up clock runs from here
    last_error: str = Field(default="", max_length=500)
    lease_owner: str | None = Field(default=None, max_length=80)
    lease_until: dt.datetime | None = None
    result: str = Field(default="", max_length=200)  # a filing's case number
    hub_time: dt.datetime | None = None  # the update's time at the hub (UTC), for delay figures
    created_at: dt.datetime = Field(default_factory=utcnow)
    done_at: dt.datetime | None = None


class FeedCursor(SQLModel, table=True):
    """How far a consumer has queued the hub's updates feed, and who may read it now (one poller at a time)."""

    __tablename__ = "citybot_notifier_cursor"

    name: str = Field(primary_key=True, max_length=32)  # one cursor per feed consumer, e.g. "telegram"
    after: int = 0  # the last hub update_id whose jobs are queued
    updated_at: dt.datetime = Field(default_factory=utcnow)
    lease_owner: str | None = Field(default=None, max_length=80)
    lease_until: dt.datetime | None = None


@dataclass(frozen=True)
class Claimed:
    """A job as a worker holds it."""

    id: int
    kind: str
    key: str
    lane: str
    chat_id: str | None
    case_id: str
    update_id: int | None
    payload: dict
    attempts: int
    first_attempt_at: dt.datetime | None

    @classmethod
    def of(cls, j: Job) -> Claimed:
        return cls(j.id, j.kind, j.key, j.lane, j.chat_id, j.case_id, j.update_id, j.payload, j.attempts,
                   j.first_attempt_at)


def _insert_ignore(dialect: str):
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Job.__table__)


def _aware(t: dt.datetime | None) -> dt.datetime | None:
    return t.replace(tzinfo=dt.timezone.utc) if t is not None and t.tzinfo is None else t


class Jobs:
    """The queue's API. Short transactions; async callers run these with asyncio.to_thread."""

    def __init__(self, engine: Engine, *, lease_s: float = 30.0, policy: Backoff | None = None):
        self.engine, self.lease_s = engine, lease_s
        self.policy = policy or Backoff()
        self.pg = engine.dialect.name == "postgresql"

    @classmethod
    def from_settings(cls, engine: Engine, settings) -> Jobs:
        return cls(engine, lease_s=settings.jobs_lease_s, policy=Backoff(
            base=settings.jobs_backoff_s, cap=settings.jobs_backoff_max_s,
            give_up_after=settings.jobs_give_up_after_s or None))

    # -- adding ---------------------------------------------------------------------------------------------------
    def add(self, rows: Iterable[dict], *, conn: Connection | None = None) -> int:
        """Insert jobs (dicts of Job columns: kind, key, lane, payload, ...) unless their key is there already.
        Inside the caller's transaction when `conn` is given. Returns how many are new."""
        defaults = {"state": PENDING, "attempts": 0, "last_error": "", "result": "", "case_id": "", "chat_id": None,
                    "update_id": None, "hub_time": None, "next_attempt_at": None, "created_at": utcnow()}
        rows = [{**defaults, **r} for r in rows]  # one multi-row INSERT needs the same columns in every row
        if conn is None:
            with self.engine.begin() as c:
                return self.add(rows, conn=c)
        new = 0
        for i in range(0, len(rows), INSERT_CHUNK):
            stmt = _insert_ignore(self.engine.dialect.name).values(rows[i:i + INSERT_CHUNK]) \
                .on_conflict_do_nothing(index_elements=["key"])
            new += max(conn.execute(stmt).rowcount or 0, 0)
        return new

    # -- claiming --------------------------------------------------------------------------------------------------
    def claim(self, owner: str, kinds: Iterable[str], limit: int, *,
              chats: Iterable[str] | None = None) -> list[Claimed]:
        """Lease up to `limit` due jobs of `kinds` (to `chats` only, when given), each the head of its lane,
        oldest first."""
        if limit <= 0:
            return []
        now = utcnow()
        j, earlier = Job.__table__, aliased(Job.__table__)
        free = or_(j.c.lease_until.is_(None), j.c.lease_until < now)
        head = ~select(earlier.c.id).where(earlier.c.lane == j.c.lane, earlier.c.state == PENDING,
                                           earlier.c.id < j.c.id).exists()
        due = or_(j.c.next_attempt_at.is_(None), j.c.next_attempt_at <= now)
        q = (select(j.c.id).where(j.c.state == PENDING, j.c.kind.in_(list(kinds)), due, free, head)
             .order_by(j.c.id).limit(limit))
        if chats is not None:
            q = q.where(j.c.chat_id.in_(list(chats)))
        if self.pg:
            q = q.with_for_update(of=j, skip_locked=True)
        until = now + dt.timedelta(seconds=self.lease_s)
        with self.engine.begin() as conn:
            ids = conn.execute(q).scalars().all()
            if not ids:
                return []
            # the lease conditions again in the UPDATE: on SQLite another process may have taken one since the
            # SELECT; RETURNING says which rows this very claim got (SQLite >= 3.35, PostgreSQL)
            got = conn.execute(update(j).where(j.c.id.in_(ids), j.c.state == PENDING, free)
                               .values(lease_owner=owner, lease_until=until).returning(j.c.id)).scalars().all()
        if not got:
            return []
        with Session(self.engine) as s:
            rows = s.exec(select(Job).where(Job.id.in_(got)).order_by(Job.id)).scalars().all()
            return [Claimed.of(r) for r in rows]

    def next_due(self, kinds: Iterable[str], *, chats: Iterable[str] | None = None) -> dt.datetime | None:
        """When the earliest pending job of `kinds` is due (now for one due already), or None when none is pending."""
        q = select(Job.next_attempt_at).where(Job.state == PENDING, Job.kind.in_(list(kinds)))
        if chats is not None:
            q = q.where(Job.chat_id.in_(list(chats)))
        with self.engine.connect() as conn:
            times = [_aware(t) for t in conn.execute(q.order_by(Job.next_attempt_at.is_(None).desc(),
                                                                   Job.next_attempt_at).limit(1)).scalars()]
        if not times:
            return None
        return times[0] or utcnow()

    def renew(self, owner: str, ids: Iterable[int] | None = None) -> int:
        """Extend `owner`'s leases (all of them, or `ids`)."""
        cond = [Job.lease_owner == owner, Job.state == PENDING]
        if ids is not None:
            ids = list(ids)
            if not ids:
                return 0
            cond.append(Job.id.in_(ids))
        with self.engine.begin() as conn:
            res = conn.execute(update(Job).where(*cond)
                               .values(lease_until=utcnow() + dt.timedelta(seconds=self.lease_s)))
            return res.rowcount or 0

    def release(self, owner: str, ids: Iterable[int] | None = None) -> int:
        """Give leases back (jobs not started when a worker stops), so another worker need not wait them out."""
        cond = [Job.lease_owner == owner, Job.state == PENDING]
        if ids is not None:
            cond.append(Job.id.in_(list(ids)))
        with self.engine.begin() as conn:
            return conn.execute(update(Job).where(*cond).values(lease_owner=None, lease_until=None)).rowcount or 0

    # -- outcomes ----------------------------------------------------------------------------------------------------
    def done(self, job_id: int, *, result: str = "", lane: str | None = None, lane_gap_s: float = 0.0,
             also: Iterable[dict] = ()) -> None:
        """The job is done (sent / filed). `lane_gap_s`: the next job of `lane` waits at least this long (a chat's
        spacing, kept across replicas). `also`: more jobs to add in the same transaction (e.g. tell the citizen)."""
        now = utcnow()
        with self.engine.begin() as conn:
            res = conn.execute(update(Job).where(Job.id == job_id, Job.state == PENDING)
                               .values(state=SENT, done_at=now, result=result[:200], lease_owner=None,
                                       lease_until=None))
            if not res.rowcount:
                return
            also = list(also)
            if also:
                self.add(also, conn=conn)
            if lane is not None and lane_gap_s > 0:
                at = now + dt.timedelta(seconds=lane_gap_s)
                head = select(func.min(Job.id)).where(Job.lane == lane, Job.state == PENDING).scalar_subquery()
                conn.execute(update(Job).where(Job.id == head, or_(Job.next_attempt_at.is_(None),
                                                                   Job.next_attempt_at < at))
                             .values(next_attempt_at=at))

    def later(self, job_id: int, at: dt.datetime, error: str) -> None:
        """Not an attempt that failed (Telegram's 429 retry_after): try again at `at`, lease given back."""
        self._set(job_id, next_attempt_at=at, last_error=error[:500], lease_owner=None, lease_until=None)

    def fail(self, job: Claimed, error: str, *, permanent: bool = False, also_if_dead: Iterable[dict] = ()) -> str:
        """A failed attempt, by the retry policy: pending again with the next attempt time, or dead when the
        error is permanent or the policy's give-up time has passed. Returns the new state."""
        now = utcnow()
        attempts = job.attempts + 1
        first = _aware(job.first_attempt_at) or now
        if permanent or self.policy.expired(first, now):
            self.dead(job.id, error, attempts=attempts, also=also_if_dead)
            return DEAD
        self._set(job.id, attempts=attempts, first_attempt_at=first, next_attempt_at=self.policy.next_at(attempts, now),
                  last_error=error[:500], lease_owner=None, lease_until=None)
        return PENDING

    def dead(self, job_id: int, error: str, *, attempts: int | None = None, also: Iterable[dict] = ()) -> None:
        values = dict(state=DEAD, last_error=error[:500], done_at=utcnow(), lease_owner=None, lease_until=None)
        if attempts is not None:
            values["attempts"] = attempts
        with self.engine.begin() as conn:
            res = conn.execute(update(Job).where(Job.id == job_id, Job.state == PENDING).values(**values))
            also = list(also)
            if res.rowcount and also:
                self.add(also, conn=conn)

    def drop_lane(self, lane: str, reason: str) -> int:
        """Every pending job of `lane` -> dropped (the chat blocked the bot)."""
        with self.engine.begin() as conn:
            res = conn.execute(update(Job).where(Job.lane == lane, Job.state == PENDING)
                               .values(state=DROPPED, last_error=reason[:500], done_at=utcnow(), lease_owner=None,
                                       lease_until=None))
            return res.rowcount or 0

    def _set(self, job_id: int, **values) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(Job).where(Job.id == job_id, Job.state == PENDING).values(**values))

    # -- looking and re-sending ----------------------------------------------------------------------------------
    def counts(self, kinds: Iterable[str] | None = None) -> dict[str, int]:
        q = select(Job.state, func.count()).group_by(Job.state)
        if kinds is not None:
            q = q.where(Job.kind.in_(list(kinds)))
        with self.engine.connect() as conn:
            return {state: n for state, n in conn.execute(q)}

    def get(self, job_id: int) -> Job | None:
        with Session(self.engine) as s:
            row = s.get(Job, job_id)
            if row is not None:
                s.expunge(row)
            return row

    def find(self, *, kinds: Iterable[str] | None = None, states: Iterable[str] | None = None,
             limit: int = 1000) -> list[Job]:
        q = select(Job).order_by(Job.id).limit(limit)
        if kinds is not None:
            q = q.where(Job.kind.in_(list(kinds)))
        if states is not None:
            q = q.where(Job.state.in_(list(states)))
        with Session(self.engine) as s:
            rows = list(s.exec(q).scalars().all())
            for r in rows:
                s.expunge(r)
            return rows

    def dead_jobs(self, limit: int = 100) -> list[Job]:
        """Dead jobs, newest first (for staff)."""
        with Session(self.engine) as s:
            rows = list(s.exec(select(Job).where(Job.state == DEAD).order_by(Job.id.desc()).limit(limit))
                        .scalars().all())
            for r in rows:
                s.expunge(r)
            return rows

    def resend(self, which: int | str) -> int:
        """Put a dead job (an id) or every dead job ("all") back to pending, as new; returns how many."""
        cond = [Job.state == DEAD]
        if which != "all":
            cond.append(Job.id == int(which))
        with self.engine.begin() as conn:
            res = conn.execute(update(Job).where(*cond).values(
                state=PENDING, attempts=0, next_attempt_at=None, first_attempt_at=None, done_at=None,
                lease_owner=None, lease_until=None))
            return res.rowcount or 0

    # -- the feed cursor and its lease ---------------------------------------------------------------------------
    def cursor(self, name: str) -> int:
        with Session(self.engine) as s:
            row = s.get(FeedCursor, name)
            return row.after if row else 0

    def take_feed(self, name: str, owner: str) -> bool:
        """Take or renew the lease on reading feed `name`: only its holder polls (so jobs are queued in feed
        order). True when `owner` holds it now."""
        now = utcnow()
        until = now + dt.timedelta(seconds=self.lease_s)
        t = FeedCursor.__table__
        ins = (postgresql.insert if self.pg else sqlite.insert)(t).values(
            name=name, after=0, updated_at=now, lease_owner=owner, lease_until=until)
        stmt = ins.on_conflict_do_update(
            index_elements=["name"], set_={"lease_owner": owner, "lease_until": until},
            where=or_(t.c.lease_owner.is_(None), t.c.lease_owner == owner, t.c.lease_until < now))
        with self.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    def leave_feed(self, name: str, owner: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(FeedCursor).where(FeedCursor.name == name, FeedCursor.lease_owner == owner)
                         .values(lease_owner=None, lease_until=None))

    def advance(self, name: str, owner: str, after: int, *, conn: Connection) -> bool:
        """Move the cursor to `after` in the caller's transaction, only while `owner` holds the feed (a poller
        whose lease was taken over must not write: the caller rolls back on False)."""
        res = conn.execute(update(FeedCursor).where(
            FeedCursor.name == name, FeedCursor.lease_owner == owner,
            and_(FeedCursor.after <= after)).values(after=after, updated_at=utcnow()))
        return bool(res.rowcount)


def dead_alerts(job: Job | Claimed, error: str, chat_id: str | int | None) -> list[dict]:
    """The staff alert job telling that `job` is dead: one per job (its key), none without a staff chat, and none
    for a dead alert about a dead job (no chain of alerts when the staff chat itself cannot be reached)."""
    if chat_id is None or job.key.startswith("dead:"):
        return []
    what = {PUSH: "推送", ALERT: "督办提醒", FILE: "案件提交", MERGE: "合并跟进"}.get(job.kind, job.kind)
    text = (f"【投递失败】任务 #{job.id}（{what}{'，案件 ' + job.case_id if job.case_id else ''}）已停止重试。\n"
            f"原因：{error[:300]}\n处理后可发送 /resend {job.id} 重新发送。")
    return [dict(kind=ALERT, key=f"dead:{job.id}", lane=chat_lane(chat_id), chat_id=str(chat_id), case_id=job.case_id,
                payload={"kind": "text", "text": text, "photos": [], "buttons": []})]
