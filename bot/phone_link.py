"""Follow hotline cases in the chat: a citizen who shares their own phone number with the bot is subscribed to
the cases the hotline filed for that number.

Hotline ingestion files a call with account_id `phone:<salted hash of the caller's number>` and never stores the
number itself (hotline/ingest.py); the same hash of the shared number finds those cases at the hub. The number
is neither stored nor logged here either. Only the sender's own contact counts (Telegram says whose it is).
"""

from __future__ import annotations

import asyncio

from sqlmodel import Session

from citybot.subscriptions import subscribe
from hubapi.accounts import phone_account
from hubapi.client import HubClient, ServiceRequest
from hubapi.states import ACTIVE_STATES, CLOSED, RESOLVED

FOLLOWABLE = ACTIVE_STATES | {RESOLVED, CLOSED}  # still worth a push: progress, the result, the rating


async def follow_hotline_cases(hub: HubClient, engine, chat_id: int | str, phone: str, salt: str) -> list[ServiceRequest]:
    """Subscribe `chat_id` to the followable cases filed for `phone`; returns them, newest first."""
    cases = await hub.list_requests(account_id=phone_account(phone, salt))
    cases = [c for c in cases if (c.state or "") in FOLLOWABLE]

    def write() -> None:
        with Session(engine) as s, s.begin():
            for c in cases:
                subscribe(chat_id, c.service_request_id, session=s)

    await asyncio.to_thread(write)
    return sorted(cases, key=lambda c: c.service_request_id, reverse=True)
