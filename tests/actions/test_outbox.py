"""The hub is down: the report is queued durably (a `file` job), filed once when the hub is back, the citizen
follows it and is told; a report the hub refuses for good is set aside and the citizen is told why."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx

from action_helpers import DOWN_URL, hub_client, load_tracker, run
from actions import actions as a
from actions import outbox, texts
from citybot import jobs
from citybot.settings import DEV_API_KEY
from hubapi.client import HubClient
from hubapi.models import Filing
from rasa_sdk.events import SlotSet


async def test_hub_down_then_up_files_exactly_once(svc, hub_app, hub):
    down = HubClient(DOWN_URL, api_key=DEV_API_KEY, retries=0, timeout=2)
    svc.hub = down
    try:
        events, messages = await run(a.ActionSubmitReport(), load_tracker("submit_report"))
        # a second press of "确认" while the hub is still down queues nothing new
        await run(a.ActionSubmitReport(), load_tracker("submit_report"))
        assert events == [SlotSet(s, None) for s in a.REPORT_SLOTS]
        assert messages[0]["text"] == texts.render("utter_report_queued")
        [row] = svc.store.jobs.find(kinds=[jobs.FILE], states=[jobs.PENDING])
        assert (row.key, row.payload["sender_id"], row.payload["filing"]["service_code"]) == (
            "file:ext-submit-1", "10001", "SZSS-01")
        assert await outbox.flush(svc) == 0           # still down: the row waits with a backoff
        [row] = svc.store.jobs.find(kinds=[jobs.FILE], states=[jobs.PENDING])
        assert row.attempts == 1 and "unavailable" in row.last_error
    finally:
        await down.aclose()

    svc.hub = hub                                     # the hub is back
    assert await hub.list_requests() == []
    assert await outbox.flush(svc) == 0               # not due yet (backoff)
    with svc.store.engine.begin() as conn:            # make it due now
        conn.exec_driver_sql("UPDATE citybot_job SET next_attempt_at = ?",
                             (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1),))
    assert await outbox.flush(svc) == 1
    assert await outbox.flush(svc) == 0
    [case] = await hub.list_requests()
    assert (case.service_code, case.address, case.external_id) == ("SZSS-01", "人民路128号门口", "ext-submit-1")
    [row] = svc.store.jobs.find(kinds=[jobs.FILE])
    assert (row.state, row.result) == ("sent", case.service_request_id)
    assert [(s.chat_id, s.case_id) for s in svc.store.subscriptions()] == [("10001", case.service_request_id)]
    [told] = svc.store.jobs.find(kinds=[jobs.PUSH])  # the citizen hears the case number from the notifier
    assert (told.chat_id, told.state) == ("10001", "pending") and case.service_request_id in told.payload["text"]


async def test_a_lost_answer_is_not_filed_twice(svc, hub):
    """The hub filed the report but the answer never arrived, so it was queued: re-sending returns the case."""
    filing = Filing("SZSS-02", "路灯不亮", address="幸福路1号", account_id="tg:10001", channel="chat",
                    external_id="ext-lost-1")
    first = await hub.create_request(filing)
    svc.store.jobs.add([outbox.file_job("10001", filing)])
    assert await outbox.flush(svc) == 1
    [case] = await hub.list_requests()
    assert case.service_request_id == first.service_request_id
    assert svc.store.jobs.find(kinds=[jobs.FILE])[0].result == first.service_request_id


async def test_a_rejected_queued_report_is_set_aside_with_its_reason_and_the_citizen_told(svc, hub):
    svc.dead_alert_chat = "-1001"
    svc.store.jobs.add([outbox.file_job("10001", Filing("NOPE-99", "x", address="某处", account_id="tg:10001",
                                                        channel="chat", external_id="ext-bad"))])
    assert await outbox.flush(svc) == 0
    [row] = svc.store.jobs.find(kinds=[jobs.FILE])
    assert row.state == "dead" and "NOPE-99" in row.last_error
    assert await hub.list_requests() == []
    told = {j.chat_id: j for j in svc.store.jobs.find(kinds=[jobs.PUSH, jobs.ALERT])}
    assert "未能提交" in told["10001"].payload["text"] and "NOPE-99" in told["10001"].payload["text"]
    assert f"#{row.id}" in told["-1001"].payload["text"]  # the staff chat hears of the dead job once


async def test_a_403_from_the_hub_is_not_a_refusal_for_good(svc, hub, hub_app):
    """A key rotated at the hub (403) is fixed by an operator: the filing waits, it is not thrown away."""
    wrong = HubClient("http://hub.test", api_key="not-the-key", retries=0, transport=httpx.ASGITransport(app=hub_app))
    svc.hub = wrong
    try:
        svc.store.jobs.add([outbox.file_job("10001", Filing("SZSS-01", "x", address="某处", account_id="tg:10001",
                                                            channel="chat", external_id="ext-403"))])
        assert await outbox.flush(svc) == 0
    finally:
        await wrong.aclose()
    [row] = svc.store.jobs.find(kinds=[jobs.FILE])
    assert row.state == "pending" and row.attempts == 1
    assert svc.store.jobs.find(kinds=[jobs.PUSH]) == []


async def test_two_action_servers_flushing_the_same_queue_file_each_report_once(svc, hub, hub_app):
    from actions.services import Services

    filings = [Filing("SZSS-01", f"第{i}处垃圾", address=f"人民路{i}号", account_id=f"tg:{2000 + i}", channel="chat",
                      external_id=f"ext-two-{i}") for i in range(12)]
    svc.store.jobs.add([outbox.file_job(str(2000 + i), f) for i, f in enumerate(filings)])
    async with hub_client(hub_app) as other_hub:
        other = Services(hub=other_hub, store=svc.store, catalogue=svc.catalogue, tz=svc.tz)
        filed = 0
        for _ in range(10):  # both servers' loops, pass after pass, at the same moments
            filed += sum(await asyncio.gather(outbox.flush(svc, limit=5, owner="a"),
                                              outbox.flush(other, limit=5, owner="b")))
            if svc.store.jobs.counts([jobs.FILE]) == {"sent": 12}:
                break
    assert filed == 12
    cases = await hub.list_requests()
    assert sorted(c.external_id for c in cases) == sorted(f.external_id for f in filings)
    assert len(svc.store.subscriptions()) == 12
    told = svc.store.jobs.find(kinds=[jobs.PUSH])
    assert sorted(j.chat_id for j in told) == sorted(str(2000 + i) for i in range(12))
