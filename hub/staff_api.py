"""The staff API (/staff/v1/...): JSON in and out, `Authorization: Bearer <token>`, every action audited.

Who acts (hub/auth.py): a staff token acts as itself; a channel token acts for the registered staff member it names
in `X-Acting-Staff` (their role, level and department apply, and the audit trail records them), or, naming
nobody, may only read. Every permission is decided here, against the case as it is inside the write
transaction (`hubapi.roles.staff_may`); channels only explain.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import or_
from sqlmodel import select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from citybot.catalogue import LEVELS
from hub import lifecycle as lc
from hub import limits as L
from hub import members as M
from hub import schemas as S
from hub import store
from hub.auth import ACTING_HEADER, MEMBER_ID, Caller, Staff, channel_caller, may_manage, member_caller, staff_may, \
    token_caller
from hub.idempotency import DOCUMENTED, once
from hub.cases import Forbidden, Hub, NotFound, Principal, check_id, to_db
from hub.models import Case
from hub.open311 import Open311Error, audit_dict, render, staff_case_dict, update_dict
from hub.open311_api import limit_client, parse_int, parse_time
from hubapi.roles import action_for_state

router = APIRouter(prefix="/staff/v1", tags=["staff"])
bearer = HTTPBearer(auto_error=False, description="a staff token (HUB_STAFF_TOKENS) or a channel token "
                                                  "(HUB_CHANNEL_TOKENS)")

Text = Field(default="", max_length=L.NOTE)
Actor = Field(default="", max_length=L.ACTOR)


def clean(value: str) -> str:
    """Text the database and every format can hold: no NUL, no lone surrogate (400 otherwise)."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    actor: str = Actor

    @field_validator("*")
    @classmethod
    def _clean(cls, value):
        if isinstance(value, str):
            return clean(value)
        if isinstance(value, list):
            return [clean(v) if isinstance(v, str) else v for v in value]
        return value


class DispatchBody(_Body):
    department: str | None = Field(default=None, max_length=L.DEPARTMENT)
    note: str = Text


class StatusBody(_Body):
    state: str = Field(max_length=16)
    note: str = Text


class ResolveBody(_Body):
    note: str = Text
    media_urls: list[str] = Field(default_factory=list, max_length=L.MEDIA_URLS)


class NoteBody(_Body):
    note: str = Text


class ReclassifyBody(_Body):
    service_code: str = Field(max_length=L.SERVICE_CODE)
    note: str = Text


class ReasonBody(_Body):
    reason: str = Text


class PlaceBody(_Body):
    address: str | None = Field(default=None, max_length=L.ADDRESS)
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    note: str = Text


class MergeBody(_Body):
    into_id: str = Field(max_length=L.CASE_ID)
    note: str = Text


class MemberBody(_Body):
    """A staff member to register (POST members) or the fields to change (PATCH members/{id})."""
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    member_id: str | None = Field(default=None, max_length=L.MEMBER_ID, description="<channel>:<id>, e.g. tg:42")
    name: str | None = Field(default=None, max_length=L.MEMBER_NAME)
    role: str | None = Field(default=None, max_length=16)
    level: str | None = Field(default=None, max_length=4)
    department: str | None = Field(default=None, max_length=L.DEPARTMENT, description="'' = every department")
    active: bool | None = None


# -- who calls ----------------------------------------------------------------------------------------------------
async def current_caller(request: Request,
                         credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
                         acting: str | None = Header(None, alias=ACTING_HEADER, max_length=L.MEMBER_ID,
                                                     description="channel tokens: the staff member acted for")
                         ) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Open311Error(401, "staff token required: Authorization: Bearer <token>")
    creds = request.app.state.credentials
    staff = creds.staff_tokens.get(token)
    acting = request.headers.get(ACTING_HEADER)
    if staff is not None:
        if acting:
            raise Open311Error(403, f"a staff token acts as itself; only a channel token may send {ACTING_HEADER}")
        return token_caller(staff)
    channel = creds.channel_tokens.get(token)
    if channel is None:
        raise Open311Error(401, "staff token is not valid")
    if not acting:
        return channel_caller(channel)
    acting = acting.strip()
    if not MEMBER_ID.fullmatch(acting) or not acting.startswith(f"{channel}:"):
        raise Open311Error(403, f"{ACTING_HEADER} must name a member of channel {channel} ({channel}:<id>)")
    hub = _hub(request)

    def lookup():
        with hub.db.read() as s:
            return M.get(acting, session=s)

    member = await run_in_threadpool(lookup)
    if member is None or not member.active:
        raise Open311Error(403, f"{acting} is not an active staff member")
    return member_caller(channel, member)


