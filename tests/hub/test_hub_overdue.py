"""Overdue: marked exactly once per dispatch period by the sweep (controlled clock), listed, counted in stats."""

from hubtesting import auth, filing_form


async def new_case(http, **kw) -> str:
    r = await http.post("/open311/v2/requests.json", data=filing_form(account_id="tg:1", **kw))
    return r.json()[0]["service_request_id"]


async def sweep(http) -> list[str]:
    r = await http.post("/staff/v1/overdue/sweep", headers=auth("admin"))
    assert r.status_code == 200, r.text
    return r.json()["newly_overdue"]


async def events(http, cid) -> list[str]:
    return [u["event"] for u in (await http.get(f"/staff/v1/requests/{cid}", headers=auth("admin"))).json()["updates"]]


async def test_overdue_marked_exactly_once_per_dispatch_period(http, clock):
    slow = await new_case(http)  # SRHJ-01: 4 working hours from Monday 09:00 -> 15:00
    quick = await new_case(http, service_code="SRHJ-02", lat="23.0")  # 2 working hours -> 11:00
    assert await sweep(http) == []
    clock.advance(hours=2, minutes=1)  # 11:01
    assert await sweep(http) == [quick]
    assert await sweep(http) == []  # exactly once
    got = (await http.get(f"/open311/v2/requests/{quick}.json")).json()[0]
    assert got["overdue"] is True and got["state"] == "dispatched"
    assert (await http.get(f"/open311/v2/requests/{slow}.json")).json()[0]["overdue"] is False
    listed = (await http.get("/staff/v1/overdue", headers=auth("admin"))).json()
    assert [c["service_request_id"] for c in listed] == [quick]
    assert (await events(http, quick)).count("overdue") == 1

    # Re-dispatching starts a new period: the case can go overdue once more.
    r = await http.post(f"/staff/v1/requests/{quick}/dispatch", json={"note": "改派"}, headers=auth("admin"))
    assert r.json()["overdue"] is False
    clock.advance(days=1)
    assert sorted(await sweep(http)) == sorted([quick, slow])
    assert await sweep(http) == []
    assert (await events(http, quick)).count("overdue") == 2


async def test_resolved_case_is_not_overdue(http, clock):
    cid = await new_case(http, service_code="SRHJ-02")
    await http.post(f"/staff/v1/requests/{cid}/resolve", json={"note": "ok"}, headers=auth("admin"))
    clock.advance(days=3)
    assert await sweep(http) == []
    assert (await http.get(f"/open311/v2/requests/{cid}.json")).json()[0]["overdue"] is False


async def test_stats(http, clock):
    on_time = await new_case(http, service_code="SRHJ-02")  # due 11:00
    late = await new_case(http, service_code="SRHJ-02", lat="23.0")
    await new_case(http, service_code="JMZX-01", lat="24.0")  # 街面秩序, stays open (due 11:00)
    clock.advance(hours=1)
    await http.post(f"/staff/v1/requests/{on_time}/resolve", json={}, headers=auth("admin"))
    clock.advance(hours=2)  # 12:00, past 11:00
    await http.post(f"/staff/v1/requests/{late}/resolve", json={}, headers=auth("admin"))
    s = (await http.get("/staff/v1/stats", params={"since": "2026-03-01T00:00:00+08:00"}, headers=auth("admin"))).json()
    assert s["total"] == 3
    assert s["by_group"] == {"市容环境": {"resolved": 2}, "街面秩序": {"dispatched": 1}}
    assert s["by_state"] == {"resolved": 2, "dispatched": 1}
    assert s["overdue"] == 1 and s["on_time_rate"] == 0.5 and s["median_handling_hours"] == 2.0
    assert (await http.get("/staff/v1/stats", params={"since": "2026-04-01"}, headers=auth("admin"))).json()["total"] == 0
    bad = await http.get("/staff/v1/stats", params={"since": "soon"}, headers=auth("admin"))
    assert bad.status_code == 400


async def test_periodic_sweep_inside_the_server(tmp_path, clock):
    import asyncio

    import httpx
    from hubtesting import make_settings

    from hub.app import create_app

    app = create_app(make_settings(tmp_path, hub_sweep_interval_s=0.05), clock=clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            cid = await new_case(http, service_code="SRHJ-02")
            clock.advance(hours=3)
            for _ in range(100):
                await asyncio.sleep(0.02)
                if "overdue" in await events(http, cid):
                    break
            await asyncio.sleep(0.2)  # several more sweeps
            assert (await events(http, cid)).count("overdue") == 1
    app.state.hub.db.dispose()
