"""Who may use the staff commands: the staff users table, the router gate (`StaffFilter`) and `may`.

A staff user is a Telegram user id with a role (operator < supervisor < admin, as the hub's tokens), a level
(街道, 区, 市) and a department ('' = every department). The bot acts at the hub with its own staff token (a 市
admin by default), so it checks each action here first, with the same rule as the hub (`hubapi.roles.staff_may`),
against the case's level and department; the hub's audit trail records the person as `actor`.

Functions take a keyword-only `session=` and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiogram.filters import BaseFilter
from aiogram.types import CallbackQuery, Message, TelegramObject, User
from sqlalchemy import BigInteger
from sqlmodel import Field, Session, SQLModel, select

from citybot.catalogue import LEVELS
from hubapi.roles import ROLES, Staff, staff_may

log = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class StaffUser(SQLModel, table=True):
    __tablename__ = "citybot_staff_user"

    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(unique=True, index=True, sa_type=BigInteger)  # Telegram ids exceed 2^31
    name: str = Field(default="", max_length=64)  # display name, shown in the audit trail
    role: str = Field(default="operator", max_length=16)
    level: str = Field(default="街道", max_length=8)
    department: str = Field(default="", max_length=64)  # '' = every department
    active: bool = Field(default=True)
    created_at: dt.datetime = Field(default_factory=_now)
    updated_at: dt.datetime = Field(default_factory=_now)


@dataclass(frozen=True)
class StaffMember:
    """A staff user as handlers see it (detached from any session)."""

    telegram_user_id: int
    name: str
    role: str
    level: str
    department: str = ""

    @property
    def actor(self) -> str:
        """Who did it, for the hub's audit trail."""
        return f"tg:{self.telegram_user_id} {self.name}".strip()

    @property
    def as_hub_staff(self) -> Staff:
        return Staff(self.role, self.level, self.department)

    @classmethod
    def of(cls, row: StaffUser) -> StaffMember:
        return cls(int(row.telegram_user_id), row.name, row.role, row.level, row.department)


class StaffConfigError(ValueError):
    """A bad role, level or field for a staff user; the message says which, in Chinese."""


def _check(role: str | None, level: str | None, name: str | None = None, department: str | None = None) -> None:
    if role is not None and role not in ROLES:
        raise StaffConfigError(f"角色必须是 {'、'.join(ROLES)} 之一，而不是“{role}”")
    if level is not None and level not in LEVELS:
        raise StaffConfigError(f"层级必须是 {'、'.join(LEVELS)} 之一，而不是“{level}”")
    if name is not None and len(name) > 64:
        raise StaffConfigError("姓名最多 64 个字符")
    if department is not None and len(department) > 64:
        raise StaffConfigError("部门最多 64 个字符")


def get(telegram_user_id: int, *, session: Session) -> StaffUser | None:
    return session.exec(select(StaffUser).where(StaffUser.telegram_user_id == int(telegram_user_id))).first()


def add(telegram_user_id: int, *, session: Session, role: str = "operator", level: str = "街道",
        department: str = "", name: str = "") -> StaffUser:
    """A new staff user; StaffConfigError if the id is already there or a field is bad."""
    _check(role, level, name, department)
    if get(telegram_user_id, session=session) is not None:
        raise StaffConfigError(f"用户 {telegram_user_id} 已是工作人员（用 set 修改）")
    row = StaffUser(telegram_user_id=int(telegram_user_id), role=role, level=level, department=department.strip(),
                    name=name.strip())
    session.add(row)
    session.flush()
    return row


def update(telegram_user_id: int, *, session: Session, role: str | None = None, level: str | None = None,
           department: str | None = None, name: str | None = None, active: bool | None = None) -> StaffUser:
    """Change the given fields (None = keep); StaffConfigError if there is no such user or a field is bad."""
    _check(role, level, name, department)
    row = get(telegram_user_id, session=session)
    if row is None:
        raise StaffConfigError(f"没有 Telegram 用户 {telegram_user_id} 这个工作人员")
    for key, value in (("role", role), ("level", level), ("department", department), ("name", name),
                       ("active", active)):
        if value is not None:
            setattr(row, key, value.strip() if isinstance(value, str) else value)
    row.updated_at = _now()
    session.add(row)
    session.flush()
    return row