def _require(caller: Caller, action: str):
    """A check run inside the write transaction, against the case as it is there."""
    def check(case) -> None:
        if not caller.may(action, case):
            s = caller.staff
            who = "a channel acting for nobody" if caller.read_only else f"{s.role} at {s.level} {s.department or ''}"
            raise Forbidden(f"{who} may not {action} this case".replace("  ", " "))
    return check


def _require_global(caller: Caller, action: str) -> None:
    if not caller.may(action):
        raise Open311Error(403, f"{caller.staff.role} may not {action}")


def _writing(request: Request, caller: Caller, action: str = "write") -> None:
    """A write: the caller's rate limit, and a channel acting for nobody is refused at once."""
    if caller.read_only:
        raise Open311Error(403, f"a channel token may only read unless it names a staff member ({ACTING_HEADER})")
    limit_client(request, f"staff:{caller.principal}")


def _hub(request: Request) -> Hub:
    return request.app.state.hub


def _case(request: Request, case) -> Response:
    return render(staff_case_dict(case, tz=request.app.state.tz, now_db=to_db(_hub(request).now())), "json", "request")


def _who(caller: Caller) -> Principal:
    return Principal(caller.principal)


def _actor(caller: Caller, body: _Body) -> str:
    return caller.actor if caller.actor is not None else body.actor


def _for_media(urls: list[str]) -> list[str]:
    for u in urls:
        if not u.startswith(("http://", "https://")) or len(u) > L.URL:
            raise Open311Error(400, f"media_urls must be http(s) URLs of at most {L.URL} characters")
    return urls


_ACT = S.answers(S.StaffCaseOut, 400, 401, 403, 404, 409, 413, 422, 429, xml=False)


async def _once(request: Request, caller: Caller, body: _Body, effect, *args, **kw) -> Response:
    """`effect(*args, **kw)` (a write, run in a thread) answered with the case it returns, at most once per
    Idempotency-Key of this caller (hub/idempotency.py)."""
    async def act() -> Response:
        return _case(request, await run_in_threadpool(effect, *args, **kw))

    async def recover() -> Response:  # the call was done, its answer never recorded: the case as it is now
        return _case(request, await run_in_threadpool(_hub(request).get, request.path_params["case_id"]))

    return await once(request, f"staff:{caller.principal}", body.model_dump(), act, recover)


# -- case actions -----------------------------------------------------------------------------------------------
@router.post("/requests/{case_id}/dispatch", responses=_ACT, dependencies=DOCUMENTED)
async def dispatch(request: Request, case_id: str, body: DispatchBody, caller: Caller = Depends(current_caller)):
    _writing(request, caller)
    return await _once(request, caller, body, _hub(request).transition, case_id, lc.DISPATCHED, _who(caller),
        actor=_actor(caller, body), note=body.note, department=body.department, check=_require(caller, "dispatch"),
        action="dispatch")


@router.post("/requests/{case_id}/status", responses=_ACT, dependencies=DOCUMENTED)
async def set_status(request: Request, case_id: str, body: StatusBody, caller: Caller = Depends(current_caller)):
    """Any legal transition; ending a case for good (cancelled, referred) is a supervisor's."""
    _writing(request, caller)
    if body.state == lc.DUPLICATE:
        raise Open311Error(400, "use merge {into_id} to mark a duplicate")
    if body.state == lc.RATED:
        raise Open311Error(400, "only the reporter rates a case (POST /open311/v2/requests/{id}/rate.json)")
    action = action_for_state(body.state)
    return await _once(request, caller, body, _hub(request).transition, case_id, body.state, _who(caller),
        actor=_actor(caller, body), note=body.note, check=_require(caller, action), action="status")


@router.post("/requests/{case_id}/resolve", responses=_ACT, dependencies=DOCUMENTED)
async def resolve(request: Request, case_id: str, body: ResolveBody, caller: Caller = Depends(current_caller)):
    _writing(request, caller)
    return await _once(request, caller, body, _hub(request).transition, case_id, lc.RESOLVED, _who(caller),
        actor=_actor(caller, body), note=body.note, media_urls=_for_media(body.media_urls),
        check=_require(caller, "resolve"), action="resolve")


