"""Security probes over real `citybot hub` processes on SQLite and PostgreSQL, tried as a stranger and as a careless
operator would (issue 13): what a stranger can read, change or break.

Each probe names what it tries. The hub of the module (tests/security/conftest.py) has its own secrets; probes
that need other settings start their own process."""

from __future__ import annotations

import asyncio
import io
import re
import sqlite3
import time
from xml.etree import ElementTree as ET

import httpx
import pytest
from PIL import Image
from secprobe import (ADMIN, CHANNEL, DISTRICT, KEY, OTHER_KEY, SALT, SECRETS, STREET_OP, STREET_SUP, auth, file,
                      jpeg_with_gps, png_header_only, run_citybot, start_hub, stream_upload)

from hubapi.accounts import phone_account

PHONE_SHAPES = ["１３８１２３４５６７８", "138.1234.5678", "(0898)66668888", "+86 139-2222-3333", "0755 8888 6666",
                "身份证44030119900101123X", "粤B·8X8X8"]
NAMES = ["王先生", "张女士", "联系人李小明"]


def _no_personal_data(text: str) -> None:
    for secret in ("13812345678", "１３８１２３４５６７８", "1234.5678", "66668888", "2222-3333", "8888 6666",
                   "19900101", "8X8X8", "王先生", "张女士", "李小明", "张三丰", "13900001111", "zhangsf@example.com",
                   "tg:4242"):
        assert secret not in text, secret


# -- 1. development credentials never serve beyond loopback -------------------------------------------------------
def test_the_hub_refuses_development_credentials_beyond_loopback(tmp_path):
    r = run_citybot(["hub", "--host", "0.0.0.0", "--port", "1"], tmp_path)
    assert r.returncode == 2
    for setting in ("HUB_API_KEYS", "HUB_STAFF_TOKENS", "HUB_CHANNEL_TOKENS", "PHONE_HASH_SALT"):
        assert setting in r.stderr
    assert "openssl rand" in r.stderr
    # one development credential left among real ones is enough, and it is the one named
    r = run_citybot(["hub", "--host", "::", "--port", "1"], tmp_path,
                    **{**SECRETS, "HUB_STAFF_TOKENS": SECRETS["HUB_STAFF_TOKENS"] + ",citybot-dev-staff:admin:市:"})
    assert r.returncode == 2 and "HUB_STAFF_TOKENS" in r.stderr and "HUB_API_KEYS" not in r.stderr


def test_the_bot_and_the_hotline_refuse_a_development_salt_or_a_weak_webhook_secret(tmp_path):
    r = run_citybot(["bot"], tmp_path, TELEGRAM_BOT_TOKEN="1:x", TELEGRAM_WEBHOOK_URL="https://bot.example.org/hook",
                    TELEGRAM_WEBHOOK_SECRET="short", HUB_URL="http://hub:8311")
    assert r.returncode == 2 and "TELEGRAM_WEBHOOK_SECRET" in r.stderr and "PHONE_HASH_SALT" in r.stderr
    calls = tmp_path / "calls.jsonl"
    calls.write_text("", encoding="utf-8")
    r = run_citybot(["ingest", str(calls), "--hub-url", "http://hub.example.org:8311"], tmp_path)
    assert r.returncode == 2 and "PHONE_HASH_SALT" in r.stderr


def test_a_hub_with_development_credentials_serves_no_one_beyond_loopback(tmp_path):
    hub = start_hub(tmp_path, secrets=False)
    try:
        assert httpx.get(f"{hub.base}/open311/v2/services.json").status_code == 200  # this machine
        r = httpx.get(f"{hub.base}/open311/v2/services.json", headers={"X-Forwarded-For": "203.0.113.7"})
        assert r.status_code == 503 and "HUB_API_KEYS" in r.text  # a client beyond (via a local proxy)
    finally:
        hub.stop()


