"""The hub's app factory: Open311 + staff API + media, one database, a periodic overdue sweep."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import FileResponse, Response

from citybot import catalogue
from citybot.settings import Settings, get_settings
from hub import media
from hub.auth import parse_api_keys, parse_staff_tokens
from hub.cases import CaseError, Hub
from hub.db import Database
from hub.open311 import Open311Error, error_response, fmt_of, render
from hub.open311_api import MAX_BODY, router as open311_router
from hub.services import Services
from hub.staff_api import router as staff_router
from hub.workclock import WorkClock

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, clock: Callable[[], dt.datetime] | None = None,
               sweep_interval_s: float | None = None) -> FastAPI:
    """Build the hub. `clock` (returning an aware datetime) lets tests control time; the database engine is made
    here, not at import; `sweep_interval_s` overrides settings.hub_sweep_interval_s (0 turns the sweep off)."""
    settings = settings or get_settings()
    db = Database.from_url(settings.resolved_hub_database_url)
    db.migrate()
    hub = Hub(db, Services.build(catalogue.load(settings.categories_file)), WorkClock.from_settings(settings),
              clock=clock, auto_dispatch=settings.hub_auto_dispatch,
              duplicate_radius_m=settings.duplicate_radius_m, duplicate_window_hours=settings.duplicate_window_hours,
              escalate_after_hours=settings.hub_escalate_after_hours)
    interval = settings.hub_sweep_interval_s if sweep_interval_s is None else sweep_interval_s

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        task = asyncio.create_task(_sweeper(hub, interval)) if interval > 0 else None
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
    app.state.api_keys = parse_api_keys(settings.hub_api_keys)
    app.state.staff_tokens = parse_staff_tokens(settings.hub_staff_tokens)
    app.include_router(open311_router)
    app.include_router(staff_router)
    _media_routes(app, settings)
    _error_handlers(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        # Liveness plus a database round trip: the supervisor and docker-compose wait on this.
        await run_in_threadpool(db.ping)
        return {"status": "ok"}

    return app


async def _sweeper(hub: Hub, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(hub.sweep)  # overdue marking and automatic escalation
        except Exception:  # keep sweeping; the next round retries
            log.exception("overdue sweep failed")


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Open311Error)
    async def _open311(request: Request, exc: Open311Error) -> Response:
        return error_response(exc.status, exc.description, fmt_of(request.url.path))

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
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(400, "; ".join(parts) or "invalid request", fmt_of(request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        description = {404: "not found", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
        return error_response(exc.status_code, description, fmt_of(request.url.path))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:  # a bug: log it, still answer with the shape
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error", fmt_of(request.url.path))


def _media_routes(app: FastAPI, settings: Settings) -> None:
    media_dir, max_bytes = settings.media_dir, settings.media_max_bytes
    public = settings.resolved_hub_public_url

    @app.post("/media")
    async def upload(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_bytes + 64 * 1024:
            raise media.MediaError(413, f"file is larger than {max_bytes} bytes")
        auth = request.headers.get("authorization", "")
        staff_ok = auth.lower().startswith("bearer ") and auth[7:].strip() in app.state.staff_tokens
        try:
            form = await request.form(max_files=1, max_fields=10, max_part_size=MAX_BODY)
        except Exception as exc:
            raise media.MediaError(400, f"unreadable multipart body: {exc}") from None
        key = form.get("api_key") or request.query_params.get("api_key")
        if not staff_ok:
            if not key:
                raise media.MediaError(403, "api_key or staff token required")
            if key not in app.state.api_keys:
                raise media.MediaError(403, "api_key is not valid")
        upload_file = form.get("file")
        if upload_file is None or isinstance(upload_file, str):
            raise media.MediaError(400, "multipart field 'file' with the image is required")
        data = await upload_file.read(max_bytes + 1)
        await form.close()
        digest, ext, ctype = await run_in_threadpool(media.store, data, media_dir, max_bytes)
        return render({"media_url": f"{public}/media/{digest}.{ext}", "sha256": digest, "content_type": ctype,
                       "size": len(data)}, "json", "media", 201)

    @app.get("/media/{name}")
    async def serve(name: str) -> Response:
        found = media.path_of(name, media_dir)
        if found is None:
            raise media.MediaError(404, "media not found")
        path, ctype = found
        return FileResponse(path, media_type=ctype, headers={"Cache-Control": "public, max-age=31536000, immutable"})
