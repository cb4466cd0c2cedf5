"""Read-side queries for vendors and reviews; the review state is computed in the database."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import (
    Case,
    CharField,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.models import AuditEvent
from vendors.models import (
    REVIEW_LIFECYCLE,
    ChecklistAnswer,
    ChecklistItem,
    KeyRecipientChange,
    SubprocessorReview,
    Vendor,
)
from vendors.services import REVIEW_EDIT_ACTIONS


class ReviewState:
    """The review state of a vendor, worst first (the order the list filter offers them)."""

    NONE = "none"
    OVERDUE = "overdue"
    STALE = "stale"
    BLOCKING = "blocking"
    DUE_SOON = "due_soon"
    CURRENT = "current"

    LABELS = {
        NONE: _("No approved review"),
        OVERDUE: _("Review overdue"),
        STALE: _("SOC report stale"),
        BLOCKING: _("Blocking items open"),
        DUE_SOON: _("Review due soon"),
        CURRENT: _("Current"),
    }
    CHOICES = list(LABELS.items())
    # States in which the vendor's access may be approved (DESIGN.md section 6).
    APPROVABLE = frozenset({DUE_SOON, CURRENT})


def with_review_state(vendors: QuerySet[Vendor]) -> QuerySet[Vendor]:
    """Annotates each vendor with its latest approved review and `review_state`, in one query.

    The latest approved review (approved or approved with conditions) is the one that counts.
    None of the inputs are computed in Python, so filtering and sorting by state stay in SQL.
    """
    today = timezone.localdate()
    latest = SubprocessorReview.objects.filter(
        vendor=OuterRef("pk"), status__in=REVIEW_LIFECYCLE.group("approved")
    ).order_by("-decided_at", "-pk")
    open_blockers = ChecklistAnswer.objects.filter(
        review=OuterRef("latest_review_id"), blocking=True
    ).exclude(answer__in=[ChecklistAnswer.Answer.YES, ChecklistAnswer.Answer.NOT_APPLICABLE])
    stale_before = today - timedelta(days=settings.PORTAL_SOC_REPORT_STALE_DAYS)
    soon = today + timedelta(days=settings.PORTAL_REVIEW_DUE_SOON_DAYS)
    pending = SubprocessorReview.objects.filter(
        vendor=OuterRef("pk"), status=SubprocessorReview.Status.SUBMITTED
    )
    return vendors.annotate(
        latest_review_id=Subquery(latest.values("pk")[:1]),
        next_review_due=Subquery(latest.values("next_review_due")[:1]),
        report_period_end=Subquery(latest.values("period_end")[:1]),
        bridge_letter_through=Subquery(latest.values("bridge_letter_through")[:1]),
        last_reviewed_at=Subquery(latest.values("decided_at")[:1]),
        review_pending=Exists(pending),
    ).annotate(
        has_open_blockers=Exists(open_blockers),
        review_state=Case(
            When(latest_review_id__isnull=True, then=Value(ReviewState.NONE)),
            When(next_review_due__lt=today, then=Value(ReviewState.OVERDUE)),
            When(
                Q(report_period_end__lt=stale_before)
                & (
                    Q(bridge_letter_through__isnull=True)
                    | Q(bridge_letter_through__lt=stale_before)
                ),
                then=Value(ReviewState.STALE),
            ),
            When(has_open_blockers=True, then=Value(ReviewState.BLOCKING)),
            When(next_review_due__lte=soon, then=Value(ReviewState.DUE_SOON)),
            default=Value(ReviewState.CURRENT),
            output_field=CharField(),
        ),
        current_tier=Coalesce(
            Case(When(tier_override="", then=None), default="tier_override"),
            "tier",
            output_field=CharField(),
        ),
    )


def vendor_list(
    *, search: str = "", tier: str = "", status: str = "", review_state: str = ""
) -> QuerySet[Vendor]:
    """Vendors for the list page, filtered in the database."""
    vendors = with_review_state(Vendor.objects.select_related("internal_owner"))
    if search:
        vendors = vendors.filter(
            Q(name__icontains=search)
            | Q(service__icontains=search)
            | Q(legal_name__icontains=search)
            | Q(slug__icontains=search)
        )
    if tier:
        vendors = vendors.filter(current_tier=tier)  # type: ignore[misc]  # annotation
    if status:
        vendors = vendors.filter(status=status)
    if review_state:
        vendors = vendors.filter(review_state=review_state)  # type: ignore[misc]  # annotation
    return vendors.order_by("name")


def vendor_detail(*, pk: int) -> Vendor:
    return with_review_state(Vendor.objects.select_related("internal_owner")).get(pk=pk)


def vendor_review_state(vendor_id: int) -> str:
    """The review state of one vendor (for approval rules in the workflow)."""
    return str(
        with_review_state(Vendor.objects.filter(pk=vendor_id))
        .values_list("review_state", flat=True)  # type: ignore[misc]  # annotation
        .get()
    )


def review_detail(*, pk: int) -> SubprocessorReview:
    return SubprocessorReview.objects.select_related(
        "vendor", "vendor__internal_owner", "created_by", "submitted_by", "decided_by"
    ).get(pk=pk)


def review_answers(review: SubprocessorReview) -> Any:
    return (
        review.answers.select_related("item")
        .prefetch_related("evidence")
        .order_by("item__order", "item_code")
    )


@dataclass(frozen=True)
class ChecklistSection:
    """One lettered section of a review's checklist (A. Scope and tier ... E. Decision and
    monitoring), with its rows in order and how many of them are answered."""

    code: str
    title: str
    rows: tuple[Any, ...]
    answered: int

    @property
    def total(self) -> int:
        return len(self.rows)


def checklist_sections(rows: Iterable[tuple[ChecklistAnswer, Any, bool]]) -> list[ChecklistSection]:
    """Groups checklist rows by their item's section, in the sections' order (A to E).

    Each row is (answer, what the page shows for it, whether it is answered): the review page
    shows the saved answer, the review form its fields and the value the form holds now, so a
    form sent back with errors counts what the reviewer chose, not what was last saved. The
    answers need their `item` loaded (`review_answers` does it).
    """
    grouped: dict[str, list[tuple[Any, bool]]] = {}
    for answer, row, answered in rows:
        grouped.setdefault(answer.item.section, []).append((row, answered))
    order = {code: index for index, code in enumerate(ChecklistItem.Section.values)}
    labels = dict(ChecklistItem.Section.choices)
    return [
        ChecklistSection(
            code=code,
            title=str(labels.get(code, code)),
            rows=tuple(row for row, _answered in items),
            answered=sum(1 for _row, answered in items if answered),
        )
        for code, items in sorted(grouped.items(), key=lambda kv: order.get(kv[0], len(order)))
    ]


def reviews_awaiting_decision(user: Any) -> QuerySet[SubprocessorReview]:
    """Submitted reviews that `user` may decide: none they wrote, edited or submitted (the
    rule of `services.review_may_decide`, in SQL)."""

    edited_by_user = AuditEvent.objects.filter(
        object_type=SubprocessorReview._meta.label_lower,
        object_id=Cast(OuterRef("pk"), CharField()),
        action__in=REVIEW_EDIT_ACTIONS,
        actor=user,
    )
    return (
        SubprocessorReview.objects.filter(status=SubprocessorReview.Status.SUBMITTED)
        .exclude(Q(submitted_by=user) | Q(created_by=user))
        .exclude(Exists(edited_by_user))
        .select_related("vendor")
        .order_by("submitted_at")
    )


def key_recipient_changes_pending() -> QuerySet[KeyRecipientChange]:
    """For security's dashboard: changes of who receives a vendor's keys, oldest first (key
    links for those vendors are held until someone decides)."""
    return (
        KeyRecipientChange.objects.filter(status=KeyRecipientChange.Status.PENDING)
        .select_related("vendor", "proposed_by")
        .order_by("proposed_at", "pk")
    )
