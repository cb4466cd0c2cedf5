"""Queries of the state at the as-of time: vendors' snapshots, requests' status then, and
each chunk's reviews in force and live grants read as plain values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import CharField, F, Lookup, OuterRef, QuerySet, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from approvals.models import AccessRequest, Approval
from audit.models import AuditEvent
from audit.services import audit_object_type
from fulfilment.models import PullRequest
from keys.models import AccessKey
from provisioning.keys import mask_access_key_id
from reports.subprocessors.params import ReportParams
from vendors.models import (
    REVIEW_LIFECYCLE,
    ChecklistAnswer,
    ComplementaryControl,
    EvidenceFile,
    ReviewException,
    SubprocessorReview,
    SubserviceOrganization,
    Vendor,
)
from verification.models import ExternalAccessFinding, GrantCheck

# A grant counts as live (the vendor can reach the accounts) once its pull request is merged.
LIVE_GRANT_STATES = (AccessRequest.Status.ACTIVE, AccessRequest.Status.EXPIRING)
VENDOR_TYPE = "vendors.vendor"
REQUEST_TYPE = "approvals.accessrequest"
REVIEW_TYPE = "vendors.subprocessorreview"


def object_events(object_type: str, params: ReportParams) -> QuerySet[AuditEvent]:
    """Events about the outer row's object up to the as-of time, newest first."""
    return AuditEvent.objects.filter(
        object_type=object_type,
        object_id=Cast(OuterRef("pk"), CharField()),
        created_at__lte=params.as_of,
    ).order_by("-sequence")


def vendors_as_of(params: ReportParams) -> QuerySet[Vendor]:
    """Vendors that existed at the as-of time, each with `snapshot`: its record then."""
    snapshots = object_events(VENDOR_TYPE, params).filter(
        after__has_keys=["name", "tier", "status"]
    )
    return (
        Vendor.objects.annotate(
            snapshot=Subquery(snapshots.values("after")[:1]),
            added_at=Subquery(
                object_events(VENDOR_TYPE, params).order_by("sequence").values("created_at")[:1]
            ),
        )
        .filter(snapshot__isnull=False)
        .alias(name_then=KT("snapshot__name"))
        .order_by("name_then", "pk")
    )


def requests_as_of(params: ReportParams) -> QuerySet[AccessRequest]:
    """Requests created by the as-of time, with their status, end date and activation then."""
    events = object_events(REQUEST_TYPE, params)
    return AccessRequest.objects.filter(created_at__lte=params.as_of).annotate(
        status_then=Subquery(
            events.filter(after__has_key="status")
            .annotate(value=KT("after__status"))
            .values("value")[:1]
        ),
        expires_then=Subquery(
            events.filter(after__has_key="expires_on")
            .annotate(value=KT("after__expires_on"))
            .values("value")[:1]
        ),
        activated_at=Subquery(
            events.filter(action="request.activate").order_by("sequence").values("created_at")[:1]
        ),
    )


def live_grants_as_of(params: ReportParams) -> QuerySet[AccessRequest]:
    return requests_as_of(params).filter(
        status_then__in=LIVE_GRANT_STATES  # type: ignore[misc]  # annotation
    )


