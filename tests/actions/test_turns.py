"""What the dialogue does with turns off the clean path: corrections, another problem, digressions inside the
report form, emergencies in any state, drafts and going back to them."""

from __future__ import annotations

import time

from action_helpers import file_case, load_tracker, run
from actions import actions as a
from actions import texts
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet


def slots_of(events) -> dict:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def said(messages) -> list[str]:
    return [m["text"] for m in messages if m.get("text")]


async def test_a_place_correction_at_the_confirmation_changes_the_place_and_files_nothing(svc, hub):
    events, messages = await run(a.ValidateReportForm(), load_tracker("confirm_place_correction"))
    slots = slots_of(events)
    assert slots["report_location"] == "新闻路" and "report_confirm" not in slots   # the form shows the summary again
    assert slots["form_turn"] == "correction" and messages == []
    assert await hub.list_requests() == []
    tracker = load_tracker("confirm_place_correction")
    tracker.slots.update(slots)
    _, messages = await run(a.ActionAskReportConfirm(), tracker)   # what the form asks next: one message
    assert said(messages) == [texts.render("utter_corrected") + "\n" + texts.render(
        "utter_ask_report_confirm", summary="【路灯故障】新闻路：福田区香梅路的路灯不亮")]


async def test_a_subcategory_correction_changes_the_subcategory(svc):
    events, messages = await run(a.ValidateReportForm(), load_tracker("confirm_code_correction"))
    assert slots_of(events)["report_code"] == "SZSS-07" and "report_confirm" not in slots_of(events)
    assert messages == []


async def test_another_problem_sets_the_first_aside_as_a_draft_and_goes_on_with_the_new_one(svc):
    events, messages = await run(a.ValidateReportForm(), load_tracker("place_new_report"))
    slots = slots_of(events)
    assert slots["report_code"] == "SZSS-01" and slots["report_location"] == "宝安区新湖路"
    assert "建筑垃圾" not in slots["report_description"] and slots["report_external_id"] != "e2"
    [draft] = slots["report_drafts"]
    assert (draft["report_code"], draft["report_description"], draft["report_external_id"]) == (
        "SRHJ-06", "路边有一堆建筑垃圾没人清", "e2")
    assert said(messages) == [texts.render("utter_report_switched", new="井盖缺失破损", old="建筑垃圾渣土")]


async def test_another_matter_inside_the_form_is_referred_and_nothing_is_taken_for_the_place(svc):
    events, messages = await run(a.ValidateReportForm(), load_tracker("place_other_matter"))
    assert slots_of(events) == {"form_turn": "digression"}     # the form asks "在哪里" again
    assert "12333" in said(messages)[0]


async def test_a_progress_question_inside_the_form_gets_the_progress(svc, hub):
    case_id = await file_case(hub, code="SZSS-02", address="福田区红荔路")
    events, messages = await run(a.ValidateReportForm(), load_tracker("place_progress_question"))
    assert slots_of(events) == {"last_case_id": case_id, "form_turn": "digression"}
    assert said(messages)[0].startswith(f"案件{case_id}（路灯故障）")


async def test_an_emergency_is_rejected_by_the_form_so_that_the_emergency_rule_answers_it(svc):
    events, messages = await run(a.ValidateReportForm(), load_tracker("place_emergency"))
    assert events == [] and messages == []


async def test_an_emergency_inside_the_form_answers_first_and_keeps_the_report_without_asking_again(svc):
    events, messages = await run(a.ActionEmergency(), load_tracker("place_emergency"))
    text = said(messages)
    assert text[0].startswith("情况紧急！请立即拨打119") and "不要贸然下去施救" in text[0]
    assert text[1] == texts.render("utter_emergency_offer_draft", service="井盖缺失破损")
    assert [b["payload"] for b in messages[1]["buttons"]] == ["/resume_report"]
    assert not any("在哪里" in t for t in text)
    assert events[:2] == [ActiveLoop(None), SlotSet("requested_slot", None)]
    [draft] = slots_of(events)["report_drafts"]
    assert draft["report_description"] == "宝安区前进一路有个井盖丢了" and draft["offered"] is True


async def test_an_emergency_with_a_city_hazard_offers_to_file_it_never_requires_it(svc, hub):
    events, messages = await run(a.ActionEmergency(), load_tracker("emergency_hazard"))
    assert said(messages)[0].startswith("情况紧急！请立即拨打119（火警、燃气泄漏、救援）。")
    assert said(messages)[1] == texts.render("utter_emergency_offer_hazard", service="井盖缺失破损")
    [draft] = slots_of(events)["report_drafts"]
    assert (draft["report_code"], draft["report_location"]) == ("SZSS-01", "福田区新闻路")
    assert await hub.list_requests() == []


async def test_resume_takes_the_newest_draft_back_into_the_form(svc):
    events, _ = await run(a.ActionResumeReport(), load_tracker("resume_draft", now=str(time.time())))
    slots = slots_of(events)
    assert (slots["report_code"], slots["report_location"], slots["report_external_id"]) == (
        "SRHJ-07", "南山区学府路", "d1")
    assert slots["report_drafts"] is None and events[-1] == FollowupAction("report_form")


async def test_resume_without_a_draft_says_so(svc):
    events, messages = await run(a.ActionResumeReport(), load_tracker("resume_draft", now="0"))  # stale
    assert said(messages) == [texts.render("utter_no_draft")] and FollowupAction("report_form") not in events


async def test_after_filing_the_waiting_draft_is_offered_once(svc, hub):
    tracker = load_tracker("submit_report")
    tracker.slots["report_drafts"] = [{"report_description": "路边有一堆建筑垃圾没人清", "report_code": "SRHJ-06",
                                       "at": time.time(), "offered": False}]
    events, messages = await run(a.ActionSubmitReport(), tracker)
    assert "案件编号" in said(messages)[0]
    assert said(messages)[1] == texts.render("utter_draft_offer", service="建筑垃圾渣土", description="路边有一堆建筑垃圾没人清")
    assert [b["title"] for b in messages[1]["buttons"]] == ["继续反映", "不用了"]
    assert slots_of(events)["report_drafts"][0]["offered"] is True
    tracker.slots["report_drafts"] = slots_of(events)["report_drafts"]
    _, messages = await run(a.ActionSubmitReport(), tracker)
    assert len(said(messages)) == 1     # not offered twice


async def test_two_problems_in_one_message_become_a_report_and_a_draft_at_the_same_place(svc):
    tracker = load_tracker("report_clear_with_photo")
    tracker.latest_message["text"] = "人民路128号门口井盖坏了，旁边的路灯也不亮"
    slots = slots_of((await run(a.ActionStartReport(), tracker))[0])
    assert slots["report_code"] == "SZSS-01"
    [draft] = slots["report_drafts"]
    assert (draft["report_code"], draft["report_description"], draft["report_location"]) == (
        "SZSS-02", "旁边的路灯也不亮", "人民路128号门口")
