"""The hub's interface as types: what a channel sends (Filing) and reads back (a case, a staff case, an update).

Built from the hub's JSON with `from_api`; unknown or missing extension fields take their defaults, so the same
types read a plain Open311 GeoReport v2 hub (which sends none of citybot's extensions).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any


def _time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    if isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _bool(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


@dataclass(frozen=True)
class Service:
    service_code: str
    service_name: str
    group: str | None = None
    description: str = ""
    keywords: tuple[str, ...] = ()
    metadata: bool = False
    type: str = "realtime"

    @classmethod
    def from_api(cls, d: Mapping) -> Service:
        kw = d.get("keywords") or ""
        return cls(str(d["service_code"]), str(d.get("service_name") or ""), d.get("group"), d.get("description") or "",
                   tuple(k.strip() for k in (kw.split(",") if isinstance(kw, str) else kw) if k and k.strip()),
                   _bool(d.get("metadata")), d.get("type") or "realtime")


@dataclass(frozen=True)
class Filing:
    """One report to file (POST requests): what the chat dialogue and the hotline both send.

    `external_id` is the channel's stable id of the report: the hub answers a repeat with the same case, so a
    filing re-sent after a lost answer or a crash never makes a second case. Name and phone are set only with
    the citizen's consent (chat) or from the hotline's record."""

    service_code: str
    description: str = ""
    address: str | None = None
    lat: float | None = None
    long: float | None = None
    media_urls: tuple[str, ...] = ()
    account_id: str | None = None
    channel: str | None = None
    external_id: str | None = None
    device_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    email: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    # No place was found (a hotline call): file it anyway for staff to complete (待补充地点), never drop it.
    needs_place: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "media_urls", tuple(self.media_urls or ()))
        if self.lat is None or self.long is None:  # a location is both coordinates or none
            object.__setattr__(self, "lat", None)
            object.__setattr__(self, "long", None)

    def idempotency_key(self) -> str | None:
        """The Idempotency-Key of this filing's create: the same for every re-send of the same filing (after a lost
        answer, a crash, a restart), so the hub answers it as the first; None without an external_id. Derived from
        the whole filing, so a changed filing of the same report is a new call (the hub's channel + external_id
        rule then answers the existing case)."""
        if not self.external_id:
            return None
        digest = hashlib.sha256(json.dumps(self.to_json(), sort_keys=True, ensure_ascii=False, default=str)
                                .encode("utf-8", "surrogatepass")).hexdigest()
        return f"filing-{digest[:40]}"

    def to_json(self) -> dict:
        """A JSON-safe dict (stored in queues); `from_json` reads it back."""
        out = asdict(self)
        out["media_urls"] = list(self.media_urls)
        out["attributes"] = dict(self.attributes)
        return out

    @classmethod
    def from_json(cls, d: Mapping) -> Filing:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["attributes"] = dict(kw.get("attributes") or {})
        return cls(**kw)


@dataclass(frozen=True)
class ServiceRequest:
    """A case as the public Open311 API shows it (plus citybot's extensions)."""

    service_request_id: str
    status: str
    service_code: str | None = None
    service_name: str | None = None
    description: str | None = None
    status_notes: str | None = None
    agency_responsible: str | None = None
    service_notice: str | None = None
    requested_datetime: dt.datetime | None = None
    updated_datetime: dt.datetime | None = None
    expected_datetime: dt.datetime | None = None
    address: str | None = None
    lat: float | None = None
    long: float | None = None
    media_url: str | None = None
    # citybot extensions (None/defaults from a plain Open311 hub)
    state: str | None = None
    group: str | None = None
    overdue: bool = False
    duplicate_of: str | None = None
    level: str | None = None
    priority: str | None = None
    result_media_urls: tuple[str, ...] = ()
    rating: int | None = None
    channel: str | None = None
    external_id: str | None = None
    needs_place: bool = False  # filed without any place; staff complete it (待补充地点)
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def _kwargs(cls, d: Mapping) -> dict:
        return dict(
            service_request_id=str(d.get("service_request_id") or ""), status=str(d.get("status") or ""),
            service_code=d.get("service_code"), service_name=d.get("service_name"), description=d.get("description"),
            status_notes=d.get("status_notes"), agency_responsible=d.get("agency_responsible"),
            service_notice=d.get("service_notice"), requested_datetime=_time(d.get("requested_datetime")),
            updated_datetime=_time(d.get("updated_datetime")), expected_datetime=_time(d.get("expected_datetime")),
            address=d.get("address"), lat=_float(d.get("lat")), long=_float(d.get("long")),
            media_url=d.get("media_url"), state=d.get("state"), group=d.get("group"), overdue=_bool(d.get("overdue")),
            duplicate_of=d.get("duplicate_of"), level=d.get("level"), priority=d.get("priority"),
            result_media_urls=tuple(d.get("result_media_urls") or ()), rating=_int(d.get("rating")),
            channel=d.get("channel"), external_id=d.get("external_id"), needs_place=_bool(d.get("needs_place")),
            raw=dict(d))

    @classmethod
    def from_api(cls, d: Mapping) -> ServiceRequest:
        return cls(**ServiceRequest._kwargs(d))


@dataclass(frozen=True)
class CreatedRequest:
    service_request_id: str | None
    token: str | None = None
    service_notice: str | None = None
    account_id: str | None = None
    duplicate_of: str | None = None
    agency_responsible: str | None = None
    expected_datetime: dt.datetime | None = None
    state: str | None = None
    dry_run: bool = False  # an answer to create_request(dry_run=True): nothing was created
    needs_place: bool = False  # filed without a place, waiting for staff (待补充地点)
    # The feed position the filer has been told about: the last update of the case it follows (the new case,
    # or the open case it was linked to) when the hub answered. Later updates are news to the filer.
    update_id: int | None = None

    @property
    def id(self) -> str | None:
        return self.service_request_id

    @property
    def followed_id(self) -> str | None:
        """The case the filer follows: the open case it duplicates, else the new one."""
        return self.duplicate_of or self.service_request_id

    @classmethod
    def from_api(cls, d: Mapping) -> CreatedRequest:
        return cls(d.get("service_request_id"), d.get("token"), d.get("service_notice"), d.get("account_id"),
                   d.get("duplicate_of"), d.get("agency_responsible"), _time(d.get("expected_datetime")), d.get("state"),
                   d.get("dry_run") is True, _bool(d.get("needs_place")), _int(d.get("update_id")))


@dataclass(frozen=True)
class Update:
    """One entry of the updates feed: a state change or an event of a case. `description` is the hub's standard
    phrase (with the note); `note` is the staff's own words alone (empty when none)."""

    update_id: int
    service_request_id: str
    status: str
    state: str | None = None
    event: str | None = None
    description: str = ""
    note: str = ""
    updated_datetime: dt.datetime | None = None
    media_url: str | None = None
    agency_responsible: str | None = None
    expected_datetime: dt.datetime | None = None
    result_media_urls: tuple[str, ...] = ()
    level: str | None = None
    priority: str | None = None

    @property
    def kind(self) -> str:
        """The event, or the state for a hub that sends no events."""
        return self.event or self.state or ""

    @classmethod
    def from_api(cls, d: Mapping) -> Update:
        return cls(int(d["update_id"]), str(d["service_request_id"]), str(d.get("status") or ""), d.get("state"),
                   d.get("event"), d.get("description") or "", d.get("note") or "", _time(d.get("updated_datetime")),
                   d.get("media_url"), d.get("agency_responsible"), _time(d.get("expected_datetime")),
                   tuple(d.get("result_media_urls") or ()), d.get("level"), d.get("priority"))


@dataclass(frozen=True)
class Reporter:
    """Who reported a case, as staff see it: masked by the hub."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None

    @classmethod
    def from_api(cls, d: Mapping | None) -> Reporter:
        d = d or {}
        return cls(d.get("name"), d.get("phone"), d.get("email"))


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to a case, when and why."""

    at: dt.datetime | None
    action: str
    principal: str = ""
    actor: str = ""
    reason: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_api(cls, d: Mapping) -> AuditEntry:
        detail = d.get("detail")
        return cls(_time(d.get("at")), str(d.get("action") or ""), d.get("principal") or "", d.get("actor") or "",
                   d.get("reason") or "", dict(detail) if isinstance(detail, Mapping) else {})


@dataclass(frozen=True)
class StaffCase(ServiceRequest):
    """A case as the staff API shows it: the public view plus the (masked) reporter, and, from a case's own
    page, its history and audit trail."""

    account_id: str | None = None
    reporter: Reporter = field(default_factory=Reporter)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    dispatched_datetime: dt.datetime | None = None
    resolved_datetime: dt.datetime | None = None
    closed_datetime: dt.datetime | None = None
    rating_comment: str | None = None
    updates: tuple[Update, ...] = ()
    audit: tuple[AuditEntry, ...] = ()

    @classmethod
    def from_api(cls, d: Mapping) -> StaffCase:
        return cls(**ServiceRequest._kwargs(d), account_id=d.get("account_id"),
                   reporter=Reporter.from_api(d.get("reporter")),
                   attributes=dict(d.get("attributes") or {}),
                   dispatched_datetime=_time(d.get("dispatched_datetime")),
                   resolved_datetime=_time(d.get("resolved_datetime")), closed_datetime=_time(d.get("closed_datetime")),
                   rating_comment=d.get("rating_comment"),
                   updates=tuple(Update.from_api(u) for u in d.get("updates") or ()),
                   audit=tuple(AuditEntry.from_api(a) for a in d.get("audit") or ()))
