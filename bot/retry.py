"""A Bot API session middleware: on 429 Too Many Requests wait `retry_after` and resend the same call.

aiogram raises TelegramRetryAfter and leaves the waiting to the caller; the bot's replies to citizens should be
delayed, never lost, so every call made through a Bot with this middleware waits and retries (bounded).
"""

from __future__ import annotations

import asyncio
import logging

from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import TelegramRetryAfter

log = logging.getLogger("citybot.bot")


class RetryAfter(BaseRequestMiddleware):
    def __init__(self, *, max_wait: float = 120.0, attempts: int = 5):
        self.max_wait, self.attempts = max_wait, attempts

    async def __call__(self, make_request, bot, method):
        waited = 0.0
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self.attempts or waited + exc.retry_after > self.max_wait:
                    raise
                log.info("Bot API asked to wait %ss before %s; retrying", exc.retry_after, type(method).__name__)
                await asyncio.sleep(exc.retry_after)
                waited += exc.retry_after
        raise AssertionError("unreachable")
