"""The subprocessor report of SOC2.md section 4, for any "as of" time.

What changes over time is read from the audit log, so a report for a past date shows that
date's state:

- a vendor's record (name, data, tier, contract, status) is the `after` snapshot of its last
  vendor event at or before the as-of time (every vendor service records the whole record);
- a grant's status and end date are those of its request's last status / end-date event;
- reviews, their exceptions, CUECs, subservice organizations and evidence never change once
  decided, so the review that counts is the latest one approved at or before the as-of time;
  approvals and pull requests are dated rows, taken when created at or before it.

Rows are produced by iterators that read the vendors in chunks of `CHUNK_SIZE`, with a fixed
number of queries per chunk whatever the size of the organization, so exports run in constant
memory. `report_summary` walks the rows once to count them and hash them (SHA-256 of their CSV
form, see `DATA_HASH_DOC`); the CSV and XLSX exports write their table in the same walk, the
PDF renderer walks the rows again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from importlib import metadata
from itertools import islice
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    CharField,
    F,
    IntegerField,
    Lookup,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Concat, NullIf
from django.urls import reverse
from django.utils import timezone

from approvals.models import AccessKey, AccessRequest, Approval, AuditEvent, PullRequest
from approvals.models.requests import Strategy
from provisioning.keys import mask_access_key_id
from reports.cells import csv_cell
from vendors.models import (
    ChecklistAnswer,
    ComplementaryControl,
    DataCategory,
    DataSensitivity,
    EvidenceFile,
    ReviewException,
    SubprocessorReview,
    SubserviceOrganization,
    Tier,
    Vendor,
)
from vendors.selectors import APPROVED_STATES, ReviewState

CHUNK_SIZE = 500
# A grant counts as live (the vendor can reach the accounts) once its pull request is merged.
LIVE_GRANT_STATES = (AccessRequest.Status.ACTIVE, AccessRequest.Status.EXPIRING)
# Strategies that reach every account of the organization rather than chosen ones.
ORGANIZATION_WIDE: dict[str, str] = {
    Strategy.AUDITOR: "all accounts (Substrate Auditor role)",
    Strategy.ADMINISTRATOR: "all accounts incl. management (Substrate Administrator role)",
}
VENDOR_TYPE = "vendors.vendor"
REQUEST_TYPE = "approvals.accessrequest"
REVIEW_TYPE = "vendors.subprocessorreview"

DATA_HASH_DOC = (
    "SHA-256 (hex) of the UTF-8 bytes of the CSV export after its first empty line (the table: "
    "column headers, then one line per row; RFC 4180 quoting, CRLF line ends, formula-like "
    "cells prefixed with an apostrophe). Recompute it with: "
    "sed '1,/^\\r$/d' report.csv | sha256sum"
)

# (group, column label), in file order. One row per vendor and the service bought from it.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("Identity", "Vendor legal name"),
    ("Identity", "Vendor"),
    ("Identity", "Service"),
    ("Identity", "Purpose of processing"),
    ("Identity", "Internal owner"),
    ("Identity", "Date added"),
    ("Identity", "Status"),
    ("Identity", "Offboarded on"),
    ("Data", "Data categories"),
    ("Data", "Classification"),
    ("Data", "Storage regions"),
    ("Data", "Processing regions"),
    ("Data", "Transfer mechanism"),
    ("Data", "4th parties disclosed"),
    ("Data", "4th parties"),
    ("Risk", "Key vendor"),
    ("Risk", "Inherent tier"),
    ("Risk", "Residual risk"),
    ("Risk", "Decision"),
    ("Risk", "Conditions"),
    ("Contract", "Contract start"),
    ("Contract", "Contract end"),
    ("Contract", "DPA signed on"),
    ("Contract", "DPA version"),
    ("Contract", "Breach notification (hours)"),
    ("Contract", "Subprocessor change notice (days)"),
    ("Contract", "Right to audit"),
    ("Attestation", "Attestation type"),
    ("Attestation", "Auditor firm"),
    ("Attestation", "Opinion"),
    ("Attestation", "Period start"),
    ("Attestation", "Period end"),
    ("Attestation", "Report issued on"),
    ("Attestation", "Report age (days)"),
    ("Attestation", "Trust services categories"),
    ("Attestation", "Bridge letter through"),
    ("Attestation", "Exceptions (count/relevant/dispositioned)"),
    ("Attestation", "CUECs (total/mapped)"),
    ("Attestation", "Subservice organizations"),
    ("AWS access", "Access strategy"),
    ("AWS access", "Accounts"),
    ("AWS access", "Permissions"),
    ("AWS access", "Policy SHA-256"),
    ("AWS access", "Request ids"),
    ("AWS access", "Approvers"),
    ("AWS access", "Granted on"),
    ("AWS access", "Expires on"),
    ("AWS access", "Pull request / key id"),
    ("AWS access", "Key last used"),
    ("AWS access", "Open Access Analyzer findings"),
    ("Review", "Last review"),
    ("Review", "Reviewer"),
    ("Review", "Approver"),
    ("Review", "Next review due"),
    ("Review", "Review status"),
    ("Evidence", "Evidence files"),
)
HEADERS = tuple(label for _group, label in COLUMNS)

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


@dataclass(frozen=True)
class ReportParams:
    """What a report covers: the as-of instant, the period before it, and filters."""

    as_of: datetime
    period_start: date
    tier: str = ""
    status: str = ""

    @property
    def as_of_date(self) -> date:
        return timezone.localtime(self.as_of).date()

    @property
    def filters_text(self) -> str:
        parts = [
            f"tier={self.tier}" if self.tier else "",
            f"status={self.status}" if self.status else "",
        ]
        return ", ".join(p for p in parts if p) or "none"


def report_params(
    *,
    as_of: date | datetime | None = None,
    period_start: date | None = None,
    tier: str = "",
    status: str = "",
) -> ReportParams:
    """Builds the parameters: a date means the end of that day in the portal's time zone, and
    the period starts by default on the first day of the as-of date's calendar quarter."""
    if as_of is None:
        instant = timezone.now()
    elif isinstance(as_of, datetime):
        instant = as_of if timezone.is_aware(as_of) else timezone.make_aware(as_of)
    else:
        instant = timezone.make_aware(datetime.combine(as_of, time.max))
    instant = min(instant, timezone.now())
    day = timezone.localtime(instant).date()
    if period_start is None:
        period_start = quarter_start(day)
    if period_start > day:
        raise ValueError("the period must start on or before the as-of date")
    if tier and tier not in Tier.values:
        raise ValueError(f"unknown tier {tier!r}")
    if status and status not in Vendor.Status.values:
        raise ValueError(f"unknown status {status!r}")
    return ReportParams(as_of=instant, period_start=period_start, tier=tier, status=status)


