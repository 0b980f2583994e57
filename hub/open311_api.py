"""The Open311 GeoReport v2 endpoints (/open311/v2/...) and citybot's citizen actions, JSON and XML.

POST bodies are form-encoded (application/x-www-form-urlencoded or multipart without files), as the spec's
POST requests; the citizen actions (rate, reopen, cancel, comments) take form bodies too, with api_key.

What is public (docs/hub.md, "Security model"): services, and each case's report and place, masked
(hub/open311.py `request_dict`). Account-linked reads (`account_id`, tokens) and the updates feed need an
api_key; account-linked ones answer a client only the cases it filed. Public writes are rate-limited per
client address (before the body is read) and per api_key.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import Response

from citybot.numbers import parse_int as _parse_int
from hub import lifecycle as lc
from hub import limits as L
from hub import schemas as S
from hub import store
from hub.cases import Conflict, Filing, Forbidden, Hub, Principal, to_db
from hub.idempotency import DOCUMENTED, once
from hub.open311 import (Open311Error, created_dict, rate_limited, render, request_dict, update_dict)

router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"])

Fmt = Literal["json", "xml"]  # the path suffix: .json or .xml
MAX_BODY = 256 * 1024
MAX_DESCRIPTION = L.DESCRIPTION
CHANNELS = frozenset({"chat", "hotline", "web", "app", "wechat", "sms", "email", "staff", "other"})
LIMITS = {"address_string": L.ADDRESS, "address_id": L.ADDRESS_ID, "zipcode": L.ZIPCODE, "media_url": L.URL,
          "account_id": L.ACCOUNT_ID, "device_id": L.DEVICE_ID, "external_id": L.EXTERNAL_ID,
          "first_name": L.FIRST_NAME, "last_name": L.LAST_NAME, "phone": L.PHONE, "email": L.EMAIL,
          "api_key": L.API_KEY, "service_code": L.SERVICE_CODE, "comment": L.RATING_COMMENT, "reason": L.REASON,
          "text": L.DESCRIPTION}
ApiKey = Query(None, max_length=L.API_KEY, description="the client's api_key")
_ATTR = re.compile(r"^attribute\[([A-Za-z0-9_\-]{1,64})\]$")
_TOKEN = re.compile(r"^[0-9a-f-]{36}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 \-]{3,30}$")


def _hub(request: Request) -> Hub:
    return request.app.state.hub


def content_length(request: Request) -> int | None:
    """The declared body size (None when chunked); 400 when it is not a number."""
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    try:
        return _parse_int(raw, lo=0, hi=2**62, name="Content-Length")
    except ValueError as exc:
        raise Open311Error(400, str(exc)) from None


async def bounded(request: Request, limit: int, too_large: Callable[[str], Exception]):
    """The request body as it arrives, refused (`too_large`, a 413) as soon as it passes `limit` bytes — also a
    chunked body without a Content-Length."""
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise too_large(f"request body larger than {limit} bytes")
        if chunk:
            yield chunk


def _too_large(description: str) -> Open311Error:
    return Open311Error(413, description)


class Form(dict):
    """A form body as str -> str (the last value wins); `lists` keeps every value of each field in order."""

    def __init__(self):
        super().__init__()
        self.lists: dict[str, list[str]] = {}

    def add(self, key: str, value: str) -> None:
        self[key] = value
        self.lists.setdefault(key, []).append(value)


async def read_form(request: Request) -> Form:
    """The form body (Form); 413 when too large, 400 when unparsable."""
    length = content_length(request)
    if length is not None and length > MAX_BODY:
        raise Open311Error(413, f"request body larger than {MAX_BODY} bytes")
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith("application/x-www-form-urlencoded"):  # the common case: parse it directly (fast path)
        body = b"".join([chunk async for chunk in bounded(request, MAX_BODY, _too_large)])
        try:
            items = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
        except (UnicodeDecodeError, ValueError) as exc:
            raise Open311Error(400, f"unreadable form body: {exc}") from None
    elif ctype.startswith("multipart/form-data"):
        try:
            form = await MultiPartParser(request.headers, bounded(request, MAX_BODY, _too_large), max_files=0,
                                         max_fields=200, max_part_size=MAX_BODY).parse()
        except MultiPartException as exc:  # malformed multipart, too many fields, a file part
            raise Open311Error(400, f"unreadable form body: {exc.message}") from None
        except ValueError as exc:  # undecodable part headers
            raise Open311Error(400, f"unreadable form body: {type(exc).__name__}") from None
        items = form.multi_items()
    else:
        raise Open311Error(400, "send the body form-encoded (application/x-www-form-urlencoded)")
    out = Form()
    for key, value in items:
        if not isinstance(value, str):
            raise Open311Error(400, f"field {key[:64]!r} must not be a file; upload photos to /media")
        if "\x00" in value or "\x00" in key:
            raise Open311Error(400, f"field {key[:64]!r} contains a NUL character")
        out.add(key, value)
    return out


def client_of(request: Request, form: dict[str, str] | None = None, *, required: bool = True) -> str | None:
    """The api client (its name in HUB_API_KEYS) of the api_key given in the form or the query; 403 when it is
    required and missing, or given and not valid."""
    key = (form or {}).get("api_key") or request.query_params.get("api_key")
    if not key:
        if required:
            raise Open311Error(403, "api_key is required")
        return None
    client = request.app.state.credentials.api_keys.get(key)
    if client is None:
        raise Open311Error(403, "api_key is not valid")
    return client


def check_api_key(request: Request, form: dict[str, str] | None = None) -> str:
    return client_of(request, form)


def limit_address(request: Request) -> None:
    """The per-address write limit, checked before the body is read."""
    wait = request.app.state.rate_limiter.address_wait(request.client.host if request.client else None)
    if wait:
        raise rate_limited(wait)


def limit_client(request: Request, who: str) -> None:
    """The per-key write limit (`who`: the api client, or a token's identity)."""
    wait = request.app.state.rate_limiter.key_wait(who)
    if wait:
        raise rate_limited(wait)


async def write_form(request: Request) -> tuple[Form, str]:
    """A public write's form and its client, after both rate limits."""
    limit_address(request)
    form = await read_form(request)
    client = check_api_key(request, form)
    limit_client(request, f"key:{client}")
    return form, client


def text(form: dict[str, str], name: str, *, required: bool = False) -> str | None:
    value = (form.get(name) or "").strip()
    if not value:
        if required:
            raise Open311Error(400, f"{name} is required")
        return None
    limit = LIMITS.get(name)
    if limit and len(value) > limit:
        raise Open311Error(400, f"{name} is longer than {limit} characters")
    return value


def number(form: dict[str, str], name: str, lo: float, hi: float) -> float | None:
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, f"{name} must be a decimal number") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise Open311Error(400, f"{name} must be between {lo:g} and {hi:g}")
    return value


