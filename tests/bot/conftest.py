"""Fixtures for the Telegram side: the loopback Bot API server, the REAL hub served by uvicorn on a loopback
port (in this event loop, temp SQLite, a settable clock), a HubClient, citybot's own database and a notifier
factory."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import socket
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.tgserver` is imported as a package from the repository root
    sys.path.insert(0, str(ROOT))

from tests.pgschema import fresh_schema  # noqa: E402
from tests.tgserver import BotAPIServer  # noqa: E402
from hubapi.models import Filing

TZ = ZoneInfo("Asia/Shanghai")
API_KEY = "test-key"
STAFF_TOKEN = "tok-admin"
CHANNEL_TOKEN = "tok-channel"  # the bot's: it acts for the staff members registered at the hub


class Clock:
    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += dt.timedelta(**kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def until(predicate, timeout: float = 15.0, interval: float = 0.02) -> None:
    """Wait until predicate() is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within %.0fs" % timeout)
        await asyncio.sleep(interval)


def image_bytes(color=(200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture
async def tg():
    async with BotAPIServer() as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime.now(TZ).replace(microsecond=0))


@pytest.fixture
def hub_extra_settings() -> dict:
    """More settings for the hub (a test module overrides this fixture, e.g. with staff_users)."""
    return {}


@pytest.fixture
async def hub_url(tmp_path, clock, hub_extra_settings):
    import uvicorn

    from citybot.settings import Settings
    from hub.app import create_app

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(_env_file=None, var_dir=tmp_path, media_dir=tmp_path / "media",
                        hub_database_url=f"sqlite:///{tmp_path / 'hub.db'}", hub_api_keys=API_KEY,
                        hub_staff_tokens=f"{STAFF_TOKEN}:admin:市:", hub_channel_tokens=f"{CHANNEL_TOKEN}:tg",
                        hub_sweep_interval_s=0, hub_public_url=base, **hub_extra_settings)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, clock=clock), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started or task.done(), timeout=20)
    assert not task.done(), "the hub did not start"
    yield base
    server.should_exit = True
    await task


@pytest.fixture
async def hub(hub_url):
    """A client with a 市 admin's staff token: what a test does as the city's staff."""
    from hubapi.client import HubClient

    async with HubClient(hub_url, api_key=API_KEY, staff_token=STAFF_TOKEN, retries=1) as client:
        yield client


@pytest.fixture
async def channel_hub(hub_url):
    """The bot's client: the channel token, acting for registered staff members (HubClient.on_behalf_of)."""
    from hubapi.client import HubClient

    async with HubClient(hub_url, api_key=API_KEY, staff_token=CHANNEL_TOKEN, retries=1) as client:
        yield client


# for @pytest.mark.parametrize("engine", BOTH_DATABASES, indirect=True)
BOTH_DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture
def engine(request, tmp_path):
    """citybot's own database: temp SQLite, or (parametrized "postgresql") a fresh PostgreSQL schema."""
    from citybot.db import create_tables, make_engine

    kind = getattr(request, "param", "sqlite")
    with contextlib.ExitStack() as stack:
        url = (stack.enter_context(fresh_schema("bot_test")) if kind == "postgresql"
               else f"sqlite:///{tmp_path / 'citybot.db'}")
        engine = make_engine(url)
        stack.callback(engine.dispose)  # before the schema is dropped
        create_tables(engine)
        yield engine


@pytest.fixture
async def bots(tg):
    """Makes aiogram Bots talking to the loopback server; closes them after the test."""
    from bot.notifier import make_bot

    made = []

    def make():
        b = make_bot(tg.token, tg.base_url)
        made.append(b)
        return b

    yield make
    for b in made:
        await b.session.close()


@pytest.fixture
async def notifiers(bots, hub, engine):
    """make(**config) -> a Notifier on the loopback server and the real hub; start(n) runs it as a task."""
    from bot.notifier import Notifier, NotifierConfig

    made: list[tuple[Notifier, list[asyncio.Task]]] = []

    class Factory:
        def make(self, **config) -> Notifier:
            cfg = dict(poll_interval=0.05, global_rate=50.0, chat_interval=0.2, backoff=0.1, subscribe_grace=0.0,
                       timezone="Asia/Shanghai")
            cfg.update(config)
            n = Notifier(bot=bots(), hub=hub, engine=engine, config=NotifierConfig(**cfg))
            made.append((n, []))
            return n

        def start(self, n: Notifier) -> asyncio.Task:
            task = asyncio.create_task(n.run())
            for m, tasks in made:
                if m is n:
                    tasks.append(task)
            return task

    yield Factory()
    for n, tasks in made:
        await n.stop()
        for t in tasks:
            try:
                await asyncio.wait_for(t, 10)
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - the test already judged it
                pass


@pytest.fixture
def follow(engine):
    """follow(chat_id, case_id): subscribe a chat to a case in citybot's database."""
    from sqlmodel import Session

    from citybot.subscriptions import subscribe

    def _follow(chat_id, case_id):
        with Session(engine) as s, s.begin():
            subscribe(chat_id, case_id, session=s)

    return _follow


async def file_case(hub, description="小区门口垃圾成堆，没人清理", code="SRHJ-01", account="tg:1001", i=0):
    created = await hub.create_request(Filing(code, description, lat=22.5431 + i * 0.01, long=114.0579 + i * 0.01,
                                              account_id=account, channel="chat"))
    assert created.service_request_id
    return created.service_request_id
