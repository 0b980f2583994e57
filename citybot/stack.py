"""The whole dialogue stack on loopback, as separate processes: the hub (`citybot hub`), the action server
(`citybot actions`) and Rasa (`rasa run --enable-api` in .venv-rasa) with a trained model, each on a free port and
with its state in one directory. Used by `citybot eval-dialogue`, the dialogue tests and bench/dialogue.py."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
CITYBOT = Path(sys.executable).with_name("citybot")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_model() -> Path | None:
    """CITYBOT_DIALOGUE_MODEL, else the newest archive in models/ whose domain has the dialogue actions."""
    env = os.environ.get("CITYBOT_DIALOGUE_MODEL")
    if env:
        return Path(env) if Path(env).exists() else None
    import tarfile

    for path in sorted((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            with tarfile.open(path) as tar:
                member = next((m for m in tar.getmembers() if m.name.endswith("domain.yml")), None)
                if member and b"action_start_report" in tar.extractfile(member).read():
                    return path
        except (tarfile.TarError, OSError):
            continue
    return None


def png() -> bytes:
    """A valid 2x2 PNG, for uploading a 'photo' to the hub."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _wait(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:3]} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up in {timeout:.0f}s:\n{log.read_text(errors='replace')[-3000:]}")


class Stack:
    def __init__(self, workdir: Path, model: Path):
        self.dir, self.model = workdir, model
        self.hub_port, self.actions_port, self.rasa_port = free_port(), free_port(), free_port()
        self.hub_url = f"http://127.0.0.1:{self.hub_port}"
        self.rasa_url = f"http://127.0.0.1:{self.rasa_port}"
        self.procs: list[subprocess.Popen] = []

    def _start(self, name: str, cmd: list, env: dict, cwd: Path) -> subprocess.Popen:
        log = self.dir / f"{name}.log"
        proc = subprocess.Popen([str(c) for c in cmd], cwd=cwd, env={**os.environ, **env},
                                stdout=log.open("wb"), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def __enter__(self) -> Stack:
        d = self.dir
        env = {"VAR_DIR": str(d), "MEDIA_DIR": str(d / "media"), "HUB_URL": self.hub_url,
               "DATABASE_URL": f"sqlite:///{d / 'citybot.db'}", "HUB_DATABASE_URL": f"sqlite:///{d / 'hub.db'}",
               "HUB_PUBLIC_URL": self.hub_url, "HUB_SWEEP_INTERVAL_S": "0", "LOG_LEVEL": "WARNING"}
        try:
            hub = self._start("hub", [CITYBOT, "hub", "--host", "127.0.0.1", "--port", self.hub_port], env, d)
            act = self._start("actions", [CITYBOT, "actions", "--port", self.actions_port, "--retry-interval", "1",
                                          "--hub-retries", "0"], env, d)
            (d / "endpoints.yml").write_text(
                f'action_endpoint:\n  url: "http://127.0.0.1:{self.actions_port}/webhook"\n', encoding="utf-8")
            (d / "credentials.yml").write_text("rest:\n", encoding="utf-8")
            rasa = self._start("rasa", [RASA, "run", "--enable-api", "-m", self.model, "-i", "127.0.0.1",
                                        "-p", self.rasa_port, "--endpoints", d / "endpoints.yml",
                                        "--credentials", d / "credentials.yml"],
                               {**env, "PYTHONPATH": str(ROOT)}, d)
            _wait(f"{self.hub_url}/open311/v2/services.json", hub, 60, d / "hub.log")
            _wait(f"http://127.0.0.1:{self.actions_port}/health", act, 60, d / "actions.log")
            _wait(f"{self.rasa_url}/status", rasa, 240, d / "rasa.log")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()

    def say(self, sender: str, text: str, metadata: dict | None = None, client: httpx.Client | None = None) -> list[dict]:
        body = {"sender": sender, "message": text, **({"metadata": metadata} if metadata else {})}
        post = (client or httpx).post
        resp = post(f"{self.rasa_url}/webhooks/rest/webhook", json=body, timeout=60)
        resp.raise_for_status()
        return resp.json()
