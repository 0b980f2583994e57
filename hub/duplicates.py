"""Likely-duplicate detection: same 小类, recent, still handled, and the same place — near (haversine, for reports
with lat/long: shared GPS or a geocoded address) or the same place by its normalised parts (citybot.places: the
same road and the same cross road, house number or landmark; or the same landmark), or the same address text."""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import unicodedata

from sqlalchemy import bindparam, or_, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from citybot import places
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


@functools.cache
def _statements() -> tuple:
    """(near, same address): built once, on first use, with bind parameters (the filing hot path)."""
    base = select(Case.id, Case.lat, Case.long).where(
        Case.service_code == bindparam("code"), Case.requested_at >= bindparam("since"),
        Case.state.in_(bindparam("states", expanding=True)))
    near = base.where(Case.lat.between(bindparam("lat_lo"), bindparam("lat_hi")),
                      Case.long.between(bindparam("lon_lo"), bindparam("lon_hi"))).order_by(Case.requested_at).limit(50)
    # Candidates by place (indexed: service_code + the stored road or landmark key), then compared by their parts
    by_place = base.with_only_columns(Case.id, Case.address, Case.address_norm).where(or_(
        Case.place_road.in_(bindparam("roads", expanding=True)),
        Case.place_mark.in_(bindparam("marks", expanding=True)),
        Case.address_norm == bindparam("address"))).order_by(Case.requested_at).limit(200)
    return near, by_place


def find_duplicate(*, session: Session | Connection, service_code: str, lat: float | None, long: float | None,
                   address_norm: str | None, since: dt.datetime, radius_m: float,
                   address: str | None = None) -> str | None:
    """The id of the oldest case still being handled that the new report most likely repeats, or None: within
    `radius_m` of its lat/long, else (or when none is near) at the same place by the address's parts."""
    near, by_place = _statements()
    params = {"code": service_code, "since": since, "states": sorted(lifecycle.ACTIVE_STATES)}
    if lat is not None and long is not None:
        # A bounding box in SQL (index-friendly), then the exact distance in Python.
        dlat = radius_m / 111_000
        dlon = radius_m / (111_000 * max(math.cos(math.radians(lat)), 0.01))
        params.update(lat_lo=lat - dlat, lat_hi=lat + dlat, lon_lo=long - dlon, lon_hi=long + dlon)
        for row in session.execute(near, params):
            if haversine_m(lat, long, row.lat, row.long) <= radius_m:
                return row.id
    if not address_norm:
        return None
    place = places.parse(address) if address else None
    roads = places.probe_keys(place.road, place.cross_road) if place else []
    marks = places.probe_keys(place.landmark) if place else []
    for row in session.execute(by_place, {**params, "roads": roads, "marks": marks, "address": address_norm}):
        if row.address_norm == address_norm:
            return row.id
        if place is not None and places.same_place(place, places.parse(row.address)):
            return row.id
    return None
