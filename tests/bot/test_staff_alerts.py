"""Overdue and escalation alerts to the staff chats, end to end: the real hub (settable clock, its sweep doing the
automatic escalation) -> the notifier with the staff alerts as its extra fan-out -> the loopback Bot API server."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from bot.notifier import Notifier, NotifierConfig
from bot.staff.alerts import StaffAlerts, chat_for, overdue_for, render_alert
from hubapi.client import Update
from tests.bot.conftest import BOTH_DATABASES, file_case, until
from hubapi.models import Filing

CITIZEN = 1001
CITY, DISTRICT, STREET = -1001, -1002, -1003
CHATS = {"市": CITY, "区": DISTRICT, "街道": STREET}
TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def alerting(bots, channel_hub, engine):
    """make(chats) -> a Notifier whose extra fan-out is StaffAlerts(chats); start(n) runs it; all stopped after."""
    made: list[tuple[Notifier, asyncio.Task | None]] = []

    class Factory:
        def make(self, chats=CHATS, **config) -> Notifier:
            cfg = dict(poll_interval=0.05, global_rate=50.0, chat_interval=0.05, backoff=0.1, subscribe_grace=0.0,
                       timezone="Asia/Shanghai")
            cfg.update(config)
            # as `citybot notifier` runs: the channel token, which may read every case for the alerts
            return Notifier(bot=bots(), hub=channel_hub, engine=engine, config=NotifierConfig(**cfg),
                            extra_fanout=StaffAlerts(chats, channel_hub, TZ))

        def start(self, n: Notifier) -> Notifier:
            made.append((n, asyncio.create_task(n.run())))
            return n

        async def stop(self, n: Notifier) -> None:
            await n.stop()
            for m, task in made:
                if m is n:
                    await asyncio.wait_for(task, 10)

    f = Factory()
    yield f
    for n, task in made:
        await n.stop()
        try:
            await asyncio.wait_for(task, 10)
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - the test already judged it
            pass


def texts(tg, chat_id) -> list[str]:
    return [r.payload.get("text") or r.payload.get("caption") or "" for r in tg.sent(chat_id=chat_id)]


def buttons(record) -> list[tuple[str, str]]:
    markup = record.payload.get("reply_markup")
    if isinstance(markup, str):
        markup = json.loads(markup)
    return [(b["text"], b["callback_data"]) for row in (markup or {}).get("inline_keyboard", []) for b in row]


async def settle(seconds: float = 0.4) -> None:
    await asyncio.sleep(seconds)  # several more polls: nothing else may arrive


async def sweep_escalates(hub, clock, case: str) -> None:
    """Advance the hub's clock past the grace (4 working hours; 20 days cover any holiday) and sweep."""
    clock.advance(days=20)
    await hub.sweep_overdue()
    detail = await hub.case_detail(case)
    assert detail.updates[-1].event == "escalated", [u.event for u in detail.updates]


@pytest.mark.parametrize("engine", BOTH_DATABASES, indirect=True)
async def test_overdue_then_automatic_escalation_alert_each_level_once(tg, hub, clock, alerting, follow, engine):
    case = await file_case(hub, code="SRHJ-02")  # 道路不洁, 街道 level
    follow(CITIZEN, case)
    n = alerting.start(alerting.make())
    await until(lambda: len(tg.sent(chat_id=CITIZEN)) == 2)  # received, dispatched
    assert tg.sent(chat_id=STREET) == []  # a new case alerts nobody

    clock.advance(days=10)
    assert await hub.sweep_overdue() == [case]
    await until(lambda: len(tg.sent(chat_id=STREET)) == 1 and len(tg.sent(chat_id=CITIZEN)) == 3)
    alert = tg.sent(chat_id=STREET)[0]
    text = alert.payload["text"]
    assert text.startswith(f"【超期督办】案件 {case}")
    for part in ("小类：道路不洁（市容环境）", "责任单位：区环境卫生管理所", "处置时限：", "已超期：", "当前层级：街道级",
                 "地址：未提供（定位 22.54310, 114.05790）", "反映人："):
        assert part in text, (part, text)
    assert buttons(alert) == [("查看", f"staff:case:{case}"), ("督办升级", f"staff:esc:{case}")]
    assert "超过处置时限" in texts(tg, CITIZEN)[-1]

    # the restart: a new notifier on the same database repeats nothing
    await alerting.stop(n)
    n = alerting.start(alerting.make())
    await sweep_escalates(hub, clock, case)  # 街道 -> 区
    await until(lambda: len(tg.sent(chat_id=DISTRICT)) == 1 and len(tg.sent(chat_id=CITIZEN)) == 4)
    up = tg.sent(chat_id=DISTRICT)[0].payload["text"]
    assert up.startswith(f"【升级督办】案件 {case} 已升级至区级督办（优先级：高）")
    assert "升级原因：超过处置时限4个工作小时仍未办结，按超期督办规则自动升级" in up and "当前层级：区级" in up
    assert "已升级至区级督办" in texts(tg, CITIZEN)[-1] and "自动升级" in texts(tg, CITIZEN)[-1]

    await sweep_escalates(hub, clock, case)  # 区 -> 市
    await until(lambda: len(tg.sent(chat_id=CITY)) == 1 and len(tg.sent(chat_id=CITIZEN)) == 5)
    top = tg.sent(chat_id=CITY)[0]
    assert "已升级至市级督办（优先级：紧急）" in top.payload["text"]
    assert buttons(top) == [("查看", f"staff:case:{case}")]  # nothing left to escalate to

    clock.advance(days=30)
    assert await hub.sweep_overdue() == []  # 市 is the top
    await alerting.stop(n)
    alerting.start(alerting.make())  # another restart
    await settle()
    assert [len(tg.sent(chat_id=c)) for c in (STREET, DISTRICT, CITY, CITIZEN)] == [1, 1, 1, 5]
    assert len(tg.sent()) == 8


