"""Reviews falling due remind the vendor's owner and security (issue 18).

Only the review that counts is considered: each active vendor's latest approved review (as in
`vendors.selectors.with_review_state`). When its `next_review_due` comes within
PORTAL_REVIEW_REMIND_DAYS, the `review_due` notice goes out once for that date
(`due_reminded_for` remembers it); on the first pass after the date has passed, the
`review_overdue` notice goes out once (`overdue_reminded_for`). A new decision sets a new date,
which reminds again.

Each review is handled in its own transaction, locked with `select_for_update(skip_locked=True)`
and checked again under the lock, so two workers running the pass at once send one notice.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from accessportal.effects import notify_vendor_on_commit
from accessportal.lifecycle import each_locked
from audit.services import audit_record
from vendors.models import REVIEW_LIFECYCLE, SubprocessorReview, Vendor


def _counting_reviews() -> QuerySet[SubprocessorReview]:
    """Each active vendor's latest approved review, the one whose due date counts."""
    latest = SubprocessorReview.objects.filter(
        vendor=OuterRef("vendor"), status__in=REVIEW_LIFECYCLE.group("approved")
    ).order_by("-decided_at", "-pk")
    return SubprocessorReview.objects.filter(
        vendor__status=Vendor.Status.ACTIVE,
        status__in=REVIEW_LIFECYCLE.group("approved"),
        next_review_due__isnull=False,
        pk=Subquery(latest.values("pk")[:1]),
    )


def _due(today: date) -> QuerySet[SubprocessorReview]:
    horizon = today + timedelta(days=settings.PORTAL_REVIEW_REMIND_DAYS)
    return _counting_reviews().filter(
        Q(due_reminded_for__isnull=True) | ~Q(due_reminded_for=F("next_review_due")),
        next_review_due__gte=today,
        next_review_due__lte=horizon,
    )


def _overdue(today: date) -> QuerySet[SubprocessorReview]:
    return _counting_reviews().filter(
        Q(overdue_reminded_for__isnull=True) | ~Q(overdue_reminded_for=F("next_review_due")),
        next_review_due__lt=today,
    )


def _remind(review: SubprocessorReview, *, event: str, field: str) -> None:
    """Remembers that `review`'s due date was announced as `event`, audits it and schedules
    the notice (the caller holds the lock and the transaction)."""
    assert review.next_review_due is not None  # noqa: S101  the query selected it so
    due = review.next_review_due
    setattr(review, field, due)
    review.save(update_fields=[field])
    audit_record(
        actor=None,
        action="review.due_reminded" if event == "review_due" else "review.overdue_reminded",
        obj=review,
        after={"next_review_due": due.isoformat()},
    )
    notify_vendor_on_commit(vendor_id=review.vendor_id, event=event, extra={"due": due.isoformat()})


def reviews_remind() -> dict[str, int]:
    """One pass: the overdue reviews first, then those falling due. Idempotent."""
    today = timezone.localdate()
    return {
        "overdue": each_locked(
            _overdue(today),
            lambda r: _remind(r, event="review_overdue", field="overdue_reminded_for"),
        ),
        "due": each_locked(
            _due(today), lambda r: _remind(r, event="review_due", field="due_reminded_for")
        ),
    }
