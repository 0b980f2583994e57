"""Who may use the staff commands: the hub's staff members, the router gate (`StaffFilter`) and `may`.

Staff members are registered at the hub (`citybot staff-users`, an admin's token; or STAFF_USERS, which the hub
seeds at start-up), as `tg:<Telegram user id>` with a role (operator < supervisor < admin), a level (街道, 区, 市)
and a department ('' = every department). The bot calls the hub with its channel token acting for the member
(`HubClient.on_behalf_of`): the hub applies the member's role, level and department and records them in the
audit trail. The hub decides; `may` here only explains a refusal before asking (with the hub's own rule,
`hubapi.roles.staff_may`).

Who is staff is asked of the hub and remembered for `CACHE_S` seconds per user (also that someone is not), so a
citizen's messages cost the hub one lookup a minute; a change made with the CLI shows within that time (the hub
enforces it at once).
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiogram.filters import BaseFilter
from aiogram.types import CallbackQuery, Message, TelegramObject, User

from citybot.catalogue import LEVELS
from hubapi.client import HubClient, HubError
from hubapi.roles import Staff, staff_may

log = logging.getLogger(__name__)

CHANNEL = "tg"  # the bot's members at the hub are tg:<Telegram user id>
CACHE_S = 60.0
ERROR_CACHE_S = 10.0  # after a failed lookup, do not ask again (for that user) for this long


def member_id(telegram_user_id: int) -> str:
    return f"{CHANNEL}:{int(telegram_user_id)}"


@dataclass(frozen=True)
class StaffMember:
    """A staff member as handlers see it."""

    telegram_user_id: int
    name: str
    role: str
    level: str
    department: str = ""

    @property
    def member_id(self) -> str:
        return member_id(self.telegram_user_id)

    @property
    def actor(self) -> str:
        """Who did it, as the hub's audit trail records it."""
        return f"{self.member_id} {self.name}".strip()

    @property
    def as_hub_staff(self) -> Staff:
        return Staff(self.role, self.level, self.department)

    @classmethod
    def of(cls, d: Mapping) -> StaffMember:
        """From the hub's member JSON."""
        return cls(int(str(d["member_id"]).partition(":")[2]), d.get("name") or "", d.get("role") or "operator",
                   d.get("level") or LEVELS[0], d.get("department") or "")


class LookupFailed(Exception):
    """The hub could not say whether someone is staff (it is unreachable)."""


class StaffDirectory:
    """The hub's answer to "is this Telegram user an active staff member?", remembered for a while."""

    def __init__(self, hub: HubClient, ttl: float = CACHE_S, clock=time.monotonic):
        self.hub, self.ttl, self.clock = hub, ttl, clock
        self._seen: dict[int, tuple[float, StaffMember | None]] = {}  # user id -> (until, member or None)

    async def lookup(self, telegram_user_id: int) -> StaffMember | None:
        """The active staff member, or None; LookupFailed when the hub cannot tell and nothing is remembered."""
        now = self.clock()
        known = self._seen.get(telegram_user_id)
        if known is not None and known[0] > now:
            return known[1]
        try:
            found = await self.hub.member(member_id(telegram_user_id))
        except HubError as exc:
            log.warning("staff lookup failed: %s", type(exc).__name__)
            if known is not None:  # keep the last answer a little longer
                self._seen[telegram_user_id] = (now + ERROR_CACHE_S, known[1])
                return known[1]
            raise LookupFailed() from None
        member = StaffMember.of(found) if found and found.get("active") else None
        self._seen[telegram_user_id] = (now + self.ttl, member)
        if len(self._seen) > 50_000:
            self._seen = {k: v for k, v in self._seen.items() if v[0] > now}
        return member

    def forget(self, telegram_user_id: int | None = None) -> None:
        if telegram_user_id is None:
            self._seen.clear()
        else:
            self._seen.pop(telegram_user_id, None)


_directories: weakref.WeakKeyDictionary[HubClient, StaffDirectory] = weakref.WeakKeyDictionary()


def directory(hub: HubClient) -> StaffDirectory:
    """The directory of this hub client (one per client, made on first use)."""
    found = _directories.get(hub)
    if found is None:
        found = _directories[hub] = StaffDirectory(hub)
    return found


async def lookup(hub: HubClient, telegram_user_id: int) -> StaffMember | None:
    return await directory(hub).lookup(telegram_user_id)


def parse_chats(text: str) -> dict[str, int]:
    """STAFF_CHATS '市:-1001,区:-1002,街道:-1003' -> {level: chat id}. ValueError on a bad entry."""
    out: dict[str, int] = {}
    for item in filter(None, (x.strip() for x in (text or "").split(","))):
        level, _, chat = item.partition(":")
        level, chat = level.strip(), chat.strip()
        if level not in LEVELS or not chat.lstrip("-").isascii() or not chat.lstrip("-").isdigit():
            raise ValueError(f"bad staff_chats entry {item[:30]!r}: expected <level>:<chat id>, level one of {LEVELS}")
        out[level] = int(chat)
    return out


def staff_chat_ids(settings) -> frozenset[int]:
    try:
        return frozenset(parse_chats(getattr(settings, "staff_chats", "") or "").values())
    except ValueError:
        log.error("STAFF_CHATS is malformed; no group chat is a staff chat")
        return frozenset()


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
    """Passes when the sender is an active staff member at the hub, in a private chat or a configured staff chat.
    It then injects `staff` (a StaffMember) and replaces `hub` with the client acting for that member, so that
    every call a staff handler makes is made as that member."""

    async def __call__(self, event: TelegramObject, hub: HubClient | None = None, settings=None,
                       event_from_user: User | None = None) -> bool | dict[str, Any]:
        if hub is None or event_from_user is None:
            return False
        if settings is not None and not chat_allowed(event, settings):
            return False
        try:
            member = await lookup(hub, event_from_user.id)
        except LookupFailed:
            return False
        if member is None:
            return False
        return {"staff": member, "hub": hub.on_behalf_of(member.member_id)}


def _case_field(case: Any, name: str) -> Any:
    return case.get(name) if isinstance(case, Mapping) else getattr(case, name, None)


def may(staff: StaffMember | Staff, action: str, case: Any = None) -> bool:
    """Would the hub let `staff` do `action` (hubapi.roles.ACTION_ROLE keys) on `case` (a hub case dict or
    ServiceRequest; None for an action on no case)? For explaining before asking: the hub decides."""
    hub_staff = staff if isinstance(staff, Staff) else Staff(staff.role, staff.level, staff.department or "")
    if case is None:
        return staff_may(hub_staff, action)
    return staff_may(hub_staff, action, case_level=_case_field(case, "level"),
                     case_department=_case_field(case, "agency_responsible"))
