"""Benchmark the NLU worker (the trained Rasa model held in one process, TF/OMP pinned to one thread).

Starts the worker through nlu.client.NLUClient, sends messages one at a time (a chat-like mix of short
messages and hotline-style records written for this benchmark), and prints ONE JSON line: model load time,
per-message latency p50/p95, messages/s on one core and the worker's peak RSS.
Targets: p95 <= 30 ms, >= 100 msg/s, peak RSS <= 1.5 GB. Needs a trained model (`citybot train`).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N = int(os.environ.get("BENCH_NLU_MESSAGES", "600"))
MESSAGES = [
    "你好", "井盖没了", "小区门口的路灯坏了好几天了", "谢谢", "帮我查一下20261124000123的进度",
    "龙华区国贸北路怡景花园A座门口垃圾堆成山，臭死了，有没有人管",
    "南山大道与桂庙路交叉口一下雨就积水，车都过不去",
    "市民来电反映：美兰区海甸五西路某小区门口长期有流动摊贩占用人行道经营，影响通行，希望相关部门尽快处理。",
    "人行道上停满了共享单车", "我的社保卡丢了怎么补办", "台风把路边的大树刮倒了", "给5分",
    "市民来电反映：秀英区长滨路附近工地夜间施工噪音很大，凌晨两点还在打桩，严重影响休息，请核实处理。",
    "這裡的井蓋壞了", "绿化带里的杂草比人还高",
]


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


async def main() -> dict:
    from nlu.client import NLUClient
    from nlu.cli import model_path

    started = time.perf_counter()
    client = await NLUClient.start(model_path())
    load_s = time.perf_counter() - started
    try:
        for text in MESSAGES:  # warm-up
            await client.parse(text)
        cpu_before = cpu_seconds(client.pid)
        latencies = []
        t0 = time.perf_counter()
        for i in range(N):
            s = time.perf_counter()
            await client.parse(MESSAGES[i % len(MESSAGES)])
            latencies.append((time.perf_counter() - s) * 1000)
        wall = time.perf_counter() - t0
        cpu_after = cpu_seconds(client.pid)
        rss = peak_rss_mb(client.pid)
    finally:
        await client.close()
    latencies.sort()
    cpu = (cpu_after - cpu_before) if cpu_before is not None and cpu_after is not None else None
    return {
        "bench": "nlu",
        "messages": N,
        "model_load_s": round(load_s, 2),
        "worker_reported_load_s": client.info.get("load_s"),
        "latency_ms_p50": round(statistics.median(latencies), 2),
        "latency_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
        "msgs_per_s": round(N / wall, 1),
        "worker_cpu_s_per_msg_ms": round(cpu / N * 1000, 2) if cpu else None,
        "peak_rss_mb": rss,
        "targets": {"latency_ms_p95": 30, "msgs_per_s": 100, "peak_rss_mb": 1536},
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
