"""Reads for security's dashboard: what failed and waits for someone (DESIGN.md section 9)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, F, OuterRef, Q, Subquery, When
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
    not tried again since), newest first, at most `limit`: one query (the latest revocation
    row of each request read alongside it). A failed key is in
    `keys.selectors.access_keys_needing_attention`."""
    latest_revocation = PullRequest.objects.filter(
        access_request=OuterRef("pk"), purpose=PullRequest.Purpose.REVOKE
    ).order_by("-pk")
    provisioning_failed = Q(status=AccessRequest.Status.FAILED)
    rows = (
        AccessRequest.objects.annotate(
            revocation_state=Subquery(latest_revocation.values("state")[:1]),
            revocation_error=Subquery(latest_revocation.values("last_error")[:1]),
            revocation_at=Subquery(latest_revocation.values("updated_at")[:1]),
        )
        .filter(provisioning_failed | Q(revocation_state=PullRequest.State.FAILED))
        .annotate(
            failed_at=Case(
                When(provisioning_failed, then=F("updated_at")), default=F("revocation_at")
            )
        )
        .defer(*DOCUMENT_FIELDS)
        .select_related("vendor")
        .order_by("-failed_at", "-pk")[:limit]
    )
    return [
        Failure(r.pk, r.vendor.name, _("provisioning failed"), r.updated_at)
        if r.status == AccessRequest.Status.FAILED
        else Failure(
            r.pk,
            r.vendor.name,
            _("revocation failed: the access is still granted"),
            r.revocation_at,
            r.revocation_error or "",
        )
        for r in rows
    ]


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
