"""Reading one user turn: the NLU's `category` and `location` outputs, entities, and channel metadata.

The NLU's `emergency` output (nlu/components/triage.py) says which line(s) a dangerous situation needs.
The channel puts photos in the message metadata as {"photos": [media_url, ...]} and a shared location as
{"location": {"lat": .., "long": ..}}. The NLU's properties arrive in tracker.latest_message; the service_code
and location entities are read as a fallback (e.g. when a message came through an older model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from citybot import filing


@dataclass(frozen=True)
class Classification:
    service_code: str | None
    confidence: float
    alternatives: tuple[dict, ...] = ()
    referral: str | None = None
    category: str | None = None

    @property
    def choices(self) -> list[dict]:
        """The 小类 worth offering as buttons (city-management alternatives only), best first."""
        return [a for a in self.alternatives if a.get("service_code")][:2]

    @property
    def ambiguous(self) -> bool:
        """Too unsure to file without asking (the thresholds: citybot/filing.py, shared with the hotline)."""
        return filing.ambiguous(self.service_code, self.confidence, self.alternatives)


@dataclass(frozen=True)
class Turn:
    text: str
    intent: str | None
    classification: Classification
    address: str | None
    lat: float | None
    long: float | None
    photos: tuple[str, ...] = ()
    contact: dict = field(default_factory=dict)
    entities: tuple[dict, ...] = ()
    emergency: dict | None = None   # nlu/components/triage.py: {kinds, lines, evidence, source}

    def entity(self, name: str) -> Any:
        return next((e.get("value") for e in self.entities if e.get("entity") == name), None)


def _float(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _classification(msg: dict) -> Classification:
    cat = msg.get("category")
    if isinstance(cat, dict):
        return Classification(cat.get("service_code"), float(cat.get("confidence") or 0.0),
                              tuple(a for a in cat.get("alternatives") or () if isinstance(a, dict)),
                              cat.get("referral"), cat.get("category"))
    ent = next((e for e in msg.get("entities") or () if e.get("entity") == "service_code"), None)
    if ent:
        conf = float(ent.get("confidence_entity") or 0.0)
        alt = {"service_code": ent.get("value"), "subcategory": ent.get("subcategory"), "confidence": conf}
        return Classification(ent.get("value"), conf, (alt,), None, ent.get("category"))
    return Classification(None, 0.0)


def _address(msg: dict) -> str | None:
    loc = msg.get("location")
    if isinstance(loc, dict):
        text = loc.get("text") or loc.get("value")
        if text:
            return str(text)
    elif isinstance(loc, str) and loc:
        return loc
    ents = [e for e in msg.get("entities") or () if e.get("entity") == "location" and e.get("value")]
    return str(max(ents, key=lambda e: len(str(e["value"])))["value"]) if ents else None


def read(msg: dict | None) -> Turn:
    msg = msg or {}
    meta = msg.get("metadata") or {}
    if not isinstance(meta, dict):
        meta = {}
    shared = meta.get("location") if isinstance(meta.get("location"), dict) else {}
    lat, long = _float(shared.get("lat")), _float(shared.get("long", shared.get("lon")))
    if lat is None or long is None or not (-90 <= lat <= 90 and -180 <= long <= 180):
        lat = long = None
    photos = tuple(str(p) for p in (meta.get("photos") or ()) if isinstance(p, str) and p.startswith(("http://", "https://")))
    contact = meta.get("contact") if isinstance(meta.get("contact"), dict) else {}
    intent = (msg.get("intent") or {}).get("name")
    emergency = msg.get("emergency") if isinstance(msg.get("emergency"), dict) else None
    return Turn(text=(msg.get("text") or "").strip(), intent=intent, classification=_classification(msg),
                address=_address(msg), lat=lat, long=long, photos=photos, contact=contact,
                entities=tuple(msg.get("entities") or ()), emergency=emergency)
