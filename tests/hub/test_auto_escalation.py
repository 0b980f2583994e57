"""Automatic escalation by the overdue sweep (controlled clock): not before the grace (working hours), exactly
once per level, never past 市, never for a case no longer being handled, audited as "system", and safe when two
sweeps (two hub instances on one database, as two processes) run at the same time."""

import threading

import httpx
import pytest
from hubtesting import auth, filing_form, make_settings

from hub.app import create_app


async def new_case(http, **kw) -> str:
    r = await http.post("/open311/v2/requests.json", data=filing_form(account_id="tg:1", **kw))
    assert r.status_code == 201, r.text
    return r.json()[0]["service_request_id"]


async def sweep(http) -> dict:
    r = await http.post("/staff/v1/overdue/sweep", headers=auth("admin"))
    assert r.status_code == 200, r.text
    return r.json()


async def detail(http, cid) -> dict:
    return (await http.get(f"/staff/v1/requests/{cid}", headers=auth("admin"))).json()


async def test_escalates_after_the_grace_once_per_level_and_stops_at_city(http, clock):
    cid = await new_case(http, service_code="SRHJ-02")  # 街道, 2 working hours from Mon 09:00 -> 11:00
    clock.advance(hours=2, minutes=1)  # Mon 11:01
    assert await sweep(http) == {"newly_overdue": [cid], "escalated": []}
    # 4 working hours after 11:01 is 17:01 (lunch 12:00-14:00 does not count)
    clock.advance(hours=5, minutes=59)  # 17:00
    assert (await sweep(http))["escalated"] == []
    clock.advance(minutes=2)  # 17:02
    assert await sweep(http) == {"newly_overdue": [], "escalated": [cid]}
    assert await sweep(http) == {"newly_overdue": [], "escalated": []}  # once per level
    d = await detail(http, cid)
    assert (d["level"], d["priority"]) == ("区", "high")

    # the next step counts from the escalation: 17:02 + 4 working hours = Tue 11:32 (the night does not count)
    clock.advance(hours=18, minutes=29)  # Tue 11:31
    assert (await sweep(http))["escalated"] == []
    clock.advance(minutes=2)
    assert (await sweep(http))["escalated"] == [cid]
    clock.advance(days=30)
    assert (await sweep(http))["escalated"] == []  # 市 is the top: it stops there

    d = await detail(http, cid)
    assert (d["level"], d["priority"], d["state"]) == ("市", "urgent", "dispatched")
    assert [u["event"] for u in d["updates"]] == ["received", "dispatched", "overdue", "escalated", "escalated"]
    assert [u["level"] for u in d["updates"] if u["event"] == "escalated"] == ["区", "市"]
    auto = [a for a in d["audit"] if a["action"] == "escalate"]
    assert len(auto) == 2
    for a, (frm, to) in zip(auto, [("街道", "区"), ("区", "市")]):
        assert a["principal"] == "system" and a["actor"] == "system"
        assert "超过处置时限4个工作小时" in a["reason"] and "自动升级" in a["reason"]
        assert a["detail"] == {"rule": "auto_escalate", "after_working_hours": 4.0, "from": frm, "to": to}
    public = (await http.get(f"/open311/v2/requests/{cid}.json")).json()[0]
    assert public["level"] == "市" and public["overdue"] is True


async def test_case_that_starts_at_district_escalates_once(http, clock):
    cid = await new_case(http, service_code="SRHJ-06")  # 区, one working day
    clock.advance(days=2)  # Wed 09:00
    assert (await sweep(http))["newly_overdue"] == [cid]
    clock.advance(days=7)
    assert (await sweep(http))["escalated"] == [cid]
    clock.advance(days=7)
    assert (await sweep(http))["escalated"] == []
    assert (await detail(http, cid))["level"] == "市"


async def test_cases_no_longer_handled_are_never_escalated(http, clock):
    resolved = await new_case(http, service_code="SRHJ-02")
    closed = await new_case(http, service_code="SRHJ-02", lat="23.0")
    cancelled = await new_case(http, service_code="SRHJ-02", lat="24.0")
    clock.advance(hours=3)
    assert sorted((await sweep(http))["newly_overdue"]) == sorted([resolved, closed, cancelled])
    await http.post(f"/staff/v1/requests/{resolved}/resolve", json={"note": "已清扫"}, headers=auth("admin"))
    await http.post(f"/staff/v1/requests/{closed}/resolve", json={}, headers=auth("admin"))
    await http.post(f"/staff/v1/requests/{closed}/close", json={}, headers=auth("admin"))
    await http.post(f"/staff/v1/requests/{cancelled}/status", json={"state": "cancelled"}, headers=auth("admin"))
    clock.advance(days=10)
    assert await sweep(http) == {"newly_overdue": [], "escalated": []}
    for cid in (resolved, closed, cancelled):
        d = await detail(http, cid)
        assert d["level"] == "街道" and "escalated" not in [u["event"] for u in d["updates"]]


