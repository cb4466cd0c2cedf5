"""What the portal last read in AWS, beside what it intended (issue 17).

A request's status says what the portal did (approved, merged, removal opened); its
`GrantCheck` says what IAM held when a worker last read the grant's accounts. The pages show
the two together (`verification.truth`), so "Active" means verified in AWS and "Revoked" means
AWS no longer has it. A `VerificationRun` is one pass over many grants or accounts, with the
progress the pages poll. An `ExternalAccessFinding` is one principal outside the organization
that a role in one account trusts, matched to an approved grant or not.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accessportal.lifecycle import Lifecycle, choice_labels


class VerificationRun(models.Model):
    """One pass of verification (grants) or of the external-access scan, with its progress."""

    class Kind(models.TextChoices):
        GRANTS = "grants", _("Grant verification")
        SCAN = "scan", _("External access scan")

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Finished")
        FAILED = "failed", _("Failed")

    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    # Set for "Verify now" on one request; empty for the scheduled pass over every grant.
    access_request = models.ForeignKey(
        "approvals.AccessRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="verification_runs",
    )
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    trigger = models.CharField(max_length=32, blank=True)  # "merge", "commands", "beat", ...
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    accounts_total = models.PositiveIntegerField(default=0)
    accounts_done = models.PositiveIntegerField(default=0)
    # state -> how many grants (or, for a scan, "unapproved"/"approved"/"unreadable" counts)
    outcome = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["kind", "status", "started_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def percent(self) -> int:
        if not self.accounts_total:
            return 100 if self.status != self.Status.RUNNING else 0
        return min(100, self.accounts_done * 100 // self.accounts_total)


RunStatus = VerificationRun.Status
RUN_LIFECYCLE = Lifecycle(
    field="status",
    table={
        RunStatus.RUNNING: frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED}),
        RunStatus.SUCCEEDED: frozenset(),
        RunStatus.FAILED: frozenset(),
    },
    groups={"finished": frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED})},
    labels=choice_labels(RunStatus.choices),
    subject=_("A verification run"),
    touch=(),
)


class GrantCheck(models.Model):
    """What IAM held for one request's grant when it was last read, account by account.

    `expectation` says what the portal holds against AWS: the grant's IAM (`present`) while the
    request is live, nothing of it (`absent`) once its removal merged. `accounts` is one entry
    per account: {account_id, state, differences, reason, message, last_used_at,
    last_used_region}; `state` is the whole verdict (provisioning.substrate.verify.State, or
    `error` when no expectation could be built, with `message` saying why).
    """

    class Expectation(models.TextChoices):
        PRESENT = "present", _("The grant is in AWS")
        ABSENT = "absent", _("The grant is gone from AWS")

    class State(models.TextChoices):
        MATCHES = "matches", _("Matches the approval")
        DIFFERS = "differs", _("Differs from the approval")
        ABSENT = "absent", _("Not in AWS")
        UNREADABLE = "unreadable", _("Could not be read")
        ERROR = "error", _("Could not be checked")

    access_request = models.OneToOneField(
        "approvals.AccessRequest", on_delete=models.PROTECT, related_name="grant_check"
    )
    expectation = models.CharField(max_length=8, choices=Expectation.choices)
    state = models.CharField(max_length=16, choices=State.choices)
    accounts = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)
    checked_at = models.DateTimeField()
    # When `state` (or the expectation) last changed: "drifted since".
    changed_at = models.DateTimeField()
    # The latest RoleLastUsed over the grant's accounts (None: never used, or not readable).
    last_used_at = models.DateTimeField(null=True, blank=True)
    idle_flagged_at = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey(
        VerificationRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["state"])]

    def __str__(self) -> str:
        return f"#{self.access_request_id} {self.expectation}: {self.state}"

    def accounts_in(self, *states: str) -> list[dict[str, object]]:
        return [a for a in self.accounts if a.get("state") in states]


class ExternalAccessFinding(models.Model):
    """One principal outside the organization that one role in one account trusts.

    The scan keeps one row per (account, role, principal) and refreshes it each time: `status`
    is `approved` while an approved, live grant covers it, `open` otherwise; security moves an
    open finding to `adopted` (a request for review was drafted from it) or `acknowledged`
    (with a reason). A finding the scan no longer sees is `resolved`.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Unapproved")
        APPROVED = "approved", _("Matches an approved grant")
        ADOPTED = "adopted", _("Adopted: request drafted")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        RESOLVED = "resolved", _("No longer in AWS")

    class Source(models.TextChoices):
        TRUST_SCAN = "trust_scan", _("Trust policy scan")
        ACCESS_ANALYZER = "access_analyzer", _("IAM Access Analyzer")

    account_id = models.CharField(max_length=12)
    role_name = models.CharField(max_length=64)
    # The canonical principal: an account id, an IAM ARN, "*" or "Service:..." etc.
    principal = models.CharField(max_length=2048)
    principal_account_id = models.CharField(max_length=12, blank=True)
    principal_name = models.CharField(max_length=200, blank=True)  # from the vendor catalogue
    external_id_required = models.BooleanField(default=False)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.TRUST_SCAN)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    matched_request = models.ForeignKey(
        "approvals.AccessRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    adopted_request = models.ForeignKey(
        "approvals.AccessRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["status", "account_id", "role_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["account_id", "role_name", "principal"], name="one_finding_per_trust"
            )
        ]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.principal} -> {self.account_id}/{self.role_name} ({self.status})"


FindingStatus = ExternalAccessFinding.Status
# Open findings need a decision; the scan itself moves findings between open, approved and
# resolved as AWS changes, and a finding seen again after being resolved is open again.
FINDING_LIFECYCLE = Lifecycle(
    field="status",
    table={
        FindingStatus.OPEN: frozenset(
            {
                FindingStatus.APPROVED,
                FindingStatus.ADOPTED,
                FindingStatus.ACKNOWLEDGED,
                FindingStatus.RESOLVED,
            }
        ),
        FindingStatus.APPROVED: frozenset({FindingStatus.OPEN, FindingStatus.RESOLVED}),
        FindingStatus.ADOPTED: frozenset(
            {FindingStatus.APPROVED, FindingStatus.OPEN, FindingStatus.RESOLVED}
        ),
        FindingStatus.ACKNOWLEDGED: frozenset({FindingStatus.APPROVED, FindingStatus.RESOLVED}),
        FindingStatus.RESOLVED: frozenset({FindingStatus.OPEN, FindingStatus.APPROVED}),
    },
    groups={
        "needs_decision": frozenset({FindingStatus.OPEN}),
        "seen": frozenset(
            {
                FindingStatus.OPEN,
                FindingStatus.APPROVED,
                FindingStatus.ADOPTED,
                FindingStatus.ACKNOWLEDGED,
            }
        ),
    },
    labels=choice_labels(FindingStatus.choices),
    subject=_("A finding"),
    touch=(),
)


class KnownVendorAccount(models.Model):
    """An AWS account id security attributes to a vendor, beside the catalogue kept in the
    repository (verification/vendor_accounts.json); shown as the finding's principal name."""

    account_id = models.CharField(max_length=12, unique=True)
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=500, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.account_id})"