# -- 2. a citizen's cases: public report, private reporter ----------------------------------------------------------
def test_strangers_cannot_list_a_citizens_cases(hub, http):
    mine = file(http, account_id="tg:4242", channel="chat", external_id=f"m-{time.time_ns()}")["service_request_id"]
    caller = phone_account("13900001111", SALT)
    called = file(http, account_id=caller, channel="hotline")["service_request_id"]
    for account, case in (("tg:4242", mine), (caller, called)):
        r = http.get("/open311/v2/requests.json", params={"account_id": account})
        assert r.status_code == 403  # no key: nobody's cases
        r = http.get("/open311/v2/requests.json", params={"account_id": account, "api_key": OTHER_KEY})
        assert r.status_code == 200 and r.json() == []  # another client: none of them
        r = http.get("/open311/v2/requests.json", params={"account_id": account, "api_key": KEY})
        assert [c["service_request_id"] for c in r.json()] == [case]  # the client that filed them
    # the filing token leads to the case only for its client; the feed is for api clients
    created = file(http, account_id="tg:4242")
    token = created["token"]
    assert http.get(f"/open311/v2/tokens/{token}.json").status_code == 403
    assert http.get(f"/open311/v2/tokens/{token}.json", params={"api_key": OTHER_KEY}).status_code == 404
    assert http.get(f"/open311/v2/tokens/{token}.json", params={"api_key": KEY}).json()[0]["token"] == token
    assert http.get("/open311/v2/servicerequestupdates.json").status_code == 403
    # another client cannot act as the reporter either, even knowing the account
    r = http.post(f"/open311/v2/requests/{mine}/cancel.json", data={"api_key": OTHER_KEY, "account_id": "tg:4242"})
    assert r.status_code == 403
    assert http.get(f"/open311/v2/requests/{mine}.json").json()[0]["state"] == "dispatched"


def test_public_reads_show_the_report_and_its_place_masked_never_the_reporter(hub, http):
    text = "门口垃圾没人清理，" + "，".join(PHONE_SHAPES + NAMES)
    created = file(http, description=text, address_string="人民路128号 联系电话13812345678", first_name="三丰",
                   last_name="张", phone="13900001111", email="zhangsf@example.com", account_id="tg:4242",
                   channel="chat", external_id=f"p-{time.time_ns()}", device_id="dev-1")
    cid = created["service_request_id"]
    one = http.get(f"/open311/v2/requests/{cid}.json")
    listed = http.get("/open311/v2/requests.json", params={"service_request_id": cid})
    as_xml = http.get(f"/open311/v2/requests/{cid}.xml")
    for r in (one, listed, as_xml):
        assert r.status_code == 200
        _no_personal_data(r.text)
    got = one.json()[0]
    assert "门口垃圾没人清理" in got["description"] and "人民路128号" in got["address"]
    assert {"service_request_id", "status", "description", "address", "lat", "long", "media_url"} <= set(got)
    assert not {"account_id", "channel", "external_id", "device_id", "phone", "email", "first_name", "last_name",
                "rating"} & set(got)
    ET.fromstring(as_xml.content)
    comment = http.post(f"/open311/v2/requests/{cid}/comments.json",
                        data={"api_key": KEY, "account_id": "tg:4242", "text": "再补充：王先生 １３８１２３４５６７８"})
    assert comment.status_code == 200
    feed = http.get("/open311/v2/servicerequestupdates.json", params={"api_key": KEY, "limit": 1000})
    _no_personal_data(feed.text)


def test_stored_photos_carry_no_exif(hub, http):
    data = jpeg_with_gps()
    assert b"CityPhone" in data
    r = http.post("/media", params={"api_key": KEY}, files={"file": ("doc.jpg", data, "application/octet-stream")})
    assert r.status_code == 201, r.text
    served = http.get(r.json()["media_url"].removeprefix(hub.base))
    assert served.status_code == 200 and b"CityPhone" not in served.content
    with Image.open(io.BytesIO(served.content)) as img:
        assert not img.getexif() and img.size == (32, 24)


# -- 4. uploads ---------------------------------------------------------------------------------------------------
def test_an_endless_upload_is_refused_before_its_body_is_read(hub):
    """A keyless chunked upload of 400 MB gets its 403 at once; a keyed one over the limit its 413 at the limit."""
    r = stream_upload(hub.base, "/media", 400 << 20, headers={})
    assert r.status == 403 and r.sent < 64 << 20, (r.status, r.sent)
    r = stream_upload(hub.base, f"/media?api_key={KEY}", 400 << 20, headers={})
    assert r.status == 413 and r.sent < 64 << 20, (r.status, r.sent)
    for ctype, prefix in (("application/x-www-form-urlencoded", b"api_key="), ("multipart/form-data; boundary=x",
                          b'--x\r\nContent-Disposition: form-data; name="description"\r\n\r\n')):
        r = stream_upload(hub.base, "/open311/v2/requests.json", 400 << 20, headers={}, prefix=prefix,
                          content_type=ctype)
        assert r.status == 413 and r.sent < 64 << 20, (ctype, r.status, r.sent)  # form bodies too
    # a JSON body is read before the caller is known: bounded all the same
    r = stream_upload(hub.base, "/staff/v1/requests/20260101000001/escalate", 400 << 20, headers={},
                      prefix=b'{"reason": "', content_type="application/json")
    assert r.status == 413 and r.sent < 64 << 20, (r.status, r.sent)
    r = httpx.post(f"{hub.base}/staff/v1/overdue/sweep", content=b"x" * (2 << 20), headers=auth(ADMIN))
    assert r.status_code == 413  # a declared Content-Length over the limit: at once
    assert httpx.get(f"{hub.base}/healthz").status_code == 200


