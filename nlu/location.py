"""Place extraction and normalisation for Chinese messages, built on spaCy (blank "zh" + jieba segmenter).

A gazetteer EntityRuler marks cities and districts (nlu/gazetteer/places.yml); the `citybot_location` pipe
tags every jieba token (district, road, POI, house number, relative position like 门口/交叉口, connector 与/和,
name part) and merges runs that contain at least one anchor (administrative unit, road or POI) into LOC spans.
Each span is normalised into {"text", "city", "district", "road", "cross_road", "number", "landmark",
"position"}. Runs in both virtualenvs (spaCy 3.4 in .venv-rasa, 3.8 in .venv); never raises on any input.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
GAZETTEER = ROOT / "nlu" / "gazetteer" / "places.yml"
USER_DICT = ROOT / "nlu" / "dict" / "citybot.txt"
MAX_CHARS = 2000

ROAD_SUFFIXES = ("大道", "大街", "公路", "高速", "路", "街", "巷", "弄", "胡同", "隧道", "大桥", "立交", "桥")
ADMIN_SUFFIXES = ("街道办", "街道", "社区", "新区", "开发区", "片区", "镇", "乡", "村委会", "村", "岛", "县", "区", "市", "省")
POI_SUFFIXES = (
    "小区", "花园", "广场", "公园", "农贸市场", "菜市场", "市场", "幼儿园", "小学", "中学", "大学", "学院", "学校",
    "医院", "卫生院", "大厦", "商场", "超市", "酒店", "宾馆", "中心", "公交站", "地铁站", "车站", "汽车站", "码头",
    "机场", "新村", "苑", "城", "园", "公寓", "大楼", "写字楼", "银行", "山庄", "家园", "名苑", "雅苑", "华庭",
    "楼盘", "工地", "加油站", "停车场", "菜场", "影院", "体育馆", "图书馆", "派出所", "政府", "居委会",
)
POSITIONS = (
    "十字路口", "丁字路口", "交叉路口", "交叉口", "交汇处", "交界处", "路口", "正门口", "门口", "大门口", "正门", "北门",
    "南门", "东门", "西门", "后门", "侧门", "出口", "入口", "出入口", "斜对面", "对面", "旁边", "隔壁", "附近",
    "周边", "一带", "楼下", "边上", "路边", "路段", "段", "处", "内", "里面", "外面", "前面", "后面", "门前",
    "村口", "巷口", "街口", "桥下", "桥底", "底下", "中间", "两侧", "沿线",
)
CONNECTORS = ("与", "和", "跟", "及", "交", "、")
# Words ending in a place suffix that are not places.
NOT_PLACES = {
    "道路", "马路", "公路", "小路", "大路", "路", "街", "一路", "上路", "走路", "出路", "思路", "线路", "铁路", "网路",
    "过路", "半路", "街道", "大街", "上街", "逛街", "市", "城市", "都市", "超市", "城", "进城", "园", "公园", "花园",
    "小区", "广场", "市场", "中心", "学校", "医院", "村", "农村", "社区", "区", "小区里", "新区", "城区", "市区", "片区",
    "景区", "园区", "校园", "家园", "桥", "天桥", "地区", "辖区", "我市", "本市", "全市", "该市", "本区", "该区",
    "本村", "该村", "全区", "县", "镇", "乡", "岛", "宝岛", "海岛", "工地", "政府", "街坊", "大楼", "楼盘",
}
# Tokens that never start or continue a place name.
STOP = set(
    "我 你 他 她 它 我们 你们 他们 我家 自己 在 于 到 从 往 向 把 被 给 的 地 得 了 着 过 是 有 没 没有 不 也 都 又 还 就 "
    "这 那 这个 那个 这里 那里 这边 那边 这儿 那儿 一个 个 些 很 太 非常 已经 一直 经常 总是 每天 天天 今天 昨天 "
    "晚上 早上 白天 半夜 上午 下午 凌晨 现在 最近 请 请问 麻烦 帮忙 谢谢 反映 反应 投诉 举报 咨询 来电 市民 表示 "
    "称 说 发现 看到 看见 住 住在 位于 就在 附近 经过 路过 导致 造成 影响 严重 希望 要求 处理 解决 核实 问题 情况 "
    "有人 一直 好多 很多 大量 多次 长期 好几 几天 天 旁 边 上 下 前 后 里 内 外 啊 吧 呢 吗 呀 哦 嘛 么 及 与 和 跟 "
    "交 、 或 还是 以及 对 对于 关于 因为 所以 但是 而且 如果 那么 然后 又 再 且 该 此 其 某 某某 一 二 三".split()
)
NUMBER_UNITS = ("号楼", "号院", "号", "栋", "座", "幢", "单元", "室", "期", "层", "楼", "巷", "弄", "排", "组")
_NUMBER = re.compile(r"^[0-9A-Za-z一二三四五六七八九十百零〇甲乙丙丁#\-]{1,8}$")
_NUMBER_WITH_UNIT = re.compile(r"^[0-9A-Za-z一二三四五六七八九十百零〇甲乙丙丁#\-]{1,8}(?:%s)$" % "|".join(NUMBER_UNITS))
_NAMEY = re.compile(r"^[\u4e00-\u9fffA-Za-z0-9]+$")
_DEMONSTRATIVE = re.compile(
    r"^(?:(?:这|那|哪|每|此|该|整|全|半|本|一)(?:条|个|段|片|些|边|里|座|栋|块|带)?|我们|你们|他们|咱们|我家|附近)$"
)
_DIRECTION_OR_ORDINAL = re.compile(r"^[东西南北中上下前后内外一二三四五六七八九十0-9]*$")

log = logging.getLogger(__name__)


def _suffix(text: str, suffixes: tuple[str, ...]) -> str | None:
    for s in suffixes:
        if text.endswith(s):
            return s
    return None


@functools.lru_cache(maxsize=1)
def gazetteer() -> dict:
    """{"cities": {城市: aliases}, "districts": {full name: [cities]}, "alias": {short form or full: full}}."""
    raw = yaml.safe_load(GAZETTEER.read_text(encoding="utf-8")) or {}
    cities, districts, alias = {}, {}, {}
    for city, info in (raw.get("cities") or {}).items():
        cities[city] = list(info.get("aliases") or [])
        for a in cities[city]:
            alias[a] = city
        alias[city] = city
        for district, short in (info.get("districts") or {}).items():
            districts.setdefault(district, []).append(city)
            alias[district] = district
            for a in short or ():
                alias.setdefault(a, district)
    return {"cities": cities, "districts": districts, "alias": alias}


def _tag(tok_text: str, prev_is_name: bool, gaz: dict, problem_words: frozenset[str]) -> str:
    """One token's class: CITY DISTRICT ALIAS ADMIN ROAD POI NUM UNIT POS CONN NAME or O."""
    t = tok_text
    if not t.strip():
        return "O"
    full = gaz["alias"].get(t)
    if full is not None:
        if full in gaz["cities"]:
            return "CITY"
        return "DISTRICT" if full == t else "ALIAS"
    if t in CONNECTORS:
        return "CONN"
    if t in POSITIONS or (t.startswith("正") and t[1:] in POSITIONS):
        return "POS"
    if _NUMBER_WITH_UNIT.match(t):
        return "NUM"
    if t in NUMBER_UNITS:
        return "UNIT"
    if _NUMBER.match(t) and any(c.isdigit() for c in t) or re.fullmatch(r"[A-Za-z]", t):
        return "NUMERAL"
    if t in problem_words:
        return "O"
    if t in NOT_PLACES:
        # A bare suffix after a name (桂庙/路, 金牛岭/公园) is a place part; alone it is not.
        if prev_is_name and t not in ("城市", "都市", "地区", "辖区", "超市"):
            if _suffix(t, ROAD_SUFFIXES) and t not in ("道路", "马路", "公路"):
                return "ROAD_BARE"
            if _suffix(t, POI_SUFFIXES) or t in ("小区", "花园", "公园", "广场", "市场", "中心", "学校", "医院"):
                return "POI_BARE"
            if _suffix(t, ADMIN_SUFFIXES):
                return "ADMIN_BARE"
        return "O"
    for kind, suffixes in (("POI", POI_SUFFIXES), ("ROAD", ROAD_SUFFIXES), ("ADMIN", ADMIN_SUFFIXES)):
        s = _suffix(t, suffixes)
        if s and len(t) == len(s):  # 大道, 停车场: a place part only after a name
            return kind + "_BARE" if prev_is_name else "O"
        if s:
            head = t[: -len(s)]
            if _DEMONSTRATIVE.match(head):  # 这条路, 那个小区, 整条街: no name
                return "O"
            # 北路/三路: the name sits in the tokens before; 湖路: it may.
            if _DIRECTION_OR_ORDINAL.match(head):
                return kind + "_BARE"
            return kind + ("_SHORT" if len(head) == 1 else "")
    if t in STOP or not _NAMEY.match(t) or _DEMONSTRATIVE.match(t):
        return "O"
    return "NAME"


