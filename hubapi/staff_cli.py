"""`citybot staff ...`: the hub's staff API from the command line (HubClient, bearer HUB_STAFF_TOKEN).

What a 城管 operator does to a case — dispatch, progress, resolve with result photos, close, reclassify,
escalate, reopen — plus reading (list, show, overdue, stats). Output is human-readable (Chinese labels);
`--json` prints the hub's JSON instead, for scripts. Errors (the hub's description, an unreadable photo, an
unreachable hub) go to stderr with exit code 1 (2 for bad usage, as argparse).
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
from pathlib import Path

from hubapi.models import ServiceRequest, StaffCase
from hubapi.states import STATES, label


def register(sub: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the hub's JSON answer instead of a summary")
    p = sub.add_parser("staff", help="act on cases through the hub's staff API (dispatch, resolve, close…)",
                       description="The hub's staff API (HUB_URL, HUB_STAFF_TOKEN) from the command line.",
                       parents=[common])
    p.add_argument("--hub-url", help="hub base URL (default: settings.hub_url)")
    p.add_argument("--token", help="staff token (default: settings.hub_staff_token)")
    p.add_argument("--actor", default="", help="who acts, recorded in the audit (e.g. 'cli 张三')")
    p.set_defaults(func=_run)  # (not json=: the --json action is shared with the subcommands)
    ss = p.add_subparsers(dest="staff_command", metavar="ACTION", required=True)

    def add(name: str, help: str):
        return ss.add_parser(name, help=help, description=help, parents=[common])

    c = add("list", "list cases, newest first (filter by state)")
    c.add_argument("--state", action="append", choices=STATES, help="only this state (repeatable)")
    c.add_argument("--account", help="only this reporter account (e.g. tg:10000)")
    c.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    c = add("show", "one case with its history and audit trail")
    c.add_argument("id")
    c = add("dispatch", "dispatch (or re-assign) a case to a department")
    c.add_argument("id")
    c.add_argument("--department", help="default: the case's current or catalogue department")
    c.add_argument("--note", default="")
    c = add("status", "move a case to a state (e.g. in_progress)")
    c.add_argument("id")
    c.add_argument("state", choices=[s for s in STATES if s not in ("duplicate", "rated")])
    c.add_argument("--note", default="")
    c = add("resolve", "mark a case handled, with result photos (uploaded to the hub first)")
    c.add_argument("id")
    c.add_argument("--photo", nargs="+", default=[], metavar="PATH", help="result photo file(s)")
    c.add_argument("--note", default="")
    c = add("close", "close (核查结案) a resolved case; the citizen is asked to rate it")
    c.add_argument("id")
    c.add_argument("--note", default="")
    c = add("reclassify", "change a case's 小类 (re-routed, due time recomputed)")
    c.add_argument("id")
    c.add_argument("code", help="the new service_code, e.g. SZSS-01")
    c.add_argument("--note", default="")
    c = add("escalate", "raise a case's level 街道→区→市")
    c.add_argument("id")
    c.add_argument("--reason", required=True)
    c = add("reopen", "reopen a resolved/closed case (re-dispatched)")
    c.add_argument("id")
    c.add_argument("--reason", required=True)
    add("overdue", "cases past their time limit")
    add("triage", "cases filed without a place (待补充地点), oldest first")
    c = add("place", "set a case's place (completes a 待补充地点 case: then dispatched or linked)")
    c.add_argument("id")
    c.add_argument("--address", help="the place, e.g. 福田区福中三路88号门口")
    c.add_argument("--lat", type=float)
    c.add_argument("--long", type=float)
    c.add_argument("--note", default="")
    c = add("stats", "counts by 大类 and state, on-time rate, median handling time")
    c.add_argument("--since", help="ISO date/time")


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from citybot.settings import get_settings
    from hubapi.client import HubClient, HubError, HubRejected

    settings = get_settings()
    if args.hub_url:
        settings = settings.model_copy(update={"hub_url": args.hub_url})
    token = args.token if args.token is not None else settings.hub_staff_token
    if not token:
        print("citybot staff: no staff token (set HUB_STAFF_TOKEN or pass --token)", file=sys.stderr)
        return 2

    async def go():
        async with HubClient.from_settings(settings, staff_token=token) as hub:
            return await ACTIONS[args.staff_command](hub, args)

    try:
        result = asyncio.run(go())
    except HubRejected as exc:
        print(f"citybot staff {args.staff_command}: 平台拒绝 / rejected ({exc.status}): {exc.description}",
              file=sys.stderr)
        return 1
    except HubError as exc:
        print(f"citybot staff {args.staff_command}: {exc}", file=sys.stderr)
        return 1
    except UsageError as exc:
        print(f"citybot staff {args.staff_command}: {exc}", file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        print(json.dumps(_raw(result), ensure_ascii=False, indent=2))
    else:
        print(HUMAN[args.staff_command](result))
    return 0


def _raw(result):
    """The hub's JSON behind a typed answer (a case, a list of cases, or the stats dict)."""
    if isinstance(result, list):
        return [_raw(r) for r in result]
    return result.raw if isinstance(result, ServiceRequest) else result


class UsageError(Exception):
    """Bad input found before anything was sent (e.g. an unreadable photo)."""


# -- actions (each returns the hub's typed answer) ----------------------------------------------------------------------

async def _list(hub, args):
    return await hub.list_requests(state=args.state, account_id=args.account, limit=args.limit)


async def _show(hub, args):
    return await hub.case_detail(args.id)


async def _dispatch(hub, args):
    return await hub.dispatch(args.id, department=args.department, note=args.note, actor=args.actor)


async def _status(hub, args):
    return await hub.set_status(args.id, args.state, note=args.note, actor=args.actor)


