"""Vendor access nobody approved: every principal outside the organization that a role trusts.

`external_access_scan` lists every role of every account in the inventory with its trust
policy (provisioning.aws.scan_accounts, several accounts at once, through the audit role) and,
when AWS_ACCESS_ANALYZER_ARN is set, IAM Access Analyzer's active findings on roles. Each
AWS principal outside the organization is one `ExternalAccessFinding` per (account, role,
principal): approved when a live merged grant puts exactly that trust there (what the grant
should have put in IAM is built by the generator's own helpers, as verification does), open
otherwise. An account that could not be read keeps its findings as they were: nothing is
guessed, and the run names the account and why. New open findings are audited and announced
to security once; security adopts one (a draft request for review) or acknowledges it with a
reason (`finding_adopt`, `finding_acknowledge`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accessportal.effects import notify_external_access_on_commit
from accessportal.lifecycle import transition
from accessportal.roles import require_verified_security
from approvals.models import Strategy
from approvals.requests import request_save
from audit.services import audit_record
from inventory.models import AwsAccount
from provisioning import aws
from provisioning.substrate.expected import ExpectedRole
from provisioning.substrate.observed import AccountUnreadable, ObservedRole
from provisioning.substrate.verify import trusted_principals
from vendors.models import Vendor

from .grants import (
    MERGED_STATES,
    Organization,
    RunProgress,
    finish_run,
    plans_for,
    queue_run,
    stale_runs_fail,
    verifiable_requests,
)
from .models import FINDING_LIFECYCLE, ExternalAccessFinding, KnownVendorAccount, VerificationRun

Finding = ExternalAccessFinding
FindingStatus = ExternalAccessFinding.Status
Source = ExternalAccessFinding.Source

CATALOGUE_PATH = Path(__file__).with_name("vendor_accounts.json")
SCAN_RUN_TASK = "verification.tasks.external_access_scan_run_task"
ANYONE = "Anyone (any AWS account)"
REASON_MAX_LENGTH = 1000
# Statuses a scan leaves alone while the trust is still there and no grant covers it: the
# decision security took stands until AWS or an approval changes.
_DECIDED = frozenset({FindingStatus.ADOPTED, FindingStatus.ACKNOWLEDGED})
_ROLE_ARN = re.compile(r"arn:aws:iam::(\d{12}):role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64})")


@dataclass(frozen=True, order=True)
class Trust:
    """One outside principal one role trusts, as read."""

    account_id: str
    role_name: str
    principal: str
    principal_account_id: str
    external_id_required: bool
    source: str = Source.TRUST_SCAN

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.account_id, self.role_name, self.principal)


@dataclass
class AccountScan:
    account_id: str
    roles: int = 0
    findings: list[ExternalAccessFinding] = field(default_factory=list)
    unreadable: AccountUnreadable | None = None


@dataclass
class ScanResult:
    accounts: list[AccountScan]
    run: VerificationRun | None = None
    analyzer_error: str = ""

    @property
    def open_findings(self) -> list[ExternalAccessFinding]:
        return [f for a in self.accounts for f in a.findings if f.status == FindingStatus.OPEN]

    @property
    def unreadable(self) -> list[AccountUnreadable]:
        return [a.unreadable for a in self.accounts if a.unreadable is not None]


# -- the catalogue of vendors' published account ids ---------------------------------------


@functools.cache
def catalogue() -> dict[str, dict[str, str]]:
    """account id -> {name, source}: the ids vendors publish, kept in the repository."""
    data = json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
    return {
        str(entry["account_id"]): {"name": str(entry["name"]), "source": str(entry["source"])}
        for entry in data["accounts"]
    }


def principal_names() -> dict[str, str]:
    """account id -> name: the catalogue, and security's own entries (which win)."""
    names = {account_id: entry["name"] for account_id, entry in catalogue().items()}
    names.update(KnownVendorAccount.objects.values_list("account_id", "name"))
    return names


def _name_of(trust: Trust, names: Mapping[str, str]) -> str:
    if trust.principal == "*":
        return ANYONE
    return names.get(trust.principal_account_id, "")


# -- what AWS holds ------------------------------------------------------------------------


