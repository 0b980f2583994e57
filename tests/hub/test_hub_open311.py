"""Open311 GeoReport v2 endpoints over HTTP (ASGI): JSON and XML, filing, queries, and every kind of bad input."""

import datetime as dt
import re
from xml.etree import ElementTree as ET

import pytest

from hubtesting import API_KEY, TZ, filing_form


async def file(http, **kw) -> dict:
    r = await http.post("/open311/v2/requests.json", data=filing_form(**kw))
    assert r.status_code in (200, 201), r.text
    return r.json()[0]


async def test_discovery_and_services_json_and_xml(http):
    d = (await http.get("/open311/v2/discovery.json")).json()
    assert d["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    services = (await http.get("/open311/v2/services.json")).json()
    garbage = next(s for s in services if s["service_code"] == "SRHJ-01")
    assert garbage == {"service_code": "SRHJ-01", "service_name": "暴露垃圾", "description": "市容环境 - 暴露垃圾",
                       "metadata": True, "type": "realtime", "keywords": garbage["keywords"], "group": "市容环境"}
    assert "垃圾堆" in garbage["keywords"].split(",")
    r = await http.get("/open311/v2/services.xml")
    assert r.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "services" and len(root.findall("service")) == len(services)
    assert root.find("service/metadata").text == "true"


async def test_service_definition(http):
    d = (await http.get("/open311/v2/services/JMZX-03.json")).json()
    assert d["service_code"] == "JMZX-03"
    assert [a["code"] for a in d["attributes"]] == ["detail", "photo_count", "plate"]
    assert d["attributes"][0] | {"values": []} == {
        "variable": True, "code": "detail", "datatype": "string", "required": False,
        "datatype_description": "补充说明（不超过500字）", "order": 1, "description": "问题的补充说明，如具体位置、持续时间",
        "values": []}
    x = ET.fromstring((await http.get("/open311/v2/services/JMZX-03.xml")).content)
    assert x.tag == "service_definition" and len(x.findall("attributes/attribute")) == 3


async def test_post_request_files_and_auto_dispatches(http, clock):
    created = await file(http, account_id="tg:42", channel="chat", external_id="m-1",
                         **{"attribute[detail]": "在东门", "phone": "13812345678"})
    assert re.fullmatch(r"20260302\d{6}", created["service_request_id"])
    assert set(created) == {"service_request_id", "token", "service_notice", "account_id", "duplicate_of",
                            "agency_responsible", "expected_datetime", "state", "update_id"}
    assert created["state"] == "dispatched" and created["agency_responsible"] == "区环境卫生管理所"
    feed = (await http.get("/open311/v2/servicerequestupdates.json", params={"after": 0, "api_key": API_KEY})).json()
    told = [u for u in feed if u["service_request_id"] == created["service_request_id"]]
    assert [u["event"] for u in told] == ["received", "dispatched"]  # what the answer says: told up to dispatched
    assert created["update_id"] == told[-1]["update_id"]
    assert created["expected_datetime"] == "2026-03-02T15:00:00+08:00"  # 09:00 + 4 working hours (3 h + 1 h from 14:00)
    assert created["duplicate_of"] is None and created["account_id"] == "tg:42"
    got = (await http.get(f"/open311/v2/requests/{created['service_request_id']}.json")).json()[0]
    assert got["status"] == "open" and got["state"] == "dispatched" and got["group"] == "市容环境"
    assert got["status_notes"] == "已派遣至区环境卫生管理所"
    assert got["requested_datetime"] == "2026-03-02T09:00:00+08:00"
    assert got["lat"] == pytest.approx(22.5431) and got["overdue"] is False
    assert got["level"] == "街道" and got["priority"] == "normal"
    # public: the report and its place, never the reporter nor the channel's references to them
    assert not {"phone", "account_id", "channel", "external_id", "rating"} & set(got)
    assert "13812345678" not in str(got) and "tg:42" not in str(got)
    own = (await http.get(f"/open311/v2/requests/{created['service_request_id']}.json",
                          params={"api_key": API_KEY})).json()[0]  # the client that filed it sees its references
    assert own["channel"] == "chat" and own["external_id"] == "m-1" and own["account_id"] == "tg:42"
    by_token = (await http.get(f"/open311/v2/tokens/{created['token']}.json", params={"api_key": API_KEY})).json()
    assert by_token == [{"service_request_id": created["service_request_id"], "token": created["token"]}]


async def test_case_numbers_are_sequential_per_local_day(http, clock):
    a = await file(http, lat="22.1", long="113.1")
    b = await file(http, lat="22.2", long="113.2")
    clock.now = dt.datetime(2026, 3, 3, 0, 5, tzinfo=TZ)  # just after local midnight (16:05 UTC the day before)
    c = await file(http, lat="22.3", long="113.3")
    assert [a["service_request_id"], b["service_request_id"], c["service_request_id"]] == [
        "20260302000001", "20260302000002", "20260303000001"]


async def test_refiling_same_channel_external_id_is_idempotent(http):
    first = await http.post("/open311/v2/requests.json", data=filing_form(channel="hotline", external_id="call-9"))
    again = await http.post("/open311/v2/requests.json",
                            data=filing_form(channel="hotline", external_id="call-9", description="重复提交"))
    other_channel = await http.post("/open311/v2/requests.json",
                                    data=filing_form(channel="chat", external_id="call-9", lat="23.0"))
    assert first.status_code == 201 and again.status_code == 200 and other_channel.status_code == 201
    assert again.json()[0]["service_request_id"] == first.json()[0]["service_request_id"]
    assert other_channel.json()[0]["service_request_id"] != first.json()[0]["service_request_id"]
    assert len((await http.get("/open311/v2/requests.json")).json()) == 2


async def test_post_xml_response(http):
    r = await http.post("/open311/v2/requests.xml", data=filing_form())
    assert r.status_code == 201
    req = ET.fromstring(r.content).find("request")
    assert re.fullmatch(r"\d{14}", req.find("service_request_id").text)
    assert req.find("state").text == "dispatched" and req.find("duplicate_of").text is None


async def test_duplicates_nearby_same_service_open_case(http, clock):
    original = await file(http, lat="22.54310", long="114.05790")
    near = await file(http, lat="22.54350", long="114.05800")  # ~45 m away
    assert near["state"] == "duplicate" and near["duplicate_of"] == original["service_request_id"]
    assert original["service_request_id"] in near["service_notice"]
    far = await file(http, lat="22.54500", long="114.05790")  # ~210 m away
    other_service = await file(http, service_code="SRHJ-02", lat="22.54310", long="114.05790")
    clock.advance(hours=73)
    later = await file(http, lat="22.54310", long="114.05790")  # outside the 72 h window
    assert far["duplicate_of"] is None and other_service["duplicate_of"] is None and later["duplicate_of"] is None
    dup = (await http.get(f"/open311/v2/requests/{near['service_request_id']}.json")).json()[0]
    assert dup["status"] == "closed" and dup["duplicate_of"] == original["service_request_id"]


async def test_duplicates_by_normalised_address(http):
    a = await file(http, lat="<omit>", long="<omit>", address_string="福田区 人民路12号")
    b = await file(http, lat="<omit>", long="<omit>", address_string="福田区人民路１２号。")
    c = await file(http, lat="<omit>", long="<omit>", address_string="福田区人民路14号")
    assert b["duplicate_of"] == a["service_request_id"] and c["duplicate_of"] is None


async def test_get_requests_filters(http, clock):
    a = await file(http, account_id="u1", lat="22.1")
    b = await file(http, service_code="JMZX-01", account_id="u2", lat="22.2")
    clock.advance(days=100)
    c = await file(http, account_id="u1", lat="22.3")

    async def ids(**params):
        r = await http.get("/open311/v2/requests.json", params=params)
        assert r.status_code == 200, r.text
        return [x["service_request_id"] for x in r.json()]

    a, b, c = a["service_request_id"], b["service_request_id"], c["service_request_id"]
    assert await ids() == [c]  # the spec's default 90-day window
    assert await ids(start_date="2026-01-01T00:00:00+08:00") == [c, b, a]
    assert await ids(start_date="2026-01-01", service_code="JMZX-01") == [b]
    assert await ids(start_date="2026-01-01", end_date="2026-03-03T00:00:00+08:00") == [b, a]
    assert await ids(service_request_id=f"{a},{c}") == [c, a]
    assert await ids(start_date="2026-01-01", account_id="u1", api_key=API_KEY) == [c, a]
    assert await ids(start_date="2026-01-01", status="closed") == []
    assert await ids(start_date="2026-01-01", status="open", state="dispatched") == [c, b, a]
    assert await ids(start_date="2026-01-01", state="resolved") == []
    assert await ids(start_date="2026-01-01", limit="1") == [c]


BAD_POSTS = [
    ({"service_code": "NOPE-99"}, 400, "service_code 'NOPE-99' not found"),
    ({"service_code": "<omit>"}, 400, "service_code is required"),
    ({"lat": "<omit>", "long": "<omit>"}, 400, "a location is required: lat and long, or address_string"),
    ({"long": "<omit>"}, 400, "lat and long must be given together"),
    ({"lat": "north"}, 400, "lat must be a decimal number"),
    ({"lat": "91"}, 400, "lat must be between -90 and 90"),
    ({"long": "nan"}, 400, "long must be between -180 and 180"),
    ({"long": "inf"}, 400, "long must be between -180 and 180"),
    ({"description": "长" * 4001}, 400, "description is longer than 4000 characters"),
    ({"address_string": "路" * 1001}, 400, "address_string is longer than 1000 characters"),
    ({"media_url": "file:///etc/passwd"}, 400, "media_url must be an http(s) URL"),
    ({"channel": "pigeon"}, 400, "channel must be one of app, chat, email, hotline, other, sms, staff, web, wechat"),
    ({"attribute[colour]": "red"}, 400, "attribute[colour] is not defined for service SRHJ-01"),
    ({"attribute[photo_count]": "many"}, 400, "attribute[photo_count] must be a number"),
    ({"attribute]x": "1"}, 400, "malformed attribute field 'attribute]x'; use attribute[code]"),
    ({"phone": "call me"}, 400, "phone must be a telephone number"),
    ({"api_key": "<omit>"}, 403, "api_key is required"),
    ({"api_key": "wrong"}, 403, "api_key is not valid"),
]


@pytest.mark.parametrize("change,status,description", BAD_POSTS, ids=[d for _, _, d in BAD_POSTS])
async def test_bad_post_gets_spec_error_body(http, change, status, description):
    r = await http.post("/open311/v2/requests.json", data=filing_form(**change))
    assert r.status_code == status
    assert r.json() == [{"code": status, "description": description}]
    assert (await http.get("/open311/v2/requests.json")).json() == []  # nothing was filed


async def test_errors_in_xml(http):
    r = await http.post("/open311/v2/requests.xml", data=filing_form(api_key="wrong"))
    assert r.status_code == 403
    root = ET.fromstring(r.content)
    assert root.tag == "errors" and root.find("error/code").text == "403"
    assert root.find("error/description").text == "api_key is not valid"


BAD_GETS = [
    ("/open311/v2/services.yaml", 400, "unsupported format 'yaml'; use .json or .xml"),
    ("/open311/v2/services", 404, "not found"),
    ("/open311/v2/services/NOPE.json", 404, "service_code 'NOPE' not found"),
    ("/open311/v2/requests/20260302999999.json", 404, "service_request_id 20260302999999 not found"),
    ("/open311/v2/tokens/nope.json?api_key=test-key", 404, "token not found"),
    ("/open311/v2/tokens/nope.json", 403, "api_key is required"),
    ("/open311/v2/servicerequestupdates.json", 403, "api_key is required"),
    ("/open311/v2/requests.json?account_id=tg:42", 403,
     "account_id queries need the api_key of the client that filed the cases"),
    ("/open311/v2/requests.json?limit=%C2%B2", 400, "limit must be an integer between 1 and 1000"),
    ("/open311/v2/requests.json?start_date=yesterday", 400,
     "start_date must be an ISO 8601 date-time, e.g. 2026-01-31T08:00:00+08:00"),
    ("/open311/v2/requests.json?end_date=2026-13-01", 400,
     "end_date must be an ISO 8601 date-time, e.g. 2026-01-31T08:00:00+08:00"),
    ("/open311/v2/requests.json?start_date=2026-03-02&end_date=2026-03-01", 400, "end_date is before start_date"),
    ("/open311/v2/requests.json?status=pending", 400, "status must be open, closed or both (comma-separated)"),
    ("/open311/v2/requests.json?state=lost", 400, "state must be among received, dispatched, in_progress, "
     "reopened, resolved, closed, rated, duplicate, cancelled, referred"),
    ("/open311/v2/requests.json?limit=0", 400, "limit must be an integer between 1 and 1000"),
    ("/open311/v2/servicerequestupdates.json?api_key=test-key&after=-1", 400,
     "after must be an integer between 0 and 4611686018427387904"),
    ("/open311/v2/servicerequestupdates.json?api_key=test-key&limit=abc", 400,
     "limit must be an integer between 1 and 1000"),
    ("/open311/v2/servicerequestupdates.json?api_key=test-key&limit=%E1%8D%A9", 400,
     "limit must be an integer between 1 and 1000"),
]


@pytest.mark.parametrize("path,status,description", BAD_GETS, ids=[p for p, _, _ in BAD_GETS])
async def test_bad_get_gets_spec_error_body(http, path, status, description):
    r = await http.get(path)
    assert r.status_code == status, r.text
    assert r.json() == [{"code": status, "description": description}]


async def chunked():
    for _ in range(3):
        yield b"a" * 100_000


async def test_malformed_bodies_never_500(http):
    cases = [
        dict(content=b"\xff\xfe\x00garbage", headers={"content-type": "application/x-www-form-urlencoded"}),
        dict(content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data; boundary=x"}),
        dict(files={"file": ("a.jpg", b"123")}, data={"api_key": API_KEY}),
        dict(json={"api_key": API_KEY, "service_code": "SRHJ-01"}),
        dict(content=b"a" * 300_000, headers={"content-type": "application/x-www-form-urlencoded"}),
        dict(content=chunked(), headers={"content-type": "application/x-www-form-urlencoded"}),  # no length
        dict(content="&".join(f"f{i}=1" for i in range(500)).encode(),
             headers={"content-type": "application/x-www-form-urlencoded"}),
    ]
    for kw in cases:
        r = await http.post("/open311/v2/requests.json", **kw)
        assert 400 <= r.status_code < 500, (kw.keys(), r.status_code, r.text)
        body = r.json()
        assert isinstance(body, list) and set(body[0]) == {"code", "description"}


async def test_updates_feed_pages_by_cursor(http):
    for i in range(3):
        await file(http, lat=f"22.{i}")
    page1 = (await http.get("/open311/v2/servicerequestupdates.json", params={"limit": 4, "api_key": API_KEY})).json()
    page2 = (await http.get("/open311/v2/servicerequestupdates.json",
                            params={"after": page1[-1]["update_id"], "limit": 4, "api_key": API_KEY})).json()
    ids = [u["update_id"] for u in page1 + page2]
    assert ids == sorted(ids) and len(ids) == 6 == len(set(ids))
    assert [u["event"] for u in page1[:2]] == ["received", "dispatched"]
    u = page1[1]
    assert set(u) == {"update_id", "service_request_id", "status", "state", "event", "description", "note",
                      "updated_datetime", "media_url", "agency_responsible", "expected_datetime", "result_media_urls",
                      "level", "priority"}
    assert u["status"] == "open" and u["agency_responsible"] == "区环境卫生管理所"
    x = ET.fromstring((await http.get("/open311/v2/servicerequestupdates.xml",
                                      params={"limit": 2, "api_key": API_KEY})).content)
    assert x.tag == "service_request_updates" and len(x.findall("request_update")) == 2
