"""Fixtures of the security probes: one real `citybot hub` process per database for the module (SQLite, and
PostgreSQL in a fresh schema when it answers), and an HTTP client on it."""

from __future__ import annotations

import contextlib

import httpx
import pytest
from secprobe import start_hub

from tests.pgschema import fresh_schema

BOTH = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextlib.contextmanager
def database(kind: str, tmp_path_factory):
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'hub.db'}"
    else:
        with fresh_schema("sec_probe") as url:
            yield url


@pytest.fixture(scope="module", params=BOTH)
def hub(request, tmp_path_factory):
    """A `citybot hub` with its own secrets (never the development ones), on one of the two databases."""
    with database(request.param, tmp_path_factory) as url:
        proc = start_hub(tmp_path_factory.mktemp("hub"), url)
        try:
            yield proc
        finally:
            proc.stop()


@pytest.fixture
def http(hub):
    with httpx.Client(base_url=hub.base, timeout=30) as client:
        yield client