def role_trusts(role: ObservedRole, organization: set[str]) -> list[Trust]:
    """The principals outside `organization` (account ids) that `role` trusts."""
    return [
        Trust(role.account_id, role.name, p.principal, p.account_id, p.external_id_required)
        for p in trusted_principals(role.trust_policy)
        if p.account_id not in organization
    ]


def _canonical(principal: str) -> str:
    """Access Analyzer names an account by its bare id; the trust scan by its root ARN."""
    return f"arn:aws:iam::{principal}:root" if re.fullmatch(r"\d{12}", principal) else principal


def analyzer_trusts(findings: Iterable[Mapping[str, Any]], organization: set[str]) -> list[Trust]:
    """Access Analyzer's ListFindings entries (active, on IAM roles) as our trusts: one per AWS
    principal outside `organization`; other principal kinds (services, federation) are not
    vendors' accounts, as in the trust scan."""
    out = []
    for finding in findings:
        role = _ROLE_ARN.fullmatch(str(finding.get("resource", "")))
        if role is None or finding.get("status", "ACTIVE") != "ACTIVE":
            continue
        condition = finding.get("condition") or {}
        with_id = any(str(k).lower() == "sts:externalid" for k in condition)
        principals = (finding.get("principal") or {}).get("AWS")
        for value in [principals] if isinstance(principals, str) else principals or []:
            principal = _canonical(str(value))
            match = re.match(r"arn:aws:(?:iam|sts)::(\d{12}):", principal)
            account = match.group(1) if match else ""
            if principal != "*" and not account:
                continue
            if account in organization:
                continue
            out.append(
                Trust(
                    str(finding.get("resourceOwnerAccount") or role.group(1)),
                    role.group(2),
                    principal,
                    account,
                    with_id,
                    Source.ACCESS_ANALYZER,
                )
            )
    return sorted(set(out))


def approved_trusts() -> dict[tuple[str, str, str], int]:
    """(account, role, principal) -> request id, for each trust a live merged grant puts in
    AWS: the grant's own roles, and its statement in a Substrate role (Auditor,
    Administrator), as the generator would write them."""
    org = Organization()
    approved: dict[tuple[str, str, str], int] = {}
    for plan in plans_for(verifiable_requests().filter(status__in=MERGED_STATES), org):
        if plan.expected is None:
            continue
        for item in plan.expected.items:
            if isinstance(item, ExpectedRole):
                document = {"Statement": list(item.trust_statements)}
                for p in trusted_principals(document):
                    approved.setdefault(
                        (item.account_id, item.name, p.principal), plan.access_request.pk
                    )
    return approved


# -- the scan ------------------------------------------------------------------------------


def _status_for(existing: ExternalAccessFinding | None, approved: bool) -> str:
    if approved:
        return FindingStatus.APPROVED
    if existing is not None and existing.status in _DECIDED | {FindingStatus.OPEN}:
        return existing.status
    return FindingStatus.OPEN  # new, seen again after being resolved, or no longer approved


def _record(
    trust: Trust,
    existing: ExternalAccessFinding | None,
    *,
    matched: int | None,
    name: str,
    now: datetime,
) -> tuple[ExternalAccessFinding, bool]:
    """Upserts one finding; returns it and whether it (newly) needs a decision."""
    status = _status_for(existing, matched is not None)
    if existing is None:
        finding = Finding.objects.create(
            account_id=trust.account_id,
            role_name=trust.role_name,
            principal=trust.principal,
            principal_account_id=trust.principal_account_id,
            principal_name=name,
            external_id_required=trust.external_id_required,
            source=trust.source,
            status=status,
            matched_request_id=matched,
            first_seen_at=now,
            last_seen_at=now,
        )
        _audit_status(finding, before=None)
        return finding, status == FindingStatus.OPEN
    finding = existing
    before = finding.status
    finding.principal_name = name
    finding.external_id_required = trust.external_id_required
    finding.matched_request_id = matched
    finding.last_seen_at = now
    finding.resolved_at = None
    fields = ("principal_name", "external_id_required", "matched_request", "last_seen_at")
    if before == status:
        finding.save(update_fields=[*fields, "resolved_at"])
        return finding, False
    transition(finding, FINDING_LIFECYCLE, to=status, extra_fields=(*fields, "resolved_at"))
    _audit_status(finding, before=before)
    return finding, status == FindingStatus.OPEN


