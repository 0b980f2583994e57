"""The staff users table of earlier versions (citybot_staff_user), kept so that upgrading loses nobody.

Staff members now live at the hub (bot/staff/access.py). This table is read only by `citybot staff-users
import-local`, which registers its rows at the hub; a later release drops it (a citybot migration).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class LegacyStaffUser(SQLModel, table=True):
    __tablename__ = "citybot_staff_user"

    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(unique=True, index=True, sa_type=BigInteger)  # Telegram ids exceed 2^31
    name: str = Field(default="", max_length=64)
    role: str = Field(default="operator", max_length=16)
    level: str = Field(default="街道", max_length=8)
    department: str = Field(default="", max_length=64)
    active: bool = Field(default=True)
    created_at: dt.datetime = Field(default_factory=_now)
    updated_at: dt.datetime = Field(default_factory=_now)
