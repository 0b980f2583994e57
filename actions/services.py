"""The clients the actions use, created once at action-server startup and injected here (never at import).

`citybot actions` calls `build(settings)` + `configure(...)` before serving; tests configure a container with a
HubClient pointed at an in-process hub and a temporary database.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from actions.store import Store
from citybot import catalogue as cat
from hubapi.accounts import chat_account
from hubapi.client import HubClient


@dataclass
class Services:
    hub: HubClient
    store: Store
    catalogue: cat.Catalogue
    tz: ZoneInfo
    geocoder: object | None = None  # citybot.geocoder: coordinates for a report filed by address (None: off)
    channel: str = "chat"          # the Open311 channel the hub records for chat reports
    dead_alert_chat: str | None = None  # the staff chat told about filings refused for good

    def account_id(self, sender_id: str) -> str:
        """The hub account of a conversation (its sender id is the chat id)."""
        return chat_account(sender_id)


_current: Services | None = None


def configure(services: Services | None) -> None:
    global _current
    _current = services


def get() -> Services:
    if _current is None:
        raise RuntimeError("actions.services is not configured; start the action server with `citybot actions`")
    return _current


def build(settings, **hub_overrides) -> Services:
    """The production container: a HubClient from settings and the store on citybot's database."""
    from citybot.db import create_tables, make_engine

    engine = make_engine(settings.resolved_database_url)
    create_tables(engine)
    from bot.staff.alerts import dead_alert_chat
    from citybot import geocoder
    from citybot.jobs import Jobs

    return Services(hub=HubClient.from_settings(settings, **hub_overrides),
                    store=Store(engine, Jobs.from_settings(engine, settings)),
                    catalogue=cat.load(settings.categories_file), tz=ZoneInfo(settings.timezone),
                    geocoder=geocoder.build(settings), dead_alert_chat=dead_alert_chat(settings))
