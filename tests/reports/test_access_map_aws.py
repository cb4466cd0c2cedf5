"""The access map says what AWS holds (issue 17): each mark of a live grant carries its last
verdict, and the outside trusts nobody approved are rows of their own."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals.models import AccessRequest
from reports.access_map import MapFilters, access_map
from tests.factories import force_login_with_mfa
from tests.reports.conftest import Org
from verification.grants import Plan, record_check
from verification.models import ExternalAccessFinding, GrantCheck

pytestmark = pytest.mark.django_db


def _marks(org: Org) -> dict[int, dict]:
    built = access_map(filters=MapFilters())
    return {
        g["pk"]: g
        for row in built.rows
        for cell in [row["organization"], *row["cells"]]
        for g in cell.grants
    }


@pytest.mark.parametrize(
    ("state", "css", "words"),
    [
        (None, "aws-unverified", "not verified in AWS"),
        ("absent", "aws-waiting", "merged, not yet in AWS"),
        ("matches", "aws-verified", "verified in AWS"),
        ("differs", "aws-drifted", "drifted in AWS"),
        ("unreadable", "aws-unverified", "not verified in AWS"),
    ],
)
def test_each_mark_says_what_aws_last_held(org: Org, state, css, words):
    if state is not None:
        record_check(
            Plan(org.grant, GrantCheck.Expectation.PRESENT, None), state=state, accounts=[]
        )
    mark = _marks(org)[org.grant.pk]
    assert css in mark["css"].split()
    assert mark["title"].endswith(f" · {words}")
    assert words in mark["spoken"]


def test_unapproved_outside_trusts_are_rows_of_their_own(org: Org, client):
    now = timezone.now()
    common = {"first_seen_at": now, "last_seen_at": now, "account_id": "111122223333"}
    ExternalAccessFinding.objects.create(
        role_name="HandMade",
        principal="arn:aws:iam::464622532012:root",
        principal_name="Datadog <b>",
        **common,
    )
    ExternalAccessFinding.objects.create(
        role_name="Approved", principal="arn:aws:iam::1:root", status="approved", **common
    )

    force_login_with_mfa(client, org.security)
    page = client.get(reverse("reports:access_map")).content.decode()

    assert "Outside access nobody approved" in page
    assert "Unapproved: Datadog &lt;b&gt;" in page
    assert "HandMade" in page
    assert ">Approved<" not in page


def test_a_revoked_grant_aws_still_holds_stays_on_the_map(org: Org):
    AccessRequest.objects.filter(pk=org.grant.pk).update(status="revoked")
    org.grant.refresh_from_db()
    assert org.grant.pk not in _marks(org)  # not read since: nothing says AWS holds it

    plan = Plan(org.grant, GrantCheck.Expectation.ABSENT, None)
    record_check(plan, state=GrantCheck.State.MATCHES, accounts=[])
    mark = _marks(org)[org.grant.pk]
    assert "aws-held" in mark["css"].split()
    assert mark["title"].endswith(" · revoked, still in AWS")

    record_check(plan, state=GrantCheck.State.ABSENT, accounts=[])
    assert org.grant.pk not in _marks(org)  # verified gone
