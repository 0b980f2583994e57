"""POST requests with dry_run=true (validated and checked for duplicates, nothing created), and concurrent
creates of one (channel, external_id): always the one case, never a 500 (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hubtesting import API_KEY, filing_form

from bench.hubserver import start_hub
from hubapi.client import HubClient, HubRejected
from hubapi.models import Filing

POST = "/open311/v2/requests.json"


async def count_cases(http) -> int:
    r = await http.get("/open311/v2/requests.json", params={"api_key": API_KEY, "limit": 1000})
    assert r.status_code == 200
    return len(r.json())


async def test_dry_run_of_a_new_case_creates_nothing_and_says_what_would_happen(http):
    r = await http.post(POST, data=filing_form(dry_run="true", channel="hotline", external_id="H-1"))
    assert r.status_code == 200, r.text
    (answer,) = r.json()  # the normal Open311 array shape
    assert answer["dry_run"] is True and answer["new"] is True
    assert answer["service_request_id"] is None and answer["token"] is None and answer["duplicate_of"] is None
    assert answer["service_code"] == "SRHJ-01" and answer["service_name"] and answer["level"]
    assert answer["state"] == "dispatched" and answer["agency_responsible"] and answer["expected_datetime"]
    assert await count_cases(http) == 0
    # nothing was reserved either: the real create that follows is a new case
    r = await http.post(POST, data=filing_form(channel="hotline", external_id="H-1"))
    assert r.status_code == 201 and "dry_run" not in r.json()[0]
    assert await count_cases(http) == 1


async def test_dry_run_finds_the_open_case_it_would_duplicate(http):
    first = (await http.post(POST, data=filing_form())).json()[0]["service_request_id"]
    r = await http.post(POST, data=filing_form(dry_run="1", description="又有垃圾"))
    (answer,) = r.json()
    assert r.status_code == 200 and answer["dry_run"] is True
    assert answer["duplicate_of"] == first and answer["state"] == "duplicate" and answer["new"] is True
    # far away: no duplicate
    r = await http.post(POST, data=filing_form(dry_run="true", lat="23.5", long="115.5"))
    assert r.json()[0]["duplicate_of"] is None
    assert await count_cases(http) == 1


async def test_dry_run_of_a_filed_external_id_answers_the_existing_case(http):
    created = (await http.post(POST, data=filing_form(channel="hotline", external_id="H-2"))).json()[0]
    r = await http.post(POST, data=filing_form(channel="hotline", external_id="H-2", dry_run="true"))
    (answer,) = r.json()
    assert r.status_code == 200 and answer["dry_run"] is True and answer["new"] is False
    assert answer["service_request_id"] == created["service_request_id"]
    assert await count_cases(http) == 1


@pytest.mark.parametrize("fields, message", [
    ({"service_code": "NOPE-99"}, "service_code 'NOPE-99' not found"),
    ({"lat": "<omit>", "long": "<omit>"}, "a location is required"),
    ({"channel": "pigeon"}, "channel must be one of"),
    ({"dry_run": "maybe"}, "dry_run must be true or false"),
])
async def test_dry_run_validates_exactly_as_a_real_create(http, fields, message):
    form = filing_form(**{"dry_run": "true", **fields})
    r = await http.post(POST, data=form)
    assert r.status_code == 400 and message in r.json()[0]["description"]
    real = await http.post(POST, data={k: v for k, v in form.items() if k != "dry_run"})
    if "dry_run" not in fields:
        assert real.status_code == 400 and real.json()[0]["description"] == r.json()[0]["description"]


async def test_dry_run_false_is_a_real_create(http):
    r = await http.post(POST, data=filing_form(dry_run="false"))
    assert r.status_code == 201 and r.json()[0]["service_request_id"]


async def test_dry_run_needs_the_api_key(http):
    r = await http.post(POST, data=filing_form(dry_run="true", api_key="<omit>"))
    assert r.status_code == 403


async def test_dry_run_in_xml(http):
    r = await http.post("/open311/v2/requests.xml", data=filing_form(dry_run="true"))
    assert r.status_code == 200 and "<dry_run>" in r.text and "<service_requests>" in r.text


# -- through HubClient against a real server process ------------------------------------------------------------
@pytest.fixture
def two_servers(tmp_path, db_url):
    """Two hub processes on one database (started one after the other: the first creates the tables)."""
    procs = []
    try:
        for _ in range(2):
            procs.append(start_hub(str(tmp_path), db_url, HUB_API_KEYS=API_KEY))
        yield [base for _, base in procs]
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(10)


async def test_client_dry_run(two_servers):
    async with HubClient(two_servers[0], api_key=API_KEY) as hub:
        kw = dict(address="龙华区金盘路12号", channel="hotline", external_id="C-1")
        preview = await hub.create_request(Filing("SRHJ-01", "垃圾", **kw), dry_run=True)
        assert preview.dry_run is True and preview.id is None and preview.duplicate_of is None
        created = await hub.create_request(Filing("SRHJ-01", "垃圾", **kw))
        assert created.dry_run is False and created.id
        again = await hub.create_request(Filing("SRHJ-01", "垃圾", **kw), dry_run=True)
        assert again.dry_run is True and again.id == created.id
        other = await hub.create_request(Filing("SRHJ-01", "还是垃圾", address="龙华区金盘路12号", channel="hotline",
                                                external_id="C-2"), dry_run=True)
        assert other.id is None and other.duplicate_of == created.id
        with pytest.raises(HubRejected):
            await hub.create_request(Filing("NOPE-1", "x", address="龙华区金盘路12号"), dry_run=True)


async def test_concurrent_creates_of_one_external_id_return_the_one_case(two_servers):
    """40 creates of the same (channel, external_id) at once, over two hub processes sharing the database."""
    async def post(base: str, i: int) -> httpx.Response:
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            return await c.post(POST, data=filing_form(channel="hotline", external_id="RACE-1",
                                                       description=f"第{i}次"))

    answers = await asyncio.gather(*(post(two_servers[i % 2], i) for i in range(40)))
    assert all(r.status_code in (200, 201) for r in answers), [(r.status_code, r.text[:200]) for r in answers]
    assert sorted(r.status_code for r in answers).count(201) == 1
    assert len({r.json()[0]["service_request_id"] for r in answers}) == 1
    async with httpx.AsyncClient(base_url=two_servers[1], timeout=30) as c:
        listed = (await c.get("/open311/v2/requests.json", params={"api_key": API_KEY})).json()
    assert len(listed) == 1
