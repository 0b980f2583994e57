"""Per-citizen limits against spam and abuse: a sliding-window message rate, text and photo size.

The rate state is in memory (per bot process): it only has to outlive a minute, not a restart.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

OK, WARN, DROP = "ok", "warn", "drop"

TOO_FAST = "您发送消息太频繁了，请稍等一会儿再发。我们会认真处理每一条反映，谢谢您的耐心！"
TOO_LONG = "您的消息太长了（最多{limit}字），请精简后重新发送，或分几条发送。"
PHOTO_TOO_BIG = "照片太大了（最大{mb}MB），请压缩后重新发送。"
UNSUPPORTED = "目前只能接收文字、照片和位置。请用文字描述问题，也可以附上现场照片或发送定位。"


class ChatRateLimit:
    """At most `count` messages per chat in any `window` seconds. The first message over the limit gets
    WARN (one polite reply), further ones DROP (silence) until the window has room again. Messages over the
    limit are not counted, so a citizen who pauses is heard again once the window passes."""

    def __init__(self, count: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.count, self.window, self.clock = count, window, clock
        self._log: dict[int, collections.deque[float]] = {}
        self._warned: set[int] = set()
        self._checks = 0

    def check(self, chat_id: int) -> str:
        now = self.clock()
        log = self._log.setdefault(chat_id, collections.deque())
        while log and log[0] <= now - self.window:
            log.popleft()
        self._checks += 1
        if self._checks % 1000 == 0:
            self._purge(now)
        if len(log) < self.count:
            log.append(now)
            self._warned.discard(chat_id)
            return OK
        if chat_id in self._warned:
            return DROP
        self._warned.add(chat_id)
        return WARN

    def _purge(self, now: float) -> None:
        for chat in [c for c, log in self._log.items() if not log or log[-1] <= now - self.window]:
            del self._log[chat]
            self._warned.discard(chat)
