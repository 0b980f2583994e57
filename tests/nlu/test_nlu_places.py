"""Whole places through the extractor's API (nlu.location): every kind of place a report names, as one span with
its normalised parts, the main place first; and what is not a place. Own examples (Shenzhen and invented places)."""

import pytest

from citybot import places
from nlu import location


@pytest.fixture(scope="module")
def extractor():
    return location.build()


@pytest.mark.parametrize(
    "text, span, parts",
    [
        # district -> road -> number -> compound/building -> position, one span
        ("福田区福中三路88号星河中心B座门口的井盖没了", "福田区福中三路88号星河中心B座门口",
         {"district": "福田区", "city": "深圳市", "road": "福中三路", "number": "88号B座", "landmark": "星河中心",
          "position": "门口"}),
        # road and a landmark, then the shop across the road
        ("市民来电反映：罗湖区宝安南路翠竹小学门口和对面的好又多超市旁边有人摆摊", "罗湖区宝安南路翠竹小学门口和对面的好又多超市旁边",
         {"road": "宝安南路", "landmark": "翠竹小学", "position": "门口"}),
        # a village, a direction and a stretch of road
        ("宝安区松岗街道红星村往楼岗村方向约200米路段有人焚烧垃圾", "宝安区松岗街道红星村往楼岗村方向约200米路段",
         {"district": "宝安区", "subdistrict": "松岗街道"}),
        # cross roads
        ("南山区科苑大道与侨城东路交叉口的红绿灯不亮", "南山区科苑大道与侨城东路交叉口",
         {"road": "科苑大道", "cross_road": "侨城东路", "position": "交叉口"}),
        # a compound's phase and a shop inside it
        ("龙岗区布心花园2期商业街的烧烤店油烟很大", "龙岗区布心花园2期商业街的烧烤店", {"landmark": "布心花园", "number": "2期"}),
        # numbered roads (Shenzhen's X道) with a mall at the gate
        ("南山区创业三道万象广场门口有积水", "南山区创业三道万象广场门口",
         {"road": "创业三道", "landmark": "万象广场", "position": "门口"}),
        # a house number range and a road part
        ("人民北路26号至29号门前人行道被占了", "人民北路26号至29号门前人行道", {"road": "人民北路"}),
        # no road suffix: POI heads
        ("红岭地铁站C出口有人派发小广告", "红岭地铁站C出口", {"landmark": "红岭地铁站"}),
        ("莲花北村门口的垃圾桶满了", "莲花北村门口", {"landmark": "莲花北村", "position": "门口"}),
        ("景秀中学附近有流动摊贩", "景秀中学附近", {"landmark": "景秀中学", "position": "附近"}),
        ("桂园步行街有人占道经营", "桂园步行街", {"landmark": "桂园步行街"}),
        # a proper name before a position, "X那边", "X那家店", known areas (gazetteer data), "在X"
        ("泥岗那边晚上有人烧烤", "泥岗那边", {"landmark": "泥岗", "position": "那边"}),
        ("翠竹那家便利店门口垃圾很多", "翠竹那家便利店门口", {"landmark": "翠竹便利店", "position": "门口"}),
        ("蛇口有人乱摆摊", "蛇口", {"city": "深圳市"}),
        ("八卦岭这边路灯全黑了", "八卦岭这边", {"landmark": "八卦岭", "position": "这边"}),
        # a direction, a distance and the shop there; "A到B这段路"; "X靠近Y处"; across from a landmark
        ("宝安区松岗镇红星小学往高铁桥方向两百米处宏达物业商铺前有垃圾", "宝安区松岗镇红星小学往高铁桥方向两百米处宏达物业商铺前",
         {"district": "宝安区", "landmark": "红星小学"}),
        ("金田路的好又多蛋糕店到万科酒店这段路有人摆摊", "金田路的好又多蛋糕店到万科酒店这段路",
         {"road": "金田路", "landmark": "好又多蛋糕店"}),
        ("布心村靠近好又多超市处有垃圾", "布心村靠近好又多超市处", {}),
        ("红荔路消防基地斜对面万科城路口井盖坏了", "红荔路消防基地斜对面万科城路口",
         {"road": "红荔路", "landmark": "消防基地", "position": "斜对面"}),
        ("沙河村往东50米左右的侨城东路上道路中间有个坑", "沙河村往东50米左右的侨城东路上道路中间", {}),
        # the district's short form before a road
        ("福田福中三路有个坑", "福田福中三路", {"district": "福田区", "road": "福中三路"}),
        # a one-character prefix jieba cuts off a name (下/梅林, 上/梅林, 前/海湾) stays with it after a boundary
        ("下梅林市场门口垃圾很多", "下梅林市场门口", {"position": "门口"}),
        ("在上梅林地铁站B出口有人发小广告", "上梅林地铁站B出口", {}),
        ("昨晚十点多，前海湾公园门口井盖没了", "前海湾公园门口", {"position": "门口"}),
    ],
)
def test_whole_places(extractor, text, span, parts):
    found = extractor.extract(text)
    assert found, text
    main = found[0]
    assert main["text"] == span
    assert text[main["start"]:main["end"]] == span
    for key, value in parts.items():
        assert main[key] == value, (key, main)


def test_every_place_main_first(extractor):
    text = "红荔路往东的路边，就在福田区金田路68号卓越大厦门口，垃圾一直没人清"
    found = extractor.extract(text)
    assert [f["text"] for f in found] == ["福田区金田路68号卓越大厦门口", "红荔路往东的路边"]
    assert found[0]["number"] == "68号"


@pytest.mark.parametrize(
    "text",
    ["请问路灯坏了找谁", "工作人员正在铺路", "你们什么时候来处理", "我家门口路灯坏了", "这条路的路灯坏了",
     "垃圾已经三天没人收了", "那个小区门口很脏", "学校旁边好多垃圾", "谢谢，我知道了", "能不能快点派人来修一下"],
)
def test_non_places_are_not_places(extractor, text):
    assert extractor.best(text) is None


def test_parts_come_from_the_one_normaliser(extractor):
    best = extractor.best("福田区福中三路88号门口的井盖没了")
    parsed = places.parse(best["text"]).parts()
    assert {k: best[k] for k in parsed} == parsed


@pytest.mark.parametrize(
    "text, parts",
    [
        ("罗湖区宝安南路与深南东路交叉口", {"district": "罗湖区", "road": "宝安南路", "cross_road": "深南东路"}),
        ("宝安南路和深南东路路口", {"road": "宝安南路", "cross_road": "深南东路", "position": "路口"}),
        ("福中三路八十八号楼下", {"road": "福中三路", "number": "八十八号", "position": "楼下"}),
        ("广东省深圳市南山区科苑大道3号", {"city": "深圳市", "district": "南山区", "road": "科苑大道", "number": "3号"}),
        ("梅州市梅江区江南路8号", {"city": "梅州市", "district": "梅江区", "road": "江南路"}),  # any city: national table
    ],
)
def test_parse_names_the_parts(text, parts):
    got = places.parse(text).parts()
    for key, value in parts.items():
        assert got[key] == value, (key, got)
