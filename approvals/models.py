"""Access requests: a vendor's AWS grant from draft to revocation, and its one state machine."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accessportal.lifecycle import ANY, Announce, Effect, Enqueue, Lifecycle, choice_labels
from inventory.models import AwsAccount


class Strategy(models.TextChoices):
    """The five ways to grant a vendor access (DESIGN.md section 1), safest first."""

    ROLE_PER_ACCOUNT = "role_per_account", _("A role in each selected account")
    HUB_ROLE = "hub_role", _("A hub role in the Substrate account, and spoke roles")
    AUDITOR = "auditor", _("Reuse the Auditor role (read-only everywhere)")
    ADMINISTRATOR = "administrator", _("Reuse the Administrator role (admin everywhere)")
    IAM_USER = "iam_user", _("An IAM user with an access key")


STRATEGY_HELP = {
    Strategy.ROLE_PER_ACCOUNT: _(
        "Best: the vendor assumes a purpose-built role in exactly the accounts you pick, with "
        "an external id. Low risk when the permissions are narrow."
    ),
    Strategy.HUB_ROLE: _(
        "One role in the Substrate account trusts the vendor; it can assume roles in the "
        "accounts you pick. Good when the vendor wants a single role ARN."
    ),
    Strategy.AUDITOR: _(
        "The vendor joins Substrate's Auditor role: read-only in every account, without "
        "blanket s3:GetObject. Medium risk: it reads everything."
    ),
    Strategy.ADMINISTRATOR: _(
        "The vendor joins Substrate's Administrator role: full control of every account, "
        "the management account included. The riskiest choice; two approvals."
    ),
    Strategy.IAM_USER: _(
        "Only when the vendor cannot assume roles: an IAM user whose long-lived access key "
        "is delivered once. High risk; two approvals; keys rotate every 90 days."
    ),
}
# Which request fields each strategy uses; the form hides the others and ignores their input.
STRATEGY_FIELDS: dict[str, frozenset[str]] = {
    Strategy.ROLE_PER_ACCOUNT: frozenset(
        {"principals", "external_id", "accounts", "role_name", "permissions"}
    ),
    Strategy.HUB_ROLE: frozenset(
        {"principals", "external_id", "accounts", "role_name", "permissions"}
    ),
    Strategy.AUDITOR: frozenset({"principals", "external_id"}),
    Strategy.ADMINISTRATOR: frozenset({"principals", "external_id"}),
    Strategy.IAM_USER: frozenset({"accounts", "role_name", "permissions"}),
}


class AccessRequest(models.Model):
    """A request for a vendor's access to AWS accounts, from draft to revocation.

    The status changes only through `approvals.workflow.transition`, which checks
    `TRANSITIONS`, saves and writes the audit event.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Submitted, awaiting approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        PROVISIONING = "provisioning", _("Provisioning")
        PR_OPEN = "pr_open", _("Pull request open")
        ACTIVE = "active", _("Active")
        FAILED = "failed", _("Failed")
        # The forge merged a head other than the commit that was approved (someone pushed to
        # the portal's branch): not active until security has looked (approvals.decisions).
        MERGE_MISMATCH = "merge_mismatch", _("Merged a head that was not approved")
        EXPIRING = "expiring", _("Expiring")
        REVOKED = "revoked", _("Revoked")
        # Nobody decided within PORTAL_PENDING_EXPIRE_DAYS of the submission (approvals.reminders).
        LAPSED = "lapsed", _("Lapsed: nobody decided in time")

    class PolicySource(models.TextChoices):
        MANAGED = "managed", _("AWS managed policies")
        INLINE = "inline", _("A custom policy document")
        GENERATED = "generated", _("A least-privilege policy generated from my choices")

    class Risk(models.TextChoices):
        LOW = "low", _("Low")
        MEDIUM = "medium", _("Medium")
        HIGH = "high", _("High")
        CRITICAL = "critical", _("Critical")

    vendor = models.ForeignKey(
        "vendors.Vendor", on_delete=models.PROTECT, related_name="access_requests"
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_requests"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    strategy = models.CharField(max_length=20, choices=Strategy.choices)
    principals = models.JSONField(default=list, blank=True)
    external_id = models.CharField(max_length=1224, blank=True)
    target_domains = models.JSONField(default=list, blank=True)
    target_environments = models.JSONField(default=list, blank=True)
    target_qualities = models.JSONField(default=list, blank=True)
    target_accounts = models.ManyToManyField(AwsAccount, blank=True, related_name="requests")
    role_name = models.CharField(max_length=64, blank=True)
    policy_source = models.CharField(max_length=16, choices=PolicySource.choices, blank=True)
    managed_policy_arns = models.JSONField(default=list, blank=True)
    inline_policy = models.JSONField(null=True, blank=True)
    generator_input = models.JSONField(null=True, blank=True)
    justification = models.TextField(blank=True)
    expires_on = models.DateField(null=True, blank=True)

    lint_findings = models.JSONField(default=list, blank=True)
    risk_level = models.CharField(max_length=16, choices=Risk.choices, blank=True)
    risk_reasons = models.JSONField(default=list, blank=True)
    admin_equivalent = models.BooleanField(default=False)
    required_approvals = models.PositiveSmallIntegerField(default=1)
    # Extension: the requester asks for a later end date; the grant's own quorum
    # (`required_approvals`) of distinct security members grants it (`ExtensionApproval`).
    extension_until = models.DateField(null=True, blank=True)
    extension_reason = models.TextField(blank=True)
    extensions_granted = models.PositiveSmallIntegerField(default=0)
    # Which ask the pending extension is: each ask starts a new round, so approvals of an
    # earlier ask (another date, or refused) never count toward this one.
    extension_round = models.PositiveIntegerField(default=0)
    # Nothing waits forever (approvals.reminders): when the approvers were last reminded of the
    # submitted request, when the pending extension was asked, and when last reminded of it.
    reminded_at = models.DateTimeField(null=True, blank=True)
    extension_asked_at = models.DateTimeField(null=True, blank=True)
    extension_reminded_at = models.DateTimeField(null=True, blank=True)
    # The change set the generator would produce, computed when the request is saved.
    preview = models.JSONField(null=True, blank=True)

    duplicated_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # What the request reaches, as the approval rules match it (`approvals.rules`): the
    # domains, environments and qualities of its accounts, computed when it is saved, so that
    # pages and decisions never read the inventory again to know which rules apply.
    reaches = models.JSONField(default=dict, blank=True)
    # The version of the approval rules its decision was taken under (set by the deciding
    # approval or the rejection; an auditor reads which rules were in force).
    rules_version = models.ForeignKey(
        "ApprovalRuleSet", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["requester", "-created_at"]),
            models.Index(fields=["status", "-created_at"]),
            models.Index(fields=["vendor", "status"]),
            # The admin's list, newest first, without sorting every request.
            models.Index(fields=["-created_at"], name="request_created_idx"),
            # The dashboard's queue, oldest submission first.
            models.Index(fields=["status", "submitted_at"], name="request_submitted_idx"),
            # The dashboard's grants ending soon: only live grants, by end date. The states
            # are LIVE_STATES below (a Meta class cannot refer to them).
            models.Index(
                fields=["expires_on"],
                condition=models.Q(
                    status__in=["approved", "provisioning", "pr_open", "active", "expiring"]
                ),
                name="request_live_expiry_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.vendor} ({self.get_strategy_display()})"

    def uses(self, field: str) -> bool:
        return field in STRATEGY_FIELDS[self.strategy]

    @property
    def has_lint_errors(self) -> bool:
        return any(f.get("severity") == "error" for f in self.lint_findings)


Status = AccessRequest.Status
# The whole lifecycle, in one place (STYLE.md example 2). Issue-by-issue the services that use
# the later states arrive; none may set a status that is not listed here.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.DRAFT: frozenset({Status.SUBMITTED, Status.WITHDRAWN}),
    Status.SUBMITTED: frozenset(
        {Status.APPROVED, Status.REJECTED, Status.WITHDRAWN, Status.DRAFT, Status.LAPSED}
    ),
    Status.APPROVED: frozenset({Status.PROVISIONING, Status.REVOKED}),
    # Revoked while the worker is opening the pull request: the worker sees it when it
    # finishes and queues the revocation, which closes that pull request.
    Status.PROVISIONING: frozenset({Status.PR_OPEN, Status.FAILED, Status.REVOKED}),
    Status.PR_OPEN: frozenset(
        {Status.ACTIVE, Status.MERGE_MISMATCH, Status.FAILED, Status.APPROVED, Status.REVOKED}
    ),
    # Security reviewed what was merged and accepts it (ACTIVE), or revokes it.
    Status.MERGE_MISMATCH: frozenset({Status.ACTIVE, Status.REVOKED}),
    Status.FAILED: frozenset({Status.APPROVED, Status.REVOKED}),
    Status.ACTIVE: frozenset({Status.EXPIRING, Status.REVOKED}),
    Status.EXPIRING: frozenset({Status.ACTIVE, Status.REVOKED}),
    Status.REJECTED: frozenset(),
    Status.WITHDRAWN: frozenset(),
    Status.REVOKED: frozenset(),
    Status.LAPSED: frozenset(),  # final like a rejection: a duplicate is filed again
}
PENDING_STATES = frozenset({Status.DRAFT, Status.SUBMITTED})
# Where a request ends: nothing moves it on (a duplicate starts a new one).
FINAL_STATES = frozenset({Status.REJECTED, Status.WITHDRAWN, Status.REVOKED, Status.LAPSED})
# The request's documents: only the request page shows them, and the change preview alone can
# hold a file per account. List pages defer them (a list loads 25 to 100 requests at a time).
DOCUMENT_FIELDS = ("preview", "generator_input", "inline_policy", "lint_findings")
# Grants that exist or are being created; `request_live_expiry_idx` covers exactly these, in
# this order (a query must name the same list for PostgreSQL to use the partial index).
LIVE_STATES = (
    Status.APPROVED,
    Status.PROVISIONING,
    Status.PR_OPEN,
    Status.ACTIVE,
    Status.EXPIRING,
)

# Grants security may revoke: live, on their way, failed, or merged awaiting review.
REVOCABLE = frozenset(
    {
        Status.APPROVED,
        Status.PROVISIONING,
        Status.PR_OPEN,
        Status.ACTIVE,
        Status.EXPIRING,
        Status.FAILED,
        Status.MERGE_MISMATCH,
    }
)
# A grant that still runs: what its requester may ask to extend.
EXTENDABLE = frozenset({Status.APPROVED, Status.PR_OPEN, Status.ACTIVE, Status.EXPIRING})


def _has_access_keys(access_request: AccessRequest) -> bool:
    return access_request.strategy == Strategy.IAM_USER


PROVISION = Enqueue("fulfilment.tasks.provision_access_task")
# What follows each move, after the commit: the work queued and who is told. Moves not named
# here only change the status (and are audited by approvals.workflow).
EFFECTS: dict[tuple[str, str], tuple[Effect, ...]] = {
    (Status.DRAFT, Status.SUBMITTED): (Announce("submitted"),),
    (ANY, Status.WITHDRAWN): (Announce("withdrawn"),),
    # The worker sees the approved row; a rollback enqueues nothing.
    (Status.SUBMITTED, Status.APPROVED): (Announce("approved"), PROVISION),
    (Status.FAILED, Status.APPROVED): (PROVISION,),
    (Status.SUBMITTED, Status.REJECTED): (Announce("rejected"),),
    (Status.SUBMITTED, Status.LAPSED): (Announce("lapsed", by_actor=False),),
    (Status.APPROVED, Status.PROVISIONING): (Announce("provisioning"),),
    (Status.PROVISIONING, Status.PR_OPEN): (Announce("pr_open"),),
    (Status.PROVISIONING, Status.FAILED): (Announce("failed", by_actor=False),),
    (Status.PR_OPEN, Status.FAILED): (Announce("failed", by_actor=False),),
    (Status.PR_OPEN, Status.ACTIVE): (Announce("active"),),
    (Status.PR_OPEN, Status.MERGE_MISMATCH): (Announce("merge_mismatch", by_actor=False),),
    (Status.MERGE_MISMATCH, Status.ACTIVE): (Announce("active"),),
    (Status.ACTIVE, Status.EXPIRING): (Announce("expiring"),),
    # The revocation pull request is queued; an IAM user's keys stop working at once (they
    # are deleted when that pull request merges).
    (ANY, Status.REVOKED): (
        Announce("revoked"),
        Enqueue("fulfilment.tasks.revoke_access_task"),
        Enqueue("keys.tasks.access_keys_deactivate_task", when=_has_access_keys),
    ),
}
LIFECYCLE = Lifecycle(
    field="status",
    table=TRANSITIONS,
    effects=EFFECTS,
    groups={
        "pending": PENDING_STATES,
        "live": frozenset(LIVE_STATES),
        "revocable": REVOCABLE,
        "extendable": EXTENDABLE,
        "final": FINAL_STATES,
    },
    labels=choice_labels(Status.choices),
    subject=_("A request"),
)


class Approval(models.Model):
    """One security member's decision on one request. A person counts once toward a quorum:
    the database refuses a second decision by the same person on the same request."""

    class Decision(models.TextChoices):
        APPROVE = "approve", _("Approve")
        REJECT = "reject", _("Reject")

    access_request = models.ForeignKey(
        AccessRequest, on_delete=models.PROTECT, related_name="approvals"
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decision = models.CharField(max_length=8, choices=Decision.choices)
    comment = models.TextField(blank=True)
    mfa_verified = models.BooleanField(default=False)
    # The rules in force when this decision was taken, and the approver groups it counted
    # for under them (an approval counts toward every rule whose group the approver is in).
    rules_version = models.ForeignKey(
        "ApprovalRuleSet", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    counted_for = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["access_request", "approver"], name="one_decision_per_approver"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.approver} {self.decision} #{self.access_request_id}"


class ExtensionApproval(models.Model):
    """One security member's approval of one extension ask (`AccessRequest.extension_round`).

    A person counts once per ask: the database refuses a second approval by the same person
    for the same round. The date approved is kept, so the trail shows what each one agreed to.
    """

    access_request = models.ForeignKey(
        AccessRequest, on_delete=models.PROTECT, related_name="extension_approvals"
    )
    extension_round = models.PositiveIntegerField()
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    until = models.DateField()
    comment = models.TextField(blank=True)
    mfa_verified = models.BooleanField(default=False)
    rules_version = models.ForeignKey(
        "ApprovalRuleSet", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    counted_for = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["access_request", "extension_round", "approver"],
                name="one_extension_approval_per_approver",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.approver} extends #{self.access_request_id} to {self.until}"


class ApprovalRuleSet(models.Model):
    """One version of the approval rules: which group of approvers decides what, and how many.

    A version is never edited. A change is a new version, proposed by one security member and
    in force once two other members approve it (`approvals.rules`); the version it replaces is
    kept as superseded. Each decision records the version it was taken under. The rules are a
    list of `approvals.rules.Rule` as JSON: the set is read and checked whole.
    """

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Proposed, awaiting two approvals")
        ACTIVE = "active", _("In force")
        SUPERSEDED = "superseded", _("Superseded")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    version = models.PositiveIntegerField(unique=True)
    rules = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Status.choices)
    based_on = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # None for the first version: the defaults, which reproduce the portal's behaviour before
    # rules existed (security decides; the quorum set by risk).
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            # One set in force, and one change under review at a time: a second proposal
            # would be decided against rules that the first may change under it.
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="active"),
                name="one_active_rule_set",
            ),
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="proposed"),
                name="one_proposed_rule_set",
            ),
        ]

    def __str__(self) -> str:
        return f"Approval rules v{self.version} ({self.get_status_display()})"


