"""The access map and the vendor page's live grants: what they show, their filters, and a
query count that does not grow with the organization."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from approvals.models import AccessRequest
from tests.reports.conftest import Org, make_live, submitted_request
from tests.vendors.helpers import complete_review, vendor_data
from vendors import services as vendor_services

pytestmark = pytest.mark.django_db


def page(client, **params):
    response = client.get(reverse("reports:access_map"), params)
    assert response.status_code == 200
    return response.content.decode()


def grant_links(html: str) -> set[str]:
    return set(re.findall(r'href="/requests/(\d+)/"', html))


def reviewed_vendor(org: Org, name: str, slug: str):
    vendor = vendor_services.vendor_create(
        actor=org.engineer, data=vendor_data(org.engineer, name=name, slug=slug)
    )
    review = vendor_services.review_start(vendor_id=vendor.pk, actor=org.engineer)
    complete_review(review, org.engineer)
    vendor_services.review_submit(review_id=review.pk, actor=org.engineer)
    vendor_services.review_decide(
        review_id=review.pk, actor=org.security2, decision="approved", mfa_verified=True
    )
    return vendor


def test_everyone_sees_vendors_against_accounts_with_links_to_requests(client, org: Org):
    client.force_login(org.engineer)
    html = page(client)
    assert "Orbit CI" in html
    assert "111122223333" in html
    assert "444455556666" in html
    # Grouped by domain, environment and quality.
    for label in ("payments", "production", "staging", "alpha", "default"):
        assert f">{label}</th>" in html
    assert grant_links(html) == {str(org.grant.pk), str(org.other_grant.pk)}
    # The role grant is marked in both accounts, the Auditor grant once, organization-wide.
    assert html.count(f'href="/requests/{org.grant.pk}/"') == 2
    assert html.count(f'href="/requests/{org.other_grant.pk}/"') == 1
    assert "risk-low" in html or "risk-medium" in html


def test_filters_production_admin_and_expiring(client, org: Org):
    client.force_login(org.auditor)
    production = page(client, production_only="on")
    assert "444455556666" in production
    assert "111122223333" not in production
    assert grant_links(production) == {str(org.grant.pk), str(org.other_grant.pk)}

    assert grant_links(page(client, admin_only="on")) == set()

    AccessRequest.objects.filter(pk=org.grant.pk).update(
        expires_on=timezone.localdate() + timedelta(days=60)
    )
    expiring = page(client, expiring_only="on")
    assert grant_links(expiring) == {str(org.other_grant.pk)}
    assert grant_links(page(client, strategy="role_per_account")) == {str(org.grant.pk)}


def test_revoked_access_leaves_the_map(client, org: Org):
    from fulfilment import revocation

    revocation.request_revoke(
        request_id=org.grant.pk, actor=org.security, mfa_verified=True, reason="Done."
    )
    client.force_login(org.engineer)
    assert grant_links(page(client)) == {str(org.other_grant.pk)}


def test_the_map_query_count_does_not_grow_with_vendors_or_grants(client, org: Org):
    client.force_login(org.engineer)
    with CaptureQueriesContext(connection) as small:
        page(client)
    for index in range(3):
        vendor = reviewed_vendor(org, f"Vendor {index}", f"vendor-{index}")
        make_live(submitted_request(vendor, org.engineer), [org.security], number=10 + index)
    with CaptureQueriesContext(connection) as large:
        html = page(client)
    assert "Vendor 2" in html
    assert len(large) == len(small), [q["sql"][:80] for q in large.captured_queries]


def test_the_vendor_page_lists_live_grants_with_their_end(client, org: Org):
    client.force_login(org.engineer)
    response = client.get(reverse("vendors:detail", args=[org.orbit.pk]))
    html = response.content.decode()
    section = html[html.index('data-testid="live-grants"') :]
    section = section[: section.index("</table>")]
    org.grant.refresh_from_db()
    assert f"#{org.grant.pk}" in section
    assert f"#{org.other_grant.pk}" in section
    assert str(org.grant.expires_on) in section
    assert "all accounts" in section  # the Auditor-role grant
    assert "no key (role)" in section


def test_the_vendor_page_shows_when_an_iam_user_grant_s_key_was_last_used(client, org: Org):
    from datetime import datetime

    from keys.models import AccessKey

    # The grant as an IAM-user grant whose two keys the hygiene task has checked: the latest
    # use of either is what the page shows.
    AccessRequest.objects.filter(pk=org.grant.pk).update(strategy="iam_user")
    for key_id, used in (("AKIAOLDER", datetime(2026, 9, 1, tzinfo=UTC)), ("AKIANEWER", None)):
        AccessKey.objects.create(
            access_request=org.grant,
            user_name="vendor-orbit",
            access_key_id=key_id,
            status="active",
            last_used_at=used,
        )
    client.force_login(org.engineer)
    html = client.get(reverse("vendors:detail", args=[org.orbit.pk])).content.decode()
    section = html[html.index('data-testid="live-grants"') :]
    row = section[section.index(f"#{org.grant.pk}") :]
    row = row[: row.index("</tr>")]
    assert "2026-09-01" in row
    assert "not recorded yet" not in row
