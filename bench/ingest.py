"""Benchmark hotline ingestion end to end: 10,000 synthetic calls → real NLU worker (trained model) → real hub.

The hub runs as a uvicorn child process on a free loopback port with a temp SQLite database; citybot's own
state is a temp SQLite too. Prints ONE JSON line: calls/s overall and the split between the NLU and filing.
Target: >= 100 calls/s on a 2-core machine. Needs `make train` (models/citybot.tar.gz) and .venv-rasa.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.hubserver import start_hub  # noqa: E402  (the benchmarks' hub starter)

N_CALLS = int(os.environ.get("BENCH_INGEST_CALLS", "10000"))
CONCURRENCY = int(os.environ.get("BENCH_INGEST_CONCURRENCY", "8"))
NLU_WORKERS = int(os.environ.get("BENCH_INGEST_NLU_WORKERS", "1"))
TARGET = 100.0

DISTRICTS = ["龙华区", "美兰区", "琼山区", "秀英区"]
ROADS = ["金盘路", "海秀中路", "国兴大道", "滨海大道", "龙昆南路", "白龙南路", "海府路", "红城湖路", "南海大道",
         "海甸五西路", "人民大道", "府城大道", "椰海大道", "丘海大道", "龙华路", "解放西路"]
PLACES = ["小区门口", "菜市场旁边", "公交站附近", "路口", "中学对面", "公园南门", "加油站旁边", ""]
PROBLEMS = [
    "垃圾堆了好几天没人清，臭得不得了", "路灯坏了好几盏，晚上黑乎乎的", "井盖没了，晚上很危险",
    "共享单车乱停，人行道都走不过去", "有人摆摊占道经营，路都堵了", "大树被风刮倒了压在路上",
    "下雨积水很深，车都过不去", "晚上十点以后还在施工，噪音太大了", "烧烤店油烟很大，熏得窗户都不敢开",
    "电线杆上贴满了小广告", "渣土车撒了一路的泥", "垃圾桶满了没人倒", "护栏被撞坏了", "路面有个大坑",
    "有辆车长期占用消防通道", "绿化带里的树枯死了没人管",
]
OTHER = ["我想问一下社保怎么补缴", "我家楼下超市卖过期食品", "我要投诉出租车司机绕路", "工资被拖欠了三个月",
         "家里停电了什么时候来电"]
GREETINGS = ["您好，12345热线，请讲。", "您好，12345热线，工号1024，很高兴为您服务。", "您好，请问有什么可以帮您？"]
CLOSINGS = ["好的，已经为您登记，感谢您的来电。", "好的，我们会转交相关部门处理。", "好的，记录下来了，还有其他问题吗？"]


def make_calls(n: int, rng: random.Random) -> list[dict]:
    calls = []
    for i in range(n):
        where = f"{rng.choice(DISTRICTS)}{rng.choice(ROADS)}{rng.randint(1, 300)}号{rng.choice(PLACES)}"
        what = rng.choice(OTHER) if rng.random() < 0.08 else f"{where}{rng.choice(PROBLEMS)}"
        call = {"call_id": f"BENCH-{i:06d}", "started_at": f"2024-06-01T{8 + i % 12:02d}:{i % 60:02d}:00+08:00",
                "caller_phone": f"13{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}"}
        style = i % 3
        if style == 0:
            call["turns"] = [{"speaker": "agent", "text": rng.choice(GREETINGS)},
                             {"speaker": "caller", "text": "喂，你好。"},
                             {"speaker": "caller", "text": what + "。"},
                             {"speaker": "agent", "text": "请问您贵姓？"}, {"speaker": "caller", "text": "姓张。"},
                             {"speaker": "agent", "text": rng.choice(CLOSINGS)}]
        elif style == 1:
            call["text"] = f"坐席：{rng.choice(GREETINGS)}\n市民：{what}。\n坐席：{rng.choice(CLOSINGS)}"
        else:
            call["text"] = f"市民：{what}"
            call["summary"] = f"市民来电反映: {what}，要求尽快处理。"
        calls.append(call)
    return calls


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process so far (Linux /proc): the cost per call, whatever the machine's load."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


async def run(path: Path, hub_url: str, workdir: Path, hub_pid: int) -> tuple[dict, dict]:
    from citybot.db import create_tables, make_engine
    from hotline.ingest import Ingestor, Options
    from hotline.quarantine import Quarantine
    from hotline.state import IngestState
    from hubapi.client import HubClient
    from nlu.client import start_nlu

    engine = make_engine(f"sqlite:///{workdir / 'citybot.db'}")
    create_tables(engine)
    t0 = time.perf_counter()
    nlu = await start_nlu(NLU_WORKERS)
    load_s = time.perf_counter() - t0
    nlu_pids = nlu.info.get("pids") or [nlu.info["pid"]]
    try:
        async with HubClient(hub_url, api_key="citybot-dev-key", timeout=30) as hub:
            ingestor = Ingestor(nlu=nlu, hub=hub, state=IngestState(engine),
                                quarantine=Quarantine(workdir / "quarantine.jsonl"),
                                options=Options(concurrency=CONCURRENCY, phone_salt="bench", progress=False),
                                out=io.StringIO())
            before = [cpu_seconds(p) for p in (hub_pid, *nlu_pids)] + [time.process_time()]
            report = await ingestor.run([path])
            after = [cpu_seconds(p) for p in (hub_pid, *nlu_pids)] + [time.process_time()]
        spent = [b - a for a, b in zip(before, after)]
        cpu = {"hub": spent[0], "nlu": sum(spent[1:-1]), "ingest": spent[-1]}
        # The NLU alone, on the same texts, for the split (sequential batches of 200, as ingestion sends them).
        from hotline import records, transcript

        texts = [transcript.complaint(r) for r in records.read(path) if isinstance(r, records.CallRecord)][:2000]
        t0 = time.perf_counter()
        for i in range(0, len(texts), 200):
            await nlu.parse_many(texts[i:i + 200])
        nlu_only = len(texts) / (time.perf_counter() - t0)
    finally:
        await nlu.close()
        engine.dispose()
    n = report.counts["read"] or 1
    return report.as_dict(), {
        "nlu_load_s": round(load_s, 2), "nlu_only_calls_per_s": round(nlu_only, 1),
        # CPU milliseconds per call in each process: on a quiet machine calls/s <= cores * 1000 / their sum.
        "cpu_ms_per_call": {k: round(v * 1000 / n, 2) for k, v in cpu.items()},
        "cpu_bound_calls_per_s": round((os.cpu_count() or 1) * n / sum(cpu.values()), 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        workdir = Path(tmp)
        path = workdir / "calls.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for call in make_calls(N_CALLS, random.Random(12319)):
                fh.write(json.dumps(call, ensure_ascii=False) + "\n")
        proc, base = start_hub(str(workdir), f"sqlite:///{workdir / 'hub.db'}")
        try:
            counts, extra = asyncio.run(run(path, base, workdir, proc.pid))
        finally:
            proc.terminate()
            proc.wait(10)
    wall = counts["wall_s"]
    done = counts["filed"] + counts["linked"] + counts["referred"] + counts["quarantined"]
    result = {
        "bench": "hotline_ingest", "calls": N_CALLS, "concurrency": CONCURRENCY, "nlu_workers": NLU_WORKERS,
        "cores": os.cpu_count(),
        "wall_s": wall, "calls_per_s": round(N_CALLS / wall, 1),
        "nlu_s": counts["nlu_s"], "filing_s": counts["filing_s"],
        "nlu_calls_per_s": round(N_CALLS / counts["nlu_s"], 1) if counts["nlu_s"] else None,
        "filing_calls_per_s": round((counts["filed"] + counts["linked"]) / counts["filing_s"], 1)
        if counts["filing_s"] else None,
        **extra,
        "outcomes": {k: counts[k] for k in ("filed", "linked", "referred", "quarantined", "failed")},
        "all_accounted_for": done == N_CALLS,
        "target_calls_per_s": TARGET, "meets_target": N_CALLS / wall >= TARGET,
    }
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
