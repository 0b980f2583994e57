"""Who may call the hub, and as whom: the one place for the checks.

- Open311 api_keys (`HUB_API_KEYS`, `client:key`): a citizens' client. Cases remember the client that filed
  them; account-linked reads (account_id, tokens) answer a client only its own cases.
- Staff tokens (`HUB_STAFF_TOKENS`, `token:role:level:department`): a person or tool acting as itself.
- Channel tokens (`HUB_CHANNEL_TOKENS`, `token:channel`): a channel that acts for the staff members registered at
  the hub under its name (hub_staff_member, ids `<channel>:<id>`). It names the member in `X-Acting-Staff`; the
  hub looks them up and applies their role, level and department, and the audit trail records them. Without a
  member a channel may only read (its staff alerts).

The rule itself (`staff_may`) is the interface's (hubapi/roles.py).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from hubapi.roles import ACTION_ROLE, LEVELS, ROLES, Staff, staff_may  # noqa: F401  (the interface's rule)

ACTING_HEADER = "X-Acting-Staff"
MEMBER_ID = re.compile(r"^[a-z][a-z0-9_]{0,15}:[A-Za-z0-9_.@-]{1,63}$")
_CLIENT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class AuthError(Exception):
    pass


def parse_api_keys(text: str) -> dict[str, str]:
    """'client:key,key2,...' -> {key: client}. A bare key is its own client (named by a digest of the key, so
    that no key is ever stored with a case); name the client to keep its cases across a key change."""
    out: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in (text or "").split(","))):
        client, _, key = item.rpartition(":")
        key = key.strip()
        client = client.strip() or "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]
        if not key or not _CLIENT.match(client):
            raise ValueError(f"bad HUB_API_KEYS entry {item[:6]}…: expected client:key (client: letters, digits, _.-)")
        out[key] = client
    return out


def parse_staff_tokens(text: str) -> dict[str, Staff]:
    """'token:role:level:department,...' -> {token: Staff}. A 市 admin may do everything."""
    out: dict[str, Staff] = {}
    for item in filter(None, (x.strip() for x in text.split(","))):
        parts = item.split(":", 3) + ["", "", ""]
        token, role, level, department = parts[0], parts[1] or "operator", parts[2] or "街道", parts[3]
        if role not in ROLES or level not in LEVELS or not token:
            raise ValueError(f"bad staff token entry {token[:4]}…: role must be one of {ROLES}, level one of {LEVELS}")
        out[token] = Staff(role, level, department.strip())
    return out


def parse_channel_tokens(text: str) -> dict[str, str]:
    """'token:channel,...' -> {token: channel}; the channel names its members' ids (`tg` -> tg:<user id>)."""
    out: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in (text or "").split(","))):
        token, _, channel = item.partition(":")
        token, channel = token.strip(), channel.strip()
        if not token or not re.fullmatch(r"[a-z][a-z0-9_]{0,15}", channel):
            raise ValueError(f"bad HUB_CHANNEL_TOKENS entry {token[:4]}…: expected token:channel (e.g. token:tg)")
        out[token] = channel
    return out


@dataclass(frozen=True)
class Credentials:
    """The hub's credentials, parsed once at start-up."""

    api_keys: dict[str, str]
    staff_tokens: dict[str, Staff]
    channel_tokens: dict[str, str]

    @classmethod
    def from_settings(cls, settings) -> Credentials:
        creds = cls(parse_api_keys(settings.hub_api_keys), parse_staff_tokens(settings.hub_staff_tokens),
                    parse_channel_tokens(settings.hub_channel_tokens))
        shared = set(creds.staff_tokens) & set(creds.channel_tokens)
        if shared:
            raise ValueError("a token is both a staff token and a channel token; give each its own")
        return creds


@dataclass(frozen=True)
class Caller:
    """Who calls the staff API, resolved from the bearer token (and, for a channel, the member it names).

    `staff` is whose permission applies; `principal` and `actor` go to the audit trail (`actor` None: the
    caller's own free text is taken, as a staff token's); `read_only` for a channel acting for nobody."""

    staff: Staff
    principal: str
    actor: str | None = None
    channel: str | None = None
    member_id: str | None = None
    read_only: bool = False

    def may(self, action: str, case=None) -> bool:
        if self.read_only and action != "read":
            return False
        if case is None:
            return staff_may(self.staff, action)
        return staff_may(self.staff, action, case_level=case.level, case_department=case.agency_responsible)


def token_caller(staff: Staff) -> Caller:
    return Caller(staff, staff.name)


def channel_caller(channel: str) -> Caller:
    """A channel token without a member: it may read every case (its alerts) and look its members up."""
    return Caller(Staff("operator", LEVELS[-1], ""), f"channel:{channel}", channel=channel, read_only=True)


def member_caller(channel: str, member) -> Caller:
    """A channel acting for a registered member: the member's role, level and department apply."""
    staff = Staff(member.role, member.level, member.department or "")
    return Caller(staff, f"member:{member.member_id}", actor=f"{member.member_id} {member.name}".strip()[:128],
                  channel=channel, member_id=member.member_id)


def may_manage(caller: Caller, member_level: str, member_department: str) -> bool:
    """May `caller` add, change or remove a member of this level and department? An admin, for members at or
    below their level and (when they have a department) of their department only."""
    if caller.read_only or not staff_may(caller.staff, "members"):
        return False
    s = caller.staff
    if s.role == "admin" and s.level == LEVELS[-1]:
        return True
    if LEVELS.index(member_level) > LEVELS.index(s.level):
        return False
    return not s.department or (member_department or "") == s.department
