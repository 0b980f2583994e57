"""Helpers of the security probes: real `citybot hub` processes (own secrets, SQLite or PostgreSQL, their log in a
file), `citybot` runs that must refuse to start, raw HTTP for uploads that never end, crafted images.

A plain module (tests/security is not a package), named so that it shadows nothing."""

from __future__ import annotations

import io
import itertools
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import httpx

KEY, OTHER_KEY = "key-citybot-6f1d2a9c7b", "key-webform-0c8e41d2aa"  # clients "citybot" and "web"
ADMIN, STREET_OP, STREET_SUP, DISTRICT = "tok-admin-5a7c9e", "tok-streetop-1b3d5f", "tok-streetsup-2c4e6a", "tok-dist-3d5f7b"
CHANNEL = "tok-channel-8e0a2c4d"
SALT = "salt-4f6a8c0e2b4d6f8a"
SECRETS = {
    "HUB_API_KEYS": f"citybot:{KEY},web:{OTHER_KEY}",
    "HUB_STAFF_TOKENS": f"{ADMIN}:admin:市:,{STREET_OP}:operator:街道:区环境卫生管理所,"
                        f"{STREET_SUP}:supervisor:街道:区环境卫生管理所,{DISTRICT}:supervisor:区:",
    "HUB_CHANNEL_TOKENS": f"{CHANNEL}:tg",
    "PHONE_HASH_SALT": SALT,
}
# Settings a probe must not inherit from the environment it runs in.
_OURS = ("HUB_", "PHONE_HASH_SALT", "MEDIA_", "VAR_DIR", "STAFF_", "TELEGRAM_", "DATABASE_URL", "LOG_LEVEL")


def auth(token: str, acting: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if acting:
        headers["X-Acting-Staff"] = acting
    return headers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def citybot_argv(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("citybot")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "import sys; from citybot.cli import main; sys.exit(main())", *args]


def clean_env(**env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    return {**base, **env}


def run_citybot(args: list[str], cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(citybot_argv(*args), cwd=cwd, env=clean_env(**env), capture_output=True, text=True,
                          timeout=timeout)


@dataclass
class HubProc:
    proc: subprocess.Popen
    base: str
    log_path: Path
    db_url: str

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_hub(workdir: Path, db_url: str | None = None, *, secrets: bool = True, **env: str) -> HubProc:
    """`citybot hub` on a free loopback port with its data under `workdir`; waits for /healthz."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    db_url = db_url or f"sqlite:///{workdir / 'hub.db'}"
    settings = {"VAR_DIR": str(workdir), "MEDIA_DIR": str(workdir / "media"), "HUB_DATABASE_URL": db_url,
                "HUB_HOST": "127.0.0.1", "HUB_PORT": str(port), "HUB_PUBLIC_URL": base, "HUB_SWEEP_INTERVAL_S": "0",
                "LOG_LEVEL": "INFO", **(SECRETS if secrets else {}), **env}
    log_path = workdir / f"hub-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(citybot_argv("hub"), cwd=workdir, env=clean_env(**settings), stdout=log, stderr=log)
    hub = HubProc(proc, base, log_path, db_url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"citybot hub exited ({proc.returncode}):\n{hub.log()[-2000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return hub
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    hub.stop()
    raise RuntimeError("citybot hub did not start in 60 s")


_PLACES = itertools.count()


def file(http: httpx.Client, key: str = KEY, **form: str) -> dict:
    """POST requests.json (a valid filing, fields overridable); the created answer. Each filing is ~1 km from
    the others, so that the duplicate rule links none of them unless a test says so."""
    n = next(_PLACES)
    data = {"api_key": key, "service_code": "SRHJ-01", "lat": f"{20.0 + n * 0.01:.5f}", "long": "114.05790",
            "description": "小区门口垃圾成堆"}
    data.update(form)
    if data.get("lat") is None:  # lat=None: filed by address only
        data.pop("lat", None), data.pop("long", None)
    r = http.post("/open311/v2/requests.json", data=data)
    assert r.status_code in (200, 201), r.text
    return r.json()[0]


@dataclass
class RawAnswer:
    status: int | None
    head: bytes
    sent: int  # body bytes sent before the answer came (or the connection ended)


MULTIPART_HEAD = (b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jpg\"\r\n"
                  b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff")


def stream_upload(base: str, path: str, total: int, *, headers: dict[str, str], chunk: int = 1 << 20,
                  prefix: bytes = MULTIPART_HEAD, content_type: str = "multipart/form-data; boundary=x",
                  timeout: float = 60) -> RawAnswer:
    """POST a chunked multipart body (boundary x) whose one file part never ends, `total` bytes of it, one chunk
    at a time, reading the answer as it comes: how far the upload got before the server answered (or stopped
    listening)."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    answer = bytearray()
    done = threading.Event()

    def read() -> None:
        try:
            while b"\r\n\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer.extend(data)
        except OSError:
            pass
        finally:
            done.set()

    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Transfer-Encoding: chunked",
            f"Content-Type: {content_type}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + b"%x\r\n" % len(prefix) + prefix + b"\r\n")
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sent, block = 0, b"\x00" * chunk
    try:
        while sent < total and not done.is_set():
            sock.sendall(b"%x\r\n" % chunk + block + b"\r\n")
            sent += chunk
        if not done.is_set():
            sock.sendall(b"0\r\n\r\n")
    except OSError:  # the server closed the connection after answering
        pass
    done.wait(timeout)
    sock.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None
    return RawAnswer(status, bytes(answer), sent)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels (with almost no data): a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def jpeg_with_gps() -> bytes:
    from PIL import Image

    img = Image.new("RGB", (32, 24), (90, 140, 60))
    exif = Image.Exif()
    exif[0x010F] = "CityPhone"
    exif[0x8825] = {1: "N", 2: (22.0, 32.0, 35.0), 3: "E", 4: (114.0, 3.0, 28.0)}
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue()
