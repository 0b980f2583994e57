"""`citybot hub`: serve the reference case-dispatch hub with uvicorn."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hub", help="serve the reference case-dispatch hub (Open311 GeoReport v2 + staff API)")
    p.add_argument("--host", help="bind address (default: settings.hub_host)")
    p.add_argument("--port", type=int, help="port (default: settings.hub_port)")
    p.add_argument("--database-url", help="database URL (default: settings.resolved_hub_database_url)")
    p.add_argument("--sweep-interval", type=float, help="seconds between overdue sweeps; 0 = off "
                                                         "(default: settings.hub_sweep_interval_s)")
    p.add_argument("--sweep-once", action="store_true",
                   help="run one overdue sweep (marking and automatic escalation), print the ids and exit")
    p.add_argument("--scrub-media", action="store_true",
                   help="strip the metadata (EXIF/GPS, comments) of photos stored before uploads were cleaned, "
                        "in place (names and URLs stay), print the counts and exit")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import json
    import sys

    import uvicorn

    from citybot import guard
    from citybot.logs import setup_logging
    from citybot.settings import get_settings
    from hub.app import create_app

    settings = get_settings()
    setup_logging(component="hub")
    updates = {k: v for k, v in (("hub_host", args.host), ("hub_port", args.port),
                                 ("hub_database_url", args.database_url)) if v is not None}
    if updates:
        settings = settings.model_copy(update=updates)
    if args.scrub_media:
        from hub import media

        print(json.dumps(media.scrub(settings.media_dir, settings.media_max_pixels)))
        return 0
    if not args.sweep_once:
        try:
            guard.check(guard.hub_problems(settings, settings.hub_host), "citybot hub")
        except guard.InsecureSettings as exc:
            print(exc, file=sys.stderr)
            return 2
    try:
        app = create_app(settings, sweep_interval_s=args.sweep_interval)
    except ValueError as exc:  # a malformed HUB_API_KEYS / HUB_STAFF_TOKENS / HUB_CHANNEL_TOKENS / rate limit entry
        print(f"citybot hub: {exc}", file=sys.stderr)
        return 2
    if args.sweep_once:
        print(json.dumps(app.state.hub.sweep()))  # {"newly_overdue": [...], "escalated": [...]}
        return 0
    uvicorn.run(app, host=settings.hub_host, port=settings.hub_port, log_config=None, access_log=False)
    return 0
