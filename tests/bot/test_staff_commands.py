"""Staff commands end to end: Bot API updates (loopback server) -> aiogram Dispatcher with the staff routers ->
the real hub (uvicorn on loopback, temp SQLite), called with the bot's channel token acting for the staff member
-> replies, the hub's audit trail, and (with a Notifier) the citizen's progress messages. Plus the
`citybot staff-users` CLI (over a real hub process) and the access rules."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiogram import Dispatcher, F, Router
from aiogram.types import Message

from bot.staff import access, commands
from hubapi.models import Filing
from tests.bot.conftest import file_case, image_bytes, until

ADMIN, OPERATOR, OTHER_DEPT, STREET_SUP, SEEDED = 9001, 9002, 9003, 9004, 9005
CITIZEN = 1001
STAFF_CHAT, OTHER_GROUP = -1002, -1009
NO_PERMISSION = "抱歉，您没有使用该功能的权限。"


@pytest.fixture
def settings(tmp_path):
    from citybot.settings import Settings

    return Settings(_env_file=None, var_dir=tmp_path, staff_chats=f"区:{STAFF_CHAT}")


@pytest.fixture
def hub_extra_settings() -> dict:
    return {"staff_users": f"{SEEDED}:operator:区::孙八"}  # registered by the hub at its start


@pytest.fixture
async def staff_users(hub):
    """Registered at the hub by a 市 admin (what `citybot staff-users add` does)."""
    await hub.add_member("tg:9001", role="admin", level="市", name="王督办")
    await hub.add_member("tg:9002", role="operator", level="街道", department="区环境卫生管理所", name="李四")
    await hub.add_member("tg:9003", role="supervisor", level="街道", department="街道城市管理执法队", name="赵六")
    await hub.add_member("tg:9004", role="supervisor", level="街道", department="区环境卫生管理所", name="钱七")


@pytest.fixture
async def staffbot(tg, bots, channel_hub, engine, settings, staff_users, monkeypatch):
    """The staff routers polling the loopback server; a probe router after them records what falls through
    (where the citizen router would take it)."""
    from bot import staff
    from bot.staff import resolve

    monkeypatch.setattr(resolve, "ALBUM_QUIET_S", 0.3)
    fell_through: list[str] = []
    probe = Router(name="probe")

    @probe.message(F.chat.type == "private")
    async def _fallthrough(message: Message) -> None:
        fell_through.append(message.text or message.caption or "<photo>")

    dp = Dispatcher()
    dp["settings"], dp["engine"], dp["hub"], dp["rasa"] = settings, engine, channel_hub, None
    for router in staff.routers():
        dp.include_router(router)
    dp.include_router(probe)
    task = asyncio.create_task(dp.start_polling(bots(), handle_signals=False, polling_timeout=1))
    dp.fell_through = fell_through
    yield dp
    await dp.stop_polling()
    await asyncio.wait_for(task, 10)


def texts(tg, chat) -> list[str]:
    return [r.payload.get("text") for r in tg.sent("sendMessage", chat_id=chat)]


async def ask(tg, chat: int, text: str, *, from_id: int | None = None, chat_type: str | None = None) -> str:
    """Send `text` to the bot and return its one reply in that chat."""
    before = len(texts(tg, chat))
    tg.add_text(chat, text, from_id=from_id, chat_type=chat_type)
    await until(lambda: len(texts(tg, chat)) > before)
    await asyncio.sleep(0.05)
    got = texts(tg, chat)[before:]
    assert len(got) == 1, got
    return got[0]


def markup_of(tg, chat) -> dict:
    return tg.sent("sendMessage", chat_id=chat)[-1].payload.get("reply_markup") or {}


def buttons(markup: dict) -> list[tuple[str, str]]:
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


# -- the gate ----------------------------------------------------------------------------------------------------
async def test_a_citizen_gets_a_polite_denial_and_ordinary_text_falls_through(tg, hub, staffbot):
    case = await file_case(hub)
    for cmd in ("/overdue", f"/case {case}", f"/escalate {case} 太慢", "/find 人民路", "/stats week"):
        reply = await ask(tg, CITIZEN, cmd)
        assert reply == NO_PERMISSION
    for word in ("/overdue", "/case", "/escalate", "/resolve", "/help"):
        assert word not in "".join(texts(tg, CITIZEN))  # the commands are never revealed
    tg.add_text(CITIZEN, "人民路的垃圾没人清理")
    tg.add_text(CITIZEN, "/help")  # the citizen's own help belongs to the citizen dialogue
    await until(lambda: len(staffbot.fell_through) == 2)
    assert sorted(staffbot.fell_through) == sorted(["人民路的垃圾没人清理", "/help"])
    tg.add_callback(CITIZEN, f"staff:esc:{case}")
    await until(lambda: any(r.method == "answerCallbackQuery" for r in tg.requests))
    answer = [r.payload for r in tg.requests if r.method == "answerCallbackQuery"][0]
    assert answer["text"] == NO_PERMISSION
    detail = await hub.case_detail(case)
    assert detail.level == "街道" and [a.action for a in detail.audit if a.action == "escalate"] == []


async def test_inactive_staff_are_refused(tg, hub, staffbot):
    await hub.update_member(f"tg:{OPERATOR}", active=False)
    assert await ask(tg, OPERATOR, "/overdue") == NO_PERMISSION


async def test_staff_chat_works_other_groups_are_ignored(tg, hub, staffbot):
    case = await file_case(hub)
    reply = await ask(tg, STAFF_CHAT, f"/case {case}", from_id=ADMIN, chat_type="supergroup")
    assert f"案件 {case}" in reply
    # a non-staff member of the staff chat is refused; nothing at all happens in another group
    assert await ask(tg, STAFF_CHAT, "/overdue", from_id=CITIZEN) == NO_PERMISSION
    tg.add_text(OTHER_GROUP, f"/case {case}", from_id=ADMIN, chat_type="supergroup")
    tg.add_text(OTHER_GROUP, "/overdue", from_id=CITIZEN, chat_type="supergroup")
    tg.add_text(STAFF_CHAT, "/help", from_id=ADMIN)  # a marker: once answered, the others were seen too
    await until(lambda: len(texts(tg, STAFF_CHAT)) == 3)
    assert texts(tg, OTHER_GROUP) == [] and staffbot.fell_through == []


async def test_help_is_chinese_and_only_for_staff(tg, staffbot):
    reply = await ask(tg, OPERATOR, "/help")
    assert "李四" in reply and "街道级" in reply
    for cmd in ("/overdue", "/case", "/find", "/escalate", "/assign", "/reclassify", "/status", "/resolve",
                "/close", "/merge", "/reopen", "/stats"):
        assert cmd in reply


async def test_a_member_seeded_by_the_hub_is_staff(tg, staffbot):
    reply = await ask(tg, SEEDED, "/help")
    assert "孙八" in reply and "区级" in reply


# -- /case, /find, /overdue --------------------------------------------------------------------------------------
async def test_case_shows_details_masked_reporter_and_the_audit_trail(tg, hub, staffbot):
    created = await hub.create_request(Filing("SRHJ-01", "垃圾成堆，联系我13812345678", address="人民路128号",
                                              account_id="tg:1001", channel="chat", first_name="三丰", last_name="张",
                                              phone="13812345678"))
    case = created.service_request_id
    await ask(tg, ADMIN, f"/escalate {case} 两天没人管")
    reply = await ask(tg, ADMIN, f"/case {case}")
    assert f"案件 {case}" in reply and "暴露垃圾（SRHJ-01，市容环境）" in reply
    assert "区环境卫生管理所" in reply and "应处置" in reply and "人民路128号" in reply
    assert "13812345678" not in reply and "138****5678" in reply and "张*" in reply and "张三丰" not in reply
    assert "tg:1001" not in reply
    assert "王督办" in reply and "tg:9001" in reply and "督办升级" in reply and "两天没人管" in reply
    assert "升级督办" in reply  # the history line of the escalation


async def test_case_errors(tg, hub, staffbot):
    assert "缺少案件编号" in await ask(tg, ADMIN, "/case")
    assert "不是有效的案件编号" in await ask(tg, ADMIN, "/case 12345")
    assert "不是有效的案件编号" in await ask(tg, ADMIN, "/case abc")
    assert "未找到案件 20200101999999" in await ask(tg, ADMIN, "/case 20200101999999")


async def test_find_by_address_and_text(tg, hub, staffbot):
    a = (await hub.create_request(Filing("SRHJ-01", "垃圾成堆", address="人民路128号", account_id="tg:1"))).service_request_id
    b = (await hub.create_request(Filing("YLLH-01", "大树倒了", address="解放大道7号", account_id="tg:2"))).service_request_id
    reply = await ask(tg, ADMIN, "/find 人民路")
    assert a in reply and b not in reply and "1件" in reply
    assert (f"查看 {a}", f"staff:case:{a}") in buttons(markup_of(tg, ADMIN))
    assert b in await ask(tg, ADMIN, "/find 大树")
    assert "没有找到" in await ask(tg, ADMIN, "/find 火星")
    assert "请给出要查找的关键词" in await ask(tg, ADMIN, "/find")
    # the operator of 区环境卫生管理所 does not see the 区-level 园林 case
    assert "没有找到" in await ask(tg, OPERATOR, "/find 大树")


async def test_overdue_oldest_first_paged_with_buttons(tg, hub, clock, staffbot):
    ids = [await file_case(hub, i=i) for i in range(7)]
    assert "没有" in await ask(tg, ADMIN, "/overdue")
    clock.advance(days=10)
    reply = await ask(tg, ADMIN, "/overdue")
    assert "共7件" in reply and "第1/2页" in reply
    assert [reply.index(cid) for cid in ids[:5]] == sorted(reply.index(cid) for cid in ids[:5])
    assert ids[5] not in reply
    btns = buttons(markup_of(tg, ADMIN))
    assert (f"查看 {ids[0][-6:]}", f"staff:case:{ids[0]}") in btns
    assert (f"督办升级 {ids[0][-6:]}", f"staff:esc:{ids[0]}") in btns
    assert ("下一页 ▶", "staff:page:2") in btns
    tg.add_callback(ADMIN, "staff:page:2")
    await until(lambda: any(r.method == "editMessageText" for r in tg.requests))
    page2 = [r for r in tg.requests if r.method == "editMessageText"][-1].payload
    assert ids[5] in page2["text"] and ids[6] in page2["text"] and ids[0] not in page2["text"]
    # the button escalates with the default reason and records who pressed it
    before = len(texts(tg, ADMIN))
    tg.add_callback(ADMIN, f"staff:esc:{ids[0]}")
    await until(lambda: len(texts(tg, ADMIN)) > before)
    assert "已升级至区级督办" in texts(tg, ADMIN)[-1]
    detail = await hub.case_detail(ids[0])
    esc = [a for a in detail.audit if a.action == "escalate"]
    assert len(esc) == 1 and "王督办" in esc[0].actor and esc[0].reason == commands.DEFAULT_ESCALATE_REASON
    before = len(texts(tg, ADMIN))
    tg.add_callback(ADMIN, f"staff:case:{ids[1]}")
    await until(lambda: len(texts(tg, ADMIN)) > before)
    assert f"案件 {ids[1]}" in texts(tg, ADMIN)[-1]
    assert "页码应为数字" in await ask(tg, ADMIN, "/overdue x")


# -- actions -----------------------------------------------------------------------------------------------------
async def test_escalate_happy_path_and_errors(tg, hub, staffbot):
    case = await file_case(hub)
    assert "请说明督办升级的原因" in await ask(tg, ADMIN, f"/escalate {case}")
    assert "已升级至区级督办" in await ask(tg, ADMIN, f"/escalate {case} 居民多次投诉")
    assert "已升级至市级督办" in await ask(tg, ADMIN, f"/escalate {case} 区里也没处理")
    assert "已是市级督办" in await ask(tg, ADMIN, f"/escalate {case} 再升")
    detail = await hub.case_detail(case)
    assert detail.level == "市" and detail.priority == "urgent"


async def test_assign_and_its_errors(tg, hub, staffbot):
    case = await file_case(hub)
    reply = await ask(tg, ADMIN, f"/assign {case} 街道城市管理执法队")
    assert "已派遣至街道城市管理执法队" in reply
    assert (await hub.case_detail(case)).agency_responsible == "街道城市管理执法队"
    bad = await ask(tg, ADMIN, f"/assign {case} 火星局")
    assert "没有“火星局”这个部门" in bad and "区环境卫生管理所" in bad
    assert "请给出部门" in await ask(tg, ADMIN, f"/assign {case}")


async def test_reclassify_by_code_or_name_reroutes_and_recomputes_the_due_time(tg, hub, staffbot):
    case = await file_case(hub)  # SRHJ-01, 4 working hours
    before = await hub.case_detail(case)
    reply = await ask(tg, ADMIN, f"/reclassify {case} 占道经营")
    assert "JMZX-01" in reply and "街道城市管理执法队" in reply
    after = await hub.case_detail(case)
    assert after.service_code == "JMZX-01" and after.agency_responsible == "街道城市管理执法队"
    assert after.expected_datetime != before.expected_datetime
    assert "SRHJ-02" in await ask(tg, ADMIN, f"/reclassify {case} srhj-02")
    assert "没有“XXXX-99”这个小类" in await ask(tg, ADMIN, f"/reclassify {case} XXXX-99")
    assert "已经是" in await ask(tg, ADMIN, f"/reclassify {case} SRHJ-02")


async def test_status_validates_the_state_against_the_lifecycle(tg, hub, staffbot):
    case = await file_case(hub)
    assert "状态已改为“处置中”" in await ask(tg, OPERATOR, f"/status {case} in_progress 已到场")
    bad = await ask(tg, OPERATOR, f"/status {case} flying")
    assert "没有“flying”这个状态" in bad and "in_progress" in bad
    assert "/resolve" in await ask(tg, OPERATOR, f"/status {case} resolved")
    assert "/merge" in await ask(tg, OPERATOR, f"/status {case} duplicate")
    assert "不能改为“已结案”" in await ask(tg, ADMIN, f"/status {case} closed")
    assert "请给出新状态" in await ask(tg, OPERATOR, f"/status {case}")
    assert "状态已改为“已撤销”" in await ask(tg, ADMIN, f"/status {case} 撤销 重复报送")
    detail = await hub.case_detail(case)
    assert detail.state == "cancelled"
    assert [a.actor for a in detail.audit if a.action == "status"] == ["tg:9002 李四", "tg:9001 王督办"]


async def test_close_merge_reopen(tg, hub, staffbot):
    a, b = await file_case(hub, i=0), await file_case(hub, i=3)
    assert "只有已处理反馈的案件可以核查结案" in await ask(tg, ADMIN, f"/close {a}")
    await hub.resolve(a, note="已清理")
    assert "已核查结案" in await ask(tg, ADMIN, f"/close {a} 现场核查无误")
    assert "已重新处理" in await ask(tg, ADMIN, f"/reopen {a} 市民反映又有垃圾")
    assert (await hub.case_detail(a)).state in ("reopened", "dispatched")
    assert "不能把案件并入它自己" in await ask(tg, ADMIN, f"/merge {b} {b}")
    assert "未找到案件 20200101999999" in await ask(tg, ADMIN, f"/merge {b} 20200101999999")
    assert "用法" in await ask(tg, ADMIN, f"/merge {b}")
    assert f"并入 {a}" in await ask(tg, ADMIN, f"/merge {b} {a}")
    assert (await hub.case_detail(b)).state == "duplicate"
    assert "不能重新处理" not in await ask(tg, ADMIN, f"/reopen {b} 合并错了")


async def test_triage_lists_calls_without_a_place_and_place_completes_them(tg, hub, staffbot):
    created = await hub.create_request(Filing("SZSS-01", "井盖没了", channel="hotline", external_id="t-1",
                                              needs_place=True))
    case_id = created.service_request_id
    assert created.state == "received"
    reply = await ask(tg, ADMIN, "/triage")
    assert case_id in reply and "待补充地点" in reply and "1件" in reply
    assert "用法" in await ask(tg, ADMIN, f"/place {case_id}")
    reply = await ask(tg, ADMIN, f"/place {case_id} 福田区福中三路88号门口")
    assert "地点已更新" in reply and "已派遣" in reply
    case = await hub.case_detail(case_id)
    assert case.address == "福田区福中三路88号门口" and case.state == "dispatched" and not case.needs_place
    assert "没有待补充地点" in await ask(tg, ADMIN, "/triage")


# -- permissions -------------------------------------------------------------------------------------------------
async def test_wrong_department_level_or_role_is_refused_with_the_reason(tg, hub, staffbot):
    case = await file_case(hub)  # 街道, 区环境卫生管理所
    reply = await ask(tg, OTHER_DEPT, f"/case {case}")
    assert "由区环境卫生管理所负责" in reply and "不属于您的部门" in reply
    assert "不属于您的部门" in await ask(tg, OTHER_DEPT, f"/escalate {case} 试试")
    # the operator reads and sets status, but may not escalate (a supervisor's action)
    assert f"案件 {case}" in await ask(tg, OPERATOR, f"/case {case}")
    assert "需要督办员或以上" in await ask(tg, OPERATOR, f"/escalate {case} 试试")
    # once escalated to 区, the 街道 supervisor of the same department cannot act on it any more
    assert "已升级至区级" in await ask(tg, STREET_SUP, f"/escalate {case} 处理不了")
    reply = await ask(tg, STREET_SUP, f"/status {case} in_progress")
    assert "属于区级，高于您的街道级" in reply
    detail = await hub.case_detail(case)
    assert detail.state == "dispatched"
    assert [a.action for a in detail.audit if a.action in ("status", "escalate")] == ["escalate"]
    tg.add_callback(OTHER_DEPT, f"staff:esc:{case}")
    await until(lambda: any(r.method == "answerCallbackQuery" for r in tg.requests))
    answer = [r.payload for r in tg.requests if r.method == "answerCallbackQuery"][-1]
    assert "不属于您的部门" in answer["text"] or "区级" in answer["text"]


async def test_the_hub_decides_whatever_the_bot_thinks(tg, hub, staffbot, monkeypatch):
    """The bot's own check only explains: with it out of the way (a bug, an old bot), the hub still refuses an
    operator's escalation, and a member removed at the hub loses every action at once, cached or not."""
    case = await file_case(hub)
    monkeypatch.setattr(commands, "may", lambda *a, **k: True)
    reply = await ask(tg, OPERATOR, f"/escalate {case} 试试")
    assert "案件平台拒绝了该操作" in reply and "operator" in reply
    assert f"案件 {case}" in await ask(tg, OPERATOR, f"/case {case}")  # known to the bot as staff now
    await hub.update_member(f"tg:{OPERATOR}", active=False)
    assert "案件平台拒绝了该操作" in await ask(tg, OPERATOR, f"/status {case} in_progress 已到场")
    detail = await hub.case_detail(case)
    assert detail.state == "dispatched" and detail.level == "街道"
    assert [a for a in detail.audit if a.action in ("escalate", "status")] == []


