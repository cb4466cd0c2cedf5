"""Security's dashboard lists what failed and the keys that need someone (DESIGN.md section 9)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accessportal.roles import Role
from approvals.models import AccessRequest
from fulfilment.models import PullRequest
from keys.models import AccessKey
from tests.factories import draft_request, staging_account
from tests.vendors.helpers import vendor_data
from vendors import services as vendor_services

pytestmark = pytest.mark.django_db


def _revoke_row(request: AccessRequest, state: str, number: int) -> PullRequest:
    return PullRequest.objects.create(
        access_request=request,
        purpose=PullRequest.Purpose.REVOKE,
        forge="local",
        number=number,
        branch=f"vendor-access/revoke-{request.pk}-orbit-ci",
        base="main",
        state=state,
        title="revoke",
        last_error="push refused: <protected branch>",
    )


def test_security_sees_failures_and_keys_needing_attention(client, make_user):
    owner = make_user("erin")
    security = make_user("sam", Role.SECURITY, is_staff=True)
    vendor = vendor_services.vendor_create(actor=owner, data=vendor_data(owner))
    staging_account()
    failed, revoked, retried, quiet = (draft_request(owner, vendor) for _ in range(4))
    AccessRequest.objects.filter(pk=failed.pk).update(status=AccessRequest.Status.FAILED)
    AccessRequest.objects.filter(pk__in=[revoked.pk, retried.pk]).update(
        status=AccessRequest.Status.REVOKED
    )
    _revoke_row(revoked, PullRequest.State.FAILED, 1)
    # Failed, then tried again: the newer row is what counts, and it is open.
    _revoke_row(retried, PullRequest.State.FAILED, 2)
    _revoke_row(retried, PullRequest.State.OPEN, 3)
    old_key = AccessKey.objects.create(
        access_request=quiet,
        user_name="orbit-ci",
        access_key_id="AKIAEXAMPLEROTATE001",
        status=AccessKey.Status.ACTIVE,
        aws_created_at=timezone.now() - timedelta(days=120),
    )

    client.force_login(security)
    html = client.get(reverse("dashboard")).content.decode()
    failures = html.split('data-testid="failures"')[1].split("</ul>")[0]
    assert f"#{failed.pk} " in failures
    assert "provisioning failed" in failures
    assert f"#{revoked.pk} " in failures
    assert "revocation failed: the access is still granted" in failures
    assert "push refused: &lt;protected branch&gt;" in failures  # escaped
    assert f"#{retried.pk} " not in failures
    assert f"#{quiet.pk} " not in failures
    keys = html.split('data-testid="keys-attention"')[1].split("</ul>")[0]
    assert old_key.masked_id in keys
    assert "due for rotation" in keys
    assert old_key.access_key_id not in html

    # A requester's dashboard has no such card.
    client.force_login(owner)
    assert "Needs attention" not in client.get(reverse("dashboard")).content.decode()


def test_the_report_shortcuts_ask_for_a_pdf_binder_with_a_post(client, make_user):
    client.force_login(make_user("ada", Role.AUDITORS))
    html = client.get(reverse("dashboard")).content.decode()
    shortcuts = html.split('data-testid="report-shortcuts"')[1].split("</ul>")[0]
    assert "format=pdf" not in shortcuts  # a link (GET) must not start a worker's job
    assert shortcuts.count('<form method="post"') == 2
    assert shortcuts.count('name="format" value="pdf"') == 2
    assert "?format=xlsx" in shortcuts
