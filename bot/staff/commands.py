"""Staff commands in Telegram: /overdue /case /escalate /assign /reclassify /status /resolve /close /merge /reopen
/find /help (issue 6). /stats lives in bot/staff/stats.py.

`make_router()` -> the commands Router, gated as a whole by `StaffFilter` (an active staff user, in a private
chat or a configured staff chat). `make_denial_router()` -> the Router placed after every staff router: a
non-staff user who types a staff command gets a polite "no permission" that lists nothing; any other text falls
through to the citizen router.

Every action is done through the hub's staff API as the staff member: `StaffFilter` hands each handler the
HubClient acting for them (the bot's channel token plus the member's id), so the hub applies their role, level
and department and its audit trail records them. The rule is the hub's; `access.may` only lets a refusal be
explained in Chinese before asking. Services come from the Dispatcher's workflow data: `hub`, `settings`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import BaseFilter, Command, CommandObject
from aiogram.types import (BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup,
                           InputMediaPhoto, Message)

from bot.staff import access, views
from bot.staff.access import StaffFilter, StaffMember, may
from citybot import catalogue as cat
from citybot.numbers import parse_int
from hubapi import states as lc
from hubapi.client import CaseNotFound, Conflict, Forbidden, HubClient, HubError, HubRejected
from hubapi.models import StaffCase
from hubapi.roles import ACTION_LABELS, ACTION_ROLE, ROLE_LABELS, ROLES, action_for_state

log = logging.getLogger("citybot.bot.staff")

NO_PERMISSION = "抱歉，您没有使用该功能的权限。"
MAX_ALBUM = 10  # photos in one Telegram media group
# Commands a non-staff user is politely refused (without learning what they do). /help, /start and /cancel
# are not here: they belong to the citizen dialogue when the sender is not staff.
STAFF_COMMANDS = ("overdue", "case", "escalate", "assign", "reclassify", "status", "resolve", "close", "merge",
                  "reopen", "find", "stats", "done", "triage", "place", "dead", "resend")
CALLBACK_PREFIX = "staff:"
PAGE_SIZE = 5
FIND_LIMIT = 10
DEFAULT_ESCALATE_REASON = "超期未处置，督办升级"

_CASE_ID = re.compile(r"\d{14}")

HELP = """工作人员命令（案件编号为14位数字）：
/overdue [页码] — 超期案件，最早到期的在前，可查看或督办升级
/case <编号> — 案件详情：进展、照片、责任部门、时限、操作记录
/find <关键词或地址> — 按描述或地址查找案件
/escalate <编号> <原因> — 督办升级（街道→区→市）
/assign <编号> <部门> — 派遣或改派到部门
/reclassify <编号> <小类代码或名称> — 重新分类，改派并重算时限
/status <编号> <状态> [说明] — 变更状态（派遣/处置中/撤销/转办…）
/resolve <编号> [说明] — 处理反馈：随后发送处理结果照片（可多张），发 /done 完成；也可直接发带此说明的照片
/close <编号> [说明] — 核查结案
/merge <编号> <并入编号> — 作为重复案件并入另一案件
/reopen <编号> [原因] — 重新处理
/triage — 待补充地点的案件（热线来电未说清地点），最早的在前
/place <编号> <地址> — 补充或更正地点；待补充地点的案件随后派遣（或并入同一地点的案件）
/dead — 投递失败的任务（管理员）；/resend <编号>|all — 重新发送
/help — 本帮助"""
STATS_HELP = "/stats [today|week|month] — 统计：分类数量、按时办结率、超期数、处理时长中位数（附图表）"

USAGE = {
    "case": "/case <案件编号>，例如 /case 20260302000001",
    "escalate": "/escalate <案件编号> <原因>，例如 /escalate 20260302000001 超期两天未处置",
    "assign": "/assign <案件编号> <部门>，例如 /assign 20260302000001 区环境卫生管理所",
    "reclassify": "/reclassify <案件编号> <小类代码或名称>，例如 /reclassify 20260302000001 SRHJ-02 或 道路不洁",
    "status": "/status <案件编号> <状态> [说明]，例如 /status 20260302000001 in_progress 已到场",
    "resolve": "/resolve <案件编号> [说明]，然后发送处理结果照片，最后发 /done",
    "close": "/close <案件编号> [说明]",
    "merge": "/merge <案件编号> <并入的案件编号>",
    "reopen": "/reopen <案件编号> [原因]",
    "find": "/find <关键词或地址>，例如 /find 人民路",
    "overdue": "/overdue [页码]",
    "place": "/place <案件编号> <地址>，例如 /place 20260302000001 福田区福中三路88号门口",
}

# /status: the states staff may set, by English name or Chinese name.
STATUS_ALIASES = {
    **{s: s for s in lc.STATES},
    **{v: k for k, v in lc.LABELS.items()},
    "立案": lc.RECEIVED, "派遣": lc.DISPATCHED, "处置": lc.IN_PROGRESS, "处理反馈": lc.RESOLVED, "结案": lc.CLOSED,
    "核查结案": lc.CLOSED, "撤销": lc.CANCELLED, "转办": lc.REFERRED, "重新处理": lc.REOPENED,
}
STATUS_REDIRECT = {
    lc.RESOLVED: "处理反馈需要附上处理结果照片，请用 /resolve <编号>。",
    lc.DUPLICATE: "标记重复请用 /merge <编号> <并入编号>。",
    lc.RATED: "评价只能由反映问题的市民进行。",
    lc.RECEIVED: "案件不能退回到“已受理立案”。",
}


class StaffError(Exception):
    """What to tell the staff member, in Chinese; nothing was changed."""


# -- helpers ----------------------------------------------------------------------------------------------------
def _tz(settings) -> ZoneInfo:
    return ZoneInfo(getattr(settings, "timezone", None) or "Asia/Shanghai")


def _catalogue(settings) -> cat.Catalogue:
    return cat.load(getattr(settings, "categories_file", None))


def _norm(text: str | None) -> str:
    return unicodedata.normalize("NFKC", text or "").strip()


def parse_case_id(text: str | None, usage: str) -> str:
    value = _norm(text)
    if not value:
        raise StaffError(f"缺少案件编号。用法：{usage}")
    if not _CASE_ID.fullmatch(value):
        raise StaffError(f"“{value[:20]}”不是有效的案件编号（14位数字）。用法：{usage}")
    return value


def split_args(command: CommandObject | None, n: int) -> list[str]:
    """The command's arguments split on whitespace into at most `n` parts (the last keeps its spaces)."""
    text = _norm(command.args if command else "")
    parts = text.split(maxsplit=n - 1) if text else []
    return parts + [""] * (n - len(parts))


