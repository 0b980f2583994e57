"""The hub's tables (SQLModel). Times are aware UTC (SQLModel's UTCDateTime); the API renders them in the city's zone."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Column, Index, Sequence, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from hub import limits as L


def needs_place(case) -> bool:
    """A case (row, ORM object or draft) with no address, address_id or lat/long: filed for triage (待补充地点)."""
    return (getattr(case, "address", None) is None and getattr(case, "address_id", None) is None
            and getattr(case, "lat", None) is None)


# Case numbers on PostgreSQL, where filings run side by side: the suffix of YYYYMMDD + 6 digits (store.next_case_id).
# Created by the hub's migration 0006 (PostgreSQL only; SQLite numbers the day's cases one after the other).
CASE_NUMBER = Sequence("hub_case_number")


class CaseBase(SQLModel):
    service_code: str = Field(max_length=L.SERVICE_CODE)
    service_name: str = Field(max_length=64)
    group: str = Field(max_length=64)
    description: str = Field(default="", max_length=L.DESCRIPTION)
    lat: float | None = None
    long: float | None = None
    address: str | None = Field(default=None, max_length=L.ADDRESS)
    address_id: str | None = Field(default=None, max_length=L.ADDRESS_ID)
    zipcode: str | None = Field(default=None, max_length=L.ZIPCODE)
    media_url: str | None = Field(default=None, max_length=L.URL)
    attributes: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    account_id: str | None = Field(default=None, max_length=L.ACCOUNT_ID, index=True)
    device_id: str | None = Field(default=None, max_length=L.DEVICE_ID)
    channel: str | None = Field(default=None, max_length=L.CHANNEL)
    external_id: str | None = Field(default=None, max_length=L.EXTERNAL_ID)
    first_name: str | None = Field(default=None, max_length=L.FIRST_NAME)
    last_name: str | None = Field(default=None, max_length=L.LAST_NAME)
    phone: str | None = Field(default=None, max_length=L.PHONE)
    email: str | None = Field(default=None, max_length=L.EMAIL)
    # The api client that filed the case (the name of its api_key in HUB_API_KEYS): account-linked reads
    # (account_id, tokens) answer only that client.
    client: str | None = Field(default=None, max_length=64)


class Case(CaseBase, table=True):
    __tablename__ = "hub_case"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_hub_case_channel_external_id"),
        Index("ix_hub_case_dup", "service_code", "requested_at"),
        Index("ix_hub_case_state_due", "state", "expected_at"),
        Index("ix_hub_case_place_road", "service_code", "place_road"),
        Index("ix_hub_case_place_mark", "service_code", "place_mark"),
        Index("ix_hub_case_client_account", "client", "account_id"),
    )

    id: str = Field(primary_key=True, max_length=14)  # YYYYMMDD + 6-digit sequence
    token: str = Field(max_length=36, index=True)
    address_norm: str | None = Field(default=None, max_length=L.ADDRESS_NORM)
    state: str = Field(max_length=16)
    status_notes: str = Field(default="", max_length=L.STATUS_NOTES)
    agency_responsible: str | None = Field(default=None, max_length=L.DEPARTMENT)
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
    rating_comment: str | None = Field(default=None, max_length=L.RATING_COMMENT)
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
    description: str = Field(default="", max_length=L.UPDATE_TEXT)  # the hub's standard phrase, then the note
    note: str = Field(default="", max_length=L.DESCRIPTION)  # the actor's own words alone (staff note, reason, comment)
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
    actor: str = Field(default="", max_length=L.ACTOR)  # free text from the caller, e.g. "tg:12345 张**"
    principal: str = Field(max_length=L.PRINCIPAL)  # the authenticated identity: staff role:level:department or citizen
    action: str = Field(max_length=32)
    reason: str = Field(default="", max_length=L.AUDIT_REASON)
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class StaffMember(SQLModel, table=True):
    """A staff member a channel acts for (e.g. a Telegram user of the staff commands): the hub looks them up when
    a channel token names them, and applies their role, level and department (hub/auth.py)."""

    __tablename__ = "hub_staff_member"

    member_id: str = Field(primary_key=True, max_length=L.MEMBER_ID)  # <channel>:<id>, e.g. tg:123456789
    name: str = Field(default="", max_length=L.MEMBER_NAME)  # shown in the audit trail
    role: str = Field(default="operator", max_length=16)
    level: str = Field(default="街道", max_length=4)
    department: str = Field(default="", max_length=L.DEPARTMENT)  # '' = every department
    active: bool = Field(default=True)
    created_at: dt.datetime
    updated_at: dt.datetime


class IdempotentCall(SQLModel, table=True):
    """A non-idempotent POST sent with an `Idempotency-Key` (hub/idempotency.py): claimed in the transaction of its
    effect, then its first answer, replayed to a repeat of the same key by the same caller."""

    __tablename__ = "hub_idempotency"

    caller: str = Field(primary_key=True, max_length=L.PRINCIPAL + 32)  # key:<api client> or staff:<principal>
    key: str = Field(primary_key=True, max_length=L.IDEMPOTENCY_KEY)
    method: str = Field(max_length=8)
    path: str = Field(max_length=L.URL)
    body_hash: str = Field(max_length=64)  # sha256 of the request's fields (api_key left out)
    status: int | None = None  # None: the effect is committed, its answer not recorded yet
    content_type: str | None = Field(default=None, max_length=64)
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: dt.datetime = Field(index=True)