def url(value: str | None, name: str) -> str | None:
    if value and not value.startswith(("http://", "https://")):
        raise Open311Error(400, f"{name} must be an http(s) URL")
    return value


def flag(form: dict[str, str], name: str) -> bool:
    """An optional boolean form field: true/1/yes or false/0/no/empty (absent: false)."""
    value = (form.get(name) or "").strip().lower()
    if value in ("", "false", "0", "no"):
        return False
    if value in ("true", "1", "yes"):
        return True
    raise Open311Error(400, f"{name} must be true or false")


def photos(form: Form) -> list[str]:
    """Every media_url of a filing (the field repeated: an extension; Open311 has one), in order."""
    urls = [v.strip() for v in form.lists.get("media_url", []) if v.strip()]
    if len(urls) > L.FILING_PHOTOS:
        raise Open311Error(400, f"at most {L.FILING_PHOTOS} media_url values")
    for u in urls:
        if len(u) > L.URL:
            raise Open311Error(400, f"media_url is longer than {L.URL} characters")
        url(u, "media_url")
    return list(dict.fromkeys(urls))  # the same photo twice is one photo


def parse_filing(form: Form, hub: Hub) -> Filing:
    code = text(form, "service_code", required=True)
    if hub.services.get(code) is None:
        raise Open311Error(400, f"service_code {code!r} not found")
    lat, long = number(form, "lat", -90, 90), number(form, "long", -180, 180)
    if (lat is None) != (long is None):
        raise Open311Error(400, "lat and long must be given together")
    address = text(form, "address_string")
    address_id = text(form, "address_id")
    # Extension: needs_place=true files a report whose place is not known yet (a hotline call whose transcript
    # names none) for staff to complete (待补充地点); without it a location is required, as the spec says.
    needs_place = flag(form, "needs_place") and lat is None and not address and not address_id
    if lat is None and not address and not address_id and not needs_place:
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    description = (form.get("description") or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description is longer than {MAX_DESCRIPTION} characters")
    channel = text(form, "channel")
    if channel is not None and channel not in CHANNELS:
        raise Open311Error(400, f"channel must be one of {', '.join(sorted(CHANNELS))}")
    phone = text(form, "phone")
    if phone is not None and not _PHONE.fullmatch(phone):
        raise Open311Error(400, "phone must be a telephone number")
    email = text(form, "email")
    if email is not None and "@" not in email:
        raise Open311Error(400, "email must be an e-mail address")
    attrs = {}
    for key, value in form.items():
        m = _ATTR.fullmatch(key)
        if m:
            attrs[m.group(1)] = value.strip()
        elif key.startswith("attribute"):
            raise Open311Error(400, f"malformed attribute field {key[:80]!r}; use attribute[code]")
    try:
        attrs = hub.services.check_attributes(code, attrs)
    except ValueError as exc:
        raise Open311Error(400, str(exc)) from None
    media = photos(form)
    return Filing(service_code=code, description=description, lat=lat, long=long, address=address,
                  address_id=address_id, zipcode=text(form, "zipcode"), media_url=media[0] if media else None,
                  more_media_urls=media[1:], attributes=attrs, account_id=text(form, "account_id"), device_id=text(form, "device_id"),
                  channel=channel, external_id=text(form, "external_id"), first_name=text(form, "first_name"),
                  last_name=text(form, "last_name"), phone=phone, email=email, needs_place=needs_place)


def parse_time(value: str | None, name: str, tz) -> dt.datetime | None:
    if not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value.strip())
        t = t if t.tzinfo else t.replace(tzinfo=tz)
        t.astimezone(dt.timezone.utc)  # out of range at the edges of year 1 or 9999
        t.astimezone(dt.timezone.utc) - dt.timedelta(days=90)
    except (ValueError, OverflowError):
        raise Open311Error(400, f"{name} must be an ISO 8601 date-time, e.g. 2026-01-31T08:00:00+08:00") from None
    return t


