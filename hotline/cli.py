"""`citybot ingest PATH...`: file hotline call records (JSONL or CSV exports) as cases through the hub."""

from __future__ import annotations

import argparse
import sys

# Exit codes: 0 the run happened (bad records are quarantined, not errors); 2 it could not run at all
# (no such file, no NLU model, database unusable); 75 (EX_TEMPFAIL) the hub stayed down, run again to resume.
EXIT_CANNOT_RUN = 2
EXIT_HUB_DOWN = 75


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="classify and file hotline call records (JSONL/CSV, UTF-8/GB18030)",
                       description="Classify hotline call records with the chat's NLU model and file them to the "
                                   "hub (channel hotline, external id = call_id). Safe to re-run: calls already "
                                   "done are skipped. Prints the counts as one JSON line on stdout.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="hotline export files (.jsonl or .csv)")
    p.add_argument("--dry-run", action="store_true",
                   help="file nothing; print one JSON line per call: call_id, category, subcategory, confidence, "
                        "location, action (file|link|triage|refer|quarantine; fail where a real run would fail). Asks "
                        "the hub for duplicates without filing when it is reachable, else says file")
    p.add_argument("--quarantine", metavar="PATH", help="quarantine JSONL (default: settings.hotline_quarantine_file)")
    p.add_argument("--concurrency", type=int, metavar="N", help="calls filed at once (default: settings.hotline_concurrency)")
    p.add_argument("--nlu-workers", type=int, metavar="N",
                   help="NLU worker processes, ~1 GB each (default: settings.hotline_nlu_workers)")
    p.add_argument("--model", metavar="PATH", help="trained NLU model (default: <models_dir>/citybot.tar.gz)")
    p.add_argument("--database-url", help="citybot's database (default: settings.resolved_database_url)")
    p.add_argument("--hub-url", help="hub base URL (default: settings.hub_url)")
    p.add_argument("--max-outage", type=float, default=900.0, metavar="SECONDS",
                   help="how long to wait out a hub outage before stopping (the next run resumes); default 900")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None, help="always show a progress bar")
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="never show a progress bar")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    missing = [p for p in args.paths if not Path(p).is_file()]
    if missing:
        print(f"citybot ingest: no such file: {', '.join(missing)}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    for option in ("concurrency", "nlu_workers"):
        if getattr(args, option) is not None and getattr(args, option) < 1:
            print(f"citybot ingest: --{option.replace('_', '-')} must be at least 1", file=sys.stderr)
            return EXIT_CANNOT_RUN
    return asyncio.run(_ingest(args))


async def _ingest(args: argparse.Namespace) -> int:
    import json
    import logging
    from pathlib import Path

    from citybot.db import create_tables, make_engine
    from citybot.settings import get_settings
    from hotline.ingest import Ingestor, Options
    from hotline.quarantine import Quarantine
    from hotline.state import IngestState
    from hubapi.client import HubClient
    from nlu.client import NLUError, start_nlu

    log = logging.getLogger("citybot.hotline")
    settings = get_settings()
    if args.hub_url:
        settings = settings.model_copy(update={"hub_url": args.hub_url})
    from citybot import guard

    if not guard.url_is_loopback(settings.hub_url):  # callers' numbers are hashed with the salt: a real one
        try:
            guard.check(guard.salt_problems(settings), "citybot ingest")
        except guard.InsecureSettings as exc:
            print(exc, file=sys.stderr)
            return EXIT_CANNOT_RUN
    state = None
    if not args.dry_run:
        try:
            engine = make_engine(args.database_url or settings.resolved_database_url)
            create_tables(engine)
        except Exception as exc:  # noqa: BLE001 - any reason the database is unusable ends the run before it starts
            print(f"citybot ingest: cannot open the database: {exc}", file=sys.stderr)
            return EXIT_CANNOT_RUN
        state = IngestState(engine)
    try:
        nlu = await start_nlu(args.nlu_workers or settings.hotline_nlu_workers,
                              Path(args.model) if args.model else settings.models_dir / "citybot.tar.gz",
                              settings.rasa_venv)
    except NLUError as exc:
        print(f"citybot ingest: the NLU is not available: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    options = Options(dry_run=args.dry_run, concurrency=args.concurrency or settings.hotline_concurrency,
                      phone_salt=settings.phone_hash_salt, max_outage_s=args.max_outage, progress=args.progress)
    try:
        async with HubClient.from_settings(settings) as hub:
            from citybot import geocoder

            ingestor = Ingestor(nlu=nlu, hub=hub, state=state,
                                quarantine=Quarantine(args.quarantine or settings.hotline_quarantine_file),
                                options=options, geocoder=geocoder.build(settings))
            report = await ingestor.run(args.paths)
    except Exception as exc:  # noqa: BLE001 - e.g. the NLU worker died: what was done is recorded; say why we stopped
        log.exception("ingestion stopped")
        print(f"citybot ingest: stopped: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    finally:
        await nlu.close()
    print(json.dumps(report.as_dict(), ensure_ascii=False), flush=True)
    print(report.summary(), file=sys.stderr)
    return EXIT_HUB_DOWN if report.aborted else 0
