"""Demo data of the workflow for `make run`: an IAM-user grant, merged and applied, keyless.

The request is saved through the request service; its approvals, merged pull request and
activation are recorded as the workflow would have recorded them (audited transitions),
without queueing fulfilment: nothing runs Terraform, and the emulator already holds the IAM
user (`manage.py aws_emulator`). The worker's key poll then issues the key and e-mails the
one-time link to the vendor's key contact, so the key flow can be tried at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from approvals import requests as request_services
from approvals import rules
from approvals.models import AccessRequest, Approval, Strategy
from approvals.workflow import snapshot, transition
from audit.services import audit_record
from demo.aws_org import KEY_DEMO_VENDOR_SLUG, demo_accounts
from fulfilment.models import PullRequest
from inventory.models import AwsAccount
from provisioning.gitrepo import branch_name
from vendors.models import Vendor

Status = AccessRequest.Status


def seed_demo_inventory(account_ids: Callable[[], Mapping[str, str]]) -> int:
    """Puts the demo organization's accounts in the inventory before the first sync, so the
    demo's requests name real target accounts (an IAM-user grant for the web domain must know
    the web accounts to be verified in AWS). Only into an empty inventory, only against the
    emulator; the emulator's sync later finds the same ids. Returns how many were added."""
    if AwsAccount.objects.exists() or not settings.AWS_ENDPOINT_URL:
        return 0
    try:
        ids = account_ids()
    except ImportError:  # moto is not installed: the inventory waits for a sync
        return 0
    created = 0
    for account in demo_accounts():
        if account.name not in ids:
            continue
        AwsAccount.objects.create(
            account_id=ids[account.name],
            name=account.name,
            email=account.email,
            account_type=account.account_type,
            domain=account.tags.get("Domain", ""),
            environment=account.tags.get("Environment", ""),
            quality=account.tags.get("Quality", ""),
            tags=account.tags,
            status=AwsAccount.Status.ACTIVE,
        )
        created += 1
    return created


@transaction.atomic
def seed_demo_key_grant() -> AccessRequest | None:
    """Creates the demo vendor's active IAM-user request once; None when it exists already
    (or the demo vendor is missing)."""
    vendor = Vendor.objects.filter(slug=KEY_DEMO_VENDOR_SLUG).first()
    if vendor is None or vendor.access_requests.filter(strategy=Strategy.IAM_USER).exists():
        return None
    users = get_user_model().objects
    engineer, security, security2 = (
        users.get(username=u) for u in ("engineer", "security", "security2")
    )
    access_request = request_services.request_save(
        actor=engineer,
        data={
            "vendor": vendor,
            "strategy": Strategy.IAM_USER,
            "domains": ["web"],
            "environments": ["*"],
            "qualities": ["*"],
            "role_name": "RelayAlerts",
            "policy_source": AccessRequest.PolicySource.MANAGED,
            "managed_policy_arns": ["arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"],
            "justification": "Their paging service cannot assume roles: it reads CloudWatch "
            "alarms with an access key (demo data).",
            "expires_on": timezone.localdate() + timedelta(days=180),
        },
    )
    access_request.submitted_at = timezone.now()
    transition(
        access_request,
        to=Status.SUBMITTED,
        actor=engineer,
        action="request.submit",
        extra_fields=("submitted_at",),
        detail={"demo": True},
    )
    for approver in (security, security2):
        Approval.objects.create(
            access_request=access_request,
            approver=approver,
            decision=Approval.Decision.APPROVE,
            comment="Approved for the demo.",
            mfa_verified=True,
        )
    transition(access_request, to=Status.APPROVED, actor=security2, action="request.approve")
    transition(access_request, to=Status.PROVISIONING, actor=None, action="request.provision")
    highest = PullRequest.objects.filter(forge=PullRequest.Forge.LOCAL).aggregate(n=Max("number"))
    demo_commit = str((access_request.preview or {}).get("commit") or "")
    PullRequest.objects.create(
        access_request=access_request,
        forge=PullRequest.Forge.LOCAL,
        number=(highest["n"] or 0) + 1,
        branch=branch_name(access_request.pk, vendor.slug),
        base=settings.SUBSTRATE_DEFAULT_BRANCH,
        state=PullRequest.State.MERGED,
        title=f"Vendor access: {vendor.name} (request #{access_request.pk})",
        body="Demo data: merged and applied before the portal started.",
        # Merged as approved: the commit its change was generated against stands for the
        # approved one. Without it the request page would warn, in red, of a merged head nobody
        # approved on the very grant the README sends newcomers to first.
        approved_sha=demo_commit,
        merged_head_sha=demo_commit,
        # With no commit to compare (no demo repository), taken as it is, like rows merged
        # before heads were compared (migration 0014): not on the dashboard's attention list.
        head_reviewed_at=None if demo_commit else timezone.now(),
    )
    transition(access_request, to=Status.PR_OPEN, actor=None, action="request.pr_open")
    transition(
        access_request,
        to=Status.ACTIVE,
        actor=security,
        action="request.activate",
        detail={"demo": "merged and applied"},
    )
    return access_request


@transaction.atomic
def repair_demo_key_grant() -> AccessRequest | None:
    """Completes a demo IAM-user grant seeded by an earlier `seed_demo`, which saved it before
    the inventory and the demo repository existed: it named no account (0 accounts, an empty
    access-map row, "-" in the reports) and kept the error its preview met. Re-running keeps
    the data, so the grant is given its accounts and preview now, once (audited), and left
    alone when it has both. Returns the grant when it changed."""
    vendor = Vendor.objects.filter(slug=KEY_DEMO_VENDOR_SLUG).first()
    if vendor is None:
        return None
    access_request = (
        AccessRequest.objects.select_for_update()
        .filter(vendor=vendor, strategy=Strategy.IAM_USER, status=Status.ACTIVE)
        .order_by("pk")
        .first()
    )
    if access_request is None:
        return None
    before = snapshot(access_request)
    changed = False
    if not access_request.target_accounts.exists():
        accounts = list(request_services.target_accounts(access_request))
        if accounts:
            access_request.target_accounts.set(accounts)
            access_request.reaches = rules.reaches_of_accounts(accounts)
            access_request.save(update_fields=["reaches"])
            changed = True
    if (access_request.preview or {}).get("error") or not access_request.preview:
        preview = request_services.compute_preview(access_request)
        if "error" not in preview:
            access_request.preview = preview
            access_request.save(update_fields=["preview"])
            changed = True
    # Its pull request was seeded with no approved commit, which the request page reads as a
    # merge of a head nobody approved: the commit the change was generated against is that.
    demo_commit = str((access_request.preview or {}).get("commit") or "")
    if demo_commit and (
        PullRequest.objects.filter(
            access_request=access_request, state=PullRequest.State.MERGED, approved_sha=""
        ).update(approved_sha=demo_commit, merged_head_sha=demo_commit, head_reviewed_at=None)
    ):
        changed = True
    if not changed:
        return None
    audit_record(
        actor=None,
        action="request.demo_repair",
        obj=access_request,
        before=before,
        after={
            **snapshot(access_request),
            "accounts": sorted(access_request.target_accounts.values_list("account_id", flat=True)),
        },
    )
    return access_request
