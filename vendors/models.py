"""Vendors, their contacts, and the SOC 2 subprocessor reviews that gate their AWS access."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accessportal.lifecycle import ANY, Enqueue, Lifecycle, choice_labels

# Safe as a file name, a branch name fragment, an IAM name fragment and a Terraform identifier:
# lower-case letters, digits and single hyphens, starting with a letter, at most 48 characters.
SLUG_PATTERN = r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){1,47}$"
slug_validator = RegexValidator(
    SLUG_PATTERN,
    _("Use 2-48 lower-case letters, digits and single hyphens, starting with a letter."),
)


class Tier(models.TextChoices):
    """Inherent risk tier (SOC2.md checklist item 3)."""

    CRITICAL = "critical", _("Critical")
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")


class DataSensitivity(models.TextChoices):
    NONE = "none", _("No company data")
    INTERNAL = "internal", _("Internal data (metadata, logs, metrics)")
    CONFIDENTIAL = "confidential", _("Confidential data (source code, secrets, infrastructure)")
    CUSTOMER = "customer", _("Customer or personal data")


class AccessLevel(models.TextChoices):
    NONE = "none", _("No access to our systems")
    READ = "read", _("Read-only access")
    WRITE = "write", _("Can change resources")
    ADMIN = "admin", _("Administrator-equivalent access")


class Criticality(models.TextChoices):
    LOW = "low", _("Outage is an inconvenience")
    MEDIUM = "medium", _("Outage slows delivery")
    HIGH = "high", _("Outage affects our service or its security")


class DataCategory(models.TextChoices):
    NONE = "none", _("None")
    LOGS = "logs", _("Logs and metrics")
    SOURCE_CODE = "source_code", _("Source code")
    INFRASTRUCTURE = "infrastructure", _("Infrastructure configuration")
    SECRETS = "secrets", _("Credentials and secrets")
    CUSTOMER_DATA = "customer_data", _("Customer data")
    PERSONAL_DATA = "personal_data", _("Personal data")
    FINANCIAL = "financial", _("Billing and financial data")


class Vendor(models.Model):
    """A third party (a SaaS vendor) that processes our data or needs access to AWS.

    The tier is computed from the rubric fields by `vendors.services.tier_from_rubric`; security
    may override it, with a reason, and the override wins (`effective_tier`).
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        OFFBOARDED = "offboarded", _("Offboarded")

    name = models.CharField(_("name"), max_length=120, unique=True)
    slug = models.CharField(
        _("slug"),
        max_length=48,
        unique=True,
        validators=[slug_validator],
        help_text=_("Used in file names, IAM names and Terraform identifiers; never changes."),
    )
    legal_name = models.CharField(_("legal name"), max_length=200, blank=True)
    service = models.CharField(_("service bought"), max_length=200)
    website = models.URLField(_("website"), blank=True)
    purpose = models.TextField(_("purpose of processing"))
    internal_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="owned_vendors",
        verbose_name=_("internal owner"),
    )

    data_sensitivity = models.CharField(
        _("data sensitivity"), max_length=16, choices=DataSensitivity.choices
    )
    access_level = models.CharField(_("access level"), max_length=16, choices=AccessLevel.choices)
    criticality = models.CharField(_("criticality"), max_length=16, choices=Criticality.choices)
    tier = models.CharField(_("rubric tier"), max_length=16, choices=Tier.choices, editable=False)
    tier_override = models.CharField(
        _("tier override"), max_length=16, choices=Tier.choices, blank=True
    )
    tier_override_reason = models.TextField(_("reason for the override"), blank=True)

    data_categories = models.JSONField(_("data categories"), default=list, blank=True)
    storage_regions = models.CharField(_("storage regions"), max_length=200, blank=True)
    processing_regions = models.CharField(_("processing regions"), max_length=200, blank=True)
    transfer_mechanism = models.CharField(
        _("transfer mechanism"),
        max_length=200,
        blank=True,
        help_text=_("E.g. standard contractual clauses, adequacy decision, none (same region)."),
    )
    fourth_parties = models.TextField(
        _("the vendor's own subprocessors"),
        blank=True,
        help_text=_("One per line, as the vendor discloses them."),
    )

    contract_start = models.DateField(_("contract start"), null=True, blank=True)
    contract_end = models.DateField(_("contract end"), null=True, blank=True)
    dpa_signed_on = models.DateField(_("DPA signed on"), null=True, blank=True)
    dpa_version = models.CharField(_("DPA version"), max_length=60, blank=True)
    breach_notification_hours = models.PositiveIntegerField(
        _("breach notification (hours)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
    )
    subprocessor_change_notice_days = models.PositiveIntegerField(
        _("subprocessor change notice (days)"), null=True, blank=True
    )
    right_to_audit = models.BooleanField(_("right to audit"), default=False)

    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    offboarded_on = models.DateField(_("offboarded on"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(tier_override="") | ~Q(tier_override_reason=""),
                name="vendor_tier_override_needs_reason",
            ),
            models.CheckConstraint(
                condition=Q(status="active", offboarded_on__isnull=True)
                | Q(status="offboarded", offboarded_on__isnull=False),
                name="vendor_offboarded_has_date",
            ),
        ]
        indexes = [models.Index(fields=["status", "tier"])]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_tier(self) -> str:
        return self.tier_override or self.tier

    def get_effective_tier_display(self) -> str:
        return str(Tier(self.effective_tier).label)

    @property
    def data_category_labels(self) -> list[str]:
        """The data categories as people read them ("Customer data"), in their stored order; a
        value no longer among the choices shows as itself rather than disappearing."""
        labels = dict(DataCategory.choices)
        return [str(labels.get(value, value)) for value in self.data_categories or []]


# A vendor is offboarded once, for good (`vendors.services.vendor_mark_offboarded`, which sets
# `offboarded_on` with it); its grants are revoked by fulfilment in the same transaction.
VENDOR_TRANSITIONS: dict[str, frozenset[str]] = {
    Vendor.Status.ACTIVE: frozenset({Vendor.Status.OFFBOARDED}),
    Vendor.Status.OFFBOARDED: frozenset(),
}
VENDOR_LIFECYCLE = Lifecycle(
    field="status",
    table=VENDOR_TRANSITIONS,
    labels=choice_labels(Vendor.Status.choices),
    subject=_("A vendor"),
)


# The fields people edit (the form's and the services'); the rest is derived or set by services.
VENDOR_FIELDS = (
    "name",
    "slug",
    "legal_name",
    "service",
    "website",
    "purpose",
    "internal_owner",
    "data_sensitivity",
    "access_level",
    "criticality",
    "tier_override",
    "tier_override_reason",
    "data_categories",
    "storage_regions",
    "processing_regions",
    "transfer_mechanism",
    "fourth_parties",
    "contract_start",
    "contract_end",
    "dpa_signed_on",
    "dpa_version",
    "breach_notification_hours",
    "subprocessor_change_notice_days",
    "right_to_audit",
)


class VendorContact(models.Model):
    """A person at the vendor. At most one per vendor receives access keys (one-time links)."""

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(_("name"), max_length=120)
    email = models.EmailField(_("e-mail"))
    role = models.CharField(_("role"), max_length=120, blank=True)
    receives_access_keys = models.BooleanField(
        _("receives access keys"),
        default=False,
        help_text=_("This person gets the one-time link for IAM access keys."),
    )

    class Meta:
        ordering = ["vendor", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["vendor"],
                condition=Q(receives_access_keys=True),
                name="one_key_contact_per_vendor",
                violation_error_message=_("Another contact already receives access keys."),
            ),
            models.UniqueConstraint(fields=["vendor", "email"], name="unique_contact_email"),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class KeyRecipientChange(models.Model):
    """A proposed change of who receives a vendor's access keys, held until security decides.

    Whoever may edit a vendor may propose one (a new e-mail for the key contact, another
    contact as the recipient, a new contact who receives keys); it takes effect only when an
    MFA-verified member of security who neither proposed it nor registered the vendor confirms
    it (`vendors.services.key_recipient_change_decide`). Until then the contact keeps its
    confirmed address and flag, and key links for the vendor are held (`keys.services`).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for security")
        CONFIRMED = "confirmed", _("Confirmed")
        REJECTED = "rejected", _("Rejected")

    vendor = models.ForeignKey(
        Vendor, on_delete=models.PROTECT, related_name="key_recipient_changes"
    )
    # SET_NULL: a decided change stays on record after its contact is removed.
    contact = models.ForeignKey(
        VendorContact,
        on_delete=models.SET_NULL,
        null=True,
        related_name="key_recipient_changes",
    )
    email = models.EmailField(_("proposed recipient"))
    previous_email = models.EmailField(_("recipient until now"), blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)

    class Meta:
        ordering = ["-proposed_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["vendor"],
                condition=Q(status="pending"),
                name="one_pending_key_recipient_change_per_vendor",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("proposed_by")),
                name="key_recipient_change_decider_is_not_proposer",
            ),
        ]

    def __str__(self) -> str:
        return f"Key recipient of {self.vendor_id} -> {self.email} ({self.status})"


# Security decides a pending change once (`vendors.services.key_recipient_change_decide`).
RECIPIENT_CHANGE_TRANSITIONS: dict[str, frozenset[str]] = {
    KeyRecipientChange.Status.PENDING: frozenset(
        {KeyRecipientChange.Status.CONFIRMED, KeyRecipientChange.Status.REJECTED}
    ),
    KeyRecipientChange.Status.CONFIRMED: frozenset(),
    KeyRecipientChange.Status.REJECTED: frozenset(),
}
# Either decision releases the key links held while the change waited, to whoever receives
# keys after it. The task is the vendor's: it locks the links' requests before the audit log,
# the order every key service keeps (the deciding transaction holds the audit log already).
RELEASE_HELD_KEYS = Enqueue("keys.tasks.key_deliveries_release_task", object_id="vendor_id")
RECIPIENT_CHANGE_LIFECYCLE = Lifecycle(
    field="status",
    table=RECIPIENT_CHANGE_TRANSITIONS,
    groups={
        "decided": frozenset(
            {KeyRecipientChange.Status.CONFIRMED, KeyRecipientChange.Status.REJECTED}
        ),
    },
    labels=choice_labels(KeyRecipientChange.Status.choices),
    subject=_("A change of key recipient"),
    touch=(),  # no auto_now field
    effects={
        (ANY, KeyRecipientChange.Status.CONFIRMED): (RELEASE_HELD_KEYS,),
        (ANY, KeyRecipientChange.Status.REJECTED): (RELEASE_HELD_KEYS,),
    },
)


class ChecklistItem(models.Model):
    """One question of the review checklist catalogue (seeded from SOC2.md section 2).

    Security edits the catalogue in the admin. Answers copy the question's text and blocking
    flag when the review starts, so a later edit never rewrites a review already given.
    """

    class Section(models.TextChoices):
        SCOPE = "A", _("Scope and tier")
        ATTESTATION = "B", _("Attestation (SOC 2 report)")
        CONTRACT = "C", _("Contract and privacy")
        AWS = "D", _("AWS access")
        DECISION = "E", _("Decision and monitoring")

    code = models.CharField(_("code"), max_length=8, unique=True)
    section = models.CharField(_("section"), max_length=1, choices=Section.choices)
    order = models.PositiveIntegerField(_("order"), default=0)
    text = models.TextField(_("question"))
    help_text = models.TextField(_("help"), blank=True)
    evidence_required = models.BooleanField(_("evidence required"), default=False)
    blocking_tiers = models.JSONField(
        _("blocking for tiers"),
        default=list,
        blank=True,
        help_text=_("Tiers for which an answer other than yes or n/a blocks approval."),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["order", "code"]

    def __str__(self) -> str:
        return f"{self.code}. {self.text[:60]}"

    def is_blocking_for(self, tier: str) -> bool:
        return tier in (self.blocking_tiers or [])


class SubprocessorReview(models.Model):
    """A dated SOC 2 review of one vendor: the checklist answers, the report's facts, a decision.

    Lifecycle: draft -> submitted -> approved / approved with conditions / rejected. The decider
    is never the submitter; only the services in `vendors.services` change the status.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Submitted")
        APPROVED = "approved", _("Approved")
        CONDITIONAL = "conditional", _("Approved with conditions")
        REJECTED = "rejected", _("Rejected")

    class ReportType(models.TextChoices):
        SOC2_TYPE2 = "soc2_type2", _("SOC 2 Type II")
        SOC2_TYPE1 = "soc2_type1", _("SOC 2 Type I")
        ISO27001 = "iso27001", _("ISO 27001 certificate")
        NONE = "none", _("No attestation")

    class Opinion(models.TextChoices):
        UNQUALIFIED = "unqualified", _("Unqualified")
        QUALIFIED = "qualified", _("Qualified")
        ADVERSE = "adverse", _("Adverse")
        DISCLAIMER = "disclaimer", _("Disclaimer of opinion")

    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="reviews")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    tier_at_review = models.CharField(max_length=16, choices=Tier.choices)

    report_type = models.CharField(
        _("report type"), max_length=16, choices=ReportType.choices, blank=True
    )
    scope_covers_service = models.BooleanField(
        _("the report's scope covers the service we buy"), null=True, blank=True
    )
    trust_services_categories = models.JSONField(
        _("trust services categories"), default=list, blank=True
    )
    period_start = models.DateField(_("period start"), null=True, blank=True)
    period_end = models.DateField(_("period end"), null=True, blank=True)
    report_issued_on = models.DateField(_("report issued on"), null=True, blank=True)
    auditor_firm = models.CharField(_("service auditor (CPA firm)"), max_length=200, blank=True)
    opinion = models.CharField(_("opinion"), max_length=16, choices=Opinion.choices, blank=True)
    bridge_letter_through = models.DateField(
        _("bridge letter covers through"), null=True, blank=True
    )
    alternative_evidence = models.TextField(
        _("alternative evidence and compensating controls"), blank=True
    )
    residual_risk = models.CharField(
        _("residual risk"), max_length=16, choices=Tier.choices, blank=True
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)
    conditions = models.TextField(blank=True)
    next_review_due = models.DateField(null=True, blank=True)
    # The due date the owner and security were last reminded of (vendors.reminders), once as it
    # falls due and once when it is overdue: a new date (a new decision) reminds again.
    due_reminded_for = models.DateField(null=True, blank=True)
    overdue_reminded_for = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("submitted_by")),
                name="review_decider_is_not_submitter",
            ),
            models.CheckConstraint(
                condition=Q(period_start__isnull=True)
                | Q(period_end__isnull=True)
                | Q(period_start__lte=models.F("period_end")),
                name="review_period_in_order",
            ),
        ]
        indexes = [models.Index(fields=["vendor", "status", "-decided_at"])]

    def __str__(self) -> str:
        return f"Review of {self.vendor} ({self.get_status_display()})"

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT

    @property
    def is_decided(self) -> bool:
        return self.status in REVIEW_LIFECYCLE.group("decided")


