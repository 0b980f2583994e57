"""Reading a turn inside the report form (actions/interpret.py), one test per kind of answer."""

from __future__ import annotations

import pytest

from actions import interpret as i
from actions import message, texts
from citybot import catalogue

CAT = catalogue.load()
GROUP = {s.code: c.name for c in CAT.categories for s in c.subcategories}


def turn(text: str, intent: str = "report_problem", code: str | None = None, conf: float = 0.95, *,
         referral: str | None = None, place: str | None = None, lat: float | None = None, photos=(),
         emergency: dict | None = None, entities=()) -> message.Turn:
    sub = CAT.by_code(code) if code else None
    msg = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": list(entities),
           "category": {"category": GROUP[code] if code else "其他", "subcategory": sub.name if sub else None,
                        "service_code": code, "confidence": conf, "referral": referral,
                        "alternatives": [{"service_code": code, "subcategory": sub.name, "confidence": conf}] if sub else []},
           "metadata": {}}
    if place:
        msg["location"] = {"text": place}
    if lat is not None:
        msg["metadata"]["location"] = {"lat": lat, "long": 114.05}
    if photos:
        msg["metadata"]["photos"] = list(photos)
    if emergency:
        msg["emergency"] = emergency
    return message.read(msg)


AT_PLACE = i.Form("report_location", "SZSS-02", description="路灯不亮")
AT_CONFIRM = i.Form("report_confirm", "SZSS-02", description="福田区香梅路的路灯不亮", location="福田区香梅路")
AT_CODE = i.Form("report_code", None, choices=({"service_code": "SZSS-02", "name": "路灯故障"},
                                               {"service_code": "SZSS-01", "name": "井盖缺失破损"}), description="路边有东西")


def read(t: message.Turn, form: i.Form) -> i.Reading:
    return i.read(t, form, CAT)


# -- answers ---------------------------------------------------------------------------------------------------
def test_a_place_the_nlu_found_answers_where():
    r = read(turn("在南山区南光路", "inform_location", place="南山区南光路"), AT_PLACE)
    assert (r.kind, r.slots["report_location"]) == (i.ANSWER, "南山区南光路")


def test_a_typed_place_the_nlu_missed_is_taken_without_its_lead_in():
    r = read(turn("就在那个小区北门旁边", "inform_location"), AT_PLACE)
    assert (r.kind, r.slots["report_location"]) == (i.ANSWER, "那个小区北门旁边")


def test_a_place_named_like_a_catalogue_keyword_is_a_place_not_another_problem():
    r = read(turn("罗湖区荔枝公园西门", "inform_location", "YLLH-07", place="罗湖区荔枝公园西门"), AT_PLACE)
    assert (r.kind, r.slots["report_location"]) == (i.ANSWER, "罗湖区荔枝公园西门")


def test_a_shared_location_answers_where_and_corrects_the_place_at_the_confirmation():
    assert read(turn("", "nlu_fallback", lat=22.54), AT_PLACE).kind == i.ANSWER
    r = read(turn("", "nlu_fallback", lat=22.54), AT_CONFIRM)
    assert (r.kind, r.slots["report_lat"], r.slots["report_location"]) == (i.CORRECTION, 22.54,
                                                                           "共享定位（22.54000, 114.05000）")


def test_only_a_confirmation_confirms():
    assert read(turn("确认", "affirm"), AT_CONFIRM).slots == {"report_confirm": True}
    assert read(turn("/affirm", "affirm"), AT_CONFIRM).slots == {"report_confirm": True}
    for text, intent in (("好的谢谢", "thanks"), ("哈哈", "chitchat"), ("嗯，晚上很黑", "report_problem")):
        assert "report_confirm" not in read(turn(text, intent), AT_CONFIRM).slots, text


def test_the_category_question_takes_a_button_a_typed_subcategory_or_neither():
    button = turn('/choose_subcategory{"service_code":"SZSS-02"}', "choose_subcategory",
                  entities=[{"entity": "service_code", "value": "SZSS-02"}])
    assert read(button, AT_CODE).slots == {"report_code": "SZSS-02"}
    assert read(turn("都不是，是井盖缺失破损", "deny"), AT_CODE).slots["report_code"] == "SZSS-01"
    neither = read(turn("都不是", "deny"), AT_CODE)
    assert neither.kind == i.NEITHER and neither.slots["report_choices"] is None
    assert read(turn("乱停车", "report_problem", "JMZX-03"), AT_CODE).slots["report_code"] == "JMZX-03"


# -- corrections -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,intent,place,expected", [
    ("说错了，是在新闻路", "affirm", "新闻路", "新闻路"),          # the NLU even called it a yes
    ("不对，是在高新南九道", "affirm", None, "高新南九道"),         # a place the NLU did not find
    ("不是香梅路，是红荔路", "deny", "香梅路", "红荔路"),           # the NLU found the wrong one
    ("我刚才说的是红荔路，不是香梅路。", "deny", "香梅路", "红荔路"),
    ("搞错了，应该在景田路那边", "report_problem", None, "景田路"),
])
def test_a_place_correction_changes_the_place_and_never_confirms(text, intent, place, expected):
    r = read(turn(text, intent, place=place), AT_CONFIRM)
    assert (r.kind, r.note, r.slots["report_location"]) == (i.CORRECTION, "place", expected)
    assert "report_confirm" not in r.slots


