"""The hub's tables (SQLModel). Times are aware UTC (SQLModel's UTCDateTime); the API renders them in the city's zone."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def needs_place(case) -> bool:
    """A case (row, ORM object or draft) with no address, address_id or lat/long: filed for triage (待补充地点)."""
    return (getattr(case, "address", None) is None and getattr(case, "address_id", None) is None
            and getattr(case, "lat", None) is None)


class CaseBase(SQLModel):
    service_code: str = Field(max_length=32)
    service_name: str = Field(max_length=64)
    group: str = Field(max_length=64)
    description: str = Field(default="", max_length=4000)
    lat: float | None = None
    long: float | None = None
    address: str | None = Field(default=None, max_length=1000)
    address_id: str | None = Field(default=None, max_length=128)
    zipcode: str | None = Field(default=None, max_length=16)
    media_url: str | None = Field(default=None, max_length=2048)
    attributes: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    account_id: str | None = Field(default=None, max_length=128, index=True)
    device_id: str | None = Field(default=None, max_length=128)
    channel: str | None = Field(default=None, max_length=16)
    external_id: str | None = Field(default=None, max_length=128)
    first_name: str | None = Field(default=None, max_length=64)
    last_name: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)


class Case(CaseBase, table=True):
    __tablename__ = "hub_case"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_hub_case_channel_external_id"),
        Index("ix_hub_case_dup", "service_code", "requested_at"),
        Index("ix_hub_case_state_due", "state", "expected_at"),
        Index("ix_hub_case_place_road", "service_code", "place_road"),
        Index("ix_hub_case_place_mark", "service_code", "place_mark"),
    )

    id: str = Field(primary_key=True, max_length=14)  # YYYYMMDD + 6-digit sequence
    token: str = Field(max_length=36, index=True)
    address_norm: str | None = Field(default=None, max_length=1000)
    state: str = Field(max_length=16)
    status_notes: str = Field(default="", max_length=2000)
    agency_responsible: str | None = Field(default=None, max_length=64)
    level: str = Field(default="街道", max_length=4)
    priority: str = Field(default="normal", max_length=8)
    duplicate_of: str | None = Field(default=None, max_length=14)
    requested_at: dt.datetime
    updated_at: dt.datetime
    dispatched_at: dt.datetime | None = None
    expected_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    overdue_marked_at: dt.datetime | None = None  # set once per dispatch period by the overdue sweep
    result_media_urls: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    rating: int | None = None
    rating_comment: str | None = Field(default=None, max_length=1000)
    # The address's road and landmark as citybot.places compares them: the duplicate rule's indexed candidates
    place_road: str | None = Field(default=None, max_length=200)
    place_mark: str | None = Field(default=None, max_length=200)

    @property
    def needs_place(self) -> bool:
        """待补充地点: filed without any location (only allowed with needs_place=true), until staff set it."""
        return needs_place(self)


class CaseUpdate(SQLModel, table=True):
    """One row per transition or event; its id is the updates feed's cursor (allocated in commit order)."""

    __tablename__ = "hub_update"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="hub_case.id", index=True, max_length=14)
    event: str = Field(max_length=16)  # a state, or overdue/comment/escalated/reclassified
    state: str = Field(max_length=16)  # the case's state after the event
    description: str = Field(default="", max_length=4000)  # the hub's standard phrase, then the note
    note: str = Field(default="", max_length=4000)  # the actor's own words alone (staff note, reason, comment)
    media_url: str | None = Field(default=None, max_length=2048)
    agency_responsible: str | None = Field(default=None, max_length=64)
    expected_at: dt.datetime | None = None
    result_media_urls: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    level: str = Field(default="街道", max_length=4)
    priority: str = Field(default="normal", max_length=8)
    created_at: dt.datetime


class AuditEntry(SQLModel, table=True):
    """Who did what to a case, when and why (staff and citizen actions alike)."""

    __tablename__ = "hub_audit"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="hub_case.id", index=True, max_length=14)
    at: dt.datetime
    actor: str = Field(default="", max_length=128)  # free text from the caller, e.g. "tg:12345 张**"
    principal: str = Field(max_length=128)  # the authenticated identity: staff role:level:department or citizen
    action: str = Field(max_length=32)
    reason: str = Field(default="", max_length=2000)
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
