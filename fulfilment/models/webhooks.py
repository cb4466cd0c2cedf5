"""Forge webhook deliveries already handled: a redelivered or replayed one is a no-op (issue 7)."""

from __future__ import annotations

from django.db import models


class WebhookDelivery(models.Model):
    """One webhook delivery the portal accepted, by the forge's delivery id.

    Only the id, the forge and the event are kept: never the body or its signature.
    """

    # Its audit events were first written under this label (audit.services.audit_object_type).
    audit_type = "approvals.webhookdelivery"

    forge = models.CharField(max_length=16)
    delivery_id = models.CharField(max_length=100, unique=True)
    event = models.CharField(max_length=50, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Moved from the approvals app: the table keeps its name (and its data).
        db_table = "approvals_webhookdelivery"
        ordering = ["-received_at", "-pk"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.forge} delivery {self.delivery_id} ({self.event})"
