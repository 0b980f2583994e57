"""`citybot actions`: the Rasa action server (rasa-sdk) with the hub client and the loop filing queued reports (job queue)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("actions", help="serve the Rasa custom actions (rasa-sdk) and file queued reports")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5055, help="port (default 5055)")
    p.add_argument("--retry-interval", type=float, default=5.0,
                   help="seconds between claims of queued reports (default 5); each report's own retry times follow "
                        "JOBS_BACKOFF_S / JOBS_BACKOFF_MAX_S / JOBS_GIVE_UP_AFTER_S")
    p.add_argument("--hub-retries", type=int, help="HubClient retries per call (default: settings.hub_retries)")
    p.set_defaults(func=_run)


def build_app(settings, *, retry_interval_s: float = 5.0, hub_retries: int | None = None):
    """The Sanic app: rasa-sdk's endpoints (/webhook, /actions, /health) plus startup/shutdown of the services."""
    import asyncio
    import contextlib

    from rasa_sdk.endpoint import create_app
    from rasa_sdk.executor import ActionExecutor

    from actions import outbox, services

    executor = ActionExecutor()
    executor.register_package("actions")
    app = create_app(executor, cors_origins=None)

    @app.before_server_start
    async def _start(app, _loop):
        overrides = {"retries": hub_retries} if hub_retries is not None else {}
        svc = services.build(settings, **overrides)
        services.configure(svc)
        app.ctx.svc = svc
        app.ctx.retry = asyncio.create_task(outbox.retry_loop(svc, retry_interval_s))

    @app.after_server_stop
    async def _stop(app, _loop):
        app.ctx.retry.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await app.ctx.retry
        await app.ctx.svc.hub.aclose()
        services.configure(None)

    return app


def _run(args: argparse.Namespace) -> int:
    from citybot.settings import get_settings

    app = build_app(get_settings(), retry_interval_s=args.retry_interval, hub_retries=args.hub_retries)
    app.run(host=args.host, port=args.port, single_process=True, access_log=False, motd=False)
    return 0
