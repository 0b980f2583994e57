"""Running the citizen bot in a test: the real Dispatcher and Bot (HTTP to the loopback Bot API server), polling
or webhook mode, as a task in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from types import SimpleNamespace


def bot_settings(tg, *, hub_url: str, rasa_url: str, **overrides):
    from citybot.settings import Settings

    return Settings(_env_file=None, hub_url=hub_url, hub_public_url=hub_url, rasa_url=rasa_url,
                    telegram_bot_token=tg.token, telegram_api_base=tg.base_url, **overrides)


@contextlib.asynccontextmanager
async def running_bot(tg, *, engine, hub, hub_url: str, rasa_url: str, webhook: bool = False, storage=None,
                      **overrides):
    import bot.buttons  # noqa: F401 - registers its table
    from bot.app import build_dispatcher, make_citizen_bot, run_bot
    from bot.rasa import RasaChannel, resend_policy
    from citybot.db import create_tables

    create_tables(engine)
    settings = bot_settings(tg, hub_url=hub_url, rasa_url=rasa_url, **overrides)
    bot = make_citizen_bot(settings)
    rasa = RasaChannel(rasa_url, timeout=60, resend=resend_policy(1.0))  # "Rasa down" answers within seconds
    dp = build_dispatcher(settings=settings, engine=engine, hub=hub, rasa=rasa, storage=storage)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_bot(settings=settings, bot=bot, dp=dp, stop=stop, ready=ready, webhook=webhook))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # raises what went wrong
    assert ready.is_set(), "the bot did not start"
    try:
        yield SimpleNamespace(settings=settings, bot=bot, dp=dp, task=task, stop=stop)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await rasa.aclose()
        await bot.session.close()


def texts(tg, chat_id) -> list[str]:
    """What the bot said to a chat (message texts and photo captions), in order."""
    return [r.payload.get("text") or r.payload.get("caption") or "" for r in tg.sent(chat_id=chat_id)]


def keyboard(record) -> list[tuple[str, str]]:
    """(title, callback_data) of the inline buttons a recorded send carried."""
    markup = record.payload.get("reply_markup") or {}
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard") or () for b in row]