RStatus = SubprocessorReview.Status
# Drafted, submitted, decided once by an independent member of security
# (`vendors.services.review_submit` and `review_decide`); a new review follows a decided one.
REVIEW_TRANSITIONS: dict[str, frozenset[str]] = {
    RStatus.DRAFT: frozenset({RStatus.SUBMITTED}),
    RStatus.SUBMITTED: frozenset({RStatus.APPROVED, RStatus.CONDITIONAL, RStatus.REJECTED}),
    RStatus.APPROVED: frozenset(),
    RStatus.CONDITIONAL: frozenset(),
    RStatus.REJECTED: frozenset(),
}
REVIEW_LIFECYCLE = Lifecycle(
    field="status",
    table=REVIEW_TRANSITIONS,
    groups={
        # In progress: a vendor has at most one at a time.
        "open": frozenset({RStatus.DRAFT, RStatus.SUBMITTED}),
        # The reviews that count for the vendor's review state (the latest of them).
        "approved": frozenset({RStatus.APPROVED, RStatus.CONDITIONAL}),
        "decided": frozenset({RStatus.APPROVED, RStatus.CONDITIONAL, RStatus.REJECTED}),
    },
    labels=choice_labels(RStatus.choices),
    subject=_("A review"),
    touch=(),  # no auto_now field
)


