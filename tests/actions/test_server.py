"""`citybot actions` as a real process on loopback: /health, the webhook, and the outbox retry loop filing a
report queued while the hub was down exactly once when the hub (`citybot hub`) comes up."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from action_helpers import TRACKERS
from actions import texts

CITYBOT = Path(sys.executable).with_name("citybot")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{proc.args} exited with {proc.returncode}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url} not up after {timeout}s")


@pytest.fixture
def procs():
    started: list[subprocess.Popen] = []
    yield started
    for p in started:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def test_queued_while_hub_down_then_filed_once_by_the_retry_loop(tmp_path, procs):
    hub_port, act_port = free_port(), free_port()
    env = {**os.environ, "VAR_DIR": str(tmp_path), "MEDIA_DIR": str(tmp_path / "media"),
           "HUB_URL": f"http://127.0.0.1:{hub_port}", "DATABASE_URL": f"sqlite:///{tmp_path / 'citybot.db'}",
           "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}", "HUB_SWEEP_INTERVAL_S": "0"}
    log = (tmp_path / "actions.log").open("wb")
    procs.append(subprocess.Popen([str(CITYBOT), "actions", "--port", str(act_port), "--retry-interval", "0.2",
                                   "--hub-retries", "0"], env={**env, "JOBS_BACKOFF_S": "0.2"}, stdout=log, stderr=log))
    wait_for(f"http://127.0.0.1:{act_port}/health", procs[-1])
    with pytest.raises(httpx.ConnectError):  # bound to loopback only
        host = socket.gethostbyname(socket.gethostname())
        if host.startswith("127."):
            raise httpx.ConnectError("no non-loopback address to try")
        httpx.get(f"http://{host}:{act_port}/health", timeout=1)

    tracker = json.loads((TRACKERS / "submit_report.json").read_text(encoding="utf-8"))
    call = {"next_action": "action_submit_report", "sender_id": "10001", "tracker": tracker,
            "domain": {"responses": {}}, "version": "3.6.21"}
    reply = httpx.post(f"http://127.0.0.1:{act_port}/webhook", json=call, timeout=30).json()
    assert [r["text"] for r in reply["responses"]] == [texts.render("utter_report_queued")]
    assert {e["name"] for e in reply["events"]} >= {"report_code", "report_external_id"}
    httpx.post(f"http://127.0.0.1:{act_port}/webhook", json=call, timeout=30)  # "确认" pressed twice

    procs.append(subprocess.Popen([str(CITYBOT), "hub", "--host", "127.0.0.1", "--port", str(hub_port),
                                   "--sweep-interval", "0"], env=env, stdout=log, stderr=log))
    hub = f"http://127.0.0.1:{hub_port}/open311/v2/requests.json"
    wait_for(hub + "?api_key=citybot-dev-key", procs[-1])
    deadline, cases = time.monotonic() + 20, []
    while time.monotonic() < deadline and not cases:
        cases = httpx.get(hub, params={"account_id": "tg:10001", "api_key": "citybot-dev-key"}).json()
        time.sleep(0.3)
    time.sleep(1.5)  # several more passes of the loop: still one case
    cases = httpx.get(hub, params={"account_id": "tg:10001", "api_key": "citybot-dev-key"}).json()
    assert len(cases) == 1
    assert (cases[0]["service_code"], cases[0]["external_id"]) == ("SZSS-01", "ext-submit-1")
    db = sqlite3.connect(tmp_path / "citybot.db")
    assert db.execute("SELECT state, result FROM citybot_job WHERE kind = 'file'").fetchall() == [
        ("sent", cases[0]["service_request_id"])]
    assert db.execute("SELECT chat_id, case_id FROM citybot_subscription").fetchall() == [
        ("10001", cases[0]["service_request_id"])]
