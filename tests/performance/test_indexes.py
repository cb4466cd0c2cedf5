"""The dashboard's and the admin's request queries can use the indexes made for them.

On a test-sized table PostgreSQL prefers a sequential scan, so these tests switch sequential
scans off: what they prove is that an index *applies* (its columns and, for the partial index,
its condition match the query), which is what silently breaks when a query or a state list
changes on one side only.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.models import QuerySet

from approvals.models import LIVE_STATES, AccessRequest

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _plan(queryset: QuerySet[AccessRequest, Any]) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        return queryset.explain()


def test_the_partial_index_lists_exactly_the_live_states() -> None:
    index = next(i for i in AccessRequest._meta.indexes if i.name == "request_live_expiry_idx")
    assert index.condition is not None
    assert index.condition.children == [("status__in", list(LIVE_STATES))]


def test_grants_ending_soon_read_the_live_expiry_index() -> None:
    plan = _plan(
        AccessRequest.objects.filter(status__in=LIVE_STATES, expires_on__lte="2030-01-01")
        .order_by("expires_on")
        .values("pk")[:10]
    )
    assert "request_live_expiry_idx" in plan


def test_the_approval_queue_and_the_admin_list_read_their_indexes() -> None:
    queue = AccessRequest.objects.filter(status=AccessRequest.Status.SUBMITTED).order_by(
        "submitted_at"
    )
    assert "request_submitted_idx" in _plan(queue.values("pk")[:10])
    newest = AccessRequest.objects.order_by("-created_at", "-pk")
    assert "request_created_idx" in _plan(newest.values("pk")[:100])
