"""Lifecycle through the staff API and citizen actions: transitions, update rows, audit, permissions, 409s."""

import pytest
from hubtesting import API_KEY, auth, filing_form

from citybot import catalogue
from hub import lifecycle as lc


async def new_case(http, **kw) -> str:
    r = await http.post("/open311/v2/requests.json", data=filing_form(account_id="tg:1", **kw))
    assert r.status_code == 201, r.text
    return r.json()[0]["service_request_id"]


async def staff(http, case_id, action, body, who="admin", expect=200) -> dict | list:
    r = await http.post(f"/staff/v1/requests/{case_id}/{action}", json=body, headers=auth(who))
    assert r.status_code == expect, r.text
    return r.json()


async def detail(http, case_id, who="admin") -> dict:
    r = await http.get(f"/staff/v1/requests/{case_id}", headers=auth(who))
    assert r.status_code == 200, r.text
    return r.json()


async def citizen(http, case_id, action, expect=200, **form) -> dict | list:
    r = await http.post(f"/open311/v2/requests/{case_id}/{action}.json", data={"api_key": API_KEY, **form})
    assert r.status_code == expect, r.text
    return r.json()


def test_transition_table_is_consistent():
    assert set(lc.OPEN_STATES) | set(lc.CLOSED_STATES) == set(lc.STATES)
    for state, targets in lc.TRANSITIONS.items():
        assert targets <= set(lc.STATES), state
    with pytest.raises(lc.IllegalTransition):
        lc.check(lc.CANCELLED, lc.DISPATCHED)


async def test_full_workflow_writes_one_update_per_transition(http, clock):
    cid = await new_case(http, phone="13812345678", last_name="张", first_name="三丰")
    await staff(http, cid, "status", {"state": "in_progress", "note": "已到场", "actor": "tg:9 李**"})
    clock.advance(minutes=30)
    resolved = await staff(http, cid, "resolve", {"note": "已清运", "media_urls": ["http://hub.test/media/a.jpg"]})
    assert resolved["state"] == "resolved" and resolved["status"] == "open"
    assert resolved["result_media_urls"] == ["http://hub.test/media/a.jpg"]
    closed = await staff(http, cid, "close", {"note": "核查通过"})
    assert closed["status"] == "closed" and closed["status_notes"] == "已核查结案：核查通过"
    rated = await citizen(http, cid, "rate", rating="5", comment="很快", account_id="tg:1")
    assert rated[0]["state"] == "rated" and rated[0]["rating"] == 5
    d = await detail(http, cid)
    assert [u["event"] for u in d["updates"]] == ["received", "dispatched", "in_progress", "resolved", "closed", "rated"]
    assert [a["action"] for a in d["audit"]] == ["status", "resolve", "close", "rate"]
    assert d["audit"][0] | {"at": None} == {"at": None, "actor": "tg:9 李**", "principal": "staff:admin:市:",
                                            "action": "status", "reason": "已到场", "detail": {}}
    assert d["reporter"] == {"name": "张**", "phone": "138****5678", "email": None}
    assert "13812345678" not in str(d)
    ids = [u["update_id"] for u in d["updates"]]
    assert ids == sorted(ids)


async def test_illegal_transition_is_409_with_error_body(http):
    cid = await new_case(http)
    r = await http.post(f"/staff/v1/requests/{cid}/close", json={"note": "x"}, headers=auth("admin"))
    assert r.status_code == 409
    assert r.json() == [{"code": 409, "description": f"close not allowed: case {cid} is dispatched"}]
    bad_state = await http.post(f"/staff/v1/requests/{cid}/status", json={"state": "lost"}, headers=auth("admin"))
    assert bad_state.status_code == 400 and "unknown state 'lost'" in bad_state.json()[0]["description"]
    assert [u["event"] for u in (await detail(http, cid))["updates"]] == ["received", "dispatched"]


async def test_redispatch_reclassify_recompute_due(http, clock):
    cid = await new_case(http)  # SRHJ-01, 4 h, due 15:00
    d = await staff(http, cid, "dispatch", {"department": "街道办", "note": "就近处置"})
    assert d["agency_responsible"] == "街道办" and d["status_notes"] == "已派遣至街道办：就近处置"
    r = await staff(http, cid, "reclassify", {"service_code": "YLLH-02", "note": "实为树枝"})  # 5 days
    assert r["service_code"] == "YLLH-02" and r["group"] == "园林绿化" and r["level"] == "区"
    assert r["agency_responsible"] == catalogue.load().by_code("YLLH-02").department
    assert r["expected_datetime"] == "2026-03-09T09:00:00+08:00"
    updates = (await detail(http, cid))["updates"]
    assert updates[-1]["event"] == "reclassified" and updates[-1]["note"] == "实为树枝"
    # the staff's own words travel apart from the hub's phrase: no channel has to cut them out of the text
    redispatch = [u for u in updates if u["event"] == "dispatched"][-1]
    assert (redispatch["description"], redispatch["note"]) == ("已派遣至街道办：就近处置", "就近处置")
    assert [u["note"] for u in updates if u["event"] == "received"] == [""]
    bad = await http.post(f"/staff/v1/requests/{cid}/reclassify", json={"service_code": "X"}, headers=auth("admin"))
    assert bad.status_code == 400 and bad.json() == [{"code": 400, "description": "service_code 'X' not found"}]


