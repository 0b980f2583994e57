"""nlu.text: the clean-up every message gets before the model sees it."""

import time

from nlu.text import MAX_CHARS, normalize, strip_boilerplate


def test_strips_html_control_characters_and_emoji():
    assert normalize("<p>井盖&nbsp;没了</p>\x00\x07😡😡") == "井盖 没了"


def test_full_width_letters_and_digits_become_ascii():
    assert normalize("ＡＢＣ１２３") == "ABC123"


def test_caps_length_quickly():
    started = time.perf_counter()
    out = normalize("井" * 100_000)
    assert len(out) == MAX_CHARS
    assert time.perf_counter() - started < 1.0


def test_non_strings_and_none_become_text():
    assert normalize(None) == ""
    assert normalize(12) == "12"


def test_hotline_boilerplate_is_removed_but_the_problem_stays():
    out = strip_boilerplate("市民来电反映：美兰区某路口井盖缺失，希望相关部门尽快处理。")
    assert "井盖缺失" in out
    assert "市民来电反映" not in out and "希望相关部门尽快处理" not in out
