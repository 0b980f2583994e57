"""schemathesis against the hub's own OpenAPI schema, over real `citybot hub` processes on SQLite and PostgreSQL:
every Open311, staff and media operation, without credentials and with valid ones, generated from the schema
(valid and invalid data). Asserted: no 5xx, and every answer conforms to the schema — status code, content
type, headers and body — so the schema (hub/schemas.py) says truly what the hub does.

Bounded: `EXAMPLES` examples per operation, generation mode and credential set (SCHEMA_FUZZ_EXAMPLES to change
it), derandomized so a CI run is repeatable, no shrinking. (schemathesis' pytest plugin is not used: its lazy
schema loader does not run on pytest 9; its strategies and checks are used directly.)"""

from __future__ import annotations

import os

import httpx
import pytest
import schemathesis
# Loaded (and assert-rewritten by pytest) at collection, not lazily inside the first test's fixture, late in a long
# session where a stray finalizer can run inside the compile (see tests/rrproxy.py: stop).
import schemathesis.specs.openapi.schemas  # noqa: F401
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)
from secprobe import ADMIN, KEY, file

EXAMPLES = int(os.environ.get("SCHEMA_FUZZ_EXAMPLES", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
# No shrinking: a failure is reported with the case that failed (a curl line), and the run stays bounded.
BOUNDED = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                   phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def hub_schema(hub):
    """The hub's schema as it serves it, with a few cases and a staff member in the database to find."""
    with httpx.Client(base_url=hub.base) as http:
        for i in range(3):
            file(http, account_id=f"tg:{i}", description=f"样例{i} 联系电话13812345678")
        http.post("/staff/v1/members", json={"member_id": "tg:1", "role": "operator"},
                  headers={"Authorization": f"Bearer {ADMIN}"})
    return schemathesis.openapi.from_url(f"{hub.base}/openapi.json")


def _with_credentials(case) -> None:
    """Valid credentials where the operation takes them: the api_key (query or form) and the admin's token."""
    query_names = {p.name for p in case.operation.query}
    if "api_key" in query_names:
        case.query = {**(case.query or {}), "api_key": KEY}
    if isinstance(case.body, dict) and "api_key" in (case.body or {}):
        case.body = {**case.body, "api_key": KEY}
    if case.path.startswith("/staff/") or case.path == "/media":
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {ADMIN}"}


def _without_credentials(case) -> None:
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}


@pytest.mark.parametrize("credentials", ["without", "with"])
def test_every_operation_answers_as_the_schema_says(hub, hub_schema, credentials):
    """Positive and negative data for every operation; all failures are listed at the end."""
    failures, operations = [], 0
    for result in hub_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @BOUNDED
            def run(case):
                (_with_credentials if credentials == "with" else _without_credentials)(case)
                case.call_and_validate(base_url=hub.base, checks=CHECKS, timeout=30)

            try:
                run()
            except Unsatisfiable:  # nothing of this mode to generate (e.g. no invalid value for a plain string)
                continue
            except Exception as exc:  # noqa: BLE001 - collected, reported together
                failures.append(f"{mode.value} {operation.method.upper()} {operation.path}: {exc}"[:3000])
    assert operations >= 25
    assert not failures, "\n\n".join(failures)


def test_the_schema_describes_the_suffixes_form_bodies_and_credentials(hub_schema, hub):
    raw = httpx.get(f"{hub.base}/openapi.json").json()
    post = raw["paths"]["/open311/v2/requests.{fmt}"]["post"]
    fmt = [p for p in post["parameters"] if p["name"] == "fmt"][0]
    assert fmt["in"] == "path" and fmt["schema"]["enum"] == ["json", "xml"]
    form = post["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert {"api_key", "service_code"} <= set(form["required"]) and form["properties"]["description"]["maxLength"] == 4000
    assert set(post["responses"]) >= {"200", "201", "400", "403", "413", "429"}
    assert "text/xml" in post["responses"]["201"]["content"]
    assert "multipart/form-data" in raw["paths"]["/media"]["post"]["requestBody"]["content"]
    assert any("HTTPBearer" in s for s in raw["paths"]["/staff/v1/overdue"]["get"]["security"][0])
    # validation errors are 400s; the only 422 is a reused Idempotency-Key's, on the operations taking that header
    ops = [op for path in raw["paths"].values() for op in path.values()]
    keyed = [op for op in ops if any(p["name"] == "Idempotency-Key" for p in op.get("parameters", []))]
    assert keyed and all("422" in op["responses"] for op in keyed)
    assert not any("422" in op["responses"] for op in ops if op not in keyed)
