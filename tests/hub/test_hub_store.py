"""The store on each database (SQLite; PostgreSQL when reachable): filing, lifecycle, sweep, and the updates
cursor under concurrent writers from two independent hub instances (as two server processes would be)."""

import threading

import httpx
import pytest
from hubtesting import auth, filing_form, make_settings

from hub import store
from hub.app import create_app
from hub.cases import Filing, Principal


@pytest.fixture
def two_hubs(db_url, tmp_path, clock):
    """Two apps on the same database: separate engines, pools and in-process locks."""
    apps = [create_app(make_settings(tmp_path, db_url), clock=clock) for _ in range(2)]
    yield apps
    for a in apps:
        a.state.hub.db.dispose()


async def test_flow_on_database(two_hubs, clock):
    app = two_hubs[0]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as http:
        r = await http.post("/open311/v2/requests.json", data=filing_form(channel="hotline", external_id="c1",
                                                                          account_id="a"))
        cid = r.json()[0]["service_request_id"]
        assert r.status_code == 201 and cid.startswith("20260302")
        again = await http.post("/open311/v2/requests.json", data=filing_form(channel="hotline", external_id="c1"))
        assert again.status_code == 200 and again.json()[0]["service_request_id"] == cid
        dup = await http.post("/open311/v2/requests.json", data=filing_form(lat="22.5432"))
        assert dup.json()[0]["duplicate_of"] == cid
        clock.advance(hours=6, minutes=30)  # 15:30, past the 15:00 due time
        assert (await http.post("/staff/v1/overdue/sweep", headers=auth("admin"))).json()["newly_overdue"] == [cid]
        await http.post(f"/staff/v1/requests/{cid}/resolve", json={"media_urls": ["http://x/1.jpg"]},
                        headers=auth("admin"))
        got = (await http.get("/open311/v2/requests.json", params={"service_request_id": cid})).json()[0]
        assert got["state"] == "resolved" and got["result_media_urls"] == ["http://x/1.jpg"]
        assert got["expected_datetime"] == "2026-03-02T15:00:00+08:00"
        d = (await http.get(f"/staff/v1/requests/{cid}", headers=auth("admin"))).json()
        assert [u["event"] for u in d["updates"]] == ["received", "dispatched", "overdue", "resolved"]
        s = (await http.get("/staff/v1/stats", headers=auth("admin"))).json()
        assert s["total"] == 2 and s["on_time_rate"] == 0.0


def test_updates_cursor_with_concurrent_writers(two_hubs):
    """Writers on two hub instances file and transition cases while a poller pages with `after`: the poller sees
    every update exactly once, in id order, and case numbers stay unique."""
    hubs = [a.state.hub for a in two_hubs]
    n_threads, per_thread = 4, 15
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(k: int) -> None:
        hub = hubs[k % 2]
        try:
            for i in range(per_thread):
                case, _ = hub.file(Filing(service_code="SRHJ-01", description=f"w{k}-{i}", lat=20 + k, long=100 + i))
                hub.transition(case.id, "in_progress", Principal("test"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    seen: list[int] = []

    def poller() -> None:
        cursor = 0
        while True:
            finished = done.is_set()  # read before polling: a final pass after the writers ended
            with hubs[1].db.read_feed() as s:
                rows = store.updates_after(cursor, 7, session=s)
            seen.extend(r.id for r in rows)
            if rows:
                cursor = rows[-1].id
            elif finished:
                return

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(n_threads)]
    poll = threading.Thread(target=poller)
    poll.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    poll.join(30)
    assert not errors, errors
    with hubs[0].db.read() as s:
        all_ids = [u.id for u in store.updates_after(0, 100_000, session=s)]
        cases = store.list_cases(session=s, limit=1000)
    assert len(all_ids) == n_threads * per_thread * 3  # received, dispatched, in_progress
    assert seen == all_ids  # exactly once, in order, none skipped
    assert len({c.id for c in cases}) == n_threads * per_thread


async def test_malformed_input_never_500_on_database(two_hubs):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=two_hubs[0]), base_url="http://hub.test") as http:
        probes = [
            lambda: http.post("/open311/v2/requests.json", data=filing_form(description="a\x00b")),
            lambda: http.post("/open311/v2/requests.json", data=filing_form(external_id="x\x00", channel="chat")),
            lambda: http.get("/open311/v2/requests/%00.json"),
            lambda: http.get("/open311/v2/requests/abc.json"),
            lambda: http.get("/open311/v2/tokens/%00.json"),
            lambda: http.get("/open311/v2/requests.json", params={"service_request_id": "1\x00"}),
            lambda: http.get("/open311/v2/requests.json", params={"start_date": "0001-01-01T00:00:00+08:00"}),
            lambda: http.get("/open311/v2/requests.json", params={"end_date": "9999-12-31T23:59:59-08:00"}),
            lambda: http.get("/open311/v2/servicerequestupdates.json", params={"after": "99999999999999999999"}),
            lambda: http.get("/staff/v1/requests/%00", headers=auth("admin")),
            lambda: http.post("/staff/v1/requests/20260302000001/status", json={"state": "in_progress", "note": "\x00"},
                      headers=auth("admin")),
            lambda: http.post("/staff/v1/requests/x/merge", json={"into_id": "\x00"}, headers=auth("admin")),
            lambda: http.get("/staff/v1/stats", params={"since": "9999-12-31T23:59:59-08:00"}, headers=auth("admin")),
        ]
        for probe in probes:
            r = await probe()
            assert 400 <= r.status_code < 500, (r.request.url, r.status_code, r.text)
            assert set(r.json()[0]) == {"code", "description"}
