"""Lost answers, caused: a real hub process behind an answer-losing proxy (tests/lossproxy.py), on SQLite and
PostgreSQL. The hub acts, its answer never arrives, the client (hubapi) retries with the same Idempotency-Key:
every call takes effect exactly once and the caller gets the success answer — a report with all its photos, one
comment, one escalation level, one rating, one reopening, one cancellation."""

from __future__ import annotations

import contextlib

import pytest
from hubtesting import API_KEY, CHANNEL_TOKEN, STAFF

from bench.hubserver import start_hub
from hubapi.client import HubClient, HubUnavailable
from hubapi.models import Filing
from tests.lossproxy import LossProxy

ADMIN = STAFF["admin"].split(":")[0]
PHOTOS = tuple(f"http://hub.test/media/{c * 64}.jpg" for c in "abc")


@pytest.fixture
def hub(db_url, tmp_path):
    proc, base = start_hub(str(tmp_path), db_url, HUB_API_KEYS=API_KEY, HUB_STAFF_TOKENS=",".join(STAFF.values()),
                           HUB_CHANNEL_TOKENS=f"{CHANNEL_TOKEN}:tg", HUB_AUTO_DISPATCH="true")
    proxy = LossProxy(base).start()
    try:
        yield proxy
    finally:
        proxy.stop()
        proc.terminate()
        proc.wait(10)


@contextlib.asynccontextmanager
async def client(proxy: LossProxy, **kw):
    kw = {"retries": 3, "backoff": 0.05, "timeout": 10, **kw}
    async with HubClient(proxy.url, api_key=API_KEY, staff_token=ADMIN, **kw) as c:
        yield c


def photos_of(case) -> list[str]:
    return list(dict.fromkeys(u for u in [case.media_url, *(x.media_url for x in case.updates or ())] if u))


def events(case, event: str) -> int:
    return sum(1 for u in case.updates or () if u.event == event)


@pytest.mark.slow
async def test_citizen_calls_whose_answers_are_lost_take_effect_once(hub):
    async with client(hub) as c:
        # create, 3 photos, no external_id: only the Idempotency-Key can tell the retry from a second report
        hub.lose("POST", r"^/open311/v2/requests\.json$")
        created = await c.create_request(Filing("SRHJ-01", "垃圾成堆", lat=22.54, long=114.05, account_id="tg:7",
                                                channel="chat", media_urls=PHOTOS))
        assert hub.lost == [("POST", "/open311/v2/requests.json")]
        assert hub.forwarded.count(("POST", "/open311/v2/requests.json")) == 2  # it was sent, and sent again
        case_id = created.service_request_id
        assert [r.service_request_id for r in await c.list_requests()] == [case_id]
        case = await c.case_detail(case_id)
        assert photos_of(case) == list(PHOTOS)

        hub.lose("POST", r"/comments\.json$")
        await c.comment(case_id, account_id="tg:7", text="还没清理")
        assert events(await c.case_detail(case_id), "comment") == 3  # photos 2 and 3, and this one
        assert [u.note for u in (await c.case_detail(case_id)).updates or () if u.note == "还没清理"] == ["还没清理"]

        await c.resolve(case_id, note="已清理")
        hub.lose("POST", r"/rate\.json$", times=2)
        rated = await c.rate(case_id, 5, account_id="tg:7")
        assert rated.state == "rated"  # the success answer, not "cannot be rated yet"
        assert events(await c.case_detail(case_id), "rated") == 1

        hub.lose("POST", r"/reopen\.json$")
        assert (await c.reopen(case_id, account_id="tg:7", reason="又堆了")).state in ("reopened", "dispatched")
        assert events(await c.case_detail(case_id), "reopened") == 1

        hub.lose("POST", r"/cancel\.json$")
        assert (await c.cancel(case_id, account_id="tg:7", reason="自己处理了")).state == "cancelled"
        assert events(await c.case_detail(case_id), "cancelled") == 1
        assert len(hub.lost) == 6


@pytest.mark.slow
async def test_staff_calls_whose_answers_are_lost_take_effect_once(hub):
    async with client(hub) as c:
        case_id = (await c.create_request(Filing("SRHJ-01", "路面塌陷", lat=22.5, long=114.0, channel="chat",
                                                 account_id="tg:8"))).service_request_id
        hub.lose("POST", r"/escalate$")
        escalated = await c.escalate(case_id, reason="危险")
        assert escalated.level == "区"  # one level up, not two
        case = await c.case_detail(case_id)
        assert case.level == "区" and events(case, "escalated") == 1
        hub.lose("POST", r"/escalate$", times=2)
        assert (await c.escalate(case_id, reason="仍危险")).level == "市"
        assert events(await c.case_detail(case_id), "escalated") == 2


@pytest.mark.slow
async def test_a_filing_re_sent_after_a_crash_is_answered_as_the_first(hub):
    """A durable job files, loses the answer, gives up (the process dies); re-sent later by a new client, the same
    filing carries the same key: the hub answers with the first case, no second one."""
    filing = Filing("SRHJ-01", "井盖丢了", lat=22.6, long=114.1, account_id="tg:9", channel="chat",
                    external_id="chat-report-1", media_urls=PHOTOS[:2])
    hub.lose("POST", r"^/open311/v2/requests\.json$")
    async with client(hub, retries=0) as c:
        with pytest.raises(HubUnavailable):
            await c.create_request(filing)
    async with client(hub) as c:
        again = await c.create_request(Filing.from_json(filing.to_json()))
        assert [r.service_request_id for r in await c.list_requests()] == [again.service_request_id]
        assert photos_of(await c.case_detail(again.service_request_id)) == list(PHOTOS[:2])
