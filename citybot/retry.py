"""The one retry policy: how long to wait before trying again, and when to stop.

Everything citybot sends out of the process retries by this policy: the hub client's calls (in process, for
seconds), the durable job queue's rows (filing a report, a push, a staff alert: for hours, across restarts) and
the hotline's filing (while the hub is away). Exponential back-off from `base` doubling up to `cap`, with jitter
so that replicas recovering from the same outage do not retry in step. A job is given up only on a permanent
error (decided by the caller) or after `give_up_after` seconds of trying (None: never).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger("citybot.retry")

T = TypeVar("T")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class Backoff:
    base: float = 2.0      # the first wait, seconds
    cap: float = 300.0     # the longest wait between two attempts
    give_up_after: float | None = 48 * 3600.0  # stop trying after this long (seconds); None = never
    jitter: float = 0.2    # +- this fraction of each wait

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt (1 = the first failure)."""
        raw = min(self.cap, self.base * 2 ** max(attempts - 1, 0))
        if self.jitter:
            raw *= 1 + random.uniform(-self.jitter, self.jitter)
        return max(0.0, min(raw, self.cap))

    def next_at(self, attempts: int, now: dt.datetime | None = None) -> dt.datetime:
        return (now or utcnow()) + dt.timedelta(seconds=self.delay(attempts))

    def expired(self, first_attempt: dt.datetime | float, now: dt.datetime | float | None = None) -> bool:
        """Has trying since `first_attempt` (a UTC datetime, or a monotonic/epoch float) gone on too long?"""
        if self.give_up_after is None:
            return False
        if isinstance(first_attempt, dt.datetime):
            now = now if isinstance(now, dt.datetime) else utcnow()
            if first_attempt.tzinfo is None:
                first_attempt = first_attempt.replace(tzinfo=dt.timezone.utc)
            return (now - first_attempt).total_seconds() >= self.give_up_after
        return (now if now is not None else 0.0) - first_attempt >= self.give_up_after


async def retrying(call: Callable[[], Awaitable[T]], *, policy: Backoff, retry_on: tuple[type[BaseException], ...],
                   attempts: int | None = None, what: str = "call",
                   sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                   clock: Callable[[], float] | None = None) -> T:
    """`call()` until it returns, retrying on `retry_on` by `policy`, at most `attempts` times in all (None: until
    the policy's `give_up_after`). The last error is raised when it gives up."""
    loop_clock = clock or asyncio.get_running_loop().time
    started, n = loop_clock(), 0
    while True:
        n += 1
        try:
            return await call()
        except retry_on as exc:
            if (attempts is not None and n >= attempts) or policy.expired(started, loop_clock()):
                raise
            wait = policy.delay(n)
            log.warning("%s failed (%s: %s), attempt %d; retrying in %.1fs", what, type(exc).__name__, exc, n, wait)
            await sleep(wait)
