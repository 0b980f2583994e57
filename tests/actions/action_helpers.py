"""Helpers for the action tests (trackers, running an action, filing a case directly)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from citybot.settings import DEV_API_KEY, DEV_STAFF_TOKEN
from hubapi.client import HubClient
from hubapi.models import Filing

TRACKERS = Path(__file__).parent / "trackers"
DOWN_URL = "http://127.0.0.1:9"  # discard port: nothing listens, connections are refused


def load_tracker(name: str, **values: str) -> Tracker:
    text = (TRACKERS / f"{name}.json").read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return Tracker.from_dict(json.loads(text))


def hub_client(app, **kw) -> HubClient:
    return HubClient("http://hub.test", api_key=DEV_API_KEY, staff_token=DEV_STAFF_TOKEN,
                     transport=httpx.ASGITransport(app=app), **kw)


async def run(action, tracker: Tracker, domain: dict | None = None) -> tuple[list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain or {})
    return events, dispatcher.messages


async def file_case(hub: HubClient, sender: str = "10001", code: str = "SZSS-01", address: str = "人民路128号门口",
                    description: str = "井盖坏了") -> str:
    created = await hub.create_request(Filing(code, description, address=address, account_id=f"tg:{sender}", channel="chat"))
    return created.service_request_id
