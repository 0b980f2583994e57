"""nlu.location: place spans and their normalised parts (spaCy blank zh + jieba + gazetteer)."""

import pytest

from nlu import location


@pytest.fixture(scope="module")
def extractor():
    return location.build()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("龙华区国贸北路怡景花园A座门口井盖没了",
         {"text": "龙华区国贸北路怡景花园A座门口", "district": "龙华区", "road": "国贸北路", "landmark": "怡景花园",
          "number": "A座", "position": "门口"}),
        ("南山大道与桂庙路交叉口有积水",
         {"text": "南山大道与桂庙路交叉口", "road": "南山大道", "cross_road": "桂庙路", "position": "交叉口"}),
        ("金牛岭公园正门口的树倒了", {"text": "金牛岭公园正门口", "landmark": "金牛岭公园", "position": "正门口"}),
        ("深圳市福田区华强北路1号有人乱摆摊",
         {"city": "深圳市", "district": "福田区", "road": "华强北路", "number": "1号"}),
        ("市民来电反映：秀英区长滨三路与长滨四路交叉口附近有人占道经营",
         {"city": "海口市", "district": "秀英区", "road": "长滨三路", "cross_road": "长滨四路"}),
        ("琼山区府城街道红城湖路88号楼下", {"district": "琼山区", "road": "红城湖路", "number": "88号"}),
    ],
)
def test_extracts_and_normalises_places(extractor, text, expected):
    best = extractor.best(text)
    assert best is not None
    for key, value in expected.items():
        assert best[key] == value, (key, best)


def test_span_offsets_point_into_the_text(extractor):
    text = "我在滨海大道和龙昆北路交汇处，路灯不亮"
    [place] = extractor.extract(text)
    assert text[place["start"]:place["end"]] == place["text"] == "滨海大道和龙昆北路交汇处"


@pytest.mark.parametrize("text", ["我家门口路灯坏了", "你好", "这个城市的道路很脏", "谢谢你们"])
def test_no_place_no_answer(extractor, text):
    assert extractor.best(text) is None


@pytest.mark.parametrize(
    "text", ["", "   ", "😀" * 50, "路" * 10_000, "\x00\x01<script>x</script>", "Main Street 5", "路路路口口口区区区", None]
)
def test_never_raises(extractor, text):
    assert isinstance(extractor.extract(text), list)


@pytest.mark.parametrize("text", ["这条路的路灯坏了", "那个小区门口很脏", "整条街都是小广告"])
def test_demonstratives_are_not_place_names(extractor, text):
    assert extractor.best(text) is None
