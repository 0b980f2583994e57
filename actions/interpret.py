"""What a citizen's turn inside the report form means, before any of it is used.

The report form asks for one thing at a time (the 小类, the place, the confirmation). Real answers are often
something else: a correction of an earlier answer, a second problem, a question on another matter, a cancel, an
emergency. `read(turn, form, catalogue)` decides which, from the NLU's outputs (intent, category, location,
emergency) and a few plain-language markers, and returns the slots to set; the validation action
(`validate_report_form`) acts on it. No hub and no tracker, so every kind is unit-tested
(tests/actions/test_interpret.py).

| kind        | e.g. (asked for the place)             | what happens                                                 |
|-------------|----------------------------------------|--------------------------------------------------------------|
| emergency   | "有人掉进去了"                          | the form is paused (kept as a draft), the emergency answered |
| cancel      | "算了不报了"                            | nothing is filed                                             |
| correction  | "说错了，是在X路" / "不是路灯，是信号灯" | that slot changes; the summary is shown again, never filed   |
| new_report  | a different 小类, told in full          | said so; the first report becomes a draft, the new one goes on |
| digression  | progress, my cases, help, another matter | answered, then the pending question is asked again         |
| answer      | "X路口东北角" / a shared location       | the slot is filled                                           |
| more        | "晚上根本看不见"                        | added to the description, the question asked again           |
| unknown     | "不知道" / words that are not a place   | asked again with a hint; the second time, taken as said      |
| unclear     | anything else at the confirmation       | the summary is shown again                                   |

Only text that is a place becomes the address: the NLU's location, or a typed answer that looks like a place
(place words, not a question, not a sentence about the problem). Only a confirmation files.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from actions import message, report, texts
from citybot import catalogue as cat

EMERGENCY, CANCEL, CORRECTION, NEW_REPORT, DIGRESSION = "emergency", "cancel", "correction", "new_report", "digression"
ANSWER, MORE, UNKNOWN, UNCLEAR, ASK_CORRECTION, NEITHER = "answer", "more", "unknown", "unclear", "ask_correction", "neither"

# Intents that are a question or a remark on something else: answered, then the form asks again.
DIGRESSIONS = {"ask_progress", "list_cases", "help", "greet", "thanks", "chitchat", "goodbye", "rate",
               "complain_result", "not_city_management"}
# About the citizen's cases: answered even when they name a 小类 ("上次反映的路灯修好了吗").
CASE_QUESTIONS = {"ask_progress", "list_cases", "rate", "complain_result"}
# Said on their own, these end the report without filing (the NLU's `cancel` intent too).
_CANCEL_WORD = (r"(?:那|好吧|哦|嗯|还是|我|先|这个)?(?:算了|不用了|不要了|不报了|不反映了|不投诉了|不举报了|取消|撤销|撤回|不弄了|"
                r"不搞了|别报了|不了|不想报了|不提交了|不用报了|不用提交了|放弃)(?:吧|了|啦|哈|啊)?")
_CANCEL = re.compile(r"^(?:" + _CANCEL_WORD + r"[，,。！!. ]*)+(?:(?:谢谢|谢了|多谢|不好意思|打扰了|再见|拜拜|没事了)[，,。！!. ]*)*$")
_DENY_ONLY = re.compile(r"^(?:/deny|不|否|不要|不行|不可以|no|No|NO)[。！!. ]*$")
# A correction: "不对/说错了/搞错了…", "不是X，是Y", "应该是/改成/其实是 Y".
_CORRECTION = re.compile(r"不对|说错|讲错|搞错|弄错|写错|打错|错了|口误|更正|纠正|改成|改为|改一下|修改|应该是|其实是|我是说|准确地说|"
                         r"不是在|不在[^，,。]{1,12}[，, ]*(?:是|在)|不是[^，,。是]{1,12}[，, ]*(?:是|而是)|"
                         r"[，,]\s*不是[^，,。是]{1,12}[。！!]*$|说的是")
_NOT_X = re.compile(r"(?:不是在|不是|不在)[^，,。是在]{1,12}?(?=[，, ]*(?:是|而是|在|$))")
_TARGET = re.compile(r"(?:应该是|其实是|我是说|改成|改为|更正为|而是|是在|在|是)[：:，, ]*([^，,。！!？?]{2,40})[。！!]*$")
_QUESTION = re.compile(r"[?？]|吗[。！!]*$|呢[。！!]*$|怎么|怎样|如何|为什么|为啥|什么|多久|多少|哪里可以|哪里能|去哪|找谁|能不能|"
                       r"可不可以|可以吗|是不是|有没有|请问|问一下|问下|咨询|想了解|想知道")
_DONT_KNOW = re.compile(r"不知道|不清楚|不确定|说不清|说不上来|忘了|记不清|不记得|不太清楚|没注意|不晓得|唔知")
# Words that make typed text a place (roads, buildings, compounds, landmarks, relative positions).
_PLACE_WORD = re.compile(r"路|街|(?<!知)道|巷|弄|胡同|号|区|县|镇|乡|村|屯|社区|小区|花园|家园|苑|园|广场|大厦|大楼|中心|站|口|门|桥|"
                         r"公园|市场|学校|小学|中学|大学|幼儿园|医院|楼|栋|座|单元|旁|边|对面|附近|楼下|隔壁|后面|前面|里面|"
                         r"交叉|路口|地铁|公交|商场|超市|酒店|宾馆|公司|厂|湾|港|湖|山|河|岛|城|庄|坊|坪|岭|围|塘|涌|"
                         r"片区|工业区|园区|停车场|加油站|码头|机场|车站|高速|立交|隧道|天桥|这里|那里|这边|那边")
# A sentence about something (a predicate), which a place answer is not: "路边有个大坑", "灯一直不亮".
_PREDICATE = re.compile(r"有(?:个|一|好多|很多|人|车|辆|些|点)|没了|没有|坏|破了|堵|脏|乱|不亮|倒了|掉了|臭|吵|占了|占用|堆|漏|烂了|"
                        r"断了|歪|塌|积水|一直|天天|经常|总是|快点|麻烦|赶紧|投诉|举报|反映|处理|谢谢")
_AFFIRM_WORDS = re.compile(r"^(?:/affirm|是|是的|对|对的|好|好的|嗯|嗯嗯|行|可以|确认|确定|提交|没问题|ok|OK|yes)[。！!. ]*$")
# The NLU's category must be at least this sure to call a turn another problem or to take a typed 小类.
SURE = 0.6


@dataclass(frozen=True)
class Form:
    """What the form knows so far."""
    requested: str | None
    code: str | None = None
    choices: tuple[dict, ...] = ()
    description: str = ""
    location: str | None = None
    place_tries: int = 0
    photos: tuple[str, ...] = ()


@dataclass
class Reading:
    kind: str
    slots: dict[str, Any] = field(default_factory=dict)
    digression: str | None = None      # the intent to answer (DIGRESSIONS), or "question"
    note: str | None = None            # "place" / "code": what a correction changed


def clean(text: str) -> str:
    return text.strip().strip("。！!.，, ")


# Catalogue keywords that also name places ("荔枝公园西门" is a place, not a 公园设施 report).
PLACE_KEYWORDS = frozenset({"公园", "广场", "游园", "公交站", "候车亭", "天桥", "地下通道", "人行道", "绿地", "草地", "夜市",
                            "公厕", "公共厕所", "隔离带", "绿化带", "花坛", "台阶"})


def keyword_code(text: str, catalogue: cat.Catalogue, *, places: bool = True) -> str | None:
    """The 小类 whose name or a keyword (longest first) the text contains, or None; `places=False` ignores
    keywords that also name places."""
    best: tuple[int, str] | None = None
    for sub in catalogue.subcategories():
        for word in (sub.name, *sub.keywords):
            if len(word) >= 2 and word in text and (places or word not in PLACE_KEYWORDS) and (
                    best is None or len(word) > best[0]):
                best = (len(word), sub.code)
    return best[1] if best else None


def problem_code(turn: message.Turn, catalogue: cat.Catalogue) -> str | None:
    """The 小类 the words outside the place name: "红荔路上有个井盖没了" → 井盖, "荔枝公园西门" → None."""
    rest = turn.text.replace(turn.address, " ") if turn.address else turn.text
    return keyword_code(rest, catalogue, places=False)


_CLAUSES = re.compile(r"[，,。.；;！!？?\n]|还有|另外|而且|并且|同时")
# A clause that says something is wrong (not just mentions a thing): "旁边的路灯也坏了", not "晚上井盖都看不见".
_BROKEN = re.compile(r"坏|没了|(?<!看)不见|丢|缺|破|烂|碎|裂|断|倒|歪|翘|塌|堵|满|溢|漏|积水|不亮|灭|闪|坑|脏|臭|乱|占|堆|吵|贴")


def other_problems(text: str, code: str | None, catalogue: cat.Catalogue) -> list[tuple[str, str]]:
    """Further problems told in the same message, as (小类, its clause): "X路垃圾成堆，旁边的路灯也坏了" with code
    暴露垃圾 → [(路灯故障, "旁边的路灯也坏了")]. Each becomes a draft of its own, never part of the first report."""
    found: list[tuple[str, str]] = []
    for clause in (c.strip() for c in _CLAUSES.split(text)):
        other = keyword_code(clause, catalogue, places=False) if clause else None
        if other and other != code and _BROKEN.search(clause) and all(other != c for c, _ in found):
            found.append((other, clause))
    return found


def is_question(text: str) -> bool:
    return bool(_QUESTION.search(text))


def looks_like_place(text: str, catalogue: cat.Catalogue) -> bool:
    """A typed answer that can go into the address: place words, not a question, not about the problem."""
    t = clean(text)
    if not (2 <= len(t) <= 60) or is_question(t) or t.startswith("/") or _DONT_KNOW.search(t):
        return False
    if keyword_code(t, catalogue, places=False) or _PREDICATE.search(t):   # "井盖旁边也有个坑": about the problem
        return False
    return bool(_PLACE_WORD.search(t))


def place_text(text: str) -> str:
    """A typed place without its lead-in and tail: "就在X那里吧" -> "X"."""
    t = clean(text)
    t = re.sub(r"^(?:就在|就是在|是在|在|就是|位置是|位置在|地址是|地点是|地址|位置|地点)[：: ]*", "", t)
    t = re.sub(r"(?:那里|那儿|这里|这儿|那边|这边)?(?:吧|啊|呢|哈|哦|呀)?$", "", t)
    return t or clean(text)


_DEICTIC = re.compile(r"^(?:这|那|这个|那个|这边|那边|这里|那里)?(?:的)?(?:里|边|儿)?(?:路口|十字路口|门口|附近|旁边|楼下|对面|地方|位置|"
                      r"路段|一带|街)?$")


def is_deictic(place: str | None) -> bool:
    """A "place" that only points at one told before: 这里, 这个路口, 门口."""
    return place is not None and bool(_DEICTIC.match(clean(place)))


def is_place_phrase(text: str, catalogue: cat.Catalogue) -> bool:
    """Words the NLU calls a place answer (inform_location) that say nothing else: a name without a suffix."""
    t = clean(text)
    return 2 <= len(t) <= 30 and not (is_question(t) or keyword_code(t, catalogue, places=False) or _PREDICATE.search(t)
                                      or _AFFIRM_WORDS.match(t) or t.startswith("/"))


def correction_target(text: str) -> str | None:
    """What the citizen corrects to: the words after the last 是/在/改成…, with "不是X" parts removed."""
    t = clean(_NOT_X.sub("", clean(text)))
    t = re.sub(r"^(?:不对|说错了|说错|讲错了|搞错了|弄错了|错了|写错了|打错了|口误|更正一下|纠正一下)[，,。! ！]*", "", t.strip())
    m = _TARGET.search(t)
    target = clean(m.group(1)) if m else clean(t)
    target = re.sub(r"^(?:在|是)", "", target)
    target = re.sub(r"(?:那里|那儿|这里|这儿|那边|这边)$", "", target) or target
    return target if len(target) >= 2 else None


def city_code(turn: message.Turn) -> str | None:
    """The classifier's 小类 when it is sure and the matter is city management."""
    cls = turn.classification
    if cls.service_code and cls.category != "其他" and cls.confidence >= SURE and not cls.ambiguous:
        return cls.service_code
    return None