def quarter_start(day: date) -> date:
    """The first day of `day`'s calendar quarter."""
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def previous_quarter_end(day: date) -> date:
    """The last day of the calendar quarter before `day`'s (auditors' usual as-of date)."""
    return quarter_start(day) - timedelta(days=1)


def parse_as_of(text: str) -> date | datetime:
    """A date (YYYY-MM-DD: the end of that day) or an ISO 8601 date and time."""
    text = text.strip()
    return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)


# --- As-of queries -----------------------------------------------------------------------------


def _object_events(object_type: str, params: ReportParams) -> QuerySet[AuditEvent]:
    """Events about the outer row's object up to the as-of time, newest first."""
    return AuditEvent.objects.filter(
        object_type=object_type,
        object_id=Cast(OuterRef("pk"), CharField()),
        created_at__lte=params.as_of,
    ).order_by("-sequence")


def vendors_as_of(params: ReportParams) -> QuerySet[Vendor]:
    """Vendors that existed at the as-of time, each with `snapshot`: its record then."""
    snapshots = _object_events(VENDOR_TYPE, params).filter(
        after__has_keys=["name", "tier", "status"]
    )
    return (
        Vendor.objects.annotate(
            snapshot=Subquery(snapshots.values("after")[:1]),
            added_at=Subquery(
                _object_events(VENDOR_TYPE, params).order_by("sequence").values("created_at")[:1]
            ),
        )
        .filter(snapshot__isnull=False)
        .alias(name_then=KT("snapshot__name"))
        .order_by("name_then", "pk")
    )


