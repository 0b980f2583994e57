"""Overdue and escalation alerts to the staff chat of the responsible level (issue 6).

The alerts ride on the progress notifier (bot/notifier.py): `StaffAlerts` is its `extra_fanout` hook. For every
`overdue` or `escalated` update in the hub's feed it adds one `alert` job for the staff chat of the case's level
(after an escalation: the NEW level), so the alerts share the notifier's cursor, job queue (unique per update and
chat: exactly once across restarts), rate limits, 429 handling, retries and dead jobs. No second sender. A case
whose detail cannot be read is alerted with the update's own fields: one case never stalls the feed.

A level without a configured chat falls back to the nearest level above that has one (街道 → 区 → 市): an
alert is never silently dropped while any staff chat is configured.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from citybot.catalogue import LEVELS
from citybot.privacy import mask, mask_name
from hubapi.accounts import is_chat
from hubapi.client import HubClient, HubError, Update
from hubapi.models import StaffCase
from hubapi.states import PRIORITIES, PRIORITY_LABELS

log = logging.getLogger("citybot.staff.alerts")

ALERT_EVENTS = frozenset({"overdue", "escalated"})
CASE_PREFIX, ESCALATE_PREFIX = "staff:case:", "staff:esc:"
DESCRIPTION_MAX = 120


def case_data(case_id: str) -> str:
    """Callback data of the 查看 button (handled by the staff commands)."""
    return f"{CASE_PREFIX}{case_id}"


def escalate_data(case_id: str) -> str:
    """Callback data of the 督办升级 button (handled by the staff commands)."""
    return f"{ESCALATE_PREFIX}{case_id}"


def chat_for(level: str | None, chats: Mapping[str, int]) -> int | None:
    """The staff chat for a case at `level`: that level's, else the nearest level above with a chat."""
    start = LEVELS.index(level) if level in LEVELS else 0
    for lv in LEVELS[start:]:
        if lv in chats:
            return chats[lv]
    return None


def _when(value: dt.datetime | None, tz: ZoneInfo) -> str:
    if value is None:
        return "—"
    local = value.astimezone(tz) if value.tzinfo else value.replace(tzinfo=tz)
    return f"{local.month}月{local.day}日{local:%H:%M}"


def overdue_for(update: Update) -> str | None:
    """How long past the due time the case was when the update was written (wall time), in Chinese."""
    if update.expected_datetime is None or update.updated_datetime is None:
        return None
    seconds = int((update.updated_datetime - update.expected_datetime).total_seconds())
    if seconds <= 0:
        return None
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}天" if days else "", f"{hours}小时" if hours else "", f"{minutes}分钟" if minutes else ""]
    return "".join(parts) or "不到1分钟"


def _where(detail: StaffCase) -> str:
    if detail.address:
        return mask(str(detail.address))
    if detail.lat is not None and detail.long is not None:
        return f"未提供（定位 {float(detail.lat):.5f}, {float(detail.long):.5f}）"
    return "未提供"


def _reporter(detail: StaffCase) -> str:
    rep = detail.reporter
    # the hub's staff view masks these already; mask again so that this module never relies on it
    name = rep.name or ""
    parts = [name if "*" in name else mask_name(name), mask(rep.phone or "")]
    shown = " ".join(p for p in parts if p)
    return shown or ("市民（Telegram）" if is_chat(detail.account_id) else "未留姓名")


def render_alert(update: Update, detail: StaffCase | None, tz: ZoneInfo) -> dict:
    """The Chinese alert for one overdue/escalated update: a notifier payload (text + two inline buttons)."""
    cid = update.service_request_id
    d = detail or StaffCase(cid, update.status)
    level = update.level or d.level or "街道"
    priority = update.priority or d.priority or "normal"
    if update.event == "escalated":
        head = f"【升级督办】案件 {cid} 已升级至{level}级督办（优先级：{PRIORITY_LABELS.get(priority, priority)}）"
        reason = mask(update.note.strip())
    else:
        head = f"【超期督办】案件 {cid} 已超过处置时限"
        reason = ""
    sub = d.service_name or "未知小类"
    group = d.group
    lines = [head,
             f"小类：{sub}（{group}）" if group else f"小类：{sub}",
             f"地址：{_where(d)}",
             f"责任单位：{update.agency_responsible or d.agency_responsible or '未派遣'}",
             f"处置时限：{_when(update.expected_datetime, tz)}"]
    late = overdue_for(update)
    if late:
        lines.append(f"已超期：{late}")
    lines.append(f"当前层级：{level}级")
    if reason:
        lines.append(f"升级原因：{reason}")
    if d.description:
        text = mask(str(d.description))
        lines.append(f"问题描述：{text[:DESCRIPTION_MAX]}{'…' if len(text) > DESCRIPTION_MAX else ''}")
    if detail is not None:
        lines.append(f"反映人：{_reporter(d)}")
    row = [["查看", case_data(cid)]]
    if not (level == LEVELS[-1] and priority == PRIORITIES[-1]):  # nothing left to escalate to
        row.append(["督办升级", escalate_data(cid)])
    return {"kind": "text", "text": "\n".join(lines)[:4096], "photos": [], "buttons": [row]}


def dead_alert_chat(settings) -> str | None:
    """Where dead jobs are reported: the top level's staff chat (市, else the highest configured), or None."""
    from bot.staff.access import parse_chats

    try:
        chats = parse_chats(settings.staff_chats)
    except ValueError:
        return None
    chat = next((chats[lv] for lv in reversed(LEVELS) if lv in chats), None)
    return str(chat) if chat is not None else None


class StaffAlerts:
    """The notifier's extra fan-out: `await alerts(updates)` -> [(update, chat_id, payload)] for the alerts."""

    def __init__(self, chats: Mapping[str, int], hub: HubClient, tz: ZoneInfo | str = "Asia/Shanghai"):
        self.chats = dict(chats)
        self.hub = hub
        self.tz = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)

    @classmethod
    def from_settings(cls, settings, hub: HubClient) -> StaffAlerts | None:
        """None when STAFF_CHATS is empty (no alerts); ValueError when it is malformed."""
        from bot.staff.access import parse_chats

        chats = parse_chats(settings.staff_chats)
        return cls(chats, hub, settings.timezone) if chats else None

    async def __call__(self, updates: list[Update]) -> list[tuple[Update, str, dict]]:
        out = []
        details: dict[str, StaffCase | None] = {}
        for u in updates:
            if u.event not in ALERT_EVENTS:
                continue
            chat = chat_for(u.level, self.chats)
            if chat is None:
                continue
            cid = u.service_request_id
            if cid not in details:
                try:  # 小类, address, reporter; without them the alert goes with the update's own fields
                    details[cid] = await self.hub.case_detail(cid)
                except HubError as exc:  # never stall the feed for one case (gone, forbidden, hub away)
                    log.warning("case %s of update %d unreadable (%s); alerting with the update's fields", cid,
                                u.update_id, exc)
                    details[cid] = None
            out.append((u, str(chat), render_alert(u, details[cid], self.tz)))
        return out
