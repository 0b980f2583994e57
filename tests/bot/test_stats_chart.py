"""The /stats chart is drawn in Chinese with the font that installs with the project: every character of its
title, axis and category labels has a real glyph in the font matplotlib uses (not .notdef, the missing-glyph box),
and matplotlib reports no missing glyph while rendering."""

from __future__ import annotations

import io
import warnings

from bot.staff import stats
from citybot import catalogue

STATS = {"total": 6, "by_group": {"市容环境": {"dispatched": 2, "resolved": 1}, "街面秩序": {"closed": 2},
                                  "园林绿化": {"received": 1}}}


def test_the_packaged_cjk_font_is_used():
    assert stats.cjk_font() == "Noto Sans CJK SC"
    labels, legend, chinese = stats.chart_labels(["市容环境", "街面秩序"], catalogue.load())
    assert chinese and labels == ["市容环境", "街面秩序"] and legend == {}


def test_the_chart_labels_have_real_glyphs():
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)" for a box
        png, legend = stats.render_chart(STATS, "week", catalogue.load())
    assert legend == {} and Image.open(io.BytesIO(png)).size == (640, 400)

    found = font_manager.findfont(font_manager.FontProperties(family=stats.cjk_font()), fallback_to_default=False)
    font = FT2Font(str(found.path), face_index=found.face_index)  # the face of the collection matplotlib uses
    assert font.family_name == "Noto Sans CJK SC"
    text = "".join(STATS["by_group"]) + "案件统计（本周）件办理中已办结其他"
    assert [ch for ch in text if font.get_char_index(ord(ch)) == 0] == []  # 0 = .notdef, the box
    assert font.get_char_index(ord("\u0e01")) == 0  # the check can fail: a Thai letter is not in this font
