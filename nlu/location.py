"""Place extraction for Chinese messages, built on spaCy (blank "zh" + jieba segmenter).

Finds every place a message names, as the whole place a field worker needs — district → road / cross road →
house number → compound, building, landmark or shop → relative position (门口, 对面, 往X方向, 路段) — one span per
place, the main (most complete) one first. Normalised parts come from `citybot.places.parse`, the one normaliser the
hub's duplicate rule and the geocoder use too.

How a span is found (no list of street names; it works for any city):
1. jieba tokens are tagged: city/district (nlu/gazetteer), road (…路 街 大道 巷…), administrative unit (…镇 村 社区
   岛…), POI (a name + a head such as 小区 广场 市场 学校 医院 地铁站 大厦 店…), known area or landmark
   (nlu/gazetteer/places.yml `areas`, data a city extends), house number, relative position, connector, name part.
   jieba's dictionary part of speech keeps verbs, pronouns and common words out of names.
2. Anchors (city, district, administrative unit, road, POI, known area; a proper name before a position:
   "X门口", "X那边", "X附近"; a proper name after 在/到: "在X") start a span.
3. The span grows right over names that end in a head, numbers (10号, 3栋, 26号至29号), positions, road parts
   (人行道, 非机动车道), distances (约150米), "往X方向", connectors that lead to another part (和对面…, 与X路),
   and 的 before another part; it stops at anything else (a verb, a problem word such as 井盖 or 垃圾, punctuation).
Runs in both virtualenvs (spaCy 3.4 in .venv-rasa, 3.8 in .venv); never raises on any input.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

import yaml

from citybot import places as P

ROOT = Path(__file__).resolve().parent.parent
GAZETTEER = ROOT / "nlu" / "gazetteer" / "places.yml"
USER_DICT = ROOT / "nlu" / "dict" / "citybot.txt"
MAX_CHARS = 2000

ROAD_SUFFIXES = P.ROAD_SUFFIXES + ("道",)
ADMIN_SUFFIXES = P.ADMIN_SUFFIXES
POI_SUFFIXES = tuple(sorted(set(P.POI_HEADS) | {"立交桥", "大桥", "天桥"}, key=len, reverse=True))
POSITIONS = frozenset(P.POSITIONS) | {"方向", "路段", "一段", "这段", "段", "内", "里", "处", "上", "往东", "往西",
                                      "往南", "往北", "向东", "向西", "向南", "向北", "朝东", "朝西", "朝南", "朝北"}
# Positions strong enough to make a landmark of the proper name before them: 泥岗那边, 西丽附近.
NAME_POSITIONS = frozenset({"门口", "正门口", "大门口", "对面", "斜对面", "旁边", "附近", "周边", "那边", "这边", "那里",
                            "这里", "一带", "北门", "南门", "东门", "西门", "后门", "侧门", "路口", "门前", "隔壁", "楼下"})
# Parts of a road a worker is sent to; they continue a place, never start one.
ROAD_PARTS = frozenset({"人行道", "非机动车道", "机动车道", "车道", "辅道", "主道", "慢车道", "快车道", "路面", "马路",
                        "路中间", "马路中间", "道路中间", "斑马线", "人行横道", "人行天桥", "天桥", "隧道", "桥下", "桥底",
                        "路边", "路旁", "路段", "巷子", "小巷", "空地", "停车场", "绿化带", "花坛", "一楼", "二楼", "楼梯",
                        "院子", "巷道", "过道", "通道", "地下通道", "出口", "入口", "出入口", "路上"})
GATES = ("东门", "西门", "南门", "北门")
# One-character words that begin many place names and that jieba often cuts off: 后海, 大剧院, 下梅林, 老东门.
NAME_PREFIXES = frozenset("大小老新后前东西南北上下中")
# Words after which a place begins ("在后海滨路", "到大剧院").
LEAD_INS = frozenset({"在", "到", "去", "从", "于", "位于", "住在", "靠近", "近", "那个", "这个", "那边", "这边"})
CONNECTORS = ("与", "和", "跟", "及", "交", "、")
RANGE = ("到", "至", "往", "向", "朝", "靠近", "近", "距离", "离")
DEMONSTRATIVES = ("那家", "这家", "那个", "这个")
# Words ending in a place suffix that are not places.
NOT_PLACES = {
    "道路", "马路", "公路", "小路", "大路", "路", "街", "一路", "上路", "走路", "出路", "思路", "线路", "铁路", "网路",
    "过路", "半路", "铺路", "修路", "挡路", "堵路", "让路", "带路", "问路", "水路", "街道", "大街", "上街", "逛街",
    "市", "城市", "都市", "超市", "城", "进城", "园", "公园", "花园", "小区", "广场", "市场", "中心", "学校", "医院",
    "村", "农村", "社区", "区", "小区里", "新区", "城区", "市区", "片区", "景区", "园区", "校园", "家园", "桥", "天桥",
    "地区", "辖区", "我市", "本市", "全市", "该市", "本区", "该区", "本村", "该村", "全区", "县", "镇", "乡", "岛", "宝岛",
    "海岛", "工地", "政府", "街坊", "大楼", "楼盘", "现场", "当场", "立场", "下场", "商场", "店", "局", "厅", "港",
    "国际", "天地", "集团", "公司", "门店", "店铺", "铺面", "商铺", "宿舍", "河", "湖", "塔", "寺", "庙", "厂", "苑",
    "府", "庭", "湾", "处", "站", "车站", "全国", "国家", "中国", "管道", "知道", "报道", "味道", "频道", "渠道", "轨道",
    "通道", "车道", "步道", "人行道", "跑道", "街头", "街边", "路边", "路面", "路段", "路口", "道上",
    "楼", "楼层", "一楼", "二楼", "三楼", "楼顶", "楼道", "单位", "部门", "城管", "城管局",
}
# Tokens that never start or continue a place name.
STOP = set(
    "我 你 他 她 它 我们 你们 他们 我家 自己 在 于 到 从 往 向 把 被 给 的 地 得 了 着 过 是 有 没 没有 不 也 都 又 还 就 "
    "这 那 这个 那个 这里 那里 这边 那边 这儿 那儿 一个 个 些 很 太 非常 已经 一直 经常 总是 每天 天天 今天 昨天 "
    "晚上 早上 白天 半夜 上午 下午 凌晨 现在 最近 请 请问 麻烦 帮忙 谢谢 反映 反应 投诉 举报 咨询 来电 市民 表示 "
    "称 说 发现 看到 看见 住 住在 位于 就在 附近 经过 路过 导致 造成 影响 严重 希望 要求 处理 解决 核实 问题 情况 "
    "有人 一直 好多 很多 大量 多次 长期 好几 几天 天 旁 边 上 下 前 后 里 内 外 啊 吧 呢 吗 呀 哦 嘛 么 及 与 和 跟 "
    "交 、 或 还是 以及 对 对于 关于 因为 所以 但是 而且 如果 那么 然后 又 再 且 该 此 其 某 某某 "
    "哪里 哪儿 哪 什么 怎么 为什么 谁 多少 几 能 会 要 想 可以 应该 需要 找 打 叫 让 去 来 走 看 做 搞 弄 "
    "工作人员 人员 工作 车辆 车 人 老人 小孩 孩子 居民 业主 商户 商家 老板 司机 附近居民 周边居民 群众".split()
)
# Parts of speech of jieba's dictionary that never name a place (verbs, adjectives, adverbs, pronouns...).
NON_NAME_POS = ("v", "vd", "vn", "vg", "a", "ad", "an", "ag", "d", "dg", "r", "rr", "rz", "p", "c", "u", "uj", "ul",
                "uz", "ug", "uv", "ud", "y", "e", "o", "t", "tg", "z", "zg", "l", "i", "k", "h", "q", "mq")
# What a report is about: never part of a place name (besides the catalogue's keywords).
PROBLEM_NOUNS = set(
    "垃圾 污水 积水 油烟 噪音 杂物 车辆 汽车 货车 电动车 摩托车 自行车 单车 树木 树枝 树叶 大树 路灯 井盖 广告 摊贩 摊位 "
    "摊点 烟雾 黑烟 臭味 异味 粪便 泥土 泥沙 沙土 渣土 建筑垃圾 生活垃圾 污水管 水管 管道 电线 线缆 招牌 横幅 灯箱 "
    "护栏 栏杆 围挡 路面 坑洼 坑 洞 水沟 排水沟 下水道 化粪池 垃圾桶 垃圾箱 垃圾站 公厕 厕所 烧烤 夜宵 宵夜".split()
)
PROPER_POS = ("ns", "nt", "nz", "nr", "nrt", "nrfg", "j", "eng", "s")
_NUMBER = re.compile(r"^[0-9A-Za-z一二三四五六七八九十百零〇甲乙丙丁#\-]{1,8}$")
_NUMBER_WITH_UNIT = re.compile(r"^[0-9A-Za-z一二三四五六七八九十百零〇甲乙丙丁#\-]{1,8}(?:%s)$" % "|".join(P.NUMBER_UNITS))
_DISTANCE = re.compile(r"^(?:约|大约|大概)?[0-9一二三四五六七八九十百两几]+(?:多)?(?:米|公里|百米)(?:左右|处|远)?$")
_NAMEY = re.compile(r"^[\u4e00-\u9fffA-Za-z0-9]+$")
_DEMONSTRATIVE = re.compile(
    r"^(?:(?:这|那|哪|每|此|该|整|全|半|本|一|各|某|哪个|这个|那个)(?:条|个|段|片|些|边|里|座|栋|块|带|家|所|间)?"
    r"|我们|你们|他们|咱们|我家|附近|周边|旁边|对面|门口)$"
)
_DIRECTION_OR_ORDINAL = re.compile(r"^[东西南北中上下前后内外一二三四五六七八九十0-9]*$")

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=16)
def _suffix_set(suffixes: tuple[str, ...]) -> tuple[frozenset, int]:
    return frozenset(suffixes), max(len(s) for s in suffixes)


def _suffix(text: str, suffixes: tuple[str, ...]) -> str | None:
    """The longest of `suffixes` that ends `text` (set lookups)."""
    table, longest = _suffix_set(suffixes)
    for n in range(min(longest, len(text)), 0, -1):
        if text[-n:] in table:
            return text[-n:]
    return None


@functools.lru_cache(maxsize=1)
def gazetteer() -> dict:
    """{"alias": {written form: full name}, "cities": {...}, "districts": {...}, "areas": {name: city}}: the served
    cities' districts and short forms, every district in China (citybot.places), and the known areas and landmarks
    that have no suffix (places.yml `areas`)."""
    gaz = P.gazetteer()
    alias = {**{k: v for k, v in gaz.cities.items()}, **gaz.aliases}
    areas: dict[str, str] = {}
    if GAZETTEER.exists():
        raw = yaml.safe_load(GAZETTEER.read_text(encoding="utf-8")) or {}
        for city, info in (raw.get("cities") or {}).items():
            for area in info.get("areas") or ():
                areas[str(area)] = city
    return {"cities": gaz.cities, "districts": gaz.districts, "alias": alias, "areas": areas}


def _tag(t: str, prev: str | None, gaz: dict, problem_words: frozenset[str], pos: dict) -> str:
    """One token's class: CITY DISTRICT ALIAS AREA ADMIN ROAD POI (+ _BARE/_SHORT), NUM UNIT NUMERAL DIST POS
    RPART CONN RANGE DE DEM NAME PROPER or O."""
    prev_is_name = prev in NAMEISH
    if not t.strip():
        return "O"
    if t in gaz["areas"]:
        return "AREA"
    full = gaz["alias"].get(t)
    if full is not None:
        if t in gaz["cities"]:
            if not t.endswith("市") and prev in ("DISTRICT", "ADMIN", "ROAD", "CITY", "POI"):
                return "PROPER"  # 龙华区/大同/南街: a name, not the city 大同
            return "CITY"
        return "DISTRICT" if full == t else "ALIAS"
    if t in CONNECTORS:
        return "CONN"
    if t in RANGE:
        return "RANGE"
    if t == "的":
        return "DE"
    if t in DEMONSTRATIVES:
        return "DEM"
    if t in ROAD_PARTS:
        return "RPART"
    if t in POSITIONS or (t.startswith("正") and t[1:] in POSITIONS):
        return "POS"
    if _DISTANCE.match(t):
        return "DIST"
    if _NUMBER_WITH_UNIT.match(t):
        return "NUM"
    if t in ("街", "巷", "弄", "里") and prev in ("NAME", "PROPER"):
        return "ROAD_BARE"  # 义兴/街
    if t in P.NUMBER_UNITS:
        return "UNIT"
    if _NUMBER.match(t) and any(c.isdigit() for c in t) or re.fullmatch(r"[A-Za-z一二三四五六七八九十]", t):
        return "NUMERAL"
    if t in problem_words:
        return "O"
    tag = pos.get(t)
    if t in NOT_PLACES:
        # A bare suffix after a name (桂庙/路, 金牛岭/公园) is a place part; alone it is not.
        if prev_is_name and t not in ("城市", "都市", "地区", "辖区", "现场", "当场", "立场", "下场", "知道",
                                      "报道", "味道", "频道", "渠道", "管道", "全国", "国家", "单位", "部门"):
            if _suffix(t, ROAD_SUFFIXES) and t not in ("道路", "马路", "公路", "车道", "通道", "人行道", "步道", "跑道"):
                return "ROAD_BARE"
            if _suffix(t, POI_SUFFIXES):
                return "POI_BARE"
            if _suffix(t, ADMIN_SUFFIXES):
                return "ADMIN_BARE"
        return "O"
    for kind, suffixes in (("POI", POI_SUFFIXES), ("ROAD", ROAD_SUFFIXES), ("ADMIN", ADMIN_SUFFIXES)):
        s = _suffix(t, suffixes)
        if kind == "ROAD" and s == "道" and not re.search(r"[一二三四五六七八九十0-9]道$", t):
            continue  # only numbered X道 (创业三道) are roads; 管道, 车道 are not
        if s and len(t) == len(s):  # 大道, 停车场, 保健院: a place part after a name or inside a place
            return kind + "_BARE"
        if s:
            head = t[: -len(s)]
            if tag in NON_NAME_POS and tag not in ("l", "i") and len(t) <= 2:
                return "O"  # 进城, 开店: verbs and the like (longer words' tags are unreliable: 蛋糕店/v)
            # 北路/三路/一村: the name sits in the tokens before; 湖路: it may.
            if _DIRECTION_OR_ORDINAL.match(head):
                return kind + "_BARE"
            if _DEMONSTRATIVE.match(head):  # 这条路, 那个小区, 整条街: no name
                return "O"
            if tag == "n" and len(t) <= 3 and kind != "ADMIN":
                return kind + "_BARE"  # 药店, 宿舍区, 商业街: a common noun, a head waiting for its name
            return kind + ("_SHORT" if len(head) == 1 else "")
    if t in STOP or not _NAMEY.match(t) or _DEMONSTRATIVE.match(t):
        return "O"
    if tag in NON_NAME_POS:
        return "O"
    if tag is None or tag in PROPER_POS:
        return "PROPER" if len(t) >= 2 or tag is not None else "NAME"
    return "NAME"


ANCHORS = {"CITY", "DISTRICT", "ADMIN", "ROAD", "POI", "AREA", "LANDMARK"}
# Tags that can begin a name which a following bare suffix completes (国贸/北路, 万达广场/停车场, 府城/街道).
NAMEISH = ("NAME", "PROPER", "ALIAS", "NUMERAL", "POI", "ADMIN", "POI_SHORT", "ADMIN_SHORT", "POI_BARE", "ADMIN_BARE",
           "ROAD", "ROAD_SHORT", "AREA", "NUM")
_ABSORBABLE = ("NAME", "PROPER", "ALIAS", "NUMERAL", "POI", "ADMIN", "POI_SHORT", "ADMIN_SHORT", "POI_BARE",
               "ADMIN_BARE", "AREA")
_NAMES = ("NAME", "PROPER", "NUMERAL", "ALIAS")
# What may follow a place inside the same span.
_CONTINUE = {"ROAD", "POI", "ADMIN", "AREA", "LANDMARK", "NUM", "POS", "RPART", "DIST", "DISTRICT"}


def _parts(words: list[str], tags: list[str]) -> list[list]:
    """Parts [kind, first, last+1] from the tagged tokens."""
    parts: list[list] = []
    n = len(words)
    i = 0
    while i < n:
        tag = tags[i]
        if tag.endswith(("_BARE", "_SHORT")) or tag in ("ROAD", "POI", "ADMIN"):
            kind = tag.split("_")[0]
            start = i
            # a head absorbs the name tokens before it (国贸/北路, 永敬堂/药店, 海南/师范大学)
            limit = 4 if kind == "POI" else 3
            while start > 0 and i - start < limit and tags[start - 1] in _ABSORBABLE:
                start -= 1
                if tags[start] not in _NAMES:
                    break
            if start == i and i > 0 and tags[i - 1] in ("ROAD", "ROAD_SHORT") and kind != "ROAD":
                start = i - 1  # 国贸路/公交站: the landmark is named after the road, the road stays a part
            if tag.endswith("_BARE") and start == i:
                if i >= 2 and tags[i - 1] == "DEM" and kind == "POI" and tags[i - 2] in _NAMES + ("POI_BARE", "POI"):
                    while parts and parts[-1][1] >= i - 2:
                        parts.pop()
                    parts.append(["POI", i - 2, i + 1])  # 科技园那家便利店
                elif i >= 1 and tags[i - 1] == "POS" and words[i - 1] in GATES and kind == "POI":
                    if parts and parts[-1][1] == i - 1:
                        parts.pop()
                    parts.append(["POI", i - 1, i + 1])  # 东门/步行街: a gate names the street
                elif parts and parts[-1][2] == i and kind in ("POI", "ROAD") and (
                        parts[-1][0] not in ("POS", "DE", "CONN", "RANGE", "DEM")
                        or len(parts) > 1 and parts[-2][2] == parts[-1][1] and parts[-2][0] not in ("DE", "CONN")):
                    # (after glue only when a place part precedes it: "公交站的候车亭" names no place)
                    parts.append(["POI", i, i + 1])  # a bare head inside a place continues it (大厦/停车场, 3期/商业街)
                i += 1
                continue
            if kind == "ROAD" and parts and parts[-1][0] in ("POI", "ADMIN") and parts[-1][1] < start < parts[-1][2]:
                start = parts[-1][1]  # 府城大园/路: the road takes the name a head had claimed
            while parts and parts[-1][1] >= start and parts[-1][0] in ("POI", "ADMIN", "NUM", "LANDMARK"):
                parts.pop()
            while parts and start < parts[-1][2] and parts[-1][0] != "ROAD":
                start += 1
            parts.append([kind, start, i + 1])
        elif tag in ("CITY", "DISTRICT", "ALIAS", "AREA"):
            parts.append(["AREA" if tag == "AREA" else "CITY" if tag == "CITY" else "DISTRICT", i, i + 1])
        elif tag in ("NUMERAL", "O") and i + 1 < n and words[i + 1] in ("米", "公里", "百米") and (
                tag == "NUMERAL" or re.fullmatch(r"[两几百千]+", words[i])):
            start = i - 1 if i > 0 and words[i - 1] in ("约", "大约", "大概") else i
            end = i + 3 if i + 2 < n and words[i + 2] in ("左右", "处", "远") else i + 2
            parts.append(["DIST", start, end])  # 约150米, 三公里, 100米处
            i = end
            continue
        elif tag == "NUMERAL" and i + 1 < n and words[i + 1] in ("出口", "入口", "出入口", "口", "号口"):
            parts.append(["NUM", i, i + 2])  # C出口 of a metro station
            i += 2
            continue
        elif tag == "NUM" or (tag == "NUMERAL" and i + 1 < n and tags[i + 1] == "UNIT"):
            start = i
            # a building named by free words before its number (滨江帝景/12栋) is a landmark
            while start > 0 and i - start < 3 and tags[start - 1] in ("NAME", "PROPER") and not (
                    parts and parts[-1][2] > start - 1):
                start -= 1
            if start < i:
                parts.append(["POI", start, i])
            end = i + 1 if tag == "NUM" else i + 2
            # ranges: 26号至29号, 12-17号
            if end + 1 < n and words[end] in ("至", "到", "-", "~") and tags[end + 1] == "NUM":
                end += 2
            parts.append(["NUM", i, end])
            i = end
            continue
        elif tag == "POS":
            # a proper name right before a strong position is a landmark: 泥岗那边, 国新书院附近
            start = i
            while start > 0 and i - start < 3 and tags[start - 1] in ("NAME", "PROPER") and not (
                    parts and parts[-1][2] > start - 1):
                start -= 1
            if start < i and words[i] in NAME_POSITIONS and any(tags[k] == "PROPER" for k in range(start, i)):
                parts.append(["LANDMARK", start, i])
            parts.append(["POS", i, i + 1])
        elif tag in ("RPART", "DIST", "CONN", "RANGE", "DE", "DEM"):
            parts.append([tag, i, i + 1])
        elif tag == "PROPER" and i > 0 and words[i - 1] in ("在", "到", "去", "于", "位于", "住在") and (
                i + 1 >= n or tags[i + 1] in ("O", "POS", "DE")) and len(words[i]) >= 2:
            parts.append(["LANDMARK", i, i + 1])  # 在X: a proper name after 在 is where it happened
        i += 1
    return parts


def _runs(parts: list[list], words: list[str], gaz: dict) -> list[list[list]]:
    """Adjacent parts joined into places. Connectors, ranges, 的 and demonstratives join only when another place
    part follows; a run needs an anchor."""
    runs: list[list[list]] = []
    glue = ("CONN", "RANGE", "DE", "DEM")
    for p in parts:
        if runs and p[1] <= runs[-1][-1][2]:
            runs[-1].append(p)
        else:
            runs.append([p])
    out = []
    for run in runs:
        # split where glue is not followed by a continuing part, or where the run is interrupted
        cleaned: list[list] = []
        for j, p in enumerate(run):
            if p[0] in glue:
                nxt = next((q for q in run[j + 1:] if q[0] not in glue), None)
                if nxt is None or nxt[0] not in _CONTINUE or not cleaned:
                    if cleaned:
                        break
                    continue
                if p[0] == "CONN" and not any(q[0] in ANCHORS or q[0] == "POS" for q in cleaned):
                    break
            cleaned.append(p)
        while cleaned and cleaned[0][0] in ("POS", "NUM", "RPART", "DIST") + glue:
            cleaned = cleaned[1:]
        # glue at the end, and a trailing 上/内/里 ("…绿化带里"), are not part of the place
        while cleaned and (cleaned[-1][0] in glue or cleaned[-1][0] in ("POS", "RPART")
                           and words[cleaned[-1][1]] in ("上", "内", "里") and cleaned[-1][2] - cleaned[-1][1] == 1):
            cleaned = cleaned[:-1]
        if not cleaned or not any(p[0] in ANCHORS for p in cleaned):
            continue
        # A lone alias (龙华) is too weak to be a place.
        lone = words[cleaned[0][1]]
        if len(cleaned) == 1 and cleaned[0][0] == "DISTRICT" and gaz["alias"].get(lone) != lone:
            continue
        out.append(cleaned)
    return out


def _score(loc: dict) -> tuple:
    filled = sum(1 for k, v in loc.items() if k not in ("text", "start", "end", "city") and v)
    return (filled, len(loc["text"]))


_BARE_ROAD = re.compile(r"^[东西南北中一二三四五六七八九十横]?(?:路|街|大道|大街|巷)$")
_GLUE_NOT = set("的在了有是和与跟到往向从把被给就都也还又很及或对于")
_NUMBER_PIECE = re.compile(r"[0-9A-Za-z零〇一二三四五六七八九十百]+(?:-[0-9A-Za-z]*)?|-")


_SUFFIX_CHARS = set("村路街巷镇岛区号栋楼米站园城店")


def _road_name(word: str) -> bool:
    """A word that can name the road whose suffix jieba cut off: 新闻(/路中间)."""
    return (len(word) >= 2 and word not in STOP and re.fullmatch(r"[\u4e00-\u9fff]+", word) is not None
            and word not in ("道路", "马路", "公路"))


def _retokenize(tokens: list[tuple[str, int]], known: dict | None = None) -> list[tuple[str, int]]:
    """Repairs jieba's cuts that hide a place's structure, keeping character offsets:
    a one-character name cut from its suffix (后/街, 上/村) is joined; a house number cut in pieces (56/-/1/号) is
    joined; a name glued to a position (海岸/城门口) is split; a suffix glued by jieba's guesser to the word after
    it (沙河/村往, 50/米左右: not dictionary words) goes back to the name before it."""
    known = known or {}
    fixed: list[tuple[str, int]] = []
    for w, idx in tokens:
        after_number = bool(fixed) and re.fullmatch(r"[0-9一二三四五六七八九十百两几]+", fixed[-1][0]) is not None
        if (len(w) >= 2 and w[0] in _SUFFIX_CHARS and (w not in known or after_number and w[0] in "米号栋楼")
                and fixed and w[1:] in known and fixed[-1][1] + len(fixed[-1][0]) == idx
                and re.fullmatch(r"[\u4e00-\u9fff0-9]+", fixed[-1][0])):
            fixed[-1] = (fixed[-1][0] + w[0], fixed[-1][1])
            fixed.append((w[1:], idx + 1))
        else:
            fixed.append((w, idx))
    out: list[list] = []
    for w, idx in fixed:
        if out and out[-1][1] + len(out[-1][0]) == idx:
            prev = out[-1][0]
            if prev in ("那", "这") and w in ("家", "个"):
                out[-1][0] += w  # 那/家 -> 那家
                continue
            if prev in ("这段", "整条", "这条", "那段") and w in ("路", "街"):
                out[-1][0] += w  # 这段/路 -> 这段路 (a position)
                continue
            if _DISTANCE.match(prev) and w in ("左右", "处", "远"):
                out[-1][0] += w  # 50米/左右
                continue
            if (w[0] in "路街" and w[1:] in ("中间", "边", "旁", "上", "两侧", "边上") and _road_name(prev)):
                out[-1][0] += w[0]  # 新闻/路中间 -> 新闻路/中间: jieba took the road's suffix into the position
                out.append([w[1:], idx + 1])
                continue
            if (prev in ("路", "街") and w in ("中间", "两侧", "边上") and len(out) >= 2
                    and out[-2][1] + len(out[-2][0]) == out[-1][1] and _road_name(out[-2][0])):
                out[-2][0] += prev  # 新闻/路/中间 -> 新闻路/中间, not 新闻/路中间
                out[-1] = [w, idx]
                continue
            if prev in ("道路", "马路", "路") and w in ("中间", "两侧", "边上"):
                out[-1][0] += w  # 道路/中间 -> 道路中间 (a road part)
                continue
            if prev in ("往", "向", "朝") and w in ("东", "西", "南", "北"):
                out[-1][0] += w  # 往/东 -> 往东 (a direction inside a place)
                continue
            if (w in ("路", "街", "巷", "村", "镇", "岛") and len(prev) == 1 and "\u4e00" <= prev <= "\u9fff"
                    and prev not in _GLUE_NOT):
                out[-1][0] += w
                continue
            if _NUMBER_PIECE.fullmatch(prev) and (
                    (_NUMBER_PIECE.fullmatch(w) and (prev.endswith("-") or w == "-"))
                    or (w in P.NUMBER_UNITS and not prev.endswith("-") and prev != "-")):
                out[-1][0] += w
                continue
        out.append([w, idx])
    result: list[tuple[str, int]] = []
    for w, idx in out:
        if len(w) == 2 and w[0] in "前后处旁边里内外上下" and w[1] in "有是在的了被":
            result += [(w[0], idx), (w[1], idx + 1)]  # 前有, 处有: a position glued to the verb after it
            continue
        if len(w) >= 3 and w not in POSITIONS and w not in ROAD_PARTS:
            p = next((p for p in ("门口", "对面", "旁边", "附近", "那边", "路口") if w.endswith(p)), None)
            if p:
                result += [(w[: -len(p)], idx), (p, idx + len(w) - len(p))]
                continue
        result.append((w, idx))
    return result


class LocationExtractor:
    """Finds and normalises place mentions. Build once (factory `build()`), call `extract(text)` per message."""

    def __init__(self, nlp, problem_words: frozenset[str]):
        self.nlp = nlp
        self.problem_words = problem_words
        self.pos = _pos_table()
        self._tags: dict[tuple[str, str | None], str] = {}

    def _namable(self, w: str) -> bool:
        return (2 <= len(w) <= 4 and _NAMEY.match(w) is not None and w not in STOP and w not in self.problem_words
                and w not in NOT_PLACES and not _DEMONSTRATIVE.match(w) and not w.isdigit()
                and self.pos.get(w) not in ("r", "p", "c", "u", "uj", "d", "m", "q", "t"))

    def _words(self, text: str, tokens: list[tuple[str, int]] | None = None) -> tuple[list[str], list[int]]:
        if tokens is None:
            tokens = [(tok.text, tok.idx) for tok in self.nlp.make_doc(text)]
        pairs = _retokenize([(w, i) for w, i in tokens if i + len(w) <= len(text)], self.pos)
        return [w for w, _ in pairs], [i for _, i in pairs]

    def _tag(self, w: str, prev: str | None) -> str:
        key = (w, prev)
        tag = self._tags.get(key)
        if tag is None:
            tag = _tag(w, prev, gazetteer(), self.problem_words, self.pos)
            if len(self._tags) < 200_000:  # bounded memo: a token's tag depends only on it and the tag before
                self._tags[key] = tag
        return tag

    def tags(self, words: list[str]) -> list[str]:
        gaz = gazetteer()
        tags: list[str] = []
        for i, w in enumerate(words):
            tag = self._tag(w, tags[-1] if tags else None)
            if tag == "O" and i + 1 < len(words) and _BARE_ROAD.match(words[i + 1]) and self._namable(w):
                tag = "NAME"  # 富康/路, 解放/东路: whatever its dictionary says, a word before 路 names the road
            tags.append(tag)
        # 商铺/前, 大厦/旁: a one-character position right after a place part belongs to it
        for i in range(1, len(words)):
            if words[i] in ("前", "旁", "后", "边", "侧") and tags[i - 1] in ("POI", "POI_BARE", "POI_SHORT", "ROAD",
                                                                          "ROAD_BARE", "ADMIN", "ADMIN_BARE", "NUM"):
                tags[i] = "POS"
        # a one-character prefix that jieba cut off a name (后/海滨/路, 大/剧院, 下/梅林) belongs to it when nothing but
        # a boundary comes before it: "，后海滨路" is a road named 后海滨; "小区后/海滨路" stays 海滨路
        for i in range(len(words) - 1):
            if (words[i] in NAME_PREFIXES and tags[i] in ("O", "POS", "NAME")
                    and tags[i + 1] in ("NAME", "PROPER", "POI", "POI_SHORT", "POI_BARE", "AREA", "ALIAS")
                    and (i == 0 or not _NAMEY.match(words[i - 1]) or words[i - 1] in LEAD_INS)):
                tags[i] = "NAME"
        # a word the dictionary calls an idiom or the like, right before a head, names it (好又多/超市)
        for i in range(len(words) - 1):
            if (tags[i] == "O" and self._namable(words[i])
                    and self.pos.get(words[i]) in ("l", "i", "a", "nz", "v", None)):
                nxt = _tag(words[i + 1], "NAME", gaz, self.problem_words, self.pos)
                # a verb only names a specific head (解放/商城), not a generic one (打扫/广场)
                if nxt == "POI" and self.pos.get(words[i]) != "v":
                    tags[i] = "NAME"  # 好又多/蛋糕店
                elif nxt in ("POI_BARE", "ROAD_BARE", "POI_SHORT") and (
                        self.pos.get(words[i]) != "v" or words[i + 1] not in NOT_PLACES and len(words[i + 1]) >= 2):
                    tags[i], tags[i + 1] = "NAME", nxt
        return tags

    def extract(self, text: str, tokens: list[tuple[str, int]] | None = None) -> list[dict]:
        """Every place in `text`, the main (most complete) one first, then in text order: dicts with "start",
        "end" (characters), "text" and the normalised parts. `tokens`: the message's jieba tokens as (text, start)
        when the caller has them (Rasa's JiebaTokenizer, same dictionary), else the text is segmented here."""
        try:
            if not isinstance(text, str) or not text.strip():
                return []
            text = text[:MAX_CHARS]
            words, starts = self._words(text, tokens)
            gaz = gazetteer()
            tags = self.tags(words)
            found = []
            for run in _runs(_parts(words, tags), words, gaz):
                first, last = run[0][1], max(p[2] for p in run)
                start, end = starts[first], starts[last - 1] + len(words[last - 1])
                span = text[start:end]
                loc = P.parse(span).parts()
                loc["text"] = span
                if any(p[0] == "AREA" for p in run) and not loc.get("city"):
                    area = next(words[p[1]] for p in run if p[0] == "AREA")
                    loc["city"] = gaz["areas"].get(area)
                loc.update(start=start, end=end)
                found.append(loc)
            if len(found) > 1:
                main = max(found, key=_score)
                found = [main] + [f for f in found if f is not main]
            return found
        except Exception:  # a location must never break the pipeline
            log.exception("location extraction failed")
            return []

    def best(self, text: str) -> dict | None:
        """The main place without its offsets, or None."""
        found = self.extract(text)
        if not found:
            return None
        return {k: v for k, v in found[0].items() if k not in ("start", "end")}


def _pos_table() -> dict:
    """jieba's dictionary part of speech per word (plus the user dictionary's)."""
    try:
        import jieba.posseg

        table = dict(jieba.posseg.dt.word_tag_tab)
        table.update(getattr(jieba.dt, "user_word_tag_tab", {}) or {})
        return table
    except Exception:  # pragma: no cover - jieba without posseg: names are judged by the lists alone
        return {}


def build(user_dict: Path | str | None = USER_DICT, problem_words: frozenset[str] | None = None) -> LocationExtractor:
    """The factory: a blank Chinese spaCy pipeline with the jieba segmenter and the city-management user dictionary."""
    import jieba
    import spacy

    jieba.setLogLevel(logging.WARNING)
    if user_dict and Path(user_dict).exists():
        jieba.load_userdict(str(user_dict))
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    if problem_words is None:
        problem_words = _problem_words()
    return LocationExtractor(nlp, problem_words)


def _problem_words() -> frozenset[str]:
    """Catalogue keywords and city-management words: 井盖 or 路灯 never are part of a place name."""
    try:
        from citybot import catalogue
        from nlu.dictgen import EXTRA_WORDS

        words = {w for s in catalogue.load().subcategories(include_retired=True) for w in (s.name, *s.keywords)}
        words |= set(EXTRA_WORDS)
        words |= PROBLEM_NOUNS
    except Exception:
        words = set()
    # Keywords that are themselves place words stay usable.
    keep = set(ROAD_PARTS) | set(POSITIONS)
    return frozenset(w for w in words if w not in keep and w not in NOT_PLACES
                     and not _suffix(w, POI_SUFFIXES + P.ROAD_SUFFIXES))