async def test_the_audit_names_the_member_the_hub_acted_for(tg, hub, staffbot):
    case = await file_case(hub)
    await ask(tg, STREET_SUP, f"/escalate {case} 街道处理不了")
    [esc] = [a for a in (await hub.case_detail(case)).audit if a.action == "escalate"]
    assert esc.principal == "member:tg:9004" and esc.actor == "tg:9004 钱七"


async def test_ending_a_case_for_good_needs_a_supervisor(tg, hub, staffbot):
    case = await file_case(hub)
    for state in ("撤销", "转办"):
        reply = await ask(tg, OPERATOR, f"/status {case} {state}")
        assert "需要督办员或以上" in reply
    assert (await hub.case_detail(case)).state == "dispatched"
    assert "状态已改为“已转办”" in await ask(tg, STREET_SUP, f"/status {case} 转办 非城管事项")


async def test_odd_digits_in_a_page_number_get_an_answer(tg, hub, staffbot):
    assert "页码应为数字" in await ask(tg, ADMIN, "/overdue ፩")
    tg.add_callback(ADMIN, "staff:page:፩")
    await until(lambda: any(r.method == "answerCallbackQuery" for r in tg.requests))
    answer = [r.payload for r in tg.requests if r.method == "answerCallbackQuery"][-1]
    assert answer["text"] == "这个按钮无效。"


