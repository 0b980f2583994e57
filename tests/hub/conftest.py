"""Fixtures for the hub: settings on a temp dir, a controllable clock, the app over ASGI, PostgreSQL when reachable."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from hubtesting import TZ, Clock, make_settings

from tests.pgschema import fresh_schema


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=TZ))  # a Monday, 09:00 local


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


@pytest.fixture
def app(settings, clock):
    from hub.app import create_app

    app = create_app(settings, clock=clock)
    yield app
    app.state.hub.db.dispose()


@pytest.fixture
async def http(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as c:
        yield c


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A fresh, empty hub database: a temp SQLite file, or a unique schema on PostgreSQL (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with fresh_schema("hub_test") as url:
        yield url
