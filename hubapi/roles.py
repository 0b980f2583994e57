"""Staff roles and levels, and who may do what to which case: the rule the hub enforces and channels show.

A staff member has a role (operator < supervisor < admin), a level (街道 < 区 < 市) and optionally a department.
They may act on a case when their role is high enough for the action and the case is at or below their level
and, when they have a department, assigned to it (a case assigned to no department is not theirs). A 市 admin
may do everything. Ending a case for good (cancel, refer, merge) is a supervisor's decision.

The hub enforces this rule; channels may use it only to explain a refusal before asking.
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
    "refer": "supervisor", "members": "admin",
}
ACTION_LABELS = {
    "read": "查看", "dispatch": "派遣", "status": "变更状态", "resolve": "处理反馈", "close": "结案",
    "reclassify": "重新分类", "escalate": "督办升级", "merge": "合并", "reopen": "重新处理", "sweep": "超期检查",
    "cancel": "撤销", "refer": "转办", "set_place": "补充地点", "file": "立案", "create": "立案", "rate": "评价",
    "comment": "补充信息", "members": "管理工作人员",
}
# The action a move to each state is (POST /staff/v1/requests/{id}/status); states not here are "status".
STATE_ACTION = {"dispatched": "dispatch", "resolved": "resolve", "closed": "close", "reopened": "reopen",
                "duplicate": "merge", "cancelled": "cancel", "referred": "refer"}

__all__ = ["ACTION_LABELS", "ACTION_ROLE", "LEVELS", "ROLES", "ROLE_LABELS", "STATE_ACTION", "Staff", "action_for_state",
           "staff_may"]

_NO_CASE = object()


@dataclass(frozen=True)
class Staff:
    role: str
    level: str
    department: str = ""

    @property
    def name(self) -> str:
        return f"staff:{self.role}:{self.level}:{self.department}"


def action_for_state(state: str) -> str:
    """The action moving a case to `state` is (what ACTION_ROLE rates)."""
    return STATE_ACTION.get(state, "status")


def staff_may(staff: Staff, action: str, *, case_level=_NO_CASE, case_department=_NO_CASE) -> bool:
    """Role high enough for the action, and the case within the staff member's level and department.

    Without `case_level`/`case_department` only the role is judged (an action on no case). With them, a case
    with no level is judged at the top level, and a staff member with a department may act only on a case
    assigned to that department (none is not theirs)."""
    if staff.role == "admin" and staff.level == LEVELS[-1]:
        return True
    if ROLES.index(staff.role) < ROLES.index(ACTION_ROLE.get(action, "admin")):
        return False
    if case_level is not _NO_CASE:
        level = case_level if case_level in LEVELS else LEVELS[-1]
        if LEVELS.index(staff.level) < LEVELS.index(level):
            return False
    if case_department is not _NO_CASE and staff.department and staff.department != (case_department or ""):
        return False
    return True
