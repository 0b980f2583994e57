"""PostgreSQL for tests: a fresh schema on the local test database (127.0.0.1:5432, db `test`, trust auth), or a
pytest skip with the reason it is not reachable. One home for every test module that runs on both databases."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest

PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def unreachable() -> str | None:
    """None when PostgreSQL answers, else why not (the skip reason)."""
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"PostgreSQL not reachable at 127.0.0.1:5432: {type(exc).__name__}: {str(exc).splitlines()[0][:100]}"


@contextlib.contextmanager
def fresh_schema(prefix: str) -> Iterator[str]:
    """The URL of a new, empty schema (dropped afterwards); skips the test when PostgreSQL is not reachable."""
    reason = unreachable()
    if reason:
        pytest.skip(reason)
    import sqlalchemy as sa

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.schema.CreateSchema(schema))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True))
        admin.dispose()
