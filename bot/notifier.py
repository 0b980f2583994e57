"""The progress notifier: hub updates feed -> outbox -> Telegram, within Telegram's limits.

Two loops share one Notifier:
- the poller reads the hub's updates feed after the persisted cursor, renders one message per (update,
  subscribed chat) and, in ONE transaction, inserts them into the outbox and advances the cursor;
- the sender keeps the pending outbox rows in memory (one FIFO per chat) and starts each message at the
  earliest moment the limits allow (bot/ratelimit.py): one message per chat per `chat_interval`, `global_rate`
  per second overall, one in-flight call per chat so a chat's messages arrive in order.

Outcomes of a send: ok -> sent; 429 -> wait retry_after (everything pauses, as Telegram asks) and resend;
403 (the user blocked the bot) -> the chat's subscriptions end and its pending messages are dropped; anything
else -> retry with doubling back-off, up to `max_attempts`, then dead (staff list them: `citybot notifier --dead`).

Delivery goes through a Sink: TelegramSink (an aiogram Bot; the default) or another one, such as the terminal
chat's (bot/terminal.py), which also passes `chats=` so it only takes its own chat's messages.

Stopping (stop() or cancelling run()) lets the calls already in flight finish and be recorded, so a restart
neither repeats nor loses a message. Only a hard kill between Telegram's answer and the row update (a few
milliseconds) can repeat one message: Telegram has no idempotency key.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import hashlib
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Protocol
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import messages
from bot.outbox import Item, Outbox, utcnow
from bot.ratelimit import SendSchedule
from citybot import subscriptions
from hubapi.client import HubClient, HubError, Update

log = logging.getLogger("citybot.notifier")

INSERT_CHUNK = 500  # rows per INSERT (SQLite's bound-variable limit)


def chat_ref(chat_id: str) -> str:
    """How a chat appears in logs: a short hash, not the id."""
    return "chat#" + hashlib.sha256(str(chat_id).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class NotifierConfig:
    poll_interval: float = 2.0
    batch: int = 200
    global_rate: float = 25.0
    chat_interval: float = 1.0
    group_interval: float = 3.0  # group chats (the staff chats): Telegram allows about 20 messages a minute
    concurrency: int = 32
    max_attempts: int = 6
    backoff: float = 2.0
    backoff_max: float = 300.0
    upload_media: bool = True
    subscribe_grace: float = 3.0
    timezone: str = "Asia/Shanghai"
    cursor: str = "telegram"

    @classmethod
    def from_settings(cls, settings, **overrides) -> NotifierConfig:
        kw = dict(poll_interval=settings.notifier_poll_interval_s, batch=settings.notifier_batch,
                  global_rate=settings.notifier_global_rate, chat_interval=settings.notifier_chat_interval_s,
                  group_interval=settings.notifier_group_interval_s,
                  concurrency=settings.notifier_concurrency, max_attempts=settings.notifier_max_attempts,
                  backoff=settings.notifier_backoff_s, backoff_max=settings.notifier_backoff_max_s,
                  upload_media=settings.notifier_upload_media, subscribe_grace=settings.notifier_subscribe_grace_s,
                  timezone=settings.timezone)
        kw.update(overrides)
        return cls(**kw)


# batch of hub updates -> extra (update, chat_id, payload) messages, queued with the batch (bot/staff/alerts.py)
ExtraFanout = Callable[[list[Update]], Awaitable[list[tuple[Update, str, dict]]]]
Buttons = list  # rows of [label, callback data] pairs, as messages.render makes them


class Sink(Protocol):
    """Where the notifier delivers a rendered message: Telegram (TelegramSink) or the terminal chat.
    An exception means "not delivered": the Notifier retries it; TelegramRetryAfter / TelegramForbiddenError
    get Telegram's special handling."""

    async def send_text(self, chat_id: str, text: str, buttons: Buttons) -> None: ...

    async def send_photos(self, chat_id: str, text: str, photos: list[str], buttons: Buttons) -> None: ...


class TelegramSink:
    """Delivery through an aiogram Bot: text, one photo with a caption, or an album (buttons follow it)."""

    def __init__(self, bot: Bot, media: Callable[[str], Awaitable]):
        self.bot, self._media = bot, media

    async def send_text(self, chat_id: str, text: str, buttons: Buttons) -> None:
        await self.bot.send_message(int(chat_id), text, reply_markup=_keyboard(buttons))

    async def send_photos(self, chat_id: str, text: str, photos: list[str], buttons: Buttons) -> None:
        chat, markup = int(chat_id), _keyboard(buttons)
        if len(photos) == 1:
            await self.bot.send_photo(chat, await self._media(photos[0]), caption=text, reply_markup=markup)
            return
        media = [InputMediaPhoto(media=await self._media(url), caption=text if i == 0 else None)
                 for i, url in enumerate(photos)]
        await self.bot.send_media_group(chat, media)
        if markup is not None:  # an album cannot carry buttons
            await self.bot.send_message(chat, "请选择：", reply_markup=markup)


