"""`citybot run`: one supervisor starts the parts, prefixes their logs, and Ctrl-C stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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


def test_run_starts_the_hub_and_ctrl_c_stops_everything(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path),
        "MEDIA_DIR": str(tmp_path / "media"),
        "HUB_PORT": str(port),
        "HUB_URL": f"http://127.0.0.1:{port}",
        "MODELS_DIR": str(tmp_path / "no-models"),  # no model: only the parts that need none start
        "TELEGRAM_BOT_TOKEN": "",
        "CITYBOT_TERMINAL_CHAT": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "citybot.cli", "run"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
    )
    try:
        out = _read_until(proc, "citybot is running")
        assert "[hub]" in out  # the hub's own log lines carry its name
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/open311/v2/services.json", timeout=5) as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with socket.socket() as s:  # the hub's port is free again: the child was stopped, not orphaned
        assert s.connect_ex(("127.0.0.1", port)) != 0
