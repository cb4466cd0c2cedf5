"""Grants read back from the AWS emulator (several accounts, real HTTP, nothing mocked) and
the state a person reads: Active only when every account matches, Drifted with what differs,
Revoked only when AWS no longer has it, unreadable accounts named and never guessed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.core import mail
from django.core.management import call_command

from approvals.models import Strategy
from audit.models import AuditEvent
from inventory.models import AwsAccount
from keys.models import AccessKey
from provisioning import aws
from tests.fakes.aws_server import THROTTLED, Enforced, admin_iam, emulator_endpoint
from tests.verification.helpers import (
    EXTERNAL_ID,
    VENDOR_PRINCIPAL,
    inventory,
    merged_grant,
    merged_removal,
)
from verification.emulator import emulator_apply, emulator_remove, expected_for
from verification.grants import verify_grants
from verification.models import GrantCheck, VerificationRun
from verification.truth import truths_for

ROLE = "OrbitCIReadOnly"


@pytest.fixture
def endpoint(settings) -> Iterator[str]:
    with emulator_endpoint(settings) as url:
        yield url


@pytest.fixture
def accounts(endpoint, db):
    return inventory(3)


@pytest.fixture
def grant(vendor, engineer, security, accounts):
    return merged_grant(vendor, engineer, accounts)


@pytest.fixture
def verify(django_capture_on_commit_callbacks):
    """One verification, its notices sent as after a real commit."""

    def verify(access_request) -> GrantCheck:
        with django_capture_on_commit_callbacks(execute=True):
            [check] = verify_grants([access_request])
        return check

    return verify


def _truth(access_request):
    return truths_for([access_request])[access_request.pk]


def _trust_of(account_id: str) -> dict:
    return admin_iam(account_id).get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]


def test_merged_but_not_applied_is_waiting_then_applied_is_active(verify, grant, accounts):
    check = verify(grant)
    assert check.state == GrantCheck.State.ABSENT
    assert _truth(grant).code == "waiting_to_apply"
    assert _truth(grant).label == "Merged, waiting to be applied"

    emulator_apply(expected_for(grant))
    check = verify(grant)

    assert check.state == GrantCheck.State.MATCHES
    assert [a["account_id"] for a in check.accounts] == sorted(a.account_id for a in accounts)
    assert {a["state"] for a in check.accounts} == {"matches"}
    truth = _truth(grant)
    assert (truth.code, truth.label) == ("active_verified", "Active (verified in AWS)")
    # Each change of verdict is on the trail (the auditor report reads it as of any time).
    events = AuditEvent.objects.filter(action="grant.verified", object_id=str(grant.pk))
    assert [(e.after or {}).get("state") for e in events.order_by("sequence")] == [
        "absent",
        "matches",
    ]


def test_one_account_without_the_role_is_not_active_and_is_named(verify, grant, accounts):
    emulator_apply(expected_for(grant))
    aws.emulator_role_delete(accounts[1].account_id, ROLE)

    check = verify(grant)

    assert check.state == GrantCheck.State.DIFFERS
    [missing] = check.accounts_in("absent")
    assert missing["account_id"] == accounts[1].account_id
    truth = _truth(grant)
    assert truth.code == "drifted"
    assert truth.in_aws is True


@pytest.mark.parametrize(
    ("edit", "difference"),
    [
        ("extra_principal", "trust: principal arn:aws:iam::444455556666:root not approved"),
        ("external_id_removed", "trust: sts:ExternalId condition missing"),
        ("policy_widened", "inline policy orbit-ci widened: action s3:getobject not approved"),
    ],
)
def test_a_hand_edit_is_drift_with_the_difference(
    verify, grant, accounts, vendor, edit, difference
):
    emulator_apply(expected_for(grant))
    account_id = accounts[2].account_id
    iam = admin_iam(account_id)
    if edit == "extra_principal":
        aws.emulator_trust_edit(
            account_id,
            ROLE,
            add=[
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        )
    elif edit == "external_id_removed":
        statement = {
            "Effect": "Allow",
            "Principal": {"AWS": VENDOR_PRINCIPAL},
            "Action": "sts:AssumeRole",
        }
        iam.update_assume_role_policy(
            RoleName=ROLE,
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )
    else:
        iam.put_role_policy(
            RoleName=ROLE,
            PolicyName=vendor.slug,
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "ce:GetCostAndUsage", "Resource": "*"},
                        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
                    ],
                }
            ),
        )

    check = verify(grant)

    assert check.state == GrantCheck.State.DIFFERS
    [drifted] = check.accounts_in("differs")
    assert drifted["account_id"] == account_id
    assert f"role {ROLE}: {difference}" in drifted["differences"]
    assert {a["state"] for a in check.accounts_in("matches")} == {"matches"}
    assert len(check.accounts_in("matches")) == 2
    assert _truth(grant).code == "drifted"
    # Security hears of it once (the notice names the request, not the difference).
    assert [m.subject for m in mail.outbox if "differs in AWS" in m.subject] != []


def test_removal_merged_while_aws_still_has_the_grant_is_not_revoked(verify, grant, accounts):
    emulator_apply(expected_for(grant))
    merged_removal(grant)

    check = verify(grant)

    assert check.expectation == GrantCheck.Expectation.ABSENT
    assert check.state == GrantCheck.State.MATCHES
    truth = _truth(grant)
    assert (truth.code, truth.label) == ("removal_not_applied", "Removal merged, still in AWS")
    assert any("AWS still has it" in m.subject for m in mail.outbox)

    emulator_remove(expected_for(grant))
    check = verify(grant)

    assert check.state == GrantCheck.State.ABSENT
    truth = _truth(grant)
    assert (truth.code, truth.label) == ("revoked_verified", "Revoked (verified: not in AWS)")


def test_half_removed_is_still_in_aws_naming_the_account(verify, grant, accounts):
    emulator_apply(expected_for(grant))
    merged_removal(grant)
    for account in accounts[:2]:
        aws.emulator_role_delete(account.account_id, ROLE)

    check = verify(grant)

    assert _truth(grant).code == "removal_not_applied"
    [held] = check.accounts_in("matches")
    assert held["account_id"] == accounts[2].account_id


def test_a_throttled_account_is_reported_and_the_others_read(verify, grant, accounts, monkeypatch):
    monkeypatch.setattr(aws, "AUDIT_MAX_ATTEMPTS", 2)
    emulator_apply(expected_for(grant))
    throttled = accounts[0].account_id
    THROTTLED.add(throttled)

    check = verify(grant)

    assert check.state == GrantCheck.State.UNREADABLE
    [unreadable] = check.accounts_in("unreadable")
    assert unreadable["account_id"] == throttled
    assert unreadable["reason"] == "throttled"
    assert "Throttling" in unreadable["message"]
    assert len(check.accounts_in("matches")) == 2
    truth = _truth(grant)
    assert truth.code == "unverified"
    assert truth.in_aws is None  # never guessed
    assert f"{throttled} (throttled)" in truth.detail


def test_an_account_denying_the_audit_role_is_reported(
    verify, grant, accounts, endpoint, monkeypatch
):
    emulator_apply(expected_for(grant))
    denied = accounts[1].account_id
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
        check = verify(grant)

    [unreadable] = check.accounts_in("unreadable")
    assert (unreadable["account_id"], unreadable["reason"]) == (denied, "access_denied")
    assert check.state == GrantCheck.State.UNREADABLE
    assert _truth(grant).code == "unverified"


def test_an_access_key_the_portal_did_not_issue_is_drift(verify, vendor, engineer, accounts, db):
    substrate = AwsAccount.objects.create(
        account_id="123456789012", name="admin", account_type="substrate", status="active"
    )
    grant = merged_grant(
        vendor, engineer, accounts[:1], strategy=Strategy.IAM_USER, external_id="", principals=[]
    )
    emulator_apply(expected_for(grant))
    iam = aws.aws_client("iam")
    issued = iam.create_access_key(UserName=vendor.slug)["AccessKey"]["AccessKeyId"]
    AccessKey.objects.create(
        access_request=grant, user_name=vendor.slug, access_key_id=issued, status="active"
    )
    assert verify(grant).state == GrantCheck.State.MATCHES

    by_hand = iam.create_access_key(UserName=vendor.slug)["AccessKey"]["AccessKeyId"]
    check = verify(grant)

    assert check.state == GrantCheck.State.DIFFERS
    [account] = [a for a in check.accounts if a["account_id"] == substrate.account_id]
    [difference] = account["differences"]
    assert "was not issued by the portal" in difference
    assert by_hand not in difference  # masked, as everywhere on the pages
    assert by_hand[-4:] in difference


def test_the_command_prints_each_account_and_exits_1_on_drift(grant, accounts, capsys):
    emulator_apply(expected_for(grant))
    call_command("verify_grants")  # no drift: returns (exit 0)
    out = capsys.readouterr().out
    assert f"Request #{grant.pk} Orbit CI: Active (verified in AWS)" in out
    for account in accounts:
        assert f"  {account.account_id}  matches" in out

    aws.emulator_role_delete(accounts[0].account_id, ROLE)
    with pytest.raises(SystemExit) as drift:
        call_command("verify_grants", "--request", str(grant.pk))
    assert drift.value.code == 1
    out = capsys.readouterr().out
    assert f"  {accounts[0].account_id}  absent" in out
    assert "1 drifted" in out


def test_a_run_shows_its_progress_and_outcome(grant, accounts):
    emulator_apply(expected_for(grant))
    run = VerificationRun.objects.create(kind=VerificationRun.Kind.GRANTS, trigger="test")

    verify_grants(None, run=run)

    run.refresh_from_db()
    assert run.status == VerificationRun.Status.SUCCEEDED
    assert (run.accounts_done, run.accounts_total) == (3, 3)
    assert run.outcome == {"matches": 1}
    assert run.percent == 100


def test_an_external_id_is_required_by_what_is_applied(grant, accounts):
    # The emulator's copy is what the grant asked for: the ExternalId condition included.
    emulator_apply(expected_for(grant))
    [statement] = _trust_of(accounts[0].account_id)["Statement"]
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}
