"""Staff search at the hub: GET /staff/v1/requests?q=&limit= (description or address, case-insensitive),
only cases the caller may read, bad input 400, and HubClient.find over the same endpoint."""

from __future__ import annotations

import httpx
from hubtesting import API_KEY, auth
from hubapi.models import Filing


async def _file(http, code, description, address):
    r = await http.post("/open311/v2/requests.json", data={"api_key": API_KEY, "service_code": code,
                                                           "description": description, "address_string": address})
    assert r.status_code == 201, r.text
    return r.json()[0]["service_request_id"]


async def test_find_by_address_and_description_case_insensitive(http):
    a = await _file(http, "SRHJ-01", "门口垃圾成堆 ABC", "人民路128号")
    b = await _file(http, "SZSS-01", "井盖不见了", "解放大道 7 号")
    c = await _file(http, "SRHJ-01", "垃圾 abc 没人清理", "中山路1号")

    r = await http.get("/staff/v1/requests", params={"q": "人民路"}, headers=auth("admin"))
    assert r.status_code == 200
    assert [x["service_request_id"] for x in r.json()] == [a]

    r = await http.get("/staff/v1/requests", params={"q": "abc"}, headers=auth("admin"))
    assert [x["service_request_id"] for x in r.json()] == [c, a]  # newest first, both cases of ABC/abc
    assert r.json()[0]["reporter"] is not None  # the staff shape

    r = await http.get("/staff/v1/requests", params={"q": "井盖"}, headers=auth("admin"))
    assert [x["service_request_id"] for x in r.json()] == [b]

    r = await http.get("/staff/v1/requests", params={"q": "abc", "limit": "1"}, headers=auth("admin"))
    assert [x["service_request_id"] for x in r.json()] == [c]

    r = await http.get("/staff/v1/requests", params={"q": "no such place"}, headers=auth("admin"))
    assert r.json() == []


async def test_find_escapes_like_wildcards(http):
    await _file(http, "SRHJ-01", "垃圾成堆", "人民路128号")
    r = await http.get("/staff/v1/requests", params={"q": "%"}, headers=auth("admin"))
    assert r.status_code == 200 and r.json() == []
    r = await http.get("/staff/v1/requests", params={"q": "_"}, headers=auth("admin"))
    assert r.json() == []


async def test_find_shows_only_what_the_caller_may_read(http):
    street = await _file(http, "SRHJ-01", "垃圾成堆", "人民路1号")  # 街道, 区环境卫生管理所
    district = await _file(http, "YLLH-01", "大树倒了", "人民路2号")  # 区, 区园林绿化管理所
    r = await http.get("/staff/v1/requests", params={"q": "人民路"}, headers=auth("street_op"))
    assert [x["service_request_id"] for x in r.json()] == [street]
    r = await http.get("/staff/v1/requests", params={"q": "人民路"}, headers=auth("other_dept"))
    assert r.json() == []  # 园林绿化局 has neither case
    r = await http.get("/staff/v1/requests", params={"q": "人民路"}, headers=auth("district"))
    assert {x["service_request_id"] for x in r.json()} == {street, district}


async def test_find_bad_input_is_400_and_needs_a_token(http):
    for params in ({}, {"q": ""}, {"q": "   "}, {"q": "x" * 201}, {"q": "a", "limit": "0"},
                   {"q": "a", "limit": "101"}, {"q": "a", "limit": "ten"}):
        r = await http.get("/staff/v1/requests", params=params, headers=auth("admin"))
        assert r.status_code == 400, params
        assert r.json()[0]["code"] == 400
    r = await http.get("/staff/v1/requests", params={"q": "a"})
    assert r.status_code == 401


async def test_client_find(app):
    from hubapi.client import HubClient

    async with HubClient("http://hub.test", api_key=API_KEY, staff_token="tok-admin",
                         transport=httpx.ASGITransport(app=app)) as client:
        created = await client.create_request(Filing("SRHJ-01", "垃圾成堆", address="人民路128号"))
        found = await client.find("人民路", limit=5)
        assert [x.service_request_id for x in found] == [created.service_request_id]
        assert await client.find("没有") == []
