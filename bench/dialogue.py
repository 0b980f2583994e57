"""Dialogue latency through Rasa's REST channel, end to end (Rasa + action server + hub on loopback).

For N citizens: the report turn ("<place>的井盖没了" with a photo in the metadata: NLU, action_start_report, the
form and its validation action, the confirmation question) and the confirm turn (the form, action_submit_report
and the hub's create_request). Prints ONE JSON line with p50/p95 per turn kind. Target: report turn p95 ≤ 200 ms.

    .venv/bin/python bench/dialogue.py [--n 40] [--model models/x.tar.gz]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from citybot.stack import Stack, find_model  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--model")
    args = ap.parse_args()
    model = Path(args.model) if args.model else find_model()
    if model is None:
        print(json.dumps({"bench": "dialogue", "error": "no trained model with the dialogue domain"}))
        return 1
    report_ms, confirm_ms, filed = [], [], 0
    with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp), model) as stack, httpx.Client() as client:
        photo = f"{stack.hub_url}/media/0000.jpg"
        stack.say("warmup", "你好", client=client)
        for i in range(args.n + 2):
            sender = f"bench{i}"
            t0 = time.perf_counter()
            replies = stack.say(sender, f"人民路{100 + i}号门口的井盖没了", {"photos": [photo]}, client=client)
            t1 = time.perf_counter()
            said = "\n".join(r.get("text") or "" for r in replies)
            if "确认提交吗" not in said:
                continue  # the bot asked something else (category or place); only like-for-like turns are timed
            replies = stack.say(sender, "/affirm", client=client)
            t2 = time.perf_counter()
            if i < 2:
                continue  # warm-up
            report_ms.append((t1 - t0) * 1000)
            confirm_ms.append((t2 - t1) * 1000)
            filed += any("案件编号" in (r.get("text") or "") for r in replies)
    out = {"bench": "dialogue", "n": len(report_ms), "filed": filed,
           "report_turn_p50_ms": pct(report_ms, 0.5) if report_ms else None,
           "report_turn_p95_ms": pct(report_ms, 0.95) if report_ms else None,
           "confirm_turn_p50_ms": pct(confirm_ms, 0.5) if confirm_ms else None,
           "confirm_turn_p95_ms": pct(confirm_ms, 0.95) if confirm_ms else None,
           "report_turn_mean_ms": round(statistics.fmean(report_ms), 1) if report_ms else None,
           "target_p95_ms": 200}
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
