"""A report: the summary the citizen confirms and the replies (words: domain/texts.yml). The filing itself is made by
citybot/filing.py, the one filing decision for chat and hotline."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from actions import texts
from citybot import catalogue as cat
from hubapi.client import CreatedRequest, ServiceRequest
from hubapi.states import label

def new_external_id() -> str:
    """The report's stable idempotency key (hub dedupes on channel + external_id)."""
    return uuid.uuid4().hex


def sub_name(catalogue: cat.Catalogue, code: str | None) -> str:
    sub = catalogue.by_code(code) if code else None
    return sub.name if sub else (code or "未分类")


def location_text(address: str | None, lat: float | None, long: float | None) -> str:
    if address:
        return address
    if lat is not None and long is not None:
        return texts.render("utter_place_shared", lat=f"{lat:.5f}", long=f"{long:.5f}")
    return texts.render("utter_place_missing")


def summary(catalogue: cat.Catalogue, code: str, description: str, address: str | None, lat, long,
            photos: list[str]) -> str:
    values = {"service": sub_name(catalogue, code), "place": location_text(address, lat, long),
              "description": description}
    if photos:
        return texts.render("utter_report_summary_photos", photos=len(photos), **values)
    return texts.render("utter_report_summary", **values)


def when(t: dt.datetime | None, tz: ZoneInfo) -> str:
    return t.astimezone(tz).strftime("%m月%d日%H:%M") if t else ""


def filed_reply(created: CreatedRequest, catalogue: cat.Catalogue, code: str, tz: ZoneInfo) -> str:
    sub = catalogue.by_code(code)
    values = {"case_id": created.service_request_id,
              "department": created.agency_responsible or (sub.department if sub else "相关部门"),
              "limit": sub.time_limit.describe() if sub else ""}
    if created.expected_datetime:
        return texts.render("utter_report_filed", due=when(created.expected_datetime, tz), **values)
    return texts.render("utter_report_filed_undated", **values)


def duplicate_reply(created: CreatedRequest) -> str:
    return texts.render("utter_report_duplicate", case_id=created.duplicate_of)


def status_line(case: ServiceRequest, tz: ZoneInfo) -> str:
    details = []
    if case.agency_responsible:
        details.append(texts.render("utter_case_status_department", department=case.agency_responsible))
    if case.state == "duplicate" and case.duplicate_of:
        details.append(texts.render("utter_case_status_merged", case_id=case.duplicate_of))
    if case.overdue:
        details.append(texts.render("utter_case_status_overdue"))
    elif case.expected_datetime and case.state in ("received", "dispatched", "in_progress", "reopened"):
        details.append(texts.render("utter_case_status_due", due=when(case.expected_datetime, tz)))
    if case.status_notes and case.state in ("resolved", "closed", "rated"):
        details.append(texts.render("utter_case_status_result", notes=case.status_notes))
    return texts.render("utter_case_status", case_id=case.service_request_id,
                        service=case.service_name or case.service_code, state=label(case.state) if case.state else case.status,
                        details="".join(details))