async def _resolve(hub, args):
    photos = []
    for name in args.photo:  # read every file before uploading any: a typo loses nothing
        path = Path(name).expanduser()
        try:
            photos.append((path.name, path.read_bytes(), mimetypes.guess_type(path.name)[0]))
        except OSError as exc:
            raise UsageError(f"cannot read photo {path}: {exc.strerror or exc}") from None
    urls = [await hub.upload_media(data, filename, ctype) for filename, data, ctype in photos]
    return await hub.resolve(args.id, note=args.note, media_urls=urls, actor=args.actor)


async def _close(hub, args):
    return await hub.close(args.id, note=args.note, actor=args.actor)


async def _reclassify(hub, args):
    return await hub.reclassify(args.id, args.code, note=args.note, actor=args.actor)


async def _escalate(hub, args):
    return await hub.escalate(args.id, reason=args.reason, actor=args.actor)


async def _reopen(hub, args):
    return await hub.staff_reopen(args.id, reason=args.reason, actor=args.actor)


async def _overdue(hub, args):
    return await hub.overdue()


async def _triage(hub, args):
    return await hub.triage()


async def _place(hub, args):
    if not args.address and (args.lat is None or args.long is None):
        raise UsageError("give --address, or --lat and --long")
    return await hub.set_place(args.id, address=args.address, lat=args.lat, long=args.long, note=args.note,
                               actor=args.actor)


async def _stats(hub, args):
    return await hub.stats(args.since)


ACTIONS = {"list": _list, "show": _show, "dispatch": _dispatch, "status": _status, "resolve": _resolve,
           "close": _close, "reclassify": _reclassify, "escalate": _escalate, "reopen": _reopen,
           "overdue": _overdue, "stats": _stats, "triage": _triage, "place": _place}


# -- human-readable output ---------------------------------------------------------------------------------------

def _state(case: ServiceRequest) -> str:
    state = case.state or case.status or "?"
    text = f"{label(state)} ({state})" if state in STATES else state
    return text + ("  ⚠超期" if case.overdue else "") + ("  ⚠待补充地点" if case.needs_place else "")


def _time(value) -> str:
    return str(value.isoformat() if hasattr(value, "isoformat") else value or "-").replace("T", " ")[:16]


def _row(case: ServiceRequest) -> str:
    return (f"{case.service_request_id}  {_state(case):<22} {case.service_name or '-'}  "
            f"{case.address or '-'}  → {case.agency_responsible or '-'}")


def _case(case: ServiceRequest) -> str:
    lines = [
        f"案件 {case.service_request_id}  {_state(case)}",
        f"  类别 category   {case.group or '-'} / {case.service_name or '-'} ({case.service_code})",
        f"  地点 address    {case.address or '-'}" + (f"  ({case.lat}, {case.long})" if case.lat is not None else ""),
        f"  描述 description {case.description or '-'}",
        f"  部门 department {case.agency_responsible or '-'}   级别 level {case.level or '-'}"
        f"   优先 priority {case.priority or '-'}",
        f"  立案 received   {_time(case.requested_datetime)}   时限 due {_time(case.expected_datetime)}",
    ]
    if case.media_url:
        lines.append(f"  市民照片 photo  {case.media_url}")
    if case.result_media_urls:
        lines.append("  处理照片 result " + " ".join(case.result_media_urls))
    if case.duplicate_of:
        lines.append(f"  并入 merged into {case.duplicate_of}")
    if case.rating is not None:
        lines.append(f"  评价 rating     {case.rating}分")
    if case.status_notes:
        lines.append(f"  备注 notes      {case.status_notes}")
    return "\n".join(lines)


def _detail(case: StaffCase) -> str:
    lines = [_case(case)]
    if case.account_id:
        lines.insert(1, f"  反映人 reporter {case.account_id}  {case.reporter.name or ''}".rstrip())
    if case.updates:
        lines.append("  进展 history:")
        lines += [f"    {_time(u.updated_datetime)}  {u.kind}: {u.description or ''}"
                  + (f"  {' '.join(u.result_media_urls)}" if u.result_media_urls else "")
                  for u in case.updates]
    if case.audit:
        lines.append("  审计 audit:")
        lines += [f"    {_time(a.at)}  {a.principal}{' / ' + a.actor if a.actor else ''}  "
                  f"{a.action}{'：' + a.reason if a.reason else ''}" for a in case.audit]
    return "\n".join(lines)


def _list_text(cases: list[ServiceRequest]) -> str:
    return "\n".join(_row(c) for c in cases) if cases else "（没有案件 no cases）"


def _done(verb: str):
    return lambda case: f"{verb}：\n{_case(case)}"


def _stats_text(s: dict) -> str:
    lines = [f"案件总数 total {s.get('total', 0)}   超期 overdue {s.get('overdue', 0)}   "
             f"按时率 on-time {s.get('on_time_rate')}   处置时长中位数 median hours {s.get('median_handling_hours')}"]
    by_state = s.get("by_state") or {}
    if by_state:
        lines.append("按状态 by state: " + ", ".join(f"{label(k)} {v}" for k, v in by_state.items()))
    for group, states in (s.get("by_group") or {}).items():
        lines.append(f"  {group}: " + ", ".join(f"{label(k)} {v}" for k, v in states.items()))
    return "\n".join(lines)


HUMAN = {
    "list": _list_text, "show": _detail, "dispatch": _done("已派遣 dispatched"), "status": _done("状态已更新 updated"),
    "resolve": _done("已处理反馈 resolved"), "close": _done("已核查结案 closed"),
    "reclassify": _done("已重新分类 reclassified"), "escalate": _done("已升级 escalated"),
    "reopen": _done("已重新处理 reopened"), "overdue": _list_text, "stats": _stats_text, "triage": _list_text,
    "place": _done("已补充地点 place set"),
}