class ChecklistAnswer(models.Model):
    """The answer to one checklist item in one review, with the item's text as it was."""

    class Answer(models.TextChoices):
        YES = "yes", _("Yes")
        NO = "no", _("No")
        NOT_APPLICABLE = "na", _("Not applicable")

    review = models.ForeignKey(SubprocessorReview, on_delete=models.CASCADE, related_name="answers")
    item = models.ForeignKey(ChecklistItem, on_delete=models.PROTECT, related_name="answers")
    item_code = models.CharField(max_length=8)
    item_text = models.TextField()
    evidence_required = models.BooleanField(default=False)
    blocking = models.BooleanField(
        default=False, help_text=_("The item blocked approval for the vendor's tier at the time.")
    )
    answer = models.CharField(max_length=4, choices=Answer.choices, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["review", "id"]
        constraints = [
            models.UniqueConstraint(fields=["review", "item"], name="one_answer_per_item"),
        ]

    def __str__(self) -> str:
        return f"{self.item_code}: {self.answer or '-'}"

    @property
    def is_open_blocker(self) -> bool:
        return self.blocking and self.answer not in {self.Answer.YES, self.Answer.NOT_APPLICABLE}


class ReviewException(models.Model):
    """An exception from section IV of the SOC 2 report, with our disposition."""

    class Disposition(models.TextChoices):
        NOT_RELEVANT = "not_relevant", _("Not relevant to our use")
        ACCEPTED = "accepted", _("Accepted")
        MITIGATED = "mitigated", _("Mitigated by our controls")
        ESCALATED = "escalated", _("Escalated")

    review = models.ForeignKey(
        SubprocessorReview, on_delete=models.CASCADE, related_name="exceptions"
    )
    description = models.TextField(_("exception"))
    vendor_response = models.TextField(_("vendor management response"), blank=True)
    relevant = models.BooleanField(_("relevant to us"), default=True)
    disposition = models.CharField(
        _("our disposition"), max_length=16, choices=Disposition.choices, blank=True
    )

    def __str__(self) -> str:
        return self.description[:60]


class ComplementaryControl(models.Model):
    """A complementary user entity control (CUEC): mapped to our control and owner, or N/A."""

    review = models.ForeignKey(SubprocessorReview, on_delete=models.CASCADE, related_name="cuecs")
    description = models.TextField(_("CUEC"))
    mapped_control = models.CharField(_("our control"), max_length=200, blank=True)
    owner = models.CharField(_("owner"), max_length=120, blank=True)
    not_applicable_reason = models.TextField(_("not applicable because"), blank=True)

    def __str__(self) -> str:
        return self.description[:60]

    @property
    def is_mapped(self) -> bool:
        return bool(self.mapped_control and self.owner) or bool(self.not_applicable_reason)


class SubserviceOrganization(models.Model):
    """A subservice organization named in the report, carved out or included."""

    class Method(models.TextChoices):
        CARVE_OUT = "carve_out", _("Carve-out")
        INCLUSIVE = "inclusive", _("Inclusive")

    review = models.ForeignKey(
        SubprocessorReview, on_delete=models.CASCADE, related_name="subservice_organizations"
    )
    name = models.CharField(_("name"), max_length=200)
    service = models.CharField(_("service"), max_length=200, blank=True)
    method = models.CharField(_("method"), max_length=16, choices=Method.choices)
    controls_noted = models.TextField(_("complementary subservice controls noted"), blank=True)
    report_obtained = models.BooleanField(_("their report obtained"), default=False)

    def __str__(self) -> str:
        return self.name


def _evidence_path(instance: EvidenceFile, filename: str) -> str:
    # The stored name never uses the uploaded name's characters beyond the sanitised form.
    return f"evidence/{instance.review.vendor.slug}/{instance.review_id}/{instance.stored_name}"


class EvidenceFile(models.Model):
    """A file supporting a review (the SOC 2 report, a bridge letter, a DPA...).

    Stored through Django's storage API, outside any public path; served only by the evidence
    view to people allowed to read the review. The SHA-256 is recorded at upload.
    """

    review = models.ForeignKey(
        SubprocessorReview, on_delete=models.PROTECT, related_name="evidence"
    )
    answer = models.ForeignKey(
        ChecklistAnswer, on_delete=models.PROTECT, null=True, blank=True, related_name="evidence"
    )
    file = models.FileField(upload_to=_evidence_path, max_length=300)
    stored_name = models.CharField(max_length=200, editable=False)
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at"]

    def __str__(self) -> str:
        return self.original_name
