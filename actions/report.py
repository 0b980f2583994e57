"""The words of a report: the summary the citizen confirms, the filing sent to the hub, and the replies."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from citybot import catalogue as cat
from hubapi.client import CreatedRequest, Filing, ServiceRequest
from hubapi.states import label

STATE_NAMES = {
    "received": "已受理", "dispatched": "已派遣", "in_progress": "处置中", "resolved": "已处理",
    "closed": "已结案", "rated": "已评价", "cancelled": "已撤销", "duplicate": "已合并",
    "referred": "已转办", "reopened": "重新处理中",
}


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
        return f"共享定位（{lat:.5f}, {long:.5f}）"
    return "未提供"


def summary(catalogue: cat.Catalogue, code: str, description: str, address: str | None, lat, long,
            photos: list[str]) -> str:
    pics = f"，照片{len(photos)}张" if photos else ""
    return f"【{sub_name(catalogue, code)}】{location_text(address, lat, long)}：{description}{pics}"


def filing(*, code: str, description: str, address: str | None, lat, long, photos: list[str], account_id: str,
           channel: str, external_id: str, contact: dict | None = None) -> Filing:
    """The report as the hub takes it. The citizen's name and phone are included only when `contact` is given,
    i.e. with the citizen's consent."""
    contact = contact or {}
    return Filing(code, description, address=address, lat=lat, long=long, media_urls=tuple(photos),
                  account_id=account_id, channel=channel, external_id=external_id,
                  **{k: contact[k] for k in ("first_name", "last_name", "phone") if contact.get(k)})


async def geocoded(filing: Filing, geocoder) -> Filing:
    """The filing with lat/long when it has an address but no coordinates and the geocoder resolves the place, so
    that the hub's radius duplicate rule applies to it (citybot.geocoder; None = off)."""
    if geocoder is None or not filing.address or filing.lat is not None:
        return filing
    point = await geocoder.locate(filing.address)
    return dataclasses.replace(filing, lat=point.lat, long=point.long) if point is not None else filing


def when(t: dt.datetime | None, tz: ZoneInfo) -> str:
    return t.astimezone(tz).strftime("%m月%d日%H:%M") if t else ""


def filed_reply(created: CreatedRequest, catalogue: cat.Catalogue, code: str, tz: ZoneInfo) -> str:
    sub = catalogue.by_code(code)
    dept = created.agency_responsible or (sub.department if sub else "相关部门")
    due = f"，预计{when(created.expected_datetime, tz)}前处置" if created.expected_datetime else ""
    limit = f"（处置时限{sub.time_limit.describe()}）" if sub else ""
    return f"已为您提交，案件编号：{created.service_request_id}。已派遣至{dept}{due}{limit}。有进展会通知您。"


def duplicate_reply(created: CreatedRequest) -> str:
    return (f"这个问题已有市民反映过（案件{created.duplicate_of}），正在处理中，无需重复提交。"
            f"已为您关注该案件，有进展会通知您。")


def status_line(case: ServiceRequest, tz: ZoneInfo) -> str:
    state = label(case.state) if case.state else case.status
    parts = [f"案件{case.service_request_id}（{case.service_name or case.service_code}）：{state}"]
    if case.agency_responsible:
        parts.append(f"承办部门：{case.agency_responsible}")
    if case.state == "duplicate" and case.duplicate_of:
        parts.append(f"已并入案件{case.duplicate_of}")
    if case.overdue:
        parts.append("已超过处置时限，已督办")
    elif case.expected_datetime and case.state in ("received", "dispatched", "in_progress", "reopened"):
        parts.append(f"预计{when(case.expected_datetime, tz)}前处置")
    if case.status_notes and case.state in ("resolved", "closed", "rated"):
        parts.append(f"处理结果：{case.status_notes}")
    return "，".join(parts) + "。"
