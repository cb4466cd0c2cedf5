"""The AWS account inventory, synced from AWS Organizations (SUBSTRATE.md section 4)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from accessportal.lifecycle import Lifecycle, choice_labels

account_id_validator = RegexValidator(r"^\d{12}$", _("An AWS account id is exactly 12 digits."))


class AwsAccount(models.Model):
    """One account of the organization, classified the way Substrate classifies it.

    Rows are written only by the sync (`inventory.services.accounts_sync`); an account that
    disappears from the organization is marked closed, never deleted, because past requests,
    reports and the audit log refer to it.
    """

    # Its audit events were first written under this label (audit.services.audit_object_type).
    audit_type = "approvals.awsaccount"

    class Type(models.TextChoices):
        SERVICE = "service", _("Service")
        MANAGEMENT = "management", _("Management")
        AUDIT = "audit", _("Audit")
        DEPLOY = "deploy", _("Deploy")
        NETWORK = "network", _("Network")
        SUBSTRATE = "substrate", _("Substrate (admin)")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        CLOSED = "closed", _("Closed (no longer in the organization)")

    account_id = models.CharField(
        _("account id"), max_length=12, unique=True, validators=[account_id_validator]
    )
    name = models.CharField(_("name"), max_length=255, blank=True)
    email = models.CharField(_("e-mail"), max_length=255, blank=True)
    account_type = models.CharField(_("type"), max_length=16, choices=Type.choices)
    domain = models.CharField(_("domain"), max_length=64, blank=True)
    environment = models.CharField(_("environment"), max_length=64, blank=True)
    quality = models.CharField(_("quality"), max_length=64, blank=True)
    substrate_version = models.CharField(_("Substrate version"), max_length=32, blank=True)
    tags = models.JSONField(_("tags"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    first_seen_at = models.DateTimeField(_("first seen"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("last seen in the organization"), null=True)

    class Meta:
        # Moved from the approvals app: the table keeps its name (and its data).
        db_table = "approvals_awsaccount"
        ordering = ["domain", "environment", "quality", "account_id"]
        indexes = [
            models.Index(fields=["status", "account_type"]),
            models.Index(fields=["domain", "environment", "quality"]),
        ]

    def __str__(self) -> str:
        label = self.name or "/".join(p for p in (self.domain, self.environment, self.quality) if p)
        return f"{label} ({self.account_id})" if label else self.account_id

    @property
    def is_production(self) -> bool:
        return self.environment.lower() in {"production", "prod"}


class AccountSyncRun(models.Model):
    """One run of the inventory sync: its outcome, counts and what disagrees with the repo."""

    # Its audit events were first written under this label (audit.services.audit_object_type).
    audit_type = "approvals.accountsyncrun"

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    closed = models.PositiveIntegerField(default=0)
    skipped_suspended = models.PositiveIntegerField(default=0)
    mismatches = models.JSONField(
        default=list,
        blank=True,
        help_text=_("Differences between the accounts' tags and the Substrate repository."),
    )
    error = models.TextField(blank=True)

    class Meta:
        # Moved from the approvals app: the table keeps its name (and its data).
        db_table = "approvals_accountsyncrun"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Account sync {self.started_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"


SyncStatus = AccountSyncRun.Status
# A run starts running (its row is created when it is queued) and ends once, either way; a
# run left running by a killed worker is failed by the next one.
SYNC_RUN_LIFECYCLE = Lifecycle(
    field="status",
    table={
        SyncStatus.RUNNING: frozenset({SyncStatus.SUCCEEDED, SyncStatus.FAILED}),
        SyncStatus.SUCCEEDED: frozenset(),
        SyncStatus.FAILED: frozenset(),
    },
    groups={"finished": frozenset({SyncStatus.SUCCEEDED, SyncStatus.FAILED})},
    labels=choice_labels(SyncStatus.choices),
    subject=_("An account sync"),
    touch=(),
)
