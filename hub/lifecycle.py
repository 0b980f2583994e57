"""The case lifecycle (数字城管 workflow) as the hub enforces it: the states, their labels and which may follow
which are the interface's (hubapi/states.py); the hub's own phrases for each step are here.

received (立案) -> dispatched (派遣) -> in_progress (处置中) -> resolved (处理反馈) -> closed (核查结案)
-> rated (评价); plus cancelled, duplicate, referred (非城管事项) and reopened (重新处理).
"""

from __future__ import annotations

from hubapi.states import (ACTIVE_STATES, CANCELLED, CLOSED, CLOSED_STATES, COMMENT, DISPATCHED, DUPLICATE,  # noqa: F401
                           ESCALATED, IN_PROGRESS, OPEN_STATES, OVERDUE, PLACE_SET, PRIORITIES, RATED, RECEIVED, RECLASSIFIED,
                           REFERRED, REOPENED, RESOLVED, STATES, TRANSITIONS, status_of)

# The hub's standard phrase written to status_notes and the feed for each state (the staff note is kept apart).
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

EVENT_NOTES = {OVERDUE: "已超过处置时限", ESCALATED: "已升级督办", RECLASSIFIED: "已重新分类并改派至{department}",
               PLACE_SET: "已补充地点"}
# A case filed without a place (a hotline call whose place the NLU missed) is not a state of its own: it stays
# received (立案), without any location (`needs_place`, hub.models), until staff set the place; then it is
# dispatched (or linked) as a filing would be.
NEEDS_PLACE_NOTE = "待补充地点"


class IllegalTransition(Exception):
    def __init__(self, current: str, target: str):
        super().__init__(f"cannot move a case from {current} to {target}")
        self.current, self.target = current, target


def check(current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, ()):
        raise IllegalTransition(current, target)


def note(state: str, **fields) -> str:
    return (NOTES.get(state) or EVENT_NOTES.get(state, state)).format_map({"department": "", "duplicate_of": "", **fields})
