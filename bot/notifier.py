"""The progress notifier: hub updates feed -> job queue (citybot/jobs.py) -> Telegram, within Telegram's limits.

Four loops share one Notifier:
- the poller, in the ONE replica that holds the feed lease (citybot_notifier_cursor), reads the hub's updates
  feed after the cursor, renders one push job per (update, subscribed chat) plus the staff alerts and, in ONE
  transaction, inserts them and advances the cursor (fenced: a poller that lost its lease writes nothing);
- the claimer leases due jobs from the queue - only the head of each chat's lane, so a chat's messages keep
  the order of the case's updates whichever replica sends them - and the sender starts each at the earliest
  moment the limits allow (bot/ratelimit.py): one message per chat per `chat_interval` (also across replicas:
  a sent job pushes its lane's next job back by that much), `global_rate / replicas` per second overall;
- the renewer extends the leases of the jobs this notifier holds.

Any number of notifiers may run: they share the work through the claims, and the rate through `replicas`
(Telegram's limit is per bot token). Outcomes of a send: ok -> sent; 429 -> everything here pauses for
retry_after and the job is due again then (not counted as a failure); 403 (blocked) -> the chat's subscriptions
end and its pending jobs are dropped; 400 Bad Request (other than "chat not found") -> dead; anything else (5xx,
408, network, the hub's media) -> retried by the retry policy (citybot/retry.py) until `give_up_after`, then
dead. Dead jobs are reported once to the staff chat and re-sent with `citybot notifier --resend ID|all`.

One update that cannot be handled now never stalls the feed: a merged case that cannot be read is set aside as
its own `merge` job (retried on its own), a staff alert whose case detail cannot be read goes with the update's
own fields, and the cursor moves on.

Delivery goes through a Sink: TelegramSink (an aiogram Bot; the default) or another one, such as the terminal
chat's (bot/terminal.py), which also passes `chats=` so it only takes its own chat's messages.

Stopping (stop() or cancelling run()) lets the calls already in flight finish and be recorded and gives the other
leases back, so a restart neither repeats nor loses a message. Only a hard kill between Telegram's answer and the
row update (a few milliseconds) can repeat one message: Telegram has no idempotency key. A SIGKILLed notifier's
jobs are taken over by the others when its leases expire (`lease`, default 30 s).
"""

from __future__ import annotations

import asyncio
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
from bot.ratelimit import SendSchedule
from citybot import jobs, subscriptions
from citybot.jobs import ALERT, MERGE, PUSH, Claimed, Jobs, utcnow
from citybot.retry import Backoff
from hubapi.client import CaseNotFound, HubClient, HubError, Update

log = logging.getLogger("citybot.notifier")

KINDS = (jobs.PUSH, jobs.ALERT, jobs.MERGE)  # the jobs a notifier works on (filings are the action server's)
IDLE_HORIZON_S = 5.0  # run(until_idle=True) waits for jobs due this soon (a chat's spacing), not for back-offs
POLL_BACKOFF = Backoff(base=2.0, cap=30.0, give_up_after=None)  # the feed is polled again until it answers


