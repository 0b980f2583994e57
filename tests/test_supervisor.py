"""`citybot run`: one supervisor starts the parts, prefixes their logs, and Ctrl-C stops them all; without a
Telegram token the terminal chat owns the console and its end (EOF) stops everything."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from citybot.settings import Settings  # noqa: E402
from citybot.supervisor import plan, rasa_endpoints  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_until(proc: subprocess.Popen, needle: str, timeout: float = 60) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return "".join(seen)
    raise AssertionError(f"{needle!r} not seen; output:\n{''.join(seen)}")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


# -- the plan ------------------------------------------------------------------------------------------------

def _settings(tmp_path: Path, *, model: bool = True, **kw) -> Settings:
    venv, models = tmp_path / "venv-rasa", tmp_path / "models"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "rasa").write_text("#!/bin/sh\n")
    models.mkdir()
    if model:
        (models / "citybot.tar.gz").write_bytes(b"")
    return Settings(var_dir=tmp_path / "var", rasa_venv=venv, models_dir=models, _env_file=None, **kw)


def _by_name(services) -> dict:
    return {s.name: s for s in services}


def test_plan_without_a_token_ends_with_the_terminal_chat_in_the_foreground(tmp_path):
    services = plan(_settings(tmp_path, telegram_bot_token="", actions_url="http://127.0.0.1:5999"))
    assert [s.name for s in services] == ["hub", "rasa", "actions", "chat"]
    named = _by_name(services)
    assert named["chat"].foreground and named["chat"].argv[-1] == "chat"
    assert not any(s.foreground for s in services[:-1])
    assert named["actions"].argv[-5:] == ["actions", "--host", "127.0.0.1", "--port", "5999"]
    assert named["actions"].ready_url == "http://127.0.0.1:5999/health"
    # Rasa is pointed at exactly that action server
    endpoints = yaml.safe_load(Path(named["rasa"].argv[named["rasa"].argv.index("--endpoints") + 1]).read_text())
    assert endpoints["action_endpoint"]["url"] == "http://127.0.0.1:5999/webhook"
    tracker = endpoints.get("tracker_store") or {}
    if tracker.get("dialect") == "sqlite":  # conversations are kept under this run's var_dir, not the repository's
        assert Path(tracker["db"]).parent == tmp_path / "var"


def test_plan_with_a_token_runs_the_notifier_and_the_telegram_bot_in_the_background(tmp_path):
    services = plan(_settings(tmp_path, telegram_bot_token="123:abc"))
    assert [s.name for s in services] == ["hub", "rasa", "actions", "notifier", "bot"]
    assert not any(s.foreground for s in services)
    named = _by_name(services)
    assert named["notifier"].argv[-1] == "notifier" and named["bot"].argv[-1] == "bot"


def test_plan_without_a_model_starts_no_rasa_and_no_chat(tmp_path):
    services = plan(_settings(tmp_path, model=False, telegram_bot_token=""))
    assert [s.name for s in services] == ["hub", "actions"]


def test_plan_with_the_terminal_chat_turned_off(tmp_path):
    services = plan(_settings(tmp_path, telegram_bot_token="", terminal_chat=False))
    assert [s.name for s in services] == ["hub", "rasa", "actions"]


def test_the_default_endpoints_file_serves_the_default_layout_as_it_is():
    settings = Settings(var_dir=ROOT / "var", _env_file=None)
    assert rasa_endpoints(settings) == ROOT / "endpoints.yml"


# -- real runs -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_run_starts_the_hub_and_ctrl_c_stops_everything(tmp_path, sigint):
    """`ignored`: started as a script's background job, which inherits SIGINT ignored; Ctrl-C must still work."""
    port, actions_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path),
        "MEDIA_DIR": str(tmp_path / "media"),
        "HUB_PORT": str(port),
        "HUB_URL": f"http://127.0.0.1:{port}",
        "ACTIONS_URL": f"http://127.0.0.1:{actions_port}",
        "MODELS_DIR": str(tmp_path / "no-models"),  # no model: only the parts that need none start
        "TELEGRAM_BOT_TOKEN": "",
        "TERMINAL_CHAT": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "citybot.cli", "run"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint == "ignored" else None,
    )
    try:
        out = _read_until(proc, "citybot is running")
        assert "[hub]" in out  # the hub's own log lines carry its name
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/open311/v2/services.json", timeout=5) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{actions_port}/health", timeout=5) as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGINT)
        try:  # read on while it stops: a full pipe would block its logging
            rest, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"citybot run did not stop on Ctrl-C; output:\n{proc.communicate()[0]}") from None
        assert proc.returncode == 0, rest
    finally:
        if proc.poll() is None:
            proc.kill()
    # the ports are free again: the children were stopped, not orphaned
    assert _port_free(port) and _port_free(actions_port)