def requests_as_of(params: ReportParams) -> QuerySet[AccessRequest]:
    """Requests created by the as-of time, with their status, end date and activation then."""
    events = _object_events(REQUEST_TYPE, params)
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


class _AnyOf(Lookup):
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
class _Review:
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


# The review's own columns, in `_Review` order.
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


def _latest_reviews(vendor_ids: list[int], params: ReportParams) -> dict[int, _Review]:
    """The review in force of each of these vendors: six queries (the reviews, then their open
    blockers, exceptions, CUECs, subservice organizations and evidence), as plain values."""
    username = get_user_model().USERNAME_FIELD
    reviews = (
        SubprocessorReview.objects.filter(
            vendor_id__in=vendor_ids, status__in=APPROVED_STATES, decided_at__lte=params.as_of
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
    latest: dict[int, _Review] = {}
    for vendor_id, *values in reviews:
        if vendor_id not in latest:
            latest[vendor_id] = _Review(*values)
    by_pk = {review.pk: review for review in latest.values()}
    if not by_pk:
        return latest
    in_force = _AnyOf(F("review_id"), list(by_pk))
    # Only the open blockers (what `_review_state` asks about), not every blocking question
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
    account_ids: list[str] = field(default_factory=list)
    approver_names: set[str] = field(default_factory=set)
    pull_request: str = ""
    # (masked key id, last used at, service, region) of each key AWS had issued by then.
    keys: list[tuple[str, datetime | None, str, str]] = field(default_factory=list)


def _grants(vendor_ids: list[int], params: ReportParams) -> dict[int, list[Grant]]:
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
        _AnyOf(F("accessrequest_id"), list(by_pk))
    ).values_list("accessrequest_id", "awsaccount__account_id")
    for request_id, account_id in targets:
        by_pk[request_id].account_ids.append(account_id)
    username = f"approver__{get_user_model().USERNAME_FIELD}"
    approvals = Approval.objects.filter(
        _AnyOf(F("access_request_id"), list(by_pk)),
        created_at__lte=params.as_of,
        decision=Approval.Decision.APPROVE,
    ).values_list("access_request_id", username)
    for request_id, name in approvals:
        by_pk[request_id].approver_names.add(name)
    # The newest pull request opened by the as-of time.
    pulls = (
        PullRequest.objects.filter(
            _AnyOf(F("access_request_id"), list(by_pk)), created_at__lte=params.as_of
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
            _AnyOf(F("access_request_id"), list(by_pk)), aws_created_at__lte=params.as_of
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
    return by_vendor


# --- Rows ----------------------------------------------------------------------------------------


@dataclass
class Row:
    """One report row: the cells in `COLUMNS` order, and the facts the summary counts."""

    cells: list[Any]
    tier: str
    review_state: str
    soc_stale: bool
    missing_dpa: bool
    open_exceptions: int
    unmapped_cuecs: int
    live_grants: int
    grants_past_expiry: int
    review: _Review | None = field(default=None, repr=False)
    # The live grants behind the AWS access cells: the PDF prints a line per grant.
    grants: list[Grant] = field(default_factory=list, repr=False)


def _day(value: Any) -> date | None:
    if not value or value == "None":
        return None
    return date.fromisoformat(str(value)[:10])


def _label(choices: Any, value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value or ""


class _Walk:
    """What every row of one walk shares, worked out once rather than per row or per grant:
    the as-of date (a property that converts the time zone), the portal's time zone, and the
    choices' labels (each a lazy translation, looked up in the active language every time it
    becomes text: tens of thousands of times per export)."""

    def __init__(self, params: ReportParams) -> None:
        self.params = params
        self.today = params.as_of_date
        self.zone = timezone.get_current_timezone()
        self.stale_before = self.today - timedelta(days=settings.PORTAL_SOC_REPORT_STALE_DAYS)
        self.due_soon_by = self.today + timedelta(days=settings.PORTAL_REVIEW_DUE_SOON_DAYS)
        self.base_url = settings.PORTAL_BASE_URL.rstrip("/")
        self._labels: dict[tuple[Any, Any], str] = {}

    def label(self, choices: Any, value: Any) -> str:
        """`_label`, remembered for the walk (one walk answers one request, in one language)."""
        key = (choices, value)
        text = self._labels.get(key)
        if text is None:
            text = self._labels[key] = _label(choices, value)
        return text

    def state_label(self, state: str) -> str:
        key = (ReviewState, state)
        text = self._labels.get(key)
        if text is None:
            text = self._labels[key] = str(ReviewState.LABELS[state])
        return text

    def local_date(self, moment: datetime) -> date:
        """`timezone.localtime(moment).date()` without looking the time zone up again."""
        if timezone.is_naive(moment):
            raise ValueError("localtime() cannot be applied to a naive datetime")
        return moment.astimezone(self.zone).date()


def _review_state(review: _Review | None, walk: _Walk) -> tuple[str, bool]:
    """The vendor's review state on the as-of date (the rules of `with_review_state`)."""
    if review is None:
        return ReviewState.NONE, False
    today, stale_before = walk.today, walk.stale_before
    stale = bool(
        review.period_end
        and review.period_end < stale_before
        and (review.bridge_letter_through is None or review.bridge_letter_through < stale_before)
    )
    due = review.next_review_due
    if due and due < today:
        return ReviewState.OVERDUE, stale
    if stale:
        return ReviewState.STALE, stale
    if review.has_open_blocker:
        return ReviewState.BLOCKING, stale
    if due and due <= walk.due_soon_by:
        return ReviewState.DUE_SOON, stale
    return ReviewState.CURRENT, stale


def policy_sha256(policy: Any) -> str:
    """SHA-256 of an inline policy's canonical JSON (sorted keys, no spaces), or empty."""
    if not policy:
        return ""
    canonical = json.dumps(policy, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _grant_cells(grants: list[Grant], walk: _Walk) -> tuple[list[str], int]:
    if not grants:
        return ["none", "", "", "", "", "", "", "", "", "", ""], 0

    def joined(values: Iterable[str]) -> str:
        return "; ".join(values)

    as_of, today = walk.params.as_of, walk.today
    accounts, permissions, approvers, prs, last_used = [], [], [], [], []
    granted, expiry, hashes = [], [], []
    strategies = set()
    past_expiry = 0
    for grant in grants:
        pk = grant.pk
        strategies.add(walk.label(Strategy, grant.strategy))
        if grant.strategy in ORGANIZATION_WIDE:
            accounts.append(f"#{pk}: {ORGANIZATION_WIDE[grant.strategy]}")
        else:
            ids = ", ".join(sorted(grant.account_ids))
            accounts.append(f"#{pk}: {ids or '-'}")
        perms = list(grant.managed_policy_arns or [])
        if grant.inline_policy:
            perms.append("inline policy")
            hashes.append(f"#{pk}: {policy_sha256(grant.inline_policy)}")
        permissions.append(f"#{pk}: {', '.join(perms) or 'role trust only'}")
        names = sorted(grant.approver_names)
        approvers.append(f"#{pk}: {', '.join(names) or '-'}")
        if grant.pull_request:
            prs.append(f"#{pk}: {grant.pull_request}")
        for masked_id, used_at, service, region in grant.keys:
            prs.append(f"#{pk}: key {masked_id}")
            # Last use as the key monitor last read it from AWS, if that was by the as-of date.
            if used_at and used_at <= as_of:
                where = " ".join(filter(None, [service, region]))
                used = walk.local_date(used_at).isoformat()
                last_used.append(f"#{pk}: {masked_id} {used} {where}".rstrip())
        activated = grant.activated_at
        granted.append(
            f"#{pk}: {walk.local_date(activated).isoformat()}" if activated else f"#{pk}: -"
        )
        expires = _day(grant.expires_then)
        expiry.append(f"#{pk}: {expires or '-'}")
        if expires and expires < today:
            past_expiry += 1
    cells = [
        joined(sorted(strategies)),
        joined(accounts),
        joined(permissions),
        joined(hashes),
        joined(f"#{g.pk}" for g in grants),
        joined(approvers),
        joined(granted),
        joined(expiry),
        joined(prs),
        joined(last_used),
        "",  # Access Analyzer findings: not collected by the portal yet
    ]
    return cells, past_expiry


def _evidence_cell(review: _Review | None, walk: _Walk) -> str:
    if review is None:
        return ""
    return "; ".join(
        f"{name} sha256:{sha256} {walk.base_url}{reverse('vendors:evidence_download', args=[pk])}"
        for pk, name, sha256 in review.evidence
    )


def _row(
    vendor_id: int,
    snap: dict[str, Any],
    added_at: datetime | None,
    review: _Review | None,
    grants: list[Grant],
    owners: dict[int, str],
    walk: _Walk,
) -> Row:
    label = walk.label
    tier = snap.get("tier_override") or snap.get("tier") or ""
    fourth = [
        line.strip() for line in (snap.get("fourth_parties") or "").splitlines() if line.strip()
    ]
    categories = [label(DataCategory, c) for c in snap.get("data_categories") or []]
    state, stale = _review_state(review, walk)
    exceptions = review.exceptions if review else []
    cuecs_mapped = review.cuecs_mapped if review else []
    open_exceptions = sum(
        1 for relevant, disposition in exceptions if relevant and disposition in ("", "escalated")
    )
    unmapped = sum(1 for mapped in cuecs_mapped if not mapped)
    grant_cells, past_expiry = _grant_cells(grants, walk)
    age = (walk.today - review.period_end).days if review and review.period_end else None
    cells: list[Any] = [
        snap.get("legal_name") or snap.get("name"),
        snap.get("name"),
        snap.get("service"),
        snap.get("purpose"),
        owners.get(snap.get("internal_owner_id") or 0, ""),
        walk.local_date(added_at) if added_at else None,
        label(Vendor.Status, snap.get("status", "")),
        _day(snap.get("offboarded_on")),
        ", ".join(categories),
        label(DataSensitivity, snap.get("data_sensitivity", "")),
        snap.get("storage_regions"),
        snap.get("processing_regions"),
        snap.get("transfer_mechanism"),
        bool(fourth),
        "; ".join(fourth),
        tier in (Tier.CRITICAL, Tier.HIGH),
        label(Tier, tier),
        label(Tier, review.residual_risk) if review else "",
        label(SubprocessorReview.Status, review.status) if review else "",
        review.conditions if review else "",
        _day(snap.get("contract_start")),
        _day(snap.get("contract_end")),
        _day(snap.get("dpa_signed_on")),
        snap.get("dpa_version"),
        snap.get("breach_notification_hours"),
        snap.get("subprocessor_change_notice_days"),
        bool(snap.get("right_to_audit")),
        label(SubprocessorReview.ReportType, review.report_type) if review else "none",
        review.auditor_firm if review else "",
        label(SubprocessorReview.Opinion, review.opinion) if review else "",
        review.period_start if review else None,
        review.period_end if review else None,
        review.report_issued_on if review else None,
        age,
        ", ".join(review.trust_services_categories or []) if review else "",
        review.bridge_letter_through if review else None,
        (
            f"{len(exceptions)}/{sum(relevant for relevant, _d in exceptions)}/"
            f"{sum(bool(disposition) for _r, disposition in exceptions)}"
            if review
            else ""
        ),
        f"{len(cuecs_mapped)}/{len(cuecs_mapped) - unmapped}" if review else "",
        "; ".join(
            f"{name} ({label(SubserviceOrganization.Method, method)})"
            for name, method in (review.subservice if review else [])
        ),
        *grant_cells,
        walk.local_date(review.decided_at) if review and review.decided_at else None,
        (review.submitted_by or "") if review else "",
        (review.decided_by or "") if review else "",
        review.next_review_due if review else None,
        walk.state_label(state),
        _evidence_cell(review, walk),
    ]
    return Row(
        cells=cells,
        tier=tier,
        review_state=state,
        soc_stale=stale,
        missing_dpa=not snap.get("dpa_signed_on"),
        open_exceptions=open_exceptions,
        unmapped_cuecs=unmapped,
        live_grants=len(grants),
        grants_past_expiry=past_expiry,
        review=review,
        grants=grants,
    )


def chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """`items` in lists of `size` (the last shorter), read one list at a time."""
    while chunk := list(islice(items, size)):
        yield chunk


def subprocessor_rows(params: ReportParams) -> Iterator[Row]:
    """The report's rows in vendor-name order, read `CHUNK_SIZE` vendors at a time, each chunk
    with a fixed number of queries, all read as plain values."""
    vendors = (
        vendors_as_of(params)
        .values_list("pk", "snapshot", "added_at")  # type: ignore[misc]  # annotations
        .iterator(chunk_size=CHUNK_SIZE)
    )
    users = get_user_model().objects
    walk = _Walk(params)
    for chunk in chunks(vendors, CHUNK_SIZE):
        chunk = [line for line in chunk if _matches(line[1], params)]
        if not chunk:
            continue
        ids = [vendor_id for vendor_id, _snap, _added in chunk]
        reviews = _latest_reviews(ids, params)
        grants = _grants(ids, params)
        owner_ids = {snap.get("internal_owner_id") for _id, snap, _added in chunk}
        owners = dict(
            users.filter(pk__in=owner_ids).values_list("pk", get_user_model().USERNAME_FIELD)
        )
        for vendor_id, snap, added_at in chunk:
            yield _row(
                vendor_id,
                snap,
                added_at,
                reviews.get(vendor_id),
                grants.get(vendor_id, []),
                owners,
                walk,
            )


def _matches(snapshot: dict[str, Any], params: ReportParams) -> bool:
    tier = snapshot.get("tier_override") or snapshot.get("tier")
    if params.tier and tier != params.tier:
        return False
    return not (params.status and snapshot.get("status") != params.status)


# --- Header -------------------------------------------------------------------------------------


class _HashingSink:
    """A file-like object for csv.writer that hashes what is written and keeps nothing, or
    passes it on to `copy_to`."""

    def __init__(self, copy_to: IO[str] | None = None) -> None:
        self.digest = hashlib.sha256()
        self.copy_to = copy_to

    def write(self, text: str) -> int:
        self.digest.update(text.encode("utf-8"))
        if self.copy_to is not None:
            self.copy_to.write(text)
        return len(text)


def csv_line(values: Iterable[Any]) -> str:
    """One CSV record (CRLF-terminated) with neutralised cells: the bytes the hash covers."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([csv_cell(v) for v in values])
    return buffer.getvalue()


@dataclass
class ReportSummary:
    """The header of every format."""

    organization: str
    as_of: datetime
    period_start: date
    period_end: date
    app_version: str
    filters: str
    generated_at: datetime
    row_count: int = 0
    data_sha256: str = ""
    by_tier: dict[str, int] = field(default_factory=dict)
    by_tier_and_state: dict[str, dict[str, int]] = field(default_factory=dict)
    overdue_reviews: int = 0
    stale_soc_reports: int = 0
    missing_dpa: int = 0
    open_exceptions: int = 0
    unmapped_cuecs: int = 0
    live_grants: int = 0
    grants_past_expiry: int = 0

    def header_items(self) -> list[tuple[str, Any]]:
        """(label, value) pairs, in the order every format prints them."""
        return [
            ("Report", "Subprocessor report (SOC 2 CC9.2)"),
            ("Organization", self.organization),
            ("As of (UTC)", self.as_of.astimezone(UTC).isoformat(timespec="seconds")),
            ("Period", f"{self.period_start.isoformat()} to {self.period_end.isoformat()}"),
            ("App version", self.app_version),
            ("Filters", self.filters),
            ("Generated at (UTC)", self.generated_at.astimezone(UTC).isoformat(timespec="seconds")),
            ("Row count", self.row_count),
            ("Data SHA-256", self.data_sha256),
            ("Data SHA-256 covers", DATA_HASH_DOC),
            *[(f"Vendors, tier {_label(Tier, t)}", self.by_tier.get(t, 0)) for t in Tier.values],
            ("Reviews overdue", self.overdue_reviews),
            ("SOC reports older than 12 months", self.stale_soc_reports),
            ("Missing DPA", self.missing_dpa),
            ("Open exceptions", self.open_exceptions),
            ("Unmapped CUECs", self.unmapped_cuecs),
            ("Active vendor AWS grants", self.live_grants),
            ("Grants past expiry", self.grants_past_expiry),
        ]


def app_version() -> str:
    try:
        return metadata.version("accessportal")
    except metadata.PackageNotFoundError:
        return "development"


def report_summary(
    params: ReportParams,
    table_out: IO[str] | None = None,
    on_row: Callable[[Row], None] | None = None,
) -> ReportSummary:
    """Walks the rows once: counts, and the SHA-256 of their CSV form (`DATA_HASH_DOC`). With
    `table_out`, that CSV form (the hashed text) is also written there, and `on_row` is given
    each row, so an export that writes the table as it goes needs no second walk."""
    summary = ReportSummary(
        organization=settings.PORTAL_ORGANIZATION_NAME,
        as_of=params.as_of,
        period_start=params.period_start,
        period_end=params.as_of_date,
        app_version=app_version(),
        filters=params.filters_text,
        generated_at=timezone.now(),
    )
    sink = _HashingSink(table_out)
    writer = csv.writer(sink)
    writer.writerow([csv_cell(h) for h in HEADERS])
    tiers: Counter[str] = Counter()
    grid: dict[str, Counter[str]] = {t: Counter() for t in Tier.values}
    for row in subprocessor_rows(params):
        writer.writerow([csv_cell(v) for v in row.cells])
        if on_row is not None:
            on_row(row)
        summary.row_count += 1
        tiers[row.tier] += 1
        grid.setdefault(row.tier, Counter())[row.review_state] += 1
        summary.overdue_reviews += row.review_state == ReviewState.OVERDUE
        summary.stale_soc_reports += row.soc_stale
        summary.missing_dpa += row.missing_dpa
        summary.open_exceptions += row.open_exceptions
        summary.unmapped_cuecs += row.unmapped_cuecs
        summary.live_grants += row.live_grants
        summary.grants_past_expiry += row.grants_past_expiry
    summary.data_sha256 = sink.digest.hexdigest()
    summary.by_tier = dict(tiers)
    summary.by_tier_and_state = {t: dict(c) for t, c in grid.items()}
    return summary


# --- Appendices ---------------------------------------------------------------------------------


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
    rule `_matches`), for the appendices to cover the same vendors; None without a filter."""
    if not (params.tier or params.status):
        return None
    # "snapshot" is an annotation, which the type stubs do not see.
    snapshots = vendors_as_of(params).values_list("pk", "snapshot")  # type: ignore[misc]
    return [pk for pk, snapshot in snapshots.iterator() if _matches(snapshot, params)]


def _vendors_q(vendor_ids: list[int] | None, field: str) -> Q:
    """`field` among these vendors (anything without a filter)."""
    return Q() if vendor_ids is None else Q(_AnyOf(F(field), vendor_ids))


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
        _object_events(REQUEST_TYPE, params)
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
            _label(Strategy, strategy),
            requester,
            _utc(created),
            approvers,
            _utc(activated) if activated else None,
            _label(AccessRequest.Status, status or ""),
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
            vendor=OuterRef("pk"), status__in=APPROVED_STATES, decided_at__lte=params.as_of
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
                _label(Tier, tier),
                [(state, str(label), counts.get(state, 0)) for state, label in ReviewState.CHOICES],
            )
        )
    return result


__all__ = [
    "APPENDIX_A",
    "APPENDIX_A_SUMMARY",
    "APPENDIX_B",
    "APPENDIX_C",
    "COLUMNS",
    "DATA_HASH_DOC",
    "HEADERS",
    "ReportParams",
    "ReportSummary",
    "Row",
    "approval_trail",
    "changes_in_period",
    "csv_line",
    "exceptions_register",
    "live_grants_as_of",
    "report_params",
    "report_summary",
    "request_summaries",
    "subprocessor_rows",
    "tier_state_matrix",
    "vendors_as_of",
]
