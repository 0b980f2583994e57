"""App-side access to the NLU (app venv). Two interchangeable clients with the same answer shape (nlu.shape):

- `NLUClient`: one long-lived worker subprocess (`.venv-rasa/bin/python -m nlu.worker`) that holds the trained
  model in memory; JSON lines over its stdin/stdout. For hotline ingestion and `citybot classify`.
  `parse_many` sends the texts in batches that the worker runs through the pipeline as one list (same answers,
  several times the throughput of one message at a time).
- `NLUPool`: several such workers (one per core) behind the same `parse` / `parse_many` / `close`;
  `start_nlu(workers=...)` returns a plain `NLUClient` for one.
- `RasaHTTPNLU`: a running Rasa server's `POST /model/parse` (when `rasa run --enable-api` is up anyway).

Create them at startup (`await NLUClient.start()`), never at import.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "models" / "citybot.tar.gz"
DEFAULT_RASA_VENV = ROOT / ".venv-rasa"


class NLUError(RuntimeError):
    """The NLU could not answer (worker failed to start or died, server error)."""


class NLUClient:
    """One NLU worker process. `parse` may be called concurrently; answers are matched by request id."""

    batch_size = 50  # texts per worker request in parse_many: past ~50 the per-run overhead no longer shows

    def __init__(self, proc: asyncio.subprocess.Process, info: dict):
        self._proc = proc
        self.info = info
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._write_lock = asyncio.Lock()
        self._reader = asyncio.get_running_loop().create_task(self._read_answers())

    @property
    def pid(self) -> int:
        return self._proc.pid

    @classmethod
    async def start(cls, model: Path | str | None = None, rasa_venv: Path | str | None = None,
                    timeout: float = 180.0) -> "NLUClient":
        python = Path(rasa_venv or DEFAULT_RASA_VENV) / "bin" / "python"
        model = Path(model or DEFAULT_MODEL)
        if not python.exists():
            raise NLUError(f"the Rasa virtualenv is missing ({python}); run `make rasa-venv`")
        if not model.exists():
            raise NLUError(f"no trained model at {model}; run `citybot train`")
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        proc = await asyncio.create_subprocess_exec(
            str(python), "-m", "nlu.worker", "--model", str(model),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
            if os.environ.get("CITYBOT_NLU_QUIET", "1") == "1" else None,
            cwd=str(ROOT), env=env, limit=16 * 1024 * 1024,
        )
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
            info = json.loads(line) if line else {"ready": False, "error": "worker exited while loading"}
        except (asyncio.TimeoutError, ValueError) as exc:
            proc.kill()
            raise NLUError(f"NLU worker did not start: {exc!r}") from None
        if not info.get("ready"):
            proc.kill()
            raise NLUError(f"NLU worker failed to load the model: {info.get('error')}")
        return cls(proc, info)

    async def _read_answers(self) -> None:
        try:
            while True:
                line = await self._proc.stdout.readline()
                if not line:
                    break
                try:
                    answer = json.loads(line)
                except ValueError:
                    continue
                future = self._pending.pop(answer.get("id"), None)
                if future is not None and not future.done():
                    future.set_result(answer)
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(NLUError("the NLU worker exited"))
            self._pending.clear()

    @property
    def in_flight(self) -> int:
        """Requests written and not yet answered (a pool sends to the least busy worker)."""
        return len(self._pending)

    async def _send(self, text: str) -> asyncio.Future:
        return await self._request({"text": text})

    async def _request(self, payload: dict) -> asyncio.Future:
        if self._proc.returncode is not None or self._reader.done():
            raise NLUError("the NLU worker is not running")
        rid = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        line = json.dumps({"id": rid, **payload}, ensure_ascii=False) + "\n"
        async with self._write_lock:
            self._proc.stdin.write(line.encode("utf-8"))
            await self._proc.stdin.drain()
        return future

    async def parse(self, text: str, timeout: float = 30.0) -> dict[str, Any]:
        """Intent, category, location and entities of one message (see nlu.shape)."""
        if not isinstance(text, str):
            raise TypeError("text must be a string")
        answer = await asyncio.wait_for(await self._send(text), timeout)
        answer.pop("id", None)
        if "error" in answer:
            raise NLUError(answer["error"])
        return answer

    async def parse_many(self, texts: Iterable[str], timeout: float = 600.0) -> list[dict[str, Any]]:
        """Answers in order, equal to `parse` of each text. Batched and pipelined: all batches are written before
        the answers are awaited. A text the worker could not parse gets {"error": ...} in its place."""
        texts = list(texts)
        futures = [await self._send_batch(texts[i:i + self.batch_size])
                   for i in range(0, len(texts), self.batch_size)]
        return await self._collect(futures, timeout)

    async def _send_batch(self, texts: list) -> asyncio.Future:
        return await self._request({"texts": texts})

    @staticmethod
    async def _collect(futures: list[asyncio.Future], timeout: float) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = []
        for batch in await asyncio.wait_for(asyncio.gather(*futures), timeout):
            if "answers" not in batch:  # the worker refused the request as a whole
                raise NLUError(batch.get("error") or "the NLU worker answered without answers")
            answers.extend(batch["answers"])
        return answers

    async def close(self) -> None:
        if self._proc.returncode is None:
            try:
                self._proc.stdin.close()
                await asyncio.wait_for(self._proc.wait(), 10)
            except (asyncio.TimeoutError, BrokenPipeError, ConnectionResetError):
                self._proc.kill()
                await self._proc.wait()
        self._reader.cancel()

    async def __aenter__(self) -> "NLUClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


class NLUPool:
    """Several NLU workers (e.g. one per core) with NLUClient's interface. `parse_many` spreads its batches over
    the workers, each batch to the one with the least in flight; answers come back in order."""

    def __init__(self, clients: list[NLUClient]):
        if not clients:
            raise ValueError("an NLU pool needs at least one worker")
        self.clients = clients
        self.info = {**clients[0].info, "workers": len(clients), "pids": [c.pid for c in clients]}

    @classmethod
    async def start(cls, workers: int = 2, model: Path | str | None = None, rasa_venv: Path | str | None = None,
                    timeout: float = 180.0) -> "NLUPool":
        started = await asyncio.gather(*(NLUClient.start(model, rasa_venv, timeout) for _ in range(max(1, workers))),
                                       return_exceptions=True)
        clients = [c for c in started if isinstance(c, NLUClient)]
        errors = [e for e in started if isinstance(e, BaseException)]
        if errors:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
            raise errors[0]
        return cls(clients)

    def _least_busy(self) -> NLUClient:
        return min(self.clients, key=lambda c: c.in_flight)

    async def parse(self, text: str, timeout: float = 30.0) -> dict[str, Any]:
        return await self._least_busy().parse(text, timeout)

    async def parse_many(self, texts: Iterable[str], timeout: float = 600.0) -> list[dict[str, Any]]:
        texts = list(texts)
        size = NLUClient.batch_size
        futures = [await self._least_busy()._send_batch(texts[i:i + size]) for i in range(0, len(texts), size)]
        return await NLUClient._collect(futures, timeout)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)

    async def __aenter__(self) -> "NLUPool":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


async def start_nlu(workers: int = 1, model: Path | str | None = None, rasa_venv: Path | str | None = None,
                    timeout: float = 180.0) -> NLUClient | NLUPool:
    """One worker (`NLUClient`) or several (`NLUPool`): the same parse / parse_many / close."""
    if workers <= 1:
        return await NLUClient.start(model, rasa_venv, timeout)
    return await NLUPool.start(workers, model, rasa_venv, timeout)


class RasaHTTPNLU:
    """The same answers from a running Rasa server (`rasa run --enable-api`): POST {url}/model/parse."""

    def __init__(self, url: str = "http://127.0.0.1:5005", timeout: float = 10.0, client=None):
        import httpx

        self.url = url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def parse(self, text: str) -> dict[str, Any]:
        import httpx

        from nlu.shape import empty_answer, shape
        from nlu.text import normalize

        if not normalize(text):
            return empty_answer(text)
        try:
            response = await self._client.post(f"{self.url}/model/parse", json={"text": text.lstrip("/")})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise NLUError(f"Rasa server: {exc}") from exc
        return shape(response.json(), text)

    async def parse_many(self, texts: Iterable[str]) -> list[dict[str, Any]]:
        return [await self.parse(t) for t in texts]

    async def close(self) -> None:
        await self._client.aclose()
