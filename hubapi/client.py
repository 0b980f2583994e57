"""HubClient: the one HTTP seam to a case-dispatch hub (Open311 GeoReport v2, plus citybot's extensions).

Typed answers (hubapi.models) and typed errors (hubapi.errors).

The standard parts (services, requests, tokens, updates) work against any Open311 hub; citizen actions,
staff actions and media are citybot-hub extensions. Retries: bounded, by the project's retry policy
(citybot/retry.py), on connection errors, timeouts, 5xx and a short 429 only; a 4xx is raised at once as a typed
error. Every non-idempotent POST (filing, citizen and staff case actions) carries an Idempotency-Key, the same on
each of its retries, so the hub answers a repeat as the first call and acts once; that is what makes retrying a
POST safe (docs/hub.md, "Idempotent calls"). A POST without one (e.g. registering a member) is retried only
when it surely never arrived.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from typing import Any

import httpx

from citybot.retry import Backoff, retrying
from hubapi.errors import BY_STATUS, CaseNotFound, Conflict, Forbidden, HubError, HubRejected, HubUnavailable
from hubapi.models import CreatedRequest, Filing, Service, ServiceRequest, StaffCase, Update

log = logging.getLogger(__name__)
IDEMPOTENCY_HEADER = "Idempotency-Key"


class _Retry(Exception):
    """A failed attempt that may be tried again; `error` is what the caller gets when no attempt is left."""

    def __init__(self, error: HubError):
        super().__init__(str(error))
        self.error = error


def new_key() -> str:
    """A fresh Idempotency-Key: one per logical call, the same on each of its retries."""
    return str(uuid.uuid4())


__all__ = ["CaseNotFound", "Conflict", "CreatedRequest", "Filing", "Forbidden", "HubClient", "HubError",
           "HubRejected", "HubUnavailable", "Service", "ServiceRequest", "StaffCase", "Update"]


class HubClient:
    def __init__(self, base_url: str, *, api_key: str, staff_token: str | None = None, timeout: float = 10,
                 retries: int = 3, backoff: float = 0.2, transport: httpx.AsyncBaseTransport | None = None,
                 public_url: str | None = None):
        """`public_url`: the base the hub's media URLs carry (HUB_PUBLIC_URL), when it differs from `base_url`."""
        self.api_key, self.staff_token = api_key, staff_token
        self.acting: str | None = None  # the staff member a channel token acts for (on_behalf_of)
        self._owns_http = True
        self.public_url = (public_url or base_url).rstrip("/")
        self.retries, self.backoff = max(0, retries), backoff
        # the project's one retry policy, short: a call retries for seconds, a queued job for hours
        self.policy = Backoff(base=backoff, cap=max(backoff * 8, backoff), give_up_after=None)
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport)

    @classmethod
    def from_settings(cls, settings, **overrides) -> HubClient:
        kw = dict(api_key=settings.hub_api_key, staff_token=settings.hub_staff_token or None,
                  timeout=settings.hub_timeout_s, retries=settings.hub_retries,
                  public_url=settings.resolved_hub_public_url)
        kw.update(overrides)
        return cls(settings.hub_url, **kw)

    async def __aenter__(self) -> HubClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    def on_behalf_of(self, member_id: str | None) -> HubClient:
        """This client acting for a staff member registered at the hub (`tg:<telegram user id>`), with its
        channel token: the hub applies that member's role, level and department and records them in the audit
        trail (None: the channel itself, which may only read). Shares this client's connections (closing it is a
        no-op)."""
        clone = copy.copy(self)
        clone.acting, clone._owns_http = member_id, False
        return clone

    # Longest Retry-After a call waits out before giving up on a 429 (then HubRejected).
    MAX_RETRY_AFTER_S = 60.0

    # -- transport --------------------------------------------------------------------------------------------
    async def _request(self, method: str, path: str, *, with_status: bool = False, attempts: int | None = None,
                       idempotency_key: str | None = None, idempotent: bool = False, **kw) -> Any:
        """The decoded JSON body (or (status, body) with `with_status`), retried by the project's policy
        (citybot.retry) on connection errors, timeouts, 5xx and a 429 with a short Retry-After: `attempts` in all,
        default retries + 1. A POST is retried only with an `idempotency_key` (sent as Idempotency-Key on every
        attempt: the hub answers a repeat as the first and acts once) or when `idempotent` by nature; otherwise it
        is retried only when it surely never arrived (connection refused) or was refused unprocessed (429)."""
        total = attempts or self.retries + 1
        if idempotency_key is not None:
            kw["headers"] = {**kw.get("headers", {}), IDEMPOTENCY_HEADER: idempotency_key}
        safe = method != "POST" or idempotency_key is not None or idempotent
        tried = 0

        async def attempt() -> Any:
            nonlocal tried
            tried += 1
            try:
                resp = await self._http.request(method, path, **kw)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                error = HubUnavailable(f"hub unavailable: {type(exc).__name__}: {exc}")
                if not safe and not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
                    raise error from exc  # it may have been done: not again without a key
                raise _Retry(error) from exc
            if resp.status_code in (429, 409) and tried < total:
                # 429 rate-limited, or 409 with Retry-After: the first call with this Idempotency-Key is still in
                # progress. Nothing was done; wait as told (bounded), then the policy's own short wait.
                wait = _retry_after(resp)
                if wait is not None and wait <= self.MAX_RETRY_AFTER_S:
                    log.warning("hub %s %s answered %d, retrying in %.0f s", method, path, resp.status_code, wait)
                    await asyncio.sleep(wait)
                    raise _Retry(BY_STATUS.get(resp.status_code, HubRejected)(resp.status_code, _error_list(resp)))
            if resp.status_code >= 500:
                error = HubUnavailable(f"hub unavailable: {resp.status_code} from hub")
                if not safe:
                    raise error
                raise _Retry(error)
            if resp.status_code >= 400:
                raise BY_STATUS.get(resp.status_code, HubRejected)(resp.status_code, _error_list(resp))
            try:
                body = resp.json()
            except ValueError:
                raise HubError(f"hub answered {method} {path} with a body that is not JSON") from None
            return (resp.status_code, body) if with_status else body

        try:
            return await retrying(attempt, policy=self.policy, retry_on=(_Retry,), attempts=total,
                                  what=f"hub {method} {path}")
        except _Retry as exc:
            if isinstance(exc.error, HubUnavailable):
                raise HubUnavailable(f"{exc.error} (after {tried} attempts)") from exc.__cause__
            raise exc.error from None

    def _staff(self) -> dict[str, str]:
        if not self.staff_token:
            raise HubError("this HubClient has no staff_token")
        headers = {"Authorization": f"Bearer {self.staff_token}"}
        if self.acting:
            headers["X-Acting-Staff"] = self.acting
        return headers

    def _key(self, data: dict | None = None) -> dict:
        out = {"api_key": self.api_key}
        out.update({k: v for k, v in (data or {}).items() if v is not None})
        return out

    # -- Open311 GeoReport v2 ------------------------------------------------------------------------------------
    async def services(self) -> list[Service]:
        return [Service.from_api(d) for d in await self._request("GET", "/open311/v2/services.json")]

    async def service_definition(self, service_code: str) -> dict:
        return await self._request("GET", f"/open311/v2/services/{service_code}.json")

    async def create_request(self, filing: Filing, *, dry_run: bool = False,
                             idempotency_key: str | None = None) -> CreatedRequest:
        """File a case with all its photos in one call (media_url repeated: the hub's extension; one photo is plain
        Open311). Retried safely: the Idempotency-Key is `idempotency_key`, else the filing's own
        (`Filing.idempotency_key`, stable across re-sends), else a new one for this call.

        `dry_run`: the hub checks the filing and its duplicate rule and creates nothing; the answer says what a real
        create would give (`dry_run` True; `service_request_id` None for a new case, else the existing one's)."""
        media = list(filing.media_urls)
        data = self._key({"service_code": filing.service_code, "description": filing.description,
                          "lat": filing.lat, "long": filing.long, "address_string": filing.address,
                          "media_url": (media if len(media) > 1 else media[0]) if media else None,
                          "account_id": filing.account_id, "device_id": filing.device_id, "channel": filing.channel,
                          "external_id": filing.external_id, "first_name": filing.first_name,
                          "last_name": filing.last_name, "phone": filing.phone, "email": filing.email})
        for key, value in (filing.attributes or {}).items():
            data[f"attribute[{key}]"] = str(value)
        if filing.needs_place:  # extension: filed without a place, for staff to complete (待补充地点)
            data["needs_place"] = "true"
        if dry_run:
            data["dry_run"] = "true"
            body = await self._request("POST", "/open311/v2/requests.json", data=data, idempotent=True)
        else:
            key = idempotency_key or filing.idempotency_key() or new_key()
            body = await self._request("POST", "/open311/v2/requests.json", data=data, idempotency_key=key)
        return CreatedRequest.from_api(body[0] if isinstance(body, list) and body else {})

    async def get_request(self, service_request_id: str) -> ServiceRequest:
        body = await self._request("GET", f"/open311/v2/requests/{service_request_id}.json",
                                   params={"api_key": self.api_key})
        if not body:
            raise CaseNotFound(404, [{"code": 404, "description": f"{service_request_id} not found"}])
        return ServiceRequest.from_api(body[0])

    async def list_requests(self, **filters: Any) -> list[ServiceRequest]:
        """Filters as the spec (service_request_id, service_code, start_date, end_date, status) plus
        account_id, state, limit; lists are joined with commas and datetimes sent as ISO 8601."""
        params = {"api_key": self.api_key}
        for key, value in filters.items():
            if value is None:
                continue
            if isinstance(value, dt.datetime):
                value = value.isoformat()
            elif isinstance(value, (list, tuple, set, frozenset)):
                value = ",".join(map(str, value))
            params[key] = str(value)
        return [ServiceRequest.from_api(d) for d in await self._request("GET", "/open311/v2/requests.json", params=params)]

    async def token(self, token: str) -> str | None:
        body = await self._request("GET", f"/open311/v2/tokens/{token}.json", params={"api_key": self.api_key})
        return body[0].get("service_request_id") if body else None

    async def fetch_media(self, url: str) -> bytes:
        """The bytes behind a media URL the hub handed out (a case photo, a result photo). URLs under the hub's
        public base are fetched through the base this client reaches the hub by (in docker-compose the public
        one is not reachable from inside)."""
        path = url[len(self.public_url):] if url.startswith(self.public_url + "/") else url
        try:
            resp = await self._http.get(path, follow_redirects=True)
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            raise HubUnavailable(f"media {url}: {type(exc).__name__}") from exc
        if resp.status_code >= 500:
            raise HubUnavailable(f"media {url}: {resp.status_code} from hub")
        if resp.status_code >= 400:
            raise BY_STATUS.get(resp.status_code, HubRejected)(resp.status_code, _error_list(resp))
        return resp.content

    async def updates(self, after: int = 0, limit: int = 100) -> list[Update]:
        body = await self._request("GET", "/open311/v2/servicerequestupdates.json",
                                   params={"after": after, "limit": limit, "api_key": self.api_key})
        return [Update.from_api(d) for d in body]

    async def upload_media(self, data: bytes, filename: str = "photo.jpg", content_type: str | None = None) -> str:
        files = {"file": (filename, data, content_type or "application/octet-stream")}
        # the key goes in the query: the hub checks it before it reads the body
        # content-addressed at the hub (the same bytes are the same file): safe to retry
        body = await self._request("POST", "/media", params={"api_key": self.api_key}, files=files, idempotent=True)
        return body["media_url"]

    # -- citizen actions (citybot extension) ------------------------------------------------------------------------
    # Each takes an optional `idempotency_key`: a caller that may re-send the same call later (a durable job)
    # passes a stable one; otherwise each call gets its own, reused by its retries.
    async def _citizen(self, service_request_id: str, action: str, data: dict,
                       idempotency_key: str | None) -> ServiceRequest:
        body = await self._request("POST", f"/open311/v2/requests/{service_request_id}/{action}.json",
                                   data=self._key(data), idempotency_key=idempotency_key or new_key())
        return ServiceRequest.from_api(body[0])

    async def rate(self, service_request_id: str, rating: int, *, account_id: str, comment: str | None = None,
                   idempotency_key: str | None = None) -> ServiceRequest:
        return await self._citizen(service_request_id, "rate",
                                   {"rating": rating, "comment": comment, "account_id": account_id}, idempotency_key)

    async def reopen(self, service_request_id: str, *, account_id: str, reason: str = "",
                     idempotency_key: str | None = None) -> ServiceRequest:
        return await self._citizen(service_request_id, "reopen", {"reason": reason, "account_id": account_id},
                                   idempotency_key)

    async def cancel(self, service_request_id: str, *, account_id: str, reason: str | None = None,
                     idempotency_key: str | None = None) -> ServiceRequest:
        return await self._citizen(service_request_id, "cancel", {"reason": reason, "account_id": account_id},
                                   idempotency_key)

    async def comment(self, service_request_id: str, *, account_id: str, text: str | None = None,
                      media_url: str | None = None, idempotency_key: str | None = None) -> ServiceRequest:
        return await self._citizen(service_request_id, "comments",
                                   {"text": text, "media_url": media_url, "account_id": account_id}, idempotency_key)

    # -- staff actions (citybot extension) ------------------------------------------------------------------------
    async def _staff_post(self, path: str, body: dict, *, idempotency_key: str | None = None,
                          idempotent: bool = False) -> dict:
        return await self._request("POST", f"/staff/v1/{path}", json={k: v for k, v in body.items() if v is not None},
                                   headers=self._staff(), idempotency_key=idempotency_key, idempotent=idempotent)

    async def _staff_act(self, service_request_id: str, action: str, body: dict) -> StaffCase:
        """A case action, with an Idempotency-Key (`idempotency_key` in `body`, else a new one): retried safely."""
        key = body.pop("idempotency_key", None) or new_key()
        return StaffCase.from_api(await self._staff_post(f"requests/{service_request_id}/{action}", body,
                                                         idempotency_key=key))

    # Each case action takes an optional `idempotency_key` (see the citizen actions above).
    async def dispatch(self, service_request_id: str, *, department: str | None = None, note: str = "",
                       actor: str = "", idempotency_key: str | None = None) -> StaffCase:
        return await self._staff_act(service_request_id, "dispatch", {
            "department": department, "note": note, "actor": actor, "idempotency_key": idempotency_key})

    async def set_status(self, service_request_id: str, state: str, *, note: str = "", actor: str = "",
                         idempotency_key: str | None = None) -> StaffCase:
        return await self._staff_act(service_request_id, "status", {
            "state": state, "note": note, "actor": actor, "idempotency_key": idempotency_key})

    async def resolve(self, service_request_id: str, *, note: str = "", media_urls: Iterable[str] = (),
                      actor: str = "", idempotency_key: str | None = None) -> StaffCase:
        return await self._staff_act(service_request_id, "resolve", {
            "note": note, "media_urls": list(media_urls), "actor": actor, "idempotency_key": idempotency_key})

    async def close(self, service_request_id: str, *, note: str = "", actor: str = "",
                    idempotency_key: str | None = None) -> StaffCase:
        return await self._staff_act(service_request_id, "close", {
            "note": note, "actor": actor, "idempotency_key": idempotency_key})

    async def reclassify(self, service_request_id: str, service_code: str, *, note: str = "", actor: str = "",
                         idempotency_key: str | None = None) -> StaffCase:
        return await self._staff_act(service_request_id, "reclassify", {
            "service_code": service_code, "note": note, "actor": actor, "idempotency_key": idempotency_key})

    async def escalate(self, service_request_id: str, *, reason: str, actor: str = "",
                       idempotency_key: str | None = None) -> StaffCase:
        """One level up, once: a retry after a lost answer is answered by the hub, not escalated again."""
        return await self._staff_act(service_request_id, "escalate", {
            "reason": reason, "actor": actor, "idempotency_key": idempotency_key})

    async def merge(self, service_request_id: str, into_id: str, *, note: str = "", actor: str = "",
                    idempotency_key: str | None = None) -> StaffCase:
        return await self._staff_act(service_request_id, "merge", {
            "into_id": into_id, "note": note, "actor": actor, "idempotency_key": idempotency_key})

    async def staff_reopen(self, service_request_id: str, *, reason: str = "", actor: str = "",
                           idempotency_key: str | None = None) -> StaffCase:
        return await self._staff_act(service_request_id, "reopen", {
            "reason": reason, "actor": actor, "idempotency_key": idempotency_key})

    async def case_detail(self, service_request_id: str) -> StaffCase:
        """One case with its history (`updates`) and audit trail."""
        return StaffCase.from_api(await self._request("GET", f"/staff/v1/requests/{service_request_id}",
                                                      headers=self._staff()))

    async def find(self, q: str, limit: int = 20) -> list[StaffCase]:
        """Staff search: cases whose description or address contains `q` (case-insensitive), newest first."""
        body = await self._request("GET", "/staff/v1/requests", params={"q": q, "limit": limit}, headers=self._staff())
        return [StaffCase.from_api(d) for d in body]

    async def overdue(self) -> list[StaffCase]:
        return [StaffCase.from_api(d) for d in await self._request("GET", "/staff/v1/overdue", headers=self._staff())]

    async def triage(self) -> list[StaffCase]:
        """Cases filed without a place (待补充地点), oldest first."""
        return [StaffCase.from_api(d) for d in await self._request("GET", "/staff/v1/triage", headers=self._staff())]

    async def set_place(self, service_request_id: str, *, address: str | None = None, lat: float | None = None,
                        long: float | None = None, note: str = "", actor: str = "",
                        idempotency_key: str | None = None) -> StaffCase:
        return await self._staff_act(service_request_id, "place", {
            "address": address, "lat": lat, "long": long, "note": note, "actor": actor,
            "idempotency_key": idempotency_key})

    async def sweep_overdue(self) -> list[str]:
        return (await self._staff_post("overdue/sweep", {}, idempotent=True))["newly_overdue"]  # repeats mark nothing

    async def stats(self, since: dt.datetime | str | None = None, *, level: str | None = None,
                    department: str | None = None) -> dict:
        """The hub's figures; `level`/`department` narrow them to what staff of that scope see."""
        params = {"since": since.isoformat() if isinstance(since, dt.datetime) else since} if since else {}
        params.update({k: v for k, v in (("level", level), ("department", department)) if v})
        return await self._request("GET", "/staff/v1/stats", params=params or None, headers=self._staff())


    # -- staff members (who a channel acts for; citybot extension) ------------------------------------------------
    async def members(self) -> list[dict]:
        """The registered staff members (an admin token: those it may manage; a channel token: its own)."""
        return await self._request("GET", "/staff/v1/members", headers=self._staff())

    async def member(self, member_id: str) -> dict | None:
        """One staff member ({member_id, name, role, level, department, active, …}), or None when not registered."""
        try:
            # one attempt: asked for every message of someone not known yet, it must not hold a citizen up
            return await self._request("GET", f"/staff/v1/members/{member_id}", headers=self._staff(), attempts=1)
        except CaseNotFound:
            return None

    async def add_member(self, member_id: str, *, role: str = "operator", level: str = "街道", department: str = "",
                         name: str = "", active: bool = True) -> dict:
        return await self._staff_post("members", {"member_id": member_id, "role": role, "level": level,
                                                  "department": department, "name": name, "active": active})

    async def update_member(self, member_id: str, **changes: Any) -> dict:
        """Change the given fields (name, role, level, department, active); None values are left out."""
        return await self._request("PATCH", f"/staff/v1/members/{member_id}", headers=self._staff(),
                                   json={k: v for k, v in changes.items() if v is not None})

    async def remove_member(self, member_id: str) -> dict:
        return await self._request("DELETE", f"/staff/v1/members/{member_id}", headers=self._staff())


def _retry_after(resp: httpx.Response) -> float | None:
    """Retry-After in seconds (delta-seconds form), or None."""
    raw = (resp.headers.get("retry-after") or "").strip()
    return float(raw) if raw.isascii() and raw.isdigit() and len(raw) < 6 else None


def _error_list(resp: httpx.Response) -> list[dict]:
    """The spec's [{code, description}] from a JSON (or any) error body."""
    try:
        body = resp.json()
    except ValueError:
        return [{"code": resp.status_code, "description": resp.text[:200] or resp.reason_phrase}]
    if isinstance(body, list) and all(isinstance(e, dict) for e in body):
        return body
    if isinstance(body, dict):
        return [{"code": resp.status_code, "description": str(body.get("detail") or body.get("description") or body)}]
    return [{"code": resp.status_code, "description": str(body)[:200]}]
