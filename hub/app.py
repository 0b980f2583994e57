"""The hub's app factory: Open311 + staff API + media, one database, a periodic overdue sweep."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import FileResponse, Response

from citybot import catalogue, guard
from citybot.settings import Settings, get_settings
from hub import media
from hub import members as M
from hub import schemas as S
from hub.auth import Credentials
from hub.cases import CaseError, Hub
from hub.db import Database
from hub.idempotency import Idempotency
from hub.open311 import Open311Error, error_response, fmt_of, render
from hub.open311_api import bounded, content_length, limit_address, limit_client, router as open311_router
from hub.ratelimit import RateLimiter
from hub.services import Services
from hub.staff_api import router as staff_router
from hub.workclock import WorkClock

log = logging.getLogger(__name__)
STAFF_MAX_BODY = 1024 * 1024  # any body but a photo: staff JSON is a few KB, Open311 forms at most 256 KiB


def create_app(settings: Settings | None = None, *, clock: Callable[[], dt.datetime] | None = None,
               sweep_interval_s: float | None = None) -> FastAPI:
    """Build the hub. `clock` (returning an aware datetime) lets tests control time; the database engine is made
    here, not at import; `sweep_interval_s` overrides settings.hub_sweep_interval_s (0 turns the sweep off)."""
    settings = settings or get_settings()
    credentials = Credentials.from_settings(settings)  # a malformed entry stops the start, before any write
    limiter = RateLimiter.from_settings(settings)
    db = Database.from_url(settings.resolved_hub_database_url)
    db.migrate()
    if settings.staff_users:
        try:
            with db.write() as session:
                added = M.seed(settings.staff_users, session=session)
        except ValueError:
            db.dispose()
            raise
        if added:
            log.info("staff members: %d registered from STAFF_USERS", added)
    hub = Hub(db, Services.build(catalogue.load(settings.categories_file)), WorkClock.from_settings(settings),
              clock=clock, auto_dispatch=settings.hub_auto_dispatch,
              duplicate_radius_m=settings.duplicate_radius_m, duplicate_window_hours=settings.duplicate_window_hours,
              escalate_after_hours=settings.hub_escalate_after_hours)
    idempotency = Idempotency(db, hub.now, settings.hub_idempotency_retention_hours)
    interval = settings.hub_sweep_interval_s if sweep_interval_s is None else sweep_interval_s

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        task = asyncio.create_task(_sweeper(hub, idempotency, interval)) if interval > 0 else None
        try:
            yield
        finally:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            db.dispose()

    app = FastAPI(title="citybot 事件统一分拨平台 (Open311 GeoReport v2)", lifespan=lifespan)
    app.state.settings, app.state.hub, app.state.tz = settings, hub, ZoneInfo(settings.timezone)
    app.state.credentials, app.state.rate_limiter = credentials, limiter
    app.state.idempotency = idempotency
    app.include_router(open311_router)
    app.include_router(staff_router)
    _media_routes(app, settings)
    _error_handlers(app)
    app.openapi = lambda: _openapi(app)
    # every body bounded as it streams, whatever the endpoint reads it with (JSON bodies are read before auth)
    app.add_middleware(_BodyLimit, default=STAFF_MAX_BODY, media=settings.media_max_bytes + STAFF_MAX_BODY)
    dev = guard.hub_problems(settings, "0.0.0.0")
    if dev:  # `citybot hub` refuses to start beyond loopback with these; a server started otherwise answers others 503
        app.add_middleware(_LoopbackOnly, problems=dev)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        # Liveness plus a database round trip: the supervisor and docker-compose wait on this.
        await run_in_threadpool(db.ping)
        return {"status": "ok"}

    return app


async def _sweeper(hub: Hub, idempotency: Idempotency, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(hub.sweep)  # overdue marking and automatic escalation
            await run_in_threadpool(idempotency.purge)  # idempotency keys past their retention
        except Exception:  # keep sweeping; the next round retries
            log.exception("overdue sweep failed")


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Open311Error)
    async def _open311(request: Request, exc: Open311Error) -> Response:
        return error_response(exc.status, exc.description, fmt_of(request.url.path), exc.headers)

    @app.exception_handler(CaseError)
    async def _case(request: Request, exc: CaseError) -> Response:
        return error_response(exc.status, exc.description, fmt_of(request.url.path))

    @app.exception_handler(media.MediaError)
    async def _media(request: Request, exc: media.MediaError) -> Response:
        return error_response(exc.status, exc.description)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors()[:5]:
            if tuple(err.get("loc", ())) == ("path", "fmt"):  # the path's suffix: .json or .xml
                parts.append(f"unsupported format {str(err.get('input', ''))[:16]!r}; use .json or .xml")
                continue
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(400, "; ".join(parts) or "invalid request", fmt_of(request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        description = {404: "not found", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
        return error_response(exc.status_code, description, fmt_of(request.url.path))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:  # a bug: log it, still answer with the shape
        # the log filter masks the traceback's text (citybot/logs.py); the path may hold a case number only
        log.exception("unhandled error on %s %s", request.method, request.url.path[:200])
        return error_response(500, "internal error", fmt_of(request.url.path))


class _BodyLimit:
    """Refuse a request body (413) once it passes the limit of its path, declared or chunked, before any endpoint
    reads it whole: FastAPI reads a JSON body before it checks the caller."""

    def __init__(self, app, default: int, media: int):
        self.app, self.default, self.media = app, default, media

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.media if scope.get("path") == "/media" else self.default
        length = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:  # h11 has already refused a malformed Content-Length
            await error_response(413, f"request body larger than {limit} bytes",
                                 fmt_of(scope.get("path", "")))(scope, receive, send)
            return
        seen = 0

        async def bounded_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise StarletteHTTPException(413, f"request body larger than {limit} bytes")
            return message

        await self.app(scope, bounded_receive, send)


class _LoopbackOnly:
    """While development credentials are in force, requests from beyond this machine are refused (503): however
    the server was started (`citybot hub` refuses to listen beyond loopback), the public keys serve no one else."""

    def __init__(self, app, problems: list[str]):
        self.app, self.problems = app, problems

    async def __call__(self, scope, receive, send):
        client = scope.get("client") or ("127.0.0.1", 0)
        if scope["type"] == "http" and not guard.is_loopback(str(client[0])):
            text = "development credentials in force; this hub serves only on loopback: " + "; ".join(self.problems)
            await error_response(503, text[:1000], fmt_of(scope.get("path", "")))(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _openapi(app: FastAPI) -> dict:
    """FastAPI's schema, made true: validation errors are answered 400 in the spec's error shape, so the only 422
    is a reused Idempotency-Key's (on the endpoints that take the header)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version="2", routes=app.routes,
                             description="Open311 GeoReport v2 (JSON and XML by path suffix), citybot's citizen "
                                         "actions and updates feed, the staff API and media. See docs/hub.md.")
        for path in schema.get("paths", {}).values():
            for op in path.values():
                responses = op.get("responses", {})
                if not any(p.get("name") == "Idempotency-Key" for p in op.get("parameters", [])):
                    responses.pop("422", None)
                if "400" not in responses and (op.get("parameters") or op.get("requestBody")):
                    responses.setdefault("400", {"description": "bad input", "content": {"application/json": {
                        "schema": {"type": "array", "items": {"$ref": "#/components/schemas/ErrorItem"}}}}})
        comps = schema.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            comps.pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema


