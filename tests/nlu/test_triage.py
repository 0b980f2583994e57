"""The intent's last word (nlu/triage.py): emergency first, then the category where the two classifiers disagree."""

from __future__ import annotations

from nlu.triage import decide


def cat(code=None, conf=0.95, referral=None, group="市政设施"):
    return {"category": group if code else "其他", "service_code": code, "confidence": conf, "referral": referral}


def test_danger_to_people_is_an_emergency_with_its_lines_whatever_the_classifier_said():
    intent, em = decide("路口的电线断了掉在地上冒火花", "report_problem", 0.99, cat("SZSS-09"))
    assert intent == "emergency" and em["lines"] == ["119"] and em["source"] == "rules"


def test_the_classifiers_emergency_counts_only_when_very_sure_and_else_gives_way():
    intent, em = decide("那边情况很不对劲", "emergency", 0.95, cat())
    assert intent is None and em["lines"] == ["119", "110", "120"] and em["source"] == "classifier"
    ranking = [{"name": "emergency", "confidence": 0.5}, {"name": "report_problem", "confidence": 0.3}]
    assert decide("井盖没了很危险", "emergency", 0.5, cat("SZSS-01"), ranking) == ("report_problem", None)


def test_a_report_of_another_matter_is_referred():
    assert decide("家里停水了", "report_problem", 0.9, cat(conf=0.97, referral="water_power_gas")) == (
        "not_city_management", None)
    assert decide("我要投诉", "report_problem", 0.9, cat(conf=0.6, referral="default")) == (None, None)


def test_unplaced_messages_about_a_city_problem_are_reports():
    assert decide("乱停车", "nlu_fallback", 0.3, cat("JMZX-03", 1.0, group="街面秩序")) == ("report_problem", None)
    assert decide("今天好热啊", "chitchat", 0.9, cat(conf=0.9)) == (None, None)


def test_a_place_that_says_more_than_the_place_is_a_report():
    loc = {"text": "龙华区东环二路路边"}
    assert decide("龙华区东环二路路边堆了好多沙石", "inform_location", 0.8, cat("JMZX-06", 1.0), location=loc) == (
        "report_problem", None)
    loc = {"text": "罗湖区荔枝公园西门"}
    assert decide("罗湖区荔枝公园西门", "inform_location", 0.99, cat("YLLH-07", 0.95), location=loc) == (None, None)


def test_a_progress_question_must_ask_about_progress():
    assert decide("福田区金田路有辆僵尸车停了一个多月", "ask_progress", 0.6, cat("JMZX-03", 1.0)) == ("report_problem", None)
    assert decide("上次反映的井盖修好了没", "ask_progress", 0.9, cat("SZSS-01", 1.0)) == (None, None)


def test_adding_to_an_earlier_report_is_a_detail():
    assert decide("补充一下，压坏的地方有十几米长", "report_problem", 0.8, cat("YLLH-03", 0.6)) == ("add_detail", None)


def test_a_detail_that_names_a_place_and_no_earlier_report_is_a_new_report():
    loc = {"text": "福田区金田路"}
    assert decide("福田区金田路有辆僵尸车停了一个多月", "add_detail", 0.4, cat("JMZX-03", 1.0), location=loc) == (
        "report_problem", None)
    assert decide("另外那辆车又停回金田路了", "add_detail", 0.8, cat("JMZX-03", 1.0), location=loc) == (None, None)


def test_the_classifier_alone_never_calls_a_risk_an_emergency():
    ranking = [{"name": "emergency", "confidence": 0.95}, {"name": "report_problem", "confidence": 0.04}]
    assert decide("高压线下面有人钓鱼，怕会触电", "emergency", 0.95, cat(), ranking) == ("report_problem", None)


def test_a_place_that_also_names_its_problem_is_a_report():
    loc = {"text": "福田区景田北路鹏盛村门口"}
    assert decide("福田区景田北路鹏盛村门口井盖没了", "inform_location", 0.8, cat("SZSS-01", 1.0), location=loc,
                  keywords=("井盖缺失破损", "井盖", "井盖没了")) == ("report_problem", None)
    loc = {"text": "罗湖区荔枝公园"}
    assert decide("我在罗湖区荔枝公园", "inform_location", 0.9, cat("YLLH-07", 0.95), location=loc,
                  keywords=("公园设施损坏", "健身器材")) == (None, None)
