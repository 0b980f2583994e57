"""Likely-duplicate detection: same 小类, near (haversine) or same normalised address, recent, still handled."""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata

from sqlmodel import Session, select

from hub import lifecycle
from hub.models import Case

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def normalise_address(text: str | None) -> str | None:
    """Full-width to half-width, case-folded, without spaces or punctuation: '人民路 12号。' == '人民路12号'."""
    if not text:
        return None
    norm = _PUNCT.sub("", unicodedata.normalize("NFKC", text).casefold())
    return norm or None


def find_duplicate(*, session: Session, service_code: str, lat: float | None, long: float | None,
                   address_norm: str | None, since: dt.datetime, radius_m: float) -> Case | None:
    """The oldest case still being handled that the new report most likely repeats, or None."""
    q = select(Case).where(Case.service_code == service_code, Case.requested_at >= since,
                           Case.state.in_(lifecycle.ACTIVE_STATES))
    if lat is not None and long is not None:
        # A bounding box in SQL (index-friendly), then the exact distance in Python.
        dlat = radius_m / 111_000
        dlon = radius_m / (111_000 * max(math.cos(math.radians(lat)), 0.01))
        q = q.where(Case.lat.between(lat - dlat, lat + dlat), Case.long.between(long - dlon, long + dlon))
        candidates = [c for c in session.exec(q.order_by(Case.requested_at).limit(50))
                      if haversine_m(lat, long, c.lat, c.long) <= radius_m]
        return candidates[0] if candidates else None
    if address_norm:
        return session.exec(q.where(Case.address_norm == address_norm).order_by(Case.requested_at).limit(1)).first()
    return None
