"""Idempotency-Key: a non-idempotent POST repeated with the same key by the same caller answers as the first one
did, and takes no second effect. This is what makes it safe for a client to retry a POST whose answer was lost.

How (table `hub_idempotency`, one row per caller + key):
- A repeat finds the row (its claim fails): same method, path and body → the first answer is replayed
  (`Idempotent-Replayed: true`); anything different → 422.
- A first call claims the key by inserting the row *first thing in the transaction of its effect* (hub.db.ON_BEGIN),
  so the claim and the effect commit or roll back together. A concurrent repeat's insert hits the primary key: on
  PostgreSQL it waits for the first transaction, then fails; SQLite's writers take turns. The loser's transaction
  rolls back (no second effect) and it answers from the row.
- After commit the answer is written to the row. A repeat arriving in between waits for it (a few seconds). If the
  hub stopped in between, a repeat after STALE_S is answered without a second effect by the endpoint's `recover`
  (a case action: the case as it is now; a filing with an external_id: the existing case), else 409.
- An answer that is an error had no effect (its transaction rolled back, claim included): a repeat runs again.
- Rows older than HUB_IDEMPOTENCY_RETENTION_HOURS are purged by the hub's periodic sweep.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from fastapi import Depends, Header
from starlette.requests import Request
from starlette.responses import Response

from hub import limits as L
from hub import schemas as S
from hub.db import ON_BEGIN, Database
from hub.models import IdempotentCall
from hub.open311 import Open311Error

log = logging.getLogger(__name__)
HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_KEY = re.compile(r"^[\x21-\x7e]{1,%d}$" % L.IDEMPOTENCY_KEY)  # visible ASCII, no spaces
_T = IdempotentCall.__table__
# built once: these run on every keyed call
_CLAIM = insert(_T)
_ANSWER = update(_T).where(_T.c.caller == bindparam("c"), _T.c.key == bindparam("k"), _T.c.status.is_(None)).values(
    status=bindparam("s"), content_type=bindparam("t"), body=bindparam("b"))
_FIND = select(_T).where(_T.c.caller == bindparam("c"), _T.c.key == bindparam("k"))
PENDING_WAIT_S = 10.0  # how long a repeat waits for the first call's answer to be recorded
# A claim this old without an answer outlived its request (the hub stopped between commit and recording the
# answer): the effect is done, a repeat is answered by the endpoint's `recover` (e.g. the case as it is now).
STALE_S = 60.0


async def _documented(idempotency_key: str | None = Header(None, alias=HEADER, description=S.IDEMPOTENCY_KEY)) -> None:
    """Only for the OpenAPI schema: `once` reads and checks the header itself (async: no thread hop)."""


DOCUMENTED = [Depends(_documented)]  # `dependencies=` of every endpoint that honours the header


class KeyTaken(Exception):
    """A concurrent request with the same caller and key committed first (raised inside the effect's transaction,
    which then rolls back)."""


@dataclass
class Call:
    caller: str
    key: str
    method: str
    path: str
    body_hash: str
    claimed: bool = False


def fingerprint(fields: Iterable[tuple[str, object]] | dict) -> str:
    """sha256 of a request's fields, order-independent (the api_key is left out: it is the caller, not the body)."""
    items = fields.items() if isinstance(fields, dict) else fields
    canon = sorted((str(k), json.dumps(v, ensure_ascii=False, sort_keys=True, default=str))
                   for k, v in items if k != "api_key")
    return hashlib.sha256(json.dumps(canon, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()


def key_of(request: Request) -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if not _KEY.fullmatch(key):
        raise Open311Error(400, f"{HEADER} must be 1-{L.IDEMPOTENCY_KEY} visible ASCII characters (e.g. a UUID)")
    return key


class Idempotency:
    def __init__(self, db: Database, clock: Callable[[], dt.datetime], retention_hours: float):
        self.db, self.clock, self.retention = db, clock, dt.timedelta(hours=retention_hours)

    async def once(self, request: Request, caller: str, fields, act: Callable[[], Awaitable[Response]],
                   recover: Callable[[], Awaitable[Response]] | None = None) -> Response:
        """`act()` (the endpoint's effect and answer) at most once per caller + Idempotency-Key; without the header,
        just `act()`. `recover()`: an answer without a second effect, for a repeat of a call whose answer was never
        recorded (None: 409 then)."""
        key = key_of(request)
        if key is None:
            return await act()
        call = Call(caller, key, request.method, request.url.path, fingerprint(fields))
        for _ in range(3):
            # Claim first (no lookup before): a first call, the common case, costs one insert in its own
            # transaction. Every effect checks its preconditions inside that transaction, after the claim, so a
            # repeat gets KeyTaken before anything that the first call changed could answer it differently.
            token = ON_BEGIN.set(lambda conn: self._claim(call, conn))
            try:
                response = await act()
            except KeyTaken:
                row = await self.db.run(self._find, call)
                if row is None:
                    continue  # the first call rolled back since: this one may go ahead
                return await self._replay(call, row, recover)
            finally:
                ON_BEGIN.reset(token)
            if 200 <= response.status_code < 300:
                await self._record_safely(call, response)
            return response
        raise Open311Error(409, f"a request with this {HEADER} is still in progress; try again shortly",
                           headers={"Retry-After": "1"})

    # -- inside the effect's transaction ----------------------------------------------------------------------
    def _claim(self, call: Call, conn: Connection) -> None:
        if call.claimed:
            return  # a second write transaction of the same effect
        try:
            conn.execute(_CLAIM, dict(caller=call.caller, key=call.key, method=call.method, path=call.path,
                                      body_hash=call.body_hash, created_at=self._now()))
        except IntegrityError:
            raise KeyTaken(call.key) from None
        call.claimed = True

    # -- around it ------------------------------------------------------------------------------------------------
    def _now(self) -> dt.datetime:
        return self.clock().astimezone(dt.timezone.utc)

    def _stale(self, created_at: dt.datetime) -> bool:
        if created_at.tzinfo is None:  # SQLite hands back naive UTC
            created_at = created_at.replace(tzinfo=dt.timezone.utc)
        return (self._now() - created_at).total_seconds() > STALE_S

    def _find(self, call: Call):
        with self.db.engine.connect() as conn:
            return conn.execute(_FIND, dict(c=call.caller, k=call.key)).first()

    async def _replay(self, call: Call, row, recover) -> Response:
        if (row.method, row.path, row.body_hash) != (call.method, call.path, call.body_hash):
            raise Open311Error(422, f"this {HEADER} was used for a different request (another path or body); "
                                    "use a new key for a new request")
        waited = 0.0
        while (row is not None and row.status is None and waited < PENDING_WAIT_S
               and not (recover is not None and self._stale(row.created_at))):
            await asyncio.sleep(0.05)
            waited += 0.05
            row = await self.db.run(self._find, call)
        if row is not None and row.status is None and recover is not None and self._stale(row.created_at):
            response = await recover()
            if 200 <= response.status_code < 300:
                await self._record_safely(call, response)
                response.headers[REPLAYED] = "true"
            return response
        if row is None or row.status is None:
            raise Open311Error(409, f"a request with this {HEADER} is still in progress; try again shortly",
                               headers={"Retry-After": "1"})
        return Response(row.body or "", status_code=row.status, media_type=row.content_type,
                        headers={REPLAYED: "true"})

    async def _record_safely(self, call: Call, response: Response) -> None:
        try:
            await self.db.run(self._record, call, response)
        except Exception:  # the effect is committed: answer it anyway; a repeat waits, then is recovered
            log.exception("could not record the answer of an idempotent call")

    def _record(self, call: Call, response: Response) -> None:
        answer = dict(status=response.status_code, content_type=response.media_type,
                      body=bytes(response.body).decode("utf-8", "surrogatepass"))
        with self.db.write_conn() as conn:  # ON_BEGIN is not set here: no claim
            done = conn.execute(_ANSWER, dict(c=call.caller, k=call.key, s=answer["status"],
                                              t=answer["content_type"], b=answer["body"])).rowcount
            if done:
                return
            # no claim to complete: the call wrote nothing (e.g. a re-filed external_id, answered from the existing
            # case after its insert, claim included, rolled back)
            try:
                with conn.begin_nested():
                    conn.execute(insert(_T).values(caller=call.caller, key=call.key, method=call.method,
                                                   path=call.path, body_hash=call.body_hash,
                                                   created_at=self._now(), **answer))
            except IntegrityError:
                pass  # a concurrent repeat recorded it first

    def purge(self) -> int:
        """Forget keys older than the retention; the number forgotten."""
        with self.db.write_conn() as conn:
            return conn.execute(delete(_T).where(_T.c.created_at < self._now() - self.retention)).rowcount


async def once(request: Request, caller: str, fields, act: Callable[[], Awaitable[Response]],
               recover: Callable[[], Awaitable[Response]] | None = None) -> Response:
    """The app's Idempotency.once (see the module docstring)."""
    return await request.app.state.idempotency.once(request, caller, fields, act, recover)
