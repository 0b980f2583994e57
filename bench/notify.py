"""Benchmark the notifier: hub updates fanned out to Telegram chats within Telegram's limits.

The real hub runs in a child process (uvicorn, temp SQLite, loopback port); the loopback Bot API server
(tests/tgserver) and the notifier run here. While the notifier runs, N cases are filed (one chat follows each)
and each goes received, dispatched (auto), in_progress, escalated, resolved: 5 updates -> 5 messages
per chat. Default N=1000 (5,000 messages, ~200 s at 25/s); --quick N=100.

`--notifiers 2` runs two notifiers on the same job queue and bot token (NOTIFIER_REPLICAS=2: each sends at half
the rate), as two replicas would: they share the work through leased claims and the rate through the split.

Prints ONE JSON line: messages/s sustained (target >= 24, the cap is 25), lost and duplicated (target 0), the
busiest one-second window as the notifier started the calls (<= 25) and as the server saw them arrive (loop and
network jitter can add one or two; Telegram's own limit is about 30), the smallest gap between two messages to
one chat (>= 1 s), and the delay from hub update to send (p50/p95). Updates arrive in a burst far faster
than 25/s, so the delay is mostly the wait in the queue behind the rate cap (about N*5/25 s for the last one),
plus the subscription grace.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from hubserver import start_hub

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hubapi.models import Filing  # noqa: E402
from tests.tgserver import BotAPIServer  # noqa: E402

API_KEY, STAFF = "citybot-dev-key", "citybot-dev-staff"


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


def _utc(t):
    import datetime as dt

    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t


def busiest_second(times: list[float]) -> int:
    """The most events in any one-second window (times sorted)."""
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


async def produce(hub, engine, n_chats: int, concurrency: int = 8) -> float:
    """File n cases (chat 10_000+i follows case i), then move each through three staff steps."""
    from sqlmodel import Session

    from citybot.subscriptions import subscribe

    t0 = time.perf_counter()
    cases: list[str | None] = [None] * n_chats
    sem = asyncio.Semaphore(concurrency)

    async def file(i: int) -> None:
        async with sem:
            created = await hub.create_request(Filing("SRHJ-01", f"bench 小区门口垃圾成堆 {i}", lat=22.0 + (i // 100) * 0.01,
                                                      long=113.0 + (i % 100) * 0.01, account_id=f"tg:{10_000 + i}",
                                                      channel="chat", external_id=f"bench-{i}"))
            cases[i] = created.service_request_id

            def follow() -> None:  # as the dialogue action does right after filing (off the event loop)
                with Session(engine) as s, s.begin():
                    subscribe(10_000 + i, created.service_request_id, session=s)

            await asyncio.to_thread(follow)

    await asyncio.gather(*(file(i) for i in range(n_chats)))

    async def step(fn) -> None:
        async def one(case: str) -> None:
            async with sem:
                await fn(case)
        await asyncio.gather(*(one(c) for c in cases))

    await step(lambda c: hub.set_status(c, "in_progress", note="已安排人员"))
    await step(lambda c: hub.escalate(c, reason="群众反映强烈"))
    await step(lambda c: hub.resolve(c, note="已清理完毕"))
    return time.perf_counter() - t0


async def bench(n_chats: int, latency: float, stall_s: float, replicas: int = 1) -> dict:
    from bot.notifier import Notifier, NotifierConfig, make_bot
    from citybot.db import create_tables, make_engine
    from citybot.jobs import Job, Jobs
    from citybot.settings import Settings
    from hubapi.client import HubClient

    settings = Settings(_env_file=None)
    expected = n_chats * 5
    with tempfile.TemporaryDirectory() as workdir:
        proc, hub_url = start_hub(workdir, HUB_API_KEYS=API_KEY, HUB_STAFF_TOKENS=f"{STAFF}:admin:市:")
        engine = make_engine(f"sqlite:///{workdir}/citybot.db")
        create_tables(engine)
        try:
            async with BotAPIServer(latency=latency) as tg, \
                    HubClient(hub_url, api_key=API_KEY, staff_token=STAFF) as hub, \
                    HubClient(hub_url, api_key=API_KEY, staff_token=STAFF) as feed:
                bot = make_bot(tg.token, tg.base_url)
                config = NotifierConfig.from_settings(settings, batch=1000, replicas=replicas)
                notifiers = [Notifier(bot=bot, hub=feed, engine=engine, config=config) for _ in range(replicas)]
                starts: list[float] = []  # when the notifiers started each call (the schedules' view)

                def recorded(take):
                    def recorded_take(chat_id, cost=1, at=None):
                        t = take(chat_id, cost, at)
                        starts.extend([t] * cost)
                        return t
                    return recorded_take

                for notifier in notifiers:
                    notifier.schedule.take = recorded(notifier.schedule.take)
                tasks = [asyncio.create_task(n.run()) for n in notifiers]
                feed_s = await produce(hub, engine, n_chats)
                print(f"bench/notify: {expected} updates produced in {feed_s:.1f}s; sending at "
                      f"{config.global_rate}/s…", file=sys.stderr)
                last, last_change = -1, time.monotonic()
                while True:
                    n = len(tg.sent())
                    if n >= expected or time.monotonic() - last_change > stall_s:
                        break
                    if n != last:
                        last, last_change = n, time.monotonic()
                    await asyncio.sleep(0.5)
                await asyncio.sleep(2.0)  # anything extra (a duplicate) would show up now
                for n in notifiers:
                    await n.stop()
                await asyncio.gather(*tasks)
                await bot.session.close()
                sends = tg.sent()
                counts = Jobs(engine).counts()
                per_notifier = [n.sent for n in notifiers]
                starts = list(starts)
        finally:
            proc.terminate()
            proc.wait(10)
        from sqlmodel import Session, select

        with Session(engine) as s:
            rows = s.exec(select(Job).where(Job.state == "sent")).all()
            delays = [(_utc(r.done_at) - _utc(r.hub_time)).total_seconds() for r in rows if r.done_at and r.hub_time]
        engine.dispose()

    pairs = Counter((r.chat_id, r.payload.get("text")) for r in sends)
    times = sorted(r.at for r in sends)
    window = busiest_second(times)
    starts.sort()
    by_chat: dict[str, list[float]] = {}
    for r in sends:
        by_chat.setdefault(r.chat_id, []).append(r.at)
    gaps = [b - a for ts in by_chat.values() for a, b in zip(sorted(ts), sorted(ts)[1:])]
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return {
        "bench": "notify", "notifiers": replicas, "sent_per_notifier": per_notifier, "chats": n_chats, "updates": expected, "messages_sent": len(sends),
        "messages_per_s": round((len(times) - 1) / span, 2) if span else None,
        "rate_cap_per_s": settings.notifier_global_rate, "target_per_s": round(0.96 * settings.notifier_global_rate, 1),
        "lost": expected - len(pairs), "duplicated": sum(c - 1 for c in pairs.values()),
        "busiest_1s_window_at_start": busiest_second(starts), "busiest_1s_window_at_server": window,
        "min_gap_same_chat_s": round(min(gaps), 3) if gaps else None,
        "delay_p50_s": pct(delays, 0.5), "delay_p95_s": pct(delays, 0.95),
        "delay_mean_s": round(statistics.fmean(delays), 3) if delays else None,
        "feed_burst_s": round(feed_s, 1), "subscribe_grace_s": settings.notifier_subscribe_grace_s,
        "bot_api_latency_s": latency, "jobs": counts,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="100 chats / 500 messages instead of 1000 / 5000")
    p.add_argument("--chats", type=int, help="chats (= cases); 5 messages each")
    p.add_argument("--latency", type=float, default=0.05, help="seconds each Bot API send takes (default 0.05)")
    p.add_argument("--notifiers", type=int, default=1, help="notifiers sharing the queue and the rate (default 1)")
    p.add_argument("--stall", type=float, default=60.0, help="give up after this long without a new message")
    args = p.parse_args()
    n = args.chats or (100 if args.quick else 1000)
    result = asyncio.run(bench(n, args.latency, args.stall, args.notifiers))
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["lost"] == 0 and result["duplicated"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
