"""The ingestion run against the real hub (uvicorn on loopback, temp SQLite) through the real HubClient.

The NLU here is the deterministic KeywordNLU (a unit test of the ingestion module); the same flows run with the
real trained model in test_hotline_cli.py.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import textwrap

from hotlinetesting import API_KEY, ROOT, SALT, SAMPLES, HubServer, KeywordNLU, hotline_cases

from citybot.db import create_tables, make_engine
from citybot.privacy import salted_hash
from hotline.ingest import Ingestor, Options
from hotline.quarantine import Quarantine
from hotline.state import FINAL, HotlineCall, IngestState
from hubapi.client import HubClient

JSONL = SAMPLES / "calls-20240601.jsonl"
CSV = SAMPLES / "calls-20240602.csv"
BAD = SAMPLES / "bad-lines.jsonl"


def _state(tmp_path) -> IngestState:
    engine = make_engine(f"sqlite:///{tmp_path / 'citybot.db'}")
    create_tables(engine)
    return IngestState(engine)


async def ingest(paths, url, tmp_path, *, dry_run=False, nlu=None, wrap=None, out=None, retries=0, **opt):
    state = None if dry_run else _state(tmp_path)
    async with HubClient(url, api_key=API_KEY, retries=retries, backoff=0.01, timeout=5) as client:
        ingestor = Ingestor(nlu=nlu or KeywordNLU(), hub=wrap(client) if wrap else client, state=state,
                            quarantine=Quarantine(tmp_path / "quarantine.jsonl"),
                            options=Options(dry_run=dry_run, phone_salt=SALT, progress=False, **opt), out=out)
        report = await ingestor.run(paths)
    if state is not None:
        state.engine.dispose()
    return report


def _rows(tmp_path) -> dict[str, HotlineCall]:
    from sqlmodel import Session, select

    engine = make_engine(f"sqlite:///{tmp_path / 'citybot.db'}")
    with Session(engine) as s:
        rows = {r.call_id: r for r in s.exec(select(HotlineCall))}
    engine.dispose()
    return rows


def _quarantined(tmp_path) -> list[dict]:
    path = tmp_path / "quarantine.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


async def test_both_formats_are_filed_linked_and_referred(hub_server, tmp_path):
    report = await ingest([JSONL, CSV], hub_server.url, tmp_path)
    c = report.as_dict()
    assert (c["read"], c["filed"], c["linked"], c["referred"], c["quarantined"], c["failed"]) == (13, 10, 1, 2, 0, 0)
    cases = hotline_cases(hub_server)
    assert len(cases) == 11  # filed + linked: a linked call is a case marked duplicate_of the open one
    rubbish = [cases["HK12345-20240601-0001"], cases["HK12345-20240601-0006"]]
    assert sorted(bool(r["duplicate_of"]) for r in rubbish) == [False, True]
    assert {r["duplicate_of"] for r in rubbish} - {None} <= {r["id"] for r in rubbish}
    # CSV (GB18030, text transcript with speaker prefixes): the caller's words, decoded, not the agent's greeting.
    ad = cases["HK12345-20240602-0002"]
    assert ad["service_code"] == "SRHJ-03" and "国贸路" in ad["description"] and "12345热线" not in ad["description"]
    assert "HK12345-20240601-0004" not in cases and "HK12345-20240602-0003" not in cases  # referred, not filed
    rows = _rows(tmp_path)
    assert rows["HK12345-20240601-0004"].outcome == "referred"
    assert rows["HK12345-20240601-0004"].referral == "social_security"
    assert {r.outcome for r in rows.values()} <= set(FINAL)
    assert rows["HK12345-20240601-0001"].case_id == cases["HK12345-20240601-0001"]["id"]


async def test_caller_phone_is_only_a_salted_hash_that_follows_the_case(hub_server, tmp_path):
    await ingest([JSONL], hub_server.url, tmp_path)
    digest = salted_hash("13876543210", SALT)
    case = hotline_cases(hub_server)["HK12345-20240601-0001"]
    assert case["account_id"] == f"phone:{digest}"
    assert "13876543210" not in json.dumps(hub_server.cases(), ensure_ascii=False)
    # +86 and spaces do not change who the caller is
    assert hotline_cases(hub_server)["HK12345-20240601-0007"]["account_id"] == f"phone:{salted_hash('13976543210', SALT)}"
    state = _state(tmp_path)
    assert [r.call_id for r in state.by_phone_hash(digest)] == ["HK12345-20240601-0001"]
    # the bot's view of the same citizen: cases listed by account at the hub
    async with HubClient(hub_server.url, api_key=API_KEY) as client:
        mine = await client.list_requests(account_id=f"phone:{digest}")
    assert [r.service_request_id for r in mine] == [case["id"]]


async def test_personal_numbers_are_masked_in_descriptions(hub_server, tmp_path):
    await ingest([JSONL], hub_server.url, tmp_path)
    cases = hotline_cases(hub_server)
    plate = cases["HK12345-20240601-0007"]["description"]
    assert "琼A12345" not in plate and "琼A***5" in plate
    lamp = cases["HK12345-20240601-0008"]["description"]
    assert "460100199001011234" not in lamp and "460100********1234" in lamp
    phone = cases["HK12345-20240601-0005"]["description"]
    assert "18689761234" not in json.dumps(cases, ensure_ascii=False)
    assert "井盖" in phone


async def test_second_run_files_nothing_again(hub_server, tmp_path):
    first = await ingest([JSONL, CSV, BAD], hub_server.url, tmp_path)
    before = hotline_cases(hub_server)
    quarantined = len(_quarantined(tmp_path))
    nlu = KeywordNLU()
    second = await ingest([JSONL, CSV, BAD], hub_server.url, tmp_path, nlu=nlu)
    c = second.as_dict()
    assert c["read"] == first.as_dict()["read"] and c["skipped"] == c["read"]
    assert c["filed"] == c["linked"] == c["referred"] == c["quarantined"] == 0
    assert nlu.texts == []  # nothing even classified again
    assert hotline_cases(hub_server).keys() == before.keys()
    assert len(_quarantined(tmp_path)) == quarantined  # bad lines are not quarantined twice


async def test_repeated_call_id_in_a_file_is_filed_once(hub_server, tmp_path):
    line = JSONL.read_text(encoding="utf-8").splitlines()[0]
    path = tmp_path / "repeat.jsonl"
    path.write_text(f"{line}\n{line}\n", encoding="utf-8")
    report = await ingest([path], hub_server.url, tmp_path)
    assert (report.counts["filed"], report.counts["skipped"]) == (1, 1)
    assert list(hotline_cases(hub_server)) == ["HK12345-20240601-0001"]


async def test_bad_lines_are_quarantined_with_file_line_and_reason(hub_server, tmp_path):
    report = await ingest([BAD], hub_server.url, tmp_path)
    assert (report.counts["read"], report.counts["filed"], report.counts["quarantined"]) == (9, 1, 8)
    entries = {e["line"]: e for e in _quarantined(tmp_path)}
    assert all(e["file"] == str(BAD) for e in entries.values())
    reasons = {line: e["reason"] for line, e in entries.items()}
    assert reasons[2].startswith("malformed JSON")
    assert reasons[3] == "missing call_id"
    assert reasons[4].startswith("bad started_at")
    assert reasons[5].startswith("empty transcript")  # only greetings and boilerplate
    assert entries[5]["call_id"] == "HK12345-20240603-0005"
    assert reasons[6].startswith("undecodable bytes")
    assert reasons[7].startswith("unknown speaker")
    assert reasons[8] == "empty transcript"
    assert reasons[9] == "record is not an object"
    assert "13812345678" not in (tmp_path / "quarantine.jsonl").read_text(encoding="utf-8")  # masked there too
    assert "138****5678" in entries[3]["raw"]
    assert list(hotline_cases(hub_server)) == ["HK12345-20240603-0001"]  # the one good line among them


async def test_call_without_a_place_is_filed_for_triage_not_quarantined(hub_server, tmp_path):
    path = tmp_path / "noplace.jsonl"
    path.write_text(json.dumps({"call_id": "NP-1", "started_at": "2024-06-01T08:00:00",
                                "text": "市民：我家门口垃圾堆了好几天没人清"}, ensure_ascii=False) + "\n", encoding="utf-8")
    out = io.StringIO()
    dry = await ingest([path], hub_server.url, tmp_path, dry_run=True, out=out)
    assert dry.counts["triaged"] == 1 and json.loads(out.getvalue().splitlines()[0])["action"] == "triage"
    report = await ingest([path], hub_server.url, tmp_path)
    assert report.counts["triaged"] == 1 and report.counts["quarantined"] == 0
    assert not (tmp_path / "quarantine.jsonl").exists()
    case = hotline_cases(hub_server)["NP-1"]  # at the hub, waiting for staff to set the place (待补充地点)
    assert case["state"] == "received" and case["address"] is None and case["lat"] is None
    again = await ingest([path], hub_server.url, tmp_path)
    assert again.counts["skipped"] == 1 and len(hotline_cases(hub_server)) == 1


async def test_location_read_back_by_the_agent_is_used(hub_server, tmp_path):
    path = tmp_path / "readback.jsonl"
    turns = [{"speaker": "caller", "text": "我家门口垃圾堆了好几天没人清"},
             {"speaker": "agent", "text": "您说的是美兰区海府路吧？"}, {"speaker": "caller", "text": "对"}]
    path.write_text(json.dumps({"call_id": "RB-1", "started_at": "2024-06-01T08:00:00", "turns": turns},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    report = await ingest([path], hub_server.url, tmp_path)
    assert report.counts["filed"] == 1
    case = hotline_cases(hub_server)["RB-1"]
    assert case["address"] == "美兰区海府路" and "您说的是" not in case["description"]


async def test_dry_run_files_nothing_and_says_what_it_would_do(hub_server, tmp_path):
    out = io.StringIO()
    report = await ingest([JSONL, BAD], hub_server.url, tmp_path, dry_run=True, out=out)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert len(lines) == report.counts["read"] == 17
    assert all(set(x) >= {"call_id", "category", "subcategory", "confidence", "location", "action"} for x in lines)
    by_id = {x["call_id"]: x for x in lines if x["call_id"]}
    assert by_id["HK12345-20240601-0001"]["action"] == "file"
    assert by_id["HK12345-20240601-0001"]["subcategory"] == "暴露垃圾"
    assert by_id["HK12345-20240601-0001"]["location"]["road"] == "金盘路"
    assert by_id["HK12345-20240601-0004"]["action"] == "refer"
    assert [x["action"] for x in lines].count("quarantine") == 8
    assert {x["action"] for x in lines} <= {"file", "link", "triage", "refer", "quarantine"}
    assert report.counts["filed"] == [x["action"] for x in lines].count("file")
    assert hub_server.cases() == [] and not (tmp_path / "quarantine.jsonl").exists()
    assert not (tmp_path / "citybot.db").exists()


async def test_dry_run_says_link_when_the_hub_can_check_without_filing(hub_server, tmp_path):
    await ingest([JSONL], hub_server.url, tmp_path)  # the rubbish at 金盘路30号 is now an open case
    calls = []

    class DryRunHub:  # what a hub client with a dry_run flag answers: the duplicate check, nothing written
        def __init__(self, client):
            self.client = client

        async def create_request(self, filing, *, dry_run=False):
            calls.append(dry_run)
            from hubapi.client import CreatedRequest
            return CreatedRequest(None, duplicate_of="X" if "金盘路30号" in (filing.address or "") else None)

    out = io.StringIO()
    path = tmp_path / "again.jsonl"
    first = json.loads(JSONL.read_text(encoding="utf-8").splitlines()[0])
    path.write_text(json.dumps({**first, "call_id": "NEW-1"}, ensure_ascii=False) + "\n", encoding="utf-8")
    await ingest([path], hub_server.url, tmp_path, dry_run=True, out=out, wrap=DryRunHub)
    assert json.loads(out.getvalue())["action"] == "link" and calls == [True]


async def test_dry_run_asks_the_real_hub_and_says_link_for_an_open_case(hub_server, tmp_path):
    await ingest([JSONL], hub_server.url, tmp_path)  # the rubbish at 金盘路30号 is now an open case
    before = hotline_cases(hub_server)
    first = json.loads(JSONL.read_text(encoding="utf-8").splitlines()[0])
    path = tmp_path / "again.jsonl"
    path.write_text(json.dumps({**first, "call_id": "NEW-1"}, ensure_ascii=False) + "\n"
                    + json.dumps({**first, "call_id": "NEW-2", "turns": [
                        {"speaker": "caller", "text": "秀英区滨海大道200号路灯坏了好几盏"}]}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    out = io.StringIO()
    report = await ingest([path], hub_server.url, tmp_path / "dry", dry_run=True, out=out)
    lines = {x["call_id"]: x for x in map(json.loads, out.getvalue().splitlines())}
    assert lines["NEW-1"]["action"] == "link" and lines["NEW-2"]["action"] == "file"
    assert (report.counts["linked"], report.counts["filed"]) == (1, 1)
    assert hotline_cases(hub_server) == before  # nothing filed


async def test_dry_run_without_a_hub_goes_on_offline_and_says_file(tmp_path):
    down = HubServer(tmp_path)  # not started: nothing listens on its port
    out = io.StringIO()
    report = await ingest([JSONL], down.url, tmp_path, dry_run=True, out=out, max_outage_s=900)
    actions = [json.loads(x)["action"] for x in out.getvalue().splitlines()]
    assert len(actions) == report.counts["read"] == 8 and not report.aborted
    assert "file" in actions and "link" not in actions and report.wall_s < 60


async def test_a_text_the_nlu_cannot_parse_fails_and_is_retried_next_run(hub_server, tmp_path):
    class FlakyNLU(KeywordNLU):
        broken = True

        async def parse_many(self, texts):
            answers = await super().parse_many(texts)
            return [{"error": "internal error: boom"} if self.broken and "金盘路" in t else a
                    for t, a in zip(texts, answers)]

    nlu = FlakyNLU()
    out = io.StringIO()
    dry = await ingest([JSONL], hub_server.url, tmp_path / "dry", dry_run=True, nlu=nlu, out=out)
    failed = [x for x in map(json.loads, out.getvalue().splitlines()) if x["action"] == "fail"]
    broken = {"HK12345-20240601-0001", "HK12345-20240601-0006"}  # the two calls about 金盘路
    assert {x["call_id"] for x in failed} == broken and all("boom" in x["reason"] for x in failed)
    assert dry.counts["failed"] == 2
    first = await ingest([JSONL], hub_server.url, tmp_path, nlu=nlu)
    assert first.counts["failed"] == 2 and not broken & hotline_cases(hub_server).keys()
    assert {_rows(tmp_path)[c].outcome for c in broken} == {"failed"}
    nlu.broken = False
    second = await ingest([JSONL], hub_server.url, tmp_path, nlu=nlu)
    assert second.counts["filed"] + second.counts["linked"] == 2 and second.counts["skipped"] == 6
    assert broken <= hotline_cases(hub_server).keys()


async def test_hub_outage_pauses_and_retries_without_quarantining(tmp_path):
    server = HubServer(tmp_path).start(delay=1.5)  # down when the run starts, up 1.5 s later
    try:
        report = await ingest([JSONL], server.url, tmp_path)
        server.wait()
        c = report.as_dict()
        assert (c["filed"] + c["linked"], c["quarantined"], c["failed"], c.get("aborted")) == (7, 0, 0, None)
        assert len(hotline_cases(server)) == 7
    finally:
        server.stop()


async def test_hub_down_for_too_long_stops_and_the_next_run_resumes(tmp_path):
    server = HubServer(tmp_path)  # not started: nothing listens on its port
    report = await ingest([JSONL, CSV], server.url, tmp_path, max_outage_s=0)
    assert report.aborted and report.counts["quarantined"] == report.counts["failed"] == 0
    assert report.counts["filed"] == 0
    server.start()
    try:
        again = await ingest([JSONL, CSV], server.url, tmp_path)
        assert again.counts["filed"] + again.counts["linked"] == 11
        assert len(hotline_cases(server)) == 11
    finally:
        server.stop()


async def test_a_call_the_hub_rejects_is_failed_and_retried_next_run(hub_server, tmp_path):
    class Rejecting:
        def __init__(self, client):
            self.client = client

        async def create_request(self, filing, **kw):
            return await self.client.create_request(dataclasses.replace(filing, service_code="NOPE-99"), **kw)

    report = await ingest([JSONL], hub_server.url, tmp_path, wrap=Rejecting)
    assert report.counts["failed"] == 7 and hub_server.cases() == []
    assert "NOPE-99" in _rows(tmp_path)["HK12345-20240601-0001"].reason
    again = await ingest([JSONL], hub_server.url, tmp_path)
    assert again.counts["filed"] + again.counts["linked"] == 7 and again.counts["skipped"] == 1  # the referral


_KILLER = textwrap.dedent("""
    import asyncio, os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from hotlinetesting import API_KEY, SALT, KeywordNLU
    from citybot.db import create_tables, make_engine
    from hotline.ingest import Ingestor, Options
    from hotline.quarantine import Quarantine
    from hotline.state import IngestState
    from hubapi.client import HubClient

    class KillAfter:  # SIGKILL this process right after the hub accepted the N-th call
        def __init__(self, client, n):
            self.client, self.n = client, n
        async def create_request(self, filing, **kw):
            created = await self.client.create_request(filing, **kw)
            self.n -= 1
            if self.n <= 0:
                os.kill(os.getpid(), signal.SIGKILL)
            return created

    async def main():
        tmp = Path({tmp!r})
        engine = make_engine(f"sqlite:///{{tmp / 'citybot.db'}}")
        create_tables(engine)
        async with HubClient({url!r}, api_key=API_KEY) as client:
            await Ingestor(nlu=KeywordNLU(), hub=KillAfter(client, {n}), state=IngestState(engine),
                           quarantine=Quarantine(tmp / "quarantine.jsonl"),
                           options=Options(phone_salt=SALT, progress=False, concurrency=4, batch=50)).run([{path!r}])
    asyncio.run(main())