def denied_text(staff: StaffMember, action: str, case: StaffCase) -> str:
    act = ACTION_LABELS.get(action, action)
    cid = case.service_request_id
    need = ACTION_ROLE.get(action, "admin")
    if ROLES.index(staff.role) < ROLES.index(need):
        return (f"您的角色是{ROLE_LABELS.get(staff.role, staff.role)}，不能{act}案件；"
                f"需要{ROLE_LABELS.get(need, need)}或以上。")
    level = case.level
    if level in cat.LEVELS and cat.LEVELS.index(staff.level) < cat.LEVELS.index(level):
        return f"案件 {cid} 属于{level}级，高于您的{staff.level}级，您不能{act}。请联系{level}级工作人员。"
    dept = case.agency_responsible or "其他部门"
    return f"案件 {cid} 由{dept}负责，不属于您的部门（{staff.department}），您不能{act}。"


def hub_error_text(exc: HubError, case_id: str = "") -> str:
    if isinstance(exc, CaseNotFound):
        return f"未找到案件 {case_id}。" if case_id else "未找到该案件。"
    if isinstance(exc, Conflict):
        return f"案件当前状态不允许此操作（{exc.description}）。"
    if isinstance(exc, Forbidden):
        return f"案件平台拒绝了该操作：您没有权限（{exc.description}）。"
    if isinstance(exc, HubRejected):
        return f"案件平台拒绝了该操作：{exc.description}"
    return "案件平台暂时无法访问，请稍后再试。"


