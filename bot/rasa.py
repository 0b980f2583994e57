"""The one client of Rasa's REST channel (POST /webhooks/rest/webhook), used by every chat front end.

The Telegram bot and the terminal chat both talk to the dialogue through here, with `sender` = the chat id and
channel facts (photo URLs already uploaded to the hub, a shared location, the citizen's contact) as metadata,
so a conversation takes the same path whatever the front end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from citybot.retry import Backoff, retrying

# A connection that failed or dropped before Rasa answered: the turn was not saved (Rasa saves a conversation only
# at the end of a turn), so sending it again -- to the same address, i.e. the next replica behind it -- is safe. A
# timeout is not retried: that turn may still be running and would run twice.
DROPPED = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
# Defaults of settings.rasa_timeout_s / rasa_resend_s (see there): the timeout is longer than Rasa's conversation
# lock lifetime (TICKET_LOCK_LIFETIME, 60 s), which a turn resent after its replica was killed waits out.
DEFAULT_TIMEOUT = 90.0


def resend_policy(seconds: float = 60.0) -> Backoff:
    """Resend for `seconds` (while a replica restarts its peers answer), then the citizen is asked to resend."""
    return Backoff(base=0.5, cap=5.0, give_up_after=seconds)


class RasaUnavailable(Exception):
    """The Rasa server did not answer (down, starting, or timed out)."""


@dataclass(frozen=True)
class Reply:
    """One bot message from Rasa: text, buttons (title, payload), an image URL; any may be absent."""

    text: str = ""
    buttons: tuple[tuple[str, str], ...] = ()
    image: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Reply:
        buttons = tuple((str(b.get("title") or b.get("payload") or ""), str(b.get("payload") or ""))
                        for b in item.get("buttons") or () if isinstance(b, dict) and b.get("payload"))
        custom = item.get("custom") if isinstance(item.get("custom"), dict) else {}
        return cls(text=str(item.get("text") or ""), buttons=buttons, image=item.get("image") or None, custom=custom)


class RasaChannel:
    """`await channel.send(sender, text, metadata)` -> the list of Replies Rasa answered with."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT, client: httpx.AsyncClient | None = None,
                 resend: Backoff | None = None):
        self.base = url.rstrip("/")
        self.url = self.base + "/webhooks/rest/webhook"
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._own_client = client is None
        self.resend = resend or resend_policy()

    async def send(self, sender: str | int, text: str, metadata: dict[str, Any] | None = None) -> list[Reply]:
        body: dict[str, Any] = {"sender": str(sender), "message": text}
        if metadata:
            body["metadata"] = metadata
        try:
            resp = await retrying(lambda: self._client.post(self.url, json=body), policy=self.resend,
                                  retry_on=DROPPED, what="Rasa REST channel")
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            raise RasaUnavailable(f"Rasa REST channel at {self.url}: {type(exc).__name__}: {exc}") from exc
        return [Reply.from_json(item) for item in resp.json() if isinstance(item, dict)]

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()
