"""Reads for security's dashboard: what failed and waits for someone (DESIGN.md section 9)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _

from approvals.models import DOCUMENT_FIELDS, AccessRequest
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