def _referral(turn: message.Turn) -> bool:
    cls = turn.classification
    return cls.category == "其他" and bool(cls.referral) and cls.confidence >= (0.85 if cls.referral == "default" else 0.5)


def _more(form: Form, text: str) -> dict:
    return {"report_description": f"{form.description} {text}".strip()}


def _place_slots(place: str) -> dict:
    return {"report_location": place, "report_lat": None, "report_long": None}


def read(turn: message.Turn, form: Form, catalogue: cat.Catalogue) -> Reading:
    if is_deictic(turn.address):        # "就在这里": no place to file at
        turn = dataclasses.replace(turn, address=None)
    text = turn.text
    intent = turn.intent or ""
    photos = {}
    if turn.photos:
        photos = {"report_photos": list(form.photos) + [p for p in turn.photos if p not in form.photos]}

    if intent == "emergency" or turn.emergency:
        return Reading(EMERGENCY)
    if intent == "cancel" or _CANCEL.match(text) or (_DENY_ONLY.match(text) and form.requested != "report_code"):
        return Reading(CANCEL, {"report_confirm": False})

    # a shared location answers "where" and corrects the place at the confirmation
    if turn.lat is not None:
        shared = {"report_location": report.location_text(None, turn.lat, turn.long), "report_lat": turn.lat,
                  "report_long": turn.long, **photos}
        return Reading(ANSWER if form.requested == "report_location" else CORRECTION, shared, note="place")

    new_code = problem_code(turn, catalogue) or city_code(turn)
    if _CORRECTION.search(text) and not turn.photos:
        reading = _correction(turn, form, catalogue)
        if reading:
            return reading

    if intent in CASE_QUESTIONS or (intent in DIGRESSIONS - {"not_city_management"} and not turn.address
                                    and not new_code):
        return Reading(DIGRESSION, photos, digression=intent)
    if (intent == "not_city_management" or _referral(turn)) and not turn.address and not new_code:
        return Reading(DIGRESSION, photos, digression="not_city_management")

    if form.requested == "report_code":
        return _read_code(turn, form, catalogue, new_code, photos)
    if form.requested == "report_location":
        return _read_location(turn, form, catalogue, new_code, photos)
    return _read_confirm(turn, form, catalogue, new_code, photos)