class AnyOf(Lookup):
    """`lhs IN (ids)` for a long list of ids. On PostgreSQL the list is one array parameter
    (`= ANY(%s)`): a batch's live grants number thousands, and Django prepares, and psycopg
    splices, an `IN` list one placeholder at a time, which took longer than the queries. Other
    databases (SQLite for `make run`) get the plain `IN` list."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        ids = list(self.rhs)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", (*lhs_params, ids)
        return f"{lhs} IN ({', '.join(['%s'] * len(ids))})", (*lhs_params, *ids)


@dataclass(slots=True)
class Review:
    """What the report shows of a vendor's review in force, read as plain values: model
    instances with their prefetches cost more than writing the rows."""

    pk: int
    status: str
    report_type: str
    auditor_firm: str
    opinion: str
    period_start: date | None
    period_end: date | None
    report_issued_on: date | None
    trust_services_categories: list[str] | None
    bridge_letter_through: date | None
    residual_risk: str
    conditions: str
    decided_at: datetime | None
    next_review_due: date | None
    submitted_by: str | None  # usernames
    decided_by: str | None
    # An open blocker: a blocking checklist item answered neither yes nor not applicable.
    has_open_blocker: bool = False
    # (relevant, disposition) of each SOC report exception.
    exceptions: list[tuple[bool, str]] = field(default_factory=list)
    # Whether each CUEC is mapped (`ComplementaryControl.is_mapped`).
    cuecs_mapped: list[bool] = field(default_factory=list)
    # (name, method) of each subservice organization.
    subservice: list[tuple[str, str]] = field(default_factory=list)
    # (pk, original name, SHA-256) of each evidence file.
    evidence: list[tuple[int, str, str]] = field(default_factory=list)


# The review's own columns, in `Review` order.
_REVIEW_FIELDS = (
    "pk",
    "status",
    "report_type",
    "auditor_firm",
    "opinion",
    "period_start",
    "period_end",
    "report_issued_on",
    "trust_services_categories",
    "bridge_letter_through",
    "residual_risk",
    "conditions",
    "decided_at",
    "next_review_due",
)


def latest_reviews(vendor_ids: list[int], params: ReportParams) -> dict[int, Review]:
    """The review in force of each of these vendors: six queries (the reviews, then their open
    blockers, exceptions, CUECs, subservice organizations and evidence), as plain values."""
    username = get_user_model().USERNAME_FIELD
    reviews = (
        SubprocessorReview.objects.filter(
            vendor_id__in=vendor_ids,
            status__in=REVIEW_LIFECYCLE.group("approved"),
            decided_at__lte=params.as_of,
        )
        .order_by("vendor_id", "-decided_at", "-pk")
        .values_list(
            "vendor_id",
            *_REVIEW_FIELDS,
            f"submitted_by__{username}",
            f"decided_by__{username}",
        )
    )
    if connection.vendor == "postgresql":
        # Only the latest review of each vendor (DISTINCT ON), so the queries below read the
        # children of the reviews in force rather than of every review ever approved. Other
        # databases (SQLite for `make run`) read them all and keep the first of each vendor.
        reviews = reviews.distinct("vendor_id")
    latest: dict[int, Review] = {}
    for vendor_id, *values in reviews:
        if vendor_id not in latest:
            latest[vendor_id] = Review(*values)
    by_pk = {review.pk: review for review in latest.values()}
    if not by_pk:
        return latest
    in_force = AnyOf(F("review_id"), list(by_pk))
    # Only the open blockers (what `rows._review_state` asks about), not every blocking question
    # answered. A query of its own: as an EXISTS beside the reviews, PostgreSQL chose to scan
    # every answer of every review once per batch.
    for review_id in (
        ChecklistAnswer.objects.filter(in_force, blocking=True)
        .exclude(answer__in=(ChecklistAnswer.Answer.YES, ChecklistAnswer.Answer.NOT_APPLICABLE))
        .values_list("review_id", flat=True)
        .distinct()
    ):
        by_pk[review_id].has_open_blocker = True
    # Evidence by upload time (its model's ordering), the others (which have no ordering) by id.
    for review_id, relevant, disposition in (
        ReviewException.objects.filter(in_force)
        .order_by("pk")
        .values_list("review_id", "relevant", "disposition")
    ):
        by_pk[review_id].exceptions.append((relevant, disposition))
    for review_id, mapped_control, owner, not_applicable_reason in (
        ComplementaryControl.objects.filter(in_force)
        .order_by("pk")
        .values_list("review_id", "mapped_control", "owner", "not_applicable_reason")
    ):
        # The rule of `ComplementaryControl.is_mapped`.
        mapped = bool(mapped_control and owner) or bool(not_applicable_reason)
        by_pk[review_id].cuecs_mapped.append(mapped)
    for review_id, name, method in (
        SubserviceOrganization.objects.filter(in_force)
        .order_by("pk")
        .values_list("review_id", "name", "method")
    ):
        by_pk[review_id].subservice.append((name, method))
    for review_id, pk, original_name, sha256 in (
        EvidenceFile.objects.filter(in_force)
        .order_by("uploaded_at", "pk")
        .values_list("review_id", "pk", "original_name", "sha256")
    ):
        by_pk[review_id].evidence.append((pk, original_name, sha256))
    return latest


@dataclass(slots=True)
class Grant:
    """What the report shows of a live grant, read as plain values (no model objects: a large
    organization has tens of thousands of live grants)."""

    pk: int
    strategy: str
    managed_policy_arns: list[str]
    inline_policy: Any
    expires_then: str | None
    activated_at: datetime | None
    principals: list[str] = field(default_factory=list)
    account_ids: list[str] = field(default_factory=list)
    approver_names: set[str] = field(default_factory=set)
    pull_request: str = ""
    # (masked key id, last used at, service, region) of each key AWS had issued by then.
    keys: list[tuple[str, datetime | None, str, str]] = field(default_factory=list)
    # What AWS held by then (the last `grant.verified` event): e.g. "matches", "" if unread.
    aws_state: str = ""
    aws_checked_at: datetime | None = None
    # The grant's roles' RoleLastUsed, as verification last read it, if by the as-of time.
    role_last_used_at: datetime | None = None


def grants_of(vendor_ids: list[int], params: ReportParams) -> dict[int, list[Grant]]:
    """The live grants of these vendors by vendor, in request order: four queries."""
    lines = (
        live_grants_as_of(params)
        .filter(vendor_id__in=vendor_ids)
        .order_by("pk")
        .values_list(  # type: ignore[misc]  # expires_then and activated_at are annotations
            "vendor_id",
            "pk",
            "strategy",
            "managed_policy_arns",
            "inline_policy",
            "expires_then",
            "activated_at",
            "principals",
        )
    )
    by_vendor: dict[int, list[Grant]] = {}
    by_pk: dict[int, Grant] = {}
    for vendor_id, *values in lines:
        grant = Grant(*values)
        by_vendor.setdefault(vendor_id, []).append(grant)
        by_pk[grant.pk] = grant
    if not by_pk:
        return by_vendor
    targets = AccessRequest.target_accounts.through.objects.filter(
        AnyOf(F("accessrequest_id"), list(by_pk))
    ).values_list("accessrequest_id", "awsaccount__account_id")
    for request_id, account_id in targets:
        by_pk[request_id].account_ids.append(account_id)
    username = f"approver__{get_user_model().USERNAME_FIELD}"
    approvals = Approval.objects.filter(
        AnyOf(F("access_request_id"), list(by_pk)),
        created_at__lte=params.as_of,
        decision=Approval.Decision.APPROVE,
    ).values_list("access_request_id", username)
    for request_id, name in approvals:
        by_pk[request_id].approver_names.add(name)
    # The newest pull request opened by the as-of time.
    pulls = (
        PullRequest.objects.filter(
            AnyOf(F("access_request_id"), list(by_pk)), created_at__lte=params.as_of
        )
        .exclude(number__isnull=True)
        .order_by("access_request_id", "-created_at", "-pk")
        .values_list("access_request_id", "url", "forge", "number")
    )
    for request_id, url, forge, number in pulls:
        grant = by_pk[request_id]
        if not grant.pull_request:
            grant.pull_request = url or f"{forge} pull request {number}"
    # The keys AWS had issued by then and not yet deleted (IAM-user grants).
    keys = (
        AccessKey.objects.filter(
            AnyOf(F("access_request_id"), list(by_pk)), aws_created_at__lte=params.as_of
        )
        .exclude(access_key_id="")
        .exclude(deleted_at__lte=params.as_of)
        .order_by("access_request_id", "aws_created_at", "pk")
        .values_list(
            "access_request_id",
            "access_key_id",
            "last_used_at",
            "last_used_service",
            "last_used_region",
        )
    )
    for request_id, key_id, used_at, service, region in keys:
        by_pk[request_id].keys.append((mask_access_key_id(key_id), used_at, service, region))
    _aws_as_of(by_pk, params)
    return by_vendor


def open_findings_as_of(params: ReportParams) -> dict[str, list[str]]:
    """Outside trusts nobody had approved, acknowledged or adopted by the as-of time and that
    AWS still held then, by the principal's account id (one query): the report's "open
    external-access findings" of the vendor whose principals are in that account."""
    rows = (
        ExternalAccessFinding.objects.filter(first_seen_at__lte=params.as_of)
        .exclude(resolved_at__lte=params.as_of)
        .exclude(decided_at__lte=params.as_of)
        .exclude(status=ExternalAccessFinding.Status.APPROVED)
        .exclude(principal_account_id="")
        .order_by("principal_account_id", "account_id", "role_name")
        .values_list("principal_account_id", "principal", "account_id", "role_name")
    )
    found: dict[str, list[str]] = {}
    for principal_account, principal, account_id, role_name in rows:
        found.setdefault(principal_account, []).append(f"{principal} -> {account_id}/{role_name}")
    return found


