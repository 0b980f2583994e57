"""The hub honours Idempotency-Key on its non-idempotent POSTs (hub/idempotency.py), on SQLite and PostgreSQL: a
repeat answers as the first call did and changes nothing; the same key with another body is refused (422); two
callers' keys never collide; concurrent repeats take effect once; keys past their retention are forgotten."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hubtesting import API_KEY, auth, filing_form, make_settings

OTHER_KEY = "other-key"


@pytest.fixture
def app(db_url, tmp_path, clock):
    from hub.app import create_app

    app = create_app(make_settings(tmp_path, db_url, hub_api_keys=f"{API_KEY},{OTHER_KEY}"), clock=clock)
    yield app
    app.state.hub.db.dispose()


@pytest.fixture
async def http(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as c:
        yield c


def key(k: str) -> dict[str, str]:
    return {"Idempotency-Key": k}


async def file(http, idem: str | None = None, **kw) -> httpx.Response:
    return await http.post("/open311/v2/requests.json", data=filing_form(account_id="tg:1", **kw),
                           headers=key(idem) if idem else {})


async def detail(http, case_id: str) -> dict:
    resp = await http.get(f"/staff/v1/requests/{case_id}", headers=auth("admin"))
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_a_repeated_create_answers_the_first_case_and_files_nothing_more(http):
    first = await file(http, "k-create", description="垃圾桶满了")
    again = await file(http, "k-create", description="垃圾桶满了")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()  # the first answer, byte for byte (same token too)
    assert again.headers.get("idempotent-replayed") == "true" and "idempotent-replayed" not in first.headers
    cases = (await http.get("/open311/v2/requests.json")).json()
    assert [c["service_request_id"] for c in cases] == [first.json()[0]["service_request_id"]]


async def test_the_same_key_with_another_body_or_path_is_refused(http):
    first = await file(http, "k-1", description="路灯不亮")
    other = await file(http, "k-1", description="路灯不亮了")
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()[0]["description"]
    case_id = first.json()[0]["service_request_id"]
    elsewhere = await http.post(f"/open311/v2/requests/{case_id}/comments.json",
                                data={"api_key": API_KEY, "account_id": "tg:1", "text": "x"}, headers=key("k-1"))
    assert elsewhere.status_code == 422
    assert len((await http.get("/open311/v2/requests.json")).json()) == 1


async def test_two_callers_with_the_same_key_do_not_collide(http):
    a = await file(http, "shared", description="a")
    b = await http.post("/open311/v2/requests.json", headers=key("shared"),
                        data=filing_form(api_key=OTHER_KEY, account_id="tg:1", description="a"))
    assert a.status_code == b.status_code == 201
    assert a.json()[0]["service_request_id"] != b.json()[0]["service_request_id"]
    case_id = a.json()[0]["service_request_id"]
    # two staff identities escalating with one key: two escalations (each their own call)
    for who in ("admin", "district"):
        r = await http.post(f"/staff/v1/requests/{case_id}/escalate", json={"reason": "急"},
                            headers={**auth(who), **key("esc")})
        assert r.status_code == 200, r.text
    assert (await detail(http, case_id))["level"] == "市"


async def test_a_repeated_staff_action_or_citizen_action_takes_effect_once(http):
    case_id = (await file(http, description="井盖缺失")).json()[0]["service_request_id"]
    answers = [await http.post(f"/staff/v1/requests/{case_id}/escalate", json={"reason": "危险"},
                               headers={**auth("admin"), **key("esc-1")}) for _ in range(3)]
    assert {r.status_code for r in answers} == {200}
    assert answers[0].json() == answers[2].json()
    case = await detail(http, case_id)
    assert case["level"] == "区" and [u["event"] for u in case["updates"]].count("escalated") == 1

    comment = {"api_key": API_KEY, "account_id": "tg:1", "text": "还在"}
    for _ in range(2):
        r = await http.post(f"/open311/v2/requests/{case_id}/comments.json", data=comment, headers=key("c-1"))
        assert r.status_code == 200, r.text
    assert [u["event"] for u in (await detail(http, case_id))["updates"]].count("comment") == 1

    r = await http.post(f"/staff/v1/requests/{case_id}/resolve", json={"note": "已修"}, headers=auth("admin"))
    assert r.status_code == 200
    rate = {"api_key": API_KEY, "account_id": "tg:1", "rating": "5"}
    first = await http.post(f"/open311/v2/requests/{case_id}/rate.json", data=rate, headers=key("r-1"))
    again = await http.post(f"/open311/v2/requests/{case_id}/rate.json", data=rate, headers=key("r-1"))
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    # without a key, a second rating is what it always was: a conflict
    assert (await http.post(f"/open311/v2/requests/{case_id}/rate.json", data=rate)).status_code == 409


async def test_an_error_is_not_remembered_and_a_bad_key_is_refused(http):
    case_id = (await file(http)).json()[0]["service_request_id"]
    rate = {"api_key": API_KEY, "account_id": "tg:1", "rating": "4"}
    early = await http.post(f"/open311/v2/requests/{case_id}/rate.json", data=rate, headers=key("r-early"))
    assert early.status_code == 409  # not resolved yet: nothing happened, nothing remembered
    await http.post(f"/staff/v1/requests/{case_id}/resolve", json={"note": "好了"}, headers=auth("admin"))
    later = await http.post(f"/open311/v2/requests/{case_id}/rate.json", data=rate, headers=key("r-early"))
    assert later.status_code == 200 and later.json()[0]["state"] == "rated"
    for bad in ("has space", "x" * 201):
        assert (await file(http, bad)).status_code == 400


async def test_concurrent_repeats_take_effect_once(http):
    case_id = (await file(http)).json()[0]["service_request_id"]
    answers = await asyncio.gather(*(
        http.post(f"/staff/v1/requests/{case_id}/escalate", json={"reason": "同时"},
                  headers={**auth("admin"), **key("esc-race")}) for _ in range(6)))
    assert {r.status_code for r in answers} == {200}, [r.text for r in answers]
    assert len({r.text for r in answers}) == 1
    case = await detail(http, case_id)
    assert case["level"] == "区" and [u["event"] for u in case["updates"]].count("escalated") == 1


async def test_create_with_several_photos_attaches_them_all(http):
    photos = [f"http://hub.test/media/{c * 64}.jpg" for c in "abc"]
    r = await http.post("/open311/v2/requests.json", headers=key("k-photos"),
                        data={**filing_form(account_id="tg:1"), "media_url": photos})
    assert r.status_code == 201
    case = await detail(http, r.json()[0]["service_request_id"])
    seen = [case["media_url"]] + [u["media_url"] for u in case["updates"] if u["media_url"]]
    assert list(dict.fromkeys(seen)) == photos
    too_many = {**filing_form(), "media_url": [f"http://x/{i}.jpg" for i in range(10)]}
    assert (await http.post("/open311/v2/requests.json", data=too_many)).status_code == 400


async def test_keys_past_their_retention_are_forgotten(app, http, clock):
    await file(http, "k-old")
    clock.advance(hours=app.state.settings.hub_idempotency_retention_hours + 1)
    assert await asyncio.to_thread(app.state.idempotency.purge) == 1
    again = await file(http, "k-old")
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert len((await http.get("/open311/v2/requests.json")).json()) == 2


async def test_the_header_is_in_the_openapi_schema(http):
    schema = (await http.get("/openapi.json")).json()
    for path in ("/open311/v2/requests.{fmt}", "/open311/v2/requests/{case_id}/rate.{fmt}",
                 "/staff/v1/requests/{case_id}/escalate"):
        params = schema["paths"][path]["post"].get("parameters", [])
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in params), path
        assert "422" in schema["paths"][path]["post"]["responses"]


async def test_a_key_whose_create_found_the_existing_report_is_remembered_too(http):
    first = await file(http, "k-a", channel="chat", external_id="rep-1")
    other = await file(http, "k-b", channel="chat", external_id="rep-1")  # the same report under a new key
    assert (first.status_code, other.status_code) == (201, 200)
    again = await file(http, "k-b", channel="chat", external_id="rep-1")
    assert again.status_code == 200 and again.headers.get("idempotent-replayed") == "true"
    assert again.json()[0]["service_request_id"] == first.json()[0]["service_request_id"]


async def test_a_repeat_of_a_call_whose_answer_was_never_recorded(app, http, clock, monkeypatch):
    """The hub stopped between the effect's commit and recording its answer (the row is left pending): a repeat
    waits, then answers 409 while the first call might still be running, then the case as it is now, never
    acting twice."""
    import hub.idempotency as idem
    from sqlalchemy import update

    case_id = (await file(http)).json()[0]["service_request_id"]
    esc = lambda: http.post(f"/staff/v1/requests/{case_id}/escalate", json={"reason": "危险"},  # noqa: E731
                            headers={**auth("admin"), **key("k-crash")})
    assert (await esc()).status_code == 200
    table = idem.IdempotentCall.__table__
    with app.state.hub.db.engine.begin() as conn:  # as if the hub had died before recording the answer
        conn.execute(update(table).values(status=None, body=None))
    monkeypatch.setattr(idem, "PENDING_WAIT_S", 0.2)
    busy = await esc()
    assert busy.status_code == 409 and busy.headers["retry-after"] == "1"
    clock.advance(seconds=idem.STALE_S + 1)
    recovered = await esc()
    assert recovered.status_code == 200 and recovered.json()["level"] == "区"
    assert [u["event"] for u in (await detail(http, case_id))["updates"]].count("escalated") == 1
    assert (await esc()).json() == recovered.json()  # recorded now