""")


def _many_calls(path, n: int) -> list[str]:
    roads = ["金盘路", "海秀中路", "国兴大道", "滨海大道", "龙昆南路", "白龙南路", "海府路", "红城湖路"]
    problems = ["垃圾堆了好几天没人清", "路灯坏了", "井盖没了", "共享单车乱停", "有人摆摊占道经营", "树倒了压在路上"]
    ids = []
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            call_id = f"K-{i:05d}"
            ids.append(call_id)
            text = f"市民：龙华区{roads[i % len(roads)]}{i + 1}号{problems[i % len(problems)]}"
            fh.write(json.dumps({"call_id": call_id, "started_at": "2024-06-01T08:00:00", "text": text},
                                ensure_ascii=False) + "\n")
    return ids


def test_a_run_killed_half_way_resumes_and_files_every_call_once(hub_server, tmp_path):
    import asyncio

    path = tmp_path / "many.jsonl"
    ids = _many_calls(path, 300)
    script = _KILLER.format(tests=str(ROOT / "tests" / "hotline"), tmp=str(tmp_path), url=hub_server.url,
                            n=130, path=str(path))
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**os.environ}, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    filed_before = hotline_cases(hub_server)
    assert 130 <= len(filed_before) < 300  # killed half-way: some filed, some not
    recorded = _rows(tmp_path)
    assert len(recorded) < len(filed_before)  # some calls were filed but not yet recorded when it died

    report = asyncio.run(ingest([path], hub_server.url, tmp_path))
    assert report.counts["skipped"] == len(recorded)
    assert report.counts["failed"] == report.counts["quarantined"] == 0
    cases = hotline_cases(hub_server)  # asserts no external_id twice
    assert sorted(cases) == ids  # every call filed, exactly once
    assert {r.outcome for r in _rows(tmp_path).values()} <= {"filed", "linked"}
    assert len(_rows(tmp_path)) == 300
