"""A photo or a shared location sent before the words (outside a form) is kept for the next report."""

from __future__ import annotations

import time

from action_helpers import load_tracker, run
from actions import actions as a
from actions import pending, texts

PHOTO = "http://127.0.0.1:8311/media/first.jpg"


def wordless(metadata: dict, slots: dict | None = None):
    """A turn without words outside any form: the NLU says nlu_fallback."""
    tracker = load_tracker("fallback_gibberish")
    tracker.latest_message.update(text="", metadata=metadata)
    tracker.slots.update(slots or {})
    return tracker


def slots_of(events) -> dict:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


async def test_a_photo_alone_is_kept_and_the_citizen_is_asked_what_and_where(svc):
    events, messages = await run(a.ActionFallback(), wordless({"photos": [PHOTO]}))
    assert [m["text"] for m in messages] == [texts.render("utter_photo_kept")]
    kept = slots_of(events)
    assert kept["pending_photos"] == [PHOTO] and kept["pending_lat"] is None
    assert abs(kept["pending_at"] - time.time()) < 5


async def test_a_location_alone_is_kept_and_a_second_photo_adds_to_the_first(svc):
    events, messages = await run(a.ActionFallback(), wordless({"location": {"lat": 22.54, "long": 114.05}}))
    assert [m["text"] for m in messages] == [texts.render("utter_location_kept")]
    kept = slots_of(events)
    events, _ = await run(a.ActionFallback(), wordless({"photos": [PHOTO, "http://h/2.jpg"]}, kept))
    both = slots_of(events)
    assert both["pending_photos"] == [PHOTO, "http://h/2.jpg"]
    assert (both["pending_lat"], both["pending_long"]) == (22.54, 114.05)


async def test_gibberish_is_still_asked_to_rephrase_and_keeps_nothing(svc):
    events, messages = await run(a.ActionFallback(), load_tracker("fallback_gibberish"))
    assert events == [] and [m["text"] for m in messages] == [texts.render("utter_default")]


async def test_the_next_report_takes_the_photo_and_the_location_and_clears_them(svc):
    tracker = load_tracker("report_ambiguous_no_place")
    tracker.slots.update(pending_photos=[PHOTO], pending_lat=22.54, pending_long=114.05, pending_at=time.time())
    events, _ = await run(a.ActionStartReport(), tracker)
    slots = slots_of(events)
    assert slots["report_photos"] == [PHOTO]
    assert (slots["report_lat"], slots["report_long"]) == (22.54, 114.05) and slots["report_location"]
    assert all(slots[s] is None for s in pending.SLOTS)


async def test_a_pending_location_and_a_typed_place_are_both_kept_as_in_one_turn(svc):
    tracker = load_tracker("report_clear_with_photo")
    tracker.slots.update(pending_lat=22.54, pending_long=114.05, pending_at=time.time())
    slots = slots_of((await run(a.ActionStartReport(), tracker))[0])
    assert "人民路128号门口" in slots["report_location"] and slots["report_lat"] == 22.54


async def test_stale_pending_facts_are_dropped(svc):
    tracker = load_tracker("report_ambiguous_no_place")
    tracker.slots.update(pending_photos=[PHOTO], pending_at=time.time() - pending.TTL_S - 1)
    slots = slots_of((await run(a.ActionStartReport(), tracker))[0])
    assert slots["report_photos"] == [] and slots["pending_photos"] is None


async def test_add_detail_takes_the_pending_photo(svc):
    tracker = load_tracker("detail_bare")
    tracker.slots.update(pending_photos=[PHOTO], pending_at=time.time())
    slots = slots_of((await run(a.ActionStartDetail(), tracker))[0])
    assert slots["detail_content"] == "[照片]" and slots["detail_photos"] == [PHOTO]
    assert slots["pending_photos"] is None


async def test_a_location_shared_at_the_confirmation_corrects_the_place(svc):
    tracker = load_tracker("form_photo_at_confirm")
    tracker.latest_message["metadata"] = {"location": {"lat": 22.61, "long": 114.12}}
    events, messages = await run(a.ValidateReportForm(), tracker)
    out = slots_of(events)
    assert (out["report_lat"], out["report_long"], out["report_location"]) == (22.61, 114.12,
                                                                               "共享定位（22.61000, 114.12000）")
    assert "report_confirm" not in out
    assert messages == [] and out["form_turn"] == "correction"   # the form shows the summary again


async def test_a_place_said_alone_is_kept_and_the_next_report_uses_it(svc):
    events, messages = await run(a.ActionKeepPlace(), load_tracker("place_alone"))
    kept = slots_of(events)
    assert kept["pending_place"] == "南山区南光路和登良路交叉口" and kept["pending_lat"] is None
    assert messages[0]["text"] == texts.render("utter_place_kept", place="南山区南光路和登良路交叉口")
    tracker = load_tracker("report_ambiguous_no_place")   # "这里的…" with no place of its own
    tracker.slots.update(kept)
    slots = slots_of((await run(a.ActionStartReport(), tracker))[0])
    assert slots["report_location"] == "南山区南光路和登良路交叉口" and slots["pending_place"] is None


async def test_this_crossing_means_the_place_told_before_and_alone_it_is_no_place(svc):
    tracker = load_tracker("report_ambiguous_no_place")
    tracker.latest_message["location"] = {"text": "这个路口"}
    slots = slots_of((await run(a.ActionStartReport(), tracker))[0])
    assert slots["report_location"] is None          # the form will ask where
    tracker.slots.update(pending_place="南山区南光路和登良路交叉口", pending_at=time.time())
    slots = slots_of((await run(a.ActionStartReport(), tracker))[0])
    assert slots["report_location"] == "南山区南光路和登良路交叉口"