ANCHORS = {"CITY", "DISTRICT", "ADMIN", "ROAD", "POI"}
# Tags that can begin a name which a following bare suffix completes (国贸/北路, 万达广场/停车场, 府城/街道).
NAMEISH = ("NAME", "ALIAS", "NUMERAL", "POI", "ADMIN", "POI_SHORT", "ADMIN_SHORT", "POI_BARE", "ADMIN_BARE", "ROAD",
           "ROAD_SHORT")
_ABSORBABLE = ("NAME", "ALIAS", "NUMERAL", "POI", "ADMIN", "POI_SHORT", "ADMIN_SHORT", "POI_BARE", "ADMIN_BARE")


def _segments(words: list[str], gaz: dict, problem_words: frozenset[str]) -> list[tuple[int, int, list[tuple[str, str]]]]:
    """Token runs that form places: [(first, last+1, [(kind, text), ...])]."""
    tags: list[str] = []
    for i, w in enumerate(words):
        prev_name = bool(tags) and tags[-1] in NAMEISH
        tags.append(_tag(w, prev_name, gaz, problem_words))
    # Bare suffixes absorb up to 3 preceding name tokens (国贸/北路 -> 国贸北路).
    parts: list[list] = []  # [kind, text, first, last+1]
    i = 0
    while i < len(words):
        tag = tags[i]
        if tag.endswith(("_BARE", "_SHORT")) or tag in ("ROAD", "POI", "ADMIN"):
            kind = tag.split("_")[0]
            start = i
            if tag.endswith(("_BARE", "_SHORT")):
                while start > 0 and i - start < 3 and tags[start - 1] in _ABSORBABLE:
                    start -= 1
                    if tags[start] != "NAME":
                        break
                if start == i and i > 0 and tags[i - 1] in ("ROAD", "ROAD_SHORT") and kind != "ROAD":
                    start = i - 1  # 国贸路/公交站: the landmark is named after the road, the road stays a part
            if tag.endswith("_BARE") and start == i:
                i += 1
                continue
            # parts swallowed by this one (a POI or ADMIN before a bare suffix) give way to it
            while parts and parts[-1][2] >= start and parts[-1][0] in ("POI", "ADMIN", "NUM"):
                parts.pop()
            while parts and start < parts[-1][3] and parts[-1][0] != "ROAD":
                start += 1
            parts.append([kind, "".join(words[start : i + 1]), start, i + 1])
        elif tag in ("CITY", "DISTRICT", "ALIAS"):
            parts.append(["CITY" if tag == "CITY" else "DISTRICT", words[i], i, i + 1])
        elif tag == "NUM" or (tag == "NUMERAL" and i + 1 < len(words) and tags[i + 1] == "UNIT"):
            # a building named by free words before its number (滨江帝景/12栋) is a landmark
            start = i
            while start > 0 and i - start < 3 and tags[start - 1] == "NAME" and not (parts and parts[-1][3] > start - 1):
                start -= 1
            if start < i:
                parts.append(["POI", "".join(words[start:i]), start, i])
            end = i + 1 if tag == "NUM" else i + 2
            parts.append(["NUM", "".join(words[i:end]), i, end])
            i = end - 1
        elif tag == "POS":
            parts.append(["POS", words[i], i, i + 1])
        elif tag == "CONN":
            parts.append(["CONN", words[i], i, i + 1])
        i += 1
    # Merge adjacent parts into runs; CONN only joins two roads; a run needs an anchor.
    runs: list[list] = []
    for p in parts:
        if runs and p[2] <= runs[-1][-1][3]:
            runs[-1].append(p)
        else:
            runs.append([p])
    out = []
    for run in runs:
        while run and run[0][0] in ("CONN", "POS", "NUM"):
            run = run[1:]
        while run and run[-1][0] == "CONN":
            run = run[:-1]
        cleaned = []
        for j, p in enumerate(run):
            if p[0] == "CONN" and not (cleaned and cleaned[-1][0] == "ROAD" and j + 1 < len(run) and run[j + 1][0] == "ROAD"):
                break
            cleaned.append(p)
        run = cleaned
        if not run or not any(p[0] in ANCHORS for p in run):
            continue
        # A lone alias (龙华) or lone short name is too weak to be a place.
        if len(run) == 1 and run[0][0] == "DISTRICT" and gaz["alias"].get(run[0][1]) != run[0][1]:
            continue
        out.append((min(p[2] for p in run), max(p[3] for p in run), [(p[0], p[1]) for p in run]))
    return out


