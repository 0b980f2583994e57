"""Rating buttons end to end: Bot API callback (loopback server) -> aiogram Dispatcher -> the real hub."""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Dispatcher

from bot.rating import make_router
from tests.bot.conftest import file_case, until


@pytest.fixture
async def polling(tg, bots, hub):
    dp = Dispatcher()
    dp.include_router(make_router())
    bot = bots()
    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1, hub=hub))
    yield dp
    await dp.stop_polling()
    await asyncio.wait_for(task, 10)


def answers(tg) -> list[dict]:
    return [r.payload for r in tg.requests if r.method == "answerCallbackQuery"]


async def test_the_reporter_rates_a_closed_case_with_a_button(tg, hub, polling):
    case = await file_case(hub, account="tg:1001")
    await hub.resolve(case, note="已清理")
    await hub.close(case)
    tg.add_callback(1002, f"rate:{case}:1")  # someone else's button press counts for nothing
    await until(lambda: len(answers(tg)) == 1)
    assert "只有反映" in answers(tg)[0]["text"]
    tg.add_callback(1001, f"rate:{case}:5")
    await until(lambda: len(answers(tg)) == 2)
    assert "5分" in answers(tg)[1]["text"]
    req = await hub.get_request(case)
    assert req.rating == 5 and req.state == "rated"
    assert [r.method for r in tg.requests if r.method.startswith("edit")] == ["editMessageReplyMarkup"]
    tg.add_callback(1001, f"rate:{case}:3")  # a second press: already rated
    tg.add_callback(1001, "rate:garbage")
    await until(lambda: len(answers(tg)) == 4)
    later = sorted(a["text"] for a in answers(tg)[2:])  # updates are handled concurrently: any order
    assert any("已评价" in t for t in later) and any("无效" in t for t in later)
    assert (await hub.get_request(case)).rating == 5
