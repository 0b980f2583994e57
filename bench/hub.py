"""Benchmark the reference hub over real HTTP: filing (POST requests) and updates polling, SQLite and PostgreSQL.

Starts the hub (uvicorn) in child processes on free loopback ports -- one process on SQLite; one and two processes
on one PostgreSQL database -- drives them with CONCURRENCY httpx connections (spread round robin over the
processes), and prints ONE JSON line. Targets: >= 500 filed requests/s on SQLite with p95 < 20 ms; PostgreSQL
with two hub processes at least as fast as SQLite with one, p95 <= 20 ms (`pg2_vs_sqlite` >= 1).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from hubserver import start_hub

ROOT = Path(__file__).resolve().parent.parent
N_POSTS = int(os.environ.get("BENCH_HUB_POSTS", "3000"))
N_POLLS = int(os.environ.get("BENCH_HUB_POLLS", "1000"))
CONCURRENCY = int(os.environ.get("BENCH_HUB_CONCURRENCY", "4"))
PG_URL = os.environ.get("BENCH_HUB_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
PHASE_DEADLINE_S = float(os.environ.get("BENCH_HUB_PHASE_S", "12"))  # keeps the whole run under a minute
CODES = ["SRHJ-01", "SRHJ-02", "JMZX-01", "JMZX-03", "YLLH-01", "SZSS-01"]


def cpu_seconds(pid: int) -> float | None:
    """User+system CPU time of a process (Linux /proc), to report server cost independent of machine load."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 2)


async def drive(bases: list[str], total: int, make) -> tuple[float, list[float]]:
    """Run up to `total` requests on CONCURRENCY connections, worker k on hub process k mod len(bases) (stopping at
    the phase deadline): (seconds, latencies)."""
    latencies: list[float] = []
    counter = iter(range(total))
    clients = [httpx.AsyncClient(base_url=base, timeout=30) for base in bases]
    try:
        deadline = time.perf_counter() + PHASE_DEADLINE_S

        async def worker(client: httpx.AsyncClient):
            for i in counter:
                if time.perf_counter() > deadline:
                    return
                method, path, kw = make(i)
                t0 = time.perf_counter()
                r = await client.request(method, path, **kw)
                latencies.append(time.perf_counter() - t0)
                if r.status_code >= 400:
                    raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:200]}")

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(clients[k % len(clients)]) for k in range(CONCURRENCY)))
        return time.perf_counter() - t0, latencies
    finally:
        for client in clients:
            await client.aclose()


def cpu_total(procs) -> float | None:
    times = [cpu_seconds(p.pid) for p in procs]
    return None if None in times else sum(times)


def postgres_cpu() -> float:
    """CPU seconds of every local PostgreSQL process (the server's side of the work: on a machine this small
    it shares the cores with the hubs and the load generator). Counts other sessions too: a quiet machine."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().split(" (", 1)[1].startswith("postgres)"):
                total += cpu_seconds(int(stat.parent.name)) or 0.0
        except (OSError, IndexError, ValueError):
            pass
    return total


def run_one(db_url: str, processes: int = 1) -> dict:
    with tempfile.TemporaryDirectory() as workdir:
        procs, bases = [], []
        for _ in range(processes):  # one after the other: the first creates the schema
            proc, base = start_hub(workdir, db_url)
            procs.append(proc)
            bases.append(base)
        try:
            run = uuid.uuid4().hex[:8]

            def post(i: int):
                # Spread the points (~1 km apart) so that the duplicate rule does not merge them.
                data = {"api_key": "citybot-dev-key", "service_code": CODES[i % len(CODES)],
                        "lat": f"{22.0 + (i // 100) * 0.01:.5f}", "long": f"{113.0 + (i % 100) * 0.01:.5f}",
                        "description": f"bench {i}", "channel": "web", "external_id": f"{run}-{i}"}
                # as citybot's HubClient files: with an Idempotency-Key, so that a lost answer can be retried
                return "POST", "/open311/v2/requests.json", {"data": data,
                                                              "headers": {"Idempotency-Key": f"{run}-{i}"}}

            asyncio.run(drive(bases, 100, lambda i: ("GET", "/open311/v2/services.json", {})))  # warm up
            cpu0, db0, me0 = cpu_total(procs), postgres_cpu(), time.process_time()
            post_s, post_lat = asyncio.run(drive(bases, N_POSTS, post))
            cpu1, db1, me1 = cpu_total(procs), postgres_cpu(), time.process_time()
            n_updates = 2 * len(post_lat)

            def poll(i: int):
                return "GET", "/open311/v2/servicerequestupdates.json", {
                    "params": {"after": (i * 97) % n_updates, "limit": 100, "api_key": "citybot-dev-key"}}

            poll_s, poll_lat = asyncio.run(drive(bases, N_POLLS, poll))
            cpu2 = cpu_total(procs)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(10)
    return {"processes": processes, "post_rps": round(len(post_lat) / post_s, 1), "post_p50_ms": pct(post_lat, 0.5),
            "post_p95_ms": pct(post_lat, 0.95), "poll_rps": round(len(poll_lat) / poll_s, 1),
            "poll_p50_ms": pct(poll_lat, 0.5), "poll_p95_ms": pct(poll_lat, 0.95), "posts": len(post_lat),
            "polls": len(poll_lat), "updates_per_poll": 100,
            "server_cpu_ms_per_post": round((cpu1 - cpu0) * 1000 / len(post_lat), 3) if cpu0 is not None else None,
            "server_cpu_ms_per_poll": round((cpu2 - cpu1) * 1000 / len(poll_lat), 3) if cpu0 is not None else None,
            "client_cpu_ms_per_post": round((me1 - me0) * 1000 / len(post_lat), 3),
            **({"postgres_cpu_ms_per_post": round((db1 - db0) * 1000 / len(post_lat), 3)} if "postgresql" in db_url
               else {})}


def pg_url_for_run() -> tuple[str | None, str | None, str]:
    """A fresh schema on the PostgreSQL test database, or (None, None, reason)."""
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        schema = f"bench_hub_{uuid.uuid4().hex[:8]}"
        with engine.begin() as conn:
            conn.execute(sa.schema.CreateSchema(schema))
        engine.dispose()
        sep = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{sep}options=-csearch_path%3D{schema}", schema, ""
    except Exception as exc:
        return None, None, f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"


def drop_schema(schema: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.schema.DropSchema(schema, cascade=True))
    engine.dispose()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result: dict = {"bench": "hub", "concurrency": CONCURRENCY, "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
                        "sqlite": run_one(f"sqlite:///{tmp}/hub.db")}
    result["sqlite"]["target_met"] = result["sqlite"]["post_rps"] >= 500 and result["sqlite"]["post_p95_ms"] < 20
    for key, processes in (("postgresql", 1), ("postgresql_2", 2)):
        url, schema, reason = pg_url_for_run()
        if url is None:
            result[key] = {"skipped": reason}
            continue
        try:
            result[key] = run_one(url, processes)
        finally:
            drop_schema(schema)
    pg2, lite = result["postgresql_2"], result["sqlite"]
    if "post_rps" in pg2:
        result["pg2_vs_sqlite"] = round(pg2["post_rps"] / lite["post_rps"], 2)
        pg2["target_met"] = pg2["post_rps"] >= lite["post_rps"] and pg2["post_p95_ms"] <= 20
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
