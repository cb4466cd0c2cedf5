"""Merged grants in the database and an organization in the AWS emulator, for verification.

The requests are made straight in the database (their journey through approval and merge is
tested in tests/fulfilment and tests/integration): what matters here is what AWS holds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from approvals.models import AccessRequest, Status, Strategy
from fulfilment.models import PullRequest
from inventory.models import AwsAccount
from tests.fakes.aws_server import organization

VENDOR_PRINCIPAL = "arn:aws:iam::999988887777:root"
EXTERNAL_ID = "orbit-ext-7f3a9c"
READ_BILLING = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["ce:GetCostAndUsage"], "Resource": "*"}],
}


def inventory(count: int) -> list[AwsAccount]:
    """`count` emulated member accounts (each with its Auditor role), in the inventory as
    service accounts of the payments domain."""
    rows = []
    for n, account_id in enumerate(organization(count)):
        rows.append(
            AwsAccount.objects.create(
                account_id=account_id,
                name=f"payments-env{n}-alpha",
                account_type="service",
                domain="payments",
                environment=f"env{n}",
                quality="alpha",
                status="active",
            )
        )
    return rows


def merged_grant(
    vendor: Any,
    requester: Any,
    accounts: list[AwsAccount],
    *,
    strategy: str = Strategy.ROLE_PER_ACCOUNT,
    status: str = Status.ACTIVE,
    dialect: str = "terraform",
    **fields: Any,
) -> AccessRequest:
    """A request whose grant pull request merged, for `accounts`."""
    values: dict[str, Any] = {
        "principals": [VENDOR_PRINCIPAL],
        "external_id": EXTERNAL_ID,
        "role_name": "OrbitCIReadOnly",
        "policy_source": AccessRequest.PolicySource.INLINE,
        "inline_policy": READ_BILLING,
        "expires_on": timezone.localdate() + timedelta(days=90),
        **fields,
    }
    access_request = AccessRequest.objects.create(
        vendor=vendor, requester=requester, strategy=strategy, status=status, **values
    )
    access_request.target_accounts.set(accounts)
    PullRequest.objects.create(
        access_request=access_request,
        forge="local",
        purpose=PullRequest.Purpose.GRANT,
        number=access_request.pk,
        branch=f"vendor-access/{access_request.pk}",
        base="main",
        state=PullRequest.State.MERGED,
        dialect=dialect,
    )
    return access_request


def merged_removal(access_request: AccessRequest) -> None:
    """The request revoked and its removal pull request merged."""
    AccessRequest.objects.filter(pk=access_request.pk).update(status=Status.REVOKED)
    PullRequest.objects.create(
        access_request=access_request,
        forge="local",
        purpose=PullRequest.Purpose.REVOKE,
        number=access_request.pk + 1000,
        branch=f"vendor-access/{access_request.pk}-revoke",
        base="main",
        state=PullRequest.State.MERGED,
    )
    access_request.refresh_from_db()
