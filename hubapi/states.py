"""Case states of the 数字城管 lifecycle, their Open311 status and their Chinese labels: THE one home.

received (立案) -> dispatched (派遣) -> in_progress (处置中) -> resolved (处理反馈) -> closed (核查结案)
-> rated (评价); plus cancelled, duplicate (合并), referred (转办, 非城管事项) and reopened (重新处理).
The hub enforces the transitions (hub/lifecycle.py); every channel reads states from here.
"""

from __future__ import annotations

RECEIVED, DISPATCHED, IN_PROGRESS, RESOLVED, CLOSED, RATED = (
    "received", "dispatched", "in_progress", "resolved", "closed", "rated")
CANCELLED, DUPLICATE, REFERRED, REOPENED = "cancelled", "duplicate", "referred", "reopened"

STATES = (RECEIVED, DISPATCHED, IN_PROGRESS, REOPENED, RESOLVED, CLOSED, RATED, DUPLICATE, CANCELLED, REFERRED)
# The Open311 status each state maps to.
OPEN_STATES = frozenset({RECEIVED, DISPATCHED, IN_PROGRESS, REOPENED, RESOLVED})
CLOSED_STATES = frozenset(STATES) - OPEN_STATES
# States in which the handling clock runs (a case in them past its due time is overdue).
ACTIVE_STATES = frozenset({RECEIVED, DISPATCHED, IN_PROGRESS, REOPENED})
# Handled: the citizen may rate it or say it was not fixed.
DONE_STATES = frozenset({RESOLVED, CLOSED, RATED})
# End states a case cannot leave on its own (only a supervisor may move a case into them).
TERMINAL_STATES = frozenset({CANCELLED, REFERRED, DUPLICATE})

# Events in the updates feed that are not state changes.
OVERDUE, COMMENT, ESCALATED, RECLASSIFIED = "overdue", "comment", "escalated", "reclassified"
PLACE_SET = "place_set"  # staff set or corrected the place of a case filed without one (待补充地点)
EVENTS = (OVERDUE, COMMENT, ESCALATED, RECLASSIFIED, PLACE_SET)

# state -> the states a case may move to from it (the hub enforces it; channels use it to explain before asking).
# A re-dispatch (dispatched -> dispatched) re-assigns.
TRANSITIONS: dict[str, frozenset[str]] = {
    RECEIVED: frozenset({DISPATCHED, CANCELLED, DUPLICATE, REFERRED}),
    DISPATCHED: frozenset({DISPATCHED, IN_PROGRESS, RESOLVED, CANCELLED, DUPLICATE, REFERRED}),
    IN_PROGRESS: frozenset({DISPATCHED, RESOLVED, CANCELLED, DUPLICATE, REFERRED}),
    REOPENED: frozenset({DISPATCHED, IN_PROGRESS, RESOLVED, CANCELLED, DUPLICATE, REFERRED}),
    RESOLVED: frozenset({CLOSED, RATED, REOPENED}),
    CLOSED: frozenset({RATED, REOPENED}),
    RATED: frozenset({REOPENED}),
    DUPLICATE: frozenset({REOPENED}),  # a wrong merge is undone by reopening
    CANCELLED: frozenset(),
    REFERRED: frozenset(),
}

# The label of each state, as citizens and staff read it.
LABELS = {
    RECEIVED: "已受理", DISPATCHED: "已派遣", IN_PROGRESS: "处置中", RESOLVED: "已处理", CLOSED: "已结案",
    RATED: "已评价", CANCELLED: "已撤销", DUPLICATE: "已合并", REFERRED: "已转办", REOPENED: "重新处理中",
}
EVENT_LABELS = {**LABELS, OVERDUE: "超期", COMMENT: "补充信息", ESCALATED: "升级督办", RECLASSIFIED: "重新分类",
                PLACE_SET: "补充地点"}
NEEDS_PLACE_LABEL = "待补充地点"  # a case filed without any place, waiting for staff to set it

PRIORITIES = ("normal", "high", "urgent")
PRIORITY_LABELS = {"normal": "普通", "high": "高", "urgent": "紧急"}


def status_of(state: str) -> str:
    """The Open311 status ('open' or 'closed') of a state."""
    return "open" if state in OPEN_STATES else "closed"


def label(state: str | None) -> str:
    """The Chinese label of a state or feed event ('—' when unknown)."""
    return EVENT_LABELS.get(state or "", state or "—")
