"""Danger to people, found by rules: which emergency line(s) a message needs, before anything else is done with it.

Rules, not the intent classifier, decide this: an emergency must be recognised whatever else the message says
(a report form in progress, a city-management problem in the same sentence, dialect, typos), the decision has to
be explainable line by line, and a miss is the worst error the bot can make while a false alarm costs one extra
sentence. The classifier's `emergency` intent only backs the rules up (nlu/components/triage.py).

A message is an emergency when it describes, as happening now, one of:

| kind        | e.g.                                                     | line(s)   |
|-------------|----------------------------------------------------------|-----------|
| fire        | 着火/起火/失火, a building, vehicle or switchgear smoking   | 119       |
| gas         | a gas smell or leak, a broken gas pipe                   | 119       |
| electric    | sparks, live wires down, leaking current, a burning box  | 119       |
| trapped     | someone fallen in, trapped, buried, swept away           | 119 (120) |
| collapse    | a building, wall, bridge or scaffold has come down       | 119       |
| crush       | a tree or structure fallen on people or cars             | 119, 120  |
| explosion   | something blew up                                        | 119       |
| injury      | bleeding, unconscious, hit by a car, electrocuted        | 120       |
| violence    | a fight, a knife or gun, robbery, someone attacked       | 110       |
| self_harm   | someone about to jump or take their life                 | 110, 120  |
| help        | a cry for help (救命)                                      | 119, 110, 120 |

What is *not* an emergency: a hazard described as a risk (容易/差点/可能/存在隐患: "井盖没了很危险，小孩容易掉进去"),
an injury in the past (昨天/多次/曾经: a complaint about a place, not a call for help), a negation (没有人受伤),
deliberate open burning (有人在烧垃圾: a 城管 matter) and the words that merely look alike (火锅, 油炸, 水枪, 气炸了).

Standard library only: runs in both virtualenvs. `detect(text)` is the whole interface.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LINES_ORDER = ("119", "110", "120")
KIND_LINES: dict[str, tuple[str, ...]] = {
    "fire": ("119",), "gas": ("119",), "electric": ("119",), "trapped": ("119",), "collapse": ("119",),
    "crush": ("119", "120"), "explosion": ("119",), "injury": ("120",), "violence": ("110",),
    "self_harm": ("110", "120"), "help": ("119", "110", "120"),
}


@dataclass(frozen=True)
class Emergency:
    kinds: tuple[str, ...]
    lines: tuple[str, ...]
    evidence: tuple[str, ...]   # the matched words, for logs and tests

    def as_dict(self) -> dict:
        return {"kinds": list(self.kinds), "lines": list(self.lines), "evidence": list(self.evidence)}


# -- vocabulary ------------------------------------------------------------------------------------------------
# Someone (not 人行道/人民路/人流/人工/人员…, which only look like people).
_WHO = (r"(?:有人|有个人|有位|一个人|两个人|几个人|人(?![行民流工造气口均车物])|小孩|孩子|小朋友|儿童|小学生|学生|老人|老太|"
        r"老头|老伯|老奶奶|老爷爷|阿姨|大爷|大妈|大叔|婆婆|伯伯|阿婆|阿伯|细路|细佬|妇女|孕妇|女孩|男孩|女的|男的|"
        r"男子|女子|小伙|小哥|大哥|大姐|大嫂|阿叔|叔叔|哥们|姐姐|先生|女士|宝宝|婴儿|司机|工人|路人|行人|市民|环卫工|外卖员|"
        r"快递员|骑手|师傅|伙计|邻居|同学|一家|他|她)")
_GAS = r"(?:燃气|煤气|天然气|天燃气|然气|燃汽|煤汽|液化气|液化石油气|石油气|瓦斯|沼气)"
_WIRE = r"(?:电线|电缆|高压线|电源线|输电线|电力线|火线)"
_BOX = (r"(?:配电箱|配电房|配电柜|电箱|电表箱|电表|电闸|变压器|变电箱|开关箱|插座|充电桩|充电器|充电宝|电瓶|电池|"
        r"路灯杆|灯杆|电杆|电线杆|信号灯杆|空调外机)")
_BUILDING = (r"(?:楼|房|屋|家|窗|门口|店|铺|厨房|仓库|厂|车库|车|电动车|电瓶车|摩托|地下室|楼道|走廊|商场|酒店|宿舍|学校|"
             r"医院|隧道|地铁|大厦|屋企|房间|阳台|工地|货车|公交|的士|出租车|小区|大楼|写字楼|网吧|KTV|ktv|饭堂)")
_HEAVY = (r"(?:树|大树|树枝|树干|枝干|广告牌|招牌|灯箱|灯杆|路灯|电线杆|墙|围墙|棚|雨棚|脚手架|花盆|玻璃|石头|石块|塔吊|"
          r"吊臂|空调外机|窗户|窗框|瓷砖|钢管|钢筋|钢架|铁架|横幅架|护栏|砖|预制板|水泥块|杂物|东西|井盖|路牌|指示牌)")
_STRUCTURE = (r"(?:楼|楼房|房子|房屋|屋|墙|围墙|外墙|桥|天桥|隧道|脚手架|棚|雨棚|顶棚|天花板|吊顶|阳台|挡土墙|护坡|山体|"
              r"土坡|塔吊|工棚|楼板|厂房|仓库|危房|地下室|车库|基坑)")
_VEHICLE = r"(?:车|汽车|小车|轿车|一辆|辆|的士|出租车|面包车|货车|电动车|摩托|公交)"

# Markers that make a danger word a risk, a memory or a denial instead of an event happening now.
_RISK = re.compile(r"差点|差一点|险些|容易|可能|会(?!议|所|员|场|长|儿|馆)|万一|小心|防止|以免|避免|预防|担心|如果|要是|假如|随时|"
                   r"生怕|以防|恐怕|有可能|怕是|怕会|怕有|千万别|别让|不要让|防范|提防|当心|谨防|是否|会不会|要不要")
_RISK_AFTER = re.compile(r"隐患|风险|危险性|的话|会不会|可能会|之类|吗|\?|？")
_PAST = re.compile(r"曾经|曾|以前|之前|上次|上回|去年|前年|上个月|上周|前几天|前天|昨天|昨晚|多次|好几次|几次|已有多人|有多人|"
                   r"经常|总是|时常|屡次|时有|常有|每次|有一次|那次|年前|月前|天前")
_NEG = re.compile(r"(?:没有|没|无|未|并未|(?<!是)不是|并非|没见|不会|不像|未见|未发现|并无|不存在)(?:人|人员|有人|发现|出现|造成|什么)?(?:被)?$")
_CLAUSE = re.compile(r"[，,。.!！?？；;\n]|但是|不过|可是|结果|然后|现在|刚才|刚刚|突然")


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern          # the danger word is the group "v" (the whole match when there is none)
    risk_guard: bool = True      # ignored when a risk marker stands before the danger word in its clause
    past_guard: bool = False     # ignored when the clause speaks of the past
    neg_guard: bool = True       # ignored when negated
    unless: re.Pattern | None = None   # ignored when this is found in the same clause


def _r(p: str) -> re.Pattern:
    return re.compile(p)


_BURNING = _r(r"烧垃圾|焚烧|烧纸|烧树叶|烧落叶|烧秸秆|烧东西|烧衣服|烧杂草|烧草|烧轮胎|烧塑料|烧电线|烧废|烧柴|烧火做饭|烧烤|烤串|"
              r"烧香|烧冥|油烟|排烟|炒菜|做饭|餐饮|抽油烟|烟囱|吸烟|抽烟|香烟|烟头|烟花|鞭炮|炮仗|拜神|熏|蚊香|艾灸|烧腊|烤鸭|蒸")
_SMOKE = (r"(?P<v>冒烟|冒黑烟|冒白烟|冒浓烟|浓烟|起烟|出烟|好多烟|很多烟|烟很大|烟好大|烟雾|全是烟|都是烟|滚滚|烧焦味|焦糊味|"
          r"一股焦味|烧着了|烧起来)")

RULES: tuple[_Rule, ...] = (
    # fire (deliberate burning and kitchen smoke are not fires; "着过火" is history)
    _Rule("fire", _r(r"着火|着伙|起火|起伙|失火|失伙|火灾|火宅|火警|着大火|大火|火势|火光冲天|火苗窜|烧起来了|燃起来|烧着了|"
                     r"火烧(?!云|鸡|饭|烤|肉|眉毛)|火好大|火很大|火太大|火烛|爆燃|自燃|浓烟滚滚|火海"),
          unless=_r(r"着过火|火灾隐患|消防隐患|防火|火灾风险|引发火灾|引起火灾|造成火灾|导致火灾|消防演练|火警电话|火锅|火车|"
                    r"火腿|火龙果|火爆|上火|发火|火气|恼火|气得|心里冒火|大火收汁|开大火|用大火")),
    _Rule("fire", _r(_BUILDING + r"[^，。！？,.!?]{0,8}" + _SMOKE), unless=_BURNING),
    _Rule("fire", _r(r"(?:好多|很多|好大|很大|一大股|滚滚)(?:的)?(?:黑)?烟[^，。！？,.!?]{0,10}(?P<v>" + _WHO + r"|楼|房|窗|屋)"),
          unless=_BURNING),
    _Rule("fire", _r(r"(?P<v>烧到|蔓延到|引燃了|点着了|烧着了)[^，。！？,.!?]{0,6}(?:房|屋|楼|车|树|仓库|厂|店|电线|山|旁边)")),
    # gas
    _Rule("gas", _r(_GAS + r"[^，。！？,.!?]{0,10}(?P<v>泄漏|泄了|漏气|漏了|在漏|漏出|外漏|味|臭|破了|破裂|断了|爆|喷|冒出|"
                          r"呲呲|嘶嘶|滋滋|挖断|挖破|刮破|裂开|裂了)"),
          unless=_r(r"燃气费|开户|停气|没气|燃气供应|燃气表|燃气灶坏|煤气罐摆摊|卖煤气|气费|气价|涨价")),
    _Rule("gas", _r(r"(?P<v>闻到|好大|很大|一股|浓浓|好浓|很浓|好重|很重|满屋|整栋楼都是)[^，。！？,.!?]{0,6}" + _GAS)),
    _Rule("gas", _r(r"(?P<v>漏气|气体泄漏|臭鸡蛋味)[^，。！？,.!?]{0,8}(?:" + _WHO + r"|楼|整栋|满屋|好大|很大|危险|晕)"),
          unless=_r(r"轮胎|车胎|气球|充气")),
    # electricity
    _Rule("electric", _r(r"(?:" + _WIRE + r"|" + _BOX + r")[^，。！？,.!?]{0,12}(?P<v>冒火花|火花|打火|噼里啪啦|噼啪|劈里啪啦|"
                         r"啪啪响|滋滋响|嗞嗞|漏电|带电|冒烟|冒黑烟|冒白烟|烧起来|着火|起火|爆炸|爆了|炸了|短路|烧焦|在冒)")),
    _Rule("electric", _r(_WIRE + r"[^，。！？,.!?]{0,8}(?P<v>掉|断|垂|落|耷拉|拖|搭)[^，。！？,.!?]{0,6}(?:地上|地面|路上|下来|"
                         r"马路|水里|人行道|路中间|积水|车上|身上)")),
    _Rule("electric", _r(_WIRE + r"[^，。！？,.!?]{0,4}(?P<v>断了|断咗|吹断|扯断|挂断|砸断|撞断|烧断|挖断|被挖断)")),
    _Rule("electric", _r(r"(?:积水|水里|水中|水坑|湿地上)[^，。！？,.!?]{0,6}(?P<v>" + _WIRE + r"|漏电|有电)|"
                         r"(?:" + _WIRE + r")[^，。！？,.!?]{0,6}(?P<w>泡在水|泡着|浸在水|掉进水)")),
    _Rule("electric", _r(r"(?P<v>冒火花|电火花|火花四溅|闪火花|打火花|起火花|冒火星|火星子|漏电|电到人|麻手|麻脚|脚麻|电麻|"
                         r"触电|被电到|被电倒)"), unless=_r(r"漏电保护|漏电开关|防漏电")),
    # someone fallen in / trapped / buried / swept away
    _Rule("trapped", _r(_WHO + r"[^，。！？,.!?]{0,8}(?P<v>掉进|掉到|掉下|掉落|掉咗|跌进|跌落|跌入|跌咗|摔进|摔下|落入|落进|陷进|"
                                r"坠入|坠落|卡在|卡住|困在|被困|困住|被埋|埋在|压在|被压|出不来|爬不上来|爬不出来|上不来|冲走|"
                                r"卷走|锁在)"),
          past_guard=True),
    _Rule("trapped", _r(r"被困|困住了|困在里面|困喺|出不来了|爬不上来|爬不出来|救不出来|电梯困人|困电梯|卡在电梯|电梯里困|电梯关人|"
                        r"关在电梯|电梯里关|困在电梯|被埋了|"
                        r"埋在下面|埋在里面"), past_guard=True),
    _Rule("trapped", _r(_VEHICLE + r"[^，。！？,.!?]{0,6}(?P<v>掉进|掉到|冲进|翻进|坠入|落入|栽进|开进|滑进)[^，。！？,.!?]{0,4}"
                        r"(?:河|沟|坑|湖|海|水|井|塘|基坑|江)"), past_guard=True),
    _Rule("trapped", _r(r"溺水|落水|掉河里|掉进河|掉进水|掉水里|被水冲|冲走了|淹到人|人被淹|卷入水|困在水里|困在车里|"
                        r"车被淹[^，。！？,.!?]{0,6}(?:有人|人在)"), past_guard=True),
    # collapse (a structure has come down, or is coming down on people)
    _Rule("collapse", _r(_STRUCTURE + r"[^，。！？,.!?]{0,8}(?P<v>塌了|倒塌|坍塌|塌方|垮了|垮塌|塌下来|倒下来|崩塌|塌掉|冧咗|"
                         r"冧落嚟|塌咗|倒咗)")),
    _Rule("collapse", _r(r"山体滑坡|泥石流|地陷[^，。！？,.!?]{0,6}(?:人|车)|塌方了|大面积塌陷")),
    _Rule("collapse", _r(_STRUCTURE + r"[^，。！？,.!?]{0,6}(?:要塌|快塌|要倒|快倒)[^，。！？,.!?]{0,10}(?:下面|底下|里面)"
                         r"[^，。！？,.!?]{0,4}(?P<v>有人|全是人|好多人|站着人|住着人)"), risk_guard=False),
    # a tree or structure on people or cars
    _Rule("crush", _r(_HEAVY + r"[^，。！？,.!?]{0,10}(?P<v>砸到|砸中|砸伤|砸了|砸倒|砸在|压住|压着|压到|压在|压扁|压中|倒在|扑在|"
                      r"落在|掉在|打到|打中)[^，。！？,.!?]{0,6}(?:" + _WHO + r"|" + _VEHICLE + r"|头上|身上)"),
          past_guard=True),
    _Rule("crush", _r(r"(?P<v>砸到|砸中|砸伤|砸在|压住|压着|压到|压在|压扁|埋住|埋了)(?:了)?[^，。！？,.!?]{0,4}(?:" + _WHO +
                      r"|" + _VEHICLE + r")"), past_guard=True, unless=_r(r"压到井盖|压到了井盖|车压|车轮")),
    _Rule("crush", _r(r"(?:" + _VEHICLE + r"|" + _WHO + r")[^，。！？,.!?]{0,6}(?P<v>被砸|被压|被树压|被树砸|被倒下的)"),
          past_guard=True),
    _Rule("crush", _r(r"(?:车里|车内|车底|车下面|废墟|瓦砾|(?:塌|倒|垮|砸)[^，。！？,.!?]{0,8}(?:下面|里面|底下))"
                      r"[^，。！？,.!?]{0,3}(?:好像|还|似乎|可能|应该)?(?P<v>有人|有个人|困着人|压着人|坐着人|有小孩)"),
          risk_guard=False),
    # explosion (not 炸鸡, 油炸, 气炸了, 炸街, a rubbish bin "快炸了", a burst water main)
    _Rule("explosion", _r(r"爆炸(?!性|头|新闻)|发生爆炸|炸开了|(?:罐|瓶|锅炉|变压器|电箱|配电箱|气罐|煤气罐|电池|充电宝|电动车|"
                          r"电瓶车|下水道|化粪池|沼气池|井|管道|锅)[^，。！？,.!?]{0,4}(?P<v>炸了|爆了|炸开|炸飞|爆开)"),
          unless=_r(r"水管|自来水|炸鸡|油炸|炸串|炸街|气炸|快炸了|要炸了|炸锅|爆满|爆仓|爆胎|车胎|轮胎")),
    # injury
    _Rule("injury", _r(r"受伤|受咗伤|流血|出血|流紧血|头破血流|血流|满脸是血|满身是血|一地血|好多血|很多血|骨折|昏迷|晕倒|昏倒|"
                       r"晕过去|晕咗|不省人事|没了呼吸|没呼吸|没有呼吸|没有反应|没反应了|叫不醒|喊不醒|抽搐|休克|吐血|撞伤|砸伤|"
                       r"摔伤|烫伤|烧伤|电伤|重伤|伤者|伤员|死人|死了人|断气|倒地不起|躺在地上不动|躺地上不动|趴在地上不动|"
                       r"触电|被电到|电倒|心脏病发|心梗|中风了|撞到人|撞倒了人|把人撞|人被撞|咬伤|割伤|砍伤|捅伤|刺伤|"
                       r"血肉模糊|不会动了|动不了了|躺着不动|躺在那不动|一动不动|倒地不动|叫他也不应|叫她也不应|叫也不应|喊也不应"),
          past_guard=True, unless=_r(r"伤害赔偿|工伤|受伤保险|献血|血压|血糖|新闻")),
    _Rule("injury", _r(_WHO + r"[^，。！？,.!?]{0,4}(?P<v>被车撞|被撞倒|被撞飞|被撞伤|被撞了|被车碾|被车刮倒)"), past_guard=True),
    # violence (an argument is not violence; 枪 and 刀 only as weapons)
    _Rule("violence", _r(r"打架|打交|斗殴|打群架|群殴|围殴|互殴|殴打|打人|打伤|被打|挨打|打起来了|打起上来|大打出手|动起手来|动手打|"
                         r"扭打|厮打|撕打|砍人|斩人|劈友|捅人|行凶|凶手|持刀|拿刀|动刀|挥刀|掏刀|亮刀|举刀|刀捅|拿着刀|拿着一把刀|"
                         r"刀子|菜刀|砍刀|西瓜刀|水果刀|匕首|有枪|持枪|拿枪|开枪|枪声|掏枪|举枪|抢劫|抢包|抢钱|抢东西|打劫|绑架|"
                         r"劫持|家暴|非礼|性侵|强奸|拿棍子打|拿铁棍|拿砖头砸|拿酒瓶|拿钢管|砸人|追着打|追砍|械斗|"
                         r"(?:在|正在|围着|按着|揪着)打(?:一个|个|那个|这个|几个)?" + _WHO),
          past_guard=True, unless=_r(r"打人工|打工|打车|打架子鼓|刀削面|剪刀|刀具|磨刀|打人行道")),
    # self-harm
    _Rule("self_harm", _r(r"跳楼|要跳下来|想跳下去|轻生|跳河|跳江|跳海|想不开|要自杀|自杀|割腕|上吊|服毒|喝农药"),
          unless=_r(r"跳楼价|跳楼甩卖|跳楼大甩卖")),
    # a cry for help
    _Rule("help", _r(r"救命|救人啊|救人呀|快救人|来人啊|来人呀|快来人|helpme|sos|SOS|快叫救护车|叫救护车|打120|打119|打110|"
                     r"报警啊|快报警"), risk_guard=False,
          unless=_r(r"救命稻草|救命钱|救命之恩|要打|要不要打|需要打|应该打|是不是打|能不能打|该打")),
)

_TYPOS = (("泄露", "泄漏"), ("天燃气", "天然气"), ("煤汽", "煤气"), ("燃汽", "燃气"))


def _clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    lo = 0
    for m in _CLAUSE.finditer(text, 0, start):
        lo = m.end()
    m = _CLAUSE.search(text, end)
    return lo, (m.start() if m else len(text))


def _guarded(rule: _Rule, text: str, m: re.Match) -> bool:
    """True when the matched danger is a risk, a memory, a denial, or one of the rule's look-alikes."""
    v_start, v_end = (m.span("v") if "v" in m.re.groupindex and m.group("v") is not None else m.span())
    lo, hi = _clause_bounds(text, m.start(), m.end())
    if rule.unless is not None and rule.unless.search(text[lo:hi]):
        return True
    before = text[max(lo, v_start - 12):v_start]
    if rule.neg_guard and _NEG.search(before[-6:]):
        return True
    if rule.risk_guard and (_RISK.search(before) or _RISK_AFTER.search(text[v_end:hi])):
        return True
    if rule.past_guard and (_PAST.search(text[lo:hi]) or text[v_end:v_end + 1] == "过"
                            or text[v_end:v_end + 2] in ("进去过", "下去过", "伤过")):
        return True
    return False


