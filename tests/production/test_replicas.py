"""Production as compose runs it, as processes on loopback: two hubs behind a round-robin proxy on PostgreSQL, two
Rasa servers sharing the PostgreSQL tracker store and the Redis lock store of endpoints.docker.yml, two action
servers, the notifier(s), the Telegram bot (`citybot bot`) long polling the loopback Bot API server.

Citizens report concurrently through Telegram while one replica of each kind is SIGKILLed and restarted; then
staff move every case on (in progress, resolved) while the notifier is killed and restarted. Judged at the Bot
API server and the hub: every report filed exactly once, every message answered (a reply may be late, never
"send it again"), every progress push delivered exactly once.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass, field

import pytest

from tests.bot.citizen_harness import keyboard
from tests.tgserver import BotAPIServer

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.rasa, pytest.mark.slow, pytest.mark.timeout(1200)]

NOTIFIERS = 2  # they share the job queue (citybot/jobs.py); one of them is killed mid fan-out
CITIZENS = 16
REPORTS = 2  # per citizen: the first while replicas die, the second on the restored topology
REPLY_TIMEOUT = 150  # s: a turn caught by a killed Rasa waits for its conversation lock to expire (60 s)
REDIS_DB = 13
ROADS = ("人民", "解放", "建设", "中山", "和平", "胜利", "文化", "新华", "东风", "青年", "朝阳", "光明", "幸福", "红旗",
         "长江", "黄河", "滨海", "北京", "南京", "上海", "湖滨", "花园", "工业", "学府", "体育", "公园", "环城", "迎宾",
         "友谊", "团结", "振兴", "繁荣")
CASE_ID = re.compile(r"案件编号[：:]\s*(\d{8,})")
BUSY_MARK = "没有处理成功"  # bot.citizen.BUSY: the citizen is asked to send the message again


@dataclass
class Citizen:
    chat: int
    cases: list[str] = field(default_factory=list)
    sent: int = 0  # messages and button presses
    busy: int = 0  # answered "send it again": the message was lost
    unanswered: int = 0  # no reply within REPLY_TIMEOUT


def bot_texts(tg: BotAPIServer, chat: int) -> list[str]:
    return [r.payload.get("text") or r.payload.get("caption") or "" for r in tg.sent(chat_id=chat)]


async def turn(tg: BotAPIServer, citizen: Citizen, send, *expect: str) -> str:
    """Send (a text or a press), wait for the reply that contains one of `expect`; on "send it again" or silence
    the citizen sends it again (counted as a lost message)."""
    for _ in range(3):
        before = len(tg.sent(chat_id=citizen.chat))
        send()
        citizen.sent += 1
        deadline = time.monotonic() + REPLY_TIMEOUT
        while time.monotonic() < deadline:
            new = bot_texts(tg, citizen.chat)[before:]
            if any(BUSY_MARK in t for t in new):
                citizen.busy += 1
                break
            hit = next((t for t in new if any(e in t for e in expect)), None)
            if hit is not None:
                await asyncio.sleep(0.3)  # the rest of the turn's replies
                return hit
            await asyncio.sleep(0.1)
        else:
            citizen.unanswered += 1
    raise AssertionError(f"chat {citizen.chat}: no {expect!r} after 3 tries:\n" + "\n".join(bot_texts(tg, citizen.chat)))


async def report(tg: BotAPIServer, citizen: Citizen, road: str, number: int) -> None:
    """Problem and place in one message (the place again if asked) -> the summary -> press 确认 -> the case
    number."""
    place = f"{road}路{number}号门口"
    said = await turn(tg, citizen, lambda: tg.add_text(citizen.chat, f"{place}的井盖不见了"), "确认提交", "在哪里")
    if "确认提交" not in said:
        await turn(tg, citizen, lambda: tg.add_text(citizen.chat, place), "确认提交")
    record = next(r for r in reversed(tg.sent(chat_id=citizen.chat)) if "确认提交" in (r.payload.get("text") or ""))
    data = next(d for title, d in keyboard(record) if "确认" in title)
    filed = await turn(tg, citizen, lambda: tg.add_callback(citizen.chat, data), "案件编号")
    citizen.cases.append(CASE_ID.search(filed).group(1))


async def chaos(topo, kinds: tuple[str, ...], restarted: asyncio.Event, log: list[str], t0: float) -> None:
    """SIGKILL replica 0 of each kind in turn while the citizens talk; restart each at once (Rasa in the
    background: it takes a minute); `restarted` is set when every one is back and healthy."""
    waits = []
    for kind in kinds:
        await asyncio.sleep(2.0)
        replica = topo.replicas[kind][0]
        replica.kill()
        log.append(f"{time.monotonic() - t0:6.1f}s killed {replica.name}")
        waits.append(asyncio.create_task(asyncio.to_thread(replica.restart)))
    for kind, task in zip(kinds, waits):
        await task
        log.append(f"{time.monotonic() - t0:6.1f}s {kind}0 back")
    restarted.set()


@pytest.fixture
def pg_url(production_ready):
    from tests.pgschema import fresh_schema

    with fresh_schema("prod") as url:
        yield url


async def test_replicas_killed_mid_run_lose_and_double_nothing(pg_url, tmp_path):
    from citybot.settings import DEV_API_KEY, DEV_STAFF_TOKEN
    from citybot.stack import find_model
    from hubapi.client import HubClient
    from tests.production.topology import Topology

    t0 = time.monotonic()
    schema = pg_url.rsplit("%3D", 1)[1]
    events: list[str] = []
    async with BotAPIServer() as tg:
        topo = Topology(tmp_path, model=find_model(), db_url=pg_url, pg_schema=schema, redis_db=REDIS_DB,
                        notifiers=NOTIFIERS)
        try:
            await asyncio.to_thread(topo.start)
            events.append(f"{time.monotonic() - t0:6.1f}s back end up")
            topo.start_front(token=tg.token, api_base=tg.base_url, NOTIFIER_POLL_INTERVAL_S="0.5",
                             NOTIFIER_SUBSCRIBE_GRACE_S="1")
            deadline = time.monotonic() + 60
            while not any(r.method == "getUpdates" for r in tg.requests):
                assert time.monotonic() < deadline, topo.replicas["bot"][0].tail()
                await asyncio.sleep(0.2)

            base = 7_000_000 + uuid.uuid4().int % 1_000_000 * 100
            citizens = [Citizen(base + i) for i in range(CITIZENS)]
            restarted = asyncio.Event()

            async def citizen_run(i: int, c: Citizen) -> None:
                await report(tg, c, ROADS[i], 10 + i)
                await restarted.wait()
                await report(tg, c, ROADS[CITIZENS + i], 50 + i)

            run_start = time.monotonic()
            await asyncio.gather(chaos(topo, ("hub", "actions", "rasa"), restarted, events, t0),
                                 *(citizen_run(i, c) for i, c in enumerate(citizens)))
            events.append(f"{time.monotonic() - t0:6.1f}s all reports filed ({time.monotonic() - run_start:.0f}s)")

            # staff move every case on while the notifier is killed mid fan-out and restarted
            cases = {case: c for c in citizens for case in c.cases}
            async with HubClient(topo.hub_lb.url, api_key=DEV_API_KEY, staff_token=DEV_STAFF_TOKEN) as staff:
                await asyncio.gather(*(staff.set_status(case, "in_progress", note="已到场") for case in cases))

                def pushed(mark: str) -> int:
                    return sum(1 for c in citizens for t in bot_texts(tg, c.chat) if mark in t)

                deadline = time.monotonic() + 60
                while pushed("正在处置中") < 3:
                    assert time.monotonic() < deadline, topo.replicas["notifier"][0].tail()
                    await asyncio.sleep(0.05)
                notifier = topo.replicas["notifier"][0]
                await asyncio.sleep(0.2)  # mid fan-out, not in step with one send
                notifier.kill()
                killed_at = time.monotonic()  # the clock of the Bot API server's records
                events.append(f"{time.monotonic() - t0:6.1f}s killed notifier0 after {pushed('正在处置中')} pushes")
                await asyncio.gather(*(staff.resolve(case, note="已更换新井盖") for case in cases))
                await asyncio.sleep(1.0)
                notifier.start()
                events.append(f"{time.monotonic() - t0:6.1f}s notifier0 restarted")

                deadline = time.monotonic() + 180
                while pushed("正在处置中") < len(cases) or pushed("已处理完毕") < len(cases):
                    if time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.2)
                await asyncio.sleep(3.0)  # a doubled push would come now
                filed = {c.chat: [r.service_request_id for r in await staff.list_requests(account_id=f"tg:{c.chat}")]
                         for c in citizens}
        finally:
            await asyncio.to_thread(topo.stop)

    # judged at the hub and at the Bot API server
    # each push as the Bot API server recorded it: (case, mark) -> the times it arrived
    arrivals = {(case, mark): [r.at for r in tg.sent(chat_id=c.chat)
                               if mark in (r.payload.get("text") or r.payload.get("caption") or "") and case in
                               (r.payload.get("text") or r.payload.get("caption") or "")]
                for case, c in cases.items() for mark in ("正在处置中", "已处理完毕")}
    # A push Telegram took just before the SIGKILL, whose "sent" the notifier had not yet written, goes again after
    # the restart: the Bot API has no idempotency key, so no design closes that window (at-least-once). Such a
    # double is counted apart, and allowed only for one message per chat in flight at the kill; any other is a bug.
    in_flight = {k for k, at in arrivals.items() if len(at) == 2 and at[0] < killed_at < at[1]}
    figures = {
        "citizens": CITIZENS, "reports": len(cases), "messages": sum(c.sent for c in citizens),
        "lost_messages": sum(c.busy + c.unanswered for c in citizens),
        "filed_twice": sum(max(0, len(ids) - REPORTS) for ids in filed.values()),
        "not_filed": sum(max(0, REPORTS - len(ids)) for ids in filed.values()),
        "pushes": len(arrivals), "pushes_lost": sum(not at for at in arrivals.values()),
        "pushes_doubled": sum(len(at) > 1 for k, at in arrivals.items() if k not in in_flight),
        "pushes_doubled_in_flight_at_kill": len(in_flight),
        "notifiers": NOTIFIERS, "seconds": round(time.monotonic() - t0, 1),
    }
    print("\n".join(events))
    print(json.dumps(figures))
    for c in citizens:
        assert sorted(filed[c.chat]) == sorted(c.cases), (c.chat, filed[c.chat], c.cases)  # each report once
    assert figures["lost_messages"] == 0, [(c.chat, c.busy, c.unanswered) for c in citizens if c.busy or c.unanswered]
    assert figures["pushes_lost"] == 0 and figures["pushes_doubled"] == 0, arrivals
    assert len({cases[case].chat for case, _ in in_flight}) == len(in_flight), in_flight  # one per chat at most
    assert all(r.starts == 2 for kind in ("hub", "actions", "rasa", "notifier") for r in topo.replicas[kind][:1])
