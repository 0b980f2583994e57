"""The trained model through its public interface: the NLU worker, via nlu.client.NLUClient."""

import pytest

from citybot import catalogue

# the session fixture may train the model first (about 3 minutes)
pytestmark = [pytest.mark.rasa, pytest.mark.timeout(900)]

LABELS = set(catalogue.load().labels)


def check_answer(answer: dict) -> None:
    c = answer["category"]
    assert c["category"] in LABELS
    assert 0.0 <= c["confidence"] <= 1.0
    assert len(c["alternatives"]) <= 3
    confidences = [a["confidence"] for a in c["alternatives"]]
    assert confidences == sorted(confidences, reverse=True)
    if c["category"] == catalogue.OTHER:
        assert c["service_code"] is None
    else:
        sub = catalogue.load().by_code(c["service_code"])
        assert sub is not None and sub.category == c["category"] and sub.name == c["subcategory"]
    assert isinstance(answer["entities"], list)
    assert answer["location"] is None or isinstance(answer["location"].get("text"), str)


@pytest.mark.parametrize(
    "text, category, code",
    [
        ("我家楼下的井盖不见了，好危险", "市政设施", "SZSS-01"),
        ("这条路的路灯晚上一直不亮", "市政设施", "SZSS-02"),
        ("小区门口的垃圾堆了好几天没人清理，臭死了", "市容环境", None),
        ("电线杆上全是办证的小广告", "市容环境", "SRHJ-03"),
        ("人行道上有人摆摊卖水果，路都走不了", "街面秩序", None),
        ("有人在小区门口的消防通道乱停车", "街面秩序", "JMZX-03"),
        ("台风把路边的大树刮倒了，压在路上", "园林绿化", "YLLH-01"),
        ("绿化带里杂草长得比人还高", "园林绿化", None),
        ("我的社保卡丢了怎么补办", "其他", None),
        ("我的电动车昨晚被偷了", "其他", None),
    ],
)
def test_categories_of_clear_reports(nlu, text, category, code):
    answer = nlu.parse(text)
    check_answer(answer)
    assert answer["category"]["category"] == category, answer["category"]
    if code:
        assert answer["category"]["service_code"] == code, answer["category"]


def test_not_city_management_carries_a_referral(nlu):
    c = nlu.parse("我的电动车昨晚在楼下被偷了，怎么办")["category"]
    assert c["category"] == "其他"
    assert c["referral"] in catalogue.load().referrals


def test_category_reaches_entities_too(nlu):
    answer = nlu.parse("南海大道与金盘路交叉口的井盖没了")
    codes = [e for e in answer["entities"] if e["entity"] == "service_code"]
    assert codes and codes[0]["value"] == answer["category"]["service_code"] == "SZSS-01"
    locations = [e for e in answer["entities"] if e["entity"] == "location"]
    assert locations and locations[0]["value"] == answer["location"]["text"]
    assert answer["location"]["road"] == "南海大道" and answer["location"]["cross_road"] == "金盘路"


def test_hotline_style_record(nlu):
    answer = nlu.parse("市民来电反映：美兰区海甸五西路某小区门口有人长期占用人行道摆摊经营，希望相关部门尽快处理。")
    assert answer["category"]["category"] == "街面秩序"
    assert answer["location"]["district"] == "美兰区"


def test_whole_places_through_the_pipeline(nlu):
    answer = nlu.parse("罗湖区宝安南路翠竹小学门口和对面的好又多超市旁边有人摆摊，红荔路那边也有")
    assert answer["location"]["text"] == "罗湖区宝安南路翠竹小学门口和对面的好又多超市旁边"
    assert answer["location"]["road"] == "宝安南路" and answer["location"]["landmark"] == "翠竹小学"
    places = [e["value"] for e in answer["entities"] if e["entity"] == "location"]
    assert places == [answer["location"]["text"], "红荔路那边"]  # every place, the main one first
    assert nlu.parse("泥岗那边晚上有人烧垃圾")["location"]["text"] == "泥岗那边"  # no road suffix
    assert "location" not in nlu.parse("请问路灯坏了找谁") or nlu.parse("请问路灯坏了找谁")["location"] is None


def test_dialogue_intents_and_regex_entities(nlu):
    assert nlu.parse("你好")["intent"]["name"] == "greet"
    answer = nlu.parse("帮我查一下20261124000123的进度")
    assert [e["value"] for e in answer["entities"] if e["entity"] == "case_id"] == ["20261124000123"]
    answer = nlu.parse("给五星")
    assert [e["value"] for e in answer["entities"] if e["entity"] == "rating"] == ["5"]


def test_traditional_characters_are_understood(nlu):
    answer = nlu.parse("這裡的井蓋壞了，請盡快處理")
    assert answer["category"]["service_code"] == "SZSS-01"


@pytest.mark.parametrize(
    "text",
    [
        "", "   ", "\n\t", "😀😀😀🎉", "Hello, is anyone there?", "井" * 10_000, "路灯" * 5000,
        "\x00\x01\x02井盖\x7f", "<script>alert(1)</script><b>路灯</b>", "abc井盖123🎉def", "/restart", "{}[]",
    ],
)
def test_bad_input_gets_a_valid_answer(nlu, text):
    answer = nlu.parse(text)
    check_answer(answer)
    c = answer["category"]
    if not text.strip() or text in ("😀😀😀🎉", "Hello, is anyone there?", "{}[]"):
        assert c["category"] == "其他" or c["confidence"] < 0.5, c


def test_parse_many_keeps_order(nlu):
    texts = ["井盖没了", "你好", "路灯不亮", "绿化带没人管"]
    answers = nlu.parse_many(texts)
    assert [a["text"] for a in answers] == texts
