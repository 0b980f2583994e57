"""Logging setup: one format for every part, with personal numbers masked before anything is written."""

from __future__ import annotations

import logging
import os

from citybot.privacy import mask


class MaskingFilter(logging.Filter):
    """Masks phone, ID-card and plate numbers in every record's rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not stop logging
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def setup_logging(level: int | None = None, *, component: str | None = None) -> None:
    if level is None:
        level = logging.getLevelName(os.environ.get("LOG_LEVEL", "INFO").upper())
        if not isinstance(level, int):
            level = logging.INFO
    fmt = "%(asctime)s %(levelname)s " + (f"[{component}] " if component else "") + "%(name)s: %(message)s"
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(fmt))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "aiosqlite", "multipart"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
