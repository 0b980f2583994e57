"""Who may call the hub: Open311 api_keys for citizens' clients, bearer tokens for staff. One place for the checks."""

from __future__ import annotations

from hubapi.roles import ACTION_ROLE, LEVELS, ROLES, Staff, staff_may  # noqa: F401  (the interface's rule)


class AuthError(Exception):
    pass


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