def _media_routes(app: FastAPI, settings: Settings) -> None:
    media_dir, max_bytes, max_pixels = settings.media_dir, settings.media_max_bytes, settings.media_max_pixels
    max_body = max_bytes + 64 * 1024  # the photo plus the multipart framing
    public = settings.resolved_hub_public_url

    @app.post("/media", tags=["media"], status_code=201, openapi_extra=S.multipart_body(S.MEDIA_FORM),
              responses=S.answers(S.MediaOut, 400, 403, 413, 429, status=201, xml=False))
    async def upload(request: Request, api_key: str | None = Query(None, description="the client's api_key (or a "
                                                                                     "staff/channel bearer token)")
                     ) -> Response:
        """Upload a photo: credentials (api_key in the query, or a bearer token) are checked before the body is
        read, and the body is refused (413) as soon as it passes the limit, chunked or not."""
        limit_address(request)
        who = _uploader(request)
        limit_client(request, who)
        length = content_length(request)
        if length is not None and length > max_body:
            raise media.MediaError(413, f"file is larger than {max_bytes} bytes")
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            raise media.MediaError(400, "send the photo as multipart/form-data, field 'file'")
        try:
            items = await MultiPartParser(request.headers, bounded(request, max_body, _too_large), max_files=1,
                                          max_fields=10, max_part_size=64 * 1024).parse()
        except MultiPartException as exc:
            raise media.MediaError(400, f"unreadable multipart body: {exc.message}") from None
        except ValueError as exc:  # undecodable part headers
            raise media.MediaError(400, f"unreadable multipart body: {type(exc).__name__}") from None
        try:
            upload_file = items.get("file")
            if upload_file is None or isinstance(upload_file, str):
                raise media.MediaError(400, "multipart field 'file' with the image is required")
            data = await upload_file.read(max_bytes + 1)
        finally:
            await items.close()
        digest, ext, ctype, size = await run_in_threadpool(media.store, data, media_dir, max_bytes, max_pixels)
        return render({"media_url": f"{public}/media/{digest}.{ext}", "sha256": digest, "content_type": ctype,
                       "size": size}, "json", "media", 201)

    @app.get("/media/{name}", tags=["media"], response_class=Response,
             responses={200: {"content": {t: {"schema": {"type": "string", "format": "binary"}}
                                          for t in media.KINDS.values()}, "description": "the photo"},
                        404: {"model": list[S.ErrorItem], "description": "not found"}})
    async def serve(name: str) -> Response:
        found = media.path_of(name, media_dir)
        if found is None:
            raise media.MediaError(404, "media not found")
        path, ctype = found
        return FileResponse(path, media_type=ctype, headers={"Cache-Control": "public, max-age=31536000, immutable",
                                                             "X-Content-Type-Options": "nosniff"})


def _uploader(request: Request) -> str:
    """Who uploads: an api client (api_key in the query) or a staff/channel token (bearer); 403 otherwise. Never
    from the body: it is not read before this."""
    creds = request.app.state.credentials
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip()
        if token in creds.staff_tokens:
            return f"staff:{creds.staff_tokens[token].name}"
        if token in creds.channel_tokens:
            return f"channel:{creds.channel_tokens[token]}"
        raise media.MediaError(403, "staff token is not valid")
    key = request.query_params.get("api_key")
    if not key:
        raise media.MediaError(403, "api_key (in the query string) or a staff token is required")
    client = creds.api_keys.get(key)
    if client is None:
        raise media.MediaError(403, "api_key is not valid")
    return f"key:{client}"


def _too_large(description: str) -> media.MediaError:
    return media.MediaError(413, description)
