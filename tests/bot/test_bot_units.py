"""Unit tests of single modules: message rendering, the send schedule, subscriptions, the job queue's idempotence, leases and order."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from bot import messages
from citybot.jobs import Jobs
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
def test_jobs_are_unique_by_key_and_the_cursor_moves_only_for_the_feed_holder(engine):
    from citybot import jobs

    q = Jobs(engine)
    row = dict(kind="push", key="push:7:1", lane="chat:1", chat_id="1", case_id="A", update_id=7,
               payload={"kind": "text", "text": "x"})
    assert q.add([row, {**row, "key": "push:7:2", "lane": "chat:2", "chat_id": "2"}]) == 2
    assert q.add([row]) == 0  # the same batch read again after a crash: nothing new
    assert q.take_feed("telegram", "a") and not q.take_feed("telegram", "b")  # one poller at a time
    with engine.begin() as conn:
        assert q.advance("telegram", "a", 7, conn=conn)
        assert not q.advance("telegram", "b", 9, conn=conn)  # not the holder: nothing written
    assert q.cursor("telegram") == 7
    q.leave_feed("telegram", "a")
    assert q.take_feed("telegram", "b")
    assert [j.chat_id for j in q.find(states=[jobs.PENDING])] == ["1", "2"]


@pytest.mark.parametrize("engine", BOTH_DATABASES, indirect=True)
def test_a_lane_is_claimed_head_first_by_one_worker_and_an_expired_lease_is_taken_over(engine):
    from citybot import jobs

    q = Jobs(engine, lease_s=60)
    q.add([dict(kind="push", key=f"push:{u}:1", lane="chat:1", chat_id="1", update_id=u, payload={}) for u in (1, 2)]
          + [dict(kind="push", key="push:1:2", lane="chat:2", chat_id="2", update_id=1, payload={})])
    a = q.claim("a", ["push"], 10)
    assert [(j.lane, j.update_id) for j in a] == [("chat:1", 1), ("chat:2", 1)]  # heads only
    assert q.claim("b", ["push"], 10) == []  # held by a; chat 1's second job waits behind its first
    q.done(a[0].id)
    [nxt] = q.claim("b", ["push"], 10)
    assert (nxt.lane, nxt.update_id) == ("chat:1", 2)
    with engine.begin() as conn:  # a dies: its lease runs out
        conn.execute(jobs.Job.__table__.update().where(jobs.Job.id == a[1].id).values(
            lease_until=jobs.utcnow() - dt.timedelta(seconds=1)))
    assert [j.id for j in q.claim("b", ["push"], 10)] == [a[1].id]


@pytest.mark.parametrize("engine", BOTH_DATABASES, indirect=True)
def test_failures_follow_the_retry_policy_and_only_permanent_ones_or_give_up_end_dead(engine):
    from citybot import jobs
    from citybot.retry import Backoff

    q = Jobs(engine, policy=Backoff(base=10, cap=10, give_up_after=3600, jitter=0))
    q.add([dict(kind="file", key="file:x", lane="file:x", payload={}),
           dict(kind="file", key="file:y", lane="file:y", payload={})])
    x, y = q.claim("w", ["file"], 10)
    assert q.fail(x, "503") == jobs.PENDING
    assert q.claim("w", ["file"], 10) == []  # not due for 10 s
    row = q.get(x.id)
    assert row.attempts == 1 and row.lease_owner is None and row.first_attempt_at is not None
    assert q.fail(y, "400 bad request", permanent=True,
                  also_if_dead=jobs.dead_alerts(y, "400 bad request", "-100")) == jobs.DEAD
    assert q.fail(jobs.Claimed.of(row), "503 again") == jobs.PENDING
    with engine.begin() as conn:  # trying for longer than give_up_after
        conn.execute(jobs.Job.__table__.update().where(jobs.Job.id == x.id).values(
            first_attempt_at=jobs.utcnow() - dt.timedelta(hours=2)))
    assert q.fail(jobs.Claimed.of(q.get(x.id)), "503 still") == jobs.DEAD
    [alert] = q.find(kinds=["alert"])
    assert alert.key == f"dead:{y.id}" and alert.chat_id == "-100" and f"/resend {y.id}" in alert.payload["text"]
    assert q.resend("all") == 2 and q.counts(["file"]) == {"pending": 2}


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
