"""`citybot bot`: the Telegram citizen bot; `citybot notifier`: send citizens the progress of the cases they
follow (hub updates feed -> Telegram). Two processes: the bot never runs the notifier."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("bot", help="the Telegram citizen bot (polling, or webhook mode with TELEGRAM_WEBHOOK_URL)",
                       description="Serve the Telegram bot: citizens' messages go to the dialogue (Rasa), its "
                                   "replies come back. Long polling by default; webhook mode when "
                                   "TELEGRAM_WEBHOOK_URL is set (TELEGRAM_WEBHOOK_SECRET required). "
                                   "Runs until SIGINT/SIGTERM.")
    b.add_argument("--polling", action="store_true", help="poll even when TELEGRAM_WEBHOOK_URL is set")
    b.add_argument("--database-url", help="citybot's database (default: settings.resolved_database_url)")
    b.add_argument("--hub-url", help="hub base URL (default: settings.hub_url)")
    b.add_argument("--rasa-url", help="Rasa server base URL (default: settings.rasa_url)")
    b.set_defaults(func=_run_bot)

    p = sub.add_parser("notifier", help="send case progress to the Telegram chats that follow each case",
                       description="Poll the hub's updates feed and send each subscribed chat its progress "
                                   "message, within Telegram's limits, from the job queue (any number of "
                                   "notifiers may run; set NOTIFIER_REPLICAS to share the rate). --dead lists "
                                   "dead jobs, --resend puts them back.")
    p.add_argument("--dead", action="store_true", help="list dead jobs (pushes, alerts, filings) as JSON lines and exit")
    p.add_argument("--resend", metavar="ID|all", help="put a dead job (or all of them) back in the queue and exit")
    p.add_argument("--once", action="store_true",
                   help="read the feed up to its end, send everything due, then exit (no subscription grace)")
    p.add_argument("--database-url", help="citybot's database (default: settings.resolved_database_url)")
    p.add_argument("--hub-url", help="hub base URL (default: settings.hub_url)")
    p.set_defaults(func=_run)


def dead_line(job) -> dict:
    """A dead job as staff see it (the error masked: it may quote a citizen's text)."""
    from citybot.privacy import mask

    return {"id": job.id, "kind": job.kind, "key": job.key, "case_id": job.case_id, "chat_id": job.chat_id,
            "attempts": job.attempts, "last_error": mask(job.last_error), "created_at": job.created_at.isoformat()}


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from citybot.db import create_tables, make_engine
    from citybot.jobs import Jobs
    from citybot.settings import get_settings

    settings = get_settings()
    engine = make_engine(args.database_url or settings.resolved_database_url)
    create_tables(engine)
    if args.dead:
        for job in Jobs(engine).dead_jobs(limit=1000):
            print(json.dumps(dead_line(job), ensure_ascii=False))
        return 0
    if args.resend:
        which = args.resend.strip().lower()
        if which != "all" and not which.isdigit():
            print("citybot notifier: --resend takes a job id or 'all'", file=sys.stderr)
            return 2
        print(json.dumps({"requeued": Jobs(engine).resend(which)}))
        return 0
    if not settings.telegram_bot_token:
        print("citybot notifier: TELEGRAM_BOT_TOKEN is not set", file=sys.stderr)
        return 2
    return asyncio.run(_serve(args, settings, engine))


async def _serve(args, settings, engine) -> int:
    import asyncio
    import json
    import signal

    from bot.notifier import Notifier, NotifierConfig, make_bot
    from bot.staff.access import parse_chats
    from bot.staff.alerts import StaffAlerts, dead_alert_chat
    from hubapi.client import HubClient, HubError

    try:
        parse_chats(settings.staff_chats)
    except ValueError as exc:
        print(f"citybot notifier: STAFF_CHATS: {exc}", file=sys.stderr)
        return 2
    bot = make_bot(settings.telegram_bot_token, settings.telegram_api_base)
    hub = HubClient.from_settings(settings if not args.hub_url else settings.model_copy(update={"hub_url": args.hub_url}),
                                  staff_token=settings.hub_channel_token)  # staff alerts read as the channel
    config = NotifierConfig.from_settings(settings, dead_alert_chat=dead_alert_chat(settings),
                                          **({"subscribe_grace": 0.0} if args.once else {}))
    # overdue/escalation alerts to the staff chats ride on the same job queue (none without STAFF_CHATS)
    notifier = Notifier(bot=bot, hub=hub, engine=engine, config=config,
                        extra_fanout=StaffAlerts.from_settings(settings, hub))
    try:
        if args.once:
            try:
                await notifier.run(until_idle=True)
            except HubError as exc:
                print(f"citybot notifier: {exc}", file=sys.stderr)
                return 75
            print(json.dumps({"sent_now": notifier.sent, "jobs": notifier.jobs.counts()}))
            return 0
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(notifier.stop()))
        await notifier.run()
        return 0
    finally:
        await hub.aclose()
        await bot.session.close()


def _run_bot(args: argparse.Namespace) -> int:
    import asyncio

    from citybot.settings import get_settings

    settings = get_settings()
    if not settings.telegram_bot_token:
        print("citybot bot: TELEGRAM_BOT_TOKEN is not set", file=sys.stderr)
        return 2
    webhook = bool(settings.telegram_webhook_url) and not args.polling
    if webhook and not settings.telegram_webhook_secret:
        print("citybot bot: webhook mode needs TELEGRAM_WEBHOOK_SECRET", file=sys.stderr)
        return 2
    from citybot import guard

    # Beyond loopback (the webhook listens there, or the hub is elsewhere) the secrets must be real: the phone
    # link hashes citizens' numbers with PHONE_HASH_SALT.
    problems = guard.webhook_problems(settings) if webhook else []
    if (webhook and not guard.is_loopback(settings.telegram_webhook_host)) or \
            not guard.url_is_loopback(args.hub_url or settings.hub_url):
        problems += guard.salt_problems(settings)
    try:
        guard.check(problems, "citybot bot")
    except guard.InsecureSettings as exc:
        print(exc, file=sys.stderr)
        return 2
    return asyncio.run(_serve_bot(args, settings, webhook))


async def _serve_bot(args, settings, webhook: bool) -> int:
    import asyncio
    import signal

    from bot.app import build_dispatcher, build_storage, make_citizen_bot, run_bot
    from bot.rasa import RasaChannel, resend_policy
    from citybot.db import create_tables, make_engine
    from hubapi.client import HubClient

    engine = make_engine(args.database_url or settings.resolved_database_url)
    create_tables(engine)
    # the channel token: staff commands act at the hub for the staff member who sent them
    hub = HubClient.from_settings(settings if not args.hub_url else settings.model_copy(update={"hub_url": args.hub_url}),
                                  staff_token=settings.hub_channel_token)
    rasa = RasaChannel(args.rasa_url or settings.rasa_url, timeout=settings.rasa_timeout_s,
                       resend=resend_policy(settings.rasa_resend_s))
    storage = build_storage(settings)
    bot = make_citizen_bot(settings)
    dp = build_dispatcher(settings=settings, engine=engine, hub=hub, rasa=rasa, storage=storage)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await run_bot(settings=settings, bot=bot, dp=dp, stop=stop, webhook=webhook)
        return 0
    finally:
        await rasa.aclose()
        await hub.aclose()
        await storage.close()
        await bot.session.close()
        engine.dispose()