async def test_overdue_lists_only_cases_within_scope(tg, hub, clock, staffbot):
    mine = await file_case(hub, i=0)  # 区环境卫生管理所
    other = await file_case(hub, code="JMZX-01", description="路边占道经营", i=5)  # 街道城市管理执法队
    clock.advance(days=10)
    reply = await ask(tg, OPERATOR, "/overdue")
    assert mine in reply and other not in reply
    # no escalate button for an operator
    assert all(not data.startswith("staff:esc:") for _, data in buttons(markup_of(tg, OPERATOR)))


# -- /resolve with photos, and what the citizen receives ------------------------------------------------------------
async def test_resolve_with_an_album_the_citizen_gets_exactly_one_resolved_message(tg, hub, staffbot, notifiers,
                                                                                    follow):
    case = await file_case(hub, account=f"tg:{CITIZEN}")
    follow(CITIZEN, case)
    n = notifiers.make()
    notifiers.start(n)
    await until(lambda: len(tg.sent(chat_id=CITIZEN)) == 2)  # received, dispatched

    assert "请在5分钟内发送" in await ask(tg, OPERATOR, f"/resolve {case} 已清理干净")
    tg.add_photo(OPERATOR, image_bytes((10, 200, 10)))
    tg.add_photo(OPERATOR, image_bytes((10, 10, 200)))
    await asyncio.sleep(0.3)
    reply = await ask(tg, OPERATOR, "/done")
    assert "已处理反馈（处理结果照片2张）" in reply

    await until(lambda: len(tg.sent("sendMediaGroup", chat_id=CITIZEN)) == 1)
    await asyncio.sleep(0.5)
    sent = tg.sent(chat_id=CITIZEN)
    assert [r.method for r in sent] == ["sendMessage", "sendMessage", "sendMediaGroup"]
    album = sent[-1].payload["media"]
    assert len(album) == 2 and "已处理完毕" in album[0]["caption"] and "已清理干净" in album[0]["caption"]
    detail = await hub.case_detail(case)
    assert detail.state == "resolved" and len(detail.result_media_urls) == 2
    assert [a.actor for a in detail.audit if a.action == "resolve"] == ["tg:9002 李四"]

    # /reopen: reopened + re-dispatched (two messages); /escalate: exactly one message
    assert "已重新处理" in await ask(tg, ADMIN, f"/reopen {case} 复查仍有垃圾")
    await until(lambda: len(tg.sent(chat_id=CITIZEN)) == 5)
    assert "已升级至区级" in await ask(tg, ADMIN, f"/escalate {case} 复查仍有垃圾")
    await until(lambda: len(tg.sent(chat_id=CITIZEN)) == 6)
    await asyncio.sleep(0.5)
    sent = tg.sent(chat_id=CITIZEN)
    assert len(sent) == 6
    assert "已重新处理" in sent[3].payload["text"] and "已派遣" in sent[4].payload["text"]
    assert "已升级至区级督办" in sent[5].payload["text"] and "复查仍有垃圾" in sent[5].payload["text"]