def _correction(turn: message.Turn, form: Form, catalogue: cat.Catalogue) -> Reading | None:
    target = correction_target(turn.text)
    if target and looks_like_place(target, catalogue):
        return Reading(CORRECTION, _place_slots(target), note="place")
    code = keyword_code(target, catalogue) if target else None
    if code and code != form.code:
        return Reading(CORRECTION, {"report_code": code, "report_choices": None}, note="code")
    if turn.address and turn.address != form.location:
        return Reading(CORRECTION, _place_slots(turn.address), note="place")
    if form.requested == "report_confirm" and (target is None or not (code or turn.address)):
        return Reading(ASK_CORRECTION)
    return None


def _new_report(turn: message.Turn, form: Form, new_code: str | None) -> bool:
    """Another problem, not more words about this one: a sure, different 小类 in a report-like turn."""
    if not new_code or new_code == form.code or any(c.get("service_code") == new_code for c in form.choices):
        return False
    return turn.intent in ("report_problem", "add_detail", "nlu_fallback", "inform_location", "deny", "affirm")


def _read_code(turn, form, catalogue, new_code, photos) -> Reading:
    text = turn.text
    button = turn.entity("service_code") if turn.intent == "choose_subcategory" else None
    place = {"report_location": turn.address} if turn.address and not form.location else {}
    if button:
        return Reading(ANSWER, {"report_code": str(button), **photos})
    neither = re.match(r"^(?:都不是|都不对|不是这些|不是这个|不是|都不|不对)[，,。 ]*", text)
    if neither:
        rest = text[neither.end():]
        code = keyword_code(rest, catalogue) if rest else None
        if code:
            return Reading(ANSWER, {"report_code": code, **place, **photos})
        return Reading(NEITHER, {"report_choices": None, **(_more(form, rest) if len(clean(rest)) >= 2 else {}),
                                 **place, **photos})
    if new_code:
        desc = {} if form.description else {"report_description": text}
        return Reading(ANSWER, {"report_code": new_code, **desc, **place, **photos})
    if turn.address and (turn.intent == "inform_location" or looks_like_place(text, catalogue)):
        return Reading(MORE, {**place, **photos})
    if is_question(text):
        return Reading(DIGRESSION, photos, digression="question")
    if photos and not text:
        return Reading(MORE, photos)
    choices = [{"service_code": a["service_code"], "name": a.get("subcategory")} for a in turn.classification.choices]
    return Reading(MORE, {**_more(form, text), "report_choices": choices or None, **place, **photos})


