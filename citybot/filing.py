"""The filing decision, one for every channel (chat and hotline): file, ask or refer; the address; masking; the Filing.

- `decide(category)`: the NLU's `category` output -> REFER (not city management: the citizen is told where to
  go), ASK (city management, but the classifier is unsure or its two best 小类 are close: the chat asks with
  buttons; the hotline, which cannot ask, files the best 小类 and staff reclassify) or FILE.
- `place_text(location)`: the address a worker is sent to, from the NLU's `location` output (its text, with
  the district in front when the text leaves it out).
- `make(...)`: the Filing, its description masked (phone numbers, ids: the hub shows descriptions publicly) and
  cut to the hub's limit; a report without any place is filed for staff to complete (needs_place), never lost.
- `located(filing, geocoder)`: coordinates from the city's address file, so the hub's radius rule applies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from citybot.catalogue import OTHER
from citybot.privacy import mask
from hubapi.models import Filing

# When the classifier is this unsure, or its top two 小类 are this close, the chat asks instead of guessing.
MIN_CONFIDENCE = 0.6
MIN_MARGIN = 0.15
MAX_DESCRIPTION = 4000  # the hub's limit (hub/limits.py)

FILE, ASK, REFER = "file", "ask", "refer"


def ambiguous(service_code: str | None, confidence: float, alternatives: Iterable[Mapping] = ()) -> bool:
    """Too unsure to file without asking: no 小类, low confidence, or the best two 小类 close together."""
    if not service_code or confidence < MIN_CONFIDENCE:
        return True
    subs = [a for a in alternatives if a.get("service_code")]
    return len(subs) >= 2 and float(subs[0].get("confidence", 0)) - float(subs[1].get("confidence", 0)) < MIN_MARGIN


def decide(category: Mapping[str, Any] | None) -> str:
    """FILE, ASK or REFER for the NLU's `category` output ({category, service_code, confidence, alternatives})."""
    category = category or {}
    if (category.get("category") or OTHER) == OTHER or not category.get("service_code"):
        return REFER
    if ambiguous(category.get("service_code"), float(category.get("confidence") or 0.0),
                 [a for a in category.get("alternatives") or () if isinstance(a, Mapping)]):
        return ASK
    return FILE


def place_text(location: Mapping[str, Any] | str | None) -> str | None:
    """The address to file from the NLU's location (a dict with text/district, or typed text)."""
    if not location:
        return None
    if isinstance(location, str):
        return location.strip() or None
    text = str(location.get("text") or location.get("value") or "").strip()
    district = str(location.get("district") or "")
    if text and district and district not in text:
        text = district + text
    return text or None


def make(*, code: str, description: str, address: str | None = None, lat: float | None = None,
         long: float | None = None, photos: Iterable[str] = (), account_id: str | None = None,
         channel: str, external_id: str, contact: Mapping[str, str] | None = None) -> Filing:
    """The report as the hub takes it. The citizen's name and phone go only with `contact` (the citizen's consent
    in the chat; the hotline's record)."""
    contact = contact or {}
    address = (address or "").strip() or None
    return Filing(code, mask(description or "")[:MAX_DESCRIPTION], address=address, lat=lat, long=long,
                  media_urls=tuple(photos), account_id=account_id, channel=channel, external_id=external_id,
                  needs_place=address is None and (lat is None or long is None),
                  **{k: contact[k] for k in ("first_name", "last_name", "phone") if contact.get(k)})


async def located(filing: Filing, geocoder) -> Filing:
    """The filing with lat/long when it has an address but no coordinates and the geocoder resolves the place
    (citybot.geocoder; None = off)."""
    if geocoder is None or not filing.address or filing.lat is not None:
        return filing
    point = await geocoder.locate(filing.address)
    return dataclasses.replace(filing, lat=point.lat, long=point.long) if point is not None else filing