async def test_escalate_raises_level_and_priority_until_top(http):
    cid = await new_case(http)
    e1 = await staff(http, cid, "escalate", {"reason": "超时未处理", "actor": "督办员"})
    assert (e1["level"], e1["priority"]) == ("区", "high")
    e2 = await staff(http, cid, "escalate", {"reason": "群众多次投诉"})
    assert (e2["level"], e2["priority"]) == ("市", "urgent")
    await staff(http, cid, "escalate", {"reason": "again"}, expect=409)
    await staff(http, cid, "escalate", {}, expect=400)
    audit = (await detail(http, cid))["audit"]
    assert [(a["action"], a["reason"], a["actor"]) for a in audit] == [
        ("escalate", "超时未处理", "督办员"), ("escalate", "群众多次投诉", "")]


async def test_merge_marks_duplicate_and_reopen_undoes_it(http):
    a = await new_case(http, lat="22.1")
    b = await new_case(http, lat="22.3")
    c = await new_case(http, lat="22.5")
    m = await staff(http, b, "merge", {"into_id": a})
    assert m["state"] == "duplicate" and m["duplicate_of"] == a and m["status"] == "closed"
    chained = await staff(http, c, "merge", {"into_id": b})  # follows b to its root a
    assert chained["duplicate_of"] == a
    await staff(http, a, "merge", {"into_id": a}, expect=409)
    await staff(http, a, "merge", {"into_id": b}, expect=409)  # b is already a duplicate of a
    await staff(http, a, "merge", {"into_id": "20990101000001"}, expect=404)
    reopened = await staff(http, b, "reopen", {"reason": "并非同一问题"})
    assert reopened["state"] == "dispatched" and reopened["duplicate_of"] is None
    assert [u["event"] for u in (await detail(http, b))["updates"]][-3:] == ["duplicate", "reopened", "dispatched"]


async def test_permissions_by_role_level_and_department(http):
    cid = await new_case(http)  # 街道 level, 区环境卫生管理所
    await staff(http, cid, "dispatch", {}, who="street_op", expect=403)  # operators do not dispatch
    await staff(http, cid, "status", {"state": "in_progress"}, who="street_op")  # ... but may work their cases
    await staff(http, cid, "resolve", {"note": "x"}, who="other_dept", expect=403)  # other department
    await staff(http, cid, "escalate", {"reason": "慢"}, who="district")  # now 区 level
    await staff(http, cid, "resolve", {"note": "x"}, who="street_op", expect=403)  # above a 街道 operator now
    r = await http.get(f"/staff/v1/requests/{cid}", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json() == [{"code": 401, "description": "staff token is not valid"}]
    r = await http.get(f"/staff/v1/requests/{cid}")
    assert r.status_code == 401
    r = await http.post("/staff/v1/overdue/sweep", headers=auth("street_op"))
    assert r.status_code == 403


async def test_staff_body_validation_is_400(http):
    cid = await new_case(http)
    for body in ({"state": "in_progress", "bogus": 1}, {"note": "x" * 2001, "state": "in_progress"}, ["x"]):
        r = await http.post(f"/staff/v1/requests/{cid}/status", json=body, headers=auth("admin"))
        assert r.status_code == 400 and set(r.json()[0]) == {"code", "description"}
    r = await http.post(f"/staff/v1/requests/{cid}/status", content=b"{not json", headers=auth("admin"))
    assert r.status_code == 400
    r = await http.post("/staff/v1/requests/20990101000001/close", json={}, headers=auth("admin"))
    assert r.status_code == 404


async def test_citizen_reopen_cancel_comment_and_ownership(http):
    cid = await new_case(http)
    await citizen(http, cid, "rate", rating="4", account_id="tg:1", expect=409)  # not resolved yet
    await citizen(http, cid, "cancel", account_id="tg:2", expect=403)  # not the reporter
    await citizen(http, cid, "comments", account_id="tg:1", expect=400)  # neither text nor photo
    got = await citizen(http, cid, "comments", text="还有一袋在路边 13900001111", media_url="http://hub.test/media/b.png",
                        account_id="tg:1")
    assert got[0]["state"] == "dispatched"
    await staff(http, cid, "resolve", {"note": "已清理"})
    await citizen(http, cid, "rate", rating="9", account_id="tg:1", expect=400)
    await citizen(http, cid, "reopen", reason="没清干净", account_id="tg:1")
    d = await detail(http, cid)
    assert d["state"] == "dispatched"
    comment = next(u for u in d["updates"] if u["event"] == "comment")
    assert comment["description"] == "还有一袋在路边 139****1111" and comment["state"] == "dispatched"
    assert comment["media_url"] == "http://hub.test/media/b.png"
    assert [u["event"] for u in d["updates"]][-3:] == ["resolved", "reopened", "dispatched"]
    cancelled = await citizen(http, cid, "cancel", account_id="tg:1")
    assert cancelled[0]["state"] == "cancelled" and cancelled[0]["status"] == "closed"
    await citizen(http, cid, "reopen", account_id="tg:1", expect=409)
    r = await http.post(f"/open311/v2/requests/{cid}/cancel.json", data={"api_key": "bad", "account_id": "tg:1"})
    assert r.status_code == 403 and r.json() == [{"code": 403, "description": "api_key is not valid"}]
    r = await http.post(f"/open311/v2/requests/{cid}/cancel.json", data={"api_key": API_KEY})
    assert r.json() == [{"code": 400, "description": "account_id is required"}]
