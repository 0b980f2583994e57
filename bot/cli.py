"""`citybot notifier`: send citizens the progress of the cases they follow (hub updates feed -> Telegram)."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("notifier", help="send case progress to the Telegram chats that follow each case",
                       description="Poll the hub's updates feed and send each subscribed chat its progress "
                                   "message, within Telegram's limits. --dead lists undeliverable messages.")
    p.add_argument("--dead", action="store_true", help="list dead (undeliverable) messages as JSON lines and exit")
    p.add_argument("--retry-dead", action="store_true", help="put dead messages back in the queue and exit")
    p.add_argument("--once", action="store_true",
                   help="read the feed up to its end, send everything queued, then exit (no subscription grace)")
    p.add_argument("--database-url", help="citybot's database (default: settings.resolved_database_url)")
    p.add_argument("--hub-url", help="hub base URL (default: settings.hub_url)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import json

    import citybot.subscriptions  # noqa: F401 - registers its table for create_tables
    from bot import outbox
    from citybot.db import create_tables, make_engine
    from citybot.privacy import mask
    from citybot.settings import get_settings

    settings = get_settings()
    engine = make_engine(args.database_url or settings.resolved_database_url)
    create_tables(engine)
    if args.dead:
        for m in outbox.dead_letters(engine, limit=1000):
            print(json.dumps({"id": m.id, "update_id": m.update_id, "case_id": m.case_id, "chat_id": m.chat_id,
                              "attempts": m.attempts, "last_error": mask(m.last_error),
                              "created_at": m.created_at.isoformat()}, ensure_ascii=False))
        return 0
    if args.retry_dead:
        print(json.dumps({"requeued": outbox.retry_dead(engine)}))
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
    from hub.client import HubClient, HubError

    bot = make_bot(settings.telegram_bot_token, settings.telegram_api_base)
    hub = HubClient.from_settings(settings if not args.hub_url else settings.model_copy(update={"hub_url": args.hub_url}))
    config = NotifierConfig.from_settings(settings, **({"subscribe_grace": 0.0} if args.once else {}))
    notifier = Notifier(bot=bot, hub=hub, engine=engine, config=config)
    try:
        if args.once:
            try:
                await notifier.run(until_idle=True)
            except HubError as exc:
                print(f"citybot notifier: {exc}", file=sys.stderr)
                return 75
            print(json.dumps({"sent_now": notifier.sent, "outbox": notifier.outbox.counts()}))
            return 0
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(notifier.stop()))
        await notifier.run()
        return 0
    finally:
        await notifier.aclose()
        await hub.aclose()
        await bot.session.close()
