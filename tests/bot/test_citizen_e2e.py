"""The citizen bot end to end: the loopback Bot API server <-> aiogram (polling, real HTTP) <-> the REAL dialogue
stack (Rasa + action server + hub as processes on loopback, started once for this module), and back through the
notifier. Needs .venv-rasa and a trained model with the dialogue domain; skipped with the reason otherwise."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.bot.citizen_harness import keyboard, running_bot, texts
from tests.bot.conftest import image_bytes, until

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dialogue"))
from stack import RASA, Stack, _wait, model_or_skip  # noqa: E402

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

TRACKER_STORE = '\ntracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: "{db}"\n'


class TrackerStack(Stack):
    """The dialogue stack with Rasa's conversations in SQLite (as endpoints.yml configures), and a Rasa restart."""

    def _start(self, name, cmd, env, cwd):
        if name == "rasa":
            endpoints = self.dir / "endpoints.yml"
            endpoints.write_text(endpoints.read_text(encoding="utf-8")
                                 + TRACKER_STORE.format(db=self.dir / "rasa-tracker.db"), encoding="utf-8")
            self._rasa = (cmd, env, cwd)
        return super()._start(name, cmd, env, cwd)

    def restart_rasa(self) -> None:
        old = next(p for p in self.procs if str(p.args[0]) == str(RASA))
        old.terminate()
        old.wait(timeout=30)
        self.procs.remove(old)
        proc = super()._start("rasa-restarted", *self._rasa)
        _wait(f"{self.rasa_url}/status", proc, 240, self.dir / "rasa-restarted.log")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    model = model_or_skip()
    with TrackerStack(tmp_path_factory.mktemp("citizen-stack"), model) as s:
        yield s


@pytest.fixture
def stack_engine(stack):
    """citybot's database of the stack (the action server writes subscriptions there; the bot its buttons)."""
    import bot.buttons  # noqa: F401
    import citybot.subscriptions  # noqa: F401
    from citybot.db import create_tables, make_engine

    engine = make_engine(f"sqlite:///{stack.dir / 'citybot.db'}")
    create_tables(engine)
    yield engine
    engine.dispose()


@pytest.fixture
async def stack_hub(stack):
    from citybot.settings import DEV_API_KEY, DEV_STAFF_TOKEN
    from hubapi.client import HubClient

    async with HubClient(stack.hub_url, api_key=DEV_API_KEY, staff_token=DEV_STAFF_TOKEN, retries=1) as client:
        yield client


@pytest.fixture
def citizen_bot(tg, stack, stack_engine, stack_hub):
    def make(**kw):
        return running_bot(tg, engine=stack_engine, hub=stack_hub, hub_url=stack.hub_url, rasa_url=stack.rasa_url,
                           **kw)
    return make


def last(tg, chat):
    return tg.sent(chat_id=chat)[-1]


async def press(tg, chat, title_part: str, n_before: int) -> None:
    """Press the button whose title contains `title_part` under the bot's last message; wait for the answer."""
    record = last(tg, chat)
    data = next(d for t, d in keyboard(record) if title_part in t)
    tg.add_callback(chat, data, message_id=1)
    await until(lambda: len(texts(tg, chat)) > n_before, timeout=60)


async def report_with_photo_and_location(tg, chat: int, where=(22.5431, 114.0579),
                                         caption="人民路128号门口的井盖不见了") -> str:
    """Location first, then the photo with the description, then 确认提交: returns the case number."""
    tg.add_location(chat, *where)
    await until(lambda: texts(tg, chat), timeout=60)
    assert "收到位置" in texts(tg, chat)[-1]
    tg.add_photo(chat, image_bytes(), caption=caption)
    await until(lambda: len(texts(tg, chat)) == 2, timeout=60)
    summary = texts(tg, chat)[-1]
    assert "井盖缺失破损" in summary and "照片1张" in summary and "确认提交吗" in summary, summary
    await press(tg, chat, "确认", 2)
    filed = texts(tg, chat)[-1]
    assert "案件编号" in filed, texts(tg, chat)
    return filed.split("案件编号：", 1)[1][:14]


async def test_a_citizen_reports_with_a_photo_and_a_location_and_receives_a_case_number(tg, citizen_bot, stack_hub,
                                                                                        stack_engine):
    from sqlmodel import Session

    from citybot.subscriptions import cases_of

    chat = 810001
    async with citizen_bot():
        case_id = await report_with_photo_and_location(tg, chat)
    answers = [r for r in tg.requests if r.method == "answerCallbackQuery"]
    assert len(answers) == 1 and answers[0].status == 200
    case = await stack_hub.get_request(case_id)
    assert case.service_code == "SZSS-01"
    assert case.media_url and case.media_url.startswith("http")
    assert abs(case.lat - 22.5431) < 1e-6 and abs(case.long - 114.0579) < 1e-6
    assert "井盖不见了" in (case.description or "")
    with Session(stack_engine) as s:
        assert case_id in cases_of(chat, session=s)  # the chat follows its case


async def test_ambiguous_text_gets_buttons_and_a_press_is_answered_and_goes_on(tg, citizen_bot):
    chat = 810002
    async with citizen_bot():
        tg.add_text(chat, "路边有东西")
        await until(lambda: texts(tg, chat), timeout=60)
        buttons = keyboard(last(tg, chat))
        assert len(buttons) == 2 and all(len(d.encode()) <= 64 for _, d in buttons), buttons
        tg.add_callback(chat, buttons[0][1])
        await until(lambda: len(texts(tg, chat)) == 2, timeout=60)
        assert "在哪里" in texts(tg, chat)[-1]
        tg.add_text(chat, "/deny")  # typed intents work like buttons: end the report
        await until(lambda: len(texts(tg, chat)) == 3, timeout=60)
    answers = [r for r in tg.requests if r.method == "answerCallbackQuery"]
    assert len(answers) == 1 and answers[0].status == 200