def chat_ref(chat_id: str) -> str:
    """How a chat appears in logs: a short hash, not the id."""
    return "chat#" + hashlib.sha256(str(chat_id).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class NotifierConfig:
    poll_interval: float = 2.0
    batch: int = 200
    global_rate: float = 25.0  # per bot token: all replicas together
    replicas: int = 1  # notifiers sharing the token; each sends at global_rate / replicas
    chat_interval: float = 1.0
    group_interval: float = 3.0  # group chats (the staff chats): Telegram allows about 20 messages a minute
    concurrency: int = 32
    backoff: float = 2.0  # the retry policy (citybot/retry.py Backoff): first delay, cap, give-up time
    backoff_max: float = 300.0
    give_up_after: float | None = 48 * 3600.0
    lease: float = 30.0  # seconds a claimed job stays this notifier's without a renewal
    claim_interval: float = 0.2  # seconds between claims of due jobs when there was little to claim
    dead_alert_chat: str | None = None  # the staff chat told about dead jobs
    upload_media: bool = True
    subscribe_grace: float = 3.0
    timezone: str = "Asia/Shanghai"
    cursor: str = "telegram"

    def policy(self) -> Backoff:
        return Backoff(base=self.backoff, cap=self.backoff_max, give_up_after=self.give_up_after or None)

    @classmethod
    def from_settings(cls, settings, **overrides) -> NotifierConfig:
        kw = dict(poll_interval=settings.notifier_poll_interval_s, batch=settings.notifier_batch,
                  global_rate=settings.notifier_global_rate, replicas=settings.notifier_replicas,
                  chat_interval=settings.notifier_chat_interval_s, group_interval=settings.notifier_group_interval_s,
                  concurrency=settings.notifier_concurrency, backoff=settings.jobs_backoff_s,
                  backoff_max=settings.jobs_backoff_max_s, give_up_after=settings.jobs_give_up_after_s or None,
                  lease=settings.jobs_lease_s, upload_media=settings.notifier_upload_media,
                  subscribe_grace=settings.notifier_subscribe_grace_s, timezone=settings.timezone)
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


class FeedLeaseLost(Exception):
    """Another notifier took the feed over while this one was queuing a batch: the batch is rolled back."""


class Notifier:
    def __init__(self, *, bot: Bot | None = None, hub: HubClient, engine: Engine,
                 config: NotifierConfig | None = None,
                 clock: Callable[[], float] = time.monotonic, sink: Sink | None = None,
                 chats: Iterable[str] | None = None, extra_fanout: ExtraFanout | None = None,
                 owner: str | None = None):
        """`bot` (Telegram) or `sink` (anything else) receives the messages. `chats`: deliver only to these
        chat ids; other chats' messages stay pending for the notifier that serves them. `extra_fanout`: more
        recipients per batch beyond the subscribers (the staff alerts, bot/staff/alerts.py). `owner`: this
        notifier's lease owner id (default: host:pid:random)."""
        if bot is None and sink is None:
            raise ValueError("Notifier needs a bot or a sink")
        self.bot, self.hub, self.engine = bot, hub, engine
        self.sink: Sink = sink if sink is not None else TelegramSink(bot, self._media)
        self.chats = frozenset(map(str, chats)) if chats is not None else None
        self.extra_fanout = extra_fanout
        self.config = config or NotifierConfig()
        self.owner = owner or jobs.worker_id()
        self.jobs = Jobs(engine, lease_s=self.config.lease, policy=self.config.policy())
        self.tz = ZoneInfo(self.config.timezone)
        self.clock = clock
        self.schedule = SendSchedule(self.config.global_rate / self.config.replicas, self.config.chat_interval, clock,
                                     group_interval=self.config.group_interval)
        self._held: dict[int, Claimed] = {}  # claimed, not yet started
        self._heap: list[tuple[float, int, int]] = []  # (earliest start, seq, job id)
        self._seq = itertools.count()
        self._inflight: dict[int, asyncio.Task] = {}
        self._first_seen: dict[int, float] = {}  # update_id -> when this notifier first read it
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._until_idle = self._feed_done = self._idle = False
        self._sem = asyncio.Semaphore(self.config.concurrency)
        self.sent = 0  # messages delivered by this instance (for tests and benchmarks)

    @property
    def capacity(self) -> int:
        """How many claimed jobs this notifier holds at most (a few seconds of its rate, at least `concurrency`)."""
        return max(self.config.concurrency, int(4 * self.config.global_rate / self.config.replicas))

    # -- running -----------------------------------------------------------------------------------------------
    async def run(self, *, until_idle: bool = False) -> None:
        """Poll and send until stop() (or cancellation); in-flight sends always complete and are recorded.
        `until_idle`: read the feed up to its end, send every job that is due, then return."""
        self._stopping.clear()
        self._until_idle, self._feed_done, self._idle = until_idle, False, False
        poller = asyncio.create_task(self._poll_loop(), name="notifier-poll")
        sender = asyncio.create_task(self._send_loop(), name="notifier-send")
        claimer = asyncio.create_task(self._claim_loop(), name="notifier-claim")
        renewer = asyncio.create_task(self._renew_loop(), name="notifier-renew")
        loops = (poller, sender, claimer, renewer)
        try:
            if until_idle:
                await poller
                self._feed_done = True
                self._wake.set()
                await sender
                return
            await asyncio.wait(loops, return_when=asyncio.FIRST_COMPLETED)
            for t in loops:
                if t.done() and not t.cancelled() and t.exception():
                    raise t.exception()
        finally:
            self._stopping.set()  # the loops end even if a cancellation is lost in a race
            self._wake.set()
            for t in loops:
                t.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self._drain()
            await asyncio.shield(asyncio.to_thread(self._give_back))

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

    def _give_back(self) -> None:
        """Leases of the jobs not started and of the feed go back, so another notifier need not wait them out."""
        self._held.clear()
        self._heap.clear()
        try:
            self.jobs.release(self.owner)
            self.jobs.leave_feed(self.config.cursor, self.owner)
        except Exception:  # noqa: BLE001 - the database is away: the leases simply expire
            log.warning("could not give the leases back; they expire in %.0f s", self.config.lease)

    async def _renew_loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.lease / 3):
                    await self._stopping.wait()
            ids = [*self._held, *self._inflight]
            if ids:
                try:
                    await asyncio.to_thread(self.jobs.renew, self.owner, ids)
                except Exception:  # noqa: BLE001 - a database hiccup: the next round renews
                    log.exception("could not renew the job leases")

    # -- the hub side --------------------------------------------------------------------------------------------
    async def poll_once(self) -> int:
        """Queue the jobs of the next batch of hub updates, if this notifier holds the feed; returns how many
        updates were read."""
        if not await asyncio.to_thread(self.jobs.take_feed, self.config.cursor, self.owner):
            return 0  # another notifier reads the feed
        after = await asyncio.to_thread(self.jobs.cursor, self.config.cursor)
        updates = await self.hub.updates(after=after, limit=self.config.batch)
        updates = self._ripe(updates)
        if not updates:
            return 0
        merged_into, unread = await self._merge_targets(updates)
        extra = await self.extra_fanout(updates) if self.extra_fanout is not None else []
        new = await asyncio.to_thread(self._queue_batch, updates, merged_into, unread, extra)
        log.debug("read %d hub update(s) after %d: %d new job(s)", len(updates), after, new)
        self._wake.set()
        return len(updates)

    def _queue_batch(self, updates: list[Update], merged_into: dict[int, str], unread: set[int],
                     extra: list[tuple[Update, str, dict]] = ()) -> int:
        """One transaction: the batch's jobs and the cursor past it (run in a worker thread)."""
        with Session(self.engine) as s, s.begin():
            # the extra fan-out's jobs first: one job per (update, chat), so they win over a subscriber's
            rows = [_push(u, str(chat), payload, ALERT) for u, chat, payload in extra]
            for u in updates:
                payload = messages.render(u, self.tz)
                chats = subscriptions.subscribers(u.service_request_id, session=s, update_id=u.update_id)
                target = merged_into.get(u.update_id)
                if target:  # followers of a merged case now follow the case it was merged into
                    for chat in chats:
                        subscriptions.subscribe(chat, target, session=s)
                elif u.update_id in unread and chats:  # set aside: its own job finds the target later
                    rows.append(dict(kind=MERGE, key=f"merge:{u.update_id}", lane=f"merge:{u.service_request_id}",
                                     case_id=u.service_request_id, update_id=u.update_id,
                                     payload={"chats": chats}))
                if payload is not None:
                    rows += [_push(u, chat, payload, PUSH) for chat in chats]
            conn = s.connection()
            new = self.jobs.add(rows, conn=conn)
            if not self.jobs.advance(self.config.cursor, self.owner, updates[-1].update_id, conn=conn):
                raise FeedLeaseLost(self.config.cursor)
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

    async def _merge_targets(self, updates: list[Update]) -> tuple[dict[int, str], set[int]]:
        """{update_id: the case it was merged into}, and the merge updates whose case could not be read now."""
        out, unread = {}, set()
        for u in updates:
            if (u.event or u.state) == "duplicate":
                try:
                    req = await self.hub.get_request(u.service_request_id)
                except HubError as exc:
                    log.warning("could not read merged case %s (%s); following it up on its own",
                                u.service_request_id, exc)
                    unread.add(u.update_id)
                    continue
                if req.duplicate_of:
                    out[u.update_id] = req.duplicate_of
        return out, unread

    async def _poll_loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                n = await self.poll_once()
                failures = 0
            except (HubError, FeedLeaseLost) as exc:
                if self._until_idle and isinstance(exc, HubError):
                    raise
                failures += 1
                n = 0
                log.warning("hub updates feed unavailable (%s); retrying", exc)
            if n >= self.config.batch:
                continue  # a backlog: read on at once
            if self._until_idle and not failures and not self._first_seen:
                return  # caught up with the feed
            delay = self.config.poll_interval
            if failures:
                delay = max(delay, min(POLL_BACKOFF.delay(failures), self.config.lease / 3))
            elif self._first_seen:  # updates waiting out the grace: come back when they are ripe
                delay = min(delay, max(0.05, min(self._first_seen.values()) + self.config.subscribe_grace
                                       - self.clock()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()

    # -- the Telegram side ----------------------------------------------------------------------------------------
    async def _claim(self) -> list[Claimed]:
        got = await asyncio.to_thread(self.jobs.claim, self.owner, KINDS, self.capacity - len(self._held)
                                      - len(self._inflight), chats=self.chats)
        for job in got:
            if job.kind == MERGE:
                self._start(job, self._follow_merge)
                continue
            self._held[job.id] = job
            start = max(self.schedule.chat_ready_at(job.chat_id), 0.0)
            heapq.heappush(self._heap, (start, next(self._seq), job.id))
        return got

    def _start(self, job: Claimed, work: Callable[[Claimed], Awaitable[None]]) -> None:
        self._inflight[job.id] = asyncio.create_task(self._run_job(job, work), name=f"job-{job.id}")

    async def _claim_loop(self) -> None:
        """Top up the jobs this notifier holds, in its own task so that a slow claim never delays a send."""
        while not self._stopping.is_set():
            got = []
            if len(self._held) + len(self._inflight) < self.capacity:
                got = await self._claim()
                if got:
                    self._wake.set()
                elif self._until_idle and self._feed_done and not self._held and not self._inflight \
                        and not await asyncio.to_thread(self._due_soon):
                    self._idle = True  # run(until_idle=True): everything due is sent (back-offs wait for next run)
                    self._wake.set()
                    return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.02 if len(got) >= 8 else self.config.claim_interval):
                    await self._stopping.wait()

    async def _send_loop(self) -> None:
        while not self._stopping.is_set():
            now = self.clock()
            if self._idle and not self._heap and not self._inflight:
                return
            if not self._heap:
                await self._sleep(1.0)
                continue
            start, _, job_id = self._heap[0]
            job = self._held[job_id]
            ready = max(start, self.schedule.chat_ready_at(job.chat_id))
            if ready > start + 1e-6:  # the chat's pause grew since it was queued: requeue it in order
                heapq.heapreplace(self._heap, (ready, next(self._seq), job_id))
                continue
            cost = messages.cost(job.payload)
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
            del self._held[job_id]
            self.schedule.take(job.chat_id, cost, self.clock())
            self._start(job, self._send)

    def _due_soon(self) -> bool:
        due = self.jobs.next_due(KINDS, chats=self.chats)
        return due is not None and due <= utcnow() + dt.timedelta(seconds=IDLE_HORIZON_S)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):  # asyncio.timeout, unlike wait_for, never swallows a cancel
            async with asyncio.timeout(max(0.0, seconds)):
                await self._wake.wait()

    async def _run_job(self, job: Claimed, work: Callable[[Claimed], Awaitable[None]]) -> None:
        try:
            await work(job)
        except Exception:  # noqa: BLE001 - a database hiccup recording the outcome: the lease expires, retried
            log.exception("job %d: could not record its outcome", job.id)
        finally:
            self._inflight.pop(job.id, None)
            self._wake.set()

    async def _send(self, job: Claimed) -> None:
        chat = job.chat_id
        gap = self.schedule.interval(chat) * messages.cost(job.payload)
        try:
            try:
                await self._deliver(job)
            except TelegramRetryAfter as exc:
                log.warning("Telegram flood control: waiting %ss before resending to %s", exc.retry_after,
                            chat_ref(chat))
                self.schedule.pause(exc.retry_after, chat)
                at = utcnow() + dt.timedelta(seconds=exc.retry_after)
                await asyncio.to_thread(self.jobs.later, job.id, at, f"429 retry after {exc.retry_after}s")
                return
            except TelegramForbiddenError as exc:
                await asyncio.to_thread(self._blocked, chat, str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - a 400 is dead at once; everything else is retried
                permanent = isinstance(exc, TelegramBadRequest) and "chat not found" not in str(exc).lower()
                await asyncio.to_thread(self._failed, job, exc, permanent)
                return
            await asyncio.to_thread(self.jobs.done, job.id, lane=job.lane, lane_gap_s=gap)
            self.sent += 1
        finally:
            # the next message to this chat starts `chat_interval` after this call ENDED: the request surely
            # reached Telegram by then, so their clock sees the spacing whatever the network did
            self.schedule.hold_chat(chat, gap)
            self._sem.release()

    async def _follow_merge(self, job: Claimed) -> None:
        """A merged case set aside by the poller: its followers follow the case it was merged into."""
        try:
            req = await self.hub.get_request(job.case_id)
        except HubError as exc:
            await asyncio.to_thread(self._failed, job, exc, isinstance(exc, CaseNotFound))
            return
        if req.duplicate_of:
            def follow():
                with Session(self.engine) as s, s.begin():
                    for chat in job.payload.get("chats", []):
                        subscriptions.subscribe(chat, req.duplicate_of, session=s)
            await asyncio.to_thread(follow)
        await asyncio.to_thread(self.jobs.done, job.id, result=req.duplicate_of or "")

    def _blocked(self, chat: str, reason: str) -> None:
        with Session(self.engine) as s, s.begin():
            n = subscriptions.unsubscribe_chat(chat, session=s)
        dropped = self.jobs.drop_lane(jobs.chat_lane(chat), reason)
        log.warning("%s blocked the bot: %d subscription(s) ended, %d pending message(s) dropped",
                    chat_ref(chat), n, dropped)

    def _failed(self, job: Claimed, exc: Exception, permanent: bool) -> None:
        """Record a failed attempt by the retry policy; dead (and reported to staff) when it is final."""
        error = f"{type(exc).__name__}: {exc}"
        state = self.jobs.fail(job, error, permanent=permanent,
                               also_if_dead=jobs.dead_alerts(job, error, self.config.dead_alert_chat))
        if state == jobs.DEAD:
            log.error("job %d (%s to %s) is dead after %d attempt(s): %s", job.id, job.kind,
                      chat_ref(job.chat_id or ""), job.attempts + 1, error)
        else:
            log.warning("job %d (%s to %s) failed (%s), attempt %d; retried by the back-off policy", job.id,
                        job.kind, chat_ref(job.chat_id or ""), error, job.attempts + 1)

    async def _deliver(self, job: Claimed) -> None:
        p = job.payload
        photos, buttons = p.get("photos") or [], p.get("buttons") or []
        if photos:
            await self.sink.send_photos(job.chat_id, p["text"], photos, buttons)
        else:
            await self.sink.send_text(job.chat_id, p["text"], buttons)

    async def _media(self, url: str):
        if not self.config.upload_media:
            return url
        data = await self.hub.fetch_media(url)
        return BufferedInputFile(data, filename=PurePosixPath(urlparse(url).path).name or "photo.jpg")


def _push(u: Update, chat: str, payload: dict, kind: str) -> dict:
    return dict(kind=kind, key=f"push:{u.update_id}:{chat}", lane=jobs.chat_lane(chat), chat_id=chat,
                case_id=u.service_request_id, update_id=u.update_id, payload=payload,
                hub_time=_utc(u.updated_datetime))


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
