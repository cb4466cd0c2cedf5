"""provisioning.aws reading IAM back from the organization's accounts as their audit role,
against the AWS emulator as a separate server (real boto3 calls over HTTP, nothing mocked).

Failures are made by the emulator itself: AccessDenied through moto's IAM policy enforcement
(process-global, so those tests switch it on only around the read and always off again), and
Throttling through a tiny WSGI layer in front of moto's own application.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from provisioning import aws
from provisioning.aws import (
    aws_client,
    read_accounts,
    read_roles,
    read_user,
    scan_account_roles,
    scan_accounts,
)
from provisioning.substrate.observed import AccountUnreadable, ObservedRole, ObservedUser
from tests.fakes.aws_server import (
    MANAGEMENT,
    READ_ONLY,
    THROTTLED,
    Enforced,
    admin_iam,
    emulator_endpoint,
)
from tests.fakes.aws_server import organization as _organization
from tests.fakes.aws_server import trust as _trust
from tests.services import free_port

pytestmark = pytest.mark.pure

VENDOR = "arn:aws:iam::999988887777:role/VendorReader"


@pytest.fixture
def endpoint(settings) -> Iterator[str]:
    with emulator_endpoint(settings) as url:
        yield url


@pytest.fixture
def accounts(endpoint) -> list[str]:
    return _organization(3)


def _vendor_role(account_id: str) -> None:
    iam = admin_iam(account_id)
    iam.create_role(
        RoleName="AcmeBilling",
        AssumeRolePolicyDocument=json.dumps(_trust(VENDOR, external_id="ext-123")),
        Tags=[{"Key": "Vendor", "Value": "acme"}, {"Key": "VendorAccessRequest", "Value": "REQ-7"}],
    )
    arn = iam.create_policy(
        PolicyName="BillingRead",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "ce:Get*", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="AcmeBilling", PolicyArn=arn)
    iam.put_role_policy(
        RoleName="AcmeBilling",
        PolicyName="acme",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )


def test_a_role_is_read_with_trust_attachments_inline_policies_and_tags(accounts):
    account = accounts[1]
    _vendor_role(account)

    role, missing = read_roles(account, ["AcmeBilling", "NoSuchRole"])

    assert isinstance(role, ObservedRole)
    assert role.account_id == account
    assert role.exists
    assert role.trust_policy == _trust(VENDOR, external_id="ext-123")
    assert role.attached_policy_arns == {f"arn:aws:iam::{account}:policy/BillingRead"}
    assert role.inline_policies == {
        "acme": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
        }
    }
    assert role.tags == {"Vendor": "acme", "VendorAccessRequest": "REQ-7"}
    assert role.last_used_at is None  # nobody has used the vendor's role
    assert missing == ObservedRole(account_id=account, name="NoSuchRole", exists=False)
    # The role is read in its own account: the management account has no such role.
    [elsewhere] = read_roles(accounts[0], ["AcmeBilling"])
    assert elsewhere == ObservedRole(account_id=accounts[0], name="AcmeBilling", exists=False)


def test_the_audit_role_shows_its_own_last_use(accounts):
    # Reading through the Auditor uses it in that account, which RoleLastUsed records.
    read_roles(accounts[0], ["Auditor"])
    [auditor] = read_roles(accounts[0], ["Auditor"])
    assert isinstance(auditor, ObservedRole)
    assert auditor.last_used_at is not None
    assert isinstance(auditor.last_used_region, str)  # moto records no region
    assert auditor.inline_policies == {"Read": READ_ONLY}


def test_the_audit_role_path_and_name_come_from_the_settings(accounts, settings):
    iam = admin_iam(accounts[0])
    iam.create_role(
        RoleName="PortalReader",
        Path="/portal/",
        AssumeRolePolicyDocument=json.dumps(_trust(f"arn:aws:iam::{MANAGEMENT}:root")),
    )
    settings.AWS_AUDIT_ROLE_NAME = "PortalReader"
    settings.AWS_AUDIT_ROLE_PATH = "/portal/"
    assert (
        aws.audit_role_arn("210987654321") == "arn:aws:iam::210987654321:role/portal/PortalReader"
    )

    [reader] = read_roles(accounts[0], ["PortalReader"])

    assert isinstance(reader, ObservedRole)
    assert reader.last_used_at is not None  # the reader itself made the calls


def test_a_user_is_read_with_policies_and_key_ids_only(accounts):
    account = accounts[2]
    iam = admin_iam(account)
    iam.create_user(UserName="acme", Tags=[{"Key": "Vendor", "Value": "acme"}])
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="acme", PolicyName="acme", PolicyDocument=json.dumps(policy))
    arn = iam.create_policy(PolicyName="Extra", PolicyDocument=json.dumps(READ_ONLY))["Policy"]
    iam.attach_user_policy(UserName="acme", PolicyArn=arn["Arn"])
    keys = [iam.create_access_key(UserName="acme")["AccessKey"] for _ in range(2)]

    user = read_user(account, "acme")

    assert isinstance(user, ObservedUser)
    assert user.exists
    assert user.inline_policies == {"acme": policy}
    assert user.attached_policy_arns == {arn["Arn"]}
    assert user.access_key_ids == {key["AccessKeyId"] for key in keys}
    assert user.tags == {"Vendor": "acme"}
    assert not any(key["SecretAccessKey"] in repr(user) for key in keys)
    assert read_user(account, "nobody") == ObservedUser(
        account_id=account, name="nobody", exists=False
    )


def test_the_scan_reads_every_page_of_roles_with_their_trust(accounts, monkeypatch):
    account = accounts[0]
    iam = admin_iam(account)
    for n in range(7):
        iam.create_role(
            RoleName=f"Role{n}",
            AssumeRolePolicyDocument=json.dumps(_trust(f"arn:aws:iam::{n:012d}:root")),
        )
    monkeypatch.setattr(aws, "SCAN_PAGE_SIZE", 2)

    roles = scan_account_roles(account)

    assert isinstance(roles, list)
    names = [role.name for role in roles]
    # Auditor, OrganizationAccountAccessRole and the seven: five pages of two.
    assert sorted(names) == sorted(
        ["Auditor", "OrganizationAccountAccessRole", *(f"Role{n}" for n in range(7))]
    )
    by_name = {role.name: role for role in roles}
    assert by_name["Role3"].trust_policy == _trust("arn:aws:iam::000000000003:root")
    assert all(role.account_id == account and role.exists for role in roles)


def test_many_accounts_are_read_concurrently_with_progress(endpoint):
    accounts = _organization(12)
    for account_id in accounts[::3]:
        _vendor_role(account_id)
    calls: list[tuple[int, int]] = []
    threads: set[str] = set()

    def progress(done: int, total: int) -> None:
        calls.append((done, total))
        threads.add(threading.current_thread().name)

    results = read_accounts(
        {account_id: ["AcmeBilling", "Auditor"] for account_id in accounts},
        max_workers=4,
        progress=progress,
    )

    assert list(results) == accounts
    for n, account_id in enumerate(accounts):
        vendor, auditor = results[account_id]
        assert isinstance(vendor, ObservedRole)
        assert isinstance(auditor, ObservedRole)
        assert vendor.exists == (n % 3 == 0)
        assert auditor.exists
        assert auditor.account_id == account_id
    assert calls == [(done, 12) for done in range(1, 13)]
    assert threads == {threading.current_thread().name}  # progress runs in the caller

    scanned = scan_accounts(accounts, max_workers=4)
    assert list(scanned) == accounts
    assert all(isinstance(roles, list) and len(roles) >= 2 for roles in scanned.values())


def test_throttling_in_one_account_is_reported_for_that_account_only(accounts, monkeypatch):
    monkeypatch.setattr(aws, "AUDIT_MAX_ATTEMPTS", 2)  # boto3 backs off between attempts
    throttled = accounts[1]
    THROTTLED.add(throttled)

    results = read_accounts({account_id: ["Auditor", "Other"] for account_id in accounts})

    first, second = results[throttled]
    assert isinstance(first, AccountUnreadable)
    assert first.reason == "throttled"
    assert (
        first.message == f"AWS GetRole Auditor in account {throttled} failed: Throttling (HTTP 400)"
    )
    assert second == first  # the account's other roles are not tried after the retries
    for account_id in (accounts[0], accounts[2]):
        auditor, other = results[account_id]
        assert isinstance(auditor, ObservedRole)
        assert auditor.exists
        assert other == ObservedRole(account_id=account_id, name="Other", exists=False)
    scanned = scan_accounts(accounts)
    scan_throttled = scanned[throttled]
    assert isinstance(scan_throttled, AccountUnreadable)
    assert scan_throttled.reason == "throttled"
    assert isinstance(scanned[accounts[0]], list)


def test_unreachable_endpoint_is_reported_per_account(settings, monkeypatch):
    monkeypatch.setattr(aws, "AUDIT_MAX_ATTEMPTS", 1)
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    results = read_accounts({"111111111111": ["Auditor"], "222222222222": []})

    [unreadable] = results["111111111111"]
    assert isinstance(unreadable, AccountUnreadable)
    assert unreadable.reason == "unreachable"
    assert unreadable.message.startswith(
        "AWS AssumeRole arn:aws:iam::111111111111:role/Auditor in account 111111111111 "
        "got no answer"
    )
    assert results["222222222222"] == []


def test_access_denied_on_assume_or_on_read_is_reported_per_account(
    accounts, endpoint, monkeypatch
):
    readable, no_assume, no_read = accounts
    # The third account's Auditor may not read IAM: a Deny on top of the read-only policy.
    admin_iam(no_read).put_role_policy(
        RoleName="Auditor",
        PolicyName="Deny",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Deny", "Action": "iam:*", "Resource": "*"}],
            }
        ),
    )
    enforced = Enforced(endpoint, monkeypatch)
    secret = enforced.portal_user(
        [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": "sts:AssumeRole",
                "Resource": f"arn:aws:iam::{no_assume}:role/Auditor",
            },
        ]
    )
    with enforced:
        results = read_accounts({account_id: ["Auditor"] for account_id in accounts})
        scanned = scan_accounts(accounts)

    [denied] = results[no_assume]
    assert denied == AccountUnreadable(
        account_id=no_assume,
        reason="access_denied",
        message=(
            f"AWS AssumeRole arn:aws:iam::{no_assume}:role/Auditor in account {no_assume} "
            "failed: AccessDenied (HTTP 403)"
        ),
    )
    [read_denied] = results[no_read]
    assert isinstance(read_denied, AccountUnreadable)
    assert read_denied.reason == "access_denied"
    assert read_denied.message.startswith(f"AWS GetRole Auditor in account {no_read} failed: ")
    [auditor] = results[readable]
    assert isinstance(auditor, ObservedRole)
    assert auditor.exists
    assert isinstance(scanned[readable], list)
    assert isinstance(scanned[no_assume], AccountUnreadable)
    scan_denied = scanned[no_read]
    assert isinstance(scan_denied, AccountUnreadable)
    assert scan_denied.message.startswith(f"AWS ListRoles in account {no_read} failed: ")
    for result in (denied, read_denied, scanned[no_assume], scanned[no_read]):
        assert secret not in repr(result)


def test_the_audit_role_is_assumed_through_the_entry_role(
    accounts, endpoint, settings, monkeypatch
):
    # Like Substrate: only the management account's Auditor may assume the members' Auditor,
    # and the portal itself may assume nothing but that first hop.
    entry = f"arn:aws:iam::{MANAGEMENT}:role/Auditor"
    iam = aws_client("iam")
    # moto checks a trust policy only for a role of the caller's own account, and does not
    # read ":root" as "any principal of the account": the entry role trusts the user by name.
    iam.create_role(
        RoleName="Auditor",
        AssumeRolePolicyDocument=json.dumps(_trust(f"arn:aws:iam::{MANAGEMENT}:user/portal")),
    )
    iam.put_role_policy(
        RoleName="Auditor",
        PolicyName="Hop",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
            }
        ),
    )
    enforced = Enforced(endpoint, monkeypatch)
    enforced.portal_user([{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": entry}])
    with enforced:
        direct = read_accounts({accounts[0]: ["Auditor"]})
        settings.AWS_AUDIT_ENTRY_ROLE_ARN = entry
        chained = read_accounts({account_id: ["Auditor"] for account_id in accounts})
        settings.AWS_AUDIT_ENTRY_ROLE_ARN = f"arn:aws:iam::{MANAGEMENT}:role/Elsewhere"
        no_entry = read_accounts({account_id: ["Auditor"] for account_id in accounts[:2]})
        no_entry_user = read_user(accounts[0], "acme")

    [denied] = direct[accounts[0]]
    assert isinstance(denied, AccountUnreadable)
    assert denied.reason == "access_denied"
    for account_id in accounts:
        [auditor] = chained[account_id]
        assert isinstance(auditor, ObservedRole)
        assert auditor.exists
    for account_id in accounts[:2]:
        [unreadable] = no_entry[account_id]
        assert unreadable == AccountUnreadable(
            account_id=account_id,
            reason="access_denied",
            message=(
                f"AWS AssumeRole arn:aws:iam::{MANAGEMENT}:role/Elsewhere (entry role) in account "
                f"{MANAGEMENT} failed: AccessDenied (HTTP 403)"
            ),
        )
    assert isinstance(no_entry_user, AccountUnreadable)
    assert no_entry_user.account_id == accounts[0]
