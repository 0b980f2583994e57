"""Filing reports, with a durable fallback: a report the hub cannot take now is queued and filed later.

`file_report` is what the submit action calls; `flush` is one pass of the retry loop that `citybot actions`
runs in the background. Every filing carries a stable external_id, so a report sent again after a lost answer
or a crash is answered by the hub with the same case instead of a second one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from actions.services import Services
from hubapi.client import CreatedRequest, Filing, HubRejected, HubUnavailable

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 5.0
BACKOFF_MAX_S = 300.0


@dataclass(frozen=True)
class Outcome:
    created: CreatedRequest | None = None   # filed (possibly as a duplicate of an open case)
    queued: bool = False                     # hub unreachable: saved in the outbox
    rejected: HubRejected | None = None      # the hub refused it (bad data): nothing filed, nothing queued


async def _create(services: Services, filing: Filing) -> CreatedRequest:
    return await services.hub.create_request(filing)


async def _subscribe(services: Services, sender_id: str, created: CreatedRequest) -> None:
    """Follow the case from now on: what the filing answer already told the citizen is not pushed again."""
    if created.followed_id:
        await asyncio.to_thread(services.store.subscribe, sender_id, created.followed_id, created.update_id)


async def file_report(services: Services, sender_id: str, filing: Filing) -> Outcome:
    try:
        created = await _create(services, filing)
    except HubUnavailable as exc:
        log.warning("hub unavailable, report %s queued: %s", filing.external_id, exc)
        await asyncio.to_thread(services.store.enqueue, sender_id, filing)
        return Outcome(queued=True)
    except HubRejected as exc:
        return Outcome(rejected=exc)
    await _subscribe(services, sender_id, created)
    return Outcome(created=created)


def backoff(attempts: int, base_s: float = BACKOFF_BASE_S) -> float:
    return min(BACKOFF_MAX_S, base_s * 2 ** max(attempts, 0))


async def flush(services: Services, limit: int = 50, backoff_base_s: float = BACKOFF_BASE_S) -> int:
    """File the queued reports that are due; returns how many were filed. Stops at the first unreachable
    hub (the rest wait for their own backoff); a rejected report is set aside with its error."""
    filed = 0
    for row in await asyncio.to_thread(services.store.due, limit):
        try:
            created = await _create(services, row.filing)
        except HubUnavailable as exc:
            await asyncio.to_thread(services.store.mark_failed, row.id, str(exc), retry_in_s=backoff(row.attempts, backoff_base_s))
            break
        except HubRejected as exc:
            log.error("queued report %s rejected by the hub: %s", row.external_id, exc)
            await asyncio.to_thread(services.store.mark_failed, row.id, str(exc), retry_in_s=None)
            continue
        await asyncio.to_thread(services.store.mark_filed, row.id, created.service_request_id or "",
                                created.duplicate_of)
        await _subscribe(services, row.sender_id, created)
        filed += 1
        log.info("queued report %s filed as %s", row.external_id, created.service_request_id)
    return filed


async def retry_loop(services: Services, interval_s: float = 5.0, backoff_base_s: float = BACKOFF_BASE_S) -> None:
    """Runs for the life of the action server."""
    while True:
        try:
            await flush(services, backoff_base_s=backoff_base_s)
        except Exception:  # a bug or a database hiccup: keep the loop alive, try again next round
            log.exception("outbox flush failed")
        await asyncio.sleep(interval_s)
