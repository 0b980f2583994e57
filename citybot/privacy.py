"""Masking of personal data in text: the one function (`mask`) every part uses wherever text leaves the system —
the hub's public and staff views, the staff chat, logs (citybot.logs) and exports.

What it masks, in any common shape:
- mobile numbers: 13812345678, 138-1234-5678, 138.1234.5678, 138 1234 5678, +86/0086 prefixes, full-width
  digits (１３８１２３４５６７８), Chinese numerals (一三八一二三四五六七八);
- landlines with an area code: 0898-66668888, (0898)66668888, （0898）6666-8888, +86 898 6666 8888; a bare local
  number (66668888) only after a word that says it is one (电话、座机、联系…);
- resident ID-card numbers (18 digits, last may be X; 15-digit old ones), also written in groups;
- plate numbers (粤B12345, 粤B·8X8X8, new-energy plates with 6 characters);
- e-mail addresses;
- names where a pattern finds them: a family name with a title (王先生, 张女士, 李阿姨) and a name after a word
  that introduces one (联系人张三, 姓名：李四, 我叫王五).

Numbers keep their shape (separators, width) with the hidden digits as `*`, so `138****5678` reads as a masked
phone; what is left (first three and last four digits of a mobile, the area code, the last two of a landline)
is what Chinese services print on receipts. Ordinary numbers — house numbers, dates, 14-digit case numbers — are
left alone. Pure standard library so that every component, in either virtualenv, masks the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable

# One character in, one character out: full-width digits, letters and punctuation to ASCII, so that one set of
# patterns finds every width and a match's positions are the original text's.
_FOLD = {**{0xFF10 + i: ord("0") + i for i in range(10)},
         **{0xFF21 + i: ord("A") + i for i in range(26)}, **{0xFF41 + i: ord("a") + i for i in range(26)},
         **{ord(a): ord(b) for a, b in zip("（）＋－．／：　‐‑–—・", "()+-./: ----·")}}
_CN_DIGITS = "〇零一二三四五六七八九幺两"

_SEP = r"[ \-./·]"  # one separator between digit groups
_D = r"\d"

# Resident ID: 17 digits and a check character (digit or X), in any grouping; `_is_id` checks the birth date.
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])[1-9](?:" + _SEP + r"?\d){16}" + _SEP + r"?[\dXx](?![0-9A-Za-z])"
                      r"|(?<![0-9A-Za-z])[1-9]\d{7}(?:0[1-9]|1[0-2])(?:[0-2]\d|3[01])\d{3}(?![0-9A-Za-z])")
_BIRTH = re.compile(r"(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:[0-2]\d|3[01])")
# Mobile: 1[3-9]x xxxx xxxx, any single separators, optional +86 / 0086 / 86 prefix.
_MOBILE = re.compile(r"(?<![\d])(?:(?:\+|00)?86" + _SEP + r"?)?1[3-9](?:" + _SEP + r"?\d){9}(?!\d)")
# Landline with area code: (0898)66668888, 0898-6666-8888, 010 12345678, +86 898 66668888.
_LANDLINE = re.compile(
    r"(?<![\d])(?:(?:\+|00)86" + _SEP + r"?\(?[1-9]\d{1,2}\)?|\(0\d{2,3}\)|0\d{2,3})" + _SEP + r"?\d{3,4}"
    + _SEP + r"?\d{4}(?!\d)")
# A bare local number after a word that says it is a phone number.
_LOCAL = re.compile(r"(?:电话|手机|座机|联系方式|联系|致电|拨打|来电|号码|tel|phone)[:：\s是为]{0,3}"
                    r"(?P<n>\d{3,4}" + _SEP + r"?\d{4})(?!" + _SEP + r"?\d)", re.IGNORECASE)
_CN_MOBILE = re.compile(rf"(?<![{_CN_DIGITS}])[一幺][三四五六七八九][{_CN_DIGITS}]{{9}}(?![{_CN_DIGITS}])")
_EMAIL = re.compile(r"(?<![\w.+-])([\w.+-])[\w.+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
# Plate numbers: province character + letter + 5 or 6 alphanumerics (new-energy plates have 6).
_PLATE = re.compile(r"([京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼])([A-HJ-NP-Z])[·•\s]?"
                    r"([A-HJ-NP-Z0-9]{4,5})([A-HJ-NP-Z0-9挂学警港澳])?")

# The most common family names (about nine in ten people), compound ones first.
_SURNAMES = ("欧阳|司马|诸葛|上官|东方|慕容|皇甫|令狐|尉迟|公孙|"
             "[王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖萧田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
             "姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施"
             "文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲"
             "翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米"
             "柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝]")
_TITLES = "先生|女士|小姐|阿姨|大爷|大妈|大姐|大哥|师傅|老师|同志|太太|老伯|伯伯|阿婆"
_TITLED = re.compile(rf"(?P<s>{_SURNAMES})(?=(?:{_TITLES}))")
# A name after a word that introduces one; it stops before words that follow names (电话, 先生, …).
_STOP = "电话|手机|联系|先生|女士|小姐|反映|来电|投诉|举报|住|在|的|说|称|家|和|与|及|等|是"
_INTRODUCED = re.compile(rf"(?:联系人|姓名|报案人|反映人|来电人|投诉人|举报人|当事人|户主|我叫|本人)[:：\s是为叫]{{0,2}}"
                         rf"(?P<s>{_SURNAMES})(?P<g>(?:(?!{_STOP})[\u4e00-\u9fff]){{1,2}})")

# Text that can hold none of the above is returned at once (most status notes, labels, short texts): first a
# cheap look for any character that starts one of them, then the exact look.
_TRIGGER = re.compile(rf"[\d\uff10-\uff19@{_CN_DIGITS}先女小阿大师老同太伯联姓报反来投举当户我本]")
_CANDIDATE = re.compile(rf"[\d\uff10-\uff19@{_CN_DIGITS}]|{_TITLES}|联系|姓名|报案|反映人|来电人|投诉人|举报人|当事人|户主|我叫|本人")


def _digits_masked(text: str, start: int, end: int, keep_head: int, keep_tail: int) -> str:
    """text[start:end] with its digits hidden except the first `keep_head` and the last `keep_tail`."""
    span = text[start:end]
    digit_positions = [i for i, c in enumerate(span) if c.isdigit() or c in _CN_DIGITS]
    hide = set(digit_positions[keep_head:len(digit_positions) - keep_tail])
    return "".join("*" if i in hide else c for i, c in enumerate(span))


def _area_len(folded: str, start: int, end: int) -> int:
    """Digits of a landline match that are its area code (+86 and the code, or 0 and the code)."""
    digits = "".join(c for c in folded[start:end] if c.isdigit())
    if digits.startswith(("0086", "86")) and not folded[start:end].lstrip("(").startswith("0"):
        prefix = 4 if digits.startswith("0086") else 2
        rest = digits[prefix:]
        return prefix + (2 if rest[:1] in "12" else 3)
    return 3 if digits[1:2] in "12" else 4  # 010, 02x: three digits; others four


def mask(text: str) -> str:
    """Mask every kind of personal data this module knows in `text` (see the module docstring)."""
    if not text or not _TRIGGER.search(text) or not _CANDIDATE.search(text):
        return text
    folded = text.translate(_FOLD)
    edits: list[tuple[int, int, Callable[[], str]]] = []  # (start, end, replacement) on the original text

    def add(start: int, end: int, make: Callable[[], str]) -> None:
        if all(end <= s or start >= e for s, e, _ in edits):  # first pattern to claim a span wins
            edits.append((start, end, make))

    for m in _ID_CARD.finditer(folded):
        digits = "".join(c for c in m.group() if c.isdigit())
        if len(digits) >= 17 and not _BIRTH.fullmatch(digits[6:14]):
            continue  # 18 characters but no birth date: some other number
        tail = 3 if folded[m.end() - 1] in "Xx" else 4  # the last four characters stay, as ID receipts print
        add(m.start(), m.end(), lambda s=m.start(), e=m.end(), t=tail: _digits_masked(text, s, e, 6, t))
    for m in _MOBILE.finditer(folded):
        add(m.start(), m.end(), lambda s=m.start(), e=m.end(): _mobile(text, folded, s, e))
    for m in _LANDLINE.finditer(folded):
        add(m.start(), m.end(), lambda s=m.start(), e=m.end(): _digits_masked(text, s, e, _area_len(folded, s, e), 2))
    for m in _LOCAL.finditer(folded):
        add(m.start("n"), m.end("n"), lambda s=m.start("n"), e=m.end("n"): _digits_masked(text, s, e, 0, 2))
    for m in _CN_MOBILE.finditer(text):
        add(m.start(), m.end(), lambda s=m.start(), e=m.end(): _digits_masked(text, s, e, 3, 4))
    for m in _EMAIL.finditer(folded):
        add(m.start(), m.end(), lambda m=m: f"{m.group(1)}***@{m.group(2)}")
    for m in _PLATE.finditer(folded):
        add(m.start(), m.end(),
            lambda m=m: f"{text[m.start(1)]}{text[m.start(2)]}***{(m.group(3) + (m.group(4) or ''))[-1]}")
    for m in _TITLED.finditer(text):
        add(m.start("s"), m.end("s"), lambda m=m: "*" * len(m.group("s")))
    for m in _INTRODUCED.finditer(text):
        add(m.start("g"), m.end("g"), lambda m=m: "*" * len(m.group("g")))
    if not edits:
        return text
    out, pos = [], 0
    for start, end, make in sorted(edits, key=lambda e: e[0]):
        out.append(text[pos:start])
        out.append(make())
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _mobile(text: str, folded: str, start: int, end: int) -> str:
    """A mobile number: the prefix (+86), the first three and the last four digits stay."""
    digits = [c for c in folded[start:end] if c.isdigit()]
    prefix = len(digits) - 11
    return _digits_masked(text, start, end, prefix + 3, 4)


def mask_name(name: str) -> str:
    """张三丰 -> 张**; keeps the family name only (a compound one too: 欧阳修 -> 欧阳*)."""
    name = (name or "").strip()
    if not name:
        return name
    head = 2 if re.match(r"(?:欧阳|司马|诸葛|上官|东方|慕容|皇甫|令狐|尉迟|公孙)", name) and len(name) > 2 else 1
    return name[:head] + "*" * max(len(name) - head, 1)


def digits_of(value: str) -> str:
    """The ASCII digits of `value`, whatever their width or script (１３８ -> 138)."""
    return "".join(str(unicodedata.digit(c)) for c in value or "" if c.isdigit() and unicodedata.digit(c, None) is not None)


def salted_hash(value: str, salt: str) -> str:
    """A stable, non-reversible identifier for a phone number (keyed HMAC-SHA256, hex). Any width or grouping
    of the same number gives the same hash; a +86/0086 prefix is dropped."""
    digits = digits_of(value)
    if digits.startswith("0086") and len(digits) == 15:
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return hmac.new(salt.encode(), digits.encode(), hashlib.sha256).hexdigest()
