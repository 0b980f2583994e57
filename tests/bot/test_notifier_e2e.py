"""The notifier end to end: the real hub (uvicorn, loopback) -> notifier -> the loopback Bot API server."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from sqlmodel import Session

from bot.notifier import chat_ref
from citybot import subscriptions
from citybot.jobs import Jobs
import pytest

from tests.bot.conftest import BOTH_DATABASES, file_case, image_bytes, until

CHAT, OTHER = 1001, 1002


def texts(tg, chat_id=None) -> list[str]:
    out = []
    for r in tg.sent(chat_id=chat_id):
        if r.method == "sendMediaGroup":
            out.append(r.payload["media"][0].get("caption", ""))
        else:
            out.append(r.payload.get("text") or r.payload.get("caption") or "")
    return out


async def test_a_staff_change_produces_exactly_one_progress_message(tg, hub, notifiers, follow):
    case = await file_case(hub)
    follow(CHAT, case)
    n = notifiers.make()
    notifiers.start(n)
    await until(lambda: len(tg.sent()) == 2)  # received + auto-dispatch
    first, second = texts(tg, CHAT)
    assert case in first and "受理" in first
    assert "已派遣至区环境卫生管理所" in second and "前处理" in second

    await hub.set_status(case, "in_progress", note="已安排保洁员")
    await until(lambda: len(tg.sent()) == 3)
    await asyncio.sleep(0.5)  # several more polls: nothing else may arrive
    sent = tg.sent()
    assert len(sent) == 3
    assert sent[-1].method == "sendMessage" and sent[-1].chat_id == str(CHAT)
    assert "处置中" in sent[-1].payload["text"] and "已安排保洁员" in sent[-1].payload["text"]
    assert tg.sent(chat_id=OTHER) == []  # a chat that follows nothing hears nothing


async def test_resolved_case_delivers_result_photos_then_closed_asks_for_a_rating(tg, hub, notifiers, follow):
    case = await file_case(hub)
    follow(CHAT, case)
    photos = [image_bytes((200, 0, 0)), image_bytes((0, 200, 0))]
    urls = [await hub.upload_media(p, "after.jpg", "image/jpeg") for p in photos]
    notifiers.start(notifiers.make())
    await until(lambda: len(tg.sent()) == 2)

    await hub.resolve(case, note="垃圾已清运", media_urls=urls)
    await until(lambda: tg.sent("sendMediaGroup"))
    album = tg.sent("sendMediaGroup")[0]
    assert album.chat_id == str(CHAT)
    media = album.payload["media"]
    assert [m["type"] for m in media] == ["photo", "photo"]
    assert "已处理完毕" in media[0]["caption"] and "垃圾已清运" in media[0]["caption"]
    assert sorted(album.files.values()) == sorted(photos)  # the hub's photos themselves, uploaded

    await hub.close(case)
    await until(lambda: len(tg.sent()) == 4)
    closing = tg.sent()[-1]
    assert "结案" in closing.payload["text"]
    buttons = closing.payload["reply_markup"]["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == [f"rate:{case}:{n}" for n in range(1, 6)]


async def test_a_single_result_photo_goes_as_one_photo_with_a_caption(tg, hub, notifiers, follow):
    case = await file_case(hub)
    follow(CHAT, case)
    url = await hub.upload_media(image_bytes(), "after.jpg", "image/jpeg")
    await hub.resolve(case, note="已修复", media_urls=[url])
    notifiers.start(notifiers.make())
    await until(lambda: tg.sent("sendPhoto"))
    photo = tg.sent("sendPhoto")[0]
    assert "已修复" in photo.payload["caption"] and list(photo.files.values()) == [image_bytes()]
    assert not tg.sent("sendMediaGroup")


async def test_photos_under_the_hubs_public_url_are_fetched_through_the_internal_one(tg, hub, hub_url, notifiers,
                                                                                     follow):
    case = await file_case(hub)
    follow(CHAT, case)
    url = await hub.upload_media(image_bytes(), "after.jpg", "image/jpeg")
    public = "http://hub.city.example"  # what citizens' links say; not reachable from here
    await hub.resolve(case, note="已修复", media_urls=[url.replace(hub_url, public)])
    hub.public_url = public  # as HubClient.from_settings sets it from HUB_PUBLIC_URL
    notifiers.start(notifiers.make())
    await until(lambda: tg.sent("sendPhoto"))
    assert list(tg.sent("sendPhoto")[0].files.values()) == [image_bytes()]


async def test_429_delays_the_message_but_delivers_it_once(tg, hub, notifiers, follow):
    case = await file_case(hub)
    follow(CHAT, case)
    tg.fail_next(2, retry_after=1)
    notifiers.start(notifiers.make())
    await until(lambda: len(tg.sent()) == 2)
    calls = [r for r in tg.requests if r.method == "sendMessage"]
    assert [r.status for r in calls][:3] == [429, 429, 200]
    # each resend waited the retry_after Telegram asked for (tolerance for timer granularity)
    assert calls[1].at - calls[0].at >= 0.9 and calls[2].at - calls[1].at >= 0.9
    assert Counter(texts(tg)).most_common(1)[0][1] == 1


@pytest.mark.parametrize("engine", BOTH_DATABASES, indirect=True)
async def test_a_restart_in_the_middle_of_a_backlog_sends_each_message_exactly_once(tg, hub, notifiers, follow,
                                                                                       engine):
    chats = list(range(2001, 2016))
    for i, chat in enumerate(chats):
        follow(chat, await file_case(hub, i=i))  # 15 chats x (received + dispatched) = 30 messages
    first = notifiers.make(global_rate=10.0)
    task = notifiers.start(first)
    await until(lambda: len(tg.sent()) >= 8)
    task.cancel()  # as a SIGTERM would; the calls in flight finish and are recorded
    try:
        await task
    except asyncio.CancelledError:
        pass
    sent_before = len(tg.sent())
    assert 8 <= sent_before < 30
    assert Jobs(engine).counts()["sent"] == sent_before

    second = notifiers.make(global_rate=10.0)
    notifiers.start(second)
    await until(lambda: Jobs(engine).counts().get("pending", 0) == 0 and len(tg.sent()) >= 30)
    await asyncio.sleep(0.3)
    pairs = Counter((r.chat_id, r.payload["text"]) for r in tg.sent())
    assert len(tg.sent()) == 30 and set(pairs.values()) == {1}
    assert {r.chat_id for r in tg.sent()} == {str(c) for c in chats}
    assert second.sent == 30 - sent_before


async def test_a_stopped_notifier_resumes_from_its_cursor_without_repeats(tg, hub, notifiers, follow, engine):
    case = await file_case(hub)
    follow(CHAT, case)
    first = notifiers.make(lease=1.0)
    assert await first.poll_once() == 2  # queued, not sent: the process "dies" here
    assert await first.poll_once() == 0  # the cursor moved with the queued rows
    second = notifiers.make()  # reads the feed once the dead one's lease has run out
    notifiers.start(second)
    await until(lambda: len(tg.sent()) == 2)
    await hub.set_status(case, "in_progress")
    await until(lambda: len(tg.sent()) == 3)
    await asyncio.sleep(0.3)
    assert len(tg.sent()) == 3


@pytest.mark.parametrize("engine", BOTH_DATABASES, indirect=True)
async def test_a_blocked_chat_is_unsubscribed_and_its_messages_dropped(tg, hub, notifiers, follow, engine, caplog):
    case = await file_case(hub)
    follow(CHAT, case)
    follow(OTHER, case)
    tg.block(CHAT)
    caplog.set_level(logging.WARNING, logger="citybot.notifier")
    notifiers.start(notifiers.make())
    await until(lambda: len(tg.sent(chat_id=OTHER)) == 2)
    await until(lambda: Jobs(engine).counts().get("pending", 0) == 0)
    with Session(engine) as s:
        assert subscriptions.subscribers(case, session=s) == [str(OTHER)]
        assert subscriptions.cases_of(CHAT, session=s) == []
    assert Jobs(engine).counts() == {"sent": 2, "dropped": 2}  # both of its messages
    blocked_calls = [r for r in tg.requests if r.chat_id == str(CHAT)]
    assert len(blocked_calls) == 1 and blocked_calls[0].status == 403

    await hub.set_status(case, "in_progress")
    await until(lambda: len(tg.sent(chat_id=OTHER)) == 3)
    assert len([r for r in tg.requests if r.chat_id == str(CHAT)]) == 1  # never asked again
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert chat_ref(str(CHAT)) in logged and str(CHAT) not in logged


async def test_per_chat_and_global_rate_limits_hold(tg, hub, notifiers, follow):
    # one chat follows 3 cases (6 messages), 20 other chats follow one case each (40 messages)
    cases = [await file_case(hub, i=i) for i in range(23)]
    busy = 3001
    for case in cases[:3]:
        follow(busy, case)
    for i, case in enumerate(cases[3:]):
        follow(4000 + i, case)
    rate, interval = 20.0, 0.5
    notifiers.start(notifiers.make(global_rate=rate, chat_interval=interval))
    await until(lambda: len(tg.sent()) == 46, timeout=30)

    times = sorted(r.at for r in tg.sent())
    # global: no one-second window holds more than `rate` messages (+1 for arrival jitter)
    worst = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert worst <= rate + 1, worst
    assert times[-1] - times[0] >= (len(times) - 1) / rate * 0.8
    # per chat: starts at least `interval` apart, in the order the hub produced them
    busy_times = [r.at for r in tg.sent(chat_id=busy)]
    assert len(busy_times) == 6
    gaps = [b - a for a, b in zip(busy_times, busy_times[1:])]
    assert min(gaps) >= interval * 0.8, gaps
    busy_texts = texts(tg, busy)
    for case in cases[:3]:
        mine = [i for i, t in enumerate(busy_texts) if case in t]
        assert "受理" in busy_texts[mine[0]] and "派遣" in busy_texts[mine[1]]


@pytest.mark.parametrize("engine", BOTH_DATABASES, indirect=True)
async def test_5xx_is_retried_by_the_policy_and_a_400_is_dead_reported_and_resent(tg, hub, notifiers, follow, engine,
                                                                                 capsys):
    case = await file_case(hub)
    follow(CHAT, case)
    tg.error_next(3, 500, "Internal Server Error")  # never permanent: retried, the chat keeps its order
    notifiers.start(notifiers.make(backoff=0.1, dead_alert_chat="-100"))
    await until(lambda: len(tg.sent(chat_id=CHAT)) == 2)
    first, second = texts(tg, CHAT)
    assert "受理" in first and "派遣" in second
    assert [r.status for r in tg.requests if r.chat_id == str(CHAT)][:4] == [500, 500, 500, 200]

    tg.error_next(1, 400, "Bad Request: message text is empty")  # permanent: dead at once, staff told once
    await hub.set_status(case, "in_progress")
    await until(lambda: Jobs(engine).counts().get("dead") == 1)
    [dead] = Jobs(engine).dead_jobs()
    assert dead.attempts == 1 and "message text is empty" in dead.last_error
    await until(lambda: tg.sent(chat_id=-100))
    assert f"#{dead.id}" in tg.sent(chat_id=-100)[0].payload["text"]

    from citybot.cli import main

    assert main(["notifier", "--dead", "--database-url", str(engine.url)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and f'"case_id": "{case}"' in out[0]
    assert main(["notifier", "--resend", str(dead.id), "--database-url", str(engine.url)]) == 0
    await until(lambda: len(tg.sent(chat_id=CHAT)) == 3)
    assert "处置中" in texts(tg, CHAT)[-1]
    await asyncio.sleep(0.3)
    assert len(tg.sent(chat_id=-100)) == 1 and len(tg.sent(chat_id=CHAT)) == 3


async def test_overdue_says_the_time_limit_and_supervision(tg, hub, notifiers, follow, clock):
    case = await file_case(hub)
    follow(CHAT, case)
    notifiers.start(notifiers.make())
    await until(lambda: len(tg.sent()) == 2)
    clock.advance(days=5)
    assert case in await hub.sweep_overdue()
    await until(lambda: len(tg.sent()) == 3)
    text = tg.sent()[-1].payload["text"]
    assert "超过处置时限" in text and "前处理完毕" in text and "督办" in text


async def test_followers_of_a_merged_case_follow_the_case_it_was_merged_into(tg, hub, notifiers, follow, engine):
    kept, merged = await file_case(hub, i=0), await file_case(hub, i=1)
    follow(CHAT, merged)
    await hub.merge(merged, kept)
    notifiers.start(notifiers.make())
    await until(lambda: len(tg.sent()) == 3)
    assert "合并" in texts(tg)[-1]
    with Session(engine) as s:
        assert subscriptions.subscribers(kept, session=s) == [str(CHAT)]
    await hub.set_status(kept, "in_progress")
    await until(lambda: len(tg.sent()) == 4)
    assert kept in texts(tg)[-1]


async def test_the_filer_hears_every_step_though_it_subscribes_after_the_hub_answered(tg, hub, notifiers, follow):
    notifiers.start(notifiers.make(subscribe_grace=1.5))
    case = await file_case(hub)  # the hub writes received + dispatched at once
    await asyncio.sleep(0.5)  # the notifier has read them by now; the dialogue action subscribes only now
    follow(CHAT, case)
    await until(lambda: len(tg.sent()) == 2)
    assert "受理" in texts(tg)[0] and "派遣" in texts(tg)[1]


async def test_citybot_notifier_once_sends_everything_and_exits(tg, hub, hub_url, engine, follow, monkeypatch,
                                                                 capsys):
    import json

    from citybot.cli import main
    from citybot.settings import get_settings
    from tests.bot.conftest import API_KEY

    case = await file_case(hub)
    follow(CHAT, case)
    for key, value in {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_BASE": tg.base_url, "HUB_URL": hub_url,
                       "HUB_API_KEY": API_KEY, "NOTIFIER_CHAT_INTERVAL_S": "0.2"}.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        args = ["notifier", "--once", "--database-url", str(engine.url)]
        assert await asyncio.to_thread(main, args) == 0
        assert len(tg.sent(chat_id=CHAT)) == 2
        assert await asyncio.to_thread(main, args) == 0  # nothing new: nothing sent again
        assert len(tg.sent(chat_id=CHAT)) == 2
        lines = capsys.readouterr().out.strip().splitlines()
        assert [json.loads(x)["sent_now"] for x in lines] == [2, 0]
        monkeypatch.setenv("HUB_URL", "http://127.0.0.1:9")  # the hub is down: a clear error, exit 75
        monkeypatch.setenv("HUB_RETRIES", "0")
        get_settings.cache_clear()
        assert await asyncio.to_thread(main, args) == 75
    finally:
        get_settings.cache_clear()


async def test_one_unreadable_merged_case_is_set_aside_and_the_feed_moves_on(tg, hub, hub_url, bots, engine, follow):
    """The hub answers 403 reading one merged case (e.g. escalated above the notifier's token): its followers'
    move to the kept case becomes a job of its own, retried until the hub answers; everyone else hears on."""
    from aiohttp import ClientSession, web

    from bot.notifier import Notifier, NotifierConfig
    from hubapi.client import HubClient
    from tests.bot.conftest import API_KEY, STAFF_TOKEN

    kept, merged = await file_case(hub, i=0), await file_case(hub, i=1)
    follow(CHAT, merged)
    follow(OTHER, kept)
    refused = {f"/open311/v2/requests/{merged}.json"}

    async def forward(request: web.Request) -> web.Response:  # a loopback proxy in front of the hub
        if request.path in refused:
            return web.json_response([{"code": 403, "description": "forbidden"}], status=403)
        async with ClientSession() as http:
            async with http.request(request.method, hub_url + request.path_qs, headers=request.headers,
                                    data=await request.read()) as resp:
                return web.Response(status=resp.status, body=await resp.read(),
                                    content_type=resp.content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    proxy = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    try:
        await hub.merge(merged, kept)
        async with HubClient(proxy, api_key=API_KEY, staff_token=STAFF_TOKEN, retries=0) as via_proxy:
            n = Notifier(bot=bots(), hub=via_proxy, engine=engine,
                         config=NotifierConfig(poll_interval=0.05, chat_interval=0.1, backoff=0.2, backoff_max=0.5,
                                               subscribe_grace=0.0))
            task = asyncio.create_task(n.run())
            try:
                await until(lambda: len(tg.sent(chat_id=CHAT)) == 3)  # received, dispatched, merged
                await hub.set_status(kept, "in_progress", note="已安排")
                await until(lambda: any("处置中" in t for t in texts(tg, OTHER)))  # the feed moved on
                assert Jobs(engine).find(kinds=["merge"], states=["pending"])  # set aside, retried on its own
                assert not any("处置中" in t for t in texts(tg, CHAT))
                refused.clear()  # the hub answers again: the followers of the merged case follow the kept one
                await until(lambda: Jobs(engine).counts(["merge"]) == {"sent": 1})
                with Session(engine) as s:
                    assert str(CHAT) in subscriptions.subscribers(kept, session=s)
                await hub.resolve(kept, note="二次处置完毕")
                await until(lambda: any("二次处置完毕" in t for t in texts(tg, CHAT)))
            finally:
                await n.stop()
                await task
    finally:
        await runner.cleanup()
