"""The emergency cut-off against the AWS emulator (several accounts, real HTTP): the vendor's
roles denied, its statement out of the shared Auditor role, its keys inactive in IAM and in
the portal, each request revoked with its removal queued, audited; refused without a second
factor, for non-security and when no break-glass role is set; a failing account named."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from approvals.models import AccessRequest, Status, Strategy
from audit.models import AuditEvent
from inventory.models import AwsAccount
from keys.models import AccessKey
from provisioning import aws
from provisioning.substrate.expected import ExpectedRole
from tests.fakes.aws_server import THROTTLED, admin_iam, emulator_endpoint
from tests.verification.helpers import VENDOR_PRINCIPAL, inventory, merged_grant
from verification.cutoff import CUT_OFF_POLICY_NAME, vendor_cut_off
from verification.emulator import emulator_apply
from verification.grants import expected_for, verify_grants
from verification.models import GrantCheck
from verification.truth import truths_for

ROLE = "OrbitCIReadOnly"
REVOKE_TASK = "fulfilment.tasks.revoke_access_task"
REASON = "Vendor reported a leaked CI token"


@pytest.fixture
def endpoint(settings) -> Iterator[str]:
    with emulator_endpoint(settings) as url:
        # The emulator's admin role in every account plays the break-glass role.
        settings.AWS_BREAK_GLASS_ROLE_NAME = "OrganizationAccountAccessRole"
        yield url


@pytest.fixture
def accounts(endpoint, db):
    return inventory(3)


@pytest.fixture
def grant(vendor, engineer, accounts):
    access_request = merged_grant(vendor, engineer, accounts)
    emulator_apply(expected_for(access_request))
    return access_request


@pytest.fixture
def cut_off(security, django_capture_on_commit_callbacks):
    def cut_off(vendor, **kwargs):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            outcome = vendor_cut_off(
                actor=kwargs.pop("actor", security),
                mfa_verified=kwargs.pop("mfa_verified", True),
                vendor_id=vendor.pk,
                reason=kwargs.pop("reason", REASON),
            )
        return outcome, callbacks

    return cut_off


def _inline(account_id: str, role: str = ROLE) -> dict:
    iam = admin_iam(account_id)
    return {
        name: iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
    }


def _queued(callbacks, task: str) -> list[tuple]:
    """The arguments of each `task` queued for after the commit (enqueue_on_commit's
    callbacks are partials of (task name, args, kwargs))."""
    return [cb.args[1] for cb in callbacks if getattr(cb, "args", ())[:1] == (task,)]


def test_cut_off_denies_every_role_revokes_and_is_audited(cut_off, vendor, grant, accounts):
    outcome, _callbacks = cut_off(vendor)

    assert outcome.ok, outcome.problems
    assert outcome.failed_accounts == []
    assert {r["account_id"] for r in outcome.results} == {a.account_id for a in accounts}
    for account in accounts:
        policies = _inline(account.account_id)
        deny = policies[CUT_OFF_POLICY_NAME]
        assert deny["Statement"] == [{"Effect": "Deny", "Action": "*", "Resource": "*"}]
    grant.refresh_from_db()
    assert grant.status == Status.REVOKED
    assert outcome.revoked == [grant.pk]
    event = AuditEvent.objects.get(action="vendor.cut_off")
    assert event.after is not None
    assert event.after["reason"] == REASON
    assert event.after["failed_accounts"] == []
    assert len(event.after["accounts"]) == 3
    assert AuditEvent.objects.filter(action="request.revoke", object_id=str(grant.pk)).exists()


def test_the_removal_pull_request_is_queued_and_security_told(cut_off, vendor, grant):
    _outcome, callbacks = cut_off(vendor)

    # The revocation's own transition queues the task that opens the removal pull request.
    assert (grant.pk,) in _queued(callbacks, REVOKE_TASK)
    revoke = AuditEvent.objects.get(action="request.revoke", object_id=str(grant.pk))
    assert "Emergency cut-off" in json.dumps(revoke.after)
    assert REASON in json.dumps(revoke.after)
    notices = [args for args in _queued(callbacks, "notifications.tasks.notice_email_task")]
    assert any("cut_off" in args for args in notices)


def test_shared_auditor_role_loses_only_the_vendors_statement(cut_off, vendor, engineer, accounts):
    AwsAccount.objects.create(
        account_id="123456789012", name="admin", account_type="substrate", status="active"
    )
    grant = merged_grant(
        vendor,
        engineer,
        accounts,
        strategy=Strategy.AUDITOR,
        role_name="",
        policy_source=AccessRequest.PolicySource.MANAGED,
        inline_policy=None,
    )
    expected = expected_for(grant)
    emulator_apply(expected)
    shared = [i for i in expected.items if isinstance(i, ExpectedRole) and i.shared]
    assert shared
    before = {
        i.account_id: admin_iam(i.account_id).get_role(RoleName=i.name)["Role"][
            "AssumeRolePolicyDocument"
        ]["Statement"]
        for i in shared
    }

    outcome, _ = cut_off(vendor)

    assert outcome.failed_accounts == []
    for item in shared:
        after = admin_iam(item.account_id).get_role(RoleName=item.name)["Role"][
            "AssumeRolePolicyDocument"
        ]["Statement"]
        assert after == [s for s in before[item.account_id] if s not in item.trust_statements]
        assert after  # the organization's own statement stays
        assert VENDOR_PRINCIPAL not in json.dumps(after)


def test_iam_user_keys_are_inactive_in_iam_and_in_the_portal(cut_off, vendor, engineer, accounts):
    AwsAccount.objects.create(
        account_id="123456789012", name="admin", account_type="substrate", status="active"
    )
    grant = merged_grant(
        vendor, engineer, accounts[:1], strategy=Strategy.IAM_USER, external_id="", principals=[]
    )
    emulator_apply(expected_for(grant))
    iam = aws.aws_client("iam")
    issued = iam.create_access_key(UserName=vendor.slug)["AccessKey"]["AccessKeyId"]
    row = AccessKey.objects.create(
        access_request=grant, user_name=vendor.slug, access_key_id=issued, status="active"
    )

    outcome, _ = cut_off(vendor)

    assert outcome.failed_accounts == []
    [key] = iam.list_access_keys(UserName=vendor.slug)["AccessKeyMetadata"]
    assert key["Status"] == "Inactive"
    row.refresh_from_db()
    assert row.status == "inactive"


def test_refused_without_mfa_for_non_security_and_when_off(
    cut_off, vendor, grant, engineer, settings, accounts
):
    with pytest.raises(PermissionDenied):
        cut_off(vendor, mfa_verified=False)
    with pytest.raises(PermissionDenied):
        cut_off(vendor, actor=engineer)
    with pytest.raises(ValidationError):
        cut_off(vendor, reason="  ")
    settings.AWS_BREAK_GLASS_ROLE_NAME = ""
    with pytest.raises(ValidationError, match="AWS_BREAK_GLASS_ROLE_NAME"):
        cut_off(vendor)
    assert CUT_OFF_POLICY_NAME not in _inline(accounts[0].account_id)
    grant.refresh_from_db()
    assert grant.status == Status.ACTIVE
    assert not AuditEvent.objects.filter(action="vendor.cut_off").exists()


def test_a_throttled_account_is_named_while_the_others_are_cut_off(
    cut_off, vendor, grant, accounts, monkeypatch
):
    monkeypatch.setattr(aws, "AUDIT_MAX_ATTEMPTS", 1)
    throttled = accounts[1].account_id
    THROTTLED.add(throttled)

    outcome, _ = cut_off(vendor)
    THROTTLED.clear()

    assert outcome.failed_accounts == [throttled]
    [failed] = [r for r in outcome.results if not r["ok"]]
    assert failed["reason"] == "throttled"
    assert "Throttling" in failed["message"]
    assert "emulator" not in failed["message"]  # no credentials in what is shown
    for account in accounts:
        if account.account_id != throttled:
            assert CUT_OFF_POLICY_NAME in _inline(account.account_id)
    assert CUT_OFF_POLICY_NAME not in _inline(throttled)
    event = AuditEvent.objects.get(action="vendor.cut_off")
    assert event.after is not None
    assert event.after["failed_accounts"] == [throttled]
    grant.refresh_from_db()
    assert grant.status == Status.REVOKED  # the removal pull request is the follow-up


def test_after_the_cut_off_verification_says_still_in_aws(cut_off, vendor, grant, accounts):
    cut_off(vendor)
    grant.refresh_from_db()

    [check] = verify_grants([grant])

    # Revoked: AWS is expected not to hold the grant; the denied role is still there.
    assert check.expectation == GrantCheck.Expectation.ABSENT
    # AWS still holds the (denied) role: the deny policy is the one difference named.
    assert check.state == GrantCheck.State.DIFFERS
    for account in check.accounts:
        assert account["differences"] == [
            f"role {ROLE}: inline policy {CUT_OFF_POLICY_NAME} not approved"
        ]
    truth = truths_for([grant])[grant.pk]
    assert truth is not None
    assert truth.code == "removal_open"


def test_the_vendor_page_offers_the_cut_off_and_shows_each_account(
    client, vendor, grant, accounts, security, engineer, settings
):
    from django.urls import reverse

    from tests.factories import force_login_with_mfa

    verify_grants([grant])
    url = reverse("vendors:detail", args=[vendor.pk])
    client.force_login(engineer)
    page = client.get(url).content.decode()
    assert "Cut off now" not in page
    assert "Active (verified in AWS)" in page  # the truth label of each grant

    force_login_with_mfa(client, security)
    assert "Cut off now" in client.get(url).content.decode()
    cut = reverse("vendors:cut_off", args=[vendor.pk])
    unconfirmed = client.post(cut, {"reason": REASON}, follow=True).content.decode()
    assert "Tick the box" in unconfirmed
    assert grant.__class__.objects.get(pk=grant.pk).status == Status.ACTIVE

    result = client.post(cut, {"reason": REASON, "confirm": "yes"}).content.decode()
    assert "Every account was changed" in result
    for account in accounts:
        assert account.account_id in result

    settings.AWS_BREAK_GLASS_ROLE_NAME = ""
    page = client.get(url).content.decode()
    assert "Cut off now" not in page
    assert "AWS_BREAK_GLASS_ROLE_NAME" in page
