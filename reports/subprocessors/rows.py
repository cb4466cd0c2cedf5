"""The report's rows: one per vendor and service, its cells in `COLUMNS` order."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import islice
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from approvals.models import Strategy
from reports.subprocessors.as_of import (
    Grant,
    Review,
    grants_of,
    latest_reviews,
    open_findings_as_of,
    principal_account,
    vendors_as_of,
)
from reports.subprocessors.params import ReportParams
from vendors.models import (
    DataCategory,
    DataSensitivity,
    SubprocessorReview,
    SubserviceOrganization,
    Tier,
    Vendor,
)
from vendors.selectors import ReviewState

# Vendors (and appendix lines) read per batch: a fixed number of queries per batch.
CHUNK_SIZE = 500
# Strategies that reach every account of the organization rather than chosen ones.
ORGANIZATION_WIDE: dict[str, str] = {
    Strategy.AUDITOR: "all accounts (Substrate Auditor role)",
    Strategy.ADMINISTRATOR: "all accounts incl. management (Substrate Administrator role)",
}

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
    review: Review | None = field(default=None, repr=False)
    # The live grants behind the AWS access cells: the PDF prints a line per grant.
    grants: list[Grant] = field(default_factory=list, repr=False)


def _day(value: Any) -> date | None:
    if not value or value == "None":
        return None
    return date.fromisoformat(str(value)[:10])


def choice_label(choices: Any, value: str) -> str:
    """The label of `value` among `choices`, or `value` itself if it is none of them."""
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
        # Open outside-access findings by the principal's account (one query per walk).
        self.findings = open_findings_as_of(params)
        self._labels: dict[tuple[Any, Any], str] = {}

    def label(self, choices: Any, value: Any) -> str:
        """`choice_label`, remembered for the walk (one walk answers one request, in one
        language)."""
        key = (choices, value)
        text = self._labels.get(key)
        if text is None:
            text = self._labels[key] = choice_label(choices, value)
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


def _review_state(review: Review | None, walk: _Walk) -> tuple[str, bool]:
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
    findings: list[str] = []
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
        if grant.role_last_used_at and grant.role_last_used_at <= as_of:
            used = walk.local_date(grant.role_last_used_at).isoformat()
            last_used.append(f"#{pk}: role {used}")
        if grant.aws_state:
            checked = (
                walk.local_date(grant.aws_checked_at).isoformat() if grant.aws_checked_at else ""
            )
            last_used.append(f"#{pk}: in AWS {grant.aws_state} ({checked})")
        for principal in grant.principals:
            for finding in walk.findings.get(principal_account(principal), []):
                if finding not in findings:
                    findings.append(finding)
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
        joined(findings),
    ]
    return cells, past_expiry


def _evidence_cell(review: Review | None, walk: _Walk) -> str:
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
    review: Review | None,
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
        chunk = [line for line in chunk if matches(line[1], params)]
        if not chunk:
            continue
        ids = [vendor_id for vendor_id, _snap, _added in chunk]
        reviews = latest_reviews(ids, params)
        grants = grants_of(ids, params)
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


def matches(snapshot: dict[str, Any], params: ReportParams) -> bool:
    """Whether a vendor's snapshot passes the report's tier and status filters."""
    tier = snapshot.get("tier_override") or snapshot.get("tier")
    if params.tier and tier != params.tier:
        return False
    return not (params.status and snapshot.get("status") != params.status)
