"""The appendices: approval trail, changes in the period, exceptions register, and the
tier/state matrix of the PDF's chart. A filtered report's appendices cover its vendors.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import CharField, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Concat, NullIf
from django.utils import timezone

from approvals.models import AccessRequest, Approval, Strategy
from audit.models import AuditEvent
from fulfilment.models import PullRequest
from reports.subprocessors.as_of import (
    LIVE_GRANT_STATES,
    REQUEST_TYPE,
    REVIEW_TYPE,
    VENDOR_TYPE,
    AnyOf,
    live_grants_as_of,
    object_events,
    requests_as_of,
    vendors_as_of,
)
from reports.subprocessors.params import ReportParams
from reports.subprocessors.rows import CHUNK_SIZE, choice_label, chunks, matches
from reports.subprocessors.summary import ReportSummary
from vendors.models import REVIEW_LIFECYCLE, SubprocessorReview, Tier
from vendors.selectors import ReviewState

APPENDIX_A = ("Request", "Time (UTC)", "Actor", "Action", "Status before", "Status after", "Note")
# Appendix A of the XLSX and PDF: one line per request rather than per event (an organization's
# live grants have hundreds of thousands of events; the full trail is the CSV's approval-trail
# part and the audit trail export).
APPENDIX_A_SUMMARY = (
    "Request",
    "Vendor",
    "Strategy",
    "Requested by",
    "Requested at (UTC)",
    "Approvers (UTC)",
    "Activated (UTC)",
    "Status at as-of",
    "Revoked/expired (UTC)",
    "Pull request",
)
APPENDIX_B = ("Time (UTC)", "Object", "Change", "Detail", "Actor")
APPENDIX_C = (
    "Vendor",
    "Review",
    "Report period end",
    "Kind",
    "Description",
    "Vendor response",
    "Relevant",
    "Disposition",
)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _period_start_instant(params: ReportParams) -> datetime:
    return timezone.make_aware(datetime.combine(params.period_start, time.min))


# The events whose actor's Approval row holds the comment they wrote.
_APPROVAL_ACTIONS = ("request.approve", "request.approval_recorded", "request.reject")


def _changed_in_period(params: ReportParams) -> QuerySet[AuditEvent, Any]:
    """The ids (as text) of the requests with an event in the period."""
    return AuditEvent.objects.filter(
        object_type=REQUEST_TYPE,
        created_at__gte=_period_start_instant(params),
        created_at__lte=params.as_of,
    ).values("object_id")


def filtered_vendor_ids(params: ReportParams) -> list[int] | None:
    """The vendors a filtered report is about (tier and status as of the as-of time, the rows'
    rule `matches`), for the appendices to cover the same vendors; None without a filter."""
    if not (params.tier or params.status):
        return None
    # "snapshot" is an annotation, which the type stubs do not see.
    snapshots = vendors_as_of(params).values_list("pk", "snapshot")  # type: ignore[misc]
    return [pk for pk, snapshot in snapshots.iterator() if matches(snapshot, params)]


def _vendors_q(vendor_ids: list[int] | None, field: str) -> Q:
    """`field` among these vendors (anything without a filter)."""
    return Q() if vendor_ids is None else Q(AnyOf(F(field), vendor_ids))


def _requests_of(vendor_ids: list[int] | None) -> Q:
    """Events about the requests of these vendors (every request without a filter)."""
    if vendor_ids is None:
        return Q()
    requests = AccessRequest.objects.filter(_vendors_q(vendor_ids, "vendor_id"))
    return Q(object_id__in=requests.annotate(pk_text=Cast("pk", CharField())).values("pk_text"))


def approval_trail(params: ReportParams) -> Iterator[tuple[Any, ...]]:
    """Appendix A: every event of each request that was live at the as-of time or changed in
    the period, oldest first per request, with the approver's comment where there is one."""
    in_period = _changed_in_period(params)
    live = live_grants_as_of(params).annotate(pk_text=Cast("pk", CharField())).values("pk_text")
    comments = Approval.objects.annotate(
        request_text=Cast("access_request_id", CharField())
    ).filter(request_text=OuterRef("object_id"), approver_id=OuterRef("actor_id"))
    events = (
        AuditEvent.objects.filter(object_type=REQUEST_TYPE, created_at__lte=params.as_of)
        .filter(Q(object_id__in=Subquery(in_period)) | Q(object_id__in=Subquery(live)))
        .filter(_requests_of(filtered_vendor_ids(params)))
        .annotate(
            approval_comment=Subquery(comments.values("comment")[:1]),
            request_number=Cast("object_id", IntegerField()),
        )
        .order_by("request_number", "sequence")
    )
    for event in events.iterator(chunk_size=CHUNK_SIZE):
        before = event.before or {}
        after = event.after or {}
        approval = event.approval_comment if event.action in _APPROVAL_ACTIONS else ""  # type: ignore[attr-defined]
        note = approval or after.get("comment") or after.get("reason") or ""
        if not note and "expires_on" in after and "status" not in after:
            note = f"ends {after['expires_on']}"
        yield (
            event.object_repr,
            _utc(event.created_at),
            event.actor_username or "system",
            event.action,
            before.get("status", ""),
            after.get("status", ""),
            note,
        )


