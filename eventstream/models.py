"""The outgoing audit event stream: where events go, and the events that needed retries.

The audit table itself is the outbox (README "Audit events to your SIEM"): each endpoint keeps
a cursor, the last audit sequence it has been given, and a delivery pass sends what follows it
in order. Nothing is copied per event: an `EventDelivery` row exists only for an event whose
first attempt failed (its retries, its dead letter, its redelivery).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accessportal.lifecycle import Lifecycle, choice_labels

ERROR_MAX_LENGTH = 200
# Names each event's delivery id: the same event to the same endpoint always carries the same
# X-Portal-Delivery, on a retry, after a worker died mid-pass, or when sent again.
DELIVERY_NAMESPACE = uuid.UUID("5f0c3a52-58a4-4a1e-9a77-61e9b0f2f1d1")


def delivery_uuid(endpoint_id: int, sequence: int) -> uuid.UUID:
    """The delivery id of audit event `sequence` to endpoint `endpoint_id`."""
    return uuid.uuid5(DELIVERY_NAMESPACE, f"{endpoint_id}:{sequence}")


class EventEndpoint(models.Model):
    """A receiver of the audit event stream (a SIEM's HTTPS collector) and its cursor.

    The HMAC secret is stored only encrypted (`provisioning.keys.encrypt_secret`); it is shown
    once, when created. The URL too: a collector's URL often embeds its token, so only its
    origin (`url_origin`, scheme and host) is kept in clear, for the pages and the audit log.
    `delivered_through` is the audit sequence given to the receiver so far (delivered, or
    moved to the dead letters); `next_attempt_at` holds the pass back while a failed event
    waits for its retry.
    """

    name = models.CharField(max_length=100, unique=True)
    url_ciphertext = models.BinaryField(editable=False)
    url_origin = models.CharField(max_length=300)
    secret_ciphertext = models.BinaryField(editable=False)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    delivered_through = models.PositiveBigIntegerField(default=0)
    # Consecutive failed attempts of the event at the head of the stream (0 when healthy).
    failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=ERROR_MAX_LENGTH, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EventDelivery(models.Model):
    """One audit event to one endpoint that needed more than one attempt: waiting for its
    retry, given up on (a dead letter), queued to be sent again by security (it keeps its
    delivery id) or delivered after all.

    `last_error` is a short reason (an HTTP status, "could not be reached"), never the URL or
    the secret.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        DEAD = "dead", "Dead letter"
        REDELIVER = "redeliver", "Redelivery queued"

    endpoint = models.ForeignKey(EventEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    sequence = models.PositiveBigIntegerField()
    delivery_id = models.UUIDField(unique=True)
    attempts = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    last_error = models.CharField(max_length=ERROR_MAX_LENGTH, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["endpoint", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "sequence"], name="eventstream_delivery_once"
            ),
        ]
        indexes = [
            models.Index(fields=["endpoint", "status", "sequence"], name="eventstream_status_idx"),
        ]

    def __str__(self) -> str:
        return f"event #{self.sequence} to {self.endpoint_id}: {self.status}"


DeliveryStatus = EventDelivery.Status
# A failed event waits (pending) until it gets through or runs out of attempts (dead); security
# queues a dead letter again (redeliver), which is sent once: delivered, or dead again. A
# further failed attempt of a pending event changes its counters, not its state.
DELIVERY_LIFECYCLE = Lifecycle(
    field="status",
    table={
        DeliveryStatus.PENDING: frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.DEAD}),
        DeliveryStatus.DEAD: frozenset({DeliveryStatus.REDELIVER}),
        DeliveryStatus.REDELIVER: frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.DEAD}),
        DeliveryStatus.DELIVERED: frozenset(),
    },
    labels=choice_labels(DeliveryStatus.choices),
    subject=_("A delivery"),
)