def _audit_status(finding: ExternalAccessFinding, *, before: str | None) -> None:
    action = (
        "finding.opened" if finding.status == FindingStatus.OPEN else f"finding.{finding.status}"
    )
    audit_record(
        actor=None,
        action=action,
        obj=finding,
        before=None if before is None else {"status": before},
        after={
            "status": finding.status,
            "account_id": finding.account_id,
            "role_name": finding.role_name,
            "principal": finding.principal,
            "principal_name": finding.principal_name,
            "external_id_required": finding.external_id_required,
            "source": finding.source,
            "matched_request": finding.matched_request_id,
        },
    )


def _resolve(finding: ExternalAccessFinding, now: datetime) -> None:
    before = finding.status
    finding.resolved_at = now
    transition(finding, FINDING_LIFECYCLE, to=FindingStatus.RESOLVED, extra_fields=("resolved_at",))
    _audit_status(finding, before=before)


def _read(accounts: list[str], run: VerificationRun | None) -> dict[str, Any]:
    if run is not None:
        VerificationRun.objects.filter(pk=run.pk).update(accounts_total=len(accounts))
    return aws.scan_accounts(accounts, progress=RunProgress(run))


def _analyzer(organization: set[str]) -> tuple[list[Trust], str]:
    if not settings.AWS_ACCESS_ANALYZER_ARN:
        return [], ""
    try:
        return analyzer_trusts(
            aws.access_analyzer_findings(settings.AWS_ACCESS_ANALYZER_ARN), organization
        ), ""
    except aws.AwsError as exc:
        return [], str(exc)


def external_access_scan(run: VerificationRun | None = None) -> ScanResult:
    """Scans every account of the inventory (closed ones aside) for outside principals and
    brings the findings up to date; with `run`, its progress and outcome are written."""
    try:
        result = _scan(run)
    except Exception as exc:
        if run is not None:
            finish_run(run.pk, error=f"{type(exc).__name__}: {exc}")
        raise
    if run is not None:
        finish_run(run.pk, outcome=_outcome(result))
    return result


def _outcome(result: ScanResult) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for account in result.accounts:
        for finding in account.findings:
            statuses[finding.status] = statuses.get(finding.status, 0) + 1
    return {
        **statuses,
        "roles": sum(a.roles for a in result.accounts),
        "unreadable": [
            {"account_id": u.account_id, "reason": u.reason, "message": u.message}
            for u in result.unreadable
        ][:200],
        "unreadable_count": len(result.unreadable),
        "analyzer_error": result.analyzer_error,
    }


def _scan(run: VerificationRun | None) -> ScanResult:
    accounts = sorted(
        AwsAccount.objects.exclude(status=AwsAccount.Status.CLOSED).values_list(
            "account_id", flat=True
        )
    )
    organization = set(accounts)
    read = _read(accounts, run)
    analyzer, analyzer_error = _analyzer(organization)
    scans = {account_id: AccountScan(account_id) for account_id in accounts}
    trusts: dict[tuple[str, str, str], Trust] = {}
    for account_id, roles in read.items():
        if isinstance(roles, AccountUnreadable):
            scans[account_id].unreadable = roles
            continue
        scans[account_id].roles = len(roles)
        for role in roles:
            for trust in role_trusts(role, organization):
                trusts.setdefault(trust.key, trust)
    for trust in analyzer:  # the trust scan's reading wins where both saw the same trust
        if trust.account_id in scans:
            trusts.setdefault(trust.key, trust)
    readable = {a for a, s in scans.items() if s.unreadable is None}
    approved = approved_trusts()
    names = principal_names()
    now = timezone.now()
    opened: list[int] = []
    with transaction.atomic():
        existing = {
            (f.account_id, f.role_name, f.principal): f
            for f in Finding.objects.select_for_update().filter(account_id__in=accounts)
        }
        for key, trust in sorted(trusts.items()):
            finding, needs_decision = _record(
                trust,
                existing.get(key),
                matched=approved.get(key),
                name=_name_of(trust, names),
                now=now,
            )
            scans[trust.account_id].findings.append(finding)
            if needs_decision:
                opened.append(finding.pk)
        for key, finding in existing.items():
            if key in trusts or finding.status == FindingStatus.RESOLVED:
                continue
            # Only where AWS answered: a finding of an unreadable account stays as it was,
            # and one only Access Analyzer reports stays while the analyzer cannot be read.
            if finding.account_id not in readable:
                scans[finding.account_id].findings.append(finding)
                continue
            if finding.source == Source.ACCESS_ANALYZER and analyzer_error:
                continue
            _resolve(finding, now)
        if opened:
            Finding.objects.filter(pk__in=opened).update(notified_at=now)
            notify_external_access_on_commit(count=len(opened))
    return ScanResult([scans[a] for a in accounts], run, analyzer_error)