@router.post("/requests/{case_id}/close", responses=_ACT, dependencies=DOCUMENTED)
async def close(request: Request, case_id: str, body: NoteBody, caller: Caller = Depends(current_caller)):
    _writing(request, caller)
    return await _once(request, caller, body, _hub(request).transition, case_id, lc.CLOSED, _who(caller),
        actor=_actor(caller, body), note=body.note, check=_require(caller, "close"), action="close")


@router.post("/requests/{case_id}/reclassify", responses=_ACT, dependencies=DOCUMENTED)
async def reclassify(request: Request, case_id: str, body: ReclassifyBody, caller: Caller = Depends(current_caller)):
    _writing(request, caller)
    return await _once(request, caller, body, _hub(request).reclassify, case_id, body.service_code, _who(caller),
        actor=_actor(caller, body), note=body.note, check=_require(caller, "reclassify"))


@router.post("/requests/{case_id}/escalate", responses=_ACT, dependencies=DOCUMENTED)
async def escalate(request: Request, case_id: str, body: ReasonBody, caller: Caller = Depends(current_caller)):
    _writing(request, caller)
    if not body.reason:
        raise Open311Error(400, "reason is required")
    return await _once(request, caller, body, _hub(request).escalate, case_id, _who(caller),
        actor=_actor(caller, body), reason=body.reason, check=_require(caller, "escalate"))


@router.post("/requests/{case_id}/merge", responses=_ACT, dependencies=DOCUMENTED)
async def merge(request: Request, case_id: str, body: MergeBody, caller: Caller = Depends(current_caller)):
    """Mark a duplicate of `into_id` (a supervisor's; the caller must be able to read `into_id` too)."""
    _writing(request, caller)
    hub = _hub(request)

    def into_readable() -> None:
        check_id(body.into_id)
        with hub.db.read() as s:
            into = store.get_case(body.into_id, session=s)
        if into is None:
            raise NotFound(f"into_id {body.into_id} not found")
        _require(caller, "read")(into)

    await run_in_threadpool(into_readable)
    return await _once(request, caller, body, hub.merge, case_id, body.into_id, _who(caller),
        actor=_actor(caller, body), note=body.note, check=_require(caller, "merge"))


@router.post("/requests/{case_id}/reopen", responses=_ACT, dependencies=DOCUMENTED)
async def reopen(request: Request, case_id: str, body: ReasonBody, caller: Caller = Depends(current_caller)):
    _writing(request, caller)
    return await _once(request, caller, body, _hub(request).transition, case_id, lc.REOPENED, _who(caller),
        actor=_actor(caller, body), note=body.reason, check=_require(caller, "reopen"), action="reopen")


# -- reads ------------------------------------------------------------------------------------------------------
@router.get("/requests/{case_id}", responses=S.answers(S.StaffCaseDetailOut, 401, 403, 404, xml=False))
async def detail(request: Request, case_id: str, caller: Caller = Depends(current_caller)):
    hub, tz = _hub(request), request.app.state.tz

    check_id(case_id)

    def query():
        with hub.db.read() as s:
            case = store.get_case(case_id, session=s)
            if case is None:
                return None, [], []
            return case, store.updates_of(case.id, session=s), store.audit_of(case.id, session=s)

    case, updates, audit = await run_in_threadpool(query)
    if case is None:
        raise Open311Error(404, f"service_request_id {case_id[:32]} not found")
    _require(caller, "read")(case)
    out = staff_case_dict(case, tz=tz, now_db=to_db(hub.now()))
    out["updates"] = [update_dict(u, tz=tz) for u in updates]
    out["audit"] = [audit_dict(a, tz=tz) for a in audit]
    return render(out, "json", "request")


@router.get("/overdue", responses=S.answers(list[S.StaffCaseOut], 401, 403, xml=False))
async def overdue(request: Request, caller: Caller = Depends(current_caller)):
    hub = _hub(request)
    cases = await run_in_threadpool(hub.overdue)
    now_db = to_db(hub.now())
    visible = [c for c in cases if caller.may("read", c)]
    return render([staff_case_dict(c, tz=request.app.state.tz, now_db=now_db) for c in visible], "json", "requests")


@router.post("/overdue/sweep", responses=S.answers(S.SweepOut, 401, 403, 413, xml=False))
async def sweep(request: Request, caller: Caller = Depends(current_caller)):
    _require_global(caller, "sweep")
    result = await run_in_threadpool(_hub(request).sweep)
    return render(result, "json", "sweep")


