"""The quarantine file: one JSON line per record that could not be ingested, with where it came from and why."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path


class Quarantine:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def write(self, *, source: str, line: int, reason: str, raw: str, call_id: str | None = None) -> None:
        """`raw` must already be masked (citybot.privacy.mask)."""
        entry = {
            "file": source,
            "line": line,
            "call_id": call_id,
            "reason": reason,
            "raw": raw,
            "quarantined_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
