"""The auditor report says what AWS held (issue 17): each grant's verdict from the audit log
as of the report's time, its role's last use, and the vendor's open outside-access findings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reports.subprocessors import report_params, subprocessor_rows
from reports.subprocessors.rows import COLUMNS
from tests.reports.conftest import Org
from verification.grants import Plan, record_check
from verification.models import ExternalAccessFinding, GrantCheck

pytestmark = pytest.mark.django_db
LAST_USED = COLUMNS.index(("AWS access", "Key last used"))
FINDINGS = COLUMNS.index(("AWS access", "Open Access Analyzer findings"))


def _row(org: Org, as_of=None):  # type: ignore[no-untyped-def]
    params = report_params(as_of=as_of or timezone.now())
    rows = list(subprocessor_rows(params))
    return next(r for r in rows if org.orbit.name in r.cells[:2])


def _finding(**fields):  # type: ignore[no-untyped-def]
    now = timezone.now() - timedelta(minutes=5)
    values = {
        "account_id": "111122223333",
        "role_name": "HandMade",
        "principal": "arn:aws:iam::123456789012:root",
        "principal_account_id": "123456789012",
        "first_seen_at": now,
        "last_seen_at": now,
        **fields,
    }
    return ExternalAccessFinding.objects.create(**values)


def test_a_grants_verdict_and_role_use_are_in_the_report(org: Org):
    used = timezone.now() - timedelta(days=3)
    record_check(
        Plan(org.grant, GrantCheck.Expectation.PRESENT, None),
        state=GrantCheck.State.MATCHES,
        accounts=[{"account_id": "1", "state": "matches", "last_used_at": used.isoformat()}],
    )

    cell = _row(org).cells[LAST_USED]

    assert f"#{org.grant.pk}: in AWS matches" in cell
    assert f"#{org.grant.pk}: role {timezone.localdate(used).isoformat()}" in cell


def test_the_verdict_is_the_one_held_at_the_reports_time(org: Org):
    record_check(
        Plan(org.grant, GrantCheck.Expectation.PRESENT, None),
        state=GrantCheck.State.ABSENT,
        accounts=[],
    )
    between = timezone.now()
    record_check(
        Plan(org.grant, GrantCheck.Expectation.PRESENT, None),
        state=GrantCheck.State.DIFFERS,
        accounts=[],
    )

    assert f"#{org.grant.pk}: in AWS absent" in _row(org, as_of=between).cells[LAST_USED]
    assert f"#{org.grant.pk}: in AWS differs" in _row(org).cells[LAST_USED]


def test_open_findings_of_the_vendors_account_are_listed(org: Org):
    _finding()
    _finding(role_name="Acknowledged", decided_at=timezone.now(), status="acknowledged")
    _finding(role_name="Gone", resolved_at=timezone.now(), status="resolved")
    _finding(
        role_name="Other",
        principal="arn:aws:iam::999999999999:root",
        principal_account_id="999999999999",
    )

    cell = _row(org).cells[FINDINGS]

    assert cell == "arn:aws:iam::123456789012:root -> 111122223333/HandMade"


def test_a_finding_acknowledged_later_was_open_at_an_earlier_time(org: Org):
    _finding(decided_at=timezone.now() + timedelta(hours=1), status="acknowledged")
    assert "HandMade" in _row(org).cells[FINDINGS]
