"""New reports: reading the turn, the form's questions and validation, filing, duplicates, declining."""

from __future__ import annotations

from unittest.mock import ANY

from action_helpers import file_case, load_tracker, run
from actions import actions as a
from actions import texts
from hubapi.models import Reporter
from rasa_sdk.events import ActiveLoop, SlotSet

PHOTO = "http://127.0.0.1:8311/media/abc.jpg"


async def test_clear_report_with_place_and_photo_needs_only_confirmation(svc):
    events, messages = await run(a.ActionStartReport(), load_tracker("report_clear_with_photo"))
    assert events == [
        SlotSet("report_description", "人民路128号门口井盖坏了，很危险"),
        SlotSet("report_code", "SZSS-01"),
        SlotSet("report_choices", None),
        SlotSet("report_location", "人民路128号门口"),
        SlotSet("report_lat", None),
        SlotSet("report_long", None),
        SlotSet("report_photos", [PHOTO]),
        SlotSet("report_confirm", None),
        SlotSet("report_external_id", ANY),
        SlotSet("report_place_tries", 0.0),
        SlotSet("form_turn", None),
    ]
    assert len(events[-3]["value"]) == 32 and messages == []


async def test_unsure_classification_asks_with_two_buttons(svc):
    events, _ = await run(a.ActionStartReport(), load_tracker("report_ambiguous_no_place"))
    slots = {e["name"]: e["value"] for e in events}
    assert slots["report_code"] is None and slots["report_location"] is None
    assert slots["report_choices"] == [{"service_code": "SZSS-02", "name": "路灯故障"},
                                       {"service_code": "SZSS-01", "name": "井盖缺失破损"}]
    tracker = load_tracker("report_ambiguous_no_place")
    tracker.slots["report_choices"] = slots["report_choices"]
    events, messages = await run(a.ActionAskReportCode(), tracker)
    assert events == []
    assert messages[0]["text"] == "请问是路灯故障还是井盖缺失破损？\n都不是的话，请直接说明是什么问题。"
    assert messages[0]["buttons"] == [
        {"title": "路灯故障", "payload": '/choose_subcategory{"service_code":"SZSS-02"}'},
        {"title": "井盖缺失破损", "payload": '/choose_subcategory{"service_code":"SZSS-01"}'}]


async def test_shared_location_is_a_place(svc):
    events, _ = await run(a.ActionStartReport(), load_tracker("report_shared_location"))
    slots = {e["name"]: e["value"] for e in events}
    assert (slots["report_code"], slots["report_lat"], slots["report_long"]) == ("SZSS-02", 20.0301, 110.3312)
    assert slots["report_location"] == "共享定位（20.03010, 110.33120）"


async def test_form_takes_the_button_the_typed_address_and_a_late_photo(svc):
    form = a.ValidateReportForm()
    events, _ = await run(form, load_tracker("form_choose_subcategory"))
    assert events == [SlotSet("report_code", "SZSS-02"), SlotSet("form_turn", "answer")]
    events, _ = await run(form, load_tracker("form_typed_address"))
    assert events == [SlotSet("report_location", "幸福小区东门"), SlotSet("report_lat", None),
                      SlotSet("report_long", None), SlotSet("form_turn", "answer")]
    events, _ = await run(form, load_tracker("form_cancel_at_location"))
    assert events == [SlotSet("report_confirm", False), SlotSet("requested_slot", None), SlotSet("form_turn", "cancel")]
    events, _ = await run(form, load_tracker("form_photo_at_confirm"))
    assert events == [SlotSet("report_photos", ["http://127.0.0.1:8311/media/p1.jpg",
                                                "http://127.0.0.1:8311/media/p2.jpg"]), SlotSet("form_turn", "more")]
    events, _ = await run(form, load_tracker("form_affirm_at_confirm"))
    assert events == [SlotSet("report_confirm", True), SlotSet("form_turn", "answer")]


async def test_confirmation_shows_a_one_line_summary_and_offers_a_photo(svc):
    events, messages = await run(a.ActionAskReportConfirm(), load_tracker("form_affirm_at_confirm"))
    assert events == []
    assert messages[0]["text"] == ("请确认：【井盖缺失破损】人民路128号门口：井盖坏了\n"
                                   "如有现场照片，可以先发送照片（可选）。确认提交吗？")
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/affirm", "/deny"]


