"""HubClient unit tests with httpx.MockTransport: retries (bounded, backoff) and error typing."""

import httpx
import pytest

from hubapi.client import (CaseNotFound, Conflict, CreatedRequest, Forbidden, HubClient, HubError, HubRejected,
                        HubUnavailable, ServiceRequest, Update)
from hubapi.models import Filing


def client(handler, **kw) -> HubClient:
    kw.setdefault("retries", 3)
    return HubClient("http://hub", api_key="k", staff_token="s", backoff=0, transport=httpx.MockTransport(handler), **kw)


async def test_retries_5xx_then_succeeds():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(503, json=[{"code": 503, "description": "busy"}])
        return httpx.Response(200, json=[{"service_code": "A", "service_name": "a", "keywords": "x, y",
                                          "metadata": "true", "group": "g"}])

    async with client(handler) as c:
        services = await c.services()
    assert len(calls) == 3
    assert services[0].service_code == "A" and services[0].keywords == ("x", "y") and services[0].metadata is True


async def test_retries_are_bounded_then_unavailable():
    calls = []

    def handler(request):
        calls.append(request)
        raise httpx.ConnectError("refused", request=request)

    async with client(handler, retries=2) as c:
        with pytest.raises(HubUnavailable):
            await c.updates()
    assert len(calls) == 3


async def test_timeouts_are_retried():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json=[])

    async with client(handler) as c:
        assert await c.updates(after=5) == []
    assert len(calls) == 2 and calls[1].url.params["after"] == "5"


@pytest.mark.parametrize("status,error", [(400, HubRejected), (401, Forbidden), (403, Forbidden),
                                          (404, CaseNotFound), (409, Conflict), (413, HubRejected)])
async def test_4xx_is_typed_and_not_retried(status, error):
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(status, json=[{"code": status, "description": "nope"}])

    async with client(handler) as c:
        with pytest.raises(error) as info:
            await c.get_request("20260101000001")
    assert len(calls) == 1
    assert info.value.status == status and info.value.errors == [{"code": status, "description": "nope"}]
    assert isinstance(info.value, HubError)


async def test_non_json_error_body_still_typed():
    async with client(lambda r: httpx.Response(404, text="gone")) as c:
        with pytest.raises(CaseNotFound) as info:
            await c.case_detail("x")
    assert info.value.errors == [{"code": 404, "description": "gone"}]


async def test_create_request_form_and_result():
    seen = {}

    def handler(request):
        seen["form"] = dict(httpx.QueryParams(request.content.decode()))
        return httpx.Response(201, json=[{"service_request_id": "20260302000001", "token": "t", "duplicate_of": None,
                                          "agency_responsible": "d", "expected_datetime": "2026-03-02T15:00:00+08:00",
                                          "state": "dispatched", "service_notice": "n", "account_id": "a"}])

    async with client(handler) as c:
        created = await c.create_request(Filing("SRHJ-01", "垃圾", lat=22.5, long=114.0, account_id="a",
                                                channel="chat", external_id="m1", attributes={"detail": "东门"},
                                                media_urls=["http://m/1.jpg"]))
    assert isinstance(created, CreatedRequest) and created.id == "20260302000001"
    assert created.expected_datetime.isoformat() == "2026-03-02T15:00:00+08:00"
    assert seen["form"] == {"api_key": "k", "service_code": "SRHJ-01", "description": "垃圾", "lat": "22.5",
                            "long": "114.0", "media_url": "http://m/1.jpg", "account_id": "a", "channel": "chat",
                            "external_id": "m1", "attribute[detail]": "东门"}


async def test_typed_results_tolerate_plain_open311():
    req = ServiceRequest.from_api({"service_request_id": 638344, "status": "closed", "lat": "37.76",
                                   "requested_datetime": "2010-04-14T06:37:38-08:00"})
    assert req.service_request_id == "638344" and req.lat == 37.76 and req.state is None and req.overdue is False
    u = Update.from_api({"update_id": "7", "service_request_id": "1", "status": "open"})
    assert u.update_id == 7 and u.result_media_urls == ()


