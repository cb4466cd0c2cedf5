"""Rate limits per token and per address, and cursor pages that hold under inserts."""

from __future__ import annotations

import pytest

from api.throttling import RefusedTokenThrottle, TokenRateThrottle
from audit.services import audit_record

pytestmark = pytest.mark.django_db


def test_each_token_has_its_own_limit(api, token_for, engineer, make_user, monkeypatch):
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "3/minute"})
    first, second = api(token_for(engineer)), api(token_for(make_user("omar")))
    assert [first.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 200]
    limited = first.get("/api/v1/me/")
    assert limited.status_code == 429
    assert limited.json()["error"]["status"] == 429
    assert int(limited["Retry-After"]) > 0
    assert second.get("/api/v1/me/").status_code == 200  # another token: its own count


def test_guessing_tokens_is_limited_by_address(api, token_for, engineer, monkeypatch):
    monkeypatch.setattr(RefusedTokenThrottle, "THROTTLE_RATES", {"anonymous": "2/minute"})
    guesses = [api(f"vap_{n:012x}_guess").get("/api/v1/me/").status_code for n in range(3)]
    assert guesses == [401, 401, 429]
    # A valid token from the same address still works: only refusals are counted.
    assert api(token_for(engineer)).get("/api/v1/me/").status_code == 200


def test_the_audit_log_pages_by_cursor_without_repeats_while_events_arrive(api, token_for, auditor):
    for n in range(7):
        audit_record(actor=None, action="test.event", object_repr=f"e{n}")
    reader = api(token_for(auditor, "read"))
    page = reader.get("/api/v1/audit-events/?page_size=3").json()
    seen = [e["sequence"] for e in page["results"]]
    audit_record(actor=None, action="test.event", object_repr="late")  # newer: not in later pages
    while page["next"]:
        page = reader.get(page["next"]).json()
        seen += [e["sequence"] for e in page["results"]]
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen))
    assert reader.get("/api/v1/audit-events/?cursor=bogus").status_code == 404
    after = reader.get(f"/api/v1/audit-events/?after={seen[1]}").json()["results"]
    assert {e["sequence"] for e in after} >= {seen[0]}
    assert all(e["sequence"] > seen[1] for e in after)


def test_engineers_do_not_read_the_audit_log(api, token_for, engineer):
    answer = api(token_for(engineer, "read")).get("/api/v1/audit-events/")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "permission_denied"