async def test_resolve_by_captioned_album_ends_by_itself(tg, hub, staffbot):
    case = await file_case(hub)
    tg.add_photo(OPERATOR, image_bytes((1, 2, 3)), caption=f"/resolve {case} 清运完毕", media_group_id="alb1")
    tg.add_photo(OPERATOR, image_bytes((4, 5, 6)), media_group_id="alb1")
    tg.add_photo(OPERATOR, image_bytes((7, 8, 9)), media_group_id="alb1")
    await until(lambda: any("已处理反馈" in (t or "") for t in texts(tg, OPERATOR)))
    assert texts(tg, OPERATOR) == ["✅ 案件 %s 已处理反馈（处理结果照片3张），市民将收到处理结果。" % case]
    detail = await hub.case_detail(case)
    assert detail.state == "resolved" and len(detail.result_media_urls) == 3
    assert "清运完毕" in detail.status_notes
    assert staffbot.fell_through == []

    # /case shows the text, then the photos as one album (uploaded bytes: hub URLs may be loopback-only)
    assert "处理结果照片（3张）" in await ask(tg, OPERATOR, f"/case {case}")
    await until(lambda: tg.sent("sendMediaGroup", chat_id=OPERATOR))
    [album] = tg.sent("sendMediaGroup", chat_id=OPERATOR)
    assert [m["caption"] for m in album.payload["media"]] == ["处理结果照片"] * 3 and len(album.files) == 3


