"""The loopback Bot API server speaks the protocol aiogram expects (so notifier tests mean something)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter, TelegramUnauthorizedError


async def test_aiogram_long_polls_updates_of_every_kind_and_downloads_files(tg, bots):
    bot = bots()
    me = await bot.get_me()
    assert me.is_bot and me.username
    assert await bot.delete_webhook() is True
    tg.add_text(5, "小区门口垃圾成堆")
    tg.add_photo(5, b"JPEGDATA", caption="现场")
    tg.add_location(5, 22.54, 114.05)
    tg.add_callback(5, "rate:X:5")
    ups = await bot.get_updates(offset=0, timeout=1)
    assert ups[0].message.text == "小区门口垃圾成堆" and ups[1].message.caption == "现场"
    assert ups[2].message.location.latitude == pytest.approx(22.54)
    assert ups[3].callback_query.data == "rate:X:5"
    assert await bot.answer_callback_query(ups[3].callback_query.id, text="谢谢") is True
    f = await bot.get_file(ups[1].message.photo[-1].file_id)
    assert (await bot.download_file(f.file_path)).read() == b"JPEGDATA"

    # the offset confirms updates; a long poll waits for the next one
    async def later():
        await asyncio.sleep(0.3)
        tg.add_text(6, "还在吗")

    asyncio.create_task(later())
    t0 = time.monotonic()
    ups = await bot.get_updates(offset=ups[-1].update_id + 1, timeout=5)
    assert [u.message.text for u in ups] == ["还在吗"] and 0.2 < time.monotonic() - t0 < 4


async def test_errors_come_in_the_bot_api_shape(tg, bots):
    bot = bots()
    tg.fail_next(1, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as exc:
        await bot.send_message(1, "x")
    assert exc.value.retry_after == 7
    tg.block(2)
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(2, "x")
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{tg.base_url}/bot{tg.token}/sendMessage", json={"chat_id": 3, "text": "JSON 也行"})
        assert r.json()["ok"] is True and r.json()["result"]["text"] == "JSON 也行"
        r = await http.post(f"{tg.base_url}/bot{tg.token}/sendMessage", json={"chat_id": 3})
        assert r.status_code == 400 and r.json()["ok"] is False
        r = await http.post(f"{tg.base_url}/bot{tg.token}/sendMessage", content=b"{not json",
                            headers={"content-type": "application/json"})
        assert r.status_code == 400
    assert [(r.method, r.status) for r in tg.requests][:2] == [("sendMessage", 429), ("sendMessage", 403)]
    assert tg.requests[2].payload == {"chat_id": 3, "text": "JSON 也行"}


async def test_a_wrong_token_is_unauthorized(tg):
    from bot.notifier import make_bot

    bot = make_bot("999:wrong", tg.base_url)
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await bot.get_me()
    finally:
        await bot.session.close()
