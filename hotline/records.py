"""Reading hotline exports: JSONL or CSV, UTF-8 or GB18030, one call per record.

Each record comes out as a `CallRecord`, or as a `Rejected` with the file, line number and reason, so that a
bad line never stops a batch and never disappears (the caller quarantines it).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator

ENCODINGS = ("utf-8-sig", "gb18030")
MAX_LINE_CHARS = 100_000


@dataclass(frozen=True)
class Turn:
    speaker: str  # "agent" or "caller"
    text: str


@dataclass(frozen=True)
class CallRecord:
    source: str
    line_no: int
    call_id: str
    started_at: datetime
    caller_phone: str | None = None
    text: str | None = None
    turns: tuple[Turn, ...] = ()
    summary: str | None = None
    extra: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Rejected:
    source: str
    line_no: int
    reason: str
    raw: str


def detect_encoding(data: bytes) -> str | None:
    """The first of UTF-8 and GB18030 that decodes the whole file, or None."""
    for enc in ENCODINGS:
        try:
            data.decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    return None


def file_encoding(data: bytes) -> str:
    """The file's encoding: the one that decodes it whole, else the one that decodes the most lines.

    A file is written in one encoding; a line that does not decode in it is damaged, and is quarantined
    rather than guessed at in another encoding (GB18030 decodes many damaged UTF-8 lines into nonsense).
    """
    whole = detect_encoding(data)
    if whole:
        return whole

    def decodable(enc: str) -> int:
        n = 0
        for line in data.splitlines():
            try:
                line.decode(enc)
                n += 1
            except UnicodeDecodeError:
                pass
        return n

    return max(ENCODINGS, key=decodable)  # ties go to UTF-8 (first)


def _decode_lines(data: bytes) -> Iterator[tuple[int, str | None, bytes]]:
    """(line number, text or None when undecodable, raw bytes) for every non-blank line."""
    encoding = file_encoding(data)
    for no, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            text = None
        yield no, (text.lstrip("\ufeff") if text is not None else None), raw


def _parse_time(value) -> datetime:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value)
    text = str(value or "").strip().replace("/", "-")
    if not text:
        raise ValueError("missing started_at")
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _parse_turns(value) -> tuple[Turn, ...]:
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    if not isinstance(value, list):
        raise ValueError("turns must be a list of {speaker, text}")
    turns = []
    for item in value:
        if not isinstance(item, dict) or "text" not in item:
            raise ValueError("each turn needs speaker and text")
        speaker = str(item.get("speaker", "")).strip().lower()
        if speaker not in ("agent", "caller"):
            raise ValueError(f"unknown speaker {speaker!r} (expected agent or caller)")
        turns.append(Turn(speaker, str(item["text"] or "")))
    return tuple(turns)


def to_record(obj: dict, source: str, line_no: int) -> CallRecord:
    """Validate one parsed record; raises ValueError with a reason a person can act on."""
    if not isinstance(obj, dict):
        raise ValueError("record is not an object")
    call_id = str(obj.get("call_id") or "").strip()
    if not call_id:
        raise ValueError("missing call_id")
    if len(call_id) > 128:
        raise ValueError("call_id longer than 128 characters")
    try:
        started_at = _parse_time(obj.get("started_at"))
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise ValueError(f"bad started_at: {exc}") from None
    turns = _parse_turns(obj["turns"]) if obj.get("turns") not in (None, "") else ()
    text = obj.get("text") or obj.get("transcript")
    summary = obj.get("summary")
    phone = obj.get("caller_phone")
    record = CallRecord(
        source=source,
        line_no=line_no,
        call_id=call_id,
        started_at=started_at,
        caller_phone=str(phone).strip() if phone not in (None, "") else None,
        text=str(text).strip() if text else None,
        turns=turns,
        summary=str(summary).strip() if summary else None,
        extra={k: v for k, v in obj.items() if k not in {"call_id", "started_at", "caller_phone", "text", "transcript", "turns", "summary"}},
    )
    if not (record.text or record.summary or any(t.text.strip() for t in record.turns)):
        raise ValueError("empty transcript")
    return record


def read(path: str | Path) -> Iterator[CallRecord | Rejected]:
    """Every record of a JSONL or CSV hotline export (by extension; .csv is CSV, anything else JSONL)."""
    path = Path(path)
    source = str(path)
    data = path.read_bytes()
    if path.suffix.lower() == ".csv":
        yield from _read_csv(data, source)
    else:
        yield from _read_jsonl(data, source)


def _read_jsonl(data: bytes, source: str) -> Iterator[CallRecord | Rejected]:
    for no, text, raw in _decode_lines(data):
        if text is None:
            yield Rejected(source, no, "undecodable bytes (neither UTF-8 nor GB18030)",
                           raw.decode("utf-8", errors="backslashreplace"))
            continue
        if len(text) > MAX_LINE_CHARS:
            yield Rejected(source, no, f"line longer than {MAX_LINE_CHARS} characters", text[:2000])
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Rejected(source, no, f"malformed JSON: {exc.msg} at column {exc.colno}", text)
            continue
        try:
            yield to_record(obj, source, no)
        except ValueError as exc:
            yield Rejected(source, no, str(exc), text)


def _read_csv(data: bytes, source: str) -> Iterator[CallRecord | Rejected]:
    # Undecodable bytes become U+FFFD; the rows that hold them are quarantined below.
    text = data.decode(file_encoding(data), errors="replace")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    if not reader.fieldnames or "call_id" not in reader.fieldnames:
        yield Rejected(source, 1, "CSV header lacks call_id", (text.splitlines() or [""])[0])
        return
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Rejected(source, reader.line_num, f"malformed CSV: {exc}", "")
            continue
        no = reader.line_num
        raw = json.dumps(row, ensure_ascii=False)
        if None in row:
            yield Rejected(source, no, "more fields than the header", raw)
            continue
        if any("\ufffd" in (v or "") for v in row.values()):
            yield Rejected(source, no, "undecodable bytes (neither UTF-8 nor GB18030)", raw)
            continue
        try:
            yield to_record(row, source, no)
        except (ValueError, json.JSONDecodeError) as exc:
            yield Rejected(source, no, str(exc), raw)
