"""Re-certification campaigns (issue 18, "Access governance as data").

A `Campaign` asks, for every live grant it took when it started, whether the grant is still
needed. Each grant's `Certification` has two parts answered by two people: the vendor's
internal owner, and a security member with a second factor. Both saying keep (each with a
note) keeps the grant; either saying revoke revokes it at once through fulfilment's removal
path. What nobody decided by the deadline is revoked by the sweep (`services`). A campaign is
open until every item is decided.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accessportal.lifecycle import ANY, Announce, Change, Lifecycle, choice_labels


class Campaign(models.Model):
    """One round of re-certification: the live grants it took when it started, a deadline."""

    class Kind(models.TextChoices):
        CADENCE = "cadence", _("Review cadence")
        MANUAL = "manual", _("Started by security")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # A cadence campaign is one vendor's; a manual one records its filter (both optional).
    vendor = models.ForeignKey(
        "vendors.Vendor",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="recertification_campaigns",
    )
    vendor_tier = models.CharField(max_length=16, blank=True)
    # None: opened by the beat (the vendor's review cadence).
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    deadline = models.DateField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["status", "deadline"])]

    def __str__(self) -> str:
        return self.name


CampaignStatus = Campaign.Status
CAMPAIGN_LIFECYCLE = Lifecycle(
    field="status",
    table={
        CampaignStatus.OPEN: frozenset({CampaignStatus.CLOSED}),
        CampaignStatus.CLOSED: frozenset(),
    },
    labels=choice_labels(CampaignStatus.choices),
    subject=_("A campaign"),
    touch=(),
)


class Certification(models.Model):
    """One grant in one campaign: the owner's and security's answers, and the outcome.

    A grant has at most one pending certification (a database constraint), so a cadence
    campaign never asks again about a grant another campaign is still asking about.
    """

    class Decision(models.TextChoices):
        KEEP = "keep", _("Keep")
        REVOKE = "revoke", _("Revoke")

    class Outcome(models.TextChoices):
        PENDING = "pending", _("Waiting for answers")
        KEPT = "kept", _("Kept")
        REVOKED = "revoked", _("Revoked")

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="certifications")
    access_request = models.ForeignKey(
        "approvals.AccessRequest", on_delete=models.PROTECT, related_name="certifications"
    )
    owner_decision = models.CharField(max_length=8, choices=Decision.choices, blank=True)
    owner_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    owner_at = models.DateTimeField(null=True, blank=True)
    owner_note = models.TextField(blank=True)
    security_decision = models.CharField(max_length=8, choices=Decision.choices, blank=True)
    security_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    security_at = models.DateTimeField(null=True, blank=True)
    security_note = models.TextField(blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.PENDING)
    warned_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # Why the outcome came without both answers: "deadline", or "revoked_elsewhere".
    closed_by = models.CharField(max_length=24, blank=True)

    class Meta:
        ordering = ["access_request_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "access_request"], name="one_certification_per_grant"
            ),
            models.UniqueConstraint(
                fields=["access_request"],
                condition=models.Q(outcome="pending"),
                name="one_pending_certification_per_grant",
            ),
        ]
        indexes = [models.Index(fields=["outcome", "campaign"])]

    def __str__(self) -> str:
        return f"#{self.access_request_id} in {self.campaign_id}: {self.outcome}"


Outcome = Certification.Outcome
# What closed an item without both answers: its grant was revoked meanwhile by other means.
REVOKED_ELSEWHERE = "revoked_elsewhere"


@dataclass(frozen=True)
class AnnounceRecertRevocation(Announce):
    """Announces a revocation only when the re-certification made it: a grant revoked
    meanwhile by other means was announced by that revocation already."""

    def __call__(self, change: Change) -> None:
        if change.obj.closed_by != REVOKED_ELSEWHERE:
            super().__call__(change)


CERTIFICATION_LIFECYCLE = Lifecycle(
    field="outcome",
    table={
        Outcome.PENDING: frozenset({Outcome.KEPT, Outcome.REVOKED}),
        Outcome.KEPT: frozenset(),
        Outcome.REVOKED: frozenset(),
    },
    groups={"decided": frozenset({Outcome.KEPT, Outcome.REVOKED})},
    labels=choice_labels(Outcome.choices),
    subject=_("A certification"),
    touch=(),
    # The grant's own revocation tells its requester ("revoked"); this tells the owner and
    # security that the re-certification ended it, with the note (or the deadline) as comment.
    effects={
        (ANY, Outcome.REVOKED): (
            AnnounceRecertRevocation("recert_revoked", request_id="access_request_id"),
        )
    },
)
