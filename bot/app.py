"""The Telegram bot process: one aiogram Dispatcher composed of one Router per concern.

Services reach handlers as Dispatcher workflow data (keyword arguments by name): `settings`, `engine`
(citybot's database), `hub` (HubClient), `rasa` (RasaChannel). Routers, in order:

- `bot.staff`    staff commands; gated as a whole by a filter (configured staff only)
- `bot.rating`   the 1-5 rating buttons under a closed case
- `bot.citizen`  private chats: text, photos, locations -> Rasa -> replies

Modes (`run_bot`): long polling (the webhook is deleted first), or, when `telegram_webhook_url` is set, an
aiohttp server on telegram_webhook_host:port + path that accepts only requests carrying
`telegram_webhook_secret` in X-Telegram-Bot-Api-Secret-Token (others get 401), after setWebhook with that
secret. The progress notifier is a separate process (`citybot notifier`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot, Dispatcher

log = logging.getLogger("citybot.bot")


def build_dispatcher(*, settings, engine, hub, rasa, storage=None) -> Dispatcher:
    """The Dispatcher with every router and the services handlers need."""
    from bot import citizen, rating, staff

    dp = Dispatcher(storage=storage) if storage is not None else Dispatcher()
    dp["settings"], dp["engine"], dp["hub"], dp["rasa"] = settings, engine, hub, rasa
    for router in staff.routers():
        dp.include_router(router)
    dp.include_router(rating.make_router())
    dp.include_router(citizen.make_router(settings))
    return dp


def build_storage(settings):
    """aiogram's FSM storage: Redis when `redis_url` is set (state survives restarts), else in memory."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(settings.redis_url)
    from aiogram.fsm.storage.memory import MemoryStorage

    return MemoryStorage()


def make_citizen_bot(settings, *, token: str | None = None, api_base: str | None = None) -> Bot:
    """A Bot on `telegram_api_base` whose calls wait out 429s instead of failing (bot/retry.py)."""
    from bot.notifier import make_bot
    from bot.retry import RetryAfter

    bot = make_bot(token or settings.telegram_bot_token, api_base or settings.telegram_api_base)
    bot.session.middleware(RetryAfter())
    return bot


def webhook_app(dp: Dispatcher, bot: Bot, settings):
    """The aiohttp application of webhook mode (secret checked by aiogram's SimpleRequestHandler)."""
    from aiohttp import web
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application

    if not settings.telegram_webhook_secret:
        raise ValueError("webhook mode needs TELEGRAM_WEBHOOK_SECRET (Telegram sends it with every update)")
    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=settings.telegram_webhook_secret).register(
        app, path=settings.telegram_webhook_path)
    setup_application(app, dp, bot=bot)

    async def healthz(_request):
        return web.json_response({"ok": True})

    app.router.add_get("/healthz", healthz)
    return app


async def run_bot(*, settings, bot: Bot, dp: Dispatcher, stop: asyncio.Event, ready: asyncio.Event | None = None,
                  webhook: bool | None = None) -> None:
    """Serve until `stop` is set: polling, or webhook mode (default: when telegram_webhook_url is set).
    """
    webhook = bool(settings.telegram_webhook_url) if webhook is None else webhook
    if webhook:
        await _serve_webhook(settings, bot, dp, stop, ready)
    else:
        await _serve_polling(bot, dp, stop, ready)


async def _serve_polling(bot: Bot, dp: Dispatcher, stop: asyncio.Event, ready: asyncio.Event | None) -> None:
    await bot.delete_webhook(drop_pending_updates=False)  # getUpdates is refused while a webhook is set
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False,
                                                   allowed_updates=dp.resolve_used_update_types()))
    if ready is not None:
        ready.set()
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({polling, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if polling not in done:
        try:
            await dp.stop_polling()
        except RuntimeError:  # polling had not started yet
            polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        return
    polling.result()


async def _serve_webhook(settings, bot: Bot, dp: Dispatcher, stop: asyncio.Event,
                         ready: asyncio.Event | None) -> None:
    from aiohttp import web

    app = webhook_app(dp, bot, settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.telegram_webhook_host, settings.telegram_webhook_port)
    await site.start()
    try:
        await bot.set_webhook(settings.telegram_webhook_url, secret_token=settings.telegram_webhook_secret,
                              allowed_updates=dp.resolve_used_update_types(), drop_pending_updates=False)
        log.info("webhook mode on %s:%s%s", settings.telegram_webhook_host, settings.telegram_webhook_port,
                 settings.telegram_webhook_path)
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        await runner.cleanup()  # runs the dispatcher's shutdown; updates in flight finish first
