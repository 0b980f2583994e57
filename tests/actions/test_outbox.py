"""The hub is down: the report is queued durably, filed once when the hub is back, and the citizen follows it."""

from __future__ import annotations

import datetime as dt

from action_helpers import DOWN_URL, hub_client, load_tracker, run
from actions import actions as a
from actions import outbox, texts
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
        [row] = svc.store.pending()
        assert (row.external_id, row.sender_id, row.filing.service_code) == ("ext-submit-1", "10001", "SZSS-01")
        assert await outbox.flush(svc) == 0           # still down: the row waits with a backoff
        [row] = svc.store.pending()
        assert row.attempts == 1 and "unavailable" in row.last_error
    finally:
        await down.aclose()

    svc.hub = hub                                     # the hub is back
    assert await hub.list_requests() == []
    assert await outbox.flush(svc) == 0               # not due yet (backoff)
    with svc.store.engine.begin() as conn:            # make it due now
        conn.exec_driver_sql("UPDATE citybot_report_outbox SET next_attempt_at = ?",
                             (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1),))
    assert await outbox.flush(svc) == 1
    assert await outbox.flush(svc) == 0
    [case] = await hub.list_requests()
    assert (case.service_code, case.address, case.external_id) == ("SZSS-01", "人民路128号门口", "ext-submit-1")
    [row] = svc.store.all_rows()
    assert (row.status, row.case_id) == ("filed", case.service_request_id)
    assert [(s.chat_id, s.case_id) for s in svc.store.subscriptions()] == [("10001", case.service_request_id)]


async def test_a_lost_answer_is_not_filed_twice(svc, hub):
    """The hub filed the report but the answer never arrived, so it was queued: re-sending returns the case."""
    filing = Filing("SZSS-02", "路灯不亮", address="幸福路1号", account_id="tg:10001", channel="chat",
                    external_id="ext-lost-1")
    first = await hub.create_request(filing)
    svc.store.enqueue("10001", filing)
    assert await outbox.flush(svc) == 1
    [case] = await hub.list_requests()
    assert case.service_request_id == first.service_request_id
    assert svc.store.all_rows()[0].case_id == first.service_request_id


async def test_a_rejected_queued_report_is_set_aside_with_its_reason(svc, hub):
    svc.store.enqueue("10001", Filing("NOPE-99", "x", address="某处", account_id="tg:10001", channel="chat",
                                      external_id="ext-bad"))
    assert await outbox.flush(svc) == 0
    [row] = svc.store.all_rows()
    assert row.status == "rejected" and "NOPE-99" in row.last_error
    assert await hub.list_requests() == []
