"""Vendor access nobody approved, found in the AWS emulator (several accounts, real HTTP,
nothing mocked): a hand-made vendor trust is an open finding named from the catalogue, an
applied grant's trust is approved, decisions are audited, unreadable accounts are reported
and their findings left as they were."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.urls import reverse

from accessportal.roles import Role
from approvals.models import AccessRequest
from audit.models import AuditEvent
from inventory.models import AwsAccount
from provisioning import aws
from tests.factories import force_login_with_mfa
from tests.fakes.aws_server import (
    MANAGEMENT,
    THROTTLED,
    Enforced,
    admin_iam,
    auditor_role,
    emulator_endpoint,
    trust,
)
from tests.verification.helpers import inventory, merged_grant
from verification.emulator import emulator_apply, expected_for
from verification.findings import (
    ANYONE,
    external_access_scan,
    external_access_scan_request,
    finding_acknowledge,
    finding_adopt,
    known_vendor_account_save,
)
from verification.models import ExternalAccessFinding, KnownVendorAccount, VerificationRun

Status = ExternalAccessFinding.Status
DATADOG = "464622532012"  # in the repository's catalogue
HAND_MADE = "DatadogIntegrationRole"


@pytest.fixture
def endpoint(settings) -> Iterator[str]:
    with emulator_endpoint(settings) as url:
        yield url


@pytest.fixture
def accounts(endpoint, db):
    """Three member accounts and the management account, all in the inventory (every role
    Organizations and Substrate made trusts the management account: inside the organization)."""
    auditor_role(aws.aws_client("iam"))
    AwsAccount.objects.create(
        account_id=MANAGEMENT, name="management", account_type="management", status="active"
    )
    return inventory(3)


@pytest.fixture
def scan(django_capture_on_commit_callbacks):
    def scan():
        with django_capture_on_commit_callbacks(execute=True):
            return external_access_scan(
                VerificationRun.objects.create(kind=VerificationRun.Kind.SCAN, trigger="test")
            )

    return scan


def hand_made_trust(account_id: str, principal: str = f"arn:aws:iam::{DATADOG}:root", **kw):
    admin_iam(account_id).create_role(
        RoleName=kw.get("role", HAND_MADE),
        AssumeRolePolicyDocument=json.dumps(trust(principal, kw.get("external_id", ""))),
    )


def _open():
    return list(ExternalAccessFinding.objects.filter(status=Status.OPEN))


def test_a_hand_made_vendor_trust_is_an_open_finding_named_from_the_catalogue(
    scan, accounts, settings
):
    settings.PORTAL_NOTIFY_SECURITY_EMAILS = ["security@example.com"]
    hand_made_trust(accounts[1].account_id, external_id="dd-1234")

    result = scan()

    [finding] = ExternalAccessFinding.objects.all()  # in-org trusts are no findings
    assert (finding.account_id, finding.role_name) == (accounts[1].account_id, HAND_MADE)
    assert finding.principal == f"arn:aws:iam::{DATADOG}:root"
    assert finding.principal_account_id == DATADOG
    assert finding.principal_name.startswith("Datadog")
    assert finding.external_id_required is True
    assert finding.status == Status.OPEN
    assert result.open_findings == [finding]
    assert AuditEvent.objects.filter(action="finding.opened", object_id=str(finding.pk)).exists()
    # Security hears of it once, without the principal or the account in the mail.
    [notice] = mail.outbox
    assert "1 vendor access finding" in notice.subject
    assert DATADOG not in notice.body
    assert accounts[1].account_id not in notice.body
    assert reverse("verification:findings") in notice.body

    scan()  # seen again: still open, not announced again
    assert len(mail.outbox) == 1
    assert _open() == [finding]
    run = VerificationRun.objects.filter(kind="scan").first()
    assert run is not None
    assert run.status == "succeeded"
    assert run.outcome["open"] == 1
    assert run.outcome["unreadable"] == []


def test_an_applied_grant_is_approved_not_open(scan, accounts, vendor, engineer):
    grant = merged_grant(vendor, engineer, accounts)
    emulator_apply(expected_for(grant))

    scan()

    findings = list(ExternalAccessFinding.objects.all())
    assert len(findings) == 3
    assert {f.status for f in findings} == {Status.APPROVED}
    assert {f.matched_request_id for f in findings} == {grant.pk}
    assert _open() == []


def test_anyone_and_security_names_and_removal(scan, accounts):
    hand_made_trust(accounts[0].account_id, principal="*", role="Open")
    hand_made_trust(accounts[2].account_id, principal="arn:aws:iam::444455556666:role/Sync")
    KnownVendorAccount.objects.create(account_id="444455556666", name="Acme sync")

    scan()

    names = dict(ExternalAccessFinding.objects.values_list("role_name", "principal_name"))
    assert names == {"Open": ANYONE, HAND_MADE: "Acme sync"}

    aws.emulator_role_delete(accounts[2].account_id, HAND_MADE)
    scan()

    gone = ExternalAccessFinding.objects.get(role_name=HAND_MADE)
    assert gone.status == Status.RESOLVED
    assert gone.resolved_at is not None
    assert AuditEvent.objects.filter(action="finding.resolved", object_id=str(gone.pk)).exists()


def test_acknowledge_and_adopt_are_audited_and_security_only(
    scan, accounts, security, engineer, vendor
):
    hand_made_trust(accounts[0].account_id)
    hand_made_trust(accounts[1].account_id, role="VendorSync")
    scan()
    first = ExternalAccessFinding.objects.get(role_name=HAND_MADE)
    second = ExternalAccessFinding.objects.get(role_name="VendorSync")

    with pytest.raises(PermissionDenied):
        finding_acknowledge(actor=security, mfa_verified=False, finding_id=first.pk, reason="ok")
    with pytest.raises(PermissionDenied):
        finding_acknowledge(actor=engineer, mfa_verified=True, finding_id=first.pk, reason="ok")
    with pytest.raises(ValidationError):
        finding_acknowledge(actor=security, mfa_verified=True, finding_id=first.pk, reason="  ")

    done = finding_acknowledge(
        actor=security, mfa_verified=True, finding_id=first.pk, reason="  Datadog  monitoring "
    )
    assert (done.status, done.reason, done.decided_by) == (
        Status.ACKNOWLEDGED,
        "Datadog monitoring",
        security,
    )
    event = AuditEvent.objects.get(action="finding.acknowledged", object_id=str(first.pk))
    assert (event.after or {})["reason"] == "Datadog monitoring"

    with pytest.raises(PermissionDenied):
        finding_adopt(actor=engineer, mfa_verified=True, finding_id=second.pk, vendor_id=vendor.pk)
    adopted = finding_adopt(
        actor=security, mfa_verified=True, finding_id=second.pk, vendor_id=vendor.pk
    )
    assert adopted.adopted_request_id is not None
    draft = AccessRequest.objects.get(pk=adopted.adopted_request_id)
    assert draft.status == AccessRequest.Status.DRAFT
    assert draft.requester == security
    assert draft.principals == [DATADOG]  # the account as the request form stores it
    assert draft.role_name == "VendorSync"
    assert list(draft.target_accounts.values_list("account_id", flat=True)) == [
        accounts[1].account_id
    ]
    assert AuditEvent.objects.filter(action="finding.adopted", object_id=str(second.pk)).exists()
    assert AuditEvent.objects.filter(action="request.create", object_id=str(draft.pk)).exists()
    with pytest.raises(ValidationError):  # decided once
        finding_acknowledge(actor=security, mfa_verified=True, finding_id=second.pk, reason="x")

    scan()  # the decisions stand while the trust is there and no grant covers it
    assert set(ExternalAccessFinding.objects.values_list("status", flat=True)) == {
        Status.ACKNOWLEDGED,
        Status.ADOPTED,
    }


def test_throttled_and_denied_accounts_are_reported_and_their_findings_untouched(
    scan, accounts, endpoint, monkeypatch
):
    monkeypatch.setattr(aws, "AUDIT_MAX_ATTEMPTS", 2)
    throttled, denied = accounts[0].account_id, accounts[1].account_id
    hand_made_trust(throttled)
    hand_made_trust(denied)
    scan()
    assert len(_open()) == 2
    # Both trusts removed in AWS; but neither account can be read now.
    aws.emulator_role_delete(throttled, HAND_MADE)
    aws.emulator_role_delete(denied, HAND_MADE)
    THROTTLED.add(throttled)
    enforced = Enforced(endpoint, monkeypatch)
    enforced.portal_user(
        [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": "sts:AssumeRole",
                "Resource": f"arn:aws:iam::{denied}:role/Auditor",
            },
        ]
    )
    with enforced:
        result = scan()

    reasons = {u.account_id: u.reason for u in result.unreadable}
    # (moto's enforcement also refuses the management account's own Auditor: not asserted.)
    assert (reasons[throttled], reasons[denied]) == ("throttled", "access_denied")
    assert accounts[2].account_id not in reasons
    assert len(_open()) == 2  # never guessed as resolved
    run = VerificationRun.objects.filter(kind="scan").first()
    assert run is not None
    assert {u["account_id"]: u["reason"] for u in run.outcome["unreadable"]} == reasons


def test_the_command_prints_each_account_and_its_exit_codes(accounts, capsys, monkeypatch):
    call_command("scan_external_access")  # nothing outside: exit 0
    out = capsys.readouterr().out
    assert f"{accounts[0].account_id} 2 role(s), 0 outside principal(s)" in out

    hand_made_trust(accounts[2].account_id, external_id="dd-1")
    with pytest.raises(SystemExit) as unapproved:
        call_command("scan_external_access")
    assert unapproved.value.code == 1
    out = capsys.readouterr().out
    assert f"{accounts[2].account_id} 3 role(s), 1 outside principal(s)" in out
    assert f"Unapproved: arn:aws:iam::{DATADOG}:root (Datadog" in out
    assert "ExternalId required" in out

    finding = ExternalAccessFinding.objects.get()
    finding.status = Status.ACKNOWLEDGED
    finding.save()
    monkeypatch.setattr(aws, "AUDIT_MAX_ATTEMPTS", 2)
    THROTTLED.add(accounts[0].account_id)
    with pytest.raises(SystemExit) as unreadable:
        call_command("scan_external_access")
    assert unreadable.value.code == 2
    out = capsys.readouterr().out
    assert f"{accounts[0].account_id} not readable (throttled:" in out


def test_scan_now_is_queued_once_for_security(accounts, security, engineer):
    with pytest.raises(PermissionDenied):
        external_access_scan_request(actor=engineer, mfa_verified=True)
    run, queued = external_access_scan_request(actor=security, mfa_verified=True)
    again, queued_again = external_access_scan_request(actor=security, mfa_verified=True)
    assert (queued, queued_again, again.pk) == (True, False, run.pk)
    assert AuditEvent.objects.filter(action="finding.scan_requested").count() == 1


def test_the_pages(client, scan, accounts, make_user, vendor):
    hand_made_trust(accounts[0].account_id)
    scan()
    finding = ExternalAccessFinding.objects.get()
    member = make_user("sec", Role.SECURITY)
    force_login_with_mfa(client, member)

    page = client.get(reverse("dashboard")).content.decode()
    assert "Outside access nobody approved" in page
    assert f"arn:aws:iam::{DATADOG}:root" in page
    listing = client.get(reverse("verification:findings")).content.decode()
    assert HAND_MADE in listing
    assert "Scan now" in listing
    status = client.get(reverse("verification:scan_status")).json()
    assert status["status"] == "succeeded"

    client.post(reverse("verification:acknowledge", args=[finding.pk]), {"reason": ""})
    assert ExternalAccessFinding.objects.get().status == Status.OPEN  # a reason is required
    client.post(reverse("verification:acknowledge", args=[finding.pk]), {"reason": "<b>known</b>"})
    finding.refresh_from_db()
    assert finding.status == Status.ACKNOWLEDGED
    listing = client.get(reverse("verification:findings")).content.decode()
    assert "&lt;b&gt;known&lt;/b&gt;" in listing
    assert "<b>known</b>" not in listing

    client.logout()
    client.force_login(make_user("someone"))
    assert client.get(reverse("verification:findings")).status_code == 403
    assert (
        client.post(reverse("verification:adopt", args=[finding.pk]), {"vendor": vendor.pk})
    ).status_code == 403


def test_security_names_an_account_audited(security, engineer, db):
    with pytest.raises(PermissionDenied):
        known_vendor_account_save(
            actor=security, mfa_verified=False, account_id="444455556666", name="Acme"
        )
    with pytest.raises(ValidationError):
        known_vendor_account_save(actor=security, mfa_verified=True, account_id="12", name="A")
    entry = known_vendor_account_save(
        actor=security,
        mfa_verified=True,
        account_id="444455556666",
        name=" Acme  sync ",
        source="https://example.com/acme",
    )
    assert (entry.name, entry.added_by) == ("Acme sync", security)
    assert AuditEvent.objects.filter(action="known_vendor_account.save").count() == 1


def test_a_queued_scan_runs_once_with_its_progress(accounts, security):
    from verification import tasks

    hand_made_trust(accounts[0].account_id)
    run, _queued = external_access_scan_request(actor=security, mfa_verified=True)

    tasks.external_access_scan_run_task(run.pk)
    tasks.external_access_scan_run_task(run.pk)  # a duplicate message: nothing more

    run.refresh_from_db()
    assert run.status == VerificationRun.Status.SUCCEEDED
    assert (run.accounts_done, run.accounts_total) == (4, 4)
    assert run.outcome["open"] == 1
    assert ExternalAccessFinding.objects.count() == 1
    assert AuditEvent.objects.filter(action="finding.opened").count() == 1


def test_the_beat_runs_the_scan(accounts, settings):
    from verification import tasks

    assert settings.CELERY_BEAT_SCHEDULE["external-access-scan"] == {
        "task": "verification.tasks.external_access_scan_task",
        "schedule": float(settings.PORTAL_SCAN_MINUTES * 60),
    }
    tasks.external_access_scan_task()
    run = VerificationRun.objects.get(kind=VerificationRun.Kind.SCAN)
    assert (run.trigger, run.status) == ("beat", VerificationRun.Status.SUCCEEDED)
