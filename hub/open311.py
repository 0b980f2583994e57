"""Open311 GeoReport v2 formats: rendering payloads and errors as JSON or XML, and the request/update shapes."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from starlette.responses import Response

from citybot.privacy import mask as _mask
from citybot.privacy import mask_name
from hub import lifecycle as lc
from hub.models import AuditEntry, Case, CaseUpdate, needs_place

FORMATS = ("json", "xml")
MEDIA_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
# The XML element used for the items of each list-valued field or root.
XML_ITEMS = {"services": "service", "service_requests": "request", "service_request_updates": "request_update",
             "errors": "error", "attributes": "attribute", "values": "value", "endpoints": "endpoint",
             "formats": "format", "result_media_urls": "media_url", "updates": "update", "audit": "entry"}


class Open311Error(Exception):
    """An error the API answers with the spec's body: [{code, description}] (and `headers`, e.g. Retry-After)."""

    def __init__(self, status: int, description: str, headers: dict[str, str] | None = None):
        super().__init__(description)
        self.status, self.description, self.headers = status, description, headers or {}


def rate_limited(wait_s: float) -> Open311Error:
    seconds = max(1, math.ceil(wait_s))
    return Open311Error(429, f"too many requests; retry after {seconds} s", {"Retry-After": str(seconds)})


def fmt_of(path: str) -> str:
    """The response format a path asks for ('xml' for *.xml, else json: errors must render in something)."""
    return "xml" if path.endswith(".xml") else "json"


