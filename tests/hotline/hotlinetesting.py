"""Helpers for the hotline tests (a plain module; tests/hotline is not a package so it cannot shadow `hotline`).

`KeywordNLU` is a small deterministic stand-in for the NLU, for unit tests of the ingestion logic only; the
end-to-end tests (test_hotline_cli.py) use the real trained model through nlu.client.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import threading
import time
from pathlib import Path

from citybot import catalogue
from citybot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "hotline"
API_KEY = "test-key"
SALT = "test-salt"

_PLACE = re.compile(r"((?:龙华|美兰|琼山|秀英)区)?([\u4e00-\u9fa5]{2,5}?(?:大道|路|街))(\d+号)?")
_REFERRALS = {"社保": "social_security", "过期食品": "consumer", "超市": "consumer"}


class KeywordNLU:
    """Catalogue keywords → 小类; a district/road regex → location. Same answer shape as nlu.shape."""

    def __init__(self):
        self.subs = catalogue.load().subcategories()
        self.texts: list[str] = []

    def parse(self, text: str) -> dict:
        self.texts.append(text)
        category = {"category": catalogue.OTHER, "subcategory": None, "service_code": None, "confidence": 0.9,
                    "alternatives": [], "referral": None}
        referral = next((v for k, v in _REFERRALS.items() if k in text), None)
        hit = None if referral else next((s for s in self.subs if any(k in text for k in s.keywords)), None)
        if hit:
            category.update(category=hit.category, subcategory=hit.name, service_code=hit.code, confidence=0.8)
        else:
            category["referral"] = referral or "default"
        m = _PLACE.search(text)
        location = None
        if m:
            location = {"text": m.group(0), "city": None, "district": m.group(1), "road": m.group(2),
                        "number": m.group(3), "landmark": None, "cross_road": None, "position": None}
        return {"text": text, "intent": {"name": "report_problem" if hit else "other", "confidence": 0.9},
                "entities": [], "category": category, "location": location}

    async def parse_many(self, texts):
        return [self.parse(t) for t in texts]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hub_settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, var_dir=tmp_path, media_dir=tmp_path / "media",
                    hub_database_url=f"sqlite:///{tmp_path / 'hub.db'}", hub_api_keys=API_KEY,
                    hub_sweep_interval_s=0)


class HubServer:
    """The reference hub served by uvicorn on a loopback port, in a thread."""

    def __init__(self, tmp_path: Path, port: int | None = None):
        self.tmp_path, self.port = tmp_path, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_path = tmp_path / "hub.db"
        self._server = self._thread = None

    def start(self, delay: float = 0.0) -> "HubServer":
        import uvicorn

        from hub.app import create_app

        app = create_app(hub_settings(self.tmp_path))
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     access_log=False, log_config=None, lifespan="on"))

        def serve():
            time.sleep(delay)
            self._server.run()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        if not delay:
            self.wait()
        return self

    def wait(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not (self._server and self._server.started):
            if time.monotonic() > deadline:
                raise RuntimeError("hub did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server:
            self._server.should_exit = True
            self._thread.join(10)

    def cases(self) -> list[dict]:
        """Every case at the hub (read straight from its database)."""
        with sqlite3.connect(self.db_path) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("select * from hub_case order by id")]


def hotline_cases(server: HubServer) -> dict[str, dict]:
    """external_id -> case, for the cases filed by the hotline channel (asserting none is there twice)."""
    rows = [c for c in server.cases() if c["channel"] == "hotline"]
    ids = [c["external_id"] for c in rows]
    assert len(ids) == len(set(ids)), "a call was filed twice"
    return {c["external_id"]: c for c in rows}
