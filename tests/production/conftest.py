"""The production-like check needs PostgreSQL, Redis, the Rasa virtualenv and a trained model: each test here is
skipped, naming every one that is missing, when they are not all on this machine (CI has them all)."""

from __future__ import annotations

import pytest


def missing() -> list[str]:
    from citybot.stack import RASA, find_model
    from tests.pgschema import unreachable

    reasons = []
    pg = unreachable()
    if pg:
        reasons.append(pg)
    try:
        import redis

        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        reasons.append(f"Redis not reachable at 127.0.0.1:6379: {type(exc).__name__}: {exc}")
    if not RASA.exists():
        reasons.append(f"the Rasa virtualenv is missing ({RASA})")
    elif find_model() is None:
        reasons.append("no trained model with the dialogue domain in models/ (train one: `citybot train`)")
    return reasons


@pytest.fixture(scope="session")
def production_ready() -> None:
    reasons = missing()
    if reasons:
        pytest.skip("production-like check not run: " + "; ".join(reasons))