def parse_int(value: str | None, name: str, default: int | None, lo: int, hi: int) -> int:
    """citybot.numbers.parse_int as a 400."""
    try:
        return _parse_int(value, lo=lo, hi=hi, default=default, name=name)
    except ValueError as exc:
        raise Open311Error(400, str(exc)) from None


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


# -- endpoints ----------------------------------------------------------------------------------------------
@router.get("/discovery.{fmt}", responses=S.answers(S.DiscoveryOut, 400))
async def discovery(request: Request, fmt: Fmt) -> Response:
    base = str(request.base_url).rstrip("/") + "/open311/v2/"
    formats = ["application/json", "text/xml"]
    data = {"changeset": "2026-01-01T00:00:00+08:00", "contact": "citybot reference hub",
            "key_service": "api_key from the hub operator",
            "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2", "url": base,
                           "changeset": "2026-01-01T00:00:00+08:00", "type": "production", "formats": formats}]}
    return render(data, fmt, "discovery")


@router.get("/services.{fmt}", responses=S.answers(list[S.ServiceOut], 400))
async def services(request: Request, fmt: Fmt) -> Response:
    return render(_hub(request).services.listing(), fmt, "services")


@router.get("/services/{code}.{fmt}", responses=S.answers(S.ServiceDefinitionOut, 400, 404))
async def service_definition(request: Request, code: str, fmt: Fmt) -> Response:
    hub = _hub(request)
    if hub.services.get(code) is None:
        raise Open311Error(404, f"service_code {code[:32]!r} not found")
    return render(hub.services.definition(code), fmt, "service_definition")


