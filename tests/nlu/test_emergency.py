"""The emergency rule layer (nlu/emergency.py) on citybot's own recall set and hard negatives
(tests/nlu/emergency_cases.yml): every emergency found with the right line(s), no hard negative flagged."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nlu.emergency import detect

CASES = yaml.safe_load((Path(__file__).parent / "emergency_cases.yml").read_text(encoding="utf-8"))


def test_every_emergency_is_found_with_its_lines():
    missed = []
    for text, lines in CASES["positives"]:
        found = detect(text)
        if found is None or not {str(n) for n in lines} <= set(found.lines):
            missed.append((text, lines, found and found.lines))
    assert not missed, "\n".join(map(str, missed))


def test_no_hard_negative_is_an_emergency():
    flagged = [(text, found.kinds, found.evidence) for text in CASES["negatives"] if (found := detect(text))]
    assert not flagged, "\n".join(map(str, flagged))


@pytest.mark.parametrize("text", ["", "   ", "👍", "x" * 5000])
def test_odd_input_is_not_an_emergency(text):
    assert detect(text) is None


def test_lines_are_ordered_and_kinds_explain_them():
    found = detect("两个人打架，有人头上在流血")
    assert found.lines == ("110", "120") and set(found.kinds) == {"violence", "injury"}
    assert found.as_dict()["lines"] == ["110", "120"]
