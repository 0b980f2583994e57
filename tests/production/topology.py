"""The compose topology as processes on loopback, for the production-like check (tests/production).

Like docker-compose.yml: hubs (`citybot hub`) behind a round-robin proxy (hub-lb), Rasa servers sharing a
PostgreSQL tracker store and a Redis lock store (the stores of endpoints.docker.yml, pointed at this machine),
action servers (`citybot actions`) behind a proxy (compose: the service name resolves to every replica), the
notifier(s) (`citybot notifier`) and the Telegram bot (`citybot bot`, long polling the loopback Bot API server).
Each replica keeps its port over a restart, so a proxy never needs to learn a new address; `kill()` is SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from citybot.stack import CITYBOT, RASA, ROOT, free_port
from tests.rrproxy import RoundRobinProxy


@dataclass
class Replica:
    """One process of a service; `restart()` starts it again on the same port, with the same settings."""

    name: str
    argv: list[str]
    env: dict[str, str]
    workdir: Path
    port: int | None = None
    ready_path: str | None = None  # polled (HTTP 200) before the replica counts as up
    ready_timeout: float = 120.0
    proc: subprocess.Popen | None = None
    starts: int = 0
    log: Path = field(init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Replica:
        self.starts += 1
        self.log = self.workdir / f"{self.name}.{self.starts}.log"
        self.proc = subprocess.Popen([str(a) for a in self.argv], cwd=self.workdir, env={**os.environ, **self.env},
                                     stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        return self

    def wait_ready(self) -> Replica:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            if self.ready_path is None:
                return self
            try:
                if httpx.get(self.url + self.ready_path, timeout=3).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {self.ready_timeout:.0f}s:\n{self.tail()}")
            time.sleep(0.3)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as when a container is killed or its host dies."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> Replica:
        self.kill()
        return self.start().wait_ready()

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


def rasa_endpoints(path: Path, *, actions_url: str, pg_schema: str, redis_db: int, lock_prefix: str) -> Path:
    """endpoints.docker.yml with its hosts pointed at this machine: the same store types and options, the
    tracker store in `pg_schema` of the test database, the lock store under its own key prefix."""
    doc = yaml.safe_load((ROOT / "endpoints.docker.yml").read_text(encoding="utf-8"))
    doc["action_endpoint"]["url"] = actions_url.rstrip("/") + "/webhook"
    doc["tracker_store"].update(url="127.0.0.1", port=5432, db="test", username="postgres", password="",
                                query={"options": f"-csearch_path={pg_schema}"})
    doc["lock_store"].update(url="127.0.0.1", port=6379, db=redis_db, key_prefix=lock_prefix)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


class Topology:
    """Start with `start()` (hubs, actions and Rasa servers in parallel), then `start_front(tg)` for the notifier(s)
    and the bot once the loopback Bot API server runs; `stop()` ends every process and proxy."""

    def __init__(self, workdir: Path, *, model: Path, db_url: str, pg_schema: str, redis_db: int,
                 hubs: int = 2, rasas: int = 2, actions: int = 2, notifiers: int = 1):
        self.dir, self.model = workdir, model
        self.counts = dict(hub=hubs, rasa=rasas, actions=actions, notifier=notifiers)
        self.replicas: dict[str, list[Replica]] = {k: [] for k in ("hub", "rasa", "actions", "notifier", "bot")}
        self.proxies: list[RoundRobinProxy] = []
        ports = {kind: [free_port() for _ in range(self.counts.get(kind, 0))] for kind in ("hub", "rasa", "actions")}
        self.hub_lb = self._proxy(ports["hub"])
        self.rasa_lb = self._proxy(ports["rasa"])
        self.actions_lb = self._proxy(ports["actions"])
        # one database for citybot's tables and the hub's, as compose; Rasa's trackers in the same schema too
        self.env = {"DATABASE_URL": db_url, "HUB_DATABASE_URL": db_url, "HUB_URL": self.hub_lb.url,
                    "HUB_PUBLIC_URL": self.hub_lb.url, "RASA_URL": self.rasa_lb.url, "VAR_DIR": str(workdir),
                    "MEDIA_DIR": str(workdir / "media"), "HUB_SWEEP_INTERVAL_S": "0", "LOG_LEVEL": "INFO",
                    "REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}", "PYTHONUNBUFFERED": "1",
                    # the job queue: retry soon, and a killed replica's leases pass to another within 10 s
                    "JOBS_BACKOFF_S": "1", "JOBS_LEASE_S": "10"}
        endpoints = rasa_endpoints(workdir / "endpoints.yml", actions_url=self.actions_lb.url, pg_schema=pg_schema,
                                   redis_db=redis_db, lock_prefix="t" + uuid.uuid4().hex[:12])
        (workdir / "credentials.yml").write_text("rest:\n", encoding="utf-8")
        for i, port in enumerate(ports["hub"]):
            self._add("hub", i, [CITYBOT, "hub", "--host", "127.0.0.1", "--port", port], port, "/healthz", 90)
        for i, port in enumerate(ports["actions"]):
            self._add("actions", i, [CITYBOT, "actions", "--host", "127.0.0.1", "--port", port,
                                     "--retry-interval", "1"], port, "/health", 90)
        for i, port in enumerate(ports["rasa"]):
            self._add("rasa", i, [RASA, "run", "--enable-api", "-m", model, "-i", "127.0.0.1", "-p", port,
                                  "--endpoints", endpoints, "--credentials", workdir / "credentials.yml"],
                      port, "/status", 400, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")

    def _proxy(self, ports: list[int]) -> RoundRobinProxy:
        proxy = RoundRobinProxy([f"http://127.0.0.1:{p}" for p in ports]).start()
        self.proxies.append(proxy)
        return proxy

    def _add(self, kind: str, i: int, argv: list, port: int | None, ready: str | None, timeout: float,
             **env: str) -> Replica:
        replica = Replica(f"{kind}{i}", [str(a) for a in argv], {**self.env, **env}, self.dir, port, ready, timeout)
        self.replicas[kind].append(replica)
        return replica

    def start(self) -> None:
        """Every back-end replica at once (Rasa loads slowly); returns when all answer their health check."""
        back = [r for kind in ("hub", "actions", "rasa") for r in self.replicas[kind]]
        for r in back:
            r.start()
        errors: list[BaseException] = []

        def wait(r: Replica) -> None:
            try:
                r.wait_ready()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=wait, args=(r,)) for r in back]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def start_front(self, *, token: str, api_base: str, **env: str) -> None:
        """The notifier(s) and the bot, talking to the loopback Bot API server."""
        front = {"TELEGRAM_BOT_TOKEN": token, "TELEGRAM_API_BASE": api_base, **env}
        for i in range(self.counts["notifier"]):
            self._add("notifier", i, [CITYBOT, "notifier"], None, None, 30,
                      NOTIFIER_REPLICAS=str(self.counts["notifier"]), **front).start()
        self._add("bot", 0, [CITYBOT, "bot", "--polling"], None, None, 30, **front).start()

    def stop(self) -> None:
        for kind in ("bot", "notifier", "rasa", "actions", "hub"):
            for r in self.replicas[kind]:
                r.stop()
        for proxy in self.proxies:
            proxy.stop()

    def logs(self, pattern: str) -> list[str]:
        """Lines of every replica's logs (all starts) containing `pattern`."""
        return [f"{p.name}: {line}" for p in sorted(self.dir.glob("*.log"))
                for line in p.read_text(errors="replace").splitlines() if pattern in line]
