"""Reading hotline exports (both formats, both encodings, bad lines) and picking out the caller's complaint."""

from __future__ import annotations

import json

from hotlinetesting import SAMPLES

from hotline import records, transcript


def _read(path):
    items = list(records.read(path))
    return ([i for i in items if isinstance(i, records.CallRecord)],
            [i for i in items if isinstance(i, records.Rejected)])


def test_jsonl_utf8_with_turns():
    calls, bad = _read(SAMPLES / "calls-20240601.jsonl")
    assert len(calls) == 8 and bad == []
    first = calls[0]
    assert first.call_id == "HK12345-20240601-0001" and first.caller_phone == "13876543210"
    assert first.turns[0] == records.Turn("agent", "您好，12345热线，工号1024，很高兴为您服务，请讲。")
    assert first.started_at.utcoffset().total_seconds() == 8 * 3600
    assert calls[2].summary.startswith("市民来电反映")


def test_csv_gb18030_with_text_transcripts():
    data = (SAMPLES / "calls-20240602.csv").read_bytes()
    assert records.file_encoding(data) == "gb18030"
    calls, bad = _read(SAMPLES / "calls-20240602.csv")
    assert [c.call_id for c in calls] == [f"HK12345-20240602-000{i}" for i in range(1, 6)] and bad == []
    assert "共享单车" in calls[0].text and calls[0].turns == ()
    assert calls[2].caller_phone is None
    assert calls[3].started_at.hour == 11  # 2024/06/02 11:45:09


def test_the_same_calls_in_the_other_encodings(tmp_path):
    rows = (SAMPLES / "calls-20240602.csv").read_bytes().decode("gb18030")
    (tmp_path / "utf8.csv").write_bytes(b"\xef\xbb\xbf" + rows.encode("utf-8"))  # with a BOM, as Excel writes it
    jsonl = (SAMPLES / "calls-20240601.jsonl").read_text(encoding="utf-8")
    (tmp_path / "gbk.jsonl").write_bytes(jsonl.encode("gb18030"))
    csv_calls, _ = _read(tmp_path / "utf8.csv")
    jsonl_calls, _ = _read(tmp_path / "gbk.jsonl")
    assert [c.text for c in csv_calls] == [c.text for c in _read(SAMPLES / "calls-20240602.csv")[0]]
    assert [c.turns for c in jsonl_calls] == [c.turns for c in _read(SAMPLES / "calls-20240601.jsonl")[0]]


def test_a_damaged_line_is_rejected_alone_and_not_misread(tmp_path):
    good = [json.dumps({"call_id": f"C{i}", "started_at": "2024-06-01 08:00", "text": "龙华区金盘路垃圾成堆"},
                       ensure_ascii=False).encode("gb18030") for i in range(3)]
    damaged = b'{"call_id": "C9", "started_at": "2024-06-01 08:00", "text": "\x81\x20\xff"}'
    (tmp_path / "x.jsonl").write_bytes(b"\n".join([good[0], damaged, good[1], good[2]]))
    calls, bad = _read(tmp_path / "x.jsonl")
    assert [c.call_id for c in calls] == ["C0", "C1", "C2"] and calls[0].text == "龙华区金盘路垃圾成堆"
    assert [(b.line_no, b.reason) for b in bad] == [(2, "undecodable bytes (neither UTF-8 nor GB18030)")]

    header = "call_id,started_at,text\r\n".encode()
    row = lambda i: f"D{i},2024-06-01 08:00,琼山区府城大道井盖没了\r\n".encode("gb18030")  # noqa: E731
    (tmp_path / "x.csv").write_bytes(header + row(1) + b"D2,2024-06-01 08:00,\xff\xff\xff\r\n" + row(3))
    calls, bad = _read(tmp_path / "x.csv")
    assert [c.call_id for c in calls] == ["D1", "D3"] and calls[0].text == "琼山区府城大道井盖没了"
    assert [(b.line_no, b.reason) for b in bad] == [(3, "undecodable bytes (neither UTF-8 nor GB18030)")]


def test_missing_fields_and_malformed_records_are_rejected_with_reasons(tmp_path):
    (tmp_path / "x.csv").write_text("call_id,started_at,text\r\nE1,,龙华区垃圾\r\n,2024-06-01,龙华区垃圾\r\n"
                                    "E3,2024-06-01,a,b,c\r\nE4,2024-06-01,\r\n", encoding="utf-8")
    _, bad = _read(tmp_path / "x.csv")
    assert [(b.line_no, b.reason) for b in bad] == [
        (2, "bad started_at: missing started_at"), (3, "missing call_id"), (4, "more fields than the header"),
        (5, "empty transcript")]
    (tmp_path / "y.csv").write_text("id,text\r\n1,x\r\n", encoding="utf-8")
    assert [b.reason for b in _read(tmp_path / "y.csv")[1]] == ["CSV header lacks call_id"]


def test_complaint_skips_greetings_boilerplate_and_identity_answers():
    calls, _ = _read(SAMPLES / "calls-20240601.jsonl")
    by_id = {c.call_id[-4:]: transcript.complaint(c) for c in calls}
    assert by_id["0001"] == "我要反映一下，龙华区金盘路30号门口那个垃圾堆了三天了没人清，臭得不得了"
    assert "姓王" not in by_id["0001"] and "热线" not in by_id["0001"]
    assert "谢谢" not in by_id["0002"] and "天天晚上十点以后" in by_id["0002"]
    assert by_id["0003"].startswith("市民来电反映: 秀英区海秀西路")  # the agent's summary wins
    assert "18689761234" not in by_id["0005"]  # "我的电话是…" is an identity answer, not the complaint


def test_complaint_from_a_text_transcript_with_speaker_prefixes():
    calls, _ = _read(SAMPLES / "calls-20240602.csv")
    said = transcript.complaint(calls[1])
    assert said == "龙华区国贸路上有人乱贴小广告，办证的那种，电线杆上到处都是。国贸路和玉沙路交叉口附近"
    plain = records.to_record({"call_id": "P1", "started_at": "2024-06-01", "text": "海府路井盖没了"}, "x", 1)
    assert transcript.complaint(plain) == "海府路井盖没了"
