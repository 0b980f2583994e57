"""Rate limits on the hub's public writes and uploads: per api key (or token) and per client address.

Token buckets: a limit "N/S" lets N requests through at once and refills N per S seconds. Over it the hub
answers 429 with `Retry-After` (seconds), as Open311 clients expect. The per-address limit counts every attempt,
valid key or not (key guessing, floods); the per-key limit counts a client's requests. Networks in
`HUB_RATE_LIMIT_EXEMPT` (loopback by default: the bot and hotline on the same machine, the tests and benchmarks)
skip the per-address limit. Behind a reverse proxy, set uvicorn's FORWARDED_ALLOW_IPS to the proxy's address so
that the client's own address is the one counted.

State is per hub process (a replica counts its own share).
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_BUCKETS = 100_000  # then full (idle) buckets are dropped


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """'600/60' -> Rate(600, 60); '0' or '' -> None (no limit)."""
        text = (text or "").strip()
        if text in ("", "0", "off"):
            return None
        count, _, seconds = text.partition("/")
        try:
            rate = cls(int(count), float(seconds or 1))
        except ValueError:
            raise ValueError(f"bad rate limit {text!r}: expected N/seconds, e.g. 600/60, or 0 for none") from None
        if rate.count <= 0 or not 0 < rate.seconds < math.inf:
            raise ValueError(f"bad rate limit {text!r}: N and seconds must be positive")
        return rate


class Buckets:
    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic):
        self.rate, self.clock = rate, clock
        self.per_s = rate.count / rate.seconds
        self._tokens: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when a request of `key` may go now (and counts it), else the seconds until one may."""
        now = self.clock()
        with self._lock:
            tokens, at = self._tokens.get(key, (float(self.rate.count), now))
            tokens = min(float(self.rate.count), tokens + (now - at) * self.per_s)
            if tokens >= 1:
                self._tokens[key] = (tokens - 1, now)
                if len(self._tokens) > MAX_BUCKETS:
                    self._prune(now)
                return 0.0
            self._tokens[key] = (tokens, now)
            return (1 - tokens) / self.per_s

    def _prune(self, now: float) -> None:
        full = [k for k, (t, at) in self._tokens.items() if t + (now - at) * self.per_s >= self.rate.count]
        for k in full:
            del self._tokens[k]


class RateLimiter:
    def __init__(self, per_key: Rate | None, per_address: Rate | None, exempt: str = "",
                 clock: Callable[[], float] = time.monotonic):
        self.per_key = Buckets(per_key, clock) if per_key else None
        self.per_address = Buckets(per_address, clock) if per_address else None
        self.exempt = [ipaddress.ip_network(n.strip(), strict=False) for n in (exempt or "").split(",") if n.strip()]

    @classmethod
    def from_settings(cls, settings) -> RateLimiter:
        return cls(Rate.parse(settings.hub_rate_limit_per_key), Rate.parse(settings.hub_rate_limit_per_address),
                   settings.hub_rate_limit_exempt)

    def _exempt(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in net for net in self.exempt)

    def address_wait(self, address: str | None) -> float:
        if self.per_address is None or self._exempt(address):
            return 0.0
        return self.per_address.take(address or "?")

    def key_wait(self, key: str) -> float:
        return self.per_key.take(key) if self.per_key is not None else 0.0