async def test_a_staff_escalation_alerts_the_new_level_and_tells_the_citizen_once(tg, hub, alerting, follow):
    case = await file_case(hub, code="SRHJ-02")
    follow(CITIZEN, case)
    alerting.start(alerting.make())
    await until(lambda: len(tg.sent(chat_id=CITIZEN)) == 2)
    await hub.set_status(case, "in_progress", note="已安排保洁员", actor="tg:42 李**")
    await hub.escalate(case, reason="市民多次反映", actor="tg:42 李**")
    await until(lambda: len(tg.sent(chat_id=CITIZEN)) == 4 and len(tg.sent(chat_id=DISTRICT)) == 1)
    await settle()
    citizen = texts(tg, CITIZEN)
    assert len(citizen) == 4 and "处置中" in citizen[2] and "已安排保洁员" in citizen[2]
    assert "已升级至区级督办" in citizen[3] and "原因：市民多次反映" in citizen[3]
    assert "升级原因：市民多次反映" in texts(tg, DISTRICT)[0]
    assert tg.sent(chat_id=STREET) == [] and tg.sent(chat_id=CITY) == []  # in_progress alerts nobody
    audit = (await hub.case_detail(case)).audit
    assert [(a.action, a.reason) for a in audit][-1] == ("escalate", "市民多次反映")
    assert audit[-1].actor.startswith("tg:42")


async def test_alert_survives_flood_control_and_is_sent_once(tg, hub, clock, alerting, follow):
    case = await file_case(hub)
    alerting.start(alerting.make())
    await settle(0.2)
    tg.fail_next(1, retry_after=1)  # the next call (the alert) gets a 429
    clock.advance(days=10)
    assert await hub.sweep_overdue() == [case]
    await until(lambda: len(tg.sent(chat_id=STREET)) == 1)
    await settle()
    assert len(tg.sent(chat_id=STREET)) == 1
    assert [r.status for r in tg.requests if r.chat_id == str(STREET)] == [429, 200]


async def test_a_level_without_a_chat_falls_back_to_the_level_above(tg, hub, clock, alerting):
    case = await file_case(hub)
    alerting.start(alerting.make(chats={"市": CITY}))
    clock.advance(days=10)
    assert await hub.sweep_overdue() == [case]
    await until(lambda: len(tg.sent(chat_id=CITY)) == 1)
    assert "当前层级：街道级" in texts(tg, CITY)[0]


async def test_reporter_is_masked_in_the_alert(tg, hub, clock, alerting):
    created = await hub.create_request(Filing("SRHJ-01", "门口垃圾，联系我13812345678", address="人民路128号",
                                              account_id="tg:1001", channel="chat", first_name="三丰", last_name="张",
                                              phone="13812345678"))
    alerting.start(alerting.make())
    clock.advance(days=10)
    await hub.sweep_overdue()
    await until(lambda: len(tg.sent(chat_id=STREET)) == 1)
    text = texts(tg, STREET)[0]
    assert created.service_request_id in text and "地址：人民路128号" in text
    assert "13812345678" not in text and "138****5678" in text and "张**" in text and "三丰" not in text


def test_chat_for_and_rendering_units():
    chats = {"区": DISTRICT, "市": CITY}
    assert chat_for("街道", chats) == DISTRICT and chat_for("区", chats) == DISTRICT and chat_for("市", chats) == CITY
    assert chat_for("街道", {}) is None and chat_for(None, {"街道": STREET}) == STREET
    t0 = dt.datetime(2026, 3, 2, 11, 0, tzinfo=TZ)
    u = Update(update_id=7, service_request_id="20260302000001", status="open", state="dispatched", event="overdue",
               updated_datetime=t0 + dt.timedelta(days=1, hours=2, minutes=5), expected_datetime=t0,
               agency_responsible="区环境卫生管理所", level="街道", priority="normal")
    assert overdue_for(u) == "1天2小时5分钟"
    p = render_alert(u, None, TZ)  # the case could not be read: the update's own fields still make an alert
    assert "处置时限：3月2日11:00" in p["text"] and "反映人" not in p["text"]
    assert p["buttons"] == [[["查看", "staff:case:20260302000001"], ["督办升级", "staff:esc:20260302000001"]]]


def test_citybot_notifier_refuses_malformed_staff_chats(monkeypatch, tmp_path, capsys):
    from citybot.cli import main
    from citybot.settings import get_settings

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:x")
    monkeypatch.setenv("STAFF_CHATS", "省:-100")
    get_settings.cache_clear()
    try:
        assert main(["notifier", "--once", "--database-url", f"sqlite:///{tmp_path / 'c.db'}"]) == 2
        assert "STAFF_CHATS" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()
