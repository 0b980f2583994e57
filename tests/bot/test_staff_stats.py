"""/stats end to end: loopback Bot API server -> aiogram Dispatcher (the staff gate) -> the real hub's stats,
narrowed to the staff member's scope; a Chinese summary with a PNG chart, usage on a bad argument."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from aiogram import Dispatcher

from bot.staff import stats as stats_mod
from hubapi.client import HubRejected
from tests.bot.conftest import file_case, until

ADMIN, STREET_OP, DISTRICT, CITIZEN = 501, 502, 503, 1001
TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def staff_users(hub):
    await hub.add_member(f"tg:{ADMIN}", role="admin", level="市", name="王市")
    await hub.add_member(f"tg:{STREET_OP}", role="operator", level="街道", department="区环境卫生管理所", name="李街")
    await hub.add_member(f"tg:{DISTRICT}", role="supervisor", level="区", name="赵区")


@pytest.fixture
async def polling(tg, bots, channel_hub, engine, staff_users, clock, monkeypatch):
    """The staff routers on the loopback server."""
    from bot import staff
    from citybot.settings import Settings

    start = clock.now  # the bot's "today" is the day the cases were filed, whatever the hub's clock does later
    monkeypatch.setattr(stats_mod, "now", lambda: start)
    dp = Dispatcher()
    settings = Settings(_env_file=None, staff_chats="")
    dp["settings"], dp["engine"], dp["hub"] = settings, engine, channel_hub
    for r in staff.routers():
        dp.include_router(r)
    task = asyncio.create_task(dp.start_polling(bots(), handle_signals=False, polling_timeout=1))
    yield dp
    await dp.stop_polling()
    await asyncio.wait_for(task, 10)


def replies(tg, chat) -> list:
    return tg.sent(chat_id=chat)


def text_of(record) -> str:
    return record.payload.get("caption") or record.payload.get("text") or ""


async def ask(tg, chat, text, n_before=None):
    before = len(replies(tg, chat)) if n_before is None else n_before
    tg.add_text(chat, text)
    await until(lambda: len(replies(tg, chat)) > before)
    await asyncio.sleep(0.2)  # a photo may follow its text
    return replies(tg, chat)[before:]


async def test_stats_reply_has_the_summary_and_a_chart(tg, hub, clock, polling):
    on_time = await file_case(hub, code="SRHJ-02", i=0)
    late = await file_case(hub, code="SRHJ-02", i=1)
    await file_case(hub, code="JMZX-01", i=2)  # 街面秩序, stays open and goes overdue
    await hub.resolve(on_time, note="已清扫")  # at once: 0 hours, on time
    clock.advance(days=10)
    await hub.resolve(late, note="已清扫")  # 240 hours, late
    out = await ask(tg, ADMIN, "/stats week")
    assert [r.method for r in out] == ["sendPhoto"]
    photo = out[0]
    attached = photo.files[photo.payload["photo"].removeprefix("attach://")]  # uploaded, not a URL
    assert bytes(attached).startswith(b"\x89PNG\r\n\x1a\n") and len(attached) > 2000
    text = text_of(photo)
    assert text.startswith("📊 案件统计（本周") and "范围：全市" in text
    for part in ("受理案件：3 件", "按大类：市容环境 2，街面秩序 1", "按时办结率：50.0%", "当前超期：1 件",
                 "处置时长中位数：120 小时"):
        assert part in text, (part, text)
    if stats_mod.cjk_font() is None:  # the chart's labels are the 大类 codes: the caption says which is which
        assert "图中类别代码：SRHJ=市容环境，JMZX=街面秩序" in text


async def test_default_period_is_today_and_a_bad_argument_gets_the_usage(tg, hub, polling):
    await file_case(hub)
    out = await ask(tg, ADMIN, "/stats")
    assert "案件统计（今日" in text_of(out[0]) and "受理案件：1 件" in text_of(out[0])
    for bad in ("/stats year", "/stats week extra", "/stats 今天"):
        out = await ask(tg, ADMIN, bad)
        assert [r.method for r in out] == ["sendMessage"]
        assert text_of(out[0]).startswith("用法：/stats [today|week|month]")


async def test_staff_see_only_their_scope(tg, hub, polling):
    await file_case(hub, code="SRHJ-01", i=0)  # 街道, 区环境卫生管理所
    await file_case(hub, code="SRHJ-04", i=1)  # 区, 区城市管理执法局
    to_district = await file_case(hub, code="SRHJ-02", i=2)  # 区环境卫生管理所, escalated to 区
    to_city = await file_case(hub, code="SRHJ-07", i=3)
    await hub.escalate(to_district, reason="测试")
    await hub.escalate(to_city, reason="测试")
    await hub.escalate(to_city, reason="测试")
    expect = {ADMIN: ("全市", 4), DISTRICT: ("区级", 3), STREET_OP: ("街道级·区环境卫生管理所", 1)}
    for chat, (scope, total) in expect.items():
        text = text_of((await ask(tg, chat, "/stats month"))[0])
        assert f"范围：{scope}）" in text and f"受理案件：{total} 件" in text, text


async def test_an_empty_period_answers_without_a_chart(tg, hub, polling):
    out = await ask(tg, DISTRICT, "/stats today")
    assert [r.method for r in out] == ["sendMessage"]
    assert "受理案件：0 件" in text_of(out[0]) and "暂无案件" in text_of(out[0])


async def test_a_citizen_gets_a_polite_denial_and_no_figures(tg, hub, polling):
    from bot.staff import commands

    await file_case(hub)
    out = await ask(tg, CITIZEN, "/stats week")
    assert [(r.method, text_of(r)) for r in out] == [("sendMessage", commands.NO_PERMISSION)]


async def test_hub_stats_scope_parameters(hub):
    await file_case(hub, code="SRHJ-01", i=0)
    await file_case(hub, code="SRHJ-04", i=1)
    since = dt.datetime.now(TZ) - dt.timedelta(days=1)
    assert (await hub.stats(since))["total"] == 2
    s = await hub.stats(since, level="街道", department="区环境卫生管理所")
    assert s["total"] == 1 and s["scope"] == {"level": "街道", "department": "区环境卫生管理所"}
    assert (await hub.stats(since, level="区"))["total"] == 2
    with pytest.raises(HubRejected) as err:
        await hub.stats(since, level="省")
    assert err.value.status == 400


def test_periods_are_calendar_periods_in_city_time():
    at = dt.datetime(2026, 3, 4, 1, 30, tzinfo=TZ)  # a Wednesday
    assert stats_mod.since_of("today", at, TZ) == dt.datetime(2026, 3, 4, tzinfo=TZ)
    assert stats_mod.since_of("week", at, TZ) == dt.datetime(2026, 3, 2, tzinfo=TZ)
    assert stats_mod.since_of("month", at, TZ) == dt.datetime(2026, 3, 1, tzinfo=TZ)
    assert stats_mod.parse_period(None) == "today" and stats_mod.parse_period(" WEEK ") == "week"
    assert stats_mod.parse_period("year") is None
