"""Who follows which case: THE single definition of the subscription concept.

A chat (a Telegram chat id, or another channel's address) follows a case once it filed it or asked to follow it;
the notifier sends that chat every progress update of the case. Dialogue actions, the notifier and staff tools
all import from here; nothing else defines the `citybot_subscription` table.

Functions take a keyword-only `session=` and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import UniqueConstraint, or_
from sqlmodel import Field, Session, SQLModel, select


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Subscription(SQLModel, table=True):
    __tablename__ = "citybot_subscription"
    __table_args__ = (UniqueConstraint("chat_id", "case_id", name="uq_citybot_subscription_chat_case"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: str = Field(index=True, max_length=64)
    case_id: str = Field(index=True, max_length=32)
    channel: str = Field(default="telegram", max_length=16)
    active: bool = Field(default=True)
    # The chat was told the case up to this feed update when it started following (the filing answer said
    # "received, dispatched to X"): the notifier pushes only later updates. None: push every update.
    after_update_id: int | None = None
    created_at: dt.datetime = Field(default_factory=_now)  # aware, UTC


def subscribe(chat_id: str | int, case_id: str, *, session: Session, channel: str = "telegram",
              after_update_id: int | None = None) -> Subscription:
    """Follow `case_id` from `chat_id` (idempotent; re-activates an inactive subscription). `after_update_id`:
    the chat already knows the case up to that feed update (a following chat keeps what it had)."""
    chat_id, case_id = str(chat_id), str(case_id)
    sub = session.exec(select(Subscription).where(Subscription.chat_id == chat_id,
                                                  Subscription.case_id == case_id)).first()
    if sub is None:
        sub = Subscription(chat_id=chat_id, case_id=case_id, channel=channel, after_update_id=after_update_id)
    elif not sub.active or sub.channel != channel:
        sub.active, sub.channel, sub.after_update_id = True, channel, after_update_id
    else:
        return sub
    session.add(sub)
    session.flush()
    return sub


def subscribers(case_id: str, *, session: Session, channel: str | None = "telegram",
                update_id: int | None = None) -> list[str]:
    """Chat ids actively following `case_id` (on `channel`, or every channel when None), oldest first; with
    `update_id`, only those not already told that update."""
    q = select(Subscription.chat_id).where(Subscription.case_id == str(case_id), Subscription.active == True)  # noqa: E712
    if channel is not None:
        q = q.where(Subscription.channel == channel)
    if update_id is not None:
        q = q.where(or_(Subscription.after_update_id.is_(None), Subscription.after_update_id < update_id))
    return list(session.exec(q.order_by(Subscription.id)))


def unsubscribe_chat(chat_id: str | int, *, session: Session) -> int:
    """Stop every subscription of `chat_id` (e.g. the user blocked the bot); returns how many were active."""
    subs = session.exec(select(Subscription).where(Subscription.chat_id == str(chat_id),
                                                   Subscription.active == True)).all()  # noqa: E712
    for sub in subs:
        sub.active = False
        session.add(sub)
    session.flush()
    return len(subs)


def unsubscribe(chat_id: str | int, case_id: str, *, session: Session) -> bool:
    """Stop following one case; True when a subscription was active."""
    sub = session.exec(select(Subscription).where(Subscription.chat_id == str(chat_id),
                                                  Subscription.case_id == str(case_id),
                                                  Subscription.active == True)).first()  # noqa: E712
    if sub is None:
        return False
    sub.active = False
    session.add(sub)
    session.flush()
    return True


def cases_of(chat_id: str | int, *, session: Session) -> list[str]:
    """Case ids `chat_id` actively follows, oldest first."""
    q = select(Subscription.case_id).where(Subscription.chat_id == str(chat_id), Subscription.active == True)  # noqa: E712
    return list(session.exec(q.order_by(Subscription.id)))
