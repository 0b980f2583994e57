"""Action tests: the real hub app in process (httpx ASGITransport into HubClient) and temporary SQLite
databases. Scenarios are JSON trackers under tests/actions/trackers/ (see action_helpers.py)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from action_helpers import hub_client
from actions import services
from actions.store import Store
from citybot import catalogue
from citybot.db import create_tables, make_engine
from citybot.settings import Settings
from hub.app import create_app


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(var_dir=tmp_path, media_dir=tmp_path / "media", hub_sweep_interval_s=0,
                    database_url=f"sqlite:///{tmp_path / 'citybot.db'}",
                    hub_database_url=f"sqlite:///{tmp_path / 'hub.db'}", _env_file=None)


@pytest.fixture
def hub_app(settings):
    return create_app(settings, sweep_interval_s=0)


@pytest.fixture
async def hub(hub_app):
    client = hub_client(hub_app)
    yield client
    await client.aclose()


@pytest.fixture
def store(settings):
    engine = make_engine(settings.resolved_database_url)
    create_tables(engine)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def svc(hub, store, settings):
    s = services.Services(hub=hub, store=store, catalogue=catalogue.load(), tz=ZoneInfo(settings.timezone))
    services.configure(s)
    yield s
    services.configure(None)