def test_a_broken_multipart_body_is_a_400(hub, http):
    for body in (b"garbage", b"--x\r\nno headers\r\n\r\n", b"--x\r\n" + b"A" * 100_000):
        r = http.post("/media", params={"api_key": KEY}, content=body,
                      headers={"Content-Type": "multipart/form-data; boundary=x"})
        assert r.status_code == 400, (body[:20], r.text)


def test_a_decompression_bomb_is_a_4xx(hub, http):
    for claimed in ((30000, 30000), (8000, 7000)):
        r = http.post("/media", params={"api_key": KEY}, files={"file": ("b.png", png_header_only(*claimed))})
        assert r.status_code == 413, r.text
    r = http.post("/media", params={"api_key": KEY}, files={"file": ("b.png", png_header_only(64, 64))})
    assert r.status_code == 400  # the header is fine, the data is not an image


# -- 5. lengths: the same answer on both databases ------------------------------------------------------------------
def test_long_and_odd_texts_fit_every_column(hub, http):
    odd = "ﷺ" * 1000  # NFKC makes each of these 18 characters: the duplicate key must still fit
    created = file(http, lat=None, address_string=odd, description="㍿" * 4000)
    cid = created["service_request_id"]
    assert http.post(f"/open311/v2/requests/{cid}/comments.json",
                     data={"api_key": KEY, "account_id": "x", "text": "c" * 4000}).status_code == 403
    cid2 = file(http, account_id="tg:1", description="d")["service_request_id"]
    r = http.post(f"/open311/v2/requests/{cid2}/comments.json",
                  data={"api_key": KEY, "account_id": "tg:1", "text": "评" * 4000})
    assert r.status_code == 200, r.text
    for path, body in ((f"/staff/v1/requests/{cid2}/escalate", {"reason": "升" * 2000}),
                       (f"/staff/v1/requests/{cid2}/dispatch", {"department": "部" * 64, "note": "派" * 2000}),
                       (f"/staff/v1/requests/{cid2}/reclassify", {"service_code": "SRHJ-02", "note": "类" * 2000})):
        r = http.post(path, json=body, headers=auth(ADMIN))
        assert r.status_code == 200, (path, r.text)
    detail = http.get(f"/staff/v1/requests/{cid2}", headers=auth(ADMIN)).json()
    assert [a["action"] for a in detail["audit"]][-3:] == ["escalate", "dispatch", "reclassify"]
    for bad in (b'{"reason": "a\\u0000b"}', b'{"reason": "\\ud800"}', b'{"reason": "%s"}' % (b"x" * 2001),
                b'{"reason": "x", "extra": 1}', b'{"reason": ', b'[1]'):
        r = http.post(f"/staff/v1/requests/{cid2}/escalate", content=bad,
                      headers={**auth(ADMIN), "Content-Type": "application/json"})
        assert r.status_code == 400, (bad, r.text)


@pytest.mark.parametrize("path", ["/staff/v1/requests?q=x&limit=%C2%B2", "/staff/v1/requests?q=x&limit=%E1%8D%A9",
                                  "/staff/v1/requests?q=x&limit=%D9%A3", "/open311/v2/requests.json?limit=%EF%BC%91",
                                  "/open311/v2/servicerequestupdates.json?after=%C2%B9&api_key=" + KEY])
def test_integers_are_ascii_digits(hub, http, path):
    r = http.get(path, headers=auth(ADMIN))
    assert r.status_code == 400 and "integer" in r.json()[0]["description"]


