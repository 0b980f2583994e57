"""citybot's durable dialogue state on the action server's side: who follows which case (the
`citybot_subscription` table is defined once, in citybot.subscriptions; this module only writes to it). Reports
the hub cannot take now are jobs in citybot's job queue (citybot/jobs.py, actions/outbox.py).

The notifier reads `citybot_subscription` to know whom to tell about a case.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from citybot import subscriptions
from citybot.jobs import Jobs
from citybot.subscriptions import Subscription


class Store:
    """Synchronous, short transactions; async callers run them with asyncio.to_thread. `jobs`: the job queue on
    the same database (queued filings)."""

    def __init__(self, engine: Engine, jobs: Jobs | None = None):
        self.engine = engine
        self.jobs = jobs or Jobs(engine)

    def subscribe(self, sender_id: str, case_id: str, after_update_id: int | None = None) -> None:
        """The conversation's sender id is the chat id (Telegram relays chat ids as REST senders); updates up to
        `after_update_id` were told in the filing answer and are not pushed. Idempotent."""
        with Session(self.engine) as s:
            subscriptions.subscribe(sender_id, case_id, session=s, after_update_id=after_update_id)
            s.commit()

    def subscriptions(self, sender_id: str | None = None, case_id: str | None = None) -> list[Subscription]:
        with Session(self.engine) as s:
            q = select(Subscription).order_by(Subscription.id)
            if sender_id is not None:
                q = q.where(Subscription.chat_id == sender_id)
            if case_id is not None:
                q = q.where(Subscription.case_id == case_id)
            return list(s.exec(q))