async def test_resolve_errors(tg, hub, staffbot):
    case = await file_case(hub)
    assert "缺少案件编号" in await ask(tg, OPERATOR, "/resolve")
    assert "当前没有待提交的处理照片" in await ask(tg, OPERATOR, "/done")
    assert "请在5分钟内发送" in await ask(tg, OPERATOR, f"/resolve {case}")
    assert "正在收集案件" in await ask(tg, OPERATOR, f"/resolve {case}")
    assert "没有收到照片" in await ask(tg, OPERATOR, "/done")
    assert (await hub.case_detail(case)).state == "dispatched"
    assert "请在5分钟内发送" in await ask(tg, OPERATOR, f"/resolve {case}")
    assert "已取消" in await ask(tg, OPERATOR, "/cancel")
    # a photo from a staff member who is not collecting is an ordinary message (the citizen router's)
    tg.add_photo(OPERATOR, image_bytes())
    await until(lambda: staffbot.fell_through == ["<photo>"])
    # a closed case cannot be resolved; another department's case is refused before any photo is taken
    await hub.resolve(case, note="x")
    await hub.close(case)
    assert "不能处理反馈" in await ask(tg, OPERATOR, f"/resolve {case}")
    other = await file_case(hub, code="JMZX-01", description="路边占道经营", i=4)
    tg.add_photo(OPERATOR, image_bytes((9, 9, 9)), caption=f"/resolve {other}")
    await until(lambda: "不属于您的部门" in (texts(tg, OPERATOR)[-1] or ""))
    assert (await hub.case_detail(other)).state == "dispatched"


