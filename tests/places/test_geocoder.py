"""The geocoder seam (citybot.geocoder): a city's standard-address file (a small sample made here) and the online
API adapter against a fake HTTP server on loopback; and the hotline filing getting lat/long from it."""

from __future__ import annotations

import dataclasses
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from citybot import geocoder

CSV = """address,lat,long,district
福中三路88号,22.5401,114.0502,福田区
星河中心,22.5405,114.0510,福田区
深南东路与宝安南路交叉口,22.5430,114.1120,罗湖区
人民北路26号,22.5600,114.1200,罗湖区
人民北路26号,22.5700,114.0200,福田区
bad row,,,
"""


@pytest.fixture
def address_file(tmp_path):
    path = tmp_path / "addresses.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


async def test_file_resolves_numbers_junctions_and_landmarks(address_file):
    g = geocoder.AddressFileGeocoder(address_file)
    assert (await g.locate("福田区福中三路88号门口")).lat == pytest.approx(22.5401)
    assert (await g.locate("福中三路八十八号")).long == pytest.approx(114.0502)  # numerals normalised
    assert (await g.locate({"text": "宝安南路和深南东路路口"})).lat == pytest.approx(22.5430)  # either order
    assert (await g.locate({"text": "星河中心北门", "district": "福田区"})).lat == pytest.approx(22.5405)
    # only exact parts resolve: a road alone, another number, an unknown place
    for miss in ("福中三路", "福中三路90号", "梧桐山", "", None):
        assert await g.locate(miss) is None
    # the same address in two districts: the district decides, and without it the place is ambiguous
    assert (await g.locate("罗湖区人民北路26号")).lat == pytest.approx(22.5600)
    assert await g.locate("人民北路26号") is None


async def test_geojson_file(tmp_path):
    path = tmp_path / "poi.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [114.05, 22.53]},
         "properties": {"name": "莲花北村"}}]}, ensure_ascii=False), encoding="utf-8")
    point = await geocoder.AddressFileGeocoder(path).locate("莲花北村门口")
    assert (point.lat, point.long) == (22.53, 114.05)


class _FakeAPI(BaseHTTPRequestHandler):
    calls: list = []

    def do_GET(self):  # noqa: N802
        q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        _FakeAPI.calls.append(q)
        if q.get("key") != "k1":
            body = {"status": "0", "info": "INVALID_USER_KEY"}
        elif "88号" in q["address"]:
            body = {"status": "1", "geocodes": [{"location": "114.0502,22.5401", "level": "门牌号"}]}
        elif "福中三路" in q["address"]:
            body = {"status": "1", "geocodes": [{"location": "114.05,22.54", "level": "道路"}]}  # too coarse
        else:
            self.send_response(500)
            self.end_headers()
            return
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeAPI.calls = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v3/geocode/geo"
    server.shutdown()
    server.server_close()


async def test_online_api_adapter(api):
    g = geocoder.HttpGeocoder(api, "k1", city="深圳市", timeout=2)
    try:
        point = await g.locate({"text": "福中三路88号门口", "district": "福田区"})
        assert (point.lat, point.long) == (22.5401, 114.0502)
        assert _FakeAPI.calls[-1]["address"] == "福田区福中三路88号门口" and _FakeAPI.calls[-1]["city"] == "深圳市"
        assert await g.locate("福中三路") is None  # a road-level answer is not a place
        assert await g.locate("梧桐山") is None  # a 500 is a miss, not an error
    finally:
        await g.aclose()
    bad = geocoder.HttpGeocoder(api, "wrong", timeout=2)
    assert await bad.locate("福中三路88号") is None
    await bad.aclose()


def test_build_from_settings(address_file, api):
    from citybot.settings import Settings

    assert geocoder.build(Settings(_env_file=None)) is None  # off by default
    assert isinstance(geocoder.build(Settings(_env_file=None, geocoder_file=address_file)), geocoder.AddressFileGeocoder)
    chain = geocoder.build(Settings(_env_file=None, geocoder_file=address_file, geocoder_key="k1", geocoder_url=api))
    assert isinstance(chain, geocoder.ChainGeocoder) and len(chain.geocoders) == 2


async def test_a_filing_gets_coordinates(address_file):
    from citybot import filing as filings

    g = geocoder.AddressFileGeocoder(address_file)
    filing = filings.make(code="SZSS-01", description="井盖没了", address="福田区福中三路88号门口",
                          account_id="tg:1", channel="chat", external_id="x")
    located = await filings.located(filing, g)
    assert (located.lat, located.long) == (22.5401, 114.0502)
    elsewhere = dataclasses.replace(filing, address="某个地方")
    assert await filings.located(elsewhere, g) == elsewhere
    assert await filings.located(filing, None) == filing
