"""`citybot staff-users add|set|remove|list`: who may use the staff commands in Telegram (citybot's database)."""

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

    p = sub.add_parser("staff-users", help="manage the Telegram staff users (roles, levels, departments)",
                       description="Staff users of the Telegram bot, by Telegram user id. Roles: operator < "
                                   "supervisor < admin; levels: 街道 < 区 < 市; department empty = all departments.")
    p.add_argument("--database-url", help="citybot's database (default: settings.resolved_database_url)")
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
    p.set_defaults(func=_run, _parser=p)


def _row(row) -> dict:
    return {"telegram_user_id": row.telegram_user_id, "name": row.name, "role": row.role, "level": row.level,
            "department": row.department, "active": row.active, "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat()}


def _run(args: argparse.Namespace) -> int:
    import json

    from sqlmodel import Session

    from bot.staff import access
    from citybot.db import create_tables, make_engine
    from citybot.settings import get_settings

    if not args.staff_action:
        args._parser.print_help()
        return 2
    engine = make_engine(args.database_url or get_settings().resolved_database_url)
    create_tables(engine)
    try:
        with Session(engine) as s:
            if args.staff_action == "list":
                for row in access.list_users(session=s):
                    print(json.dumps(_row(row), ensure_ascii=False))
                return 0
            if args.staff_action == "add":
                row = access.add(args.user_id, session=s, role=args.role, level=args.level,
                                 department=args.department, name=args.name)
            elif args.staff_action == "set":
                row = access.update(args.user_id, session=s, role=args.role, level=args.level,
                                    department=args.department, name=args.name, active=args.active)
            else:
                if not access.remove(args.user_id, session=s):
                    print(f"citybot staff-users: no staff user {args.user_id}", file=sys.stderr)
                    return 1
                s.commit()
                print(json.dumps({"removed": args.user_id}))
                return 0
            out = _row(row)
            s.commit()
    except access.StaffConfigError as exc:
        print(f"citybot staff-users: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(out, ensure_ascii=False))
    return 0
