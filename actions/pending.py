"""What comes before the problem is used by the next report: photos or a shared location sent without words (the
一键爆料 habit: photo first, words after), or a place said on its own ("我在X路口", then "这里的路灯坏了").

Every channel sends a word-less turn with an empty text and the facts as metadata; outside a form the NLU calls it
`nlu_fallback`, and `action_fallback` keeps the facts here; a place alone (`inform_location`) is kept by
`action_keep_place`. They are slots, so they live in the tracker store and survive a restart. The next report (or
detail) takes them and clears them; after TTL_S they are stale.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet

from actions import message

SLOTS = ("pending_photos", "pending_lat", "pending_long", "pending_place", "pending_at")
TTL_S = 30 * 60


@dataclass(frozen=True)
class Pending:
    photos: tuple[str, ...] = ()
    lat: float | None = None
    long: float | None = None
    place: str | None = None

    @property
    def empty(self) -> bool:
        return not self.photos and self.lat is None and not self.place


def keep(tracker: Tracker, turn: message.Turn, now: float | None = None, place: str | None = None) -> list[EventType]:
    """Add this turn's photos, shared location and the place it names to what is pending (a newer place or
    location replaces an older one: the citizen moved or corrected it)."""
    old = take(tracker, now)[0]
    photos = list(old.photos) + [p for p in turn.photos if p not in old.photos]
    lat, long = (turn.lat, turn.long) if turn.lat is not None else (old.lat, old.long)
    if place or turn.lat is not None:
        old_place = None
        lat, long = (turn.lat, turn.long) if turn.lat is not None else (None, None)
    else:
        old_place = old.place
    return [SlotSet("pending_photos", photos or None), SlotSet("pending_lat", lat), SlotSet("pending_long", long),
            SlotSet("pending_place", place or old_place), SlotSet("pending_at", time.time() if now is None else now)]


def take(tracker: Tracker, now: float | None = None) -> tuple[Pending, list[EventType]]:
    """What is pending (nothing once stale), and the events that clear it (none when nothing was set)."""
    at = tracker.get_slot("pending_at")
    if at is None:
        return Pending(), []
    clear = [SlotSet(s, None) for s in SLOTS]
    if (time.time() if now is None else now) - float(at) > TTL_S:
        return Pending(), clear
    lat, long = tracker.get_slot("pending_lat"), tracker.get_slot("pending_long")
    photos = tuple(str(p) for p in tracker.get_slot("pending_photos") or ())
    return Pending(photos, lat if long is not None else None, long if lat is not None else None,
                   tracker.get_slot("pending_place") or None), clear
