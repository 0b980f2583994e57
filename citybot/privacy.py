"""Masking of personal data (phone numbers, ID-card numbers, plate numbers) in text, logs and staff views.

Pure standard library so that every component, in either virtualenv, masks the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import re

# 18-digit resident ID (last may be X), before phones so that an ID is not read as a phone.
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5})(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:[0-2]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])")
# Mainland mobile numbers (optionally +86), and landlines like 0898-66668888.
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})-?(\d{7,8})(?!\d)")
# Plate numbers: province character + letter + 5 or 6 alphanumerics (new-energy plates have 6).
_PLATE = re.compile(r"([京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼])([A-HJ-NP-Z])[·•\s]?([A-HJ-NP-Z0-9]{4,5})([A-HJ-NP-Z0-9挂学警港澳])?")


def mask_phone(text: str) -> str:
    text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(2)[-2:]}", text)


def mask_id_card(text: str) -> str:
    return _ID_CARD.sub(lambda m: f"{m.group(1)}********{m.group(0)[-4:]}", text)


def mask_plate(text: str) -> str:
    return _PLATE.sub(lambda m: f"{m.group(1)}{m.group(2)}***{(m.group(3) + (m.group(4) or ''))[-1]}", text)


def mask(text: str) -> str:
    """Mask every kind of personal number this module knows in `text`."""
    if not text:
        return text
    return mask_plate(mask_phone(mask_id_card(text)))


def mask_name(name: str) -> str:
    """张三丰 -> 张**; keeps the family name only."""
    name = (name or "").strip()
    return name[:1] + "*" * max(len(name) - 1, 1) if name else name


def salted_hash(value: str, salt: str) -> str:
    """A stable, non-reversible identifier for a phone number (keyed HMAC-SHA256, hex)."""
    digits = re.sub(r"\D", "", value or "")
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return hmac.new(salt.encode(), digits.encode(), hashlib.sha256).hexdigest()
