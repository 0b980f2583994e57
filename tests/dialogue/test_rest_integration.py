"""End to end through Rasa's REST channel: real Rasa server + real action server + real hub, all on loopback.

Needs .venv-rasa and a trained model that includes the dialogue domain (CITYBOT_DIALOGUE_MODEL, or the newest
such archive in models/); skipped with the reason otherwise.
"""

from __future__ import annotations

import json

import httpx
import pytest

from stack import Stack, model_or_skip, png

pytestmark = pytest.mark.rasa


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    model = model_or_skip()
    with Stack(tmp_path_factory.mktemp("stack"), model) as s:
        yield s


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


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