def test_a_killed_supervisor_takes_its_children_with_it(tmp_path):
    """SIGKILL leaves no handler to run: the children must still go (PR_SET_PDEATHSIG), not hold their ports."""
    port, actions_port = _free_port(), _free_port()
    env = {**os.environ, "VAR_DIR": str(tmp_path), "MEDIA_DIR": str(tmp_path / "media"), "HUB_PORT": str(port),
           "HUB_URL": f"http://127.0.0.1:{port}", "ACTIONS_URL": f"http://127.0.0.1:{actions_port}",
           "MODELS_DIR": str(tmp_path / "no-models"), "TELEGRAM_BOT_TOKEN": "", "TERMINAL_CHAT": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "citybot.cli", "run"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    try:
        _read_until(proc, "citybot is running")
        assert not _port_free(port) and not _port_free(actions_port)
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (_port_free(port) and _port_free(actions_port)):
        time.sleep(0.2)
    assert _port_free(port) and _port_free(actions_port), "a child outlived the supervisor"


@pytest.mark.rasa
@pytest.mark.timeout(600)
def test_run_without_a_token_is_a_terminal_chat_that_files_a_report_and_ends_on_eof(tmp_path):
    from tests.bot.chat_driver import ChatProcess, drive_report
    from tests.dialogue.stack import model_or_skip

    model = model_or_skip()
    models = tmp_path / "models"
    models.mkdir()
    (models / model.name).symlink_to(model)
    ports = {name: _free_port() for name in ("hub", "actions", "rasa")}
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path / "var"),
        "MEDIA_DIR": str(tmp_path / "var" / "media"),
        "HUB_PORT": str(ports["hub"]),
        "HUB_URL": f"http://127.0.0.1:{ports['hub']}",
        "HUB_SWEEP_INTERVAL_S": "0",
        "ACTIONS_URL": f"http://127.0.0.1:{ports['actions']}",
        "RASA_URL": f"http://127.0.0.1:{ports['rasa']}",
        "MODELS_DIR": str(models),
        "TELEGRAM_BOT_TOKEN": "",
        "TERMINAL_CHAT": "true",
        "TERMINAL_CHAT_ID": "424242",
    }
    chat = ChatProcess([sys.executable, "-m", "citybot.cli", "run"], env=env, cwd=tmp_path)
    try:
        chat.wait_for("citybot 终端聊天", timeout=300)  # the greeting: hub, Rasa and actions are up
        assert "var/logs" in chat.output() or "logs" in chat.output()  # it says where the background logs go
        case_id = drive_report(chat, "人民路128号门口的井盖不见了", place="人民路128号门口")
        # a staff step reaches the chat as a push from the hub's updates feed (受理/派遣 were in the answer)
        staff = subprocess.run([sys.executable, "-m", "citybot.cli", "staff", "status", case_id, "in_progress"],
                               env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert staff.returncode == 0, staff.stderr
        chat.wait_for(f"案件 {case_id} 正在处置中", timeout=60)
        chat.close_stdin()  # EOF: the chat ends, and with it every part
        assert chat.proc.wait(timeout=60) == 0, chat.output()
    finally:
        chat.kill()
    for port in ports.values():
        assert _port_free(port), f"port {port} still taken: a child was orphaned\n{chat.output()}"
    assert (tmp_path / "var" / "logs" / "hub.log").read_text(encoding="utf-8").startswith("[hub]")
