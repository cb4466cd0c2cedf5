"""Reads for security's dashboard: what failed and waits for someone (DESIGN.md section 9)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from approvals.models import DOCUMENT_FIELDS, AccessRequest, ExtensionApproval
from fulfilment.models import PullRequest
from fulfilment.models.pullrequests import UNAPPROVED_HEAD


@dataclass(frozen=True)
class Failure:
    request_id: int
    vendor_name: str
    what: str
    when: datetime
    error: str = ""


def failures_needing_attention(limit: int = 10) -> list[Failure]:
    """Requests whose provisioning failed and revocations whose pull request failed (and was
    not tried again since), newest first: two queries, each bounded by `limit`. A failed key
    is in `keys.selectors.access_keys_needing_attention`."""
    provisioning = (
        AccessRequest.objects.filter(status=AccessRequest.Status.FAILED)
        .defer(*DOCUMENT_FIELDS)
        .select_related("vendor")
        .order_by("-updated_at")[:limit]
    )
    newer_revocation = PullRequest.objects.filter(
        access_request=OuterRef("access_request"),
        purpose=PullRequest.Purpose.REVOKE,
        pk__gt=OuterRef("pk"),
    )
    revocations = (
        PullRequest.objects.filter(
            purpose=PullRequest.Purpose.REVOKE, state=PullRequest.State.FAILED
        )
        .exclude(Exists(newer_revocation))
        .select_related("access_request__vendor")
        .defer(*(f"access_request__{name}" for name in DOCUMENT_FIELDS))
        .order_by("-updated_at")[:limit]
    )
    failures = [
        Failure(r.pk, r.vendor.name, _("provisioning failed"), r.updated_at) for r in provisioning
    ] + [
        Failure(
            row.access_request_id,
            row.access_request.vendor.name,
            _("revocation failed: the access is still granted"),
            row.updated_at,
            row.last_error,
        )
        for row in revocations
    ]
    return sorted(failures, key=lambda f: f.when, reverse=True)[:limit]


@dataclass(frozen=True)
class MergeToReview:
    request_id: int
    vendor_name: str
    what: str
    when: datetime


def _merge_to_review_what(row: PullRequest) -> str:
    if row.access_request.status == AccessRequest.Status.MERGE_MISMATCH:
        return _("the grant was merged with a commit nobody approved: not active until reviewed")
    if row.purpose == PullRequest.Purpose.REVOKE:
        return _("the revocation was merged with a commit nobody approved: review the repository")
    return _("the grant was merged with a commit nobody approved: review the repository")


def merges_needing_review(limit: int = 10) -> list[MergeToReview]:
    """Pull requests merged with a head other than the approved commit that security has not
    reviewed yet, oldest first (one query): grants, whose request is not active until then
    (or was revoked meanwhile), and revocations, after which the repository may hold more
    than the revocation."""
    rows = (
        PullRequest.objects.filter(state=PullRequest.State.MERGED, head_reviewed_at__isnull=True)
        .filter(UNAPPROVED_HEAD)
        .select_related("access_request__vendor")
        .defer(*(f"access_request__{name}" for name in DOCUMENT_FIELDS))
        .order_by("updated_at")[:limit]
    )
    return [
        MergeToReview(
            row.access_request_id,
            row.access_request.vendor.name,
            _merge_to_review_what(row),
            row.updated_at,
        )
        for row in rows
    ]


def extensions_awaiting_decision(viewer: Any, limit: int = 10) -> list[AccessRequest]:
    """Extension asks still short of their quorum, oldest end date first, each with
    `extension_approval_count` (this ask's approvals); the viewer's own requests and those
    the viewer already approved for this ask are left out (nothing for them to do)."""
    this_ask = ExtensionApproval.objects.filter(
        access_request=OuterRef("pk"), extension_round=OuterRef("extension_round")
    )
    approved_by_viewer = this_ask.filter(approver=viewer.pk)
    count = (
        this_ask.values("access_request").annotate(n=Count("approver", distinct=True)).values("n")
    )
    return list(
        AccessRequest.objects.filter(extension_until__isnull=False)
        .exclude(requester=viewer.pk)
        .exclude(Exists(approved_by_viewer))
        .defer(*DOCUMENT_FIELDS)
        .select_related("vendor", "requester")
        .annotate(extension_approval_count=Coalesce(Subquery(count), 0))
        .order_by("expires_on", "pk")[:limit]
    )
