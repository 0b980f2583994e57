"""Two hub processes on one database behind a round-robin proxy (as hub-lb runs them), on SQLite and PostgreSQL:
citizens file concurrently while a poller follows the feed through the proxy, and one hub process is killed and
replaced halfway. Every report is filed exactly once (retries of an idempotent filing answer with the first case),
and the cursor sees every update exactly once, in order."""

from __future__ import annotations

import asyncio

import pytest
from hubtesting import API_KEY

from bench.hubserver import start_hub
from hubapi.client import HubClient
from hubapi.models import Filing
from tests.rrproxy import hubs_behind_proxy

CITIZENS, REPORTS = 6, 12


@pytest.mark.slow
async def test_two_hubs_behind_a_proxy_file_each_report_once_while_one_is_killed(db_url, tmp_path):
    with hubs_behind_proxy(2, str(tmp_path), db_url, HUB_API_KEYS=API_KEY) as (proxy, procs):
        seen: list[int] = []
        done = asyncio.Event()
        halfway = asyncio.Event()
        filed = 0

        async def poll():
            cursor = 0
            async with HubClient(proxy.url, api_key=API_KEY, retries=8, backoff=0.05) as hub:
                while True:
                    finished = done.is_set()
                    page = await hub.updates(after=cursor, limit=7)
                    seen.extend(u.update_id for u in page)
                    if page:
                        cursor = page[-1].update_id
                    elif finished:
                        return
                    else:
                        await asyncio.sleep(0.01)

        async def citizen(k: int):
            nonlocal filed
            for i in range(REPORTS):
                # a new client per report: new connections, spread over both hubs by the proxy
                async with HubClient(proxy.url, api_key=API_KEY, retries=8, backoff=0.05) as hub:
                    await hub.create_request(Filing("SRHJ-01", f"c{k}-{i}", lat=20 + k, long=100 + i * 0.01,
                                                    channel="chat", external_id=f"replica-{k}-{i}"))
                filed += 1
                if filed == CITIZENS * REPORTS // 2:
                    halfway.set()

        async def kill_one():
            await halfway.wait()
            procs[0][0].kill()  # mid-traffic: its open connections fail, the clients retry on the other hub
            procs[0][0].wait(10)
            procs[0] = await asyncio.to_thread(start_hub, str(tmp_path), db_url, HUB_API_KEYS=API_KEY)
            proxy.backends[0] = procs[0][1]

        poller = asyncio.create_task(poll())
        await asyncio.gather(kill_one(), *(citizen(k) for k in range(CITIZENS)))
        done.set()
        await asyncio.wait_for(poller, 60)

        async with HubClient(proxy.url, api_key=API_KEY) as hub:
            cases = await hub.list_requests(limit=1000)
            every = await hub.updates(after=0, limit=1000)
        assert len(cases) == CITIZENS * REPORTS == len({c.service_request_id for c in cases})  # each report filed once
        assert seen == [u.update_id for u in every] == sorted(set(seen))  # the cursor: all, once, in order
        assert len(seen) == 2 * CITIZENS * REPORTS  # received + dispatched
        assert all(n > 0 for n in proxy.connections), proxy.connections  # both hubs served
