"""The whole API fuzzed from its own OpenAPI document (issue 19): for every operation,
generated calls never answer 500, and every answer (status, content type, body, headers) is
one the document promises. Run as three callers, so the refusal paths are fuzzed too: a
security member with an approving token, an engineer with a request token, an auditor with
a read token.

The calls go through Django's WSGI handler in this thread, on the test's own database
connection (inside the test's transaction, as the test client does: see `_same_connection`).
Generation is derandomized and keeps no example database, so CI sees the same calls each run.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.throttling import SimpleRateThrottle
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.models import ApiToken
from audit.models import AuditEvent
from tests.api.test_requests import _draft
from vendors.models import SubprocessorReview

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Valid calls (they reach the services) and invalid ones (they must be refused as a 400).
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
# Examples per operation, mode and caller: 34 operations x 2 modes x 3 callers x 15
# = 3060 calls, about 75 s on a shared 2-core runner (the budget is 90).
MAX_EXAMPLES = 15


@contextmanager
def _same_connection() -> Iterator[None]:
    """Django closes a connection it finds in a transaction at a request's start and end; the
    test's transaction (pytest-django) is one, so the handler would drop it mid-test. Django's
    test client unhooks the same receiver for the same reason (and hooks it back after each of
    its requests, hence a context around the fuzzing, not a fixture)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def _unthrottled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rate limits would turn the fuzzing into 429s; their own tests check them. DRF reads the
    rates into the throttle class once, at import, so overriding the setting would not do."""
    rates = {"token": "100000/minute", "anonymous": "100000/minute"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)


@pytest.fixture
def world(
    api: Any, token_for: Any, reviewed_vendor: Any, engineer: Any, account: Any
) -> dict[str, list[int]]:
    """A few real rows: a reviewed vendor, three requests of the engineer's (one submitted),
    an account, filed through the API itself. Their ids, by route, so that some generated
    calls of each detail route are about a row that exists (`_fuzz`)."""
    filer = api(token_for(engineer))
    ids = [filer.post("/api/v1/requests/", _draft(reviewed_vendor)).json()["id"] for _ in "abc"]
    assert filer.post(f"/api/v1/requests/{ids[0]}/submit/").status_code == 200
    return {
        "requests": ids,
        "vendors": [reviewed_vendor.pk],
        "reviews": list(SubprocessorReview.objects.values_list("pk", flat=True)),
        "accounts": [account.pk],
        "tokens": list(ApiToken.objects.values_list("pk", flat=True)),
    }


def _schema() -> Any:
    document = SchemaGenerator().get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(document)
    schema.app = get_wsgi_application()
    return schema


def _cases(operation: Any, mode: Any, world: dict[str, list[int]]) -> Any:
    """Generated cases of `operation`; for a detail route, half of them about real rows (a
    generated id almost never hits one, and then the services behind the route go untried)."""
    generated = operation.as_strategy(generation_mode=mode)
    route = operation.path.removeprefix("/api/v1/").split("/")[0]
    if "{id}" not in operation.path or not world.get(route):
        return generated
    real = [
        operation.as_strategy(generation_mode=mode, path_parameters={"id": pk})
        for pk in world[route]
    ]
    return st.one_of(generated, st.one_of(real))


def _fuzz(schema: Any, token: str, world: dict[str, list[int]]) -> int:
    calls = 0
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation, mode in itertools.product(operations, MODES):

        @given(case=_cases(operation, mode, world))
        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        def run(case: Any) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except (AssertionError, BaseExceptionGroup) as failure:  # collected: all in one run
            failures.append(f"{operation.label} ({mode.value}): {str(failure)[:3000]}")
    assert not failures, "\n\n".join(failures)
    return calls


@pytest.fixture
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    """Hundreds of refused calls would log a warning each; a 500 still logs its error."""
    caplog.set_level(logging.ERROR, logger="django.request")


@pytest.mark.usefixtures("_unthrottled", "_quiet")
@pytest.mark.parametrize(
    ("who", "scope"), [("security", "approve"), ("engineer", "request"), ("auditor", "read")]
)
def test_every_operation_answers_as_documented(
    request: pytest.FixtureRequest,
    token_for: Any,
    world: dict[str, list[int]],
    who: str,
    scope: str,
) -> None:
    user = request.getfixturevalue(who)
    started = time.monotonic()
    token = token_for(user, scope)
    with _same_connection():
        calls = _fuzz(_schema(), token, world)
    print(f"{who}/{scope}: {calls} calls in {time.monotonic() - started:.1f} s")
    # Some calls were about the world's rows and got past the routes to a real answer.
    real = {f"/api/v1/requests/{pk}/" for pk in world["requests"]}
    answered = AuditEvent.objects.filter(action="api.token_use", after__status=200)
    assert any(path in real for path in answered.values_list("after__path", flat=True))
