"""A round-robin TCP proxy on loopback: several replicas of a service behind one address, as hub-lb (nginx) or
Docker's service DNS put them in production. Each new connection goes to the next backend; a backend that refuses
the connection is skipped (the next one is tried), so a killed replica only costs the connections it held.

    proxy = RoundRobinProxy([base1, base2]).start()   # runs in its own thread
    proxy.url                                          # http://127.0.0.1:<port>
    proxy.backends[0] = restarted_base                 # swap a replica
    proxy.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from urllib.parse import urlsplit


class LoopbackServer:
    """A TCP server on 127.0.0.1 with its own event loop in a daemon thread; subclasses define `_handle`."""

    def __init__(self, name: str):
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self.url = ""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def start(self):
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop).result(10)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    def stop(self) -> None:
        async def close():
            self._server.close()
            # End the connections still open too: a handler task left pending is destroyed later by the garbage
            # collector, whose "Task was destroyed" log can land anywhere, e.g. inside pytest's compile of a
            # module, where CPython 3.11.7 turns it into "SystemError: AST constructor recursion depth mismatch".
            handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await self._server.wait_closed()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()


class RoundRobinProxy(LoopbackServer):
    def __init__(self, backends: list[str]):
        super().__init__("rrproxy")
        self.backends = list(backends)  # base URLs (http://host:port); may be changed while running
        self.connections: list[int] = [0] * len(self.backends)  # per backend index, for tests to check spread
        self._next = 0

    async def _connect(self):
        for _ in range(len(self.backends)):
            index = self._next % len(self.backends)
            self._next += 1
            parts = urlsplit(self.backends[index])
            try:
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            except OSError:
                continue
            self.connections[index] += 1
            return reader, writer
        return None

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream = await self._connect()
        if upstream is None:
            client_writer.close()
            return
        up_reader, up_writer = upstream

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))


@contextlib.contextmanager
def hubs_behind_proxy(n: int, workdir: str, db_url: str | None = None, **env: str):
    """`n` reference hub processes on one database behind a RoundRobinProxy: yields (proxy, [(process, base)]).
    Started one after the other (each migrates at start-up; they would also wait for each other's lock)."""
    from bench.hubserver import start_hub

    procs = []
    proxy = None
    try:
        for _ in range(n):
            procs.append(start_hub(workdir, db_url, **env))
        proxy = RoundRobinProxy([base for _, base in procs]).start()
        yield proxy, procs
    finally:
        if proxy is not None:
            proxy.stop()
        for proc, _ in procs:
            proc.terminate()
        for proc, _ in procs:
            proc.wait(10)
