"""`citybot run`: one supervisor that starts every part of citybot as a child process.

Each child's output is prefixed with its name, so the logs say which part said what. Ctrl-C (or SIGTERM)
stops all children cleanly: SIGTERM first, SIGKILL after a grace period. If a child dies on its own, the
supervisor stops the rest and exits non-zero: a half-running system is worse than a stopped one.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from citybot.settings import ROOT, Settings, get_settings

log = logging.getLogger("citybot.supervisor")

GRACE_S = 10.0


@dataclass
class Service:
    name: str
    argv: list[str]
    ready_url: str | None = None  # polled until it answers before the next service starts
    ready_timeout_s: float = 60.0
    env: dict[str, str] = field(default_factory=dict)
    foreground: bool = False  # owns the terminal (stdin/stdout) instead of prefixed logs


def _citybot(*args: str) -> list[str]:
    return [sys.executable, "-m", "citybot.cli", *args]


def plan(settings: Settings) -> list[Service]:
    """The services `citybot run` starts, in start order."""
    services = [
        Service("hub", _citybot("hub"), ready_url=f"http://{settings.hub_host}:{settings.hub_port}/healthz"),
    ]
    rasa_bin = Path(settings.rasa_venv) / "bin" / "rasa"
    models = sorted(Path(settings.models_dir).glob("*.tar.gz"))
    if rasa_bin.exists() and models:
        services.append(
            Service(
                "rasa",
                [str(rasa_bin), "run", "--enable-api", "--model", str(models[-1]), "--interface", "127.0.0.1",
                 "--port", settings.rasa_url.rsplit(":", 1)[-1].split("/")[0], "--endpoints", str(ROOT / "endpoints.yml"),
                 "--credentials", str(ROOT / "credentials.yml")],
                ready_url=f"{settings.rasa_url}/status",
                ready_timeout_s=180.0,
                env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"},
            )
        )
    else:
        log.warning("no trained model under %s: the Rasa server is not started (run `citybot train`)", settings.models_dir)
    return services


def _pump(name: str, stream, out) -> None:
    for line in iter(stream.readline, b""):
        out.write(f"[{name}] {line.decode('utf-8', 'replace')}")
        out.flush()


def _wait_ready(url: str, timeout_s: float, proc: subprocess.Popen) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (loopback URL from settings)
                if resp.status < 500:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


class Supervisor:
    def __init__(self, services: list[Service]):
        self.services = services
        self.procs: dict[str, subprocess.Popen] = {}
        self._stopping = threading.Event()

    def start(self) -> None:
        for svc in self.services:
            env = {**os.environ, **svc.env}
            if svc.foreground:
                proc = subprocess.Popen(svc.argv, env=env, cwd=ROOT)
            else:
                proc = subprocess.Popen(
                    svc.argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                )
                threading.Thread(target=_pump, args=(svc.name, proc.stdout, sys.stdout), daemon=True).start()
            self.procs[svc.name] = proc
            log.info("started %s (pid %s)", svc.name, proc.pid)
            if svc.ready_url and not _wait_ready(svc.ready_url, svc.ready_timeout_s, proc):
                raise RuntimeError(f"{svc.name} did not become ready at {svc.ready_url}")

    def wait(self) -> int:
        """Block until a child exits or we are asked to stop; returns the exit code for `citybot run`."""
        while not self._stopping.is_set():
            for name, proc in self.procs.items():
                code = proc.poll()
                if code is not None:
                    svc = next(s for s in self.services if s.name == name)
                    if svc.foreground and code == 0:
                        log.info("%s finished; stopping the rest", name)
                        return 0
                    log.error("%s exited with code %s; stopping the rest", name, code)
                    return code or 1
            self._stopping.wait(0.5)
        return 0

    def stop(self) -> None:
        self._stopping.set()
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                log.info("stopping %s", name)
                proc.terminate()
        deadline = time.monotonic() + GRACE_S
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0fs; killing it", name, GRACE_S)
                proc.kill()


def run_all(settings: Settings | None = None) -> int:
    settings = settings or get_settings()
    Path(settings.var_dir).mkdir(parents=True, exist_ok=True)
    sup = Supervisor(plan(settings))

    def _on_signal(signum, _frame):
        sup._stopping.set()

    signal.signal(signal.SIGTERM, _on_signal)
    try:
        sup.start()
        log.info("citybot is running; Ctrl-C stops it")
        return sup.wait()
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        log.error("%s", exc)
        return 1
    finally:
        sup.stop()
