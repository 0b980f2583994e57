"""Filing reports, with a durable fallback: a report the hub cannot take now becomes a `file` job in citybot's job
queue (citybot/jobs.py) and is filed later by whichever action server claims it.

`file_report` is what the submit action calls; `flush` is one pass of the loop that `citybot actions` runs in the
background: it claims due `file` jobs with a lease (any number of action servers may run; each job is worked by
one at a time), files each, subscribes the citizen and only THEN marks the job done, in the same transaction as
the push that tells the citizen the case number - a crash in between files again (the hub answers the same case:
the filing's external_id) and subscribes again (idempotent). A hub that refuses the filing for good (400/422/404)
makes the job dead and the citizen is told why; a 401/403 (a key rotation), 408/429, 5xx or no answer are
temporary: retried by the retry policy (citybot/retry.py) through long outages.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from actions.services import Services
from bot import messages
from citybot import jobs
from hubapi.client import CreatedRequest, Filing, Forbidden, HubError, HubRejected, HubUnavailable

log = logging.getLogger(__name__)

TEMPORARY_STATUSES = frozenset({401, 403, 408, 409, 425, 429})  # a refusal that may change: try again later


@dataclass(frozen=True)
class Outcome:
    created: CreatedRequest | None = None   # filed (possibly as a duplicate of an open case)
    queued: bool = False                     # hub unreachable: saved in the job queue
    rejected: HubRejected | None = None      # the hub refused it (bad data): nothing filed, nothing queued


def file_job(sender_id: str, filing: Filing) -> dict:
    """The queue row for a filing (idempotent on its external_id: queuing the same report twice keeps one job)."""
    return dict(kind=jobs.FILE, key=f"file:{filing.external_id}", lane=f"file:{filing.external_id}",
                payload={"sender_id": str(sender_id), "filing": filing.to_json()})


def is_permanent(exc: HubError) -> bool:
    return isinstance(exc, HubRejected) and not isinstance(exc, Forbidden) and exc.status not in TEMPORARY_STATUSES


async def _subscribe(services: Services, sender_id: str, created: CreatedRequest) -> None:
    """Follow the case from now on: what the filing answer already told the citizen is not pushed again."""
    if created.followed_id:
        await asyncio.to_thread(services.store.subscribe, sender_id, created.followed_id, created.update_id)


async def file_report(services: Services, sender_id: str, filing: Filing) -> Outcome:
    try:
        created = await services.hub.create_request(filing)
    except HubUnavailable as exc:
        log.warning("hub unavailable, report %s queued: %s", filing.external_id, exc)
        await asyncio.to_thread(services.store.jobs.add, [file_job(sender_id, filing)])
        return Outcome(queued=True)
    except HubRejected as exc:
        return Outcome(rejected=exc)
    await _subscribe(services, sender_id, created)
    return Outcome(created=created)


def _tell(sender_id: str, key: str, payload: dict) -> list[dict]:
    """A push job to the citizen's chat (Telegram chats only: their sender id is the numeric chat id)."""
    if not sender_id.lstrip("-").isdigit():
        return []
    return [dict(kind=jobs.PUSH, key=key, lane=jobs.chat_lane(sender_id), chat_id=sender_id, payload=payload)]


async def _file_one(services: Services, job: jobs.Claimed) -> str:
    """File one claimed job: "filed", "failed" (set aside, retried on its own or dead) or "unavailable"."""
    q = services.store.jobs
    sender_id, filing = job.payload["sender_id"], Filing.from_json(job.payload["filing"])
    try:
        created = await services.hub.create_request(filing)
    except HubError as exc:
        permanent = is_permanent(exc)
        why = exc.description if isinstance(exc, HubRejected) else str(exc)
        tell = _tell(sender_id, f"refused:{filing.external_id}", messages.queued_report_refused(why))
        state = await asyncio.to_thread(q.fail, job, f"{type(exc).__name__}: {exc}", permanent=permanent,
                                        also_if_dead=tell + jobs.dead_alerts(job, str(exc), services.dead_alert_chat))
        (log.error if state == jobs.DEAD else log.warning)("queued report %s not filed (%s): %s", filing.external_id,
                                                          state, exc)
        return "unavailable" if isinstance(exc, HubUnavailable) else "failed"
    await _subscribe(services, sender_id, created)  # before the job is done: a crash here files + subscribes again
    case = created.service_request_id or created.duplicate_of or ""
    await asyncio.to_thread(q.done, job.id, result=case,
                            also=_tell(sender_id, f"filed:{filing.external_id}", messages.queued_report_filed(case)))
    log.info("queued report %s filed as %s", filing.external_id, case)
    return "filed"


async def flush(services: Services, limit: int = 10, owner: str | None = None) -> int:
    """Claim due `file` jobs and file them; returns how many were filed. An unreachable hub ends the pass (the
    other claimed jobs are given back, each tried again at its own time)."""
    owner, q = owner or _OWNER, services.store.jobs
    claimed = await asyncio.to_thread(q.claim, owner, [jobs.FILE], limit)
    filed = 0
    for i, job in enumerate(claimed):
        rest = [j.id for j in claimed[i:]]
        await asyncio.to_thread(q.renew, owner, rest)  # a slow hub must not let the lease run out under us
        outcome = await _file_one(services, job)
        filed += outcome == "filed"
        if outcome == "unavailable":
            await asyncio.to_thread(q.release, owner, rest[1:])
            break
    return filed


_OWNER = jobs.worker_id()
FLUSH_BATCH = 10  # filings claimed per pass (each renewed before its call, so a slow hub keeps the lease)


async def retry_loop(services: Services, interval_s: float = 5.0) -> None:
    """Runs for the life of the action server."""
    while True:
        filed = 0
        try:
            filed = await flush(services, limit=FLUSH_BATCH)
        except Exception:  # a bug or a database hiccup: keep the loop alive, try again next round
            log.exception("queued reports: flush failed")
        if filed < FLUSH_BATCH:  # a full batch filed: a backlog after an outage, go on at once
            await asyncio.sleep(interval_s)