@router.get("/stats", responses=S.answers(S.StatsOut, 400, 401, 403, xml=False))
async def stats(request: Request, caller: Caller = Depends(current_caller),
                since: str | None = Query(None, description="ISO 8601: cases filed since then (default: all)"),
                level: str | None = Query(None, description="narrow to cases at or below this level"),
                department: str | None = Query(None, description="narrow to cases of this department")):
    """Figures over the cases the caller may read, optionally narrowed to a scope: `level` (cases at or below
    it, as a staff member of that level sees them) and `department` (cases assigned to it)."""
    tz = request.app.state.tz
    since = parse_time(request.query_params.get("since"), "since", tz)
    level = request.query_params.get("level") or None
    department = (request.query_params.get("department") or "").strip()[:L.DEPARTMENT]
    if level is not None and level not in LEVELS:
        raise Open311Error(400, f"level must be one of {', '.join(LEVELS)}")
    scope = Staff("admin", level or LEVELS[-1], department)

    def visible(case) -> bool:
        return caller.may("read", case) and staff_may(scope, "read", case_level=case.level,
                                                      case_department=case.agency_responsible)

    data = await run_in_threadpool(lambda: _hub(request).stats(since, visible=visible))
    data["scope"] = {"level": level, "department": department or None}
    return render(data, "json", "stats")


@router.get("/requests", responses=S.answers(list[S.StaffCaseOut], 400, 401, 403, xml=False))
async def find(request: Request, caller: Caller = Depends(current_caller),
               q: str | None = Query(None, description="1-200 characters of the description or the address"),
               limit: str | None = Query(None, description="1-100, default 20")):
    """Search: `q` is a case-insensitive substring of the description or the address; newest first, `limit`
    1-100 (default 20); only cases the caller may read."""
    q = (request.query_params.get("q") or "").strip()
    if not q or len(q) > L.SEARCH or "\x00" in q:
        raise Open311Error(400, f"q is required: 1-{L.SEARCH} characters of description or address")
    limit = parse_int(request.query_params.get("limit"), "limit", 20, 1, 100)
    hub, tz = _hub(request), request.app.state.tz
    staff = caller.staff

    def query():
        stmt = select(Case).where(or_(Case.description.icontains(q, autoescape=True),
                                      Case.address.icontains(q, autoescape=True)))
        if not (staff.role == "admin" and staff.level == LEVELS[-1]):
            stmt = stmt.where(Case.level.in_(LEVELS[:LEVELS.index(staff.level) + 1]))
            if staff.department:
                stmt = stmt.where(Case.agency_responsible == staff.department)
        with hub.db.read() as s:
            return list(s.exec(stmt.order_by(Case.requested_at.desc(), Case.id.desc()).limit(limit)))

    cases = await run_in_threadpool(query)
    now_db = to_db(hub.now())
    return render([staff_case_dict(c, tz=tz, now_db=now_db) for c in cases], "json", "requests")


@router.post("/requests/{case_id}/place", responses=_ACT, dependencies=DOCUMENTED)
async def set_place(request: Request, case_id: str, body: PlaceBody, caller: Caller = Depends(current_caller)):
    """Set or correct a case's place; a case waiting for one (待补充地点) is then dispatched or linked."""
    _writing(request, caller)
    if not body.address and (body.lat is None or body.long is None):
        raise Open311Error(400, "a place is required: address, or lat and long")
    return await _once(request, caller, body, _hub(request).set_place, case_id, _who(caller), address=body.address,
        lat=body.lat, long=body.long, actor=_actor(caller, body), note=body.note,
        check=_require(caller, "set_place"))


@router.get("/triage", responses=S.answers(list[S.StaffCaseOut], 401, 403, xml=False))
async def triage(request: Request, caller: Caller = Depends(current_caller)):
    """Cases filed without a place (待补充地点) that the caller may read, oldest first."""
    hub = _hub(request)
    cases = await run_in_threadpool(hub.needing_place)
    now_db = to_db(hub.now())
    visible = [c for c in cases if caller.may("read", c)]
    return render([staff_case_dict(c, tz=request.app.state.tz, now_db=now_db) for c in visible], "json", "requests")


# -- staff members (who a channel acts for) ---------------------------------------------------------------------
def _member_visible(caller: Caller, member_id: str) -> bool:
    """A channel reads its own members (to tell staff from citizens); an admin reads those it may manage."""
    if caller.channel is not None and caller.member_id is None:
        return member_id.startswith(f"{caller.channel}:")
    return caller.may("members")


