"""The hub's answers and form bodies as OpenAPI describes them (documentation only: the endpoints render their own
JSON/XML). Kept true by the schemathesis suite (tests/security/test_schema_fuzz.py), which checks every answer
against these."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from hub import limits as L

Text = str | None


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorItem(_Out):
    code: int
    description: str


class ServiceOut(_Out):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class AttributeOut(_Out):
    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str
    order: int
    description: str
    values: list[Any]


class ServiceDefinitionOut(_Out):
    service_code: str
    attributes: list[AttributeOut]


class EndpointOut(_Out):
    specification: str
    url: str
    changeset: str
    type: str
    formats: list[str]


class DiscoveryOut(_Out):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[EndpointOut]


class RequestOut(_Out):
    """A case as the public sees it (plus account_id, channel, external_id, rating for the client that filed it)."""

    service_request_id: str
    status: str
    status_notes: Text = None
    service_name: Text = None
    service_code: Text = None
    description: Text = None
    agency_responsible: Text = None
    service_notice: Text = None
    requested_datetime: Text = None
    updated_datetime: Text = None
    expected_datetime: Text = None
    address: Text = None
    address_id: Text = None
    zipcode: Text = None
    lat: float | None = None
    long: float | None = None
    media_url: Text = None
    state: str
    group: Text = None
    overdue: bool
    duplicate_of: Text = None
    level: Text = None
    priority: Text = None
    result_media_urls: list[str]
    needs_place: bool | None = None  # present (true) only on a case filed without a place (待补充地点)


class CreatedOut(_Out):
    service_request_id: Text = None
    token: Text = None
    service_notice: Text = None
    account_id: Text = None
    duplicate_of: Text = None
    agency_responsible: Text = None
    expected_datetime: Text = None
    state: Text = None
    update_id: int | None = None
    needs_place: bool | None = None  # present (true) only on a case filed without a place (待补充地点)


class TokenOut(_Out):
    service_request_id: str
    token: str


class UpdateOut(_Out):
    update_id: int
    service_request_id: str
    status: str
    state: str
    event: str
    description: str
    note: str
    updated_datetime: Text = None
    media_url: Text = None
    agency_responsible: Text = None
    expected_datetime: Text = None
    result_media_urls: list[str]
    level: Text = None
    priority: Text = None


class MediaOut(_Out):
    media_url: str
    sha256: str
    content_type: str
    size: int


class ReporterOut(_Out):
    name: Text = None
    phone: Text = None
    email: Text = None


class AuditOut(_Out):
    at: Text = None
    actor: Text = None
    principal: str
    action: str
    reason: Text = None
    detail: dict[str, Any]


class StaffCaseOut(RequestOut):
    account_id: Text = None
    channel: Text = None
    external_id: Text = None
    rating: int | None = None
    reporter: ReporterOut
    attributes: dict[str, Any]
    dispatched_datetime: Text = None
    resolved_datetime: Text = None
    closed_datetime: Text = None
    rating_comment: Text = None


class StaffCaseDetailOut(StaffCaseOut):
    updates: list[UpdateOut]
    audit: list[AuditOut]


class StatsOut(_Out):
    since: Text = None
    total: int
    by_group: dict[str, dict[str, int]]
    by_state: dict[str, int]
    overdue: int
    on_time_rate: float | None = None
    median_handling_hours: float | None = None
    scope: dict[str, Text]


class SweepOut(_Out):
    newly_overdue: list[str]
    escalated: list[str]


class MemberOut(_Out):
    member_id: str
    name: str
    role: str
    level: str
    department: str
    active: bool
    created_at: Text = None
    updated_at: Text = None


# -- form bodies (application/x-www-form-urlencoded), as OpenAPI schemas ---------------------------------------------
def _s(max_length: int, description: str = "", **kw) -> dict:
    return {"type": "string", "maxLength": max_length, **({"description": description} if description else {}), **kw}


API_KEY_FIELD = _s(L.API_KEY, "the client's api_key (HUB_API_KEYS)")
FILING_FORM = {
    "type": "object",
    "required": ["api_key", "service_code"],
    "properties": {
        "api_key": API_KEY_FIELD,
        "service_code": _s(L.SERVICE_CODE, "a service_code of GET services"),
        "lat": _s(32, "latitude, decimal degrees (with long)"),
        "long": _s(32, "longitude, decimal degrees (with lat)"),
        "address_string": _s(L.ADDRESS, "where, when there is no lat/long"),
        "address_id": _s(L.ADDRESS_ID),
        "zipcode": _s(L.ZIPCODE),
        "description": _s(L.DESCRIPTION),
        "media_url": {"oneOf": [_s(L.URL), {"type": "array", "items": _s(L.URL), "maxItems": L.FILING_PHOTOS}],
                      "description": "http(s) URL of a photo (e.g. from POST /media); repeat the field for several "
                                     f"(extension, at most {L.FILING_PHOTOS}): the first is the case's media_url, "
                                     "the others are attached as photo updates in the same transaction"},
        "account_id": _s(L.ACCOUNT_ID, "the reporter's account at the client (never public)"),
        "device_id": _s(L.DEVICE_ID),
        "first_name": _s(L.FIRST_NAME), "last_name": _s(L.LAST_NAME), "phone": _s(L.PHONE), "email": _s(L.EMAIL),
        "channel": {"type": "string", "enum": ["chat", "hotline", "web", "app", "wechat", "sms", "email", "staff",
                                                "other"]},
        "external_id": _s(L.EXTERNAL_ID, "the channel's id of the report: a repeat returns the same case"),
        "dry_run": {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no", ""]},
        "needs_place": {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no", ""],
                        "description": "file without any place, for staff to complete (待补充地点)"},
    },
    "additionalProperties": {"type": "string", "description": "attribute[code] values (GET services/{code})"},
}


def citizen_form(**fields: dict) -> dict:
    return {"type": "object", "required": ["api_key", "account_id"],
            "properties": {"api_key": API_KEY_FIELD, "account_id": _s(L.ACCOUNT_ID, "the reporter's account"),
                           **fields}}


RATE_FORM = citizen_form(rating={"type": "string", "enum": ["1", "2", "3", "4", "5"]},
                         comment=_s(L.RATING_COMMENT))
REASON_FORM = citizen_form(reason=_s(L.REASON))
COMMENT_FORM = citizen_form(text=_s(L.DESCRIPTION), media_url=_s(L.URL))
MEDIA_FORM = {"type": "object", "required": ["file"],
              "properties": {"file": {"type": "string", "format": "binary",
                                      "description": "a JPEG, PNG or WebP photo"}}}


def form_body(schema: dict) -> dict:
    """openapi_extra for an endpoint that reads a form body itself."""
    return {"requestBody": {"required": True, "content": {
        "application/x-www-form-urlencoded": {"schema": schema}}}}


def multipart_body(schema: dict) -> dict:
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def answers(model, *errors: int, status: int = 200, xml: bool = True, also: tuple[int, ...] = ()) -> dict:
    """`responses=` for an endpoint answering `model` (JSON, and XML for .xml paths) and the spec's errors."""
    out: dict = {}
    for code in (status, *also):
        out[code] = {"model": model, "description": "OK"}
        if xml:
            out[code]["content"] = {"text/xml": {"schema": {"type": "string"}}}
    for code in errors:
        out[code] = {"model": list[ErrorItem], "description": _ERRORS.get(code, "error")}
        if xml:
            out[code]["content"] = {"text/xml": {"schema": {"type": "string"}}}
        if code == 429:
            out[code]["headers"] = {"Retry-After": {"schema": {"type": "string"},
                                                    "description": "seconds to wait"}}
    return out


_ERRORS = {400: "bad input", 401: "staff token missing or not valid", 403: "api_key or token not allowed",
           404: "not found", 409: "not allowed in the case's state", 413: "body or photo too large",
           422: "Idempotency-Key already used for a different request", 429: "too many requests (Retry-After)"}

IDEMPOTENCY_KEY = ("Optional, recommended: a key of the client's choosing (e.g. a UUID4), the same on every retry "
                   "of one call. A repeat by the same caller with the same key answers as the first call did "
                   "(header Idempotent-Replayed: true) and changes nothing; the same key with another body or path "
                   "answers 422. Keys are kept HUB_IDEMPOTENCY_RETENTION_HOURS (default 7 days).")