async def test_an_album_is_one_turn_with_all_its_photos(tg, citizen_bot):
    chat = 810003
    async with citizen_bot(telegram_album_wait_s=0.5):
        tg.add_photo(chat, image_bytes((1, 2, 3)), caption="人民路128号门口的井盖不见了", media_group_id="a1")
        tg.add_photo(chat, image_bytes((200, 2, 3)), media_group_id="a1")
        await until(lambda: texts(tg, chat), timeout=60)
        await asyncio.sleep(1.0)
        assert len(texts(tg, chat)) == 1
        assert "照片2张" in texts(tg, chat)[0]
        tg.add_photo(chat, image_bytes((9, 9, 9)))  # a photo alone while the form asks: kept, summary again
        await until(lambda: len(texts(tg, chat)) == 2, timeout=60)
        assert "照片3张" in texts(tg, chat)[-1]
        await press(tg, chat, "取消", 2)


async def test_a_photo_first_then_the_words_files_with_the_photo(tg, citizen_bot, stack_hub):
    """一键爆料 habit: the photo (no caption) before the description; the next report takes it."""
    chat = 810007
    async with citizen_bot():
        tg.add_photo(chat, image_bytes((30, 60, 90)))
        await until(lambda: texts(tg, chat), timeout=60)
        assert "收到照片" in texts(tg, chat)[-1]
        tg.add_text(chat, "解放路12号门口的井盖不见了")
        await until(lambda: len(texts(tg, chat)) == 2, timeout=60)
        summary = texts(tg, chat)[-1]
        assert "照片1张" in summary and "确认提交吗" in summary, summary
        tg.add_location(chat, 22.6101, 114.1201)  # a location at the confirmation corrects the place
        await until(lambda: len(texts(tg, chat)) == 3, timeout=60)
        await press(tg, chat, "确认", 3)
        filed = texts(tg, chat)[-1]
    assert "案件编号" in filed, texts(tg, chat)
    case = await stack_hub.get_request(filed.split("案件编号：", 1)[1][:14])
    assert case.media_url and abs(case.lat - 22.6101) < 1e-6


async def test_a_429_on_the_bots_reply_delays_it_but_delivers_it_once(tg, citizen_bot):
    chat = 810004
    async with citizen_bot():
        tg.fail_next(1, retry_after=1, method="sendMessage")
        tg.add_text(chat, "你好")
        await until(lambda: texts(tg, chat), timeout=60)
        await asyncio.sleep(0.3)
    attempts = [r for r in tg.requests if r.method == "sendMessage" and r.chat_id == str(chat)]
    assert [r.status for r in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 0.95
    assert "城市管理服务助手" in texts(tg, chat)[0]


async def test_the_whole_loop_progress_messages_and_result_photo_reach_the_reporting_chat(
        tg, citizen_bot, stack_hub, stack_engine, bots):
    from bot.notifier import Notifier, NotifierConfig
    from stack import png

    chat = 810005
    notifier = Notifier(bot=bots(), hub=stack_hub, engine=stack_engine,
                        config=NotifierConfig(poll_interval=0.1, chat_interval=0.2, backoff=0.1, subscribe_grace=0.5,
                                              cursor="citizen-e2e"))
    task = asyncio.create_task(notifier.run())
    try:
        async with citizen_bot():
            # far from the first test's case (else the hub links it as a duplicate)
            case_id = await report_with_photo_and_location(tg, chat, (22.6012, 114.1234), "解放路66号的井盖不见了")
            await stack_hub.set_status(case_id, "in_progress", note="已到场")
            await until(lambda: any("处置中" in t and case_id in t for t in texts(tg, chat)), timeout=30)
            photo_url = await stack_hub.upload_media(png(), "done.png", "image/png")
            await stack_hub.resolve(case_id, note="已更换新井盖", media_urls=[photo_url])
            await until(lambda: tg.sent("sendPhoto", chat_id=chat), timeout=30)
            await asyncio.sleep(0.5)
    finally:
        await notifier.stop()
        await asyncio.wait_for(task, 10)
    progress = [t for t in texts(tg, chat) if "已为您提交" not in t]  # the notifier's, not the dialogue's
    # the filing answer told 受理 and 派遣: they are not pushed again; every later step is pushed once
    assert not any("受理" in t or "已派遣至" in t for t in progress), progress
    assert sum("处置中" in t and "已到场" in t for t in progress) == 1, progress
    photos = tg.sent("sendPhoto", chat_id=chat)
    assert len(photos) == 1 and "已更换新井盖" in photos[0].payload.get("caption", "")
    assert photos[0].files  # uploaded bytes, not a loopback URL


async def test_a_conversation_survives_a_rasa_restart_and_old_buttons_still_work(tg, stack, citizen_bot,
                                                                                   stack_hub):
    chat = 810006
    async with citizen_bot():
        tg.add_text(chat, "路灯不亮了")
        await until(lambda: texts(tg, chat), timeout=60)
        assert "在哪里" in texts(tg, chat)[-1], texts(tg, chat)
    await asyncio.to_thread(stack.restart_rasa)
    async with citizen_bot():  # a new bot process too: only the databases are left
        tg.add_text(chat, "建设路9号")
        await until(lambda: len(texts(tg, chat)) == 2, timeout=120)
        assert "确认提交吗" in texts(tg, chat)[-1], texts(tg, chat)  # the form went on where it was
    await asyncio.to_thread(stack.restart_rasa)
    async with citizen_bot():
        await press(tg, chat, "确认", 2)  # a button sent before both restarts
    assert "案件编号" in texts(tg, chat)[-1], texts(tg, chat)
