"""The Chinese progress messages a citizen gets for each hub update of a case they follow.

`render(update, tz)` returns a plain, JSON-able payload (stored in its job, so a message is fixed when the
update is read, not when it is sent), or None for events a citizen is not told about (their own comments and
ratings). Payload: {"kind": "text"|"photos", "text": str, "photos": [url...], "buttons": [[[label, data]...]]}.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from citybot.numbers import parse_int
from hubapi.client import Update

RATE_PREFIX = "rate"
CAPTION_MAX = 1024  # Telegram's caption limit
TEXT_MAX = 4096


def rating_data(case_id: str, stars: int) -> str:
    """Callback data of a rating button: rate:<case_id>:<1-5>."""
    return f"{RATE_PREFIX}:{case_id}:{stars}"


def parse_rating(data: str) -> tuple[str, int] | None:
    """(case_id, stars) from rating callback data, or None when it is not a valid one."""
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != RATE_PREFIX or not parts[1]:
        return None
    try:
        return parts[1], parse_int(parts[2], lo=1, hi=5)  # callback data is the client's: '፩' is no rating
    except ValueError:
        return None


def _when(value: dt.datetime | None, tz: ZoneInfo) -> str:
    if value is None:
        return "规定时限"
    local = value.astimezone(tz) if value.tzinfo else value.replace(tzinfo=tz)
    return f"{local.month}月{local.day}日{local:%H:%M}"


def _with_note(text: str, update: Update, label: str = "说明") -> str:
    note = update.note.strip()
    return f"{text}\n{label}：{note}" if note else text


def render(update: Update, tz: ZoneInfo) -> dict | None:
    cid, event = update.service_request_id, (update.event or update.state or "")
    dept = update.agency_responsible or "相关部门"
    due = _when(update.expected_datetime, tz)
    text: str
    photos: list[str] = []
    buttons: list[list[list[str]]] = []
    if event == "received":
        text = f"您反映的问题已受理立案，案件编号：{cid}。处理进展会在这里通知您。"
    elif event == "dispatched":
        text = f"案件 {cid} 已派遣至{dept}，应于{due}前处理。"
    elif event == "in_progress":
        text = _with_note(f"案件 {cid} 正在处置中，{dept}已安排人员处理。", update)
    elif event == "overdue":
        text = (f"案件 {cid} 已超过处置时限（应于{due}前处理完毕），已纳入超期督办，"
                f"我们将督促{dept}尽快处理。")
    elif event == "escalated":
        level = f"{update.level}级" if update.level else "上级"
        text = _with_note(f"案件 {cid} 已升级至{level}督办，将加快处理。", update, "原因")
    elif event == "reclassified":
        text = f"案件 {cid} 已重新分类，改由{dept}处理。"
    elif event == "resolved":
        text = _with_note(f"案件 {cid} 已处理完毕。", update, "处理结果")
        photos = list(update.result_media_urls)
        if photos:
            text += f"\n处理后照片 {len(photos)} 张。"
        text += "\n如问题仍未解决，可回复“未解决”申请重新处理。"
    elif event == "closed":
        text = f"案件 {cid} 已核查结案。请为本次处理打分（1–5 分，5 分最满意）："
        buttons = [[[f"{n}分", rating_data(cid, n)] for n in range(1, 6)]]
    elif event == "reopened":
        text = _with_note(f"案件 {cid} 已重新处理，我们会再次安排处置，并继续通知您进展。", update, "原因")
    elif event == "cancelled":
        text = _with_note(f"案件 {cid} 已撤销。如仍需处理，请重新反映。", update, "原因")
    elif event == "duplicate":
        text = (f"案件 {cid} 与已受理的同一问题合并处理"
                f"（{update.description or '已并入其他案件'}），后续进展将继续通知您。")
    elif event == "referred":
        text = _with_note(f"案件 {cid} 不属于城市管理事项，已转交相关部门办理。", update)
    else:  # comment, rated and anything newer than this code: the citizen is not told
        return None
    if photos:
        return {"kind": "photos", "text": text[:CAPTION_MAX], "photos": photos[:10], "buttons": buttons}
    return {"kind": "text", "text": text[:TEXT_MAX], "photos": [], "buttons": buttons}


def cost(payload: dict) -> int:
    """Messages a payload counts as against Telegram's limits (each photo of an album is one)."""
    return max(1, len(payload.get("photos") or ()))


def queued_report_filed(case_id: str) -> dict:
    """A report saved while the hub was away has now been filed (push payload)."""
    return {"kind": "text", "photos": [], "buttons": [],
            "text": f"您之前保存的反映已成功提交，案件编号：{case_id}。有进展会通知您，也可以发送“我的爆料”查看。"}


def queued_report_refused(reason: str) -> dict:
    """A report saved while the hub was away was refused for good by the hub (push payload)."""
    return {"kind": "text", "photos": [], "buttons": [],
            "text": f"很抱歉，您之前保存的反映未能提交：{reason[:300]}。请重新发起反映，或拨打12345热线。"}
