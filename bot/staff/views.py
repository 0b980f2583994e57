"""How a case looks to staff in Telegram: plain text in Chinese (no parse mode, so nothing needs escaping).

The hub's staff view already masks the reporter's name, phone and e-mail and the numbers in free text; this
module masks what is left (the account id) and never prints anything unmasked that could identify the reporter.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from citybot.catalogue import Catalogue
from citybot.privacy import mask

TEXT_MAX = 4096  # Telegram's message limit

STATE_NAMES = {
    "received": "已受理立案", "dispatched": "已派遣", "in_progress": "处置中", "resolved": "已处理反馈",
    "closed": "已核查结案", "rated": "已评价", "cancelled": "已撤销", "duplicate": "重复（已合并）",
    "referred": "已转办（非城管事项）", "reopened": "重新处理",
}
EVENT_NAMES = {**STATE_NAMES, "overdue": "超期", "comment": "补充信息", "escalated": "升级督办",
               "reclassified": "重新分类", "place_set": "补充地点"}
ACTION_NAMES = {
    "read": "查看", "dispatch": "派遣", "status": "变更状态", "resolve": "处理反馈", "close": "结案",
    "reclassify": "重新分类", "escalate": "督办升级", "merge": "合并", "reopen": "重新处理", "sweep": "超期检查",
    "file": "立案", "create": "立案", "rate": "评价", "cancel": "撤销", "comment": "补充信息", "set_place": "补充地点",
}
PRIORITY_NAMES = {"normal": "普通", "high": "高", "urgent": "紧急"}
ROLE_NAMES = {"operator": "操作员", "supervisor": "督办员", "admin": "管理员"}
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
    return STATE_NAMES.get(state or "", state or "—")


def mask_account(account_id: str | None) -> str | None:
    """'tg:123456789' -> 'tg:*******89': enough to tell two reporters apart, not to find one."""
    if not account_id:
        return None
    prefix, sep, rest = account_id.rpartition(":")
    head = prefix + sep
    return head + "*" * max(len(rest) - 2, 3) + rest[-2:] if len(rest) > 2 else head + "***"


def subcategory_label(case: dict, catalogue: Catalogue | None) -> str:
    code = case.get("service_code") or ""
    sub = catalogue.by_code(code) if catalogue is not None and code else None
    name = sub.name if sub else (case.get("service_name") or "未分类")
    group = sub.category if sub else case.get("group")
    return f"{name}（{code}{'，' + group if group else ''}）" if code else name


def staff_line(staff) -> str:
    dept = staff.department or "全部门"
    return f"{staff.name or staff.telegram_user_id}（{staff.level}级 · {dept} · {ROLE_NAMES.get(staff.role, staff.role)}）"


def case_summary(case: dict, tz: ZoneInfo, catalogue: Catalogue | None) -> str:
    """One or two lines for lists (/overdue, /find)."""
    flag = (" ⚠️超期" if case.get("overdue") else "") + (" 📍待补充地点" if case.get("needs_place") else "")
    where = mask(case.get("address") or "") or _coords(case) or "（无地址）"
    return (f"{case.get('service_request_id')} {subcategory_label(case, catalogue)} · {state_name(case.get('state'))}{flag}\n"
            f"   {case.get('agency_responsible') or '未派遣'} · {case.get('level') or '—'}级 · "
            f"应于{when(case.get('expected_datetime'), tz)}前 · {where}")


def _coords(case: dict) -> str:
    lat, lon = case.get("lat"), case.get("long")
    return f"({float(lat):.5f}, {float(lon):.5f})" if lat is not None and lon is not None else ""


def _update_line(u: dict, tz: ZoneInfo) -> str:
    event = u.get("event") or u.get("state") or ""
    text = mask(u.get("description") or "")
    photos = len(u.get("result_media_urls") or ()) + (1 if u.get("media_url") else 0)
    extra = f"（照片{photos}张）" if photos else ""
    return f"· {when(u.get('updated_datetime'), tz)} {EVENT_NAMES.get(event, event)}{'：' + text if text else ''}{extra}"


def _audit_line(a: dict, tz: ZoneInfo) -> str:
    who = mask(a.get("actor") or "") or a.get("principal") or "—"
    if a.get("actor") and a.get("principal"):
        who = f"{who}（{a['principal']}）"
    action = ACTION_NAMES.get(a.get("action") or "", a.get("action") or "")
    detail = a.get("detail") or {}
    what = action
    if isinstance(detail, dict):
        bits = [f"{k}={mask(str(v))}" for k, v in detail.items() if v not in (None, "", [], {})]
        if bits:
            what += f" [{', '.join(bits)[:200]}]"
    reason = mask(a.get("reason") or "")
    return f"· {when(a.get('at'), tz)} {who} {what}{'，原因：' + reason if reason else ''}"


def _tail(lines: list[str]) -> list[str]:
    if len(lines) <= HISTORY_MAX:
        return lines
    return [f"…（较早的 {len(lines) - HISTORY_MAX} 条略）"] + lines[-HISTORY_MAX:]


def photo_urls(case: dict) -> tuple[list[str], list[str]]:
    """(the citizen's photos, the result photos) of a case detail, in order, without repeats."""
    citizen: list[str] = []
    for url in [case.get("media_url")] + [u.get("media_url") for u in case.get("updates") or ()]:
        if url and url not in citizen:
            citizen.append(url)
    return citizen, list(dict.fromkeys(case.get("result_media_urls") or ()))


def render_case(case: dict, tz: ZoneInfo, catalogue: Catalogue | None) -> str:
    """The full staff view of one case (a /staff/v1/requests/{id} body)."""
    reporter = case.get("reporter") or {}
    who = "，".join(x for x in (reporter.get("name"), reporter.get("phone"), reporter.get("email"),
                                mask_account(case.get("account_id"))) if x) or "匿名"
    lines = [
        f"📋 案件 {case.get('service_request_id')}",
        f"小类：{subcategory_label(case, catalogue)}",
        f"状态：{state_name(case.get('state'))}{' ⚠️已超期' if case.get('overdue') else ''}"
        f"{' 📍待补充地点（/place 编号 地址）' if case.get('needs_place') else ''}",
        f"责任部门：{case.get('agency_responsible') or '未派遣'} · {case.get('level') or '—'}级 · "
        f"优先级{PRIORITY_NAMES.get(case.get('priority') or '', case.get('priority') or '—')}",
        f"立案：{when(case.get('requested_datetime'), tz)}　应处置：{when(case.get('expected_datetime'), tz)}",
        f"地址：{mask(case.get('address') or '') or '—'} {_coords(case)}".rstrip(),
        f"描述：{mask(case.get('description') or '') or '—'}",
        f"反映人：{who}（{case.get('channel') or '—'}）",
    ]
    if case.get("duplicate_of"):
        lines.append(f"并入案件：{case['duplicate_of']}")
    attributes = case.get("attributes") or {}
    if attributes:
        lines.append("附加信息：" + "，".join(f"{k}={v}" for k, v in attributes.items()))
    citizen, results = photo_urls(case)
    if citizen:
        lines.append(f"市民照片（{len(citizen)}张）：" + " ".join(citizen))
    if results:
        lines.append(f"处理结果照片（{len(results)}张）：" + " ".join(results))
    if case.get("rating"):
        lines.append(f"市民评价：{case['rating']}分{('，' + mask(case['rating_comment'])) if case.get('rating_comment') else ''}")
    lines.append("")
    lines.append("进展：")
    lines += _tail([_update_line(u, tz) for u in case.get("updates") or ()]) or ["· —"]
    lines.append("操作记录（谁、何时、做了什么、为什么）：")
    lines += _tail([_audit_line(a, tz) for a in case.get("audit") or ()]) or ["· —"]
    text = "\n".join(lines)
    return text if len(text) <= TEXT_MAX else text[:TEXT_MAX - 1] + "…"
