"""How a case looks to staff in Telegram: plain text in Chinese (no parse mode, so nothing needs escaping).

The hub's staff view already masks the reporter's name, phone and e-mail and the numbers in free text; this
module masks what is left (the account id) and never prints anything unmasked that could identify the reporter.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from citybot.catalogue import Catalogue
from citybot.privacy import mask
from hubapi.models import AuditEntry, ServiceRequest, StaffCase, Update
from hubapi.roles import ACTION_LABELS, ROLE_LABELS
from hubapi.states import PRIORITY_LABELS, label

TEXT_MAX = 4096  # Telegram's message limit

HISTORY_MAX = 15  # the latest entries of each list; older ones are summarised by a count


def when(value: str | dt.datetime | None, tz: ZoneInfo) -> str:
    """'3月2日 09:00' in city time ('—' when unknown)."""
    if not value:
        return "—"
    t = value if isinstance(value, dt.datetime) else _parse(value)
    if t is None:
        return str(value)
    local = t.astimezone(tz) if t.tzinfo else t.replace(tzinfo=tz)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def _parse(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def state_name(state: str | None) -> str:
    return label(state)


def mask_account(account_id: str | None) -> str | None:
    """'tg:123456789' -> 'tg:*******89': enough to tell two reporters apart, not to find one."""
    if not account_id:
        return None
    prefix, sep, rest = account_id.rpartition(":")
    head = prefix + sep
    return head + "*" * max(len(rest) - 2, 3) + rest[-2:] if len(rest) > 2 else head + "***"


def subcategory_label(case: ServiceRequest, catalogue: Catalogue | None) -> str:
    code = case.service_code or ""
    sub = catalogue.by_code(code) if catalogue is not None and code else None
    name = sub.name if sub else (case.service_name or "未分类")
    group = sub.category if sub else case.group
    return f"{name}（{code}{'，' + group if group else ''}）" if code else name


def staff_line(staff) -> str:
    dept = staff.department or "全部门"
    return f"{staff.name or staff.telegram_user_id}（{staff.level}级 · {dept} · {ROLE_LABELS.get(staff.role, staff.role)}）"


def case_summary(case: ServiceRequest, tz: ZoneInfo, catalogue: Catalogue | None) -> str:
    """One or two lines for lists (/overdue, /find)."""
    flag = (" ⚠️超期" if case.overdue else "") + (" 📍待补充地点" if case.needs_place else "")
    where = mask(case.address or "") or _coords(case) or "（无地址）"
    return (f"{case.service_request_id} {subcategory_label(case, catalogue)} · {state_name(case.state)}{flag}\n"
            f"   {case.agency_responsible or '未派遣'} · {case.level or '—'}级 · "
            f"应于{when(case.expected_datetime, tz)}前 · {where}")


def _coords(case: ServiceRequest) -> str:
    lat, lon = case.lat, case.long
    return f"({float(lat):.5f}, {float(lon):.5f})" if lat is not None and lon is not None else ""


def _update_line(u: Update, tz: ZoneInfo) -> str:
    event = u.event or u.state or ""
    text = mask(u.description or "")
    photos = len(u.result_media_urls or ()) + (1 if u.media_url else 0)
    extra = f"（照片{photos}张）" if photos else ""
    return f"· {when(u.updated_datetime, tz)} {label(event)}{'：' + text if text else ''}{extra}"


def _audit_line(a: AuditEntry, tz: ZoneInfo) -> str:
    who = mask(a.actor or "") or a.principal or "—"
    if a.actor and a.principal:
        who = f"{who}（{a.principal}）"
    action = ACTION_LABELS.get(a.action or "", a.action or "")
    detail = a.detail or {}
    what = action
    if detail:
        bits = [f"{k}={mask(str(v))}" for k, v in detail.items() if v not in (None, "", [], {})]
        if bits:
            what += f" [{', '.join(bits)[:200]}]"
    reason = mask(a.reason or "")
    return f"· {when(a.at, tz)} {who} {what}{'，原因：' + reason if reason else ''}"


def _tail(lines: list[str]) -> list[str]:
    if len(lines) <= HISTORY_MAX:
        return lines
    return [f"…（较早的 {len(lines) - HISTORY_MAX} 条略）"] + lines[-HISTORY_MAX:]


def photo_urls(case: StaffCase) -> tuple[list[str], list[str]]:
    """(the citizen's photos, the result photos) of a case detail, in order, without repeats."""
    citizen: list[str] = []
    for url in [case.media_url] + [u.media_url for u in case.updates or ()]:
        if url and url not in citizen:
            citizen.append(url)
    return citizen, list(dict.fromkeys(case.result_media_urls or ()))


def render_case(case: ServiceRequest, tz: ZoneInfo, catalogue: Catalogue | None) -> str:
    """The full staff view of one case (with its history and audit trail)."""
    reporter = case.reporter
    who = "，".join(x for x in (reporter.name, reporter.phone, reporter.email,
                                mask_account(case.account_id)) if x) or "匿名"
    lines = [
        f"📋 案件 {case.service_request_id}",
        f"小类：{subcategory_label(case, catalogue)}",
        f"状态：{state_name(case.state)}{' ⚠️已超期' if case.overdue else ''}"
        f"{' 📍待补充地点（/place 编号 地址）' if case.needs_place else ''}",
        f"责任部门：{case.agency_responsible or '未派遣'} · {case.level or '—'}级 · "
        f"优先级{PRIORITY_LABELS.get(case.priority or '', case.priority or '—')}",
        f"立案：{when(case.requested_datetime, tz)}　应处置：{when(case.expected_datetime, tz)}",
        f"地址：{mask(case.address or '') or '—'} {_coords(case)}".rstrip(),
        f"描述：{mask(case.description or '') or '—'}",
        f"反映人：{who}（{case.channel or '—'}）",
    ]
    if case.duplicate_of:
        lines.append(f"并入案件：{case.duplicate_of}")
    attributes = case.attributes or {}
    if attributes:
        lines.append("附加信息：" + "，".join(f"{k}={v}" for k, v in attributes.items()))
    citizen, results = photo_urls(case)
    if citizen:
        lines.append(f"市民照片（{len(citizen)}张）：" + " ".join(citizen))
    if results:
        lines.append(f"处理结果照片（{len(results)}张）：" + " ".join(results))
    if case.rating:
        lines.append(f"市民评价：{case.rating}分{('，' + mask(case.rating_comment)) if case.rating_comment else ''}")
    lines.append("")
    lines.append("进展：")
    lines += _tail([_update_line(u, tz) for u in case.updates or ()]) or ["· —"]
    lines.append("操作记录（谁、何时、做了什么、为什么）：")
    lines += _tail([_audit_line(a, tz) for a in case.audit or ()]) or ["· —"]
    text = "\n".join(lines)
    return text if len(text) <= TEXT_MAX else text[:TEXT_MAX - 1] + "…"
