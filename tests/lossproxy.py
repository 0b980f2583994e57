"""An answer-losing HTTP proxy on loopback: it forwards each request to the backend, lets the backend act and answer,
then, for the first N requests that match, drops the answer (closes the client's connection without a byte) — a
lost answer, as a network cut or a proxy timeout after the hub committed would make it.

    proxy = LossProxy(hub_base).start()              # runs in its own thread
    proxy.lose("POST", r"/escalate$", times=1)       # the next matching answer is lost
    proxy.url                                        # http://127.0.0.1:<port>
    proxy.lost, proxy.forwarded                      # what it did
    proxy.stop()

HTTP/1.1 with Content-Length framing (what httpx sends and uvicorn answers for JSON), keep-alive included.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.rrproxy import LoopbackServer


@dataclass
class _Rule:
    method: str
    path: re.Pattern
    times: int


class LossProxy(LoopbackServer):
    def __init__(self, backend: str):
        super().__init__("lossproxy")
        self.backend = backend
        self.rules: list[_Rule] = []
        self.lost: list[tuple[str, str]] = []       # (method, path) of each answer dropped
        self.forwarded: list[tuple[str, str]] = []  # (method, path) of each request passed to the backend
        self._lock = threading.Lock()

    def lose(self, method: str, path_regex: str, times: int = 1) -> LossProxy:
        """Drop the answers of the next `times` requests with this method whose path matches."""
        with self._lock:
            self.rules.append(_Rule(method.upper(), re.compile(path_regex), times))
        return self

    def _should_lose(self, method: str, path: str) -> bool:
        with self._lock:
            for rule in self.rules:
                if rule.times > 0 and rule.method == method and rule.path.search(path):
                    rule.times -= 1
                    return True
        return False

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        parts = urlsplit(self.backend)
        upstream = None
        try:
            while True:
                request = await _message(client_r)
                if request is None:
                    return
                head = request.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
                method, path = head[0], urlsplit(head[1]).path
                if upstream is None:
                    upstream = await asyncio.open_connection(parts.hostname, parts.port)
                up_r, up_w = upstream
                up_w.write(request)
                await up_w.drain()
                self.forwarded.append((method, path))
                answer = await _message(up_r)  # the backend has acted and answered in full
                if answer is None:
                    return
                if self._should_lose(method, path):
                    self.lost.append((method, path))
                    return  # close without a byte: the answer is lost
                client_w.write(answer)
                await client_w.drain()
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            return
        finally:
            for w in (client_w, upstream[1] if upstream else None):
                if w is not None:
                    with contextlib.suppress(Exception):
                        w.close()


async def _message(reader: asyncio.StreamReader) -> bytes | None:
    """One HTTP/1.1 message (head and Content-Length body), or None at the end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        elif name.strip().lower() == b"transfer-encoding":
            raise ConnectionError("lossproxy handles Content-Length framing only")
    return head + (await reader.readexactly(length) if length else b"")
