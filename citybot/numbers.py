"""Integers from untrusted text: the one parser for query parameters, form fields, commands and callback data.

`str.isdigit()` is true for '²' and '፩' and `int()` accepts '٣' and '１'; checking with one and converting with
the other turns odd input into a crash. Here an integer is ASCII digits only (an optional '-' where negatives are
allowed), bounded in length and value; anything else is a ValueError with a message that can be shown.
"""

from __future__ import annotations

import re

_INT = re.compile(r"-?[0-9]{1,18}")


def parse_int(text: str | int | None, *, lo: int, hi: int, default: int | None = None, name: str = "value") -> int:
    """`text` as an int within [lo, hi]; empty/None -> `default` (ValueError when there is none)."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        raw = (text or "").strip() if isinstance(text, str) or text is None else str(text)
        if not raw:
            if default is None:
                raise ValueError(f"{name} is required: an integer between {lo} and {hi}")
            return default
        if not _INT.fullmatch(raw) or (raw.startswith("-") and lo >= 0):
            raise ValueError(f"{name} must be an integer between {lo} and {hi}")
        value = int(raw)
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer between {lo} and {hi}")
    return value
