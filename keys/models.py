"""IAM access keys of `iam_user` grants and their one-time deliveries (issue 7, DESIGN.md 5-6).

`AccessKey` is one key of the vendor's IAM user as the portal knows it: never the secret, only
the key id, its state and what GetAccessKeyLastUsed said. A row is created *pending* before
the key is created in AWS (the database allows one pending row per request), so a retried or
duplicated task finds it, and the keys of the IAM user that no row knows are deleted before a
new one is created (`provisioning.aws.access_key_create`).

`KeyDelivery` carries the new key's secret to the vendor's key contact once: the secret only as
Fernet ciphertext (wiped, i.e. set to NULL, once revealed or expired) and the link's token only
as its SHA-256. Both change only through the services in `keys.services`.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accessportal.lifecycle import Announce, Effect, Lifecycle, choice_labels
from provisioning.keys import mask_access_key_id


class AccessKey(models.Model):
    """One access key of a vendor's IAM user (metadata only, never the secret)."""

    # Its audit events were first written under this label (audit.services.audit_object_type).
    audit_type = "approvals.accesskey"

    class Status(models.TextChoices):
        PENDING = "pending", _("Being issued")
        ACTIVE = "active", _("Active")
        INACTIVE = "inactive", _("Deactivated")
        DELETED = "deleted", _("Deleted")
        FAILED = "failed", _("Failed")

    access_request = models.ForeignKey(
        "approvals.AccessRequest", on_delete=models.PROTECT, related_name="access_keys"
    )
    user_name = models.CharField(max_length=64)
    # Blank while pending: AWS assigns the id.
    access_key_id = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Rotation: the new key points at the key it replaces.
    replaces = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="replacement"
    )
    aws_created_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_service = models.CharField(max_length=100, blank=True)
    last_used_region = models.CharField(max_length=50, blank=True)
    last_used_checked_at = models.DateTimeField(null=True, blank=True)
    unused_flagged_at = models.DateTimeField(null=True, blank=True)
    # Set by re-issue and revocation: the key goes from AWS as soon as a worker gets to it.
    delete_requested_at = models.DateTimeField(null=True, blank=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # A worker holds a pending row until this time while it calls AWS; a killed worker's claim
    # lapses and the next attempt takes over.
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Why the key is waiting or failed (no secret: messages come from provisioning.aws).
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Moved from the approvals app: the table keeps its name (and its data).
        db_table = "approvals_accesskey"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["access_request"],
                condition=Q(status="pending"),
                name="approvals_accesskey_one_pending_per_request",
            ),
            models.UniqueConstraint(
                fields=["access_key_id"],
                condition=~Q(access_key_id=""),
                name="approvals_accesskey_unique_key_id",
            ),
        ]
        indexes = [models.Index(fields=["status", "aws_created_at"])]

    def __str__(self) -> str:
        return f"{self.masked_id} of {self.user_name} ({self.status})"

    @property
    def masked_id(self) -> str:
        return mask_access_key_id(self.access_key_id) if self.access_key_id else "(pending)"


KeyStatus = AccessKey.Status
# The whole lifecycle of a key (`keys.services` moves it; nothing else may set a status that
# is not listed here). A key is never re-activated: a vendor who needs one gets a new key.
KEY_TRANSITIONS: dict[str, frozenset[str]] = {
    # Issued, or failed: a permanent AWS error, too many temporary ones, or superseded (a
    # re-issue or a revocation) while pending.
    KeyStatus.PENDING: frozenset({KeyStatus.ACTIVE, KeyStatus.FAILED}),
    # Deactivated in AWS, or found deleted there (deleted outside the portal), or deleted.
    KeyStatus.ACTIVE: frozenset({KeyStatus.INACTIVE, KeyStatus.DELETED}),
    KeyStatus.INACTIVE: frozenset({KeyStatus.DELETED}),
    # A failed key never reached AWS (or lost its row there): nothing to delete.
    KeyStatus.FAILED: frozenset(),
    KeyStatus.DELETED: frozenset(),
}
# Keys that mean "a key was issued" (a failed one included: security re-issues it); a new key
# is issued only by re-issue (which supersedes them) or rotation.
KEY_ISSUED = frozenset({KeyStatus.ACTIVE, KeyStatus.INACTIVE, KeyStatus.FAILED})
# Keys that still exist in AWS (deactivated or not): what deletion and last use look at.
KEY_IN_AWS = frozenset({KeyStatus.ACTIVE, KeyStatus.INACTIVE})
# The keys a vendor page lists: those that exist in AWS or are on their way.
KEY_CURRENT = frozenset({KeyStatus.PENDING, *KEY_ISSUED})
# What follows each move, after the commit. Only `transition` runs these: a pending key
# superseded by the bulk claim of `keys.services._supersede_pending` fails without a notice
# (security or the revocation asked for it).
KEY_EFFECTS: dict[tuple[str, str], tuple[Effect, ...]] = {
    (KeyStatus.PENDING, KeyStatus.FAILED): (
        Announce("key_failed", request_id="access_request_id", by_actor=False),
    ),
}
KEY_LIFECYCLE = Lifecycle(
    field="status",
    table=KEY_TRANSITIONS,
    effects=KEY_EFFECTS,
    groups={"issued": KEY_ISSUED, "in_aws": KEY_IN_AWS, "current": KEY_CURRENT},
    labels=choice_labels(KeyStatus.choices),
    subject=_("An access key"),
)


class KeyDelivery(models.Model):
    """The one-time delivery of a new key's secret to the vendor's key contact.

    `ciphertext` is NULL once wiped (revealed or expired); `token_hash` is NULL until the
    e-mail with the link is being sent, then the SHA-256 of the link's token.
    """

    # Its audit events were first written under this label (audit.services.audit_object_type).
    audit_type = "approvals.keydelivery"

    access_key = models.OneToOneField(AccessKey, on_delete=models.PROTECT, related_name="delivery")
    recipient = models.EmailField()
    ciphertext = models.BinaryField(null=True, blank=True, editable=False)
    token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    revealed_at = models.DateTimeField(null=True, blank=True)
    wiped_at = models.DateTimeField(null=True, blank=True)
    wipe_reason = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Moved from the approvals app: the table keeps its name (and its data).
        db_table = "approvals_keydelivery"
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "key deliveries"
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=Q(ciphertext__isnull=False),
                name="approvals_keydelivery_live",
            )
        ]

    def __str__(self) -> str:
        return f"Delivery of {self.access_key.masked_id} to {self.recipient}"

    @property
    def state(self) -> str:
        if self.revealed_at:
            return "revealed"
        if self.wiped_at:
            return "expired" if self.wipe_reason == "expired" else "wiped"
        return "sent" if self.sent_at else "sending"
