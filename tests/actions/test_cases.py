"""Existing cases: progress, my cases, add a detail or photo, cancel, rate, reopen."""

from __future__ import annotations

from action_helpers import file_case, load_tracker, run
from actions import actions as a
from actions import texts
from rasa_sdk.events import SlotSet

RESULT = "http://127.0.0.1:8311/media/result.jpg"


async def test_progress_by_case_number(svc, hub):
    case_id = await file_case(hub)
    events, messages = await run(a.ActionCheckProgress(), load_tracker("progress_by_case_id", case_id=case_id))
    assert events == [SlotSet("last_case_id", case_id)]
    assert len(messages) == 1
    text = messages[0]["text"]
    assert text.startswith(f"案件{case_id}（井盖缺失破损）：已派遣，承办部门：区市政设施管理所，")
    assert "预计" in text or "已超过处置时限" in text


async def test_progress_by_mention_shows_the_result_photo_when_resolved(svc, hub):
    lamp = await file_case(hub, code="SZSS-02", address="幸福路1号")
    cover = await file_case(hub, address="人民路3号")
    await hub.resolve(cover, note="已更换井盖", media_urls=[RESULT])
    assert lamp != cover
    events, messages = await run(a.ActionCheckProgress(), load_tracker("progress_by_mention"))
    assert events == [SlotSet("last_case_id", cover)]
    assert messages[0]["text"].startswith(f"案件{cover}（井盖缺失破损）：已处理，承办部门：区市政设施管理所")
    assert "已更换井盖" in messages[0]["text"]
    assert messages[1]["image"] == RESULT
    assert "1-5分" in messages[2]["text"]


async def test_progress_of_an_unknown_case_and_of_nobody(svc, hub):
    events, messages = await run(a.ActionCheckProgress(), load_tracker("progress_unknown_case"))
    assert events == [] and messages[0]["text"] == "没有找到案件20990101000001，请核对案件编号（14位数字）。"
    events, messages = await run(a.ActionCheckProgress(), load_tracker("progress_by_mention"))
    assert events == [] and messages[0]["text"] == texts.render("utter_no_cases")


async def test_list_my_cases_only(svc, hub):
    mine = [await file_case(hub, address=f"人民路{n}号", code=c) for n, c in ((1, "SZSS-01"), (50, "SZSS-02"))]
    await file_case(hub, sender="20002", address="别处")
    events, messages = await run(a.ActionListCases(), load_tracker("list_cases"))
    assert events == []
    text = messages[0]["text"]
    assert text.startswith("您反映的问题：\n1. ")
    assert all(m in text for m in mine) and text.count("\n") == 3
    assert "路灯故障 已派遣" in text and "井盖缺失破损 已派遣" in text


async def test_add_a_photo_to_my_open_case(svc, hub):
    case_id = await file_case(hub)
    events, _ = await run(a.ActionStartDetail(), load_tracker("detail_with_photo"))
    assert events == [SlotSet("detail_content", "[照片]"),
                      SlotSet("detail_photos", ["http://127.0.0.1:8311/media/extra.jpg"])]
    tracker = load_tracker("detail_with_photo")
    tracker.slots.update({"detail_content": "[照片]", "detail_photos": ["http://127.0.0.1:8311/media/extra.jpg"]})
    events, messages = await run(a.ActionAddDetail(), tracker)
    assert events == [SlotSet("detail_content", None), SlotSet("detail_photos", None), SlotSet("last_case_id", case_id)]
    assert messages[0]["text"] == f"已将补充内容添加到案件{case_id}，处理人员会看到。"
    comments = [u for u in await hub.updates() if u.event == "comment"]
    assert [(u.service_request_id, u.media_url) for u in comments] == [(case_id, "http://127.0.0.1:8311/media/extra.jpg")]


async def test_bare_add_detail_asks_for_the_content(svc):
    events, _ = await run(a.ActionStartDetail(), load_tracker("detail_bare"))
    assert events == [SlotSet("detail_content", None), SlotSet("detail_photos", [])]


async def test_cancel_my_case_but_not_someone_elses(svc, hub):
    case_id = await file_case(hub)
    events, messages = await run(a.ActionCancelCase(), load_tracker("cancel_other_case", case_id=case_id))
    assert events == [] and messages[0]["text"] == "只能撤销您本人反映的案件。"
    events, messages = await run(a.ActionCancelCase(), load_tracker("cancel_case"))
    assert events == [SlotSet("last_case_id", case_id)]
    assert messages[0]["text"] == f"已撤销案件{case_id}。如问题再次出现，欢迎随时反映。"
    assert (await hub.get_request(case_id)).state == "cancelled"


async def test_rate_a_resolved_case(svc, hub):
    case_id = await file_case(hub)
    events, messages = await run(a.ActionRateCase(), load_tracker("rate_case"))
    assert events == [] and messages[0]["text"] == "您目前没有待评价的案件。" or "还没有处理完" in messages[0]["text"]
    await hub.resolve(case_id, note="已修复")
    events, messages = await run(a.ActionRateCase(), load_tracker("rate_case"))
    assert events == [SlotSet("last_case_id", case_id)]
    assert messages[0]["text"] == f"感谢评价！已为案件{case_id}记录5分。"
    case = await hub.get_request(case_id)
    assert (case.state, case.rating) == ("rated", 5)


async def test_rate_without_a_number_offers_buttons(svc):
    events, messages = await run(a.ActionRateCase(), load_tracker("rate_without_number"))
    assert events == []
    assert [b["payload"] for b in messages[0]["buttons"]] == [f'/rate{{"rating":"{n}"}}' for n in (5, 4, 3, 2, 1)]


async def test_not_fixed_reopens_the_resolved_case(svc, hub):
    case_id = await file_case(hub)
    await hub.resolve(case_id, note="已修复")
    events, messages = await run(a.ActionReopenCase(), load_tracker("reopen_case"))
    assert events == [SlotSet("last_case_id", case_id)]
    assert messages[0]["text"] == f"抱歉给您带来不便。案件{case_id}已重新处理，已重新派遣至区市政设施管理所，有进展会通知您。"
    assert (await hub.get_request(case_id)).state == "dispatched"


async def test_fallback_with_a_bare_case_number_gives_its_progress(svc, hub):
    case_id = await file_case(hub)
    events, messages = await run(a.ActionFallback(), load_tracker("fallback_case_number", case_id=case_id))
    assert events == [SlotSet("last_case_id", case_id)]
    assert messages[0]["text"].startswith(f"案件{case_id}（井盖缺失破损）：已派遣")
    events, messages = await run(a.ActionFallback(), load_tracker("fallback_gibberish"))
    assert events == [] and [m["text"] for m in messages] == [texts.render("utter_default")]