def normalise(parts: list[tuple[str, str]], text: str) -> dict:
    gaz = gazetteer()
    loc = {"text": text, "city": None, "district": None, "road": None, "cross_road": None, "number": None,
           "landmark": None, "position": None}
    numbers, admins = [], []
    for kind, value in parts:
        if kind == "CITY":
            loc["city"] = gaz["alias"].get(value, value)
        elif kind == "DISTRICT":
            loc["district"] = gaz["alias"].get(value, value)
        elif kind == "ADMIN":
            if value.endswith(("区", "县")) and not loc["district"]:
                loc["district"] = value
            elif value.endswith("市") and not loc["city"]:
                loc["city"] = value
            else:
                admins.append(value)
        elif kind == "ROAD":
            if not loc["road"]:
                loc["road"] = value
            elif not loc["cross_road"]:
                loc["cross_road"] = value
        elif kind == "NUM":
            numbers.append(value)
        elif kind == "POI":
            loc["landmark"] = value if not loc["landmark"] else loc["landmark"] + value
        elif kind == "POS":
            loc["position"] = value
    if numbers:
        loc["number"] = "".join(numbers)
    if admins:
        loc["subdistrict"] = "".join(admins)
    if loc["district"] and not loc["city"]:
        cities = gaz["districts"].get(loc["district"], [])
        if len(cities) == 1:
            loc["city"] = cities[0]
    return loc


