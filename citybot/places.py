"""Place parts: the vocabulary of Chinese street addresses and one normaliser from a place text to its parts.

"龙华区国贸北路怡景花园A座门口" -> district 龙华区, road 国贸北路, landmark 怡景花园, number A座, position 门口.

The one home of place normalisation: the NLU (nlu/location.py finds the span, `parse` names its parts), the hub's
duplicate rule (`same_place`, over the address_string a report was filed with) and the geocoder (its index of a
city's standard addresses) all use it, so a place is read the same way wherever it goes. Standard library only:
it runs in the app venv, in .venv-rasa and in the hub.

Administrative divisions come from nlu/gazetteer: `places.yml` (the cities citybot serves, with short forms such
as 福田 for 福田区) and `admin_cn.tsv` (every province, city and district in China, generated from jionlp's offline
table by nlu/gazetteer/build_admin.py).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GAZETTEER_DIR = ROOT / "nlu" / "gazetteer"

# -- vocabulary -------------------------------------------------------------------------------------------------
ROAD_SUFFIXES = ("大道", "大街", "公路", "高速", "胡同", "路", "街", "巷", "弄")
# Place-name heads that end in a road character but name a POI, not a road.
POI_STREETS = ("步行街", "商业街", "美食街", "小吃街", "风情街", "食街", "老街", "骑楼街", "夜市街")
BRIDGES = ("立交桥", "大桥", "立交", "隧道", "天桥", "桥")
ADMIN_SUFFIXES = ("街道办事处", "街道办", "街道", "社区", "新区", "开发区", "工业区", "工业园", "片区", "镇", "乡",
                  "村委会", "村", "岛", "县", "区", "市", "省")
# Heads of named places (POI): a name before one of these is a landmark a worker can find.
POI_HEADS = (
    "小区", "花园", "家园", "新村", "公寓", "山庄", "别墅", "别墅区", "名苑", "雅苑", "华庭", "华府", "苑", "庭", "府",
    "广场", "公园", "游园", "植物园", "动物园", "乐园", "园", "城", "湾", "国际", "中心", "天地", "大厦", "大楼", "写字楼",
    "商场", "商城", "百货", "超市", "便利店", "市场", "农贸市场", "菜市场", "夜市", "美食城", "美食园", "食府", "酒家",
    "酒楼", "餐厅", "饭店", "快餐店", "大排档", "酒店", "宾馆", "旅馆", "药店", "药房", "商店", "门店", "店铺", "铺面",
    "商铺", "店", "专卖店", "4S店", "银行", "营业厅", "公司", "集团", "厂", "工厂", "仓库", "物流园", "产业园", "科技园",
    "工地", "学校", "小学", "中学", "大学", "学院", "附中", "幼儿园", "书院", "驾校", "医院", "诊所", "卫生院", "卫生站",
    "派出所", "公安局", "政府", "党校", "法院", "局", "厅", "委员会", "居委会", "村委会", "宿舍", "宿舍区", "大院",
    "地铁站", "站口", "公交站", "公交总站", "车站", "火车站", "汽车站", "客运站", "东站", "西站", "南站", "北站", "总站",
    "码头", "港", "机场", "加油站", "停车场", "体育馆", "体育场", "球场", "图书馆", "博物馆", "影院", "电影院",
    "会展中心", "寺", "庙", "祠", "教堂", "塔", "钟楼", "牌坊", "广场", "湿地", "河", "湖", "海滩", "沙滩", "院", "保健院",
    "研究院", "楼", "茶楼", "住宅楼", "办公楼", "教学楼", "商行", "物业", "网吧", "菜场", "批发市场", "候车亭", "岗亭",
    "基地", "桥", "有限公司", "营业部", "服务站", "大市场", "商业中心", "购物中心", "写字楼",
) + POI_STREETS
POSITIONS = (
    "十字路口", "丁字路口", "交叉路口", "交叉口", "交汇处", "交汇口", "交界处", "交界", "路口", "红绿灯口", "转盘",
    "大门口", "正门口", "门口", "正门", "北门", "南门", "东门", "西门", "后门", "侧门", "大门", "门前", "门外",
    "出口", "入口", "出入口", "斜对面", "对面", "对过", "旁边", "旁", "隔壁", "附近", "周边", "周围", "一带", "那边",
    "这边", "那里", "这里", "楼下", "楼上", "边上", "路边", "路段", "这段路", "整条路", "沿线", "两侧", "一侧", "左侧",
    "右侧", "前面", "后面", "里面", "外面", "背后", "后边", "前边", "北边", "南边", "东边", "西边", "北侧", "南侧",
    "东侧", "西侧", "中间", "处", "村口", "巷口", "街口", "桥下", "桥底", "桥头", "底下", "下面", "上面", "方向",
    "往东", "往西", "往南", "往北", "向东", "向西", "向南", "向北",
)
CONNECTORS = ("与", "和", "跟", "及", "、", "交")
NUMBER_UNITS = ("号楼", "号院", "号", "栋", "座", "幢", "单元", "室", "期", "层", "楼", "排", "组", "区", "巷", "弄", "街")

# Positions that name a different spot of the same landmark: 北门 and 南门 of one park are two places.
_POSITION_CLASSES = {
    "gate": ("大门口", "正门口", "门口", "正门", "大门", "门前", "门外"),
    "north": ("北门", "北边", "北侧"), "south": ("南门", "南边", "南侧"), "east": ("东门", "东边", "东侧"),
    "west": ("西门", "西边", "西侧"), "back": ("后门", "背后", "后边", "后面"), "side": ("侧门",),
    "opposite": ("斜对面", "对面", "对过"),
    "junction": ("十字路口", "丁字路口", "交叉路口", "交叉口", "交汇处", "交汇口", "交界处", "交界", "路口",
                 "红绿灯口", "转盘"),
}
POSITION_CLASS = {w: c for c, words in _POSITION_CLASSES.items() for w in words}

CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
_NUMBER = re.compile(
    r"[0-9A-Za-z零〇一二三四五六七八九十百甲乙丙丁#]{1,8}(?:[-~至到][0-9A-Za-z一二三四五六七八九十]{1,6})?"
    r"(?:%s)|[0-9A-Za-z]{1,3}(?:出口|入口|出入口)" % "|".join(sorted(NUMBER_UNITS, key=len, reverse=True)))
_DISTANCE = re.compile(r"(?:约|大约|大概)?[0-9一二三四五六七八九十百两几]+多?(?:米|公里)(?:左右|处|远)?")
_DIGITS_ONLY = re.compile(r"[0-9]+(?:-[0-9]+)+")  # 7-6, 56-1: a house number without 号


# -- administrative divisions -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Gazetteer:
    cities: dict[str, str]  # any written form (深圳, 深圳市) -> 深圳市
    districts: dict[str, tuple[str, ...]]  # district full name -> the cities that have one of that name
    aliases: dict[str, str]  # a district's written form (its name, a curated short form) -> full name
    provinces: frozenset[str]


@functools.lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    cities: dict[str, str] = {}
    districts: dict[str, set[str]] = {}
    aliases: dict[str, str] = {}
    provinces: set[str] = set()
    table = GAZETTEER_DIR / "admin_cn.tsv"
    if table.exists():
        for line in table.read_text(encoding="utf-8").splitlines():
            if not line or line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) < 6:
                continue
            _, name, short, level, city, province = cols[:6]
            if level == "province":
                provinces.add(name)
            elif level == "city":
                cities[name] = name
                if len(short) >= 2:
                    cities.setdefault(short, name)
            elif level == "district" and name not in ("市辖区", "省直辖县级行政区划"):
                districts.setdefault(name, set()).add(city)
                aliases[name] = name
    curated = GAZETTEER_DIR / "places.yml"
    if curated.exists():
        import yaml  # in both virtualenvs and the hub's; only read here, at first use

        raw = yaml.safe_load(curated.read_text(encoding="utf-8")) or {}
        for city, info in (raw.get("cities") or {}).items():
            cities[city] = city
            for a in info.get("aliases") or ():
                cities[a] = city
            for district, short in (info.get("districts") or {}).items():
                districts.setdefault(district, set()).add(city)
                aliases[district] = district
                for a in short or ():
                    aliases[a] = district  # the served city's short forms win over the national table
    return Gazetteer(cities, {d: tuple(sorted(c)) for d, c in districts.items()}, aliases, frozenset(provinces))


def city_of(district: str | None) -> str | None:
    """The city of a district when its name is unique in the country (龙华区 is in 深圳 and 海口: None)."""
    cities = gazetteer().districts.get(district or "", ())
    return cities[0] if len(cities) == 1 else None


# -- parts ------------------------------------------------------------------------------------------------------
@dataclass
class Place:
    text: str
    city: str | None = None
    district: str | None = None
    subdistrict: str | None = None
    road: str | None = None
    cross_road: str | None = None
    number: str | None = None
    landmark: str | None = None
    position: str | None = None
    others: list[str] = field(default_factory=list)  # further landmarks named in the same span

    def parts(self) -> dict:
        """The normalised parts as the NLU outputs them (None for what the text does not say)."""
        out = {k: getattr(self, k) for k in ("text", "city", "district", "road", "cross_road", "number", "landmark",
                                             "position")}
        if self.subdistrict:
            out["subdistrict"] = self.subdistrict
        return out


def clean(text: str | None) -> str:
    """NFKC, no spaces or punctuation (keeps - and # inside house numbers)."""
    text = unicodedata.normalize("NFKC", text or "")
    return re.sub(r"[\s,，。、；;：:！!？?（）()“”\"'·—_]+", "", text)


@functools.lru_cache(maxsize=16)
def _word_set(words: tuple) -> tuple[frozenset, int]:
    return frozenset(words), max((len(w) for w in words), default=0)


def _longest(s: str, i: int, words: tuple) -> str | None:
    """The longest of `words` that starts at s[i] (set lookups: this runs at every character)."""
    table, longest = _word_set(tuple(words))
    for n in range(min(longest, len(s) - i), 0, -1):
        if s[i:i + n] in table:
            return s[i:i + n]
    return None


@functools.lru_cache(maxsize=1)
def _vocab() -> tuple:
    road = tuple(sorted(ROAD_SUFFIXES, key=len, reverse=True))
    pos = tuple(sorted(POSITIONS, key=len, reverse=True))
    return road, pos


def _admin_prefix(s: str, place: Place) -> int:
    """Reads province/city/district/subdistrict names at the start of `s`; returns where the rest begins."""
    gaz = gazetteer()
    i = 0
    while i < len(s):
        # the longest gazetteer name starting here (district aliases first, then cities, then provinces)
        hit = None
        for n in range(min(8, len(s) - i), 1, -1):
            word = s[i:i + n]
            if word in gaz.aliases and not place.district:
                hit = ("district", gaz.aliases[word], n)
            elif word in gaz.cities and not place.city and not place.district:
                hit = ("city", gaz.cities[word], n)
            elif word in gaz.provinces and i == 0:
                hit = ("province", word, n)
            if hit:
                break
        if hit is None:
            m = (re.match(r"[\u4e00-\u9fff]{1,6}?(?:街道办事处|街道办|街道)", s[i:])
                 or re.match(r"[\u4e00-\u9fff]{1,6}?(?:镇|乡|岛)", s[i:]))
            if (m and not place.subdistrict and len(m.group(0)) <= 7 and i + len(m.group(0)) < len(s)
                    and not s.startswith(("大道", "大街", "路", "街", "巷", "公路"), i + len(m.group(0)))):  # 西乡大道
                place.subdistrict = m.group(0)
                i += len(m.group(0))
                continue
            m = re.match(r"[\u4e00-\u9fff]{2,4}?(?:区|县)", s[i:])
            if (m and not place.district and not m.group(0).endswith(("小区", "园区", "景区", "校区", "片区", "社区", "城区",
                                                                       "市区", "别墅区", "宿舍区", "工业区", "新区"))
                    and i + len(m.group(0)) < len(s) and _starts_road_or_name(s, i + len(m.group(0)))):
                place.district = m.group(0)
                i += len(m.group(0))
                continue
            return i
        kind, value, n = hit
        # a short form glued to a road's name (福田 in 福田路) is not a district; before a road (福田福华路) it is
        if kind == "district" and value != s[i:i + n] and _road_at(s, i) is not None:
            rest = _road_at(s, i + n)
            if rest is None or re.fullmatch(r"[东西南北中一二三四五六七八九十横]?(?:大道|大街|路|街|巷)", s[i + n:rest]):
                return i  # 宝安南路: the road's own name
        if kind == "district":
            place.district = value
        elif kind == "city":
            place.city = value
        i += n
        if s.startswith(("市", "区", "县"), i) and kind != "province":
            i += 1
    return i


def _starts_road_or_name(s: str, i: int) -> bool:
    return i < len(s) and bool(re.match(r"[\u4e00-\u9fffA-Za-z0-9]", s[i]))


def _road_at(s: str, i: int) -> int | None:
    """End of a road name starting at i (…路/街/大道…, at most 12 characters), or None."""
    roads, _ = _vocab()
    for j in range(i + 1, min(len(s), i + 13)):
        if _longest(s, j, POI_STREETS) or s.startswith(("街道", "路口", "路段", "路边"), j) and j == i:
            return None
        suffix = _longest(s, j, roads)
        if suffix == "路" and s.startswith("路口", j) and _longest_end(s, i, j, POI_HEADS):
            return None  # 万科城路口: the junction at 万科城, not a road 万科城路
        if suffix is None and s.startswith("道", j) and s[j - 1] in "一二三四五六七八九十0123456789" and j - i >= 2:
            suffix = "道"  # 创业三道: Shenzhen's numbered roads
        if suffix and s.startswith(("道路", "马路"), j - 1):
            return None  # 上道路中间: the road's middle, not a road named 上道路
        if suffix:
            end = j + len(suffix)
            if suffix in ("街", "路") and s.startswith("道", end) and suffix == "街":
                return None  # 街道 is an administrative unit
            if _longest(s, j - 1, POI_STREETS) or any(s.startswith(w, j - len(w) + len(suffix)) for w in POI_STREETS
                                                       if w.endswith(suffix) and j - len(w) + len(suffix) >= i):
                return None
            return end
        pos = _longest(s, j, _vocab()[1])
        if (pos and len(pos) >= 2 and not pos.startswith(("路", "街"))) or _NUMBER.match(s, j) or s[j] in "的在往到至":
            return None
    return None


def _longest_end(s: str, i: int, j: int, words) -> bool:
    """Whether s[i:j] ends with one of `words` (and has a name before it)."""
    return any(s.endswith(w, i, j) and j - len(w) > i for w in words)


def parse(text: str | None) -> Place:
    """The parts of a place text. Reads: admin prefix, then roads (a second road after 与/和/跟 is the cross road),
    house numbers, landmarks (what is left between them), and the relative position."""
    return _parse(clean(text))


@functools.lru_cache(maxsize=8192)  # the hub compares a filing with the open cases' addresses: mostly cache hits
def _parse(s: str) -> Place:
    place = Place(text=s)
    _, positions = _vocab()
    i = _admin_prefix(s, place)
    buf = ""
    landmarks: list[str] = []
    pending_cross = False

    def flush() -> None:
        nonlocal buf
        name = buf
        buf = ""
        if name and not re.fullmatch(r"[的在往向到至靠近上内里]+", name):
            name = re.sub(r"^(?:的|在|靠近|往|向|近)", "", name)
            name = re.sub(r"(?:的|上|内|里)$", "", name)
            name = re.sub(r"(?:那家|这家|那个|这个|那边的|这边的)", "", name)
            if name:
                landmarks.append(name)

    while i < len(s):
        c = s[i]
        m = _DISTANCE.match(s, i)
        if c == "的" or m:  # 的 and distances (约50米左右) separate parts
            flush()
            i = m.end() if m else i + 1
            continue
        if c in CONNECTORS and not buf and place.road and place.cross_road is None and not _longest(s, i, positions):
            pending_cross = True
            i += 1
            continue
        if not buf and c not in CONNECTORS:
            end = _road_at(s, i)
            if end is not None:
                road = s[i:end]
                if place.road is None:
                    place.road = road
                elif place.cross_road is None and (pending_cross or not landmarks):
                    place.cross_road = road
                else:
                    landmarks.append(road)
                pending_cross = False
                i = end
                if s.startswith("口", i):  # 金田路口
                    place.position = place.position or "路口"
                    i += 1
                continue
        m = _NUMBER.match(s, i) if (not buf or not buf[-1].isdigit()) else None
        if m and not (buf and m.group(0)[-1] in "区街巷弄" and len(m.group(0)) <= 2):
            flush()
            number, end = m.group(0), m.end()
            if number.endswith("号楼") and s.startswith(("下", "上"), end):  # 88号楼下: number 88号, position 楼下
                number, end = number[:-1], end - 1
            place.number = (place.number or "") + number
            i = end
            continue
        m = _DIGITS_ONLY.match(s, i)
        if m and not buf:
            place.number = (place.number or "") + m.group(0)
            i = m.end()
            continue
        pos = _longest(s, i, positions)
        if pos and (buf or place.road or landmarks or place.number) and not (pos == "处" and buf == ""):
            flush()
            if place.position is None or (landmarks and len(landmarks) == 1 and place.position in ("路口",)):
                place.position = pos
            i += len(pos)
            continue
        if (c in CONNECTORS or c in "到至往向") and not _longest(s, i, positions):
            flush()
            i += 1
            continue
        buf += c
        i += 1
    flush()
    if landmarks:
        place.landmark, place.others = landmarks[0], landmarks[1:]
    if place.district and not place.city:
        place.city = city_of(place.district)
    return place


# -- comparing places ---------------------------------------------------------------------------------------------
def _digits(text: str) -> str:
    """Chinese numerals to digits (八十八 -> 88, 三 -> 3): 88号 and 八十八号 compare equal."""
    def convert(m: re.Match) -> str:
        t = m.group(0)
        if "十" not in t and "百" not in t:
            return "".join(str(CN_DIGITS[ch]) for ch in t)
        total, unit_value = 0, 0
        for ch in t:
            if ch == "百":
                total += (unit_value or 1) * 100
                unit_value = 0
            elif ch == "十":
                total += (unit_value or 1) * 10
                unit_value = 0
            else:
                unit_value = CN_DIGITS[ch]
        return str(total + unit_value)

    return re.sub(r"[零〇一二两三四五六七八九十百]+", convert, text)


def key_name(text: str | None) -> str | None:
    """A part's comparable form: NFKC, case-folded, no punctuation, numerals as digits, no trailing 小区."""
    return _name(text)


@functools.lru_cache(maxsize=8192)
def _name(text: str | None) -> str | None:
    if not text:
        return None
    t = _digits(_PUNCT.sub("", unicodedata.normalize("NFKC", text).casefold()))
    t = re.sub(r"(?:小区|花园小区)$", "", t) or t
    return t or None


KEY_CHARS = 3  # _same_name's shortest shared part


def index_keys(text: str | None) -> tuple[str | None, str | None]:
    """(road key, landmark key) the hub stores with a case: the last 3 characters of the comparable road and
    landmark names. A place that `same_place` could match names a road (or landmark) containing the stored one, or
    ending like it, so its `probe_keys` include the stored key: one indexed lookup finds every candidate."""
    if not text:
        return None, None
    p = parse(text)
    road, mark = _name(p.road), _name(p.landmark)
    return (road[-KEY_CHARS:] if road else None), (mark[-KEY_CHARS:] if mark else None)


def probe_keys(*names: str | None) -> list[str]:
    """Every 3-character window of the comparable forms of `names` (the keys to look a new place up under)."""
    out: set[str] = set()
    for name in names:
        n = _name(name)
        if n:
            out.update(n[i:i + KEY_CHARS] for i in range(max(1, len(n) - KEY_CHARS + 1)))
    return sorted(out)


def _same_name(a: str | None, b: str | None) -> bool:
    """Equal, or one ends the other and the shorter has 3+ characters (大园路 / 府城大园路)."""
    if not a or not b:
        return False
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 3 and (long_.endswith(short) or long_.startswith(short))


def _positions_conflict(a: str | None, b: str | None) -> bool:
    ca, cb = POSITION_CLASS.get(a or ""), POSITION_CLASS.get(b or "")
    return bool(ca and cb and ca != cb)


def same_place(a: Place, b: Place) -> bool:
    """Whether two places are the same spot for a worker: the same road and the same cross road, house number or
    landmark; or the same landmark. Anything both name must agree (district, numbers, gates: 北门 is not 南门)."""
    for attr in ("city", "district"):
        if getattr(a, attr) and getattr(b, attr) and getattr(a, attr) != getattr(b, attr):
            return False
    road_a, road_b = _name(a.road), _name(b.road)
    cross_a, cross_b = _name(a.cross_road), _name(b.cross_road)
    num_a, num_b = _name(a.number), _name(b.number)
    mark_a, mark_b = _name(a.landmark), _name(b.landmark)
    if num_a and num_b and num_a != num_b:
        return False
    if _positions_conflict(a.position, b.position):
        return False
    if mark_a and mark_b and not _same_name(mark_a, mark_b):
        return False
    if road_a and road_b:
        roads_a, roads_b = {r for r in (road_a, cross_a) if r}, {r for r in (road_b, cross_b) if r}
        pairs_match = (_same_name(road_a, road_b) and (not (cross_a and cross_b) or _same_name(cross_a, cross_b))) or (
            _same_name(road_a, cross_b) and _same_name(cross_a, road_b))
        if not pairs_match:
            return False
        if cross_a and cross_b:
            return len(roads_a) == len(roads_b) == 2
        return bool((num_a and num_b) or (mark_a and mark_b))
    return bool(mark_a and mark_b)