RESET = [SlotSet(s, None) for s in a.REPORT_SLOTS]


async def test_submit_files_the_case_and_answers_number_department_and_due(svc, hub):
    events, messages = await run(a.ActionSubmitReport(), load_tracker("submit_report"))
    case_id = events[-1]["value"]
    assert events == RESET + [SlotSet("last_case_id", case_id)]
    assert len(case_id) == 14
    text = messages[0]["text"]
    assert text.startswith(f"已为您提交，案件编号：{case_id}。已派遣至区市政设施管理所，预计")
    assert text.endswith("前处置（处置时限4个工作小时）。有进展会通知您。")
    case = await hub.get_request(case_id)
    assert (case.service_code, case.address, case.description, case.channel) == (
        "SZSS-01", "人民路128号门口", "人民路128号门口井盖坏了，很危险", "chat")
    assert case.media_url == "http://127.0.0.1:8311/media/a.jpg"
    updates = [u for u in await hub.updates() if u.service_request_id == case_id]
    assert "http://127.0.0.1:8311/media/b.jpg" in [u.media_url for u in updates]
    # anonymous by default: the contact in the metadata did not reach the hub
    detail = await hub.case_detail(case_id)
    assert detail.reporter == Reporter()
    assert detail.account_id == "tg:10001"
    assert [(s.chat_id, s.case_id) for s in svc.store.subscriptions()] == [("10001", case_id)]


async def test_contact_reaches_the_hub_only_with_consent(svc, hub):
    tracker = load_tracker("submit_report")
    tracker.slots["contact_consent"] = True
    events, _ = await run(a.ActionSubmitReport(), tracker)
    detail = await hub.case_detail(events[-1]["value"])
    assert detail.reporter.phone == "138****5678" and detail.reporter.name == "张*"


async def test_shared_location_is_filed_as_coordinates(svc, hub):
    events, _ = await run(a.ActionSubmitReport(), load_tracker("submit_report_shared_location"))
    case = await hub.get_request(events[-1]["value"])
    assert (case.lat, case.long, case.address, case.service_code) == (20.0301, 110.3312, None, "SZSS-02")


async def test_likely_duplicate_subscribes_to_the_open_case(svc, hub):
    original = await file_case(hub, sender="20002")
    events, messages = await run(a.ActionSubmitReport(), load_tracker("submit_report"))
    assert events == RESET + [SlotSet("last_case_id", original)]
    assert messages[0]["text"] == (f"这个问题已有市民反映过（案件{original}），正在处理中，无需重复提交。"
                                   "已为您关注该案件，有进展会通知您。")
    assert [(s.chat_id, s.case_id) for s in svc.store.subscriptions()] == [("10001", original)]


async def test_declined_report_files_nothing(svc, hub):
    events, messages = await run(a.ActionSubmitReport(), load_tracker("submit_declined"))
    assert events == RESET
    assert [m["text"] for m in messages] == [texts.render("utter_report_cancelled")]
    assert await hub.list_requests() == []


async def test_cancel_inside_the_form_deactivates_it(svc):
    events, messages = await run(a.ActionCancelReport(), load_tracker("form_cancel_at_location"))
    assert events == [ActiveLoop(None), SlotSet("requested_slot", None), *RESET, SlotSet("detail_content", None),
                      SlotSet("detail_photos", None)]
    assert messages[0]["text"] == texts.render("utter_report_cancelled")


async def test_not_city_management_names_the_line_and_files_nothing(svc, hub):
    events, messages = await run(a.ActionRefer(), load_tracker("not_city_management"))
    assert events == []
    assert messages[0]["text"] == "这个问题不属于城市管理范围，建议您联系12333 人社服务热线（社保、医保、就业、劳动纠纷、工资拖欠）。"
    assert await hub.list_requests() == []


async def test_more_words_about_the_problem_are_not_taken_for_the_place(svc):
    events, _ = await run(a.ValidateReportForm(), load_tracker("form_more_problem_at_location"))
    assert events == [SlotSet("report_description", "路灯不亮 灯杆也歪了"), SlotSet("form_turn", "more")]


async def test_never_mind_at_the_confirmation_means_no(svc):
    events, _ = await run(a.ValidateReportForm(), load_tracker("form_never_mind_at_confirm"))
    assert events == [SlotSet("report_confirm", False), SlotSet("requested_slot", None), SlotSet("form_turn", "cancel")]
