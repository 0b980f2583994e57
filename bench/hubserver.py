"""A reference hub in a child process on a free loopback port, for the benchmarks and the tests that need a real
hub process (e.g. two processes on one database)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_hub(workdir: str, db_url: str | None = None, **env: str) -> tuple[subprocess.Popen, str]:
    """Start the hub with its data under `workdir`; extra settings as `env`. Returns (process, base URL)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HUB_DATABASE_URL": db_url or f"sqlite:///{workdir}/hub.db", "VAR_DIR": workdir,
           "MEDIA_DIR": f"{workdir}/media", "HUB_SWEEP_INTERVAL_S": "0", "LOG_LEVEL": "WARNING",
           "HUB_HOST": "127.0.0.1", "HUB_PORT": str(port), "HUB_PUBLIC_URL": base, **env}
    code = ("import uvicorn; from hub.app import create_app; "
            f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning', access_log=False)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=workdir, env=env)
    for _ in range(400):
        try:
            if httpx.get(f"{base}/open311/v2/services.json", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("hub server exited during startup")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("hub server did not start")
