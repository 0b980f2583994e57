"""The case lifecycle (数字城管 workflow) as one table: which state may follow which.

received (立案) -> dispatched (派遣) -> in_progress (处置中) -> resolved (处理反馈) -> closed (核查结案)
-> rated (评价); plus cancelled, duplicate, referred (非城管事项) and reopened (重新处理).
"""

from __future__ import annotations

RECEIVED, DISPATCHED, IN_PROGRESS, RESOLVED, CLOSED, RATED = (
    "received", "dispatched", "in_progress", "resolved", "closed", "rated")
CANCELLED, DUPLICATE, REFERRED, REOPENED = "cancelled", "duplicate", "referred", "reopened"

# state -> the states a case may move to from it. A re-dispatch (dispatched -> dispatched) re-assigns.
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
STATES = tuple(TRANSITIONS)

# The Open311 status each state maps to.
OPEN_STATES = frozenset({RECEIVED, DISPATCHED, IN_PROGRESS, REOPENED, RESOLVED})
CLOSED_STATES = frozenset(STATES) - OPEN_STATES
# States in which the handling clock runs (a case in them past its due time is overdue).
ACTIVE_STATES = frozenset({RECEIVED, DISPATCHED, IN_PROGRESS, REOPENED})

# The Chinese note written to status_notes for each state (staff notes are appended).
NOTES = {
    RECEIVED: "已受理立案",
    DISPATCHED: "已派遣至{department}",
    IN_PROGRESS: "处置中",
    RESOLVED: "已处理反馈",
    CLOSED: "已核查结案",
    RATED: "市民已评价",
    CANCELLED: "已撤销",
    DUPLICATE: "疑似重复，已并入案件{duplicate_of}",
    REFERRED: "非城市管理事项，已转办",
    REOPENED: "已重新处理",
}

# Events in the updates feed that are not state changes.
OVERDUE, COMMENT, ESCALATED, RECLASSIFIED = "overdue", "comment", "escalated", "reclassified"
PLACE_SET = "place_set"  # staff set or corrected the place
EVENT_NOTES = {OVERDUE: "已超过处置时限", ESCALATED: "已升级督办", RECLASSIFIED: "已重新分类并改派至{department}",
               PLACE_SET: "已补充地点"}
# A case filed without a place (a hotline call whose place the NLU missed) is not a state of its own: it stays
# received (立案), without any location (`needs_place`, hub.models), until staff set the place; then it is
# dispatched (or linked) as a filing would be.
NEEDS_PLACE_NOTE = "待补充地点"

PRIORITIES = ("normal", "high", "urgent")


class IllegalTransition(Exception):
    def __init__(self, current: str, target: str):
        super().__init__(f"cannot move a case from {current} to {target}")
        self.current, self.target = current, target


def check(current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, ()):
        raise IllegalTransition(current, target)


def status_of(state: str) -> str:
    return "open" if state in OPEN_STATES else "closed"


def note(state: str, **fields) -> str:
    return (NOTES.get(state) or EVENT_NOTES.get(state, state)).format_map({"department": "", "duplicate_of": "", **fields})