def _clean(text: str) -> str:
    text = re.sub(r"\s+", "", text or "")
    for wrong, right in _TYPOS:
        text = text.replace(wrong, right)
    return text


def hedged(text: str) -> bool:
    """Whether the message speaks of a risk, the past or a denial anywhere: then only the rules may call it an
    emergency, never the intent classifier on its own."""
    text = _clean(text)
    return bool(_RISK.search(text) or _PAST.search(text) or re.search(r"隐患|风险|没有人|没人受伤|无人", text))


def detect(text: str) -> Emergency | None:
    """The emergency this message describes, or None."""
    text = _clean(text)
    if not text:
        return None
    kinds: list[str] = []
    evidence: list[str] = []
    for rule in RULES:
        for m in rule.pattern.finditer(text):
            if _guarded(rule, text, m):
                continue
            if rule.kind not in kinds:
                kinds.append(rule.kind)
            evidence.append(m.group(0))
            break
    if not kinds:
        return None
    wanted = {line for k in kinds for line in KIND_LINES[k]}
    return Emergency(tuple(kinds), tuple(line for line in LINES_ORDER if line in wanted), tuple(evidence))


def _main(argv: list[str] | None = None) -> int:
    """`python -m nlu.emergency FILE...`: JSONL with `text` (and optionally `label`) → the share flagged, by label."""
    import argparse
    import json
    from collections import Counter

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--show", action="store_true", help="print every flagged text")
    args = ap.parse_args(argv)
    total, flagged = Counter(), Counter()
    for path in args.files:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                row = json.loads(line)
                label = row.get("label", "?")
                total[label] += 1
                found = detect(row.get("text", ""))
                if found:
                    flagged[label] += 1
                    if args.show:
                        print(f"[{label}] {found.kinds} {found.evidence} {row.get('text', '')[:120]}")
    for label in sorted(total):
        print(f"{label}: {flagged[label]}/{total[label]} flagged ({flagged[label] / total[label]:.1%})")
    city = sum(n for label, n in total.items() if label not in ("其他", "?"))
    city_flagged = sum(n for label, n in flagged.items() if label not in ("其他", "?"))
    if city:
        print(f"city-management texts flagged: {city_flagged}/{city} ({city_flagged / city:.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