async def test_staff_calls_need_a_token():
    c = HubClient("http://hub", api_key="k", transport=httpx.MockTransport(lambda r: httpx.Response(200, json={})))
    with pytest.raises(HubError):
        await c.overdue()
    await c.aclose()


async def test_staff_call_sends_bearer_and_json():
    seen = {}

    def handler(request):
        seen["auth"], seen["body"], seen["path"] = request.headers["authorization"], request.content, request.url.path
        return httpx.Response(200, json={"state": "resolved"})

    async with client(handler) as c:
        await c.resolve("20260302000001", note="ok", media_urls=["http://m/2.jpg"], actor="tg:1")
    assert seen["auth"] == "Bearer s" and seen["path"] == "/staff/v1/requests/20260302000001/resolve"
    assert b'"media_urls":["http://m/2.jpg"]' in seen["body"].replace(b" ", b"")


async def test_a_post_is_retried_with_the_same_idempotency_key():
    keys = []

    def handler(request):
        keys.append(request.headers.get("idempotency-key"))
        if len(keys) < 3:
            raise httpx.ReadTimeout("answer lost", request=request)
        return httpx.Response(200, json={"service_request_id": "20260302000001", "level": "区"})

    async with client(handler) as c:
        assert (await c.escalate("20260302000001", reason="急")).level == "区"
        first = keys[0]
        assert len(keys) == 3 and first and set(keys) == {first}  # one key for the call, on every attempt
        keys.clear()
        await c.escalate("20260302000001", reason="急")
        assert keys[0] != first  # a new call, a new key
        keys.clear()
        await c.escalate("20260302000001", reason="急", idempotency_key="job-42")
        assert set(keys) == {"job-42"}


async def test_a_filing_carries_its_own_stable_key_and_all_its_photos():
    seen = []

    def handler(request):
        seen.append((request.headers.get("idempotency-key"), httpx.QueryParams(request.content.decode())))
        return httpx.Response(201, json=[{"service_request_id": "20260302000001"}])

    filing = Filing("SRHJ-01", "垃圾", lat=22.5, long=114.0, channel="chat", external_id="m1",
                    media_urls=["http://m/1.jpg", "http://m/2.jpg", "http://m/3.jpg"])
    async with client(handler) as c:
        await c.create_request(filing)
        await c.create_request(Filing.from_json(filing.to_json()))  # re-sent after a restart
        await c.create_request(Filing("SRHJ-01", "垃圾", lat=22.5, long=114.0))
    assert len(seen) == 3  # one call each: no photos-as-comments afterwards
    assert seen[0][0] == seen[1][0] == filing.idempotency_key() and seen[0][0].startswith("filing-")
    assert seen[2][0] and seen[2][0] != seen[0][0]  # no external_id: a key of its own
    assert seen[0][1].get_list("media_url") == ["http://m/1.jpg", "http://m/2.jpg", "http://m/3.jpg"]


async def test_a_post_without_a_key_is_not_retried_once_it_may_have_arrived():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)  # never arrived: safe to try again
        return httpx.Response(502)

    async with client(handler) as c:
        with pytest.raises(HubUnavailable):
            await c.add_member("tg:1")
    assert len(calls) == 2


async def test_an_idempotent_call_still_in_progress_is_waited_for():
    answers = [httpx.Response(409, headers={"Retry-After": "0"}, json=[{"code": 409, "description": "in progress"}]),
               httpx.Response(200, json={"service_request_id": "20260302000001", "state": "rated"})]
    async with client(lambda r: answers.pop(0)) as c:
        assert (await c.set_status("20260302000001", "in_progress")).state == "rated"
    async with client(lambda r: httpx.Response(409, json=[{"code": 409, "description": "not now"}])) as c:
        with pytest.raises(Conflict):  # an illegal transition (no Retry-After) is not retried
            await c.set_status("20260302000001", "in_progress")