def remove(telegram_user_id: int, *, session: Session) -> bool:
    """Delete the staff user; True when there was one."""
    row = get(telegram_user_id, session=session)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def list_users(*, session: Session, active_only: bool = False) -> list[StaffUser]:
    q = select(StaffUser)
    if active_only:
        q = q.where(StaffUser.active == True)  # noqa: E712
    return list(session.exec(q.order_by(StaffUser.telegram_user_id)))


def parse_seed(text: str) -> list[dict]:
    """STAFF_USERS 'user_id:role:level:department:name,...' -> add() keyword dicts. ValueError on a bad entry."""
    out = []
    for item in filter(None, (x.strip() for x in (text or "").split(","))):
        parts = [p.strip() for p in item.split(":", 4)] + ["", "", "", ""]
        uid, role, level, department, name = parts[:5]
        if not uid.lstrip("-").isdigit():
            raise ValueError(f"bad staff_users entry {item[:20]!r}: the first field must be a Telegram user id")
        role, level = role or "operator", level or "街道"
        if role not in ROLES or level not in LEVELS:
            raise ValueError(f"bad staff_users entry for {uid}: role one of {ROLES}, level one of {LEVELS}")
        out.append(dict(telegram_user_id=int(uid), role=role, level=level, department=department, name=name))
    return out


def seed(text: str, *, session: Session) -> int:
    """Add the seeded users that are not in the table yet (idempotent; the table, edited by the CLI, wins)."""
    added = 0
    for entry in parse_seed(text):
        if get(entry["telegram_user_id"], session=session) is None:
            add(session=session, **entry)
            added += 1
    return added


def parse_chats(text: str) -> dict[str, int]:
    """STAFF_CHATS '市:-1001,区:-1002,街道:-1003' -> {level: chat id}. ValueError on a bad entry."""
    out: dict[str, int] = {}
    for item in filter(None, (x.strip() for x in (text or "").split(","))):
        level, _, chat = item.partition(":")
        level, chat = level.strip(), chat.strip()
        if level not in LEVELS or not chat.lstrip("-").isdigit():
            raise ValueError(f"bad staff_chats entry {item[:30]!r}: expected <level>:<chat id>, level one of {LEVELS}")
        out[level] = int(chat)
    return out


def staff_chat_ids(settings) -> frozenset[int]:
    try:
        return frozenset(parse_chats(getattr(settings, "staff_chats", "") or "").values())
    except ValueError:
        log.error("STAFF_CHATS is malformed; no group chat is a staff chat")
        return frozenset()


def lookup(engine, telegram_user_id: int) -> StaffMember | None:
    """The active staff member with this Telegram user id, or None."""
    with Session(engine) as s:
        row = get(telegram_user_id, session=s)
        return StaffMember.of(row) if row is not None and row.active else None


def _chat_of(event: TelegramObject):
    if isinstance(event, Message):
        return event.chat
    if isinstance(event, CallbackQuery) and event.message is not None:
        return event.message.chat
    return None


def chat_allowed(event: TelegramObject, settings) -> bool:
    """Staff commands work in private chats with the bot and in the configured staff chats."""
    chat = _chat_of(event)
    if chat is None:
        return False
    return chat.type == "private" or int(chat.id) in staff_chat_ids(settings)


class StaffFilter(BaseFilter):
    """Passes when the sender is an active staff user, in a private chat or a configured staff chat; it then
    injects `staff` (a StaffMember) into the handler's keyword arguments."""

    async def __call__(self, event: TelegramObject, engine=None, settings=None,
                       event_from_user: User | None = None) -> bool | dict[str, Any]:
        if engine is None or event_from_user is None:
            return False
        if settings is not None and not chat_allowed(event, settings):
            return False
        member = lookup(engine, event_from_user.id)
        return {"staff": member} if member is not None else False


def _case_field(case: Any, name: str) -> Any:
    return case.get(name) if isinstance(case, Mapping) else getattr(case, name, None)


def may(staff: StaffMember | StaffUser | Staff, action: str, case: Any = None) -> bool:
    """May `staff` do `action` (hubapi.roles.ACTION_ROLE keys) on `case` (a hub case dict or ServiceRequest; None for
    an action on no case)? The hub's own rule, with the case's level and department."""
    hub_staff = staff if isinstance(staff, Staff) else Staff(staff.role, staff.level, staff.department or "")
    if case is None:
        return staff_may(hub_staff, action)
    return staff_may(hub_staff, action, case_level=_case_field(case, "level"),
                     case_department=_case_field(case, "agency_responsible"))