# What XML 1.0 allows in character data; anything else (control characters, lone surrogates, U+FFFE/FFFF) is
# dropped from stored text when it is rendered, so every answer is well-formed whatever was stored.
_NOT_XML = re.compile("[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


def xml_text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _xml_value(parent: ET.Element, tag: str, value: Any) -> None:
    el = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for k, v in value.items():
            _xml_value(el, k, v)
    elif isinstance(value, (list, tuple)):
        item = XML_ITEMS.get(tag, "item")
        for v in value:
            _xml_value(el, item, v)
    elif isinstance(value, bool):
        el.text = "true" if value else "false"
    elif value is not None:
        el.text = xml_text(str(value))


def to_xml(root: str, data: Any) -> bytes:
    el = ET.Element(root)
    if isinstance(data, (list, tuple)):
        item = XML_ITEMS.get(root, "item")
        for v in data:
            _xml_value(el, item, v)
    else:
        for k, v in data.items():
            _xml_value(el, k, v)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(el, encoding="utf-8", xml_declaration=False)


def render(data: Any, fmt: str, root: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if fmt == "xml":
        return Response(to_xml(root, data), status_code=status, media_type=MEDIA_TYPES["xml"], headers=headers)
    # surrogatepass: a lone surrogate stored by an older version must not break the answer (JSON escapes it)
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
    return Response(body, status_code=status, media_type=MEDIA_TYPES["json"], headers=headers)


def error_response(status: int, description: str, fmt: str = "json", headers: dict[str, str] | None = None) -> Response:
    return render([{"code": status, "description": description}], fmt, "errors", status, headers)


def mask(text: str | None) -> str | None:
    """citybot.privacy.mask (None stays None)."""
    return _mask(text) if text else text


# -- shapes -----------------------------------------------------------------------------------------------------
def iso(t: dt.datetime | None, tz: ZoneInfo) -> str | None:
    """Stored UTC -> ISO 8601 with the city's offset, seconds precision (as the spec's examples)."""
    if t is None:
        return None
    return _aware(t).astimezone(tz).replace(microsecond=0).isoformat()


def service_notice(case: Case, tz: ZoneInfo) -> str:
    if case.state == lc.DUPLICATE:
        return f"该问题已有市民反映（案件{case.duplicate_of}），已合并处理"
    if needs_place(case):
        return f"已受理，{lc.NEEDS_PLACE_NOTE}后派遣"
    if case.expected_at is not None and case.state in lc.ACTIVE_STATES:
        due = _aware(case.expected_at).astimezone(tz)
        return f"已派遣至{case.agency_responsible}，预计{due:%m月%d日%H:%M}前处置"
    return ""


def request_dict(case: Case, *, tz: ZoneInfo, now_db: dt.datetime, client: str | None = None) -> dict:
    """The public Open311 shape plus citybot's lifecycle extensions; free text masked, the reporter never shown.

    What is public (as FixMyStreet and Open311 practice): the report — its category, description, photo, state,
    department and times — and its place. Never the reporter: no name, phone, e-mail or account, and not the
    channel ids that lead to them. The client that filed the case (`client`, from its api_key) also gets its
    own references: account_id, channel, external_id and the rating."""
    out = {
        "service_request_id": case.id,
        "status": lc.status_of(case.state),
        "status_notes": mask(case.status_notes),
        "service_name": case.service_name,
        "service_code": case.service_code,
        "description": mask(case.description),
        "agency_responsible": case.agency_responsible,
        "service_notice": service_notice(case, tz),
        "requested_datetime": iso(case.requested_at, tz),
        "updated_datetime": iso(case.updated_at, tz),
        "expected_datetime": iso(case.expected_at, tz),
        "address": mask(case.address),
        "address_id": case.address_id,
        "zipcode": case.zipcode,
        "lat": case.lat,
        "long": case.long,
        "media_url": case.media_url,
        "state": case.state,
        "group": case.group,
        "overdue": case.state in lc.ACTIVE_STATES and case.expected_at is not None and now_db > case.expected_at,
        "duplicate_of": case.duplicate_of,
        "level": case.level,
        "priority": case.priority,
        "result_media_urls": list(case.result_media_urls or []),
        **_needs_place(case),
    }
    if client is not None and client == getattr(case, "client", None):
        out.update({"account_id": case.account_id, "channel": case.channel, "external_id": case.external_id,
                    "rating": case.rating})
    return out


def created_dict(case: Case, *, tz: ZoneInfo) -> dict:
    return {
        "service_request_id": case.id,
        "token": case.token,
        "service_notice": service_notice(case, tz),
        "account_id": case.account_id,
        "duplicate_of": case.duplicate_of,
        "agency_responsible": case.agency_responsible,
        "expected_datetime": iso(case.expected_at, tz),
        "state": case.state,
        "update_id": getattr(case, "update_id", None),
        **_needs_place(case),
    }


def _needs_place(case) -> dict:
    """Extension, present only on a case filed without a place that still waits for one (待补充地点)."""
    return {"needs_place": True} if needs_place(case) else {}


def update_dict(u: CaseUpdate, *, tz: ZoneInfo) -> dict:  # a CaseUpdate or a Core row of it
    return {
        "update_id": u.id,
        "service_request_id": u.case_id,
        "status": lc.status_of(u.state),
        "state": u.state,
        "event": u.event,
        "description": mask(u.description),
        "note": mask(u.note),
        "updated_datetime": iso(u.created_at, tz),
        "media_url": u.media_url,
        "agency_responsible": u.agency_responsible,
        "expected_datetime": iso(u.expected_at, tz),
        "result_media_urls": list(u.result_media_urls or []),
        "level": u.level,
        "priority": u.priority,
    }


def staff_case_dict(case: Case, *, tz: ZoneInfo, now_db: dt.datetime) -> dict:
    """The staff view: the public shape plus reporter and attributes, personal data masked."""
    out = request_dict(case, tz=tz, now_db=now_db)
    out.update({
        "channel": case.channel,
        "external_id": case.external_id,
        "rating": case.rating,
        "attributes": {k: mask(str(v)) for k, v in (case.attributes or {}).items()},
        "account_id": case.account_id,
        "reporter": {"name": mask_name((case.last_name or "") + (case.first_name or "")) or None,
                     "phone": _mask_phone(case.phone),
                     "email": _mask_email(case.email)},
        "dispatched_datetime": iso(case.dispatched_at, tz),
        "resolved_datetime": iso(case.resolved_at, tz),
        "closed_datetime": iso(case.closed_at, tz),
        "rating_comment": mask(case.rating_comment),
    })
    return out


def audit_dict(a: AuditEntry, *, tz: ZoneInfo) -> dict:
    return {"at": iso(a.at, tz), "actor": mask(a.actor), "principal": a.principal, "action": a.action,
            "reason": mask(a.reason), "detail": a.detail}


def _mask_email(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    user, _, domain = email.partition("@")
    return f"{user[:1]}***@{domain}"


def _mask_phone(phone: str | None) -> str | None:
    if not phone:
        return None
    masked = mask(phone)
    return masked if masked != phone else "*" * max(len(phone) - 4, 3) + phone[-4:]


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)