async def case_for(hub: HubClient, case_id: str, staff: StaffMember, action: str) -> StaffCase:
    """The case as the hub has it, if `staff` may do `action` on it; else StaffError saying why."""
    try:
        case = await hub.case_detail(case_id)
    except Forbidden as refused:
        # the hub will not show this member the case; the channel may read it, to say why in Chinese
        try:
            case = await hub.on_behalf_of(None).case_detail(case_id)
        except HubError as exc:
            raise StaffError(hub_error_text(exc, case_id)) from None
        if not may(staff, "read", case):
            raise StaffError(denied_text(staff, "read", case)) from None
        raise StaffError(hub_error_text(refused, case_id)) from None  # the hub's own reason (e.g. deactivated)
    except HubError as exc:
        raise StaffError(hub_error_text(exc, case_id)) from None
    if not may(staff, action, case):
        raise StaffError(denied_text(staff, action, case))
    return case


def require_transition(case: StaffCase, target: str, what: str) -> None:
    current = case.state or ""
    if target not in lc.TRANSITIONS.get(current, ()):
        raise StaffError(f"案件 {case.service_request_id} 当前为“{views.state_name(current)}”，不能{what}。")


async def call_hub(coro: Awaitable[StaffCase], case_id: str) -> StaffCase:
    try:
        return await coro
    except HubError as exc:
        raise StaffError(hub_error_text(exc, case_id)) from None


def _kb(rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup | None:
    rows = [r for r in rows if r]
    if not rows:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d) for t, d in row]
                                                 for row in rows])