@router.post("/requests.{fmt}", openapi_extra=S.form_body(S.FILING_FORM), dependencies=DOCUMENTED,
             responses=S.answers(list[S.CreatedOut], 400, 403, 413, 422, 429, status=201, also=(200,)))
async def post_request(request: Request, fmt: Fmt) -> Response:
    """File a case (201), or answer the existing one for a repeated channel+external_id (200); `dry_run=true`
    checks and answers without filing (200). With an Idempotency-Key a repeat answers as the first call did."""
    form, client = await write_form(request)
    hub = _hub(request)
    dry_run = flag(form, "dry_run")
    filing = parse_filing(form, hub)
    filing.client = client
    if dry_run:
        # Validated as a real create, duplicate rule applied, nothing written: what a real create would answer,
        # marked dry_run, with service_request_id null when it would be a new case (docs/hub.md).
        case, new = await hub.db.run(hub.preview, filing)
        tz = request.app.state.tz
        return render([{**created_dict(case, tz=tz), "dry_run": True, "new": new, "service_code": case.service_code,
                        "service_name": case.service_name, "level": case.level}], fmt, "service_requests", 200)

    async def act() -> Response:
        case, created = await hub.db.run(hub.file, filing)  # SQLite: a millisecond, on the loop
        return render([created_dict(case, tz=request.app.state.tz)], fmt, "service_requests", 201 if created else 200)

    # a filing with an external_id is answered by the existing case on a second try (the hub's rule)
    return await once(request, f"key:{client}", form.lists, act, recover=act if filing.external_id else None)


@router.get("/requests.{fmt}", responses=S.answers(list[S.RequestOut], 400, 403))
async def get_requests(
        request: Request, fmt: Fmt, api_key: str | None = ApiKey,
        service_request_id: str | None = Query(None, description="comma-separated case numbers (the others "
                                                                  "filters are then ignored)"),
        service_code: str | None = Query(None, description="comma-separated service codes"),
        start_date: str | None = Query(None, description="ISO 8601; naive = city time"),
        end_date: str | None = Query(None, description="ISO 8601; naive = city time"),
        status: str | None = Query(None, description="open, closed or both (comma-separated)"),
        state: str | None = Query(None, description="comma-separated lifecycle states (extension)"),
        account_id: str | None = Query(None, description="the reporter's account: needs the api_key of the client "
                                                         "that filed the cases, and answers only its cases"),
        limit: str | None = Query(None, description="1-1000, default 1000")) -> Response:
    q = request.query_params
    hub, tz = _hub(request), request.app.state.tz
    if any("\x00" in v for v in q.values()):
        raise Open311Error(400, "query contains a NUL character")
    client = client_of(request, required=False)
    account_id = q.get("account_id") or None
    if account_id is not None and client is None:
        raise Open311Error(403, "account_id queries need the api_key of the client that filed the cases")
    if account_id is not None and len(account_id) > L.ACCOUNT_ID:
        raise Open311Error(400, f"account_id is longer than {L.ACCOUNT_ID} characters")
    ids = _list(q.get("service_request_id")) or None
    if ids is not None and len(ids) > 1000:
        raise Open311Error(400, "at most 1000 service_request_id values")
    start, end = parse_time(q.get("start_date"), "start_date", tz), parse_time(q.get("end_date"), "end_date", tz)
    now = hub.now()
    if start is None and end is None:
        start = now - dt.timedelta(days=90)  # the spec's default window
    if start and end and end < start:
        raise Open311Error(400, "end_date is before start_date")
    states: set[str] | None = None
    statuses = _list(q.get("status"))
    if statuses:
        if any(s not in ("open", "closed") for s in statuses):
            raise Open311Error(400, "status must be open, closed or both (comma-separated)")
        states = set().union(*(lc.OPEN_STATES if s == "open" else lc.CLOSED_STATES for s in statuses))
    wanted = _list(q.get("state"))
    if wanted:
        if any(s not in lc.TRANSITIONS for s in wanted):
            raise Open311Error(400, f"state must be among {', '.join(lc.STATES)}")
        states = set(wanted) if states is None else states & set(wanted)
    limit = parse_int(q.get("limit"), "limit", 1000, 1, 1000)

    def query():
        with hub.db.read() as s:
            if states is not None and not states:
                return []
            return store.list_cases(session=s, ids=ids, service_codes=_list(q.get("service_code")) or None,
                                    start=to_db(start) if start else None, end=to_db(end) if end else None,
                                    states=sorted(states) if states else None, account_id=account_id,
                                    client=client if account_id is not None else None, limit=limit)

    cases = await run_in_threadpool(query)
    now_db = to_db(now)
    return render([request_dict(c, tz=tz, now_db=now_db, client=client) for c in cases], fmt, "service_requests")