RuleSetStatus = ApprovalRuleSet.Status
RULE_SET_LIFECYCLE = Lifecycle(
    field="status",
    table={
        RuleSetStatus.PROPOSED: frozenset(
            {RuleSetStatus.ACTIVE, RuleSetStatus.REJECTED, RuleSetStatus.WITHDRAWN}
        ),
        RuleSetStatus.ACTIVE: frozenset({RuleSetStatus.SUPERSEDED}),
        RuleSetStatus.SUPERSEDED: frozenset(),
        RuleSetStatus.REJECTED: frozenset(),
        RuleSetStatus.WITHDRAWN: frozenset(),
    },
    labels=choice_labels(RuleSetStatus.choices),
    subject=_("A version of the approval rules"),
    touch=(),
)


class RuleSetVote(models.Model):
    """One security member's approval or rejection of a proposed version of the rules.

    The proposer never votes on their own change; one person counts once (the database
    refuses a second vote by the same person on the same version)."""

    class Decision(models.TextChoices):
        APPROVE = "approve", _("Approve")
        REJECT = "reject", _("Reject")

    rule_set = models.ForeignKey(ApprovalRuleSet, on_delete=models.PROTECT, related_name="votes")
    voter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    comment = models.TextField(blank=True)
    mfa_verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["rule_set", "voter"], name="one_vote_per_rule_set"),
        ]

    def __str__(self) -> str:
        return f"{self.voter} {self.decision} rules v{self.rule_set.version}"