# -- 6. XML ---------------------------------------------------------------------------------------------------------
def test_xml_is_well_formed_whatever_was_stored(hub, http):
    cid = file(http, description="控制字符\x01\x02\x0b\x1f 与 \ufffe 结束", account_id="tg:9")["service_request_id"]
    http.post(f"/open311/v2/requests/{cid}/comments.json", data={"api_key": KEY, "account_id": "tg:9", "text": "\x07铃"})
    for path in (f"/open311/v2/requests/{cid}.xml", "/open311/v2/requests.xml",
                 f"/open311/v2/servicerequestupdates.xml?limit=1000&api_key={KEY}"):
        r = http.get(path)
        assert r.status_code == 200
        ET.fromstring(r.content)
    assert "控制字符" in ET.fromstring(http.get(f"/open311/v2/requests/{cid}.xml").content).findtext("request/description")


# -- 7. roles: decided by the hub, for the person who acts -------------------------------------------------------------
def test_ending_a_case_for_good_needs_a_supervisor(hub, http):
    a, b = file(http)["service_request_id"], file(http)["service_request_id"]
    for state in ("cancelled", "referred"):
        r = http.post(f"/staff/v1/requests/{a}/status", json={"state": state}, headers=auth(STREET_OP))
        assert r.status_code == 403, r.text
    r = http.post(f"/staff/v1/requests/{a}/merge", json={"into_id": b}, headers=auth(STREET_OP))
    assert r.status_code == 403
    assert http.post(f"/staff/v1/requests/{a}/status", json={"state": "in_progress"},
                     headers=auth(STREET_OP)).status_code == 200  # an operator's own step
    r = http.post(f"/staff/v1/requests/{a}/status", json={"state": "referred", "note": "非城管事项"},
                  headers=auth(STREET_SUP))
    assert r.status_code == 200 and r.json()["state"] == "referred"


def test_the_department_check_holds_for_a_case_assigned_to_no_one(hub, http):
    first = file(http, address_string="解放路1号", lat=None)["service_request_id"]
    dup = file(http, address_string="解放路1号", lat=None)
    assert dup["duplicate_of"] == first and dup["agency_responsible"] is None  # linked, so never dispatched
    cid = dup["service_request_id"]
    assert http.get(f"/staff/v1/requests/{cid}", headers=auth(STREET_OP)).status_code == 403
    r = http.post(f"/staff/v1/requests/{cid}/reopen", json={"reason": "不是重复"}, headers=auth(STREET_SUP))
    assert r.status_code == 403
    r = http.post(f"/staff/v1/requests/{cid}/reopen", json={"reason": "不是重复"}, headers=auth(DISTRICT))
    assert r.status_code == 200, r.text  # staff of no department act on it


def test_a_channel_acts_only_for_registered_members_and_the_audit_names_them(hub, http):
    member = f"tg:{time.time_ns() % 10**9}"
    r = http.post("/staff/v1/members", json={"member_id": member, "role": "operator", "level": "街道",
                                             "department": "区环境卫生管理所", "name": "李四"}, headers=auth(ADMIN))
    assert r.status_code == 201, r.text
    cid = file(http)["service_request_id"]
    as_member = auth(CHANNEL, member)
    assert http.post(f"/staff/v1/requests/{cid}/escalate", json={"reason": "x"}, headers=as_member).status_code == 403
    r = http.post(f"/staff/v1/requests/{cid}/status", json={"state": "in_progress", "actor": "tg:1 王市长"},
                  headers=as_member)
    assert r.status_code == 200, r.text
    [entry] = [a for a in http.get(f"/staff/v1/requests/{cid}", headers=auth(ADMIN)).json()["audit"]
               if a["action"] == "status"]
    assert entry["principal"] == f"member:{member}" and entry["actor"] == f"{member} 李四"  # not the claimed actor
    for headers in (auth(CHANNEL, "tg:999999999999"), auth(CHANNEL, member.replace("tg:", "wx:")),
                    auth(ADMIN, member), auth(CHANNEL)):
        r = http.post(f"/staff/v1/requests/{cid}/resolve", json={"note": "x"}, headers=headers)
        assert r.status_code == 403, (headers, r.text)
    assert http.get(f"/staff/v1/requests/{cid}", headers=auth(CHANNEL)).status_code == 200  # the channel reads
    assert http.post("/staff/v1/members", json={"member_id": "tg:5"}, headers=auth(CHANNEL)).status_code == 403
    assert http.patch(f"/staff/v1/members/{member}", json={"active": False}, headers=auth(ADMIN)).status_code == 200
    r = http.post(f"/staff/v1/requests/{cid}/resolve", json={"note": "x"}, headers=as_member)
    assert r.status_code == 403  # deactivated: at once
    assert http.get("/staff/v1/overdue").status_code == 401


