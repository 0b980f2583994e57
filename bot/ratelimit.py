"""When the next Telegram message may start: Telegram's flood limits as a schedule.

Global: message starts are spaced at least cost/rate apart (a token bucket of capacity one, so no one-second
window ever holds more than `rate` messages, bursts included). Per chat: a message to a chat starts at least
cost*interval after the previous one to that chat started. Times are monotonic seconds; the clock is injected
so the arithmetic is testable without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class SendSchedule:
    def __init__(self, rate: float = 25.0, chat_interval: float = 1.0, clock: Callable[[], float] = time.monotonic):
        if rate <= 0 or chat_interval < 0:
            raise ValueError("rate must be > 0 and chat_interval >= 0")
        self.rate, self.chat_interval, self.clock = rate, chat_interval, clock
        self._global_next = 0.0
        self._chat_next: dict[str, float] = {}

    def global_ready_at(self) -> float:
        return self._global_next

    def chat_ready_at(self, chat_id: str) -> float:
        return self._chat_next.get(chat_id, 0.0)

    def ready_at(self, chat_id: str) -> float:
        return max(self._global_next, self.chat_ready_at(chat_id))

    def take(self, chat_id: str, cost: int = 1, at: float | None = None) -> float:
        """Book a start for `chat_id` at the earliest allowed time (not before `at`); returns that time."""
        start = max(self.clock() if at is None else at, self.ready_at(chat_id))
        self._global_next = start + cost / self.rate
        self._chat_next[chat_id] = start + cost * self.chat_interval
        if len(self._chat_next) > 10_000:  # forget chats whose pause is over
            now = self.clock()
            self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}
        return start

    def pause(self, seconds: float, chat_id: str | None = None) -> None:
        """Telegram said 429 retry_after: nothing (to that chat, or at all) starts for `seconds`."""
        until = self.clock() + seconds
        if chat_id is not None:
            self._chat_next[chat_id] = max(self.chat_ready_at(chat_id), until)
        self._global_next = max(self._global_next, until)
