"""Text clean-up shared by the NLU components: normalisation of citizens' input and hotline boilerplate.

Standard library only (zhconv is used when installed, i.e. in .venv-rasa) so that both virtualenvs can use it.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Longer input is cut: a 10,000-character paste must not slow the pipeline down.
MAX_CHARS = 2000

try:  # 繁→简; zhconv is pinned in requirements/rasa.lock
    import zhconv as _zhconv
except ImportError:  # pragma: no cover - the app venv does not need it
    _zhconv = None

_TAG = re.compile(r"<[^>]{0,200}>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202f\ufeff]")
# Emoji and pictographs carry no category signal; they become a space.
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\U000E0000-\U000E007F]")
_SPACES = re.compile(r"[ \t\u3000]+")
_REPEAT = re.compile(r"([!！?？~～。.,，…])\1{2,}")


def to_simplified(text: str) -> str:
    return _zhconv.convert(text, "zh-cn") if _zhconv and text else text


def normalize(text: object, max_chars: int = MAX_CHARS) -> str:
    """Clean a citizen's message: NFKC (full-width → half-width letters/digits), no HTML, control characters or
    emoji, 繁→简, collapsed runs of punctuation and spaces, at most `max_chars` characters."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = text[: max_chars * 4]  # bound the work of everything below
    if "<" in text or "&" in text:
        text = html.unescape(_TAG.sub(" ", text))
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text)
    text = _EMOJI.sub(" ", text)
    text = to_simplified(text)
    text = _REPEAT.sub(r"\1\1", text)
    text = _SPACES.sub(" ", text).strip()
    return text[:max_chars]


# Hotline records wrap every problem in the same phrases; they say nothing about the category.
_BOILERPLATE = re.compile(
    "|".join(
        [
            r"市民(?:通过)?(?:来电|电话|微信|公众号|网络|网上|APP|app|短信|邮件|信件)?(?:来信)?(?:反映|反应|投诉|举报|咨询|求助|建议|表示|称)[:：，,]?",
            r"来电人?(?:反映|反应|投诉|举报|表示|称)[:：，,]?",
            r"(?:市民|来电人|其|他|她|该市民)(?:表示|称|说)[:：，,]?",
            r"(?:希望|要求|请求|请|恳请|诉求[:：]?)(?:相关|有关|职能|主管)?(?:部门|单位|领导)?(?:尽快|及时|给予|予以|帮忙|前往|到场|派人)?(?:核实|核查|调查|查处|处理|解决|处置|跟进|整改|协调|回复|答复)(?:处理|解决|一下)?(?:问题)?(?:，|,|。)?(?:谢谢)?",
            r"\[电话\]|【电话】|\[姓名\]",
            r"(?:请|望)?(?:职能局|职能部门|相关部门)(?:按规定)?.{0,20}?(?:内|前)(?:联系|回复|处理)[^。]*。?",
        ]
    )
)


def strip_boilerplate(text: str) -> str:
    return _BOILERPLATE.sub(" ", text)