# -- 8. logs ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_failed_write_logs_no_personal_data(tmp_path, kind):
    """A database that refuses every new case (a trigger): the filing is a 500, and the hub's log — traceback,
    SQL error and all — holds none of what the citizen sent."""
    import contextlib

    from tests.pgschema import fresh_schema

    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_schema("sec_log")) if kind == "postgresql" else None
        hub = start_hub(tmp_path, url)
        stack.callback(hub.stop)
        _break_inserts(hub.db_url)
        r = httpx.post(f"{hub.base}/open311/v2/requests.json", data={
            "api_key": KEY, "service_code": "SRHJ-01", "address_string": "人民路1号 13812345678",
            "description": "王先生 13900001111 反映", "first_name": "三丰", "last_name": "张", "phone": "13900001111",
            "email": "zhangsf@example.com", "account_id": "tg:4242"})
        assert r.status_code == 500 and r.json() == [{"code": 500, "description": "internal error"}]
        time.sleep(0.3)
        log = hub.log()
        assert "Traceback" in log and "boom" in log  # the error is there, for the operator
        _no_personal_data(log)
        assert "三丰" not in log


def _break_inserts(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
            conn.execute("CREATE TRIGGER boom BEFORE INSERT ON hub_case BEGIN SELECT RAISE(ABORT, 'boom'); END")
        return
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$ "
                             "LANGUAGE plpgsql"))
        conn.execute(sa.text("CREATE TRIGGER boom BEFORE INSERT ON hub_case FOR EACH ROW EXECUTE FUNCTION boom()"))
    engine.dispose()


# -- 9. abuse: rate limits ---------------------------------------------------------------------------------------------
def test_public_writes_and_uploads_are_rate_limited_with_retry_after(tmp_path):
    hub = start_hub(tmp_path, HUB_RATE_LIMIT_PER_ADDRESS="3/60", HUB_RATE_LIMIT_PER_KEY="5/60")
    try:
        with httpx.Client(base_url=hub.base) as http:
            def post(address: str, key: str = KEY) -> httpx.Response:
                return http.post("/open311/v2/requests.json", headers={"X-Forwarded-For": address},
                                 data={"api_key": key, "service_code": "SRHJ-01", "address_string": f"{address}号"})

            # one address: three attempts, valid key or not, then 429 with Retry-After
            assert [post("198.51.100.1", k).status_code for k in ("nope", KEY, KEY)] == [403, 201, 201]
            r = post("198.51.100.1")
            assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 20
            assert r.json()[0]["code"] == 429
            # one key from many addresses: five in all
            assert [post(f"198.51.100.{i}").status_code for i in (2, 3, 4)] == [201, 201, 201]
            r = post("198.51.100.5")
            assert r.status_code == 429 and "Retry-After" in r.headers
            r = http.post("/media", params={"api_key": KEY}, headers={"X-Forwarded-For": "198.51.100.6"},
                          files={"file": ("a.jpg", jpeg_with_gps())})
            assert r.status_code == 429  # uploads count too
            assert post("198.51.100.7", OTHER_KEY).status_code == 201  # another client is not held up
            assert http.get("/open311/v2/requests.json").status_code == 200  # reads are not limited
            # loopback (the bot and hotline on this machine) is exempt from the per-address limit only
            assert http.post("/open311/v2/requests.json", data={"api_key": KEY}).status_code == 429
    finally:
        hub.stop()


def test_the_hub_client_waits_out_a_429(tmp_path):
    from hubapi.client import HubClient
    from hubapi.models import Filing

    hub = start_hub(tmp_path, HUB_RATE_LIMIT_PER_KEY="1/1")

    async def go() -> float:
        async with HubClient(hub.base, api_key=KEY, retries=2) as client:
            await client.create_request(Filing("SRHJ-01", "a", address="人民路1号"))
            t0 = time.monotonic()
            created = await client.create_request(Filing("SRHJ-01", "b", address="人民路2号"))
            assert re.fullmatch(r"\d{14}", created.service_request_id)
            return time.monotonic() - t0

    try:
        assert asyncio.run(go()) >= 0.5
    finally:
        hub.stop()