def request_summaries(params: ReportParams) -> Iterator[tuple[Any, ...]]:
    """Appendix A of the XLSX and PDF: one line per request of `approval_trail` (live at the
    as-of time or changed in the period), in request order. One query, read as plain values
    in chunks, with each chunk's approvers and their times read in one more query."""
    username = get_user_model().USERNAME_FIELD
    ended = (
        object_events(REQUEST_TYPE, params)
        .filter(after__status=AccessRequest.Status.REVOKED)
        .order_by("sequence")
        .values("created_at")[:1]
    )
    pull = (
        PullRequest.objects.filter(
            access_request=OuterRef("pk"), created_at__lte=params.as_of, number__isnull=False
        )
        .order_by("created_at", "pk")
        .annotate(
            shown=Coalesce(
                NullIf("url", Value("")),
                Concat("forge", Value(" pull request "), Cast("number", CharField())),
            )
        )
        .values("shown")[:1]
    )
    requests = (
        requests_as_of(params)
        .annotate(
            pk_text=Cast("pk", CharField()),
            ended_at=Subquery(ended),
            pull_request=Subquery(pull),
        )
        .filter(
            Q(pk_text__in=Subquery(_changed_in_period(params)))
            | Q(status_then__in=LIVE_GRANT_STATES)
        )
        .filter(_vendors_q(filtered_vendor_ids(params), "vendor_id"))
        .order_by("pk")
        .values_list(
            "pk",
            "vendor__name",
            "strategy",
            f"requester__{username}",
            "created_at",
            "activated_at",
            "status_then",
            "ended_at",
            "pull_request",
        )
    )
    for batch in chunks(requests.iterator(chunk_size=CHUNK_SIZE), CHUNK_SIZE):
        # The batch's approvers in one query (plain SQL, so SQLite answers it as PostgreSQL).
        approvers_of: dict[int, list[str]] = {}
        for request_id, name, moment in (
            Approval.objects.filter(
                access_request_id__in=[line[0] for line in batch],
                created_at__lte=params.as_of,
                decision=Approval.Decision.APPROVE,
            )
            .order_by("access_request_id", "created_at", "pk")
            .values_list("access_request_id", f"approver__{username}", "created_at")
        ):
            stamp = _utc(moment).isoformat(timespec="seconds")
            approvers_of.setdefault(request_id, []).append(f"{name} {stamp}")
        yield from _summary_lines(batch, approvers_of)


def _summary_lines(
    batch: list[tuple[Any, ...]], approvers_of: dict[int, list[str]]
) -> Iterator[tuple[Any, ...]]:
    for line in batch:
        pk, vendor, strategy, requester, created = line[:5]
        activated, status, ended_at, pull_request = line[5:]
        approvers = "; ".join(approvers_of.get(pk, []))
        yield (
            f"#{pk}",
            vendor,
            choice_label(Strategy, strategy),
            requester,
            _utc(created),
            approvers,
            _utc(activated) if activated else None,
            choice_label(AccessRequest.Status, status or ""),
            _utc(ended_at) if ended_at else None,
            pull_request or "",
        )


_VENDOR_CHANGES = ("vendor.create", "vendor.update", "vendor.tier_override", "vendor.offboard")