@router.get("/requests/{case_id}.{fmt}", responses=S.answers(list[S.RequestOut], 400, 403, 404))
async def get_request(request: Request, case_id: str, fmt: Fmt, api_key: str | None = ApiKey) -> Response:
    client = client_of(request, required=False)
    hub = _hub(request)
    case = await run_in_threadpool(hub.get, case_id)
    return render([request_dict(case, tz=request.app.state.tz, now_db=to_db(hub.now()), client=client)], fmt,
                  "service_requests")


@router.get("/tokens/{token}.{fmt}", responses=S.answers(list[S.TokenOut], 400, 403, 404))
async def get_token(request: Request, token: str, fmt: Fmt, api_key: str | None = ApiKey) -> Response:
    """The case a filing token became: for the client that filed it (api_key) only."""
    client = client_of(request)
    hub = _hub(request)

    def query():
        if not _TOKEN.fullmatch(token):
            return None
        with hub.db.read() as s:
            return store.get_case_by_token(token, session=s)

    case = await run_in_threadpool(query)
    if case is None or case.client != client:
        raise Open311Error(404, "token not found")
    return render([{"service_request_id": case.id, "token": case.token}], fmt, "service_requests")


@router.get("/servicerequestupdates.{fmt}", responses=S.answers(list[S.UpdateOut], 400, 403))
async def updates(request: Request, fmt: Fmt, api_key: str | None = ApiKey,
                  after: str | None = Query(None, description="the last update_id seen (default 0)"),
                  limit: str | None = Query(None, description="1-1000, default 100")) -> Response:
    """The updates feed (extension): every case's progress in update_id order, masked; for api clients."""
    client_of(request)
    q = request.query_params
    after = parse_int(q.get("after"), "after", 0, 0, 2**62)
    limit = parse_int(q.get("limit"), "limit", 100, 1, 1000)
    hub = _hub(request)

    def query():
        with hub.db.read_feed() as s:
            return store.updates_after(after, limit, session=s)

    rows = await run_in_threadpool(query)
    tz = request.app.state.tz
    return render([update_dict(u, tz=tz) for u in rows], fmt, "service_request_updates")


# -- citizen actions (api_key + the reporter's account_id) --------------------------------------------------------
async def _citizen(request: Request) -> tuple[dict[str, str], Principal, str]:
    form, client = await write_form(request)
    account = text(form, "account_id", required=True)
    return form, Principal(f"citizen:{account}"), client


def _owned_by(account: str, client: str, allowed: frozenset[str] | None = None, action: str = ""):
    """A check run inside the write transaction: the caller's client filed the case for this account (and it is
    in an allowed state)."""
    def check(case) -> None:
        if not case.account_id or case.account_id != account or case.client != client:
            raise Forbidden("account_id is not the reporter of this case")
        if allowed is not None and case.state not in allowed:
            raise Conflict(f"{action} not allowed: case {case.id} is {case.state}")
    return check


