"""A loopback Telegram Bot API server for tests and benchmarks (see server.py)."""

from tests.tgserver.server import BotAPIServer, Recorded

__all__ = ["BotAPIServer", "Recorded"]