# -- runs: on demand and on the beat -------------------------------------------------------


def external_access_scan_request(*, actor: Any, mfa_verified: bool) -> tuple[VerificationRun, bool]:
    """Queues "Scan now": (run, True), or the scan already running and False. Security only,
    with a second factor."""
    return queue_run(
        actor=actor,
        mfa_verified=mfa_verified,
        kind=VerificationRun.Kind.SCAN,
        task=SCAN_RUN_TASK,
        action="finding.scan_requested",
        refusal=_("Only the security team asks AWS to be scanned now."),
    )


def external_access_scan_run(run_id: int) -> VerificationRun:
    """Carries out a queued scan (a no-op for one already finished: a duplicate message)."""
    run = VerificationRun.objects.get(pk=run_id)
    if run.status == VerificationRun.Status.RUNNING:
        external_access_scan(run)
        run.refresh_from_db()
    return run


def external_access_scan_scheduled() -> VerificationRun:
    stale_runs_fail(VerificationRun.Kind.SCAN)
    run = VerificationRun.objects.create(kind=VerificationRun.Kind.SCAN, trigger="beat")
    return external_access_scan_run(run.pk)


def scan_status(run: VerificationRun | None) -> dict[str, Any]:
    """What the findings page polls while a scan runs."""
    if run is None:
        return {"id": None, "status": "", "percent": 0}
    return {
        "id": run.pk,
        "status": run.status,
        "percent": run.percent,
        "accounts_done": run.accounts_done,
        "accounts_total": run.accounts_total,
    }


def latest_scan() -> VerificationRun | None:
    return VerificationRun.objects.filter(kind=VerificationRun.Kind.SCAN).first()


# -- security's decisions ------------------------------------------------------------------


def _locked(finding_id: int) -> ExternalAccessFinding:
    return Finding.objects.select_for_update().get(pk=finding_id)


def _decided(finding: ExternalAccessFinding, actor: Any, action: str, before: str) -> None:
    audit_record(
        actor=actor,
        action=action,
        obj=finding,
        before={"status": before},
        after={
            "status": finding.status,
            "reason": finding.reason,
            "adopted_request": finding.adopted_request_id,
            "principal": finding.principal,
            "account_id": finding.account_id,
            "role_name": finding.role_name,
        },
    )


def _needs_decision(finding: ExternalAccessFinding) -> None:
    if finding.status not in FINDING_LIFECYCLE.groups["needs_decision"]:
        raise ValidationError(
            _("This finding is %(status)s: only an unapproved one takes a decision.")
            % {"status": finding.get_status_display()}
        )


@transaction.atomic
def finding_acknowledge(
    *, actor: Any, mfa_verified: bool, finding_id: int, reason: str
) -> ExternalAccessFinding:
    """Security accepts an outside trust as it is, saying why (audited)."""
    require_verified_security(
        actor, mfa_verified=mfa_verified, refusal=_("Only the security team decides findings.")
    )
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError({"reason": _("Say why this access is acceptable.")})
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError({"reason": _("At most %(n)s characters.") % {"n": REASON_MAX_LENGTH}})
    finding = _locked(finding_id)
    _needs_decision(finding)
    before = finding.status
    finding.reason = reason
    finding.decided_by = actor
    finding.decided_at = timezone.now()
    transition(
        finding,
        FINDING_LIFECYCLE,
        to=FindingStatus.ACKNOWLEDGED,
        extra_fields=("reason", "decided_by", "decided_at"),
    )
    _decided(finding, actor, "finding.acknowledged", before)
    return finding


