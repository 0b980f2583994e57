"""Reporter account ids at the hub: who filed a case, without saying who they are.

A chat citizen files as `tg:<chat id>`; a hotline caller as `phone:<salted hash of the number>` (the same hash
when they later share that number with the bot, so the chat can follow the calls' cases).
"""

from __future__ import annotations

from citybot.privacy import salted_hash

CHAT, PHONE = "tg:", "phone:"


def chat_account(chat_id: str | int) -> str:
    """The account a chat's reports are filed under (idempotent: an account id is returned as it is)."""
    text = str(chat_id)
    return text if text.startswith(CHAT) else f"{CHAT}{text}"


def phone_account(phone: str, salt: str) -> str:
    """The account a caller's hotline cases are filed under."""
    return f"{PHONE}{salted_hash(phone, salt)}"


def is_chat(account_id: str | None) -> bool:
    return bool(account_id) and str(account_id).startswith(CHAT)