# -- composition, CLI, units ------------------------------------------------------------------------------------------
def test_the_app_puts_the_staff_routers_before_the_citizen_router(engine, settings):
    pytest.importorskip("bot.citizen")
    from bot.app import build_dispatcher

    dp = build_dispatcher(settings=settings, engine=engine, hub=None, rasa=None)
    names = [r.name for r in dp.sub_routers]
    assert names[0] == "staff" and names.index("staff-denial") < names.index("citizen")


def test_cli_add_set_list_remove_and_import_at_the_hub(tmp_path, capsys):
    """`citybot staff-users` against a real hub process, with an admin's staff token."""
    from sqlalchemy import create_engine, text

    from bench.hubserver import start_hub
    from citybot.cli import main

    proc, base = start_hub(str(tmp_path), HUB_STAFF_TOKENS="adm:admin:市:,dist:admin:区:区环境卫生管理所",
                           HUB_CHANNEL_TOKENS="chan:tg")
    try:
        def cli(*args: str, token: str = "adm") -> int:
            return main(["staff-users", "--hub-url", base, "--token", token, *args])

        assert cli("add", "42", "--role", "supervisor", "--level", "区", "--department", "区环境卫生管理所",
                   "--name", "张三") == 0
        assert cli("add", "42") == 1
        assert "already registered" in capsys.readouterr().err
        assert cli("set", "42", "--active", "false", "--level", "市") == 0
        capsys.readouterr()
        assert cli("list") == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [(r["telegram_user_id"], r["member_id"], r["level"], r["active"], r["name"]) for r in rows] == [
            (42, "tg:42", "市", False, "张三")]
        assert cli("set", "7", "--name", "x") == 1
        # a 区 admin of one department manages only members within its level and department
        assert cli("add", "43", "--level", "市", token="dist") == 1 and "not allowed" in capsys.readouterr().err
        assert cli("add", "43", "--level", "区", "--department", "区环境卫生管理所", token="dist") == 0
        assert cli("remove", "42", token="dist") == 1  # a 市 member: not theirs
        assert cli("add", "44", token="chan") == 1  # a channel token manages nobody
        assert cli("remove", "42") == 0
        assert cli("remove", "42") == 1
        with pytest.raises(SystemExit):
            cli("add", "45", "--level", "省")
        # staff users kept in citybot's own database by earlier versions move to the hub
        old = tmp_path / "old.db"
        engine = create_engine(f"sqlite:///{old}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE citybot_staff_user (id INTEGER PRIMARY KEY, telegram_user_id INTEGER, "
                              "name TEXT, role TEXT, level TEXT, department TEXT, active BOOLEAN)"))
            conn.execute(text("INSERT INTO citybot_staff_user VALUES (1, 77, '周九', 'supervisor', '区', '', 1), "
                              "(2, 43, 'x', 'admin', '市', '', 1)"))
        engine.dispose()
        capsys.readouterr()
        assert cli("import-local", "--database-url", f"sqlite:///{old}") == 0
        out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert out[-1] == {"imported": 1} and {"member_id": "tg:43", "skipped": "already registered"} in out
        assert cli("list") == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [(r["member_id"], r["role"], r["name"]) for r in rows] == [("tg:43", "operator", ""),
                                                                           ("tg:77", "supervisor", "周九")]
    finally:
        proc.terminate()
        proc.wait(10)


