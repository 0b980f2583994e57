"""The terminal chat (`citybot chat`): the same path as Telegram (Rasa REST → actions → hub) and the progress
pushes of an in-process notifier, while staff work the case with `citybot staff ...`.

The sink test runs against the real hub only; the end-to-end test needs .venv-rasa and a trained model
(tests/dialogue/stack.py) and is skipped with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bot.chat_driver import ChatProcess, drive_report
from tests.bot.conftest import file_case, until

ROOT = Path(__file__).resolve().parents[2]
CITYBOT = Path(sys.executable).with_name("citybot")
SAMPLE_PHOTO = ROOT / "data" / "sample_result.jpg"


# -- the sink seam, without Rasa --------------------------------------------------------------------------------

async def test_the_terminal_sink_shows_only_its_own_chats_pushes_and_leaves_the_rest_pending(hub, engine, follow):
    from bot.notifier import Notifier, NotifierConfig
    from citybot.jobs import Jobs
    from bot.terminal import Console, TerminalSink

    mine, telegram_user = "10000", "555"
    case = await file_case(hub, account=f"tg:{mine}")
    follow(mine, case)
    follow(telegram_user, case)
    url = await hub.upload_media(SAMPLE_PHOTO.read_bytes(), "after.jpg", "image/jpeg")
    out = io.StringIO()
    console = Console(out, tty=False)
    notifier = Notifier(hub=hub, engine=engine, sink=TerminalSink(console), chats=[mine],
                        config=NotifierConfig(poll_interval=0.05, chat_interval=0.0, subscribe_grace=0.0,
                                              cursor="terminal"))
    task = asyncio.create_task(notifier.run())
    try:
        await hub.resolve(case, note="已修复", media_urls=[url])
        await hub.close(case)
        await until(lambda: "已核查结案" in out.getvalue())
    finally:
        await notifier.stop()
        await task
    text = out.getvalue()
    assert f"通知：您反映的问题已受理立案，案件编号：{case}" in text
    assert f"案件 {case} 已处理完毕" in text and "处理结果：已修复" in text and f"照片：{url}" in text
    assert "[1] 1分" in text and "[5] 5分" in text and "\033[" not in text  # piped: no colours
    assert console.buttons[4] == ("5分", f"rate:{case}:5")
    # the Telegram user's messages were queued but left for the Telegram notifier
    assert Jobs(engine).counts() == {"sent": notifier.sent, "pending": notifier.sent}


async def test_a_notifier_needs_somewhere_to_deliver(hub, engine):
    from bot.notifier import Notifier

    with pytest.raises(ValueError):
        Notifier(hub=hub, engine=engine)


# -- the whole loop -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from tests.dialogue.stack import Stack, model_or_skip

    model = model_or_skip()
    with Stack(tmp_path_factory.mktemp("stack"), model) as s:
        yield s


def _env(stack, chat_id: str) -> dict:
    d = stack.dir
    return {**os.environ, "HUB_URL": stack.hub_url, "RASA_URL": stack.rasa_url, "VAR_DIR": str(d),
            "DATABASE_URL": f"sqlite:///{d / 'citybot.db'}",  # where the stack's actions record subscriptions
            "TERMINAL_CHAT_ID": chat_id, "NOTIFIER_POLL_INTERVAL_S": "0.5", "LOG_LEVEL": "WARNING"}


def _staff(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CITYBOT), "staff", *args], env=_env(stack, "0"), cwd=ROOT, capture_output=True,
                          text=True, encoding="utf-8", timeout=60)


@pytest.mark.rasa
@pytest.mark.timeout(600)
def test_terminal_chat_files_a_report_and_shows_each_staff_step(stack, tmp_path):
    chat = ChatProcess([str(CITYBOT), "chat"], env=_env(stack, "31337"), cwd=tmp_path)
    try:
        chat.wait_for("citybot staff", timeout=60)  # the greeting names the staff command line
        case = drive_report(chat, "人民路128号门口的井盖不见了", place="人民路128号门口")
        assert "已派遣至区市政设施管理所" in chat.output()  # the filing answer tells the hub's auto-dispatch

        listed = _staff(stack, "--json", "list", "--account", "tg:31337")
        assert listed.returncode == 0, listed.stderr
        assert [c["service_request_id"] for c in json.loads(listed.stdout)] == [case]

        done = _staff(stack, "dispatch", case, "--department", "街道城管执法队", "--note", "请尽快处理")
        assert done.returncode == 0, done.stderr
        assert "街道城管执法队" in done.stdout
        chat.wait_for(f"案件 {case} 已派遣至街道城管执法队", since=0)

        done = _staff(stack, "resolve", case, "--photo", str(SAMPLE_PHOTO), "--note", "已更换井盖")
        assert done.returncode == 0, done.stderr
        photo = json.loads(_staff(stack, "--json", "show", case).stdout)["result_media_urls"][0]
        chat.wait_for(f"案件 {case} 已处理完毕", since=0)
        chat.wait_for(f"照片：{photo}", since=0)
        assert "处理结果：已更换井盖" in chat.output()

        done = _staff(stack, "close", case)
        assert done.returncode == 0, done.stderr
        chat.wait_for("[5] 5分", since=0)  # closed: the rating buttons, numbered
        chat.say("5")
        chat.wait_for("感谢您的评价：5分！")
        assert json.loads(_staff(stack, "--json", "show", case).stdout)["rating"] == 5

        again = _staff(stack, "close", case)  # a rated case cannot be closed: the hub's reason, exit 1
        assert again.returncode == 1 and "rejected (409)" in again.stderr

        # every staff step was pushed once; what the filing answer said (受理, 派遣) was not pushed again
        out = chat.output()
        assert f"案件 {case} 已派遣至区市政设施管理所" not in out and "已受理立案" not in out, out
        assert out.count(f"案件 {case} 已派遣至街道城管执法队") == 1 and out.count(f"案件 {case} 已处理完毕") == 1

        chat.close_stdin()  # EOF ends the chat cleanly
        assert chat.proc.wait(timeout=60) == 0, chat.output()
    finally:
        chat.kill()