def principal_account(principal: str) -> str:
    """The account id of an AWS principal (an account id or an IAM ARN), "" otherwise."""
    if principal.isdigit() and len(principal) == 12:
        return principal
    parts = principal.split(":")
    return parts[4] if len(parts) > 4 and parts[4].isdigit() else ""


def _aws_as_of(by_pk: dict[int, Grant], params: ReportParams) -> None:
    """Each grant's verdict in AWS as of the report's time, from the audit log (a verdict is
    written there each time it changes), and its role's last use if read by then."""
    verdicts = (
        AuditEvent.objects.filter(
            action="grant.verified",
            object_type=audit_object_type(AccessRequest),
            object_id__in=[str(pk) for pk in by_pk],
            created_at__lte=params.as_of,
        )
        .order_by("object_id", "-sequence")
        .values_list("object_id", "after", "created_at")
    )
    for object_id, after, created_at in verdicts:
        grant = by_pk[int(object_id)]
        if not grant.aws_state:
            grant.aws_state = str((after or {}).get("state", ""))
            grant.aws_checked_at = created_at
    checks = GrantCheck.objects.filter(
        AnyOf(F("access_request_id"), list(by_pk)), last_used_at__lte=params.as_of
    ).values_list("access_request_id", "last_used_at")
    for request_id, used_at in checks:
        by_pk[request_id].role_last_used_at = used_at