def test_may_follows_the_hub_rule():
    street_op = access.StaffMember(1, "a", "operator", "街道", "区环境卫生管理所")
    district_sup = access.StaffMember(2, "b", "supervisor", "区", "")
    city_admin = access.StaffMember(3, "c", "admin", "市", "")
    case = {"level": "街道", "agency_responsible": "区环境卫生管理所"}
    assert access.may(street_op, "read", case) and access.may(street_op, "resolve", case)
    assert not access.may(street_op, "escalate", case)
    assert not access.may(street_op, "read", {**case, "agency_responsible": "园林"})
    assert not access.may(street_op, "read", {**case, "level": "区"})
    assert access.may(district_sup, "escalate", {**case, "level": "区", "agency_responsible": "园林"})
    assert not access.may(district_sup, "read", {**case, "level": "市"})
    assert access.may(city_admin, "merge", {"level": "市", "agency_responsible": "x"})


def test_seed_and_chats_parsing():
    from hub.members import parse_seed

    assert parse_seed("1:supervisor:区:园林:张三, 2") == [
        dict(member_id="tg:1", role="supervisor", level="区", department="园林", name="张三"),
        dict(member_id="tg:2", role="operator", level="街道", department="", name="")]
    for bad in ("x:operator", "1:boss", "1:operator:省", "፩:operator"):
        with pytest.raises(ValueError):
            parse_seed(bad)
    assert access.parse_chats("市:-1001, 区:-1002") == {"市": -1001, "区": -1002}
    with pytest.raises(ValueError):
        access.parse_chats("省:-1")