class Notifier:
    def __init__(self, *, bot: Bot | None = None, hub: HubClient, engine: Engine,
                 config: NotifierConfig | None = None,
                 clock: Callable[[], float] = time.monotonic, sink: Sink | None = None,
                 chats: Iterable[str] | None = None, extra_fanout: ExtraFanout | None = None):
        """`bot` (Telegram) or `sink` (anything else) receives the messages. `chats`: deliver only to these
        chat ids; other chats' messages stay pending for the notifier that serves them. `extra_fanout`: more
        recipients per batch beyond the subscribers (the staff alerts, bot/staff/alerts.py)."""
        if bot is None and sink is None:
            raise ValueError("Notifier needs a bot or a sink")
        self.bot, self.hub, self.engine = bot, hub, engine
        self.sink: Sink = sink if sink is not None else TelegramSink(bot, self._media)
        self.chats = frozenset(map(str, chats)) if chats is not None else None
        self.extra_fanout = extra_fanout
        self.config = config or NotifierConfig()
        self.outbox = Outbox(engine, cursor=self.config.cursor)
        self.tz = ZoneInfo(self.config.timezone)
        self.clock = clock
        self.schedule = SendSchedule(self.config.global_rate, self.config.chat_interval, clock,
                                     group_interval=self.config.group_interval)
        self._queues: dict[str, collections.deque[Item]] = {}
        self._heap: list[tuple[float, int, str]] = []  # (earliest start, seq, chat): chats with work, not in flight
        self._seq = itertools.count()
        self._inflight: dict[str, asyncio.Task] = {}
        self._loaded_id = 0
        self._first_seen: dict[int, float] = {}  # update_id -> when this notifier first read it
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._until_idle = self._feed_done = False
        self._sem = asyncio.Semaphore(self.config.concurrency)
        self.sent = 0  # messages delivered by this instance (for tests and benchmarks)

    # -- running -----------------------------------------------------------------------------------------------
    async def run(self, *, until_idle: bool = False) -> None:
        """Poll and send until stop() (or cancellation); in-flight sends always complete and are recorded.
        `until_idle`: read the feed up to its end, send everything queued, then return."""
        self._stopping.clear()
        self._until_idle, self._feed_done = until_idle, False
        self._add(await asyncio.to_thread(self.outbox.pending, self._loaded_id))
        poller = asyncio.create_task(self._poll_loop(), name="notifier-poll")
        sender = asyncio.create_task(self._send_loop(), name="notifier-send")
        try:
            if until_idle:
                await poller
                self._feed_done = True
                self._wake.set()
                await sender
                return
            await asyncio.wait([poller, sender], return_when=asyncio.FIRST_COMPLETED)
            for t in (poller, sender):
                if t.done() and not t.cancelled() and t.exception():
                    raise t.exception()
        finally:
            self._stopping.set()  # the loops end even if a cancellation is lost in a race
            self._wake.set()
            for t in (poller, sender):
                t.cancel()
            await asyncio.gather(poller, sender, return_exceptions=True)
            await self._drain()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def _drain(self) -> None:
        """Wait (shielded from cancellation) for the sends already started."""
        tasks = list(self._inflight.values())
        if tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- the hub side --------------------------------------------------------------------------------------------
    async def poll_once(self) -> int:
        """Queue the messages of the next batch of hub updates; returns how many updates were read."""
        after = await asyncio.to_thread(self.outbox.cursor)
        updates = await self.hub.updates(after=after, limit=self.config.batch)
        updates = self._ripe(updates)
        if not updates:
            return 0
        merged_into = await self._merge_targets(updates)
        extra = await self.extra_fanout(updates) if self.extra_fanout is not None else []
        new = await asyncio.to_thread(self._queue_batch, updates, merged_into, after, extra)
        log.debug("read %d hub update(s) after %d: %d new message(s)", len(updates), after, new)
        self._add(await asyncio.to_thread(self.outbox.pending, self._loaded_id))
        return len(updates)

    def _queue_batch(self, updates: list[Update], merged_into: dict[int, str], after: int,
                     extra: list[tuple[Update, str, dict]] = ()) -> int:
        """One transaction: the batch's outbox rows and the cursor past it (run in a worker thread)."""
        with Session(self.engine) as s, s.begin():
            # the extra fan-out's rows first: one row per (update, chat), so they win over a subscriber row
            rows = [dict(update_id=u.update_id, chat_id=str(chat), case_id=u.service_request_id, payload=payload,
                         hub_time=_utc(u.updated_datetime)) for u, chat, payload in extra]
            taken = {(r["update_id"], r["chat_id"]) for r in rows}
            for u in updates:
                payload = messages.render(u, self.tz)
                chats = subscriptions.subscribers(u.service_request_id, session=s, update_id=u.update_id)
                target = merged_into.get(u.update_id)
                if target:  # followers of a merged case now follow the case it was merged into
                    for chat in chats:
                        subscriptions.subscribe(chat, target, session=s)
                if payload is None:
                    continue
                hub_time = _utc(u.updated_datetime)
                rows += [dict(update_id=u.update_id, chat_id=chat, case_id=u.service_request_id, payload=payload,
                              hub_time=hub_time) for chat in chats if (u.update_id, chat) not in taken]
            new = 0
            for i in range(0, max(len(rows), 1), INSERT_CHUNK):
                last = i + INSERT_CHUNK >= len(rows)
                new += self.outbox.enqueue(rows[i:i + INSERT_CHUNK], updates[-1].update_id if last else after,
                                           session=s)
            return new

    def _ripe(self, updates: list[Update]) -> list[Update]:
        """The updates first read at least `subscribe_grace` seconds ago. The chat that filed a case subscribes
        just after the hub answered, while the hub has already written received/dispatched: waiting a moment
        before fanning an update out lets that subscription land first, so the filer hears every step."""
        grace = self.config.subscribe_grace
        if grace <= 0 or not updates:
            return updates
        now = self.clock()
        first = self._first_seen
        for u in updates:
            first.setdefault(u.update_id, now)
        ripe = [u for u in updates if now - first[u.update_id] >= grace]  # a prefix: ids are read in order
        if ripe:
            last = ripe[-1].update_id
            self._first_seen = {k: v for k, v in first.items() if k > last}
        return ripe

    async def _merge_targets(self, updates: list[Update]) -> dict[int, str]:
        out = {}
        for u in updates:
            if (u.event or u.state) == "duplicate":
                try:
                    req = await self.hub.get_request(u.service_request_id)
                except HubError as exc:
                    log.warning("could not read merged case %s: %s", u.service_request_id, exc)
                    continue
                if req.duplicate_of:
                    out[u.update_id] = req.duplicate_of
        return out

    async def _poll_loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                n = await self.poll_once()
                failures = 0
            except HubError as exc:
                if self._until_idle:
                    raise
                failures += 1
                n = 0
                log.warning("hub updates feed unavailable (%s); retrying", exc)
            if n >= self.config.batch:
                continue  # a backlog: read on at once
            if self._until_idle and not failures and not self._first_seen:
                return  # caught up with the feed
            delay = self.config.poll_interval * min(2 ** failures, 30)
            if self._first_seen and not failures:  # updates waiting out the grace: come back when they are ripe
                delay = min(delay, max(0.05, min(self._first_seen.values()) + self.config.subscribe_grace
                                       - self.clock()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()

    # -- the Telegram side ----------------------------------------------------------------------------------------
    def _add(self, items: list[Item]) -> None:
        """Pick up pending outbox rows not yet in memory (all of them at start, new ones after each poll)."""
        for item in items:
            if item.id <= self._loaded_id:
                continue
            self._loaded_id = max(self._loaded_id, item.id)
            if self.chats is not None and item.chat_id not in self.chats:
                continue
            q = self._queues.setdefault(item.chat_id, collections.deque())
            q.append(item)
            if len(q) == 1 and item.chat_id not in self._inflight:
                self._push(item.chat_id)
        self._wake.set()

    def _push(self, chat_id: str, not_before: float = 0.0) -> None:
        item = self._queues[chat_id][0]
        start = max(not_before, self.schedule.chat_ready_at(chat_id), self._retry_at(item))
        heapq.heappush(self._heap, (start, next(self._seq), chat_id))

    def _retry_at(self, item: Item) -> float:
        if item.next_attempt_at is None:
            return 0.0
        return self.clock() + max(0.0, (item.next_attempt_at - utcnow()).total_seconds())

    async def _send_loop(self) -> None:
        while not self._stopping.is_set():
            now = self.clock()
            if self._feed_done and not self._heap and not self._inflight:
                return  # run(until_idle=True): all sent
            if not self._heap:
                await self._sleep(1.0)
                continue
            start, _, chat = self._heap[0]
            ready = max(start, self.schedule.chat_ready_at(chat))
            if ready > start + 1e-6:  # the chat's pause grew since it was queued: requeue it in order
                heapq.heapreplace(self._heap, (ready, next(self._seq), chat))
                continue
            cost = messages.cost(self._queues[chat][0].payload)
            at = max(ready, self.schedule.global_ready_at(cost))
            if at > now:
                await self._sleep(at - now)
                continue
            if self._sem.locked():  # all calls in flight: wait for one to end, then look again
                async with self._sem:
                    pass
                continue
            await self._sem.acquire()  # free at once: no await point between the check and the start
            heapq.heappop(self._heap)
            item = self._queues[chat][0]
            self.schedule.take(chat, cost, self.clock())
            self._inflight[chat] = asyncio.create_task(self._send(item), name=f"notify-{item.id}")

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):  # asyncio.timeout, unlike wait_for, never swallows a cancel
            async with asyncio.timeout(max(0.0, seconds)):
                await self._wake.wait()

    async def _send(self, item: Item) -> None:
        chat = item.chat_id
        not_before = 0.0
        try:
            try:
                await self._deliver(item)
            except TelegramRetryAfter as exc:
                log.warning("Telegram flood control: waiting %ss before resending to %s", exc.retry_after,
                            chat_ref(chat))
                self.schedule.pause(exc.retry_after, chat)
                not_before = self.clock() + exc.retry_after
                return
            except TelegramForbiddenError as exc:
                await asyncio.to_thread(self._blocked, chat, str(exc))
                self._queues.pop(chat, None)
                return
            except Exception as exc:  # noqa: BLE001 - every other failure is retried, then dead
                retry_at = await asyncio.to_thread(self._failed, item, exc)
                q = self._queues[chat]
                if retry_at is None:
                    q.popleft()
                else:
                    q[0] = Item(item.id, item.chat_id, item.case_id, item.payload, item.attempts + 1, retry_at)
                return
            await asyncio.to_thread(self.outbox.mark_sent, item.id)
            self.sent += 1
            self._queues[chat].popleft()
        finally:
            # the next message to this chat starts `chat_interval` after this call ENDED: the request surely
            # reached Telegram by then, so their clock sees the spacing whatever the network did
            self.schedule.hold_chat(chat, self.schedule.interval(chat) * messages.cost(item.payload))
            self._inflight.pop(chat, None)
            self._sem.release()
            q = self._queues.get(chat)
            if q:
                self._push(chat, not_before)
            else:
                self._queues.pop(chat, None)
            self._wake.set()

    def _blocked(self, chat: str, reason: str) -> None:
        with Session(self.engine) as s, s.begin():
            n = subscriptions.unsubscribe_chat(chat, session=s)
        dropped = self.outbox.drop_chat(chat, reason)
        log.warning("%s blocked the bot: %d subscription(s) ended, %d pending message(s) dropped",
                    chat_ref(chat), n, dropped)

    def _failed(self, item: Item, exc: Exception) -> dt.datetime | None:
        """Record a failed attempt; returns when to retry, or None when the message is now dead."""
        attempts = item.attempts + 1
        error = f"{type(exc).__name__}: {exc}"
        final = attempts >= self.config.max_attempts or (
            isinstance(exc, TelegramBadRequest) and "chat not found" not in str(exc).lower())
        if final:
            self.outbox.mark_dead(item.id, attempts, error)
            log.error("message %d to %s is dead after %d attempt(s): %s", item.id, chat_ref(item.chat_id),
                      attempts, error)
            return None
        delay = min(self.config.backoff * 2 ** (attempts - 1), self.config.backoff_max)
        at = utcnow() + dt.timedelta(seconds=delay)
        self.outbox.mark_retry(item.id, attempts, at, error)
        log.warning("message %d to %s failed (%s), attempt %d/%d; retrying in %.0fs", item.id,
                    chat_ref(item.chat_id), error, attempts, self.config.max_attempts, delay)
        return at

    async def _deliver(self, item: Item) -> None:
        p = item.payload
        photos, buttons = p.get("photos") or [], p.get("buttons") or []
        if photos:
            await self.sink.send_photos(item.chat_id, p["text"], photos, buttons)
        else:
            await self.sink.send_text(item.chat_id, p["text"], buttons)

    async def _media(self, url: str):
        if not self.config.upload_media:
            return url
        data = await self.hub.fetch_media(url)
        return BufferedInputFile(data, filename=PurePosixPath(urlparse(url).path).name or "photo.jpg")


def _keyboard(rows: list) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=label, callback_data=data)
                                                  for label, data in row] for row in rows])


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.astimezone(dt.timezone.utc) if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def make_bot(token: str, api_base: str = "https://api.telegram.org") -> Bot:
    """An aiogram Bot for `token` talking to `api_base` (the real Bot API, a local server, or a test server)."""
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base.rstrip("/")))
    return Bot(token, session=session)
