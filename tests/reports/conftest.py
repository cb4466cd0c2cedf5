"""A small organization for the report tests: two accounts, a reviewed vendor with a live grant
and review details, and a vendor whose text tries formula injection.

`history` records the moment between the first state and the changes made after it (a tier
override, a revocation), so tests can ask for the report as of before the changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from accessportal.roles import Role
from approvals import decisions
from approvals import requests as request_services
from approvals.models import AccessRequest, Approval
from approvals.workflow import transition
from fulfilment import revocation
from fulfilment.models import PullRequest
from inventory.models import AwsAccount
from tests.vendors.helpers import complete_review, vendor_data
from vendors import services as vendor_services
from vendors.models import Vendor

INJECTION_NAME = '=HYPERLINK("http://evil.example/x","Click")'
INJECTION_LEGAL = "+cmd|' /C calc'!A0"
INJECTION_SERVICE = "@SUM(1+1)"
INJECTION_PURPOSE = "-2+3"


@dataclass
class Org:
    engineer: Any
    security: Any
    security2: Any
    auditor: Any
    orbit: Vendor
    evil: Vendor
    grant: AccessRequest
    other_grant: AccessRequest
    staging: AwsAccount
    production: AwsAccount
    before_changes: datetime | None = None


def _account(account_id: str, environment: str, quality: str) -> AwsAccount:
    return AwsAccount.objects.create(
        account_id=account_id,
        name=f"payments-{environment}",
        account_type="service",
        domain="payments",
        environment=environment,
        quality=quality,
        status="active",
    )


def make_live(
    access_request: AccessRequest, approvers: list[Any], number: int, *, enqueue: bool = True
) -> AccessRequest:
    """Approves a submitted request and walks it to active the way fulfilment does (the
    fulfilment itself is tested in tests/approvals).

    With `enqueue=False` (transactional tests, where the provisioning job would run at once
    against a repository that does not exist) the approvals are recorded and the request
    moved to approved without the decision service's job.
    """
    for approver in approvers:
        if enqueue:
            decisions.request_approve(
                request_id=access_request.pk,
                approver=approver,
                mfa_verified=True,
                comment="Looks fine.",
            )
        else:
            Approval.objects.create(
                access_request=access_request,
                approver=approver,
                decision="approve",
                comment="Looks fine.",
                mfa_verified=True,
            )
    access_request.refresh_from_db()
    if not enqueue:
        transition(access_request, to="approved", actor=approvers[-1], action="request.approve")
    transition(access_request, to="provisioning", actor=None, action="request.provision")
    PullRequest.objects.create(
        access_request=access_request,
        forge="local",
        number=number,
        branch=f"vendor-access/req-{access_request.pk}",
        base="main",
        state="merged",
        title="t",
        url=f"http://forge.example/pulls/{number}",
    )
    transition(access_request, to="pr_open", actor=None, action="request.pr_open")
    transition(access_request, to="active", actor=None, action="request.activate")
    return access_request


def submitted_request(vendor: Vendor, engineer: Any, **overrides: Any) -> AccessRequest:
    data = {
        "vendor": vendor,
        "strategy": "role_per_account",
        "principals": "arn:aws:iam::123456789012:role/VendorScanner",
        "external_id": "",
        "domains": ["payments"],
        "environments": ["*"],
        "qualities": ["*"],
        "role_name": "",
        "policy_source": "managed",
        "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "justification": "Nightly scan.",
        "expires_on": timezone.localdate() + timedelta(days=20),
        **overrides,
    }
    saved = request_services.request_save(actor=engineer, data=data)
    return request_services.request_submit(request_id=saved.pk, actor=engineer)


@pytest.fixture
def org(make_user, request: pytest.FixtureRequest) -> Org:
    marker = request.node.get_closest_marker("django_db")
    enqueue = not (marker and marker.kwargs.get("transaction"))
    engineer = make_user("erin", first_name="Erin")
    security = make_user("sam", Role.SECURITY, is_staff=True)
    security2 = make_user("sasha", Role.SECURITY, is_staff=True)
    auditor = make_user("ari", Role.AUDITORS)
    staging = _account("111122223333", "staging", "alpha")
    production = _account("444455556666", "production", "default")

    orbit = vendor_services.vendor_create(
        actor=engineer,
        data=vendor_data(
            engineer,
            legal_name="Orbit CI, Inc.",
            storage_regions="eu-west-1",
            fourth_parties="AWS\nCloudflare",
            dpa_version="v3",
        ),
    )
    review = vendor_services.review_start(vendor_id=orbit.pk, actor=engineer)
    vendor_services.review_add_detail(
        review_id=review.pk,
        actor=engineer,
        kind="exception",
        data={
            "description": "Two terminated users kept access for 9 days.",
            "vendor_response": "Automated offboarding since May.",
            "relevant": True,
            "disposition": "mitigated",
        },
    )
    vendor_services.review_add_detail(
        review_id=review.pk,
        actor=engineer,
        kind="cuec",
        data={"description": "Customers review access yearly.", "mapped_control": "", "owner": ""},
    )
    vendor_services.review_add_detail(
        review_id=review.pk,
        actor=engineer,
        kind="subservice",
        data={"name": "Amazon Web Services", "service": "hosting", "method": "carve_out"},
    )
    complete_review(review, engineer)
    vendor_services.review_submit(review_id=review.pk, actor=engineer)
    vendor_services.review_decide(
        review_id=review.pk,
        actor=security2,
        decision="conditional",
        conditions="Map the CUEC.",
        mfa_verified=True,
    )

    evil = vendor_services.vendor_create(
        actor=engineer,
        data=vendor_data(
            engineer,
            name=INJECTION_NAME,
            slug="evil-formula",
            legal_name=INJECTION_LEGAL,
            service=INJECTION_SERVICE,
            purpose=INJECTION_PURPOSE,
            data_sensitivity="internal",
            access_level="read",
            criticality="low",
        ),
    )
    grant = make_live(submitted_request(orbit, engineer), [security], number=1, enqueue=enqueue)
    other_grant = make_live(
        submitted_request(orbit, engineer, strategy="auditor", principals="123456789012"),
        [security],
        number=2,
        enqueue=enqueue,
    )
    return Org(
        engineer, security, security2, auditor, orbit, evil, grant, other_grant, staging, production
    )


@pytest.fixture
def history(org: Org) -> Org:
    """`org`, then a tier override and a revocation after `org.before_changes`."""
    org.before_changes = timezone.now()
    vendor_services.vendor_update(
        vendor_id=org.orbit.pk,
        actor=org.security,
        data={"tier_override": "critical", "tier_override_reason": "Deploys to production."},
        mfa_verified=True,
    )
    revocation.request_revoke(
        request_id=org.grant.pk, actor=org.security, mfa_verified=True, reason="No longer used."
    )
    return org
