"""The ingestion run: read → (skip what is done) → classify → locate → file / link / triage / refer / quarantine.

Classification goes through the same NLU model as the chat (an injected `nlu` with `parse_many`), filing
through the one hub client (an injected `hub` with `create_request`). Two stages overlap: while one batch is
being filed (bounded concurrency), the next is read and classified. State rows are written once per batch.
A hub outage pauses the run and retries; it never quarantines a good record.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterable, Protocol

from citybot import filing as filings
from citybot.catalogue import OTHER
from citybot.privacy import mask, salted_hash
from citybot.retry import Backoff, retrying
from hotline import records, transcript
from hotline.quarantine import Quarantine
from hotline.state import HotlineCall, IngestState
from hubapi.accounts import phone_account

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
    batch: int = BATCH


@dataclass
class Report:
    counts: Counter = field(default_factory=Counter)
    nlu_s: float = 0.0
    filing_s: float = 0.0
    wall_s: float = 0.0
    aborted: str | None = None

    def as_dict(self) -> dict[str, Any]:
        keys = ("read", "filed", "linked", "triaged", "referred", "quarantined", "failed", "skipped")
        out: dict[str, Any] = {k: self.counts.get(k, 0) for k in keys}
        out.update(nlu_s=round(self.nlu_s, 3), filing_s=round(self.filing_s, 3), wall_s=round(self.wall_s, 3))
        if self.aborted:
            out["aborted"] = self.aborted
        return out

    def summary(self) -> str:
        c = self.counts
        text = (f"{c['read']} records read: {c['filed']} filed, {c['linked']} linked to an open case, "
                f"{c['triaged']} filed without a place for staff to complete (待补充地点), {c['referred']} referred, "
                f"{c['quarantined']} quarantined, {c['failed']} failed "
                f"(retried next run), {c['skipped']} already done; {self.wall_s:.1f}s")
        if self.aborted:
            text += f"\nSTOPPED EARLY: {self.aborted}; run again to resume"
        return text


class HubDown(Exception):
    """The hub stayed unreachable longer than the run is willing to wait."""


@dataclass
class Classified:
    """One batch after the NLU: the calls to file, each with its complaint text and parse."""

    calls: list[tuple[records.CallRecord, str, dict]]
    size: int  # records read for this batch, for the progress bar


def quarantine_key(rejected: records.Rejected) -> str:
    """The state key of a bad line (it has no trustworthy call_id): its file and line number."""
    digest = hashlib.sha1(f"{Path(rejected.source).resolve()}:{rejected.line_no}".encode()).hexdigest()[:16]
    return f"q:{digest}"


def _accepts(func, name: str) -> bool:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


class Ingestor:
    def __init__(self, *, nlu: NLU, hub, state: IngestState | None, quarantine: Quarantine, options: Options,
                 out: IO[str] | None = None, geocoder=None):
        self.nlu, self.hub, self.state, self.quarantine, self.opt = nlu, hub, state, quarantine, options
        self.geocoder = geocoder  # citybot.geocoder: the place's coordinates, so the hub's radius rule applies
        self.out = out or sys.stdout
        self.report = Report()
        self._sem = asyncio.Semaphore(max(1, options.concurrency))
        self._seen: set[str] = set()  # call ids handled in this run (a file may repeat one)
        # Dry run asks the hub only when it can answer without filing (a `dry_run` flag on create_request).
        self._hub_dry_run = hub is not None and _accepts(hub.create_request, "dry_run")

    @property
    def _recording(self) -> bool:
        return self.state is not None and not self.opt.dry_run

    # -- the run: a classifying producer and a filing consumer, one batch apart ----------------------------------
    async def run(self, paths: Iterable[str | Path]) -> Report:
        started = time.perf_counter()
        bar = self._progress_bar()
        queue: asyncio.Queue[Classified | None] = asyncio.Queue(maxsize=1)
        producer = asyncio.create_task(self._classify_all(list(paths), queue))
        try:
            while (batch := await queue.get()) is not None:
                t0 = time.perf_counter()
                await self._file_batch(batch.calls)
                self.report.filing_s += time.perf_counter() - t0
                self._flush()
                if bar is not None:
                    bar.update(batch.size)
            await producer  # re-raises what stopped the producer (unreadable file, NLU failure)
        except HubDown as exc:
            self.report.aborted = str(exc)
            log.error("stopping: %s; the next run resumes where this one stopped", exc)
        finally:
            if not producer.done():
                producer.cancel()
                await asyncio.gather(producer, return_exceptions=True)
            self._flush()
            if bar is not None:
                bar.close()
            self.report.wall_s = time.perf_counter() - started
        return self.report

    def _progress_bar(self):
        show = self.opt.progress if self.opt.progress is not None else sys.stderr.isatty()
        if not show:
            return None
        from tqdm import tqdm

        return tqdm(unit="call", desc="ingest", file=sys.stderr)

    def _flush(self) -> None:
        if self._recording:
            self.state.flush()

    async def _classify_all(self, paths: list, queue: asyncio.Queue) -> None:
        try:
            for path in paths:
                batch: list[records.CallRecord | records.Rejected] = []
                for item in records.read(path):
                    batch.append(item)
                    if len(batch) >= self.opt.batch:
                        await queue.put(await self._classify(batch))
                        batch = []
                if batch:
                    await queue.put(await self._classify(batch))
        finally:
            await queue.put(None)

    async def _classify(self, batch: list) -> Classified:
        self.report.counts["read"] += len(batch)
        keys = [b.call_id if isinstance(b, records.CallRecord) else quarantine_key(b) for b in batch]
        done = self.state.done(keys) if self._recording else set()
        todo: list[tuple[records.CallRecord, str]] = []
        for key, item in zip(keys, batch):
            if key in done or key in self._seen:
                self.report.counts["skipped"] += 1
                continue
            self._seen.add(key)
            if isinstance(item, records.Rejected):
                self._reject(item.source, item.line_no, item.reason, item.raw, key=key)
                continue
            text = transcript.complaint(item)
            if not text:
                self._reject(item.source, item.line_no, "empty transcript (only greetings and boilerplate)",
                             item.text or json.dumps([t.__dict__ for t in item.turns], ensure_ascii=False),
                             key=item.call_id, call_id=item.call_id)
                continue
            todo.append((item, text))
        if not todo:
            return Classified([], len(batch))
        t0 = time.perf_counter()
        parses = await self.nlu.parse_many([text for _, text in todo])
        # The complaint named no place: the agent usually read the address back, so look in the whole call.
        missing = [i for i, p in enumerate(parses) if _files(p) and not filings.place_text(p.get("location"))]
        if missing:
            fulls = [transcript.full_text(todo[i][0]) for i in missing]
            for i, extra in zip(missing, await self.nlu.parse_many(fulls)):
                if filings.place_text(extra.get("location")):
                    parses[i] = {**parses[i], "location": extra["location"]}
        self.report.nlu_s += time.perf_counter() - t0
        return Classified([(r, t, p) for (r, t), p in zip(todo, parses)], len(batch))

    async def _file_batch(self, calls: list) -> None:
        results = await asyncio.gather(*(self._one(r, t, p) for r, t, p in calls), return_exceptions=True)
        # Every call of the batch has finished (and is recorded) before an outage stops the run.
        for result in results:
            if isinstance(result, BaseException):
                raise result

    # -- one call ------------------------------------------------------------------------------------------------
    async def _one(self, record: records.CallRecord, text: str, parse: dict) -> None:
        cat = parse.get("category") or {}
        location = parse.get("location")
        phone_hash = salted_hash(record.caller_phone, self.opt.phone_salt) if record.caller_phone else None
        row = HotlineCall(
            call_id=record.call_id, source=record.source, line_no=record.line_no, outcome="",
            category=cat.get("category") or OTHER, subcategory=cat.get("subcategory"),
            confidence=cat.get("confidence"), referral=cat.get("referral"), phone_hash=phone_hash,
        )
        if "error" in parse:  # the NLU could not parse this one text: not a bad record, retried next run
            return self._fail(row, f"NLU: {parse['error']}", cat, location)
        if not _files(parse):
            row.outcome = "referred"
            self._emit(record.call_id, cat, location, "refer")
            return self._count_and_record(row)
        # A real complaint is never left out: without a place it is filed for staff to complete (待补充地点).
        placeless = not filings.place_text(location)
        try:
            created = await self._file(record, text, cat, location, phone_hash)
        except HubDown:
            raise
        except Exception as exc:  # a rejection by the hub (4xx) or an unexpected answer: counted, retried next run
            return self._fail(row, str(exc), cat, location)
        duplicate_of = getattr(created, "duplicate_of", None)
        row.outcome = "triaged" if placeless else "linked" if duplicate_of else "filed"
        row.case_id = getattr(created, "id", None)
        if placeless:
            row.reason = "no location found in the transcript: filed for staff to complete (待补充地点)"
        self._emit(record.call_id, cat, location, "triage" if placeless else "link" if duplicate_of else "file")
        self._count_and_record(row)

    def _fail(self, row: HotlineCall, reason: str, cat: dict, location) -> None:
        row.outcome, row.reason = "failed", mask(reason)[:1000]
        log.warning("call %s not filed: %s", row.call_id, row.reason)
        self._emit(row.call_id, cat, location, "fail", reason=row.reason)
        self._count_and_record(row)

    async def _file(self, record, text, cat, location, phone_hash):
        from hubapi.client import HubUnavailable

        if self.opt.dry_run and not self._hub_dry_run:
            return None  # no hub that can check for a duplicate without filing: report `file`
        filing = filings.make(code=cat["service_code"], description=text, address=filings.place_text(location),
                              account_id=phone_account(record.caller_phone, self.opt.phone_salt) if phone_hash else None,
                              channel=CHANNEL, external_id=record.call_id)
        filing = await filings.located(filing, self.geocoder)
        extra = {"dry_run": True} if self.opt.dry_run else {}
        async with self._sem:
            if self.opt.dry_run:
                try:
                    return await self.hub.create_request(filing, **extra)
                except HubUnavailable as exc:  # a dry run does not wait for the hub: it goes on offline
                    if self._hub_dry_run:
                        self._hub_dry_run = False
                        log.warning("hub unreachable (%s): dry run goes on without the duplicate check; "
                                    "fileable calls are reported as `file`", exc)
                    return None
            # the hub away: wait by the one retry policy, up to --max-outage, then stop the run (resumed next time)
            policy = Backoff(base=1.0, cap=60.0, give_up_after=self.opt.max_outage_s)
            try:
                return await retrying(lambda: self.hub.create_request(filing), policy=policy,
                                      retry_on=(HubUnavailable,), what=f"filing call {record.call_id}")
            except HubUnavailable as exc:
                raise HubDown(f"hub unreachable for {self.opt.max_outage_s:.0f}s: {exc}") from exc

    # -- outcomes ------------------------------------------------------------------------------------------------
    def _reject(self, source: str, line_no: int, reason: str, raw: str, *, key: str, call_id: str | None = None,
                row: HotlineCall | None = None, parse: dict | None = None) -> None:
        if not self.opt.dry_run:
            self.quarantine.write(source=source, line=line_no, reason=reason, raw=mask(raw), call_id=call_id)
        parse = parse or {}
        self._emit(call_id, parse.get("category") or {}, parse.get("location"), "quarantine", reason=reason)
        row = row or HotlineCall(call_id=key, source=source, line_no=line_no, outcome="")
        row.outcome, row.reason = "quarantined", reason
        self._count_and_record(row)

    def _count_and_record(self, row: HotlineCall) -> None:
        self.report.counts[row.outcome] += 1
        if self._recording:
            self.state.record(row)

    def _emit(self, call_id, cat, location, action, reason: str | None = None) -> None:
        """Dry run: one JSON line per call on stdout saying what a real run would do."""
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
        if reason:
            line["reason"] = reason
        self.out.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.out.flush()


def _files(parse: dict) -> bool:
    """Whether the call is filed: the shared decision (citybot/filing.py) unless it refers the caller elsewhere.
    An unsure 小类 (ASK in the chat) is filed as the best guess: a call cannot be asked again; staff reclassify."""
    return filings.decide(parse.get("category")) != filings.REFER
