"""`citybot run`: one supervisor that starts every part of citybot as a child process.

Start order: hub → rasa (when .venv-rasa and a trained model exist) → actions (at the address endpoints.yml
gives Rasa) → the channel: with TELEGRAM_BOT_TOKEN the notifier and the Telegram bot, without it the terminal
chat (`citybot chat`) in the foreground, owning stdin/stdout. Each waits until the previous one answers.

Each child's output is prefixed with its name, so the logs say which part said what; while the terminal chat
owns the console the background parts' logs go to <var_dir>/logs/<name>.log instead (the supervisor says so at
start, and shows the tail of a part's log if it dies). Ctrl-C (or SIGTERM) stops all children cleanly: SIGTERM
first, SIGKILL after a grace period; if the supervisor itself is killed, the children get SIGTERM too (Linux
PR_SET_PDEATHSIG), so no part keeps running without it. If a child dies on its own, the supervisor stops the rest and exits
non-zero: a half-running system is worse than a stopped one. The foreground chat ending (/quit, EOF) stops
everything with exit code 0.
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
from urllib.parse import urlparse

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


def rasa_endpoints(settings: Settings, source: Path = ROOT / "endpoints.yml") -> Path:
    """Rasa's endpoints file with action_endpoint at the action server the supervisor starts (ACTIONS_URL) and a
    SQLite tracker store under <var_dir>: endpoints.yml itself when it already says so, else a copy under
    <var_dir> with those changed."""
    import yaml

    doc = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    changed = {}
    url = settings.actions_url.rstrip("/") + "/webhook"
    if (doc.get("action_endpoint") or {}).get("url") != url:
        changed["action_endpoint"] = {**(doc.get("action_endpoint") or {}), "url": url}
    tracker = doc.get("tracker_store") or {}
    if str(tracker.get("dialect", "")).startswith("sqlite") and tracker.get("db"):
        db = Path(settings.var_dir) / Path(tracker["db"]).name  # Rasa runs in ROOT; var_dir may be elsewhere
        if (ROOT / tracker["db"]).resolve() != db.resolve():
            changed["tracker_store"] = {**tracker, "db": str(db)}
    if not changed:
        return source
    doc.update(changed)
    out = Path(settings.var_dir) / "endpoints.yml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return out


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
                 "--port", settings.rasa_url.rsplit(":", 1)[-1].split("/")[0], "--endpoints", str(rasa_endpoints(settings)),
                 "--credentials", str(ROOT / "credentials.yml")],
                ready_url=f"{settings.rasa_url}/status",
                ready_timeout_s=180.0,
                env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"},
            )
        )
    else:
        log.warning("no trained model under %s: the Rasa server is not started (run `citybot train`)", settings.models_dir)
    has_rasa = services[-1].name == "rasa"
    actions = urlparse(settings.actions_url)
    host, port = actions.hostname or "127.0.0.1", actions.port or 5055
    services.append(Service("actions", _citybot("actions", "--host", host, "--port", str(port)),
                            ready_url=f"http://{host}:{port}/health"))
    if settings.telegram_bot_token:
        services += [Service("notifier", _citybot("notifier")), Service("bot", _citybot("bot"))]
    elif not settings.terminal_chat:
        log.info("TERMINAL_CHAT is off and there is no TELEGRAM_BOT_TOKEN: no chat front end is started")
    elif has_rasa:
        services.append(Service("chat", _citybot("chat"), foreground=True))
    else:
        log.warning("the terminal chat needs the Rasa server: train a model (`citybot train`) and run again")
    return services


def _die_with_parent() -> None:
    """In the child, before exec (Linux): SIGTERM when the supervisor dies, even by SIGKILL, so no part is left
    running (and holding its port) without it. Elsewhere a no-op."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    """`sig` to a background part and everything it started (its own session: a server's worker processes too),
    so none is left holding a port; a foreground part shares our group and gets it alone."""
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except ProcessLookupError:
        pass


def _pump(name: str, stream, out) -> None:
    for line in iter(stream.readline, b""):
        out.write(f"[{name}] {line.decode('utf-8', 'replace')}")
        out.flush()
    if out is not sys.stdout:
        out.close()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "".join(path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)[-lines:])
    except OSError:
        return ""


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
    def __init__(self, services: list[Service], *, log_dir: Path | None = None):
        """`log_dir`: write the background services' logs to <log_dir>/<name>.log instead of the console."""
        self.services = services
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self._stopping = threading.Event()

    def log_file(self, name: str) -> Path | None:
        return self.log_dir / f"{name}.log" if self.log_dir else None

    def _explain(self, name: str) -> str:
        path = self.log_file(name)
        tail = _tail(path) if path else ""
        return f"; the end of {path}:\n{tail}" if tail else ""

    def start(self) -> None:
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            names = ", ".join(s.name for s in self.services if not s.foreground)
            log.info("logs of %s go to %s/<name>.log while the chat owns this terminal", names, self.log_dir)
        for svc in self.services:
            env = {**os.environ, **svc.env}
            if svc.foreground:
                # the caller's terminal and working directory
                proc = subprocess.Popen(svc.argv, env=env, preexec_fn=_die_with_parent)
            else:
                proc = subprocess.Popen(
                    svc.argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent,
                )
                path = self.log_file(svc.name)
                out = path.open("a", encoding="utf-8") if path else sys.stdout
                threading.Thread(target=_pump, args=(svc.name, proc.stdout, out), daemon=True).start()
            self.procs[svc.name] = proc
            log.info("started %s (pid %s)", svc.name, proc.pid)
            if svc.ready_url:
                if svc.ready_timeout_s > 60:
                    log.info("waiting for %s to load (up to %.0f s)…", svc.name, svc.ready_timeout_s)
                if not _wait_ready(svc.ready_url, svc.ready_timeout_s, proc):
                    raise RuntimeError(f"{svc.name} did not become ready at {svc.ready_url}{self._explain(svc.name)}")

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
                    log.error("%s exited with code %s; stopping the rest%s", name, code, self._explain(name))
                    return code or 1
            self._stopping.wait(0.5)
        return 0

    def stop(self) -> None:
        self._stopping.set()
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                log.info("stopping %s", name)
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_S
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0fs; killing it", name, GRACE_S)
                _signal_group(proc, signal.SIGKILL)
                proc.wait()


def run_all(settings: Settings | None = None) -> int:
    settings = settings or get_settings()
    Path(settings.var_dir).mkdir(parents=True, exist_ok=True)
    services = plan(settings)
    foreground = any(s.foreground for s in services)
    sup = Supervisor(services, log_dir=Path(settings.var_dir) / "logs" if foreground else None)

    def _on_signal(signum, _frame):
        sup._stopping.set()

    signal.signal(signal.SIGTERM, _on_signal)
    # Ctrl-C stops everything even when we were started with SIGINT ignored (a background job of a script), where
    # Python would not install its KeyboardInterrupt handler
    signal.signal(signal.SIGINT, signal.default_int_handler)
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
