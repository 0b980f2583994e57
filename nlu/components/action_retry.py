"""Rasa 3.6 sends each custom-action call once. When the action server behind `action_endpoint` dies mid-call
(a replica killed or restarted), the call fails with a connection error and Rasa drops that action's events and
carries on: the citizen's message gets no answer and the form does not move. Here a call that failed on the
*connection* (refused, reset, closed before the answer) is sent again by citybot's retry policy and reaches
another replica; a timeout is not retried (the action may still be running). Safe because citybot's actions are
idempotent: a filing carries its external_id and the hub files it once; subscriptions are upserts; everything
else an action does is the events it returns.

Installed when Rasa imports nlu.components to build the pipeline (`install()` in nlu/components/__init__.py).
"""

from __future__ import annotations

import asyncio

import aiohttp
from rasa.utils.endpoints import EndpointConfig

from citybot.retry import Backoff, retrying

# a replica's peers answer at once; a restart of every replica takes longer than a turn should wait
POLICY = Backoff(base=0.2, cap=2.0, give_up_after=20.0)


class _Dropped(Exception):
    pass


def install() -> None:
    original = EndpointConfig.request
    if getattr(original, "citybot_retry", False):
        return

    async def request(self, method="post", subpath=None, content_type="application/json", compress=False, **kw):
        async def once():
            try:
                return await original(self, method, subpath, content_type, compress, **kw)
            except asyncio.TimeoutError:  # aiohttp's ServerTimeoutError too: the call may still be running
                raise
            except aiohttp.ClientConnectionError as exc:
                raise _Dropped(exc) from exc

        try:
            return await retrying(once, policy=POLICY, retry_on=(_Dropped,), what=f"call to {self.url}")
        except _Dropped as exc:
            raise exc.__cause__ from None

    request.citybot_retry = True
    EndpointConfig.request = request
