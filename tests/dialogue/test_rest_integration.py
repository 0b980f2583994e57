"""End to end through Rasa's REST channel: real Rasa server + real action server + real hub, all on loopback.

Needs .venv-rasa and a trained model that includes the dialogue domain (CITYBOT_DIALOGUE_MODEL, or the newest
such archive in models/); skipped with the reason otherwise.
"""

from __future__ import annotations

import json

import httpx
import pytest

from stack import Stack, png

pytestmark = pytest.mark.rasa


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def cases_of(stack: Stack, sender: str) -> list[dict]:
    return httpx.get(f"{stack.hub_url}/open311/v2/requests.json",
                     params={"account_id": f"tg:{sender}", "api_key": "citybot-dev-key"}, timeout=10).json()


def press(stack: Stack, sender: str, replies: list[dict], title: str) -> list[dict]:
    payload = next(b["payload"] for r in replies for b in r.get("buttons") or () if title in b["title"])
    return stack.say(sender, payload)


def drive_report(stack: Stack, sender: str, text: str, metadata: dict, place: str, code: str) -> list[dict]:
    """Answer whatever the bot asks (category buttons, place, confirmation) until it files."""
    replies = stack.say(sender, text, metadata)
    seen = [replies]
    for _ in range(6):
        said = texts(replies)
        buttons = [b for r in replies for b in r.get("buttons") or ()]
        if "案件编号" in said or "已有市民反映" in said:
            return seen
        choose = next((b["payload"] for b in buttons if code in b["payload"]), None)
        if choose:
            replies = stack.say(sender, choose)
        elif "在哪里" in said:
            replies = stack.say(sender, place)
        elif "确认提交吗" in said:
            replies = stack.say(sender, "/affirm")
        else:
            raise AssertionError(f"unexpected bot turn: {json.dumps(seen, ensure_ascii=False)}")
        seen.append(replies)
    raise AssertionError(f"the report was not filed: {json.dumps(seen, ensure_ascii=False)}")


def test_report_in_chinese_with_a_photo_is_filed_and_followed(stack):
    hub = httpx.Client(base_url=stack.hub_url)
    up = hub.post("/media", params={"api_key": "citybot-dev-key"}, files={"file": ("p.png", png(), "image/png")})
    assert up.status_code == 201, up.text
    photo = up.json()["media_url"]

    assert "城市管理服务助手" in texts(stack.say("777001", "你好"))

    turns = drive_report(stack, "777001", "人民路128号门口的井盖没了，晚上很危险", {"photos": [photo]},
                         "人民路128号门口", "SZSS-01")
    final = texts(turns[-1])
    [case] = hub.get("/open311/v2/requests.json", params={"account_id": "tg:777001", "api_key": "citybot-dev-key"}).json()
    assert f"案件编号：{case['service_request_id']}" in final and "区市政设施管理所" in final
    assert case["service_code"] == "SZSS-01"
    assert "人民路128号" in case["address"]
    assert "井盖没了" in case["description"]
    assert case["media_url"] == photo
    assert case["channel"] == "chat"

    # the NLU's category property reached the action server in tracker.latest_message
    tracker = httpx.get(f"{stack.rasa_url}/conversations/777001/tracker", timeout=10).json()
    first = next(e for e in tracker["events"] if e["event"] == "user" and "井盖" in (e.get("text") or ""))
    assert first["parse_data"]["category"]["service_code"] == "SZSS-01"

    progress = texts(stack.say("777001", f"查下{case['service_request_id']}"))
    assert case["service_request_id"] in progress and "区市政设施管理所" in progress
    assert case["service_request_id"] in texts(stack.say("777001", "我的爆料"))


def test_not_city_management_files_nothing(stack):
    reply = texts(stack.say("777002", "老板拖欠工资三个月了，找谁"))
    assert "12333" in reply
    hub = httpx.Client(base_url=stack.hub_url)
    assert hub.get("/open311/v2/requests.json", params={"account_id": "tg:777002", "api_key": "citybot-dev-key"}).json() == []


def test_an_emergency_inside_a_report_is_answered_first_and_the_report_waits_as_a_draft(stack):
    sender = "777101"
    assert "确认提交吗" in texts(stack.say(sender, "宝安区前进二路有个井盖丢了"))
    answer = stack.say(sender, "刚刚有个小孩掉进去了，出不来")
    said = texts(answer)
    assert said.startswith("情况紧急！请立即拨打119") and "确认提交吗" not in said and "在哪里" not in said
    assert cases_of(stack, sender) == []
    replies = press(stack, sender, answer, "继续反映")   # offered, never required
    assert "确认提交吗" in texts(replies) and "前进二路" in texts(replies)
    assert "案件编号" in texts(stack.say(sender, "/affirm"))
    [case] = cases_of(stack, sender)
    assert case["service_code"] == "SZSS-01" and "前进二路" in case["address"]


def test_a_correction_at_the_confirmation_changes_the_place_and_only_the_confirmation_files(stack):
    sender = "777102"
    stack.say(sender, "福田区香梅路的路灯不亮")
    said = texts(stack.say(sender, "说错了，是在红荔路"))
    assert "已为您更正" in said and "红荔路" in said and "确认提交吗" in said
    assert cases_of(stack, sender) == []
    stack.say(sender, "/affirm")
    [case] = cases_of(stack, sender)
    assert "红荔路" in case["address"] and "香梅路" not in case["address"]


def test_a_question_on_another_matter_is_answered_and_the_place_asked_again(stack):
    sender = "777103"
    assert "在哪里" in texts(stack.say(sender, "人行道的地砖松了好几块"))
    said = texts(stack.say(sender, "对了，社保断交了怎么补"))
    assert "12333" in said and "在哪里" in said
    said = texts(stack.say(sender, "罗湖区笋岗路"))
    assert "确认提交吗" in said and "笋岗路" in said and "社保" not in said.split("：", 1)[1].split("：")[0]


def test_a_place_said_first_is_used_by_the_next_report(stack):
    sender = "777104"
    assert "南光路" in texts(stack.say(sender, "我现在在南山区南光路和登良路交叉口"))
    said = texts(stack.say(sender, "这个路口的红绿灯不亮了"))
    assert "确认提交吗" in said and "南光路" in said and "在哪里" not in said


def test_another_problem_is_reported_apart_and_the_first_is_offered_afterwards(stack):
    sender = "777105"
    stack.say(sender, "路边有一堆建筑垃圾没人清")
    said = texts(stack.say(sender, "另外旁边的井盖也不见了，就在宝安区兴华一路"))
    assert "另一个问题" in said and "确认提交吗" in said
    filed = stack.say(sender, "/affirm")
    assert "案件编号" in texts(filed) and "建筑垃圾" in texts(filed)       # the draft is offered
    [case] = cases_of(stack, sender)
    assert case["service_code"] == "SZSS-01" and "建筑垃圾" not in case["description"]


def test_a_utility_outage_gets_its_line_even_inside_a_report(stack):
    assert "95598" in texts(stack.say("777106", "我们整栋楼停水了"))
    stack.say("777107", "路面有好几个大坑")
    said = texts(stack.say("777107", "对了我家停电了找谁"))
    assert "95598" in said and "在哪里" in said
