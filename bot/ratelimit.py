"""When the next Telegram message may start: Telegram's flood limits as a schedule.

Global: starts sit on a grid `cost/rate` apart (evenly spaced, never a burst), and a sliding log of the last
`int(rate)` starts guarantees that no one-second window ever holds more than `rate` of them, even when the loop
woke late and a start catches up with its grid slot. Per chat: a message to a chat starts at least
`cost*chat_interval` after the previous one to that chat started, and (see hold_chat) after it ended. Times are
monotonic seconds; the clock is injected so the arithmetic is testable without sleeping.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable


class SendSchedule:
    def __init__(self, rate: float = 25.0, chat_interval: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 group_interval: float | None = None):
        """`group_interval`: the spacing for group chats (negative ids; Telegram allows a group about 20
        messages a minute), default the same as `chat_interval`."""
        if rate <= 0 or chat_interval < 0 or (group_interval or 0) < 0:
            raise ValueError("rate must be > 0 and the intervals >= 0")
        self.rate, self.chat_interval, self.clock = rate, chat_interval, clock
        self.group_interval = chat_interval if group_interval is None else max(chat_interval, group_interval)
        self._global_next = 0.0  # the next grid slot
        self._recent: collections.deque[float] = collections.deque(maxlen=max(1, int(rate)))
        self._chat_next: dict[str, float] = {}

    def global_ready_at(self, cost: int = 1) -> float:
        ready = self._global_next
        recent, cap = self._recent, self._recent.maxlen
        over = len(recent) + min(cost, cap) - cap  # starts that must first leave the one-second window
        if over > 0:
            ready = max(ready, recent[over - 1] + 1.0)
        return ready

    def interval(self, chat_id: str) -> float:
        return self.group_interval if str(chat_id).startswith("-") else self.chat_interval

    def chat_ready_at(self, chat_id: str) -> float:
        return self._chat_next.get(chat_id, 0.0)

    def ready_at(self, chat_id: str, cost: int = 1) -> float:
        return max(self.global_ready_at(cost), self.chat_ready_at(chat_id))

    def take(self, chat_id: str, cost: int = 1, at: float | None = None) -> float:
        """Book a start for `chat_id` at the earliest allowed time (not before `at`); returns that time."""
        now = self.clock() if at is None else at
        start = max(now, self.ready_at(chat_id, cost))
        slot = self._global_next
        # a start at most one slot late keeps the grid (no drift from timer lateness); later ones re-anchor it
        grid = slot if start - slot <= cost / self.rate else start
        self._global_next = grid + cost / self.rate
        self._recent.extend([start] * min(cost, self._recent.maxlen))
        self._chat_next[chat_id] = start + cost * self.interval(chat_id)
        if len(self._chat_next) > 10_000:  # forget chats whose pause is over
            self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}
        return start

    def hold_chat(self, chat_id: str, seconds: float) -> None:
        """Nothing starts to `chat_id` for `seconds` from now (counted from the end of the last call)."""
        self._chat_next[chat_id] = max(self.chat_ready_at(chat_id), self.clock() + seconds)

    def pause(self, seconds: float, chat_id: str | None = None) -> None:
        """Telegram said 429 retry_after: nothing (to that chat, or at all) starts for `seconds`."""
        until = self.clock() + seconds
        if chat_id is not None:
            self._chat_next[chat_id] = max(self.chat_ready_at(chat_id), until)
        self._global_next = max(self._global_next, until)
