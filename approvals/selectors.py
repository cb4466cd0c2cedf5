"""Reads of the request workflow for security's dashboard."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce

from approvals.models import DOCUMENT_FIELDS, AccessRequest, ExtensionApproval


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