def test_views_mask_the_account():
    from bot.staff.views import mask_account

    assert mask_account("tg:123456789") == "tg:*******89"
    assert mask_account("12") == "***"
    assert mask_account(None) is None


# -- /dead, /resend ------------------------------------------------------------------------------------------------
async def test_dead_jobs_are_listed_and_resent_by_an_admin_only(tg, staffbot, engine):
    from citybot.jobs import Jobs

    q = Jobs(engine)
    q.add([dict(kind="push", key="push:9:1001", lane="chat:1001", chat_id="1001", case_id="20260302000001",
                update_id=9, payload={"kind": "text", "text": "x"})])
    [job] = q.claim("w", ["push"], 1)
    q.fail(job, "TelegramBadRequest: Bad Request: message is too long", permanent=True)
    assert "只有管理员" in await ask(tg, OPERATOR, "/dead")
    listing = await ask(tg, ADMIN, "/dead")
    assert f"#{job.id}" in listing and "message is too long" in listing and "/resend" in listing
    assert "用法" in await ask(tg, ADMIN, "/resend soon")
    assert "已重新排队 1 个任务" in await ask(tg, ADMIN, f"/resend {job.id}")
    assert q.counts() == {"pending": 1}
    assert "没有投递失败的任务" in await ask(tg, ADMIN, "/dead")
