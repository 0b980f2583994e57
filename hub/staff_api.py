"""The staff API (/staff/v1/...): JSON in and out, `Authorization: Bearer <token>`, every action audited."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hub import lifecycle as lc
from hub import store
from citybot.catalogue import LEVELS
from hub.auth import Staff, staff_may
from hub.cases import Forbidden, Hub, Principal, check_id, to_db
from hub.open311 import Open311Error, audit_dict, render, staff_case_dict, update_dict
from hub.open311_api import parse_time

router = APIRouter(prefix="/staff/v1")

Text = Field(default="", max_length=2000)
Actor = Field(default="", max_length=128)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    actor: str = Actor

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value):
        if "\x00" in str(value):
            raise ValueError("must not contain a NUL character")
        return value


class DispatchBody(_Body):
    department: str | None = Field(default=None, max_length=64)
    note: str = Text


class StatusBody(_Body):
    state: str = Field(max_length=16)
    note: str = Text


class ResolveBody(_Body):
    note: str = Text
    media_urls: list[str] = Field(default_factory=list, max_length=20)


class NoteBody(_Body):
    note: str = Text


class ReclassifyBody(_Body):
    service_code: str = Field(max_length=32)
    note: str = Text


class ReasonBody(_Body):
    reason: str = Text


class PlaceBody(_Body):
    address: str | None = Field(default=None, max_length=1000)
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    note: str = Text


class MergeBody(_Body):
    into_id: str = Field(max_length=14)
    note: str = Text


def current_staff(request: Request) -> Staff:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Open311Error(401, "staff token required: Authorization: Bearer <token>")
    staff = request.app.state.staff_tokens.get(token.strip())
    if staff is None:
        raise Open311Error(401, "staff token is not valid")
    return staff


def _require(staff: Staff, action: str):
    """A check run inside the write transaction, against the case as it is there."""
    def check(case) -> None:
        if not staff_may(staff, action, case_level=case.level, case_department=case.agency_responsible):
            raise Forbidden(f"{staff.role} at {staff.level} {staff.department or ''} may not {action} this case".replace("  ", " "))
    return check


def _require_global(staff: Staff, action: str) -> None:
    if not staff_may(staff, action):
        raise Open311Error(403, f"{staff.role} may not {action}")


def _hub(request: Request) -> Hub:
    return request.app.state.hub


def _case(request: Request, case) -> Response:
    return render(staff_case_dict(case, tz=request.app.state.tz, now_db=to_db(_hub(request).now())), "json", "request")


def _who(staff: Staff) -> Principal:
    return Principal(staff.name)


def _for_media(urls: list[str]) -> list[str]:
    for u in urls:
        if not u.startswith(("http://", "https://")) or len(u) > 2048:
            raise Open311Error(400, "media_urls must be http(s) URLs of at most 2048 characters")
    return urls


@router.post("/requests/{case_id}/dispatch")
async def dispatch(request: Request, case_id: str, body: DispatchBody, staff: Staff = Depends(current_staff)):
    case = await run_in_threadpool(_hub(request).transition, case_id, lc.DISPATCHED, _who(staff), actor=body.actor,
                                   note=body.note, department=body.department, check=_require(staff, "dispatch"),
                                   action="dispatch")
    return _case(request, case)


@router.post("/requests/{case_id}/status")
async def set_status(request: Request, case_id: str, body: StatusBody, staff: Staff = Depends(current_staff)):
    action = {lc.DISPATCHED: "dispatch", lc.RESOLVED: "resolve", lc.CLOSED: "close", lc.REOPENED: "reopen",
              lc.DUPLICATE: "merge"}.get(body.state, "status")
    if body.state == lc.DUPLICATE:
        raise Open311Error(400, "use merge {into_id} to mark a duplicate")
    if body.state == lc.RATED:
        raise Open311Error(400, "only the reporter rates a case (POST /open311/v2/requests/{id}/rate.json)")
    case = await run_in_threadpool(_hub(request).transition, case_id, body.state, _who(staff), actor=body.actor,
                                   note=body.note, check=_require(staff, action), action="status")
    return _case(request, case)


@router.post("/requests/{case_id}/resolve")
async def resolve(request: Request, case_id: str, body: ResolveBody, staff: Staff = Depends(current_staff)):
    case = await run_in_threadpool(_hub(request).transition, case_id, lc.RESOLVED, _who(staff), actor=body.actor,
                                   note=body.note, media_urls=_for_media(body.media_urls),
                                   check=_require(staff, "resolve"), action="resolve")
    return _case(request, case)


@router.post("/requests/{case_id}/close")
async def close(request: Request, case_id: str, body: NoteBody, staff: Staff = Depends(current_staff)):
    case = await run_in_threadpool(_hub(request).transition, case_id, lc.CLOSED, _who(staff), actor=body.actor,
                                   note=body.note, check=_require(staff, "close"), action="close")
    return _case(request, case)


@router.post("/requests/{case_id}/reclassify")
async def reclassify(request: Request, case_id: str, body: ReclassifyBody, staff: Staff = Depends(current_staff)):
    case = await run_in_threadpool(_hub(request).reclassify, case_id, body.service_code, _who(staff),
                                   actor=body.actor, note=body.note, check=_require(staff, "reclassify"))
    return _case(request, case)


@router.post("/requests/{case_id}/escalate")
async def escalate(request: Request, case_id: str, body: ReasonBody, staff: Staff = Depends(current_staff)):
    if not body.reason:
        raise Open311Error(400, "reason is required")
    case = await run_in_threadpool(_hub(request).escalate, case_id, _who(staff), actor=body.actor,
                                   reason=body.reason, check=_require(staff, "escalate"))
    return _case(request, case)


@router.post("/requests/{case_id}/merge")
async def merge(request: Request, case_id: str, body: MergeBody, staff: Staff = Depends(current_staff)):
    case = await run_in_threadpool(_hub(request).merge, case_id, body.into_id, _who(staff), actor=body.actor,
                                   note=body.note, check=_require(staff, "merge"))
    return _case(request, case)


@router.post("/requests/{case_id}/reopen")
async def reopen(request: Request, case_id: str, body: ReasonBody, staff: Staff = Depends(current_staff)):
    case = await run_in_threadpool(_hub(request).transition, case_id, lc.REOPENED, _who(staff), actor=body.actor,
                                   note=body.reason, check=_require(staff, "reopen"), action="reopen")
    return _case(request, case)


@router.get("/requests/{case_id}")
async def detail(request: Request, case_id: str, staff: Staff = Depends(current_staff)):
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
    _require(staff, "read")(case)
    out = staff_case_dict(case, tz=tz, now_db=to_db(hub.now()))
    out["updates"] = [update_dict(u, tz=tz) for u in updates]
    out["audit"] = [audit_dict(a, tz=tz) for a in audit]
    return render(out, "json", "request")


@router.get("/overdue")
async def overdue(request: Request, staff: Staff = Depends(current_staff)):
    hub = _hub(request)
    cases = await run_in_threadpool(hub.overdue)
    now_db = to_db(hub.now())
    visible = [c for c in cases if staff_may(staff, "read", case_level=c.level, case_department=c.agency_responsible)]
    return render([staff_case_dict(c, tz=request.app.state.tz, now_db=now_db) for c in visible], "json", "requests")


@router.post("/overdue/sweep")
async def sweep(request: Request, staff: Staff = Depends(current_staff)):
    _require_global(staff, "sweep")
    result = await run_in_threadpool(_hub(request).sweep)
    return render(result, "json", "sweep")


@router.get("/stats")
async def stats(request: Request, staff: Staff = Depends(current_staff)):
    """Figures over the cases the caller may read, optionally narrowed to a scope: `level` (cases at or below
    it, as a staff member of that level sees them) and `department` (cases assigned to it)."""
    tz = request.app.state.tz
    since = parse_time(request.query_params.get("since"), "since", tz)
    level = request.query_params.get("level") or None
    department = (request.query_params.get("department") or "").strip()[:64]
    if level is not None and level not in LEVELS:
        raise Open311Error(400, f"level must be one of {', '.join(LEVELS)}")
    scope = Staff("admin", level or LEVELS[-1], department)

    def visible(case) -> bool:
        return all(staff_may(who, "read", case_level=case.level, case_department=case.agency_responsible)
                   for who in (staff, scope))

    data = await run_in_threadpool(lambda: _hub(request).stats(since, visible=visible))
    data["scope"] = {"level": level, "department": department or None}
    return render(data, "json", "stats")


@router.get("/requests")
async def find(request: Request, staff: Staff = Depends(current_staff)):
    """Search: `q` is a case-insensitive substring of the description or the address; newest first, `limit`
    1-100 (default 20); only cases the caller may read."""
    from sqlalchemy import or_
    from sqlmodel import select

    from citybot.catalogue import LEVELS
    from hub.models import Case

    q = (request.query_params.get("q") or "").strip()
    if not q or len(q) > 200 or "\x00" in q:
        raise Open311Error(400, "q is required: 1-200 characters of description or address")
    raw_limit = request.query_params.get("limit") or "20"
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise Open311Error(400, "limit must be an integer from 1 to 100")
    hub, tz = _hub(request), request.app.state.tz

    def query():
        stmt = select(Case).where(or_(Case.description.icontains(q, autoescape=True),
                                      Case.address.icontains(q, autoescape=True)))
        if not (staff.role == "admin" and staff.level == "市"):
            stmt = stmt.where(Case.level.in_(LEVELS[:LEVELS.index(staff.level) + 1]))
            if staff.department:
                stmt = stmt.where(Case.agency_responsible == staff.department)
        with hub.db.read() as s:
            return list(s.exec(stmt.order_by(Case.requested_at.desc(), Case.id.desc()).limit(int(raw_limit))))

    cases = await run_in_threadpool(query)
    now_db = to_db(hub.now())
    return render([staff_case_dict(c, tz=tz, now_db=now_db) for c in cases], "json", "requests")


@router.post("/requests/{case_id}/place")
async def set_place(request: Request, case_id: str, body: PlaceBody, staff: Staff = Depends(current_staff)):
    """Set or correct a case's place; a case waiting for one (待补充地点) is then dispatched or linked."""
    if not body.address and (body.lat is None or body.long is None):
        raise Open311Error(400, "a place is required: address, or lat and long")
    case = await run_in_threadpool(_hub(request).set_place, case_id, _who(staff), address=body.address,
                                   lat=body.lat, long=body.long, actor=body.actor, note=body.note,
                                   check=_require(staff, "set_place"))
    return _case(request, case)


@router.get("/triage")
async def triage(request: Request, staff: Staff = Depends(current_staff)):
    """Cases filed without a place (待补充地点) that the caller may read, oldest first."""
    hub = _hub(request)
    cases = await run_in_threadpool(hub.needing_place)
    now_db = to_db(hub.now())
    visible = [c for c in cases if staff_may(staff, "read", case_level=c.level, case_department=c.agency_responsible)]
    return render([staff_case_dict(c, tz=request.app.state.tz, now_db=now_db) for c in visible], "json", "requests")
