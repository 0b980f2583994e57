"""Fixtures for the hotline tests: the real hub on a loopback port (temp SQLite), citybot's own temp database."""

from __future__ import annotations

import pytest
from hotlinetesting import HubServer


@pytest.fixture
def hub_server(tmp_path):
    server = HubServer(tmp_path).start()
    yield server
    server.stop()
