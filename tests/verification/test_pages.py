"""The request page's "In AWS" panel, "Verify in AWS now" and the demo's emulator actions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from tests.factories import force_login_with_mfa
from tests.fakes.aws_server import admin_iam, emulator_endpoint
from tests.verification.helpers import inventory, merged_grant
from verification.models import GrantCheck, VerificationRun

ROLE = "OrbitCIReadOnly"


@pytest.fixture
def endpoint(settings) -> Iterator[str]:
    with emulator_endpoint(settings) as url:
        yield url


@pytest.fixture
def accounts(db):
    from inventory.models import AwsAccount

    return [
        AwsAccount.objects.create(
            account_id=f"11112222333{n}",
            name=f"payments-env{n}-alpha",
            account_type="service",
            domain="payments",
            environment=f"env{n}",
            quality="alpha",
            status="active",
        )
        for n in range(2)
    ]


def _check(grant, state, accounts, **fields):
    now = timezone.now()
    return GrantCheck.objects.create(
        access_request=grant,
        expectation=fields.pop("expectation", GrantCheck.Expectation.PRESENT),
        state=state,
        accounts=accounts,
        checked_at=now,
        changed_at=now,
        **fields,
    )


def _page(client, grant):
    response = client.get(reverse("approvals:request_detail", args=[grant.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_unverified_merge_says_so(client, vendor, engineer, accounts):
    grant = merged_grant(vendor, engineer, accounts)
    client.force_login(engineer)
    html = _page(client, grant)
    assert 'data-truth="unverified"' in html
    assert "Merged, not verified in AWS" in html
    assert "Verify in AWS now" not in html  # security only


def test_drifted_grant_shows_each_account(client, vendor, engineer, accounts):
    grant = merged_grant(vendor, engineer, accounts)
    _check(
        grant,
        GrantCheck.State.DIFFERS,
        [
            {
                "account_id": accounts[0].account_id,
                "state": "differs",
                "differences": ["trust: extra principal arn:aws:iam::444455556666:root"],
                "reason": "",
                "message": "",
                "last_used_at": "2026-11-30T08:00:00+00:00",
                "last_used_region": "eu-west-1",
            },
            {
                "account_id": accounts[1].account_id,
                "state": "unreadable",
                "differences": [],
                "reason": "throttled",
                "message": "Rate exceeded",
                "last_used_at": None,
                "last_used_region": "",
            },
        ],
    )
    client.force_login(engineer)
    html = _page(client, grant)
    assert 'data-truth="drifted"' in html
    assert "truth-bad" in html
    assert "payments-env0-alpha" in html
    assert "trust: extra principal arn:aws:iam::444455556666:root" in html
    assert "2026-11-30 (eu-west-1)" in html
    assert "throttled: Rate exceeded" in html
    assert "never used" in html


def test_active_and_waiting_truths(client, vendor, engineer, accounts):
    grant = merged_grant(vendor, engineer, accounts)
    check = _check(grant, GrantCheck.State.ABSENT, [])
    client.force_login(engineer)
    assert 'data-truth="waiting_to_apply"' in _page(client, grant)
    check.state = GrantCheck.State.MATCHES
    check.save()
    html = _page(client, grant)
    assert 'data-truth="active_verified"' in html
    assert "Active (verified in AWS)" in html


def test_verify_now_needs_security_with_mfa(client, vendor, engineer, security, accounts):
    grant = merged_grant(vendor, engineer, accounts)
    url = reverse("approvals:request_verify", args=[grant.pk])
    client.force_login(security)  # no second factor
    client.post(url)
    assert not VerificationRun.objects.exists()
    client.force_login(engineer)
    client.post(url)
    assert not VerificationRun.objects.exists()


def test_verify_now_starts_one_run_and_reports_progress(
    client, vendor, engineer, security, accounts, django_capture_on_commit_callbacks
):
    grant = merged_grant(vendor, engineer, accounts)
    force_login_with_mfa(client, security)
    url = reverse("approvals:request_verify", args=[grant.pk])
    with django_capture_on_commit_callbacks(execute=False):
        client.post(url)
        client.post(url)
    [run] = VerificationRun.objects.all()
    assert run.access_request == grant
    html = _page(client, grant)
    assert "Verify in AWS now" in html
    status_url = reverse("approvals:request_verify_status", args=[grant.pk, run.pk])
    assert status_url in html
    run.accounts_total, run.accounts_done = 4, 1
    run.save()
    data = client.get(status_url).json()
    assert data == {
        "id": run.pk,
        "status": "running",
        "accounts_done": 1,
        "accounts_total": 4,
        "percent": 25,
        "error": "",
    }


def test_emulator_actions_only_on_the_emulator(
    client, settings, vendor, engineer, security, accounts
):
    settings.AWS_ENDPOINT_URL = ""  # real AWS
    grant = merged_grant(vendor, engineer, accounts)
    force_login_with_mfa(client, security)
    assert "Apply in the emulator" not in _page(client, grant)
    client.post(reverse("approvals:request_emulator_action", args=[grant.pk, "apply"]))
    assert not AuditEvent.objects.filter(action="emulator.apply").exists()


def test_emulator_apply_and_edit_are_audited(
    client, endpoint, vendor, engineer, security, django_capture_on_commit_callbacks
):
    rows = inventory(2)
    grant = merged_grant(vendor, engineer, rows)
    client.force_login(engineer)
    assert "Apply in the emulator" not in _page(client, grant)  # security only
    force_login_with_mfa(client, security)
    assert "Apply in the emulator" in _page(client, grant)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("approvals:request_emulator_action", args=[grant.pk, "apply"]))
    assert AuditEvent.objects.filter(action="emulator.apply", object_id=str(grant.pk)).exists()
    assert GrantCheck.objects.get(access_request=grant).state == GrantCheck.State.MATCHES
    assert 'data-truth="active_verified"' in _page(client, grant)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("approvals:request_emulator_action", args=[grant.pk, "trust_edit"]))
    assert AuditEvent.objects.filter(action="emulator.trust_edit").exists()
    trust = admin_iam(rows[0].account_id).get_role(RoleName=ROLE)["Role"]
    assert "444455556666" in str(trust["AssumeRolePolicyDocument"])
    assert 'data-truth="drifted"' in _page(client, grant)


def test_request_list_shows_the_truth(client, vendor, engineer, accounts):
    grant = merged_grant(vendor, engineer, accounts)
    _check(grant, GrantCheck.State.ABSENT, [])
    client.force_login(engineer)
    html = client.get(reverse("approvals:requests")).content.decode()
    assert 'data-truth="waiting_to_apply"' in html
    assert "Merged, waiting to be applied" in html
