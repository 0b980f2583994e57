"""The citizen bot without the dialogue: limits, Rasa down, 429 on a reply, webhook secret, polling start/stop,
button payloads across a restart, the FSM storage. The real Bot API protocol (loopback server), the real hub
(in-loop uvicorn) and citybot's database; Rasa is a closed loopback port (the "Rasa is down" case) unless a
test says otherwise."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import httpx
import pytest

from bot import abuse, buttons
from bot.citizen import BUSY, EXPIRED_BUTTON
from hubapi.models import Filing
from tests.bot.citizen_harness import keyboard, running_bot, texts
from tests.bot.conftest import free_port, image_bytes, until

CHAT = 4242


@pytest.fixture
def down_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


@pytest.fixture
def botctx(tg, engine, hub, hub_url, down_url):
    def make(**kw):
        return running_bot(tg, engine=engine, hub=hub, hub_url=hub_url, rasa_url=kw.pop("rasa_url", down_url), **kw)
    return make


async def test_rasa_down_gets_a_polite_reply_and_is_logged_without_the_chat_id(tg, botctx, caplog):
    caplog.set_level(logging.WARNING, logger="citybot.bot.citizen")
    async with botctx():
        tg.add_text(CHAT, "人民路128号门口的井盖不见了")
        await until(lambda: texts(tg, CHAT))
    assert texts(tg, CHAT) == [BUSY]
    assert "系统繁忙" in BUSY and "重新发送" in BUSY
    logged = [r.getMessage() for r in caplog.records if "asked to resend" in r.getMessage()]
    assert logged and str(CHAT) not in logged[0] and "chat#" in logged[0]


async def test_over_the_rate_limit_one_polite_reply_then_silence_until_the_window_passes(tg, botctx):
    async with botctx(telegram_rate_limit_count=3, telegram_rate_limit_window_s=2.0):
        for i in range(6):
            tg.add_text(CHAT, f"消息{i}")
        await until(lambda: len(texts(tg, CHAT)) >= 4)
        await asyncio.sleep(0.5)  # the two after the warning must stay unanswered
        said = texts(tg, CHAT)
        assert said.count(BUSY) == 3 and said.count(abuse.TOO_FAST) == 1 and len(said) == 4
        tg.add_text(CHAT + 1, "另一位市民")  # other citizens are not held up
        await until(lambda: texts(tg, CHAT + 1) == [BUSY])
        await asyncio.sleep(2.1)  # the window passes: heard again
        tg.add_text(CHAT, "又来了")
        await until(lambda: len(texts(tg, CHAT)) == 5)
    assert texts(tg, CHAT)[-1] == BUSY


async def test_an_album_counts_once_against_the_rate_limit(tg, botctx, hub_url):
    async with botctx(telegram_rate_limit_count=2, telegram_album_wait_s=0.3):
        for i in range(4):
            tg.add_photo(CHAT, image_bytes((10 * i, 0, 0)), caption="井盖坏了" if i == 0 else None,
                         media_group_id="album1")
        await until(lambda: texts(tg, CHAT))
        await asyncio.sleep(0.5)
    assert texts(tg, CHAT) == [BUSY]  # one turn for four photos, and no rate-limit reply
    assert len([r for r in tg.requests if r.method == "getFile"]) == 4


async def test_too_long_text_and_too_big_photo_get_polite_replies_and_reach_nothing(tg, botctx):
    async with botctx(telegram_max_text_chars=50, media_max_bytes=100):
        tg.add_text(CHAT, "井" * 51)
        await until(lambda: len(texts(tg, CHAT)) == 1)
        tg.add_photo(CHAT, image_bytes())  # a JPEG of ~600 bytes > 100
        await until(lambda: len(texts(tg, CHAT)) == 2)
        tg.add_text(CHAT, "井" * 50)  # at the limit: passed on (and Rasa is down)
        await until(lambda: len(texts(tg, CHAT)) == 3)
    long_reply, big_reply, busy = texts(tg, CHAT)
    assert "太长" in long_reply and "50" in long_reply
    assert "照片太大" in big_reply
    assert busy == BUSY
    assert not [r for r in tg.requests if r.method == "getFile"]  # the oversize photo was never downloaded


async def test_other_content_gets_a_hint_and_groups_are_ignored(tg, botctx):
    async with botctx():
        tg._push({"message": tg._message(CHAT, sticker={"file_id": "s1", "file_unique_id": "u1", "type": "regular",
                                                         "width": 1, "height": 1, "is_animated": False,
                                                         "is_video": False})})
        await until(lambda: texts(tg, CHAT))
        group = tg._message(-100123, text="井盖没了")
        group["chat"] = {"id": -100123, "type": "supergroup", "title": "业主群"}
        tg._push({"message": group})
        tg.add_text(CHAT, "x")
        await until(lambda: len(texts(tg, CHAT)) == 2)
    assert texts(tg, CHAT)[0] == abuse.UNSUPPORTED
    assert tg.sent(chat_id=-100123) == []


async def test_sharing_ones_own_number_follows_the_hotline_cases_filed_for_it(tg, botctx, hub, engine):
    from sqlmodel import Session

    from bot.citizen import NO_HOTLINE_CASES, NOT_OWN_CONTACT
    from hubapi.accounts import phone_account
    from citybot.settings import Settings
    from citybot.subscriptions import cases_of

    salt = Settings(_env_file=None).phone_hash_salt  # what the bot under test uses
    filed = await hub.create_request(Filing("SRHJ-01", "市民来电反映：小区门口垃圾成堆", address="人民路128号",
                                            account_id=phone_account("13812345678", salt), channel="hotline",
                                            external_id=f"call-{uuid.uuid4().hex[:8]}"))
    case_id = filed.service_request_id
    async with botctx():
        tg.add_contact(CHAT, "+86 138 1234 5678")  # the same number, as Telegram formats it
        await until(lambda: texts(tg, CHAT))
        tg.add_contact(CHAT, "13912345678", user_id=CHAT + 1)  # someone else's card
        await until(lambda: len(texts(tg, CHAT)) == 2)
        tg.add_contact(CHAT, "13700000000")  # own, but nothing filed for it
        await until(lambda: len(texts(tg, CHAT)) == 3)
    found, other, nothing = texts(tg, CHAT)
    assert "1件" in found and case_id in found
    assert other == NOT_OWN_CONTACT and nothing == NO_HOTLINE_CASES
    with Session(engine) as s:
        assert cases_of(CHAT, session=s) == [case_id]  # the notifier will now push its progress here
    assert not any("13812345678" in str(r.payload) for r in tg.requests if r.method == "sendMessage")


async def test_a_429_on_the_reply_delays_it_but_delivers_it_once(tg, botctx):
    async with botctx():
        tg.fail_next(1, retry_after=1, method="sendMessage")
        started = time.monotonic()
        tg.add_text(CHAT, "你好")
        await until(lambda: texts(tg, CHAT), timeout=10)
        delivered = tg.sent(chat_id=CHAT)[0].at
        await asyncio.sleep(0.3)
    attempts = [r for r in tg.requests if r.method == "sendMessage" and r.chat_id == str(CHAT)]
    assert [r.status for r in attempts] == [429, 200]
    assert delivered - attempts[0].at >= 0.95 and delivered - started >= 0.95
    assert texts(tg, CHAT) == [BUSY]


async def test_polling_deletes_the_webhook_first_and_stops_cleanly(tg, botctx):
    async with botctx() as b:
        await until(lambda: any(r.method == "getUpdates" for r in tg.requests))
    methods = [r.method for r in tg.requests]
    assert methods.index("deleteWebhook") < methods.index("getUpdates")
    assert b.task.done() and b.task.exception() is None


async def test_webhook_mode_rejects_a_wrong_secret_and_serves_the_right_one(tg, botctx):
    port, secret = free_port(), "s3cret-" + uuid.uuid4().hex
    url = f"http://127.0.0.1:{port}/tg/hook"
    async with botctx(webhook=True, telegram_webhook_url=url, telegram_webhook_secret=secret,
                      telegram_webhook_host="127.0.0.1", telegram_webhook_port=port,
                      telegram_webhook_path="/tg/hook"):
        set_hook = [r for r in tg.requests if r.method == "setWebhook"]
        assert len(set_hook) == 1 and set_hook[0].payload["url"] == url
        assert set_hook[0].payload["secret_token"] == secret
        assert not any(r.method == "getUpdates" for r in tg.requests)
        update = {"update_id": 1, "message": tg._message(CHAT, text="你好")}
        async with httpx.AsyncClient() as client:
            none = await client.post(url, json=update)
            wrong = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"})
            await asyncio.sleep(0.3)
            assert texts(tg, CHAT) == []  # neither reached a handler
            right = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret})
            await until(lambda: texts(tg, CHAT) == [BUSY])
        assert (none.status_code, wrong.status_code, right.status_code) == (401, 401, 200)


async def test_webhook_mode_needs_a_secret(tg, botctx):
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET"):
        async with botctx(webhook=True, telegram_webhook_url="https://example.org/hook", telegram_webhook_secret="",
                          telegram_webhook_host="127.0.0.1", telegram_webhook_port=free_port()):
            pass


def test_citybot_bot_refuses_webhook_mode_without_a_secret(monkeypatch, capsys):
    from citybot.cli import main
    from citybot.settings import get_settings

    get_settings.cache_clear()
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:x")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://example.org/hook")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "")
    try:
        assert main(["bot"]) == 2
    finally:
        get_settings.cache_clear()
    assert "TELEGRAM_WEBHOOK_SECRET" in capsys.readouterr().err


# -- button payloads -------------------------------------------------------------------------------------------------
def test_button_payloads_fit_64_bytes_and_long_ones_survive_a_restart(tmp_path):
    from citybot.db import create_tables, make_engine

    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(url)
    create_tables(engine)
    short = "/affirm"
    long_ = '/choose_subcategory{"service_code":"SZSS-01","name":"井盖缺失破损（人民路128号门口）"}'
    data = buttons.encode(engine, [short, long_, long_])
    assert data[0] == "r:/affirm"
    assert data[1] == data[2] and data[1].startswith("r#")
    assert all(len(d.encode()) <= 64 for d in data)
    engine.dispose()

    restarted = make_engine(url)  # a new process: only the database is left
    assert buttons.decode(restarted, data[1]) == long_
    assert buttons.decode(restarted, data[0]) == short
    assert buttons.decode(restarted, "r#unknownkey") is None
    assert buttons.decode(restarted, "rate:1:5") is None
    assert buttons.encode(restarted, [long_]) == [data[1]]  # stored once


async def test_a_stale_button_is_answered_and_sends_nothing(tg, botctx):
    async with botctx():
        tg.add_callback(CHAT, "r#doesnotexist")
        await until(lambda: [r for r in tg.requests if r.method == "answerCallbackQuery"])
        await asyncio.sleep(0.3)
    answer = next(r for r in tg.requests if r.method == "answerCallbackQuery")
    assert answer.payload.get("text") == EXPIRED_BUTTON
    assert texts(tg, CHAT) == []


async def test_a_long_button_payload_is_keyed_and_the_press_sends_it_to_rasa(tg, engine, hub, hub_url):
    """Rasa answers with a button whose payload is too long for callback_data; the press reaches Rasa as text."""
    from aiohttp import web

    long_ = '/choose_subcategory{"service_code":"SZSS-01","note":"人民路128号门口的井盖"}'
    seen: list[dict] = []

    async def webhook(request):
        body = await request.json()
        seen.append(body)
        if len(seen) == 1:
            return web.json_response([{"recipient_id": body["sender"], "text": "请问是井盖吗？",
                                       "buttons": [{"title": "井盖缺失破损", "payload": long_}]}])
        return web.json_response([{"recipient_id": body["sender"], "text": "好的"}])

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with running_bot(tg, engine=engine, hub=hub, hub_url=hub_url, rasa_url=f"http://127.0.0.1:{port}"):
            tg.add_text(CHAT, "井盖")
            await until(lambda: texts(tg, CHAT))
            (title, data), = keyboard(tg.sent(chat_id=CHAT)[0])
            assert title == "井盖缺失破损" and data.startswith("r#") and len(data.encode()) <= 64
            tg.add_callback(CHAT, data)
            await until(lambda: len(texts(tg, CHAT)) == 2)
    finally:
        await runner.cleanup()
    assert [b["message"] for b in seen] == ["井盖", long_]
    assert all(b["sender"] == str(CHAT) for b in seen)
    assert any(r.method == "answerCallbackQuery" for r in tg.requests)
    assert any(r.method == "editMessageReplyMarkup" for r in tg.requests)  # used buttons go away


# -- aiogram FSM storage -------------------------------------------------------------------------------------------------
def test_fsm_storage_is_memory_without_redis_url():
    from aiogram.fsm.storage.memory import MemoryStorage

    from bot.app import build_storage
    from citybot.settings import Settings

    assert isinstance(build_storage(Settings(_env_file=None, redis_url="")), MemoryStorage)


@pytest.mark.redis
async def test_fsm_state_in_redis_survives_a_new_storage_instance():
    from aiogram.fsm.storage.base import StorageKey
    from aiogram.fsm.storage.redis import RedisStorage

    from bot.app import build_storage
    from citybot.settings import Settings

    settings = Settings(_env_file=None, redis_url="redis://127.0.0.1:6379/15")
    first = build_storage(settings)
    assert isinstance(first, RedisStorage)
    try:
        await first.redis.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        await first.close()
        pytest.skip(f"Redis not reachable at 127.0.0.1:6379: {type(exc).__name__}")
    key = StorageKey(bot_id=1, chat_id=int(uuid.uuid4().int % 10**9), user_id=7)
    await first.set_state(key, "staff:awaiting_note")
    await first.set_data(key, {"case": "20260101000001", "text": "井盖"})
    await first.close()
    second = build_storage(settings)  # what a restarted bot builds
    try:
        assert await second.get_state(key) == "staff:awaiting_note"
        assert await second.get_data(key) == {"case": "20260101000001", "text": "井盖"}
    finally:
        await second.set_state(key, None)
        await second.set_data(key, {})
        await second.close()


def test_rate_limit_window_slides():
    now = [0.0]
    limit = abuse.ChatRateLimit(2, 10.0, clock=lambda: now[0])
    assert [limit.check(1) for _ in range(4)] == ["ok", "ok", "warn", "drop"]
    assert limit.check(2) == "ok"
    now[0] = 5.0
    assert limit.check(1) == "drop"
    now[0] = 10.01  # both messages left the window: room again
    assert [limit.check(1) for _ in range(3)] == ["ok", "ok", "warn"]  # full again: one more polite reply


async def test_citybot_bot_serves_by_polling_and_stops_on_sigterm(tg, hub_url, tmp_path, down_url):
    import os
    import signal
    import sys
    from pathlib import Path

    env = {**os.environ, "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_BASE": tg.base_url, "HUB_URL": hub_url,
           "RASA_URL": down_url, "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}", "VAR_DIR": str(tmp_path),
           "TELEGRAM_WEBHOOK_URL": "", "REDIS_URL": "", "RASA_RESEND_S": "1"}
    citybot = Path(sys.executable).with_name("citybot")
    proc = await asyncio.create_subprocess_exec(str(citybot), "bot", env=env, cwd=tmp_path,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        await until(lambda: any(r.method == "getUpdates" for r in tg.requests), timeout=60)
        tg.add_text(CHAT, "你好")
        await until(lambda: texts(tg, CHAT) == [BUSY], timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
