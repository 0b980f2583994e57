"""Staff roles and levels, and who may do what to which case: the rule the hub enforces and channels show.

A staff member has a role (operator < supervisor < admin), a level (街道 < 区 < 市) and optionally a department.
They may act on a case when their role is high enough for the action and the case is at or below their level
and, when they have a department, assigned to it. A 市 admin may do everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from citybot.catalogue import LEVELS

ROLES = ("operator", "supervisor", "admin")
ROLE_LABELS = {"operator": "操作员", "supervisor": "督办员", "admin": "管理员"}
# The least role each staff action needs.
ACTION_ROLE = {
    "read": "operator", "status": "operator", "resolve": "operator", "set_place": "operator",
    "dispatch": "supervisor", "close": "supervisor", "reclassify": "supervisor", "escalate": "supervisor",
    "merge": "supervisor", "reopen": "supervisor", "sweep": "supervisor", "cancel": "supervisor",
    "refer": "supervisor",
}
ACTION_LABELS = {
    "read": "查看", "dispatch": "派遣", "status": "变更状态", "resolve": "处理反馈", "close": "结案",
    "reclassify": "重新分类", "escalate": "督办升级", "merge": "合并", "reopen": "重新处理", "sweep": "超期检查",
    "cancel": "撤销", "refer": "转办", "set_place": "补充地点", "file": "立案", "create": "立案", "rate": "评价", "comment": "补充信息",
}

__all__ = ["ACTION_LABELS", "ACTION_ROLE", "LEVELS", "ROLES", "ROLE_LABELS", "Staff", "staff_may"]


@dataclass(frozen=True)
class Staff:
    role: str
    level: str
    department: str = ""

    @property
    def name(self) -> str:
        return f"staff:{self.role}:{self.level}:{self.department}"


def staff_may(staff: Staff, action: str, *, case_level: str | None = None, case_department: str | None = None) -> bool:
    """Role high enough for the action, and the case within the staff member's level and department."""
    if staff.role == "admin" and staff.level == LEVELS[-1]:
        return True
    if ROLES.index(staff.role) < ROLES.index(ACTION_ROLE.get(action, "admin")):
        return False
    if case_level is not None and LEVELS.index(staff.level) < LEVELS.index(case_level):
        return False
    if staff.department and case_department is not None and staff.department != case_department:
        return False
    return True
