"""The bot's Rasa client (bot/rasa.py) over real HTTP: a message whose connection dropped before Rasa answered (a
replica killed mid-turn) is sent again and answered; a timeout is not (that turn may still be running)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from bot.rasa import RasaChannel, RasaUnavailable, resend_policy


@pytest.fixture
async def rasa_like():
    """A REST channel that drops the connection of the first `drop` requests, or sleeps `delay` s first."""
    state = {"drop": 0, "delay": 0.0, "seen": []}

    async def webhook(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        state["seen"].append(body["message"])
        if state["drop"]:
            state["drop"] -= 1
            request.transport.close()  # as a SIGKILLed server: no answer at all
            await asyncio.sleep(1)
        await asyncio.sleep(state["delay"])
        return web.json_response([{"recipient_id": body["sender"], "text": "收到：" + body["message"]}])

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state["url"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    yield state
    await runner.cleanup()


async def test_a_message_dropped_mid_turn_is_sent_again_and_answered(rasa_like):
    rasa_like["drop"] = 2
    channel = RasaChannel(rasa_like["url"], timeout=5, resend=resend_policy(10))
    try:
        replies = await channel.send(42, "井盖不见了")
    finally:
        await channel.aclose()
    assert [r.text for r in replies] == ["收到：井盖不见了"]
    assert rasa_like["seen"] == ["井盖不见了"] * 3


async def test_a_timeout_is_not_sent_again(rasa_like):
    rasa_like["delay"] = 2.0
    channel = RasaChannel(rasa_like["url"], timeout=0.5, resend=resend_policy(10))
    try:
        with pytest.raises(RasaUnavailable, match="Timeout"):
            await channel.send(42, "确认")
    finally:
        await channel.aclose()
    await asyncio.sleep(0.2)
    assert rasa_like["seen"] == ["确认"]


async def test_rasa_down_for_longer_than_the_resend_window_asks_the_citizen(rasa_like):
    channel = RasaChannel("http://127.0.0.1:9", timeout=1, resend=resend_policy(1.0))
    try:
        with pytest.raises(RasaUnavailable, match="ConnectError"):
            await channel.send(42, "你好")
    finally:
        await channel.aclose()