async def test_redispatch_stops_the_clock_and_a_manual_escalation_restarts_it(http, clock):
    cid = await new_case(http, service_code="SRHJ-02")
    clock.advance(hours=3)  # Mon 12:00, overdue
    assert (await sweep(http))["newly_overdue"] == [cid]
    r = await http.post(f"/staff/v1/requests/{cid}/dispatch", json={"note": "改派"}, headers=auth("admin"))
    assert r.status_code == 200 and r.json()["overdue"] is False  # Mon 14:00 + 2h -> due 16:00
    clock.advance(hours=2, minutes=30)  # 14:30: not overdue any more, so nothing to escalate
    assert await sweep(http) == {"newly_overdue": [], "escalated": []}
    clock.advance(hours=2)  # 16:30: overdue again (marked now)
    assert await sweep(http) == {"newly_overdue": [cid], "escalated": []}
    clock.advance(hours=1)  # 17:30: a supervisor escalates by hand
    r = await http.post(f"/staff/v1/requests/{cid}/escalate", json={"reason": "市民多次来电"}, headers=auth("admin"))
    assert r.json()["level"] == "区"
    clock.advance(days=1)  # Tue 17:30: 4 working hours after the manual escalation (17:30-18:00, 08:30-12:00 +)
    assert (await sweep(http))["escalated"] == [cid]
    d = await detail(http, cid)
    assert d["level"] == "市"
    assert [(a["principal"], a["action"]) for a in d["audit"] if a["action"] == "escalate"] == [
        ("staff:admin:市:", "escalate"), ("system", "escalate")]


async def test_grace_zero_turns_automatic_escalation_off(tmp_path, clock):
    app = create_app(make_settings(tmp_path, hub_escalate_after_hours=0), clock=clock)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as http:
            cid = await new_case(http, service_code="SRHJ-02")
            clock.advance(hours=3)
            assert (await sweep(http))["newly_overdue"] == [cid]
            clock.advance(days=30)
            assert (await sweep(http))["escalated"] == []
    finally:
        app.state.hub.db.dispose()


def test_grace_setting_is_validated(tmp_path):
    with pytest.raises(ValueError):
        make_settings(tmp_path, hub_escalate_after_hours=-1)


def test_concurrent_sweeps_escalate_each_case_once(db_url, tmp_path, clock):
    """Two hub instances (separate engines and in-process locks, as two server processes) sweep at once, many
    times: every case is escalated exactly once per level."""
    from hub import store
    from hub.cases import Filing

    apps = [create_app(make_settings(tmp_path, db_url), clock=clock) for _ in range(2)]
    hubs = [a.state.hub for a in apps]
    try:
        ids = [hubs[0].file(Filing(service_code="SRHJ-02", lat=20 + i, long=100))[0].id for i in range(12)]
        clock.advance(hours=3)
        assert sorted(hubs[1].sweep_overdue()) == sorted(ids)
        clock.advance(days=1)  # past the grace: every case is due one escalation
        results: list[dict] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(4)

        def sweeper(k: int) -> None:
            try:
                barrier.wait()
                for _ in range(3):
                    results.append(hubs[k % 2].sweep())
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=sweeper, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        escalated = [cid for r in results for cid in r["escalated"]]
        assert sorted(escalated) == sorted(ids)  # each exactly once across all sweeps
        with hubs[0].db.read() as s:
            for cid in ids:
                events = [u.event for u in store.updates_of(cid, session=s)]
                assert events.count("escalated") == 1 and store.get_case(cid, session=s).level == "区"
                assert [a.principal for a in store.audit_of(cid, session=s)] == ["system"]
        # the next step counts from the escalation just written (read back from this database)
        clock.advance(hours=1)
        assert hubs[1].sweep()["escalated"] == []
        clock.advance(days=1)
        assert sorted(hubs[1].sweep()["escalated"]) == sorted(ids)
        with hubs[0].db.read() as s:
            assert {store.get_case(cid, session=s).level for cid in ids} == {"市"}
    finally:
        for a in apps:
            a.state.hub.db.dispose()
