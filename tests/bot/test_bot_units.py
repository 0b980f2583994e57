"""Unit tests of single modules: message rendering, the send schedule, subscriptions, the outbox's idempotence."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from bot import messages
from bot.outbox import Outbox
from bot.ratelimit import SendSchedule
from citybot import subscriptions
from hubapi.client import Update
from tests.bot.conftest import BOTH_DATABASES

TZ = ZoneInfo("Asia/Shanghai")
DUE = dt.datetime(2026, 3, 2, 17, 30, tzinfo=TZ)


def upd(event, **kw) -> Update:
    base = dict(update_id=1, service_request_id="20260302000001", status="open", state=event, event=event,
                agency_responsible="区环境卫生管理所", expected_datetime=DUE)
    base.update(kw)
    return Update(**base)


@pytest.mark.parametrize("event, must", [
    ("received", ["已受理", "20260302000001"]),
    ("dispatched", ["已派遣至区环境卫生管理所", "应于3月2日17:30前处理"]),
    ("in_progress", ["处置中"]),
    ("overdue", ["超过处置时限", "3月2日17:30", "督办"]),
    ("escalated", ["升级至区级督办"]),
    ("reopened", ["重新处理"]),
    ("cancelled", ["已撤销"]),
    ("duplicate", ["合并处理"]),
    ("referred", ["不属于城市管理事项"]),
    ("reclassified", ["重新分类", "区环境卫生管理所"]),
])
def test_each_state_renders_its_chinese_message(event, must):
    p = messages.render(upd(event, level="区"), TZ)
    assert p["kind"] == "text" and not p["buttons"]
    for fragment in must:
        assert fragment in p["text"], (fragment, p["text"])


def test_a_due_time_in_utc_is_shown_in_local_time():
    p = messages.render(upd("dispatched", expected_datetime=DUE.astimezone(dt.timezone.utc)), TZ)
    assert "3月2日17:30" in p["text"]


def test_resolved_carries_photos_and_the_staff_note():
    p = messages.render(upd("resolved", description="已处理反馈：垃圾已清运", note="垃圾已清运", result_media_urls=("http://h/a.jpg",
                                                                                            "http://h/b.jpg")), TZ)
    assert p["kind"] == "photos" and p["photos"] == ["http://h/a.jpg", "http://h/b.jpg"]
    assert "处理结果：垃圾已清运" in p["text"] and messages.cost(p) == 2
    assert messages.render(upd("resolved"), TZ)["kind"] == "text"


def test_closed_asks_for_a_rating_with_five_buttons():
    p = messages.render(upd("closed"), TZ)
    assert [data for _, data in p["buttons"][0]] == [f"rate:20260302000001:{n}" for n in range(1, 6)]
    assert messages.parse_rating("rate:20260302000001:4") == ("20260302000001", 4)
    for bad in ("rate:X:0", "rate:X:6", "rate::3", "rate:X", "x:X:3", "rate:X:a", "", "rate:X:፩", "rate:X:²", "rate:X:٣"):
        assert messages.parse_rating(bad) is None


def test_citizens_own_comments_and_ratings_are_not_echoed():
    assert messages.render(upd("comment"), TZ) is None
    assert messages.render(upd("rated"), TZ) is None


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_schedule_spaces_global_starts_and_per_chat_starts():
    clock = FakeClock()
    s = SendSchedule(rate=25, chat_interval=1.0, clock=clock)
    starts = [s.take(f"c{i}") for i in range(50)]
    assert all(b - a == pytest.approx(0.04) for a, b in zip(starts, starts[1:]))  # never a burst
    assert s.chat_ready_at("c0") == pytest.approx(101.0)
    assert s.take("c0") == pytest.approx(102.0)  # the global queue (50 x 0.04 s) is the later bound here
    clock.t = 200.0
    s.take("c1")
    assert s.take("c1") == pytest.approx(201.0)  # same chat: a second later although the global slot is free
    first = s.take("c2", cost=3)  # an album of three counts three against both limits
    assert s.chat_ready_at("c2") == pytest.approx(first + 3.0) and s.global_ready_at() == pytest.approx(first + 0.12)


def test_group_chats_are_spaced_by_their_own_interval():
    clock = FakeClock()
    s = SendSchedule(rate=25, chat_interval=1.0, clock=clock, group_interval=3.0)
    first = s.take("-1001")
    assert s.chat_ready_at("-1001") == pytest.approx(first + 3.0)
    assert s.chat_ready_at("-1001") > s.take("1001") + 1.0  # a private chat keeps its 1 s
    assert SendSchedule(chat_interval=2.0, group_interval=0.5).interval("-1") == 2.0  # never below a chat's


def test_schedule_pause_after_429_holds_everything():
    clock = FakeClock()
    s = SendSchedule(rate=25, chat_interval=1.0, clock=clock)
    s.pause(5, "c1")
    assert s.take("c2") == pytest.approx(105.0) and s.chat_ready_at("c1") == pytest.approx(105.0)
    with pytest.raises(ValueError):
        SendSchedule(rate=0)


@pytest.mark.parametrize("engine", BOTH_DATABASES, indirect=True)
def test_subscriptions_are_idempotent_and_end_per_chat(engine):
    with Session(engine) as s, s.begin():
        subscriptions.subscribe(1, "A", session=s)
        subscriptions.subscribe("1", "A", session=s)
        subscriptions.subscribe(1, "B", session=s)
        subscriptions.subscribe(2, "A", session=s)
    with Session(engine) as s, s.begin():
        assert subscriptions.subscribers("A", session=s) == ["1", "2"]
        assert subscriptions.cases_of(1, session=s) == ["A", "B"]
        assert subscriptions.unsubscribe_chat(1, session=s) == 2
        assert subscriptions.unsubscribe_chat(1, session=s) == 0
    with Session(engine) as s, s.begin():
        assert subscriptions.subscribers("A", session=s) == ["2"]
        assert subscriptions.cases_of(1, session=s) == []
        subscriptions.subscribe(1, "A", session=s)  # following again re-activates
        assert subscriptions.subscribers("A", session=s) == ["1", "2"]
        assert subscriptions.unsubscribe(2, "A", session=s) and not subscriptions.unsubscribe(2, "A", session=s)


@pytest.mark.parametrize("engine", BOTH_DATABASES, indirect=True)
def test_a_chat_is_not_sent_what_its_filing_answer_told_it(engine):
    with Session(engine) as s, s.begin():
        subscriptions.subscribe(1, "A", session=s, after_update_id=7)  # the answer said: received, dispatched (≤ 7)
        subscriptions.subscribe(2, "A", session=s)  # follows without having been told anything
        subscriptions.subscribe(1, "A", session=s, after_update_id=9)  # already following: keeps what it had
    with Session(engine) as s, s.begin():
        assert subscriptions.subscribers("A", session=s, update_id=7) == ["2"]
        assert subscriptions.subscribers("A", session=s, update_id=8) == ["1", "2"]
        assert subscriptions.subscribers("A", session=s) == ["1", "2"]


@pytest.mark.parametrize("engine", BOTH_DATABASES, indirect=True)
def test_outbox_rows_are_unique_per_update_and_chat_and_move_the_cursor(engine):
    box = Outbox(engine)
    row = dict(update_id=7, chat_id="1", case_id="A", payload={"kind": "text", "text": "x"})
    with Session(engine) as s, s.begin():
        assert box.enqueue([row, {**row, "chat_id": "2"}], 7, session=s) == 2
    with Session(engine) as s, s.begin():  # the same batch read again after a crash: nothing new
        assert box.enqueue([row], 7, session=s) == 0
    assert box.cursor() == 7 and [i.chat_id for i in box.pending()] == ["1", "2"]
    with Session(engine) as s, s.begin():  # the cursor never moves back
        box.enqueue([], 3, session=s)
    assert box.cursor() == 7


def test_schedule_keeps_its_grid_when_woken_late_but_never_exceeds_rate_per_second():
    clock = FakeClock()
    s = SendSchedule(rate=25, chat_interval=1.0, clock=clock)
    starts = []
    for i in range(200):
        clock.t = max(clock.t, s.global_ready_at()) + 0.003  # the loop always wakes 3 ms late
        starts.append(s.take(f"c{i}"))
    rate = (len(starts) - 1) / (starts[-1] - starts[0])
    assert rate > 24.5  # lateness does not accumulate into a lower rate
    assert max(sum(1 for t in starts if a <= t < a + 1.0) for a in starts) <= 25
    clock.t += 10  # a long stall is not caught up with a burst
    a, b = s.take("x"), s.take("y")
    assert b - a == pytest.approx(0.04)


def test_an_album_takes_as_many_places_in_the_one_second_window_as_it_has_photos():
    clock = FakeClock()
    s = SendSchedule(rate=5, chat_interval=0.0, clock=clock)
    starts = [s.take("a", cost=3), s.take("b", cost=3)]  # 6 photos > 5 per second
    assert starts[1] - starts[0] >= 0.6 - 1e-9
    clock.t = starts[1]
    nxt = s.take("c", cost=1)
    window = [t for t in [starts[0]] * 3 + [starts[1]] * 3 + [nxt] if nxt - 1.0 < t <= nxt]
    assert len(window) <= 5