def _read_location(turn, form, catalogue, new_code, photos) -> Reading:
    text = turn.text
    if turn.address and not is_question(text) and not _DONT_KNOW.search(text):
        told = problem_code(turn, catalogue)
        if told and _new_report(turn, form, told):
            return Reading(NEW_REPORT, {"report_code": told, "report_location": turn.address,
                                        "report_description": text, **photos})
        same = told is not None and told == form.code
        return Reading(ANSWER, {**_place_slots(turn.address), **(_more(form, text) if same else {}), **photos})
    if photos and not text:
        return Reading(MORE, photos)
    if turn.intent == "inform_location" and (looks_like_place(text, catalogue) or is_place_phrase(text, catalogue)):
        return Reading(ANSWER, {**_place_slots(place_text(text)), **photos})
    if _new_report(turn, form, new_code) and turn.intent == "report_problem":
        return Reading(NEW_REPORT, {"report_code": new_code, "report_location": None, "report_description": text,
                                    **photos})
    if looks_like_place(text, catalogue):
        return Reading(ANSWER, {**_place_slots(place_text(text)), **photos})
    if is_question(text) and not _DONT_KNOW.search(text):
        return Reading(DIGRESSION, photos, digression="question")
    if new_code or turn.intent in ("report_problem", "add_detail"):
        return Reading(MORE, {**_more(form, text), **photos})
    words = clean(text)
    if form.place_tries >= 1 and len(words) >= 2 and not _AFFIRM_WORDS.match(words):
        # asked twice: take what the citizen can say rather than ask forever (marked vague unless it is a name)
        if is_place_phrase(words, catalogue) and not _DONT_KNOW.search(words):
            return Reading(ANSWER, {**_place_slots(place_text(words)), **photos})
        return Reading(ANSWER, {**_place_slots(texts.render("utter_place_vague", words=words)), **photos})
    return Reading(UNKNOWN if _DONT_KNOW.search(text) else UNCLEAR, {"report_place_tries": form.place_tries + 1,
                                                                      **photos})


def _read_confirm(turn, form, catalogue, new_code, photos) -> Reading:
    text = turn.text
    if turn.intent == "affirm" and (_AFFIRM_WORDS.match(text) or not (turn.address or new_code not in (None, form.code))):
        return Reading(ANSWER, {"report_confirm": True, **photos})
    told = problem_code(turn, catalogue) or (city_code(turn) if turn.intent == "report_problem" else None)
    if told and _new_report(turn, form, told) and turn.intent in ("report_problem", "add_detail", "nlu_fallback"):
        return Reading(NEW_REPORT, {"report_code": told, "report_location": turn.address,
                                    "report_description": text, **photos})
    if turn.address and not is_question(text):
        return Reading(CORRECTION, _place_slots(turn.address), note="place")
    if photos and not text:
        return Reading(MORE, photos)
    if turn.intent == "deny":          # "不是" / "不对" without saying what: ask what to change
        return Reading(ASK_CORRECTION)
    if is_question(text):
        return Reading(DIGRESSION, photos, digression="question")
    if text and not text.startswith("/") and (new_code == form.code or turn.intent in ("report_problem", "add_detail")):
        return Reading(MORE, {**_more(form, text), **photos})
    return Reading(UNCLEAR, photos)
