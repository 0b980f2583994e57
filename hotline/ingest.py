"""The ingestion run: read → (skip what is done) → classify → locate → file / link / refer / quarantine.

Classification goes through the same NLU model as the chat (an injected `nlu` with `parse_many`), filing
through the one hub client (an injected `hub`). Bounded concurrency for filing; state rows written in
batches. A hub outage pauses the run and retries; it never quarantines a good record.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterable, Protocol

from citybot.catalogue import OTHER
from citybot.privacy import mask, salted_hash
from hotline import records, transcript
from hotline.quarantine import Quarantine
from hotline.state import HotlineCall, IngestState

log = logging.getLogger("citybot.hotline")

CHANNEL = "hotline"
BATCH = 200


class NLU(Protocol):
    async def parse_many(self, texts: list[str]) -> list[dict[str, Any]]: ...


@dataclass
class Options:
    dry_run: bool = False
    concurrency: int = 8
    phone_salt: str = ""
    max_outage_s: float = 900.0  # give up (and resume next run) after the hub has been down this long
    progress: bool | None = None  # None: only on a terminal


@dataclass
class Report:
    counts: Counter = field(default_factory=Counter)
    nlu_s: float = 0.0
    filing_s: float = 0.0
    aborted: str | None = None

    def as_dict(self) -> dict[str, Any]:
        keys = ("read", "filed", "linked", "referred", "quarantined", "failed", "skipped")
        out: dict[str, Any] = {k: self.counts.get(k, 0) for k in keys}
        out.update(nlu_s=round(self.nlu_s, 3), filing_s=round(self.filing_s, 3))
        if self.aborted:
            out["aborted"] = self.aborted
        return out


class HubDown(Exception):
    """The hub stayed unreachable longer than the run is willing to wait."""


def _quarantine_key(rejected: records.Rejected) -> str:
    digest = hashlib.sha1(f"{Path(rejected.source).resolve()}:{rejected.line_no}".encode()).hexdigest()[:16]
    return f"q:{digest}"


def _address(location: dict | None) -> str | None:
    if not location:
        return None
    text = (location.get("text") or "").strip()
    district = location.get("district") or ""
    if district and district not in text:
        text = district + text
    return text or None


class Ingestor:
    def __init__(self, *, nlu: NLU, hub, state: IngestState | None, quarantine: Quarantine, options: Options,
                 out: IO[str] | None = None):
        self.nlu, self.hub, self.state, self.quarantine, self.opt = nlu, hub, state, quarantine, options
        self.out = out or sys.stdout
        self.report = Report()
        self._sem = asyncio.Semaphore(max(1, options.concurrency))

    # -- the run -----------------------------------------------------------------------------------------------
    async def run(self, paths: Iterable[str | Path]) -> Report:
        bar = self._progress_bar()
        try:
            for path in paths:
                batch: list[records.CallRecord | records.Rejected] = []
                for item in records.read(path):
                    batch.append(item)
                    if len(batch) >= BATCH:
                        await self._batch(batch, bar)
                        batch = []
                if batch:
                    await self._batch(batch, bar)
        except HubDown as exc:
            self.report.aborted = str(exc)
            log.error("stopping: %s; the next run resumes where this one stopped", exc)
        finally:
            if self.state is not None:
                self.state.flush()
            if bar is not None:
                bar.close()
        return self.report

    def _progress_bar(self):
        show = self.opt.progress if self.opt.progress is not None else sys.stderr.isatty()
        if not show:
            return None
        from tqdm import tqdm

        return tqdm(unit="call", desc="ingest", file=sys.stderr)

    async def _batch(self, batch: list, bar) -> None:
        self.report.counts["read"] += len(batch)
        keys = [b.call_id if isinstance(b, records.CallRecord) else _quarantine_key(b) for b in batch]
        done = self.state.done(keys) if (self.state is not None and not self.opt.dry_run) else set()
        seen: set[str] = set()
        todo: list[records.CallRecord] = []
        for key, item in zip(keys, batch):
            if key in done or key in seen:
                self.report.counts["skipped"] += 1
                continue
            seen.add(key)
            if isinstance(item, records.Rejected):
                self._reject(item.source, item.line_no, item.reason, item.raw, key=key)
            else:
                todo.append(item)
        if todo:
            texts = [transcript.complaint(r) for r in todo]
            t0 = time.perf_counter()
            parses = await self.nlu.parse_many(texts)
            self.report.nlu_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            await asyncio.gather(*(self._one(r, t, p) for r, t, p in zip(todo, texts, parses)))
            self.report.filing_s += time.perf_counter() - t0
        if self.state is not None and not self.opt.dry_run:
            self.state.flush()
        if bar is not None:
            bar.update(len(batch))

    # -- one call ------------------------------------------------------------------------------------------------
    async def _one(self, record: records.CallRecord, text: str, parse: dict) -> None:
        cat = parse.get("category") or {}
        location = parse.get("location")
        category = cat.get("category") or OTHER
        phone_hash = salted_hash(record.caller_phone, self.opt.phone_salt) if record.caller_phone else None
        row = HotlineCall(
            call_id=record.call_id, source=record.source, line_no=record.line_no, outcome="",
            category=category, subcategory=cat.get("subcategory"), confidence=cat.get("confidence"),
            referral=cat.get("referral"), phone_hash=phone_hash,
        )
        if category == OTHER:
            action = "refer"
        elif not _address(location):
            action = "quarantine"
        else:
            action = "file"
        if action == "quarantine":
            return self._reject(record.source, record.line_no, "no location found in the transcript", text,
                                key=record.call_id, row=row, parse=parse)
        if action == "refer":
            row.outcome = "referred"
            self._emit(record, cat, location, "refer")
            return self._count_and_record("referred", row)
        try:
            created = await self._file(record, text, cat, location, phone_hash)
        except HubDown:
            raise
        except Exception as exc:  # a rejection by the hub (4xx) or an unexpected answer: counted, retried next run
            row.outcome, row.reason = "failed", mask(str(exc))[:1000]
            log.warning("call %s not filed: %s", record.call_id, row.reason)
            return self._count_and_record("failed", row)
        duplicate_of = getattr(created, "duplicate_of", None)
        action = "link" if duplicate_of else "file"
        self._emit(record, cat, location, action)
        row.outcome = "linked" if duplicate_of else "filed"
        row.case_id = getattr(created, "id", None) or getattr(created, "service_request_id", None)
        self._count_and_record(row.outcome, row)

    async def _file(self, record, text, cat, location, phone_hash):
        from hub.client import HubUnavailable

        kwargs = dict(
            service_code=cat["service_code"],
            description=mask(text)[:4000],
            address=_address(location),
            account_id=f"phone:{phone_hash}" if phone_hash else None,
            channel=CHANNEL,
            external_id=record.call_id,
        )
        if self.opt.dry_run:
            kwargs["dry_run"] = True
        waited, delay = 0.0, 1.0
        async with self._sem:
            while True:
                try:
                    return await self.hub.create_request(**kwargs)
                except HubUnavailable as exc:
                    if waited >= self.opt.max_outage_s:
                        raise HubDown(f"hub unreachable for {waited:.0f}s: {exc}") from exc
                    log.warning("hub unreachable (%s); pausing %.0fs before retrying call %s", exc, delay, record.call_id)
                    await asyncio.sleep(delay)
                    waited += delay
                    delay = min(delay * 2, 60.0)

    # -- outcomes ------------------------------------------------------------------------------------------------
    def _reject(self, source: str, line_no: int, reason: str, raw: str, *, key: str, row: HotlineCall | None = None,
                parse: dict | None = None) -> None:
        if not self.opt.dry_run:
            self.quarantine.write(source=source, line=line_no, reason=reason, raw=mask(raw))
        cat = (parse or {}).get("category") or {}
        self._emit_raw(row.call_id if row else None, cat, (parse or {}).get("location"), "quarantine")
        row = row or HotlineCall(call_id=key, source=source, line_no=line_no, outcome="")
        row.outcome, row.reason = "quarantined", reason
        self._count_and_record("quarantined", row)

    def _count_and_record(self, outcome: str, row: HotlineCall) -> None:
        self.report.counts[outcome] += 1
        if self.state is not None and not self.opt.dry_run:
            self.state.record(row)

    def _emit(self, record, cat, location, action) -> None:
        self._emit_raw(record.call_id, cat, location, action)

    def _emit_raw(self, call_id, cat, location, action) -> None:
        if not self.opt.dry_run:
            return
        line = {
            "call_id": call_id,
            "category": cat.get("category"),
            "subcategory": cat.get("subcategory"),
            "confidence": cat.get("confidence"),
            "location": location,
            "action": action,
        }
        self.out.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.out.flush()