async def _reply(message: Message, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    await message.answer(text[:views.TEXT_MAX], reply_markup=markup)


async def show_case(message: Message, hub: HubClient, staff: StaffMember, case: StaffCase, settings) -> None:
    """The case as text (with its buttons), then its photos as one album: the citizen's, then the results."""
    await _reply(message, views.render_case(case, _tz(settings), _catalogue(settings)), _case_buttons(case, staff))
    citizen, results = views.photo_urls(case)
    labelled = [(url, "市民照片") for url in citizen] + [(url, "处理结果照片") for url in results]
    media = []
    for url, label in labelled[:MAX_ALBUM]:
        try:
            data = await hub.fetch_media(url)
        except HubError as exc:  # the links are in the text; a missing photo does not stop the rest
            log.warning("case %s photo %s not fetched: %s", case.service_request_id, url, exc)
            continue
        name = url.rsplit("/", 1)[-1] or "photo.jpg"
        media.append(InputMediaPhoto(media=BufferedInputFile(data, filename=name), caption=label))
    if len(media) == 1:
        await message.answer_photo(media[0].media, caption=media[0].caption)
    elif media:
        await message.answer_media_group(media)


def _guarded(fn: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Run a message handler; a StaffError becomes a reply, nothing else changes."""
    import inspect

    wanted = set(list(inspect.signature(fn).parameters)[1:])

    async def handler(message: Message, **kw) -> None:  # aiogram passes every workflow kwarg to **kw
        try:
            await fn(message, **{k: v for k, v in kw.items() if k in wanted})
        except StaffError as exc:
            await _reply(message, f"⚠️ {exc}")
    handler.__name__ = fn.__name__
    return handler


# -- views that several handlers share ----------------------------------------------------------------------------
def _case_buttons(case: StaffCase, staff: StaffMember) -> InlineKeyboardMarkup | None:
    cid = case.service_request_id
    row = []
    if case.state in lc.ACTIVE_STATES and case.level != cat.LEVELS[-1] and may(staff, "escalate", case):
        row.append(("督办升级", f"{CALLBACK_PREFIX}esc:{cid}"))
    return _kb([row])


async def overdue_page(hub: HubClient, staff: StaffMember, settings, page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    try:
        cases = await hub.overdue()
    except HubError as exc:
        raise StaffError(hub_error_text(exc)) from None
    cases = sorted((c for c in cases if may(staff, "read", c)),
                   key=lambda c: (c.expected_datetime is None, c.expected_datetime or dt.datetime.min.replace(tzinfo=dt.timezone.utc),
                                  c.service_request_id))
    if not cases:
        return "✅ 目前没有您负责范围内的超期案件。", None
    pages = (len(cases) + PAGE_SIZE - 1) // PAGE_SIZE
    page = min(max(page, 1), pages)
    chunk = cases[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    tz, catalogue = _tz(settings), _catalogue(settings)
    lines = [f"⏰ 超期案件 共{len(cases)}件（第{page}/{pages}页，最早到期的在前）："]
    rows: list[list[tuple[str, str]]] = []
    for i, c in enumerate(chunk, start=(page - 1) * PAGE_SIZE + 1):
        lines.append(f"{i}. {views.case_summary(c, tz, catalogue)}")
        cid = c.service_request_id
        row = [(f"查看 {cid[-6:]}", f"{CALLBACK_PREFIX}case:{cid}")]
        if c.level != cat.LEVELS[-1] and may(staff, "escalate", c):
            row.append((f"督办升级 {cid[-6:]}", f"{CALLBACK_PREFIX}esc:{cid}"))
        rows.append(row)
    nav = []
    if page > 1:
        nav.append(("◀ 上一页", f"{CALLBACK_PREFIX}page:{page - 1}"))
    if page < pages:
        nav.append(("下一页 ▶", f"{CALLBACK_PREFIX}page:{page + 1}"))
    rows.append(nav)
    return "\n".join(lines), _kb(rows)


async def escalate(hub: HubClient, staff: StaffMember, case_id: str, reason: str) -> str:
    case = await case_for(hub, case_id, staff, "escalate")
    if case.state not in lc.ACTIVE_STATES:
        raise StaffError(f"案件 {case_id} 当前为“{views.state_name(case.state)}”，不在处置中，无需督办升级。")
    if case.level == cat.LEVELS[-1]:
        raise StaffError(f"案件 {case_id} 已是市级督办，不能再升级。")
    out = await call_hub(hub.escalate(case_id, reason=reason, actor=staff.actor), case_id)
    return (f"⬆️ 案件 {case_id} 已升级至{out.level}级督办（优先级"
            f"{lc.PRIORITY_LABELS.get(out.priority or '', out.priority)}），原因：{reason}")


# -- handlers -----------------------------------------------------------------------------------------------------
async def cmd_help(message: Message, staff: StaffMember) -> None:
    import importlib.util

    text = HELP
    if importlib.util.find_spec("bot.staff.stats") is not None:
        text = text.replace("\n/help", f"\n{STATS_HELP}\n/help")
    await _reply(message, f"您好，{views.staff_line(staff)}\n\n{text}\n\n其他消息按市民反映问题处理。")


async def cmd_overdue(message: Message, command: CommandObject, staff: StaffMember, hub: HubClient,
                      settings=None) -> None:
    try:
        page = parse_int(_norm(command.args), lo=1, hi=10_000, default=1)
    except ValueError:
        raise StaffError(f"页码应为数字。用法：{USAGE['overdue']}") from None
    text, markup = await overdue_page(hub, staff, settings, page)
    await _reply(message, text, markup)


async def cmd_triage(message: Message, command: CommandObject, staff: StaffMember, hub: HubClient,
                     settings=None) -> None:
    try:
        cases = [c for c in await hub.triage() if may(staff, "read", c)]
    except HubError as exc:
        raise StaffError(hub_error_text(exc)) from None
    if not cases:
        await _reply(message, "✅ 目前没有待补充地点的案件。")
        return
    tz, catalogue = _tz(settings), _catalogue(settings)
    lines = [f"📍 待补充地点 共{len(cases)}件（最早的在前），用 /place <编号> <地址> 补充："]
    lines += [f"{i}. {views.case_summary(c, tz, catalogue)}" for i, c in enumerate(cases[:FIND_LIMIT], 1)]
    await _reply(message, "\n".join(lines))


async def cmd_place(message: Message, command: CommandObject, staff: StaffMember, hub: HubClient) -> None:
    raw_id, address = split_args(command, 2)
    case_id = parse_case_id(raw_id, USAGE["place"])
    if not address:
        raise StaffError(f"请写上地址。用法：{USAGE['place']}")
    await case_for(hub, case_id, staff, "set_place")
    out = await call_hub(hub.set_place(case_id, address=address, actor=staff.actor), case_id)
    if out.state == lc.DUPLICATE:
        after = f"该地点已有同类案件，已并入案件 {out.duplicate_of}。"
    elif out.state == lc.DISPATCHED:
        after = f"已派遣至{out.agency_responsible or '责任部门'}。"
    else:
        after = ""
    await _reply(message, f"📍 案件 {case_id} 地点已更新：{address}。{after}")


async def cmd_case(message: Message, command: CommandObject, staff: StaffMember, hub: HubClient,
                   settings=None) -> None:
    case_id = parse_case_id(command.args, USAGE["case"])
    case = await case_for(hub, case_id, staff, "read")
    await show_case(message, hub, staff, case, settings)


async def cmd_find(message: Message, command: CommandObject, staff: StaffMember, hub: HubClient,
                   settings=None) -> None:
    q = _norm(command.args)
    if not q:
        raise StaffError(f"请给出要查找的关键词或地址。用法：{USAGE['find']}")
    if len(q) > 200:
        raise StaffError("关键词太长（最多200个字）。")
    try:
        found = await hub.find(q, limit=100)
    except HubError as exc:
        raise StaffError(hub_error_text(exc)) from None
    found = [c for c in found if may(staff, "read", c)]
    if not found:
        await _reply(message, f"没有找到与“{q}”相关、且在您负责范围内的案件。")
        return
    tz, catalogue = _tz(settings), _catalogue(settings)
    shown = found[:FIND_LIMIT]
    more = f"（只显示最新的{FIND_LIMIT}件，请换用更具体的关键词）" if len(found) > FIND_LIMIT else ""
    lines = [f"🔎 与“{q}”相关的案件 {len(found)}件{more}："]
    lines += [f"{i}. {views.case_summary(c, tz, catalogue)}" for i, c in enumerate(shown, 1)]
    rows = [[(f"查看 {c.service_request_id}", f"{CALLBACK_PREFIX}case:{c.service_request_id}")] for c in shown]
    await _reply(message, "\n".join(lines), _kb(rows))


async def cmd_escalate(message: Message, command: CommandObject, staff: StaffMember, hub: HubClient) -> None:
    raw_id, reason = split_args(command, 2)
    case_id = parse_case_id(raw_id, USAGE["escalate"])
    if not reason:
        raise StaffError(f"请说明督办升级的原因。用法：{USAGE['escalate']}")
    await _reply(message, await escalate(hub, staff, case_id, reason[:2000]))


async def cmd_assign(message: Message, command: CommandObject, staff: StaffMember, hub: HubClient,
                     settings=None) -> None:
    raw_id, department = split_args(command, 2)
    case_id = parse_case_id(raw_id, USAGE["assign"])
    departments = sorted({s.department for s in _catalogue(settings).subcategories()})
    if not department:
        raise StaffError(f"请给出部门。用法：{USAGE['assign']}\n可选部门：{'、'.join(departments)}")
    if department not in departments:
        raise StaffError(f"没有“{department[:30]}”这个部门。可选部门：{'、'.join(departments)}")
    case = await case_for(hub, case_id, staff, "dispatch")
    require_transition(case, lc.DISPATCHED, "派遣")
    out = await call_hub(hub.dispatch(case_id, department=department, actor=staff.actor,
                                      note=f"由{staff.name or '工作人员'}派遣"), case_id)
    await _reply(message, f"📤 案件 {case_id} 已派遣至{out.agency_responsible}，"
                          f"应于{views.when(out.expected_datetime, _tz(settings))}前处置。")


async def cmd_reclassify(message: Message, command: CommandObject, staff: StaffMember, hub: HubClient,
                         settings=None) -> None:
    raw_id, code = split_args(command, 2)
    case_id = parse_case_id(raw_id, USAGE["reclassify"])
    if not code:
        raise StaffError(f"请给出新的小类。用法：{USAGE['reclassify']}")
    sub = _catalogue(settings).lookup(code) or _catalogue(settings).lookup(code.upper())
    if sub is None or sub.retired:
        raise StaffError(f"没有“{code[:30]}”这个小类。请用小类代码（如 SRHJ-01）或名称（如 暴露垃圾）。")
    case = await case_for(hub, case_id, staff, "reclassify")
    if case.state not in lc.ACTIVE_STATES:
        raise StaffError(f"案件 {case_id} 当前为“{views.state_name(case.state)}”，不能重新分类。")
    if case.service_code == sub.code:
        raise StaffError(f"案件 {case_id} 已经是{sub.name}（{sub.code}）。")
    out = await call_hub(hub.reclassify(case_id, sub.code, actor=staff.actor), case_id)
    await _reply(message, f"🔁 案件 {case_id} 已重新分类为{sub.name}（{sub.code}），改由{out.agency_responsible}"
                          f"处理，应于{views.when(out.expected_datetime, _tz(settings))}前处置。")


async def cmd_status(message: Message, command: CommandObject, staff: StaffMember, hub: HubClient) -> None:
    raw_id, raw_state, note = split_args(command, 3)
    case_id = parse_case_id(raw_id, USAGE["status"])
    if not raw_state:
        raise StaffError(f"请给出新状态。用法：{USAGE['status']}")
    state = STATUS_ALIASES.get(raw_state) or STATUS_ALIASES.get(raw_state.lower())
    settable = [s for s in lc.STATES if s not in STATUS_REDIRECT]
    if state is None:
        raise StaffError(f"没有“{raw_state[:20]}”这个状态。可用：" +
                         "、".join(f"{s}（{views.state_name(s)}）" for s in settable))
    if state in STATUS_REDIRECT:
        raise StaffError(STATUS_REDIRECT[state])
    case = await case_for(hub, case_id, staff, action_for_state(state))
    require_transition(case, state, f"改为“{views.state_name(state)}”")
    out = await call_hub(hub.set_status(case_id, state, note=note, actor=staff.actor), case_id)
    await _reply(message, f"✅ 案件 {case_id} 状态已改为“{views.state_name(out.state)}”。")


async def cmd_close(message: Message, command: CommandObject, staff: StaffMember, hub: HubClient) -> None:
    raw_id, note = split_args(command, 2)
    case_id = parse_case_id(raw_id, USAGE["close"])
    case = await case_for(hub, case_id, staff, "close")
    require_transition(case, lc.CLOSED, "结案（只有已处理反馈的案件可以核查结案）")
    await call_hub(hub.close(case_id, note=note, actor=staff.actor), case_id)
    await _reply(message, f"✅ 案件 {case_id} 已核查结案，市民将收到评价邀请。")


async def cmd_merge(message: Message, command: CommandObject, staff: StaffMember, hub: HubClient) -> None:
    raw_id, raw_into, note = split_args(command, 3)
    case_id = parse_case_id(raw_id, USAGE["merge"])
    into_id = parse_case_id(raw_into, USAGE["merge"])
    if case_id == into_id:
        raise StaffError("不能把案件并入它自己。")
    case = await case_for(hub, case_id, staff, "merge")
    await case_for(hub, into_id, staff, "read")
    require_transition(case, lc.DUPLICATE, "合并")
    out = await call_hub(hub.merge(case_id, into_id, note=note, actor=staff.actor), case_id)
    await _reply(message, f"🔗 案件 {case_id} 已作为重复案件并入 {out.duplicate_of or into_id}，"
                          "关注它的市民会改为关注后者。")


async def cmd_reopen(message: Message, command: CommandObject, staff: StaffMember, hub: HubClient) -> None:
    raw_id, reason = split_args(command, 2)
    case_id = parse_case_id(raw_id, USAGE["reopen"])
    case = await case_for(hub, case_id, staff, "reopen")
    require_transition(case, lc.REOPENED, "重新处理")
    out = await call_hub(hub.staff_reopen(case_id, reason=reason, actor=staff.actor), case_id)
    await _reply(message, f"🔄 案件 {case_id} 已重新处理，当前“{views.state_name(out.state)}”"
                          f"（{out.agency_responsible or '待派遣'}）。")


async def cmd_unavailable(message: Message) -> None:
    await _reply(message, "该命令现在不可用。发送 /help 查看可用的工作人员命令。")


# -- inline buttons -----------------------------------------------------------------------------------------------
async def on_callback(query: CallbackQuery, staff: StaffMember, hub: HubClient, settings=None) -> None:
    _, _, rest = (query.data or "").partition(CALLBACK_PREFIX)
    kind, _, arg = rest.partition(":")
    try:
        if kind == "page":
            try:
                page = parse_int(arg, lo=1, hi=10_000)
            except ValueError:
                raise StaffError("这个按钮无效。") from None
            text, markup = await overdue_page(hub, staff, settings, page)
            await query.answer()
            if query.message is not None:
                await query.message.edit_text(text[:views.TEXT_MAX], reply_markup=markup)
            return
        case_id = parse_case_id(arg, "按钮")
        if kind == "case":
            case = await case_for(hub, case_id, staff, "read")
            await query.answer()
            if query.message is not None:
                await show_case(query.message, hub, staff, case, settings)
            return
        if kind == "esc":
            text = await escalate(hub, staff, case_id, DEFAULT_ESCALATE_REASON)
            await query.answer("已督办升级")
            if query.message is not None:
                await query.message.answer(text)
            return
        await query.answer("这个按钮无效。", show_alert=True)
    except StaffError as exc:
        await query.answer(str(exc)[:200], show_alert=True)


# -- composition ----------------------------------------------------------------------------------------------------
def _cmd(*names: str) -> Command:
    return Command(*names, ignore_case=True)


def make_router() -> Router:
    """The staff commands, for active staff users only (in private chats and configured staff chats)."""
    router = Router(name="staff")
    router.message.filter(StaffFilter())
    router.callback_query.filter(StaffFilter())
    router.startup.register(on_startup)

    from bot.staff import deadjobs, resolve

    # /resolve and its photos first: an album's other photos and /done belong to a running collection.
    resolve.register(router)
    m = router.message.register
    m(cmd_help, _cmd("help"))
    for name, fn in (("overdue", cmd_overdue), ("case", cmd_case), ("find", cmd_find), ("escalate", cmd_escalate),
                     ("assign", cmd_assign), ("reclassify", cmd_reclassify), ("status", cmd_status),
                     ("close", cmd_close), ("merge", cmd_merge), ("reopen", cmd_reopen), ("triage", cmd_triage),
                     ("place", cmd_place), ("dead", deadjobs.cmd_dead), ("resend", deadjobs.cmd_resend)):
        m(_guarded(fn), _cmd(name))
    router.callback_query.register(on_callback, F.data.startswith(CALLBACK_PREFIX))
    return router


async def deny(message: Message, hub: HubClient | None = None, settings=None) -> None:
    if message.from_user is not None and hub is not None:
        try:
            if await access.lookup(hub, message.from_user.id):
                await cmd_unavailable(message)  # staff, but no router took it (e.g. /stats not installed)
                return
        except access.LookupFailed:  # the hub cannot say who is staff now: do not say "no permission"
            await message.answer("案件平台暂时无法访问，请稍后再试。")
            return
    await message.answer(NO_PERMISSION)


async def deny_callback(query: CallbackQuery) -> None:
    await query.answer(NO_PERMISSION, show_alert=True)


class _InStaffScope(BaseFilter):
    """Private chats and configured staff chats; other groups are ignored."""

    async def __call__(self, event, settings=None) -> bool:
        return access.chat_allowed(event, settings) if settings is not None else True


def make_denial_router() -> Router:
    """After every staff router: a staff command from anyone else gets the polite denial, listing nothing."""
    router = Router(name="staff-denial")
    router.message.register(deny, _InStaffScope(), _cmd(*STAFF_COMMANDS))
    router.callback_query.register(deny_callback, _InStaffScope(), F.data.startswith(CALLBACK_PREFIX))
    return router


async def on_startup(settings=None, **_) -> None:
    if settings is not None and getattr(settings, "staff_users", ""):
        log.info("STAFF_USERS is read by the hub (it registers those staff members at its start); "
                 "manage staff with `citybot staff-users`")