def _score(loc: dict) -> tuple:
    filled = sum(1 for k, v in loc.items() if k != "text" and v)
    return (filled, len(loc["text"]))


class LocationExtractor:
    """Finds and normalises place mentions. Build once (factory `build()`), call `extract(text)` per message."""

    def __init__(self, nlp, problem_words: frozenset[str]):
        self.nlp = nlp
        self.problem_words = problem_words

    def extract(self, text: str) -> list[dict]:
        """All places in `text`, in order: dicts with "start", "end" (characters) and the normalised parts."""
        try:
            if not isinstance(text, str) or not text.strip():
                return []
            text = text[:MAX_CHARS]
            doc = self.nlp(text)
            words = [t.text for t in doc]
            found = []
            spans = []
            for first, last, parts in _segments(words, gazetteer(), self.problem_words):
                span = doc[first:last]
                spans.append(span)
                loc = normalise(parts, span.text)
                loc.update(start=span.start_char, end=span.end_char)
                found.append(loc)
            try:
                doc.ents = [doc.char_span(s.start_char, s.end_char, label="LOC") for s in spans]
            except Exception:  # overlapping/invalid spans: ents are a convenience only
                pass
            return found
        except Exception:  # a location must never break the pipeline
            log.exception("location extraction failed")
            return []

    def best(self, text: str) -> dict | None:
        found = self.extract(text)
        if not found:
            return None
        top = max(found, key=_score)
        return {k: v for k, v in top.items() if k not in ("start", "end")}


def build(user_dict: Path | str | None = USER_DICT, problem_words: frozenset[str] | None = None) -> LocationExtractor:
    """The factory: a blank Chinese spaCy pipeline with the jieba segmenter, the city-management user dictionary
    and a gazetteer EntityRuler for cities and districts."""
    import jieba
    import spacy

    jieba.setLogLevel(logging.WARNING)
    if user_dict and Path(user_dict).exists():
        jieba.load_userdict(str(user_dict))
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    gaz = gazetteer()
    ruler = nlp.add_pipe("entity_ruler")
    patterns = [{"label": "GPE", "pattern": name} for name in gaz["alias"]]
    ruler.add_patterns(patterns)
    if problem_words is None:
        problem_words = _problem_words()
    return LocationExtractor(nlp, problem_words)


def _problem_words() -> frozenset[str]:
    """Catalogue keywords: 井盖 or 路灯 never are part of a place name."""
    try:
        from citybot import catalogue

        words = {w for s in catalogue.load().subcategories(include_retired=True) for w in (s.name, *s.keywords)}
    except Exception:
        words = set()
    # Keywords that are themselves place suffixes stay usable.
    return frozenset(w for w in words if w not in NOT_PLACES and not _suffix(w, POI_SUFFIXES + ROAD_SUFFIXES))
