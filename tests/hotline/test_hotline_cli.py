"""`citybot ingest` end to end: the console command in a subprocess, the real trained NLU model (nlu.client's
worker in .venv-rasa), the real hub on a loopback port, temp SQLite databases."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from hotlinetesting import API_KEY, ROOT, SAMPLES, hotline_cases

from citybot.privacy import salted_hash

MODEL = ROOT / "models" / "citybot.tar.gz"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
_missing = [str(p.relative_to(ROOT)) for p in (RASA_PYTHON, MODEL) if not p.exists()]
SAMPLE_FILES = [SAMPLES / "calls-20240601.jsonl", SAMPLES / "calls-20240602.csv", SAMPLES / "bad-lines.jsonl"]


def _env(tmp_path, hub_url: str = "http://127.0.0.1:9") -> dict[str, str]:
    return {**os.environ, "VAR_DIR": str(tmp_path), "HUB_URL": hub_url, "HUB_API_KEY": API_KEY,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'citybot.db'}", "PHONE_HASH_SALT": "cli-salt",
            "HOTLINE_QUARANTINE_FILE": str(tmp_path / "q.jsonl"), "MODELS_DIR": str(MODEL.parent),
            "HUB_RETRIES": "1"}


def citybot(tmp_path, *args, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "citybot.cli", "ingest", *map(str, args)], cwd=tmp_path,
                          env=env or _env(tmp_path), capture_output=True, text=True, timeout=timeout)


def _counts(proc) -> dict:
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_missing_file_means_it_cannot_run(tmp_path):
    proc = citybot(tmp_path, tmp_path / "nope.jsonl")
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_no_trained_model_means_it_cannot_run(tmp_path):
    env = {**_env(tmp_path), "MODELS_DIR": str(tmp_path / "no-models")}
    proc = citybot(tmp_path, SAMPLES / "calls-20240601.jsonl", env=env)
    assert proc.returncode == 2 and "NLU is not available" in proc.stderr and "citybot train" in proc.stderr


def test_nlu_workers_must_be_at_least_one(tmp_path):
    proc = citybot(tmp_path, SAMPLES / "calls-20240601.jsonl", "--nlu-workers", "0")
    assert proc.returncode == 2 and "--nlu-workers must be at least 1" in proc.stderr


@pytest.mark.rasa
@pytest.mark.slow
def test_dry_run_without_a_hub_and_two_nlu_workers(tmp_path):
    _skip_without_model()
    started = time.monotonic()
    proc = citybot(tmp_path, "--dry-run", "--nlu-workers", "2", *SAMPLE_FILES)  # HUB_URL: nothing listens there
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    calls, counts = lines[:-1], lines[-1]
    assert len(calls) == counts["read"] == 22 and "aborted" not in counts
    assert {x["action"] for x in calls} == {"file", "refer", "quarantine"}  # no hub to find a duplicate
    assert "dry run goes on without the duplicate check" in proc.stderr
    assert time.monotonic() - started < 240


@pytest.mark.rasa
@pytest.mark.slow
def test_ingest_samples_with_the_real_model(hub_server, tmp_path):
    _skip_without_model()
    proc = citybot(tmp_path, *SAMPLE_FILES, "--quarantine", tmp_path / "override.jsonl",
                   env=_env(tmp_path, hub_server.url))
    assert proc.returncode == 0, proc.stderr
    c = _counts(proc)
    assert c["read"] == 22 and c["failed"] == 0
    assert c["filed"] + c["linked"] + c["referred"] + c["quarantined"] == 22
    assert c["quarantined"] >= 8 and c["referred"] >= 1 and c["filed"] + c["linked"] >= 8
    assert "records read" in proc.stderr  # the human summary
    cases = hotline_cases(hub_server)
    assert len(cases) == c["filed"] + c["linked"]
    rubbish = cases["HK12345-20240601-0001"]
    assert rubbish["service_code"] == "SRHJ-01" and "金盘路" in rubbish["address"]
    assert rubbish["account_id"] == "phone:" + salted_hash("13876543210", "cli-salt")
    assert "HK12345-20240601-0004" not in cases  # 社保: referred to 12333, not filed
    assert "琼A12345" not in json.dumps(list(cases.values()), ensure_ascii=False)
    assert (tmp_path / "override.jsonl").exists() and not (tmp_path / "q.jsonl").exists()
    assert "13876543210" not in proc.stderr + proc.stdout

    again = citybot(tmp_path, *SAMPLE_FILES, "--quarantine", tmp_path / "override.jsonl",
                    env=_env(tmp_path, hub_server.url))
    c2 = _counts(again)
    assert again.returncode == 0 and c2["skipped"] == 22 and c2["filed"] == c2["linked"] == 0
    assert hotline_cases(hub_server).keys() == cases.keys()


def _skip_without_model():
    if _missing:
        pytest.skip(f"real NLU not available: missing {', '.join(_missing)} (run `make train`)")


@pytest.mark.rasa
@pytest.mark.slow
def test_dry_run_with_the_real_model(hub_server, tmp_path):
    _skip_without_model()
    proc = citybot(tmp_path, "--dry-run", *SAMPLE_FILES, env=_env(tmp_path, hub_server.url))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    calls, counts = lines[:-1], lines[-1]
    assert len(calls) == counts["read"] == 22
    by_id = {x["call_id"]: x for x in calls if x["call_id"]}
    first = by_id["HK12345-20240601-0001"]
    assert (first["category"], first["subcategory"], first["action"]) == ("市容环境", "暴露垃圾", "file")
    assert 0 < first["confidence"] <= 1 and "金盘路" in first["location"]["text"]
    assert by_id["HK12345-20240601-0004"]["action"] == "refer"
    assert {x["action"] for x in calls} <= {"file", "link", "refer", "quarantine"}
    assert hub_server.cases() == [] and not (tmp_path / "citybot.db").exists() and not (tmp_path / "q.jsonl").exists()


@pytest.mark.rasa
@pytest.mark.slow
def test_sigkill_mid_run_then_resume_files_every_call_exactly_once(hub_server, tmp_path):
    _skip_without_model()
    roads = ["金盘路", "海秀中路", "国兴大道", "滨海大道", "龙昆南路", "白龙南路", "海府路", "红城湖路"]
    problems = ["门口垃圾堆了好几天没人清，臭死了", "路灯坏了好几盏，晚上很黑", "井盖没了，很危险",
                "共享单车乱停，人行道都堵了", "有人摆摊占道经营", "大树倒了压在路上"]
    path, ids = tmp_path / "many.jsonl", []
    with path.open("w", encoding="utf-8") as fh:
        for i in range(600):
            ids.append(f"S-{i:04d}")
            text = f"坐席：您好，12345热线。\n市民：龙华区{roads[i % 8]}{i + 1}号{problems[i % 6]}。\n坐席：好的，已登记。"
            fh.write(json.dumps({"call_id": ids[-1], "started_at": "2024-06-01 08:00", "caller_phone": "13800000000",
                                 "text": text}, ensure_ascii=False) + "\n")
    env = _env(tmp_path, hub_server.url)
    proc = subprocess.Popen([sys.executable, "-m", "citybot.cli", "ingest", str(path), "--concurrency", "4"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while len(hotline_cases(hub_server)) < 250 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    before = len(hotline_cases(hub_server))
    assert 250 <= before < 600, "the run was not killed half-way"
    # (the NLU worker child of the killed process sees its stdin close and exits by itself)

    again = citybot(tmp_path, path, env=env)
    assert again.returncode == 0, again.stderr
    c = _counts(again)
    assert c["skipped"] > 0 and c["failed"] == 0
    cases = hotline_cases(hub_server)  # asserts that no call_id was filed twice
    from sqlalchemy import create_engine, text

    with create_engine(env["DATABASE_URL"]).connect() as conn:
        outcomes = dict(conn.execute(text("select call_id, outcome from citybot_hotline_call")).all())
    assert sorted(outcomes) == ids  # every call has a final outcome, nothing lost
    assert sorted(k for k, v in outcomes.items() if v in ("filed", "linked")) == sorted(cases)
