"""End to end: a real uvicorn server process on loopback (started through `citybot hub`'s register function),
driven by HubClient."""

import asyncio
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from hubtesting import API_KEY, STAFF, image_bytes

from hubapi.client import CaseNotFound, Conflict, Forbidden, HubClient, HubRejected, HubUnavailable
from hubapi.models import Filing

SERVE = """
import argparse, sys
from hub.cli import register
parser = argparse.ArgumentParser(); sub = parser.add_subparsers()
register(sub)
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hubserver")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "VAR_DIR": str(tmp), "MEDIA_DIR": str(tmp / "media"), "HUB_API_KEYS": API_KEY,
           "HUB_STAFF_TOKENS": ",".join(STAFF.values()), "HUB_PUBLIC_URL": base, "LOG_LEVEL": "WARNING",
           "HUB_DATABASE_URL": f"sqlite:///{tmp / 'hub.db'}"}
    proc = subprocess.Popen([sys.executable, "-c", SERVE, "hub", "--host", "127.0.0.1", "--port", str(port),
                             "--sweep-interval", "0"], env=env, cwd=tmp)
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/open311/v2/discovery.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
            assert proc.poll() is None, "hub server exited"
        else:
            pytest.fail("hub server did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
async def hub(server):
    async with HubClient(server, api_key=API_KEY, staff_token=STAFF["admin"].split(":")[0], retries=1,
                         backoff=0.01) as c:
        yield c


async def test_citizen_journey(hub, server):
    services = await hub.services()
    assert {s.service_code for s in services} >= {"SRHJ-01", "JMZX-03"}
    photo = await hub.upload_media(image_bytes("PNG"), "p.png")
    assert photo.startswith(f"{server}/media/") and photo.endswith(".png")
    assert httpx.get(photo).content == image_bytes("PNG")
    created = await hub.create_request(Filing("JMZX-03", "门口乱停车", lat=30.1, long=120.1, account_id="tg:7",
                                              channel="chat", external_id="e2e-1", attributes={"plate": "粤B12345"},
                                              media_urls=[photo]))
    assert created.state == "dispatched" and created.expected_datetime is not None
    again = await hub.create_request(Filing("JMZX-03", "门口乱停车", lat=30.1, long=120.1, channel="chat", external_id="e2e-1"))
    assert again.id == created.id
    case = await hub.get_request(created.id)
    assert case.media_url == photo and case.group == "街面秩序" and case.status == "open"
    assert [c.service_request_id for c in await hub.list_requests(account_id="tg:7")] == [created.id]

    await hub.set_status(created.id, "in_progress", note="到场")
    await hub.resolve(created.id, note="已挪车", media_urls=[photo])
    await hub.close(created.id, note="核查")
    rated = await hub.rate(created.id, 5, account_id="tg:7")
    assert rated.state == "rated" and rated.rating == 5
    detail = await hub.case_detail(created.id)
    assert detail.attributes == {"plate": "粤B***5"}
    assert [u.event for u in detail.updates] == ["received", "dispatched", "in_progress", "resolved", "closed", "rated"]
    assert [u.note for u in detail.updates if u.event == "resolved"] == ["已挪车"]
    assert [a.action for a in detail.audit][-1] == "rate"
    stats = await hub.stats()
    assert stats["total"] >= 1
    assert isinstance(await hub.sweep_overdue(), list) and isinstance(await hub.overdue(), list)


async def test_typed_errors_from_real_server(hub, server):
    with pytest.raises(HubRejected) as info:
        await hub.create_request(Filing("NOPE", "x", lat=1, long=1))
    assert info.value.status == 400 and info.value.errors == [{"code": 400, "description": "service_code 'NOPE' not found"}]
    with pytest.raises(CaseNotFound):
        await hub.get_request("20000101000001")
    created = await hub.create_request(Filing("SRHJ-03", "小广告", lat=31.0, long=121.0))
    with pytest.raises(Conflict):
        await hub.close(created.id)
    async with HubClient(server, api_key="wrong") as bad:
        with pytest.raises(Forbidden):
            await bad.create_request(Filing("SRHJ-01", "x", lat=1, long=1))
    async with HubClient(f"http://127.0.0.1:{free_port()}", api_key="k", retries=1, backoff=0.01) as down:
        with pytest.raises(HubUnavailable):
            await down.services()


async def test_cursor_never_misses_or_repeats_under_concurrent_posts(hub, server):
    start = (await hub.updates(after=0, limit=1000))
    cursor = start[-1].update_id if start else 0
    seen: list[int] = []
    done = asyncio.Event()

    async def poll():
        nonlocal cursor
        while True:
            finished = done.is_set()
            page = await hub.updates(after=cursor, limit=9)
            seen.extend(u.update_id for u in page)
            if page:
                cursor = page[-1].update_id
            elif finished:
                return

    async def post(worker: int):
        async with HubClient(server, api_key=API_KEY) as c:
            for i in range(10):
                await c.create_request(Filing("SRHJ-07", f"w{worker}", lat=10 + worker, long=10 + i * 0.1))

    poller = asyncio.create_task(poll())
    await asyncio.gather(*(post(w) for w in range(5)))
    done.set()
    await poller
    assert len(seen) == 100 and seen == sorted(set(seen))


async def test_extra_photos_become_comments_once(hub):
    kw = dict(lat=35.0, long=115.0, account_id="tg:8", channel="chat", external_id="e2e-photos",
              media_urls=["http://m/1.jpg", "http://m/2.jpg", "http://m/3.jpg"])
    created = await hub.create_request(Filing("SRHJ-01", "垃圾", **kw))
    await hub.create_request(Filing("SRHJ-01", "垃圾", **kw))  # an idempotent retry adds nothing
    detail = await hub.case_detail(created.id)
    assert detail.media_url == "http://m/1.jpg"
    assert [u.media_url for u in detail.updates if u.event == "comment"] == ["http://m/2.jpg", "http://m/3.jpg"]


def test_healthz_answers_with_a_database_round_trip(server):
    resp = httpx.get(f"{server}/healthz", timeout=5)
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}