def changes_in_period(params: ReportParams) -> Iterator[tuple[Any, ...]]:
    """Appendix B: vendors added, changed (tier changes with their reason) and offboarded, and
    reviews decided, within the period."""
    events = AuditEvent.objects.filter(
        created_at__gte=_period_start_instant(params), created_at__lte=params.as_of
    ).filter(
        Q(object_type=VENDOR_TYPE, action__in=_VENDOR_CHANGES)
        | Q(object_type=REVIEW_TYPE, action="review.decide")
    )
    vendor_ids = filtered_vendor_ids(params)
    if vendor_ids is not None:
        reviews = SubprocessorReview.objects.filter(_vendors_q(vendor_ids, "vendor_id"))
        events = events.filter(
            Q(object_type=VENDOR_TYPE, object_id__in=[str(pk) for pk in vendor_ids])
            | Q(
                object_type=REVIEW_TYPE,
                object_id__in=reviews.annotate(pk_text=Cast("pk", CharField())).values("pk_text"),
            )
        )
    for event in events.order_by("sequence").iterator(chunk_size=CHUNK_SIZE):
        before, after = event.before or {}, event.after or {}
        yield (
            _utc(event.created_at),
            event.object_repr,
            _change_kind(event.action, before, after),
            _change_detail(event.action, before, after),
            event.actor_username or "system",
        )


def _effective_tier(snapshot: dict[str, Any]) -> str:
    return str(snapshot.get("tier_override") or snapshot.get("tier") or "")


def _change_kind(action: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    if action == "vendor.create":
        return "Vendor added"
    if action == "vendor.offboard":
        return "Vendor offboarded"
    if action == "review.decide":
        return "Review decided"
    if _effective_tier(before) != _effective_tier(after):
        return "Tier changed"
    return "Vendor updated"


def _change_detail(action: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    if action == "vendor.create":
        return f"tier {_effective_tier(after)}; service {after.get('service', '')}"
    if action == "vendor.offboard":
        return f"offboarded on {after.get('offboarded_on', '')}"
    if action == "review.decide":
        parts = [f"decision {after.get('status', '')}"]
        if after.get("residual_risk"):
            parts.append(f"residual risk {after['residual_risk']}")
        if after.get("conditions"):
            parts.append(f"conditions: {after['conditions']}")
        return "; ".join(parts)
    ignored = {"updated_at"}
    changed = sorted(k for k in after if k not in ignored and before.get(k) != after.get(k))
    detail = f"changed: {', '.join(changed)}"
    if _effective_tier(before) != _effective_tier(after):
        reason = after.get("tier_override_reason") or "rubric answers changed"
        detail = (
            f"tier {_effective_tier(before)} -> {_effective_tier(after)} (reason: {reason}); "
            + detail
        )
    return detail


def exceptions_register(params: ReportParams) -> Iterator[tuple[Any, ...]]:
    """Appendix C: the SOC report exceptions of each vendor's review in force at the as-of
    time, and the conditions of reviews approved with conditions."""
    latest = (
        SubprocessorReview.objects.filter(
            vendor=OuterRef("pk"),
            status__in=REVIEW_LIFECYCLE.group("approved"),
            decided_at__lte=params.as_of,
        )
        .order_by("-decided_at", "-pk")
        .values("pk")[:1]
    )
    in_force = (
        vendors_as_of(params)
        .filter(_vendors_q(filtered_vendor_ids(params), "pk"))
        .annotate(review_in_force=Subquery(latest))
        .values("review_in_force")
    )
    reviews = (
        SubprocessorReview.objects.filter(pk__in=Subquery(in_force))
        .select_related("vendor")
        .prefetch_related("exceptions")
        .order_by("vendor__name", "pk")
    )
    for review in reviews.iterator(chunk_size=CHUNK_SIZE):
        if review.status == SubprocessorReview.Status.CONDITIONAL:
            yield (
                review.vendor.name,
                f"#{review.pk}",
                review.period_end,
                "Approval condition",
                review.conditions,
                "",
                True,
                "open until the next review",
            )
        for exception in review.exceptions.all():
            yield (
                review.vendor.name,
                f"#{review.pk}",
                review.period_end,
                "SOC report exception",
                exception.description,
                exception.vendor_response,
                exception.relevant,
                exception.get_disposition_display() or "none",
            )


def tier_state_matrix(summary: ReportSummary) -> list[tuple[str, list[tuple[str, str, int]]]]:
    """Vendors by tier and review state, for the PDF's chart: [(tier label, [(state, label,
    count)])]."""
    result = []
    for tier in Tier.values:
        counts = summary.by_tier_and_state.get(tier, {})
        result.append(
            (
                choice_label(Tier, tier),
                [(state, str(label), counts.get(state, 0)) for state, label in ReviewState.CHOICES],
            )
        )
    return result
