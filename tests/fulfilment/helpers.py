"""Helpers of the fulfilment tests (and of the tests of other apps that provision through
them): a reviewed vendor, a submitted or approved request, and what to read back."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.utils import timezone
from dulwich.objects import Commit
from dulwich.repo import Repo

from accessportal.roles import Role
from approvals import decisions
from approvals import requests as services
from approvals.models import AccessRequest
from audit.models import AuditEvent
from fulfilment.models import PullRequest
from tests.fixtures.substrate_repo import FixtureRepo
from tests.vendors.helpers import complete_review, vendor_data
from vendors import services as vendor_services

TOKEN = "ghs_SECRETtoken1234567890"
ROLE = "arn:aws:iam::123456789012:role/VendorScanner"
POLICY_FILE = "policies/orbit-ci.assume-role-policy.json"


def vendor_reviewed(engineer, make_user, **overrides):
    return reviewed_vendor(engineer, make_user("rita", Role.SECURITY), **overrides)


def reviewed_vendor(engineer, reviewer, **overrides):
    """A vendor of `engineer`'s whose SOC 2 review `reviewer` approved."""
    vendor = vendor_services.vendor_create(
        actor=engineer, data={**vendor_data(engineer), **overrides}
    )
    review = vendor_services.review_start(vendor_id=vendor.pk, actor=engineer)
    complete_review(review, engineer)
    vendor_services.review_submit(review_id=review.pk, actor=engineer)
    vendor_services.review_decide(
        review_id=review.pk, actor=reviewer, decision="approved", mfa_verified=True
    )
    return vendor


def submitted(engineer, vendor, target) -> AccessRequest:
    """A low-risk request of `vendor` for the account `target`, submitted for approval."""
    r = services.request_save(
        actor=engineer,
        data={
            "vendor": vendor,
            "strategy": "role_per_account",
            "principals": ROLE,
            "external_id": "",
            "domains": [target.domain],
            "environments": [target.environment],
            "qualities": [target.quality],
            "role_name": "",
            "policy_source": "managed",
            "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
            "justification": "Nightly scan.",
            "expires_on": timezone.localdate() + timedelta(days=30),
        },
    )
    return services.request_submit(request_id=r.pk, actor=engineer)


def approved(engineer, security, make_user, substrate: FixtureRepo, **vendor) -> AccessRequest:
    """A low-risk request for one non-production account of the substrate, approved."""
    target = next(
        a for a in substrate.accounts if a.type == "service" and a.environment != "production"
    )
    r = submitted(engineer, vendor_reviewed(engineer, make_user, **vendor), target)
    r = decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=True)
    assert r.status == "approved"
    return r


def status(r: AccessRequest) -> str:
    return AccessRequest.objects.get(pk=r.pk).status


def actions(r: AccessRequest) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_id=str(r.pk), action__startswith="request.")
        .order_by("sequence")
        .values_list("action", flat=True)
    )


def tree_paths(repo_path: Path, sha: str) -> dict[str, bytes]:
    with Repo(str(repo_path)) as repo:
        commit = repo[sha.encode()]
        assert isinstance(commit, Commit)
        return {
            e.path.decode(): repo[e.sha].as_raw_string()
            for e in repo.object_store.iter_tree_contents(commit.tree)
            if e.path is not None and e.sha is not None
        }


# --- GitHub's webhook deliveries ---------------------------------------------------------

SECRET = "whsec-0123456789abcdef-SECRET"
URL = "/webhooks/github/"


def sign(body: bytes, key: str = SECRET) -> str:
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def closed_payload(
    number: int, *, merged: bool, repository: str | None = None, head_sha: str | None = None
) -> bytes:
    """GitHub's delivery; the head is the row's approved commit unless `head_sha` says."""
    if head_sha is None:
        rows = PullRequest.objects.filter(forge="github", number=number)
        head_sha = rows.values_list("approved_sha", flat=True).first() or ""
    payload: dict[str, Any] = {
        "action": "closed",
        "number": number,
        "pull_request": {
            "number": number,
            "state": "closed",
            "merged": merged,
            "merge_commit_sha": "a" * 40 if merged else None,
            "head": {"ref": "vendor-access/x", "sha": head_sha},
        },
        "repository": {"full_name": repository or django_settings.FORGE_REPOSITORY},
    }
    return json.dumps(payload).encode()


def deliver(
    client,
    body: bytes,
    *,
    event: str = "pull_request",
    delivery: str | None = None,
    signature: str | None = "sign",
):
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4())}
    if signature == "sign":
        headers["X-Hub-Signature-256"] = sign(body)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return client.post(URL, data=body, content_type="application/json", headers=headers)


def activations(r: AccessRequest) -> int:
    return actions(r).count("request.activate")
