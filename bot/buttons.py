"""Rasa button payloads <-> Telegram callback_data (at most 64 BYTES).

A payload that fits travels inline as `r:<payload>`. A longer one (`/choose_subcategory{"service_code":..}`,
anything with enough Chinese) travels as `r#<key>`, where key is a hash of the payload and the payload is kept
in citybot's database (table `citybot_button_payload`), so a button still works when pressed after a restart.
The key is derived from the payload, so the table grows with the number of DISTINCT payloads, not messages.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

from sqlalchemy import Column, Text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel

INLINE, KEYED = "r:", "r#"
MAX_CALLBACK_BYTES = 64


class ButtonPayload(SQLModel, table=True):
    __tablename__ = "citybot_button_payload"

    key: str = Field(primary_key=True, max_length=24)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))


def key_of(payload: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(payload.encode()).digest()[:15]).decode()  # 20 chars


def encode(engine: Engine, payloads: list[str]) -> list[str]:
    """callback_data for each payload, storing the long ones (blocking: call it in a thread)."""
    out, keyed = [], {}
    for p in payloads:
        inline = INLINE + p
        if len(inline.encode()) <= MAX_CALLBACK_BYTES:
            out.append(inline)
        else:
            k = key_of(p)
            keyed[k] = p
            out.append(KEYED + k)
    if keyed:
        with Session(engine) as s:
            known = {row.key for row in s.query(ButtonPayload).filter(ButtonPayload.key.in_(list(keyed)))}
            for k, p in keyed.items():
                if k not in known:
                    s.add(ButtonPayload(key=k, payload=p))
            try:
                s.commit()
            except IntegrityError:  # another process stored the same payload meanwhile: same key, same payload
                s.rollback()
    return out


def decode(engine: Engine, data: str) -> str | None:
    """The payload a callback_data stands for; None when unknown (blocking: call it in a thread)."""
    if data.startswith(INLINE):
        return data[len(INLINE):] or None
    if data.startswith(KEYED):
        with Session(engine) as s:
            row = s.get(ButtonPayload, data[len(KEYED):])
            return row.payload if row else None
    return None
