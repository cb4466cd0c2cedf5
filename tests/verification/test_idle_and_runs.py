"""The idle flag of verified grants, and "Verify in AWS now" runs (no AWS needed: the checks
are written as a verification would write them)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from tests.verification.helpers import merged_grant
from verification.grants import (
    Organization,
    Plan,
    grants_idle_flag,
    grants_verify_request,
    plans_for,
    record_check,
    verifiable_requests,
)
from verification.models import GrantCheck, VerificationRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def grant(vendor, engineer, account):
    return merged_grant(vendor, engineer, [account])


def _verified(grant, *, days_ago: int, last_used_days_ago: int | None) -> GrantCheck:
    now = timezone.now()
    used = None
    if last_used_days_ago is not None:
        used = (now - timedelta(days=last_used_days_ago)).isoformat()
    record_check(
        Plan(grant, GrantCheck.Expectation.PRESENT, None),
        state=GrantCheck.State.MATCHES,
        accounts=[{"account_id": "111122223333", "state": "matches", "last_used_at": used}],
        now=now - timedelta(days=days_ago),
    )
    return GrantCheck.objects.get(access_request=grant)


def test_a_grant_unused_past_the_limit_is_flagged_once(grant, settings):
    settings.PORTAL_GRANT_IDLE_DAYS = 45
    _verified(grant, days_ago=60, last_used_days_ago=50)

    flagged = grants_idle_flag()
    again = grants_idle_flag()

    assert [c.access_request_id for c in flagged] == [grant.pk]
    assert again == []
    event = AuditEvent.objects.get(action="grant.idle", object_id=str(grant.pk))
    assert (event.after or {}).get("idle_days") == 45


@pytest.mark.parametrize(
    ("days_ago", "last_used_days_ago"),
    [(60, 10), (20, None)],  # used recently; verified too recently to say
)
def test_a_grant_used_or_new_is_not_flagged(grant, days_ago, last_used_days_ago):
    _verified(grant, days_ago=days_ago, last_used_days_ago=last_used_days_ago)
    assert grants_idle_flag() == []


def test_a_grant_never_used_since_it_was_verified_is_flagged(grant):
    _verified(grant, days_ago=46, last_used_days_ago=None)
    assert [c.access_request_id for c in grants_idle_flag()] == [grant.pk]


def test_use_after_the_flag_clears_it_for_a_later_spell(grant):
    _verified(grant, days_ago=60, last_used_days_ago=None)
    [check] = grants_idle_flag()
    record_check(
        Plan(grant, GrantCheck.Expectation.PRESENT, None),
        state=GrantCheck.State.MATCHES,
        accounts=[
            {"account_id": "1", "state": "matches", "last_used_at": timezone.now().isoformat()}
        ],
    )
    check.refresh_from_db()
    assert check.idle_flagged_at is None
    assert check.last_used_at is not None


def test_verify_now_is_security_with_mfa_and_one_run_at_a_time(
    grant, security, engineer, monkeypatch
):
    queued: list[tuple] = []
    monkeypatch.setattr(
        "verification.grants.enqueue_on_commit", lambda *args, **kw: queued.append(args)
    )
    with pytest.raises(PermissionDenied):
        grants_verify_request(actor=engineer, mfa_verified=True, access_request=grant)
    with pytest.raises(PermissionDenied):
        grants_verify_request(actor=security, mfa_verified=False, access_request=grant)

    run, created = grants_verify_request(actor=security, mfa_verified=True, access_request=grant)
    same, again = grants_verify_request(actor=security, mfa_verified=True, access_request=grant)
    everything, whole = grants_verify_request(actor=security, mfa_verified=True)

    assert (created, again, whole) == (True, False, True)
    assert same.pk == run.pk
    assert everything.pk != run.pk
    task = "verification.tasks.grants_verify_run_task"
    assert queued == [(task, run.pk), (task, everything.pk)]
    assert AuditEvent.objects.filter(action="grant.verify_requested").count() == 2
    assert VerificationRun.objects.filter(status="running").count() == 2


def test_a_verdict_that_does_not_change_is_not_audited_again(grant):
    plan = Plan(grant, GrantCheck.Expectation.PRESENT, None)
    for _ in range(3):
        record_check(plan, state=GrantCheck.State.ABSENT, accounts=[])
    record_check(plan, state=GrantCheck.State.MATCHES, accounts=[])
    states = [
        (e.after or {}).get("state")
        for e in AuditEvent.objects.filter(action="grant.verified").order_by("sequence")
    ]
    assert states == ["absent", "matches"]


def test_planning_many_grants_reads_no_more_than_planning_one(vendor, engineer, account):
    merged_grant(vendor, engineer, [account])
    org = Organization()
    with CaptureQueriesContext(connection) as one:
        [plan] = plans_for(verifiable_requests(), org)
    assert plan.expected is not None
    for _ in range(4):
        merged_grant(vendor, engineer, [account])
    with CaptureQueriesContext(connection) as five:
        plans = plans_for(verifiable_requests(), org)
    assert len(plans) == 5
    assert all(p.expected is not None for p in plans)
    assert len(five.captured_queries) == len(one.captured_queries)