@transaction.atomic
def finding_adopt(
    *, actor: Any, mfa_verified: bool, finding_id: int, vendor_id: int
) -> ExternalAccessFinding:
    """Security turns an outside trust into a draft request for the vendor, to go through
    review and approval like any other (audited, with the draft's own creation event). The
    draft targets the account's domain, environment and quality; its external id is new
    (the requester sets the vendor's own before submitting)."""
    require_verified_security(
        actor, mfa_verified=mfa_verified, refusal=_("Only the security team decides findings.")
    )
    finding = _locked(finding_id)
    _needs_decision(finding)
    if finding.principal == "*":
        raise ValidationError(_("A trust of anyone cannot become a grant: remove it in AWS."))
    vendor = Vendor.objects.get(pk=vendor_id)
    account = AwsAccount.objects.filter(account_id=finding.account_id).first()
    if account is None:
        raise ValidationError(_("The account is no longer in the inventory."))
    draft = request_save(
        actor=actor,
        data={
            "vendor": vendor,
            "strategy": Strategy.ROLE_PER_ACCOUNT,
            "principals": finding.principal,
            "external_id": "",
            "role_name": finding.role_name,
            "domains": [account.domain] if account.domain else [],
            "environments": [account.environment] if account.environment else [],
            "qualities": [account.quality] if account.quality else [],
            "justification": _(
                "Adopted from an external-access finding: %(principal)s trusted by role "
                "%(role)s in account %(account)s without an approval."
            )
            % {
                "principal": finding.principal,
                "role": finding.role_name,
                "account": finding.account_id,
            },
        },
    )
    before = finding.status
    finding.adopted_request = draft
    finding.decided_by = actor
    finding.decided_at = timezone.now()
    transition(
        finding,
        FINDING_LIFECYCLE,
        to=FindingStatus.ADOPTED,
        extra_fields=("adopted_request", "decided_by", "decided_at"),
    )
    _decided(finding, actor, "finding.adopted", before)
    return finding


def open_findings() -> Any:
    return Finding.objects.filter(status=FindingStatus.OPEN).order_by("first_seen_at")


# -- security's own catalogue entries ------------------------------------------------------


@transaction.atomic
def known_vendor_account_save(
    *, actor: Any, mfa_verified: bool, account_id: str, name: str, source: str = ""
) -> KnownVendorAccount:
    """Security names an AWS account as a vendor's (audited); the next scan shows the name.
    An entry for an account already named is replaced."""
    require_verified_security(
        actor, mfa_verified=mfa_verified, refusal=_("Only the security team names accounts.")
    )
    account_id = (account_id or "").strip()
    name = " ".join((name or "").split())
    if not re.fullmatch(r"\d{12}", account_id):
        raise ValidationError({"account_id": _("An AWS account id is 12 digits.")})
    if not name:
        raise ValidationError({"name": _("Name the vendor.")})
    entry = KnownVendorAccount.objects.select_for_update().filter(account_id=account_id).first()
    before = None if entry is None else {"name": entry.name, "source": entry.source}
    if entry is None:
        entry = KnownVendorAccount(account_id=account_id, added_by=actor)
    entry.name = name[:200]
    entry.source = (source or "").strip()[:500]
    entry.save()
    audit_record(
        actor=actor,
        action="known_vendor_account.save",
        obj=entry,
        before=before,
        after={"account_id": account_id, "name": entry.name, "source": entry.source},
    )
    return entry


@transaction.atomic
def known_vendor_account_delete(*, actor: Any, mfa_verified: bool, entry_id: int) -> None:
    require_verified_security(
        actor, mfa_verified=mfa_verified, refusal=_("Only the security team names accounts.")
    )
    entry = KnownVendorAccount.objects.select_for_update().get(pk=entry_id)
    audit_record(
        actor=actor,
        action="known_vendor_account.delete",
        obj=entry,
        before={"account_id": entry.account_id, "name": entry.name, "source": entry.source},
    )
    entry.delete()
