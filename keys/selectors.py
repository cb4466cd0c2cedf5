"""Reads of access keys for the request and vendor pages (metadata only, never a secret)."""

from __future__ import annotations

from typing import Any

from approvals.models import DOCUMENT_FIELDS, AccessRequest, Strategy
from keys.models import KEY_CURRENT, AccessKey

KeyStatus = AccessKey.Status


def access_keys_for_request(access_request: AccessRequest) -> list[AccessKey]:
    """Every key of the request, newest first, with its delivery (one query)."""
    if access_request.strategy != Strategy.IAM_USER:
        return []
    return list(
        AccessKey.objects.filter(access_request=access_request)
        .select_related("delivery", "replaces")
        .order_by("-created_at", "-pk")
    )


def access_keys_for_vendor(vendor_id: int) -> Any:
    """The vendor's current keys across its requests, with last use (for the vendor page)."""
    return (
        AccessKey.objects.filter(access_request__vendor_id=vendor_id, status__in=KEY_CURRENT)
        .select_related("access_request", "delivery")
        .order_by("-created_at", "-pk")
    )


def access_keys_state(
    access_request: AccessRequest, rows: list[AccessKey] | None = None
) -> dict[str, Any]:
    """What the request page polls while a key is on its way: a fingerprint of the keys'
    states (it changes when anything shown changes) and whether it is still waiting."""
    if rows is None:
        rows = access_keys_for_request(access_request)
    parts = []
    waiting = not rows
    for row in rows:
        delivery = getattr(row, "delivery", None)
        delivery_state = delivery.state if delivery is not None else ""
        parts.append(f"{row.pk}:{row.status}:{delivery_state}:{row.last_error[:40]}")
        if row.status == KeyStatus.PENDING or delivery_state == "sending":
            waiting = True
    return {"fingerprint": "|".join(parts), "waiting": waiting}


def access_keys_needing_attention() -> Any:
    """For security's dashboard: keys that failed to issue, were flagged as unused, or are
    past the rotation age without a replacement under way."""
    from datetime import timedelta

    from django.conf import settings
    from django.db.models import Q
    from django.utils import timezone

    rotate_before = timezone.now() - timedelta(days=settings.PORTAL_KEY_ROTATE_DAYS)
    return (
        AccessKey.objects.filter(
            Q(status=KeyStatus.FAILED, delete_requested_at__isnull=True)
            | Q(status=KeyStatus.ACTIVE, unused_flagged_at__isnull=False)
            | Q(status=KeyStatus.ACTIVE, aws_created_at__lte=rotate_before, replacement=None)
        )
        .select_related("access_request__vendor")
        .defer(*(f"access_request__{name}" for name in DOCUMENT_FIELDS))
        .order_by("-updated_at", "-pk")
    )
