"""`citybot staff-users add|set|remove|list|import-local`: the staff members the Telegram bot acts for, registered
at the hub (its staff API, with an admin's staff token: HUB_STAFF_TOKEN or --token)."""

from __future__ import annotations

import argparse
import sys


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on", "y"):
        return True
    if value in ("0", "false", "no", "off", "n"):
        return False
    raise argparse.ArgumentTypeError("expected true or false")


def register(sub: argparse._SubParsersAction) -> None:
    from citybot.catalogue import LEVELS
    from hubapi.roles import ROLES

    p = sub.add_parser("staff-users", help="manage the Telegram staff users (roles, levels, departments) at the hub",
                       description="Staff members of the Telegram bot, by Telegram user id, registered at the hub "
                                   "(HUB_URL) with an admin's staff token (HUB_STAFF_TOKEN). Roles: operator < "
                                   "supervisor < admin; levels: 街道 < 区 < 市; department empty = all departments.")
    p.add_argument("--hub-url", help="hub base URL (default: settings.hub_url)")
    p.add_argument("--token", help="an admin's staff token (default: settings.hub_staff_token)")
    acts = p.add_subparsers(dest="staff_action", metavar="ACTION")

    add = acts.add_parser("add", help="add a staff user")
    add.add_argument("user_id", type=int, help="Telegram user id")
    add.add_argument("--role", choices=ROLES, default="operator")
    add.add_argument("--level", choices=LEVELS, default="街道")
    add.add_argument("--department", default="", help="e.g. 环卫部门 (empty = all departments)")
    add.add_argument("--name", default="", help="display name for the audit trail, e.g. 张三")

    upd = acts.add_parser("set", help="change a staff user's fields")
    upd.add_argument("user_id", type=int)
    upd.add_argument("--role", choices=ROLES)
    upd.add_argument("--level", choices=LEVELS)
    upd.add_argument("--department", help="'' = all departments")
    upd.add_argument("--name")
    upd.add_argument("--active", type=_bool, help="true or false (inactive users are refused)")

    rm = acts.add_parser("remove", help="remove a staff user")
    rm.add_argument("user_id", type=int)

    acts.add_parser("list", help="list staff users as JSON lines")
    imp = acts.add_parser("import-local", help="register at the hub the staff users of citybot's own database "
                                               "(table citybot_staff_user, where earlier versions kept them)")
    imp.add_argument("--database-url", help="citybot's database (default: settings.resolved_database_url)")
    p.set_defaults(func=_run, _parser=p)


def _row(d: dict) -> dict:
    return {"telegram_user_id": int(str(d["member_id"]).partition(":")[2]), **d}


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from bot.staff.access import member_id
    from citybot.settings import get_settings
    from hubapi.client import HubClient, HubError, HubRejected

    if not args.staff_action:
        args._parser.print_help()
        return 2
    settings = get_settings()
    if args.hub_url:
        settings = settings.model_copy(update={"hub_url": args.hub_url})
    token = args.token if args.token is not None else settings.hub_staff_token

    async def go() -> list[dict]:
        async with HubClient.from_settings(settings, staff_token=token) as hub:
            if args.staff_action == "list":
                return [_row(m) for m in await hub.members()]
            if args.staff_action == "add":
                return [_row(await hub.add_member(member_id(args.user_id), role=args.role, level=args.level,
                                                  department=args.department, name=args.name))]
            if args.staff_action == "set":
                return [_row(await hub.update_member(member_id(args.user_id), role=args.role, level=args.level,
                                                     department=args.department, name=args.name,
                                                     active=args.active))]
            if args.staff_action == "remove":
                await hub.remove_member(member_id(args.user_id))
                return [{"removed": args.user_id}]
            return await _import_local(hub, args.database_url or settings.resolved_database_url)

    try:
        rows = asyncio.run(go())
    except HubRejected as exc:
        print(f"citybot staff-users {args.staff_action}: 平台拒绝 / rejected ({exc.status}): {exc.description}",
              file=sys.stderr)
        return 1
    except HubError as exc:
        print(f"citybot staff-users {args.staff_action}: {exc}", file=sys.stderr)
        return 1
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    return 0


async def _import_local(hub, database_url: str) -> list[dict]:
    """Each row of the old citybot_staff_user table registered at the hub unless it is there already."""
    from sqlalchemy import inspect, text

    from bot.staff.access import member_id
    from citybot.db import make_engine

    engine = make_engine(database_url)
    try:
        if not inspect(engine).has_table("citybot_staff_user"):
            return [{"imported": 0, "note": "no citybot_staff_user table"}]
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT telegram_user_id, name, role, level, department, active "
                                     "FROM citybot_staff_user ORDER BY telegram_user_id")).mappings().all()
    finally:
        engine.dispose()
    out, imported = [], 0
    for r in rows:
        mid = member_id(r["telegram_user_id"])
        if await hub.member(mid) is not None:
            out.append({"member_id": mid, "skipped": "already registered"})
            continue
        await hub.add_member(mid, role=r["role"], level=r["level"], department=r["department"] or "",
                             name=r["name"] or "", active=bool(r["active"]))
        imported += 1
        out.append({"member_id": mid, "imported": True})
    return out + [{"imported": imported}]
