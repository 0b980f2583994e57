"""Who may call the hub: Open311 api_keys for citizens' clients, bearer tokens for staff. One place for the checks."""

from __future__ import annotations

from dataclasses import dataclass

from citybot.catalogue import LEVELS

ROLES = ("operator", "supervisor", "admin")
# The least role each staff action needs.
ACTION_ROLE = {
    "read": "operator", "status": "operator", "resolve": "operator", "set_place": "operator",
    "dispatch": "supervisor", "close": "supervisor", "reclassify": "supervisor", "escalate": "supervisor",
    "merge": "supervisor", "reopen": "supervisor", "sweep": "supervisor",
}


class AuthError(Exception):
    pass


@dataclass(frozen=True)
class Staff:
    role: str
    level: str
    department: str = ""

    @property
    def name(self) -> str:
        return f"staff:{self.role}:{self.level}:{self.department}"


def parse_api_keys(text: str) -> frozenset[str]:
    return frozenset(k.strip() for k in text.split(",") if k.strip())


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


def staff_may(staff: Staff, action: str, *, case_level: str | None = None, case_department: str | None = None) -> bool:
    """Role high enough for the action, and the case within the staff member's level and department."""
    if staff.role == "admin" and staff.level == "市":
        return True
    if ROLES.index(staff.role) < ROLES.index(ACTION_ROLE.get(action, "admin")):
        return False
    if case_level is not None and LEVELS.index(staff.level) < LEVELS.index(case_level):
        return False
    if staff.department and case_department is not None and staff.department != case_department:
        return False
    return True
