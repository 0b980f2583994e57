"""The geocoder seam: from a normalised place to coordinates, so that a report filed by address gets lat/long and
the hub's radius duplicate rule applies to it.

One interface, `await geocoder.locate(place) -> Point | None` (place: the NLU's location dict or an address string;
None when it does not resolve precisely enough — geocoding never blocks a filing), with two adapters:

- `AddressFileGeocoder`: the city's own standard-address / POI file (标准地址库), CSV or GeoJSON, read once. Each
  entry is read with `citybot.places.parse`, the normaliser the NLU and the hub use, and a place resolves when its
  parts name an entry exactly: road + house number, the two roads of a junction, or the landmark (on the same road
  when both name one). The default when `GEOCODER_FILE` is set.
- `HttpGeocoder`: an online geocoding API over httpx (AMap's web-service shape: `GET url?address=&city=&key=` →
  `{"status": "1", "geocodes": [{"location": "lng,lat", "level": ...}]}`), only results at a house number, a POI or
  a junction. Off by default; on with `GEOCODER_KEY`.

`build(settings)` chains what is configured (the file first) or returns None.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from citybot import places

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Point:
    lat: float
    long: float
    source: str = ""  # which adapter resolved it, for logs


class Geocoder(Protocol):
    async def locate(self, place: dict | str | None) -> Point | None: ...


def _place(place: dict | str | None) -> places.Place | None:
    if isinstance(place, dict):
        text = place.get("text") or place.get("value")
        if place.get("district") and text and place["district"] not in text:
            text = place["district"] + text
        return places.parse(text) if text else None
    return places.parse(place) if place else None


def _keys(p: places.Place) -> list[tuple]:
    """The exact keys a place can be found under, most precise first."""
    road, cross = places.key_name(p.road), places.key_name(p.cross_road)
    number, mark = places.key_name(p.number), places.key_name(p.landmark)
    out = []
    if road and number:
        out.append(("number", road, number))
    if road and cross:
        out.append(("junction", frozenset((road, cross))))
    if mark:
        out.append(("landmark", mark, road))
        out.append(("landmark", mark, None))
    return out


class AddressFileGeocoder:
    """A city's standard-address / POI file. CSV: a header with `address` (or `name`), `lat` and `long` (or `lng`,
    `lon`), optional `district`. GeoJSON: a FeatureCollection of Points with `address` or `name` properties."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.index: dict[tuple, list[tuple[Point, places.Place]]] = {}
        for text, district, lat, long in self._entries():
            p = places.parse((district or "") + text if district and district not in text else text)
            for key in _keys(p):
                self.index.setdefault(key, []).append((Point(lat, long, f"file:{self.path.name}"), p))
        log.info("geocoder: %d keys from %s", len(self.index), self.path)

    def _entries(self):
        if self.path.suffix.lower() in (".geojson", ".json"):
            data = json.loads(self.path.read_text(encoding="utf-8"))
            for f in data.get("features") or ():
                geom, props = f.get("geometry") or {}, f.get("properties") or {}
                text = props.get("address") or props.get("name")
                if geom.get("type") == "Point" and text and len(geom.get("coordinates") or ()) >= 2:
                    long, lat = geom["coordinates"][:2]
                    yield str(text), props.get("district"), float(lat), float(long)
            return
        with self.path.open(encoding="utf-8-sig", newline="") as fh:
            for n, row in enumerate(csv.DictReader(fh), 2):
                text = (row.get("address") or row.get("name") or "").strip()
                lat, long = row.get("lat"), row.get("long") or row.get("lng") or row.get("lon")
                try:
                    yield text, (row.get("district") or "").strip() or None, float(lat), float(long)
                except (TypeError, ValueError):
                    log.warning("geocoder: %s line %d: no usable address/lat/long, skipped", self.path, n)

    async def locate(self, place: dict | str | None) -> Point | None:
        p = _place(place)
        if p is None:
            return None
        for key in _keys(p):
            hits = [point for point, entry in self.index.get(key, ())
                    if not (p.district and entry.district and p.district != entry.district)]
            if len({(h.lat, h.long) for h in hits}) == 1:  # one place; several different ones: ambiguous
                return hits[0]
        return None


class HttpGeocoder:
    """An online geocoding API (AMap web-service shape) over httpx; any failure is a miss, logged."""

    PRECISE = ("门牌号", "兴趣点", "道路交叉路口", "单元号", "楼栋")

    def __init__(self, url: str, key: str, *, city: str = "", timeout: float = 3.0, transport=None):
        import httpx

        self.url, self.key, self.city = url, key, city
        self.client = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def locate(self, place: dict | str | None) -> Point | None:
        p = _place(place)
        if p is None or not p.text:
            return None
        params = {"address": p.text, "key": self.key, "output": "JSON"}
        if self.city or p.city:
            params["city"] = p.city or self.city
        try:
            r = await self.client.get(self.url, params=params)
            r.raise_for_status()
            data = r.json()
            hits = [g for g in data.get("geocodes") or () if g.get("level") in self.PRECISE]
            if str(data.get("status")) != "1" or not hits:
                return None
            long, lat = (float(v) for v in str(hits[0]["location"]).split(","))
            return Point(lat, long, "api")
        except Exception as exc:  # noqa: BLE001 - a geocoder outage must never stop a filing
            log.warning("geocoder API failed for %s: %s", p.text[:40], exc)
            return None

    async def aclose(self) -> None:
        await self.client.aclose()


class ChainGeocoder:
    """The first adapter that resolves the place."""

    def __init__(self, geocoders: list):
        self.geocoders = geocoders

    async def locate(self, place: dict | str | None) -> Point | None:
        for g in self.geocoders:
            point = await g.locate(place)
            if point is not None:
                return point
        return None


def build(settings) -> Geocoder | None:
    """From settings: GEOCODER_FILE (a standard-address file), GEOCODER_URL + GEOCODER_KEY (online, off without a
    key). None when neither is configured: reports are filed by address alone."""
    chain: list = []
    if settings.geocoder_file:
        chain.append(AddressFileGeocoder(settings.geocoder_file))
    if settings.geocoder_key:
        chain.append(HttpGeocoder(settings.geocoder_url, settings.geocoder_key, city=settings.geocoder_city,
                                  timeout=settings.geocoder_timeout_s))
    return chain[0] if len(chain) == 1 else ChainGeocoder(chain) if chain else None