@router.get("/members", responses=S.answers(list[S.MemberOut], 401, 403, xml=False))
async def list_members(request: Request, caller: Caller = Depends(current_caller)):
    hub = _hub(request)
    if caller.read_only:
        channel = caller.channel
    else:
        _require_global(caller, "members")
        channel = None

    def query():
        with hub.db.read() as s:
            return [M.as_dict(m) for m in M.listing(session=s, channel=channel)
                    if caller.read_only or may_manage(caller, m.level, m.department)]

    return render(await run_in_threadpool(query), "json", "members")


@router.get("/members/{member_id}", responses=S.answers(S.MemberOut, 401, 403, 404, xml=False))
async def get_member(request: Request, member_id: str, caller: Caller = Depends(current_caller)):
    if not _member_visible(caller, member_id):
        raise Open311Error(403, "not allowed to read this staff member")
    hub = _hub(request)

    def query():
        with hub.db.read() as s:
            m = M.get(member_id, session=s)
            if m is not None and not caller.read_only and not may_manage(caller, m.level, m.department):
                raise Forbidden("not allowed to read this staff member")
            return M.as_dict(m) if m is not None else None

    found = await run_in_threadpool(query)
    if found is None:
        raise Open311Error(404, f"no staff member {member_id[:L.MEMBER_ID]}")
    return render(found, "json", "member")


@router.post("/members", status_code=201, responses=S.answers(S.MemberOut, 400, 401, 403, 409, 413, 429, status=201,
                                                                                xml=False))
async def add_member(request: Request, body: MemberBody, caller: Caller = Depends(current_caller)):
    """Register a staff member (an admin's; within the admin's level and department)."""
    _writing(request, caller)
    if not body.member_id:
        raise Open311Error(400, "member_id is required")
    role, level, department = body.role or "operator", body.level or LEVELS[0], body.department or ""
    try:
        M.check(member_id=body.member_id, role=role, level=level, name=body.name, department=department)
    except M.MemberError as exc:
        raise Open311Error(400, str(exc)) from None
    if not may_manage(caller, level, department):
        raise Open311Error(403, "not allowed to register a staff member of this level or department")
    hub = _hub(request)

    def write():
        with hub.db.write() as s:
            if M.get(body.member_id, session=s) is not None:
                return None
            row = M.add(body.member_id, session=s, role=role, level=level, department=department,
                        name=body.name or "", active=True if body.active is None else body.active)
            s.flush()
            return M.as_dict(row)

    out = await run_in_threadpool(write)
    if out is None:
        raise Open311Error(409, f"{body.member_id} is already registered (change it with PATCH)")
    return render(out, "json", "member", 201)


@router.patch("/members/{member_id}", responses=S.answers(S.MemberOut, 400, 401, 403, 404, 413, 429, xml=False))
async def update_member(request: Request, member_id: str, body: MemberBody, caller: Caller = Depends(current_caller)):
    """Change a member's fields (those given); the admin must be allowed to manage it before and after."""
    _writing(request, caller)
    if body.member_id not in (None, member_id):
        raise Open311Error(400, "member_id cannot change")
    changes = body.model_dump(exclude_unset=True, exclude={"member_id", "actor"})
    try:
        M.check(**{k: v for k, v in changes.items() if k in ("role", "level", "name", "department")})
    except M.MemberError as exc:
        raise Open311Error(400, str(exc)) from None
    hub = _hub(request)

    def write():
        with hub.db.write() as s:
            row = M.get(member_id, session=s)
            if row is None:
                return None
            level = changes.get("level") or row.level
            department = changes["department"] if changes.get("department") is not None else row.department
            if not (may_manage(caller, row.level, row.department) and may_manage(caller, level, department)):
                raise Forbidden("not allowed to change this staff member")
            M.update(row, changes)
            s.flush()
            return M.as_dict(row)

    out = await run_in_threadpool(write)
    if out is None:
        raise Open311Error(404, f"no staff member {member_id[:L.MEMBER_ID]}")
    return render(out, "json", "member")


@router.delete("/members/{member_id}", responses=S.answers(S.MemberOut, 401, 403, 404, 429, xml=False))
async def remove_member(request: Request, member_id: str, caller: Caller = Depends(current_caller)):
    _writing(request, caller)
    hub = _hub(request)

    def write():
        with hub.db.write() as s:
            row = M.get(member_id, session=s)
            if row is None:
                return None
            if not may_manage(caller, row.level, row.department):
                raise Forbidden("not allowed to remove this staff member")
            out = M.as_dict(row)
            s.delete(row)
            return out

    out = await run_in_threadpool(write)
    if out is None:
        raise Open311Error(404, f"no staff member {member_id[:L.MEMBER_ID]}")
    return render(out, "json", "member")