def test_a_subcategory_correction_changes_the_subcategory():
    r = read(turn("不是路灯，是红绿灯", "deny", "SZSS-02", 0.7), AT_CONFIRM)
    assert (r.kind, r.slots["report_code"]) == (i.CORRECTION, "SZSS-07")


def test_no_or_wrong_alone_at_the_confirmation_asks_what_to_change():
    for text in ("不对", "不是", "错了"):
        assert read(turn(text, "deny"), AT_CONFIRM).kind == i.ASK_CORRECTION, text


# -- another problem -------------------------------------------------------------------------------------------
def test_a_different_problem_is_a_new_report_with_its_own_place_never_merged():
    form = i.Form("report_location", "SRHJ-06", description="路边有一堆建筑垃圾没人清")
    r = read(turn("另外旁边的井盖也不见了，就在宝安区新湖路", "report_problem", "SZSS-01", place="宝安区新湖路"), form)
    assert r.kind == i.NEW_REPORT
    assert r.slots["report_code"] == "SZSS-01" and r.slots["report_location"] == "宝安区新湖路"
    assert "建筑垃圾" not in r.slots["report_description"]


def test_more_words_about_the_same_problem_are_added_not_taken_for_the_place():
    r = read(turn("灯杆也歪了", "report_problem", "SZSS-02"), AT_PLACE)
    assert (r.kind, r.slots) == (i.MORE, {"report_description": "路灯不亮 灯杆也歪了"})


# -- digressions, cancel, emergency ----------------------------------------------------------------------------
@pytest.mark.parametrize("text,intent,kind", [
    ("我之前报的那个处理了吗", "ask_progress", "ask_progress"),
    ("我的爆料", "list_cases", "list_cases"),
    ("你能做什么", "help", "help"),
    ("对了，医保卡丢了怎么补办", "not_city_management", "not_city_management"),
    ("你们城管几点下班啊", "chitchat", "chitchat"),
    ("这种情况一般要等多久？", "nlu_fallback", "question"),
])
def test_a_digression_is_answered_and_never_becomes_the_address(text, intent, kind):
    r = read(turn(text, intent, referral="social_security" if "医保" in text else None), AT_PLACE)
    assert (r.kind, r.digression) == (i.DIGRESSION, kind) and "report_location" not in r.slots


def test_a_utility_outage_inside_the_form_is_referred():
    r = read(turn("对了我家停电了找谁", "report_problem", conf=0.97, referral="water_power_gas"), AT_PLACE)
    assert (r.kind, r.digression) == (i.DIGRESSION, "not_city_management")


@pytest.mark.parametrize("text,intent", [("算了不报了", "chitchat"), ("不报了，谢谢", "thanks"), ("/deny", "deny"),
                                         ("取消", "cancel")])
def test_never_mind_cancels(text, intent):
    assert read(turn(text, intent), AT_CONFIRM).slots == {"report_confirm": False}


def test_an_emergency_is_never_an_answer():
    em = {"kinds": ["trapped"], "lines": ["119"]}
    for form in (AT_PLACE, AT_CONFIRM, AT_CODE):
        assert read(turn("有人掉进去了", "emergency", emergency=em), form).kind == i.EMERGENCY


# -- a place the citizen cannot name -----------------------------------------------------------------------------
def test_a_place_is_asked_again_once_then_taken_as_said():
    first = read(turn("我也不太清楚叫什么路", "inform_location", place="清楚叫什么路"), AT_PLACE)
    assert first.kind == i.UNKNOWN and first.slots == {"report_place_tries": 1}
    again = i.Form("report_location", "SZSS-02", description="路灯不亮", place_tries=1)
    r = read(turn("反正就是学校后面", "inform_location"), again)
    assert (r.kind, r.slots["report_location"]) == (i.ANSWER, "反正就是学校后面")
    r = read(turn("我说不清", "deny"), again)
    assert r.slots["report_location"] == texts.render("utter_place_vague", words="我说不清")


def test_place_sanity_check():
    for text in ("南山区南光路", "学校后面", "那个大超市对面"):
        assert i.looks_like_place(text, CAT), text
    for text in ("公积金怎么提取", "路边有个大坑", "不知道", "晚上很黑", "井盖旁边也有个坑"):
        assert not i.looks_like_place(text, CAT), text


def test_a_second_problem_in_the_same_message_is_found_with_its_own_words():
    assert i.other_problems("滨江路上垃圾堆成山，旁边的路灯也坏了", "SRHJ-01", CAT) == [("SZSS-02", "旁边的路灯也坏了")]
    assert i.other_problems("路灯不亮，晚上井盖都看不见", "SZSS-02", CAT) == []     # mentioned, not reported
    assert i.other_problems("井盖坏了，很危险", "SZSS-01", CAT) == []
