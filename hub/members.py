"""Staff members registered at the hub (hub_staff_member): the people a channel acts for.

Managed through the staff API (`/staff/v1/members`, an admin's token; `citybot staff-users`), seeded from
`STAFF_USERS` at start-up (missing members only: the table wins). Functions take a keyword-only `session=`.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from citybot.catalogue import LEVELS
from hub import limits as L
from hub.auth import MEMBER_ID
from hubapi.roles import ROLES
from hub.models import StaffMember

FIELDS = ("name", "role", "level", "department", "active")


class MemberError(ValueError):
    """A bad field; the message says which."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def check(*, member_id: str | None = None, role: str | None = None, level: str | None = None,
          name: str | None = None, department: str | None = None) -> None:
    if member_id is not None and not MEMBER_ID.match(member_id):
        raise MemberError("member_id must be <channel>:<id>, e.g. tg:123456789")
    if role is not None and role not in ROLES:
        raise MemberError(f"role must be one of {', '.join(ROLES)}")
    if level is not None and level not in LEVELS:
        raise MemberError(f"level must be one of {', '.join(LEVELS)}")
    if name is not None and len(name) > L.MEMBER_NAME:
        raise MemberError(f"name is longer than {L.MEMBER_NAME} characters")
    if department is not None and len(department) > L.DEPARTMENT:
        raise MemberError(f"department is longer than {L.DEPARTMENT} characters")


def get(member_id: str, *, session: Session) -> StaffMember | None:
    return session.get(StaffMember, member_id)


def listing(*, session: Session, channel: str | None = None) -> list[StaffMember]:
    q = select(StaffMember)
    if channel:
        q = q.where(StaffMember.member_id.startswith(f"{channel}:", autoescape=True))
    return list(session.exec(q.order_by(StaffMember.member_id)))


def add(member_id: str, *, session: Session, role: str = "operator", level: str = "街道", department: str = "",
        name: str = "", active: bool = True) -> StaffMember:
    check(member_id=member_id, role=role, level=level, name=name, department=department)
    now = _now()
    row = StaffMember(member_id=member_id, role=role, level=level, department=department.strip(), name=name.strip(),
                      active=active, created_at=now, updated_at=now)
    session.add(row)
    return row


def update(row: StaffMember, changes: dict) -> StaffMember:
    check(**{k: v for k, v in changes.items() if k in ("role", "level", "name", "department")})
    for key, value in changes.items():
        if key in FIELDS and value is not None:
            setattr(row, key, value.strip() if isinstance(value, str) else value)
    row.updated_at = _now()
    return row


def parse_seed(text: str, channel: str = "tg") -> list[dict]:
    """STAFF_USERS 'user_id:role:level:department:name,...' -> add() keyword dicts. ValueError on a bad entry."""
    out = []
    for item in filter(None, (x.strip() for x in (text or "").split(","))):
        parts = [p.strip() for p in item.split(":", 4)] + ["", "", "", ""]
        uid, role, level, department, name = parts[:5]
        if not uid.lstrip("-").isascii() or not uid.lstrip("-").isdigit():
            raise ValueError(f"bad staff_users entry {item[:20]!r}: the first field must be a Telegram user id")
        role, level = role or "operator", level or "街道"
        if role not in ROLES or level not in LEVELS:
            raise ValueError(f"bad staff_users entry for {uid}: role one of {ROLES}, level one of {LEVELS}")
        out.append(dict(member_id=f"{channel}:{int(uid)}", role=role, level=level, department=department, name=name))
    return out


def seed(text: str, *, session: Session) -> int:
    """Add the seeded members that are not registered yet (idempotent; the table, edited by the API, wins)."""
    added = 0
    for entry in parse_seed(text):
        if get(entry["member_id"], session=session) is None:
            add(session=session, **entry)
            added += 1
    return added


def as_dict(row: StaffMember) -> dict:
    return {"member_id": row.member_id, "name": row.name, "role": row.role, "level": row.level,
            "department": row.department, "active": row.active,
            "created_at": row.created_at.isoformat() if row.created_at else None,
            "updated_at": row.updated_at.isoformat() if row.updated_at else None}
