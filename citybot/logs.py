"""Logging setup: one format for every part, with personal data masked before anything is written."""

from __future__ import annotations

import logging
import os

from citybot.privacy import mask

_FORMATTER = logging.Formatter()


class MaskingFilter(logging.Filter):
    """Masks personal data (citybot.privacy.mask) in every record: its rendered message, the text of its
    exception (a traceback's last line carries the exception's message: an SQL error's, a validation error's)
    and its stack. The traceback is rendered here, once, so that the handler's formatter prints the masked text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not stop logging
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            try:
                record.exc_text = _FORMATTER.formatException(record.exc_info)
            except Exception:  # noqa: BLE001 - an exception that cannot render itself still logs the message
                record.exc_text = f"{record.exc_info[0].__name__ if record.exc_info[0] else 'Exception'}: (unprintable)"
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
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