async def _respond(request: Request, fmt: str, case, client: str) -> Response:
    return render([request_dict(case, tz=request.app.state.tz, now_db=to_db(_hub(request).now()), client=client)],
                  fmt, "service_requests")


_CITIZEN_ANSWERS = S.answers(list[S.RequestOut], 400, 403, 404, 409, 413, 422, 429)


async def _once(request: Request, fmt: str, form: Form, client: str, effect: Callable, case_id: str) -> Response:
    """`effect()` (a write, run in a thread) and the case it returns as the answer, at most once per
    Idempotency-Key."""
    async def act() -> Response:
        return await _respond(request, fmt, await run_in_threadpool(effect), client)

    async def recover() -> Response:  # the call was done, its answer never recorded: the case as it is now
        return await _respond(request, fmt, await run_in_threadpool(_hub(request).get, case_id), client)

    return await once(request, f"key:{client}", form.lists, act, recover)


@router.post("/requests/{case_id}/rate.{fmt}", openapi_extra=S.form_body(S.RATE_FORM), responses=_CITIZEN_ANSWERS,
             dependencies=DOCUMENTED)
async def rate(request: Request, case_id: str, fmt: Fmt) -> Response:
    form, who, client = await _citizen(request)
    rating = parse_int(form.get("rating"), "rating", None, 1, 5)
    comment = text(form, "comment")
    hub = _hub(request)
    return await _once(request, fmt, form, client, lambda: hub.transition(
        case_id, lc.RATED, who, actor=who.name, note=comment or "", rating=rating, comment=comment,
        check=_owned_by(form["account_id"].strip(), client), action="rate"), case_id)


@router.post("/requests/{case_id}/reopen.{fmt}", openapi_extra=S.form_body(S.REASON_FORM), responses=_CITIZEN_ANSWERS,
             dependencies=DOCUMENTED)
async def reopen(request: Request, case_id: str, fmt: Fmt) -> Response:
    form, who, client = await _citizen(request)
    reason = text(form, "reason") or ""
    hub = _hub(request)
    allowed = frozenset({lc.RESOLVED, lc.CLOSED, lc.RATED})
    return await _once(request, fmt, form, client, lambda: hub.transition(
        case_id, lc.REOPENED, who, actor=who.name, note=reason,
        check=_owned_by(form["account_id"].strip(), client, allowed, "reopen")), case_id)


@router.post("/requests/{case_id}/cancel.{fmt}", openapi_extra=S.form_body(S.REASON_FORM), responses=_CITIZEN_ANSWERS,
             dependencies=DOCUMENTED)
async def cancel(request: Request, case_id: str, fmt: Fmt) -> Response:
    form, who, client = await _citizen(request)
    hub = _hub(request)
    note = text(form, "reason") or "市民撤销"
    return await _once(request, fmt, form, client, lambda: hub.transition(
        case_id, lc.CANCELLED, who, actor=who.name, note=note, check=_owned_by(form["account_id"].strip(), client)),
        case_id)


@router.post("/requests/{case_id}/comments.{fmt}", openapi_extra=S.form_body(S.COMMENT_FORM),
             responses=_CITIZEN_ANSWERS,
             dependencies=DOCUMENTED)
async def comment(request: Request, case_id: str, fmt: Fmt) -> Response:
    form, who, client = await _citizen(request)
    body = (form.get("text") or "").strip()
    if len(body) > MAX_DESCRIPTION:
        raise Open311Error(400, f"text is longer than {MAX_DESCRIPTION} characters")
    media_url = url(text(form, "media_url"), "media_url")
    if not body and not media_url:
        raise Open311Error(400, "text or media_url is required")
    hub = _hub(request)
    return await _once(request, fmt, form, client, lambda: hub.comment(
        case_id, who, text=body, media_url=media_url, check=_owned_by(form["account_id"].strip(), client)),
        case_id)
