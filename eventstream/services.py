"""The audit event stream: security's endpoints, and the delivery pass that feeds them.

The audit table is the outbox (README "Audit events to your SIEM"). Each endpoint keeps a
cursor, `delivered_through`; a pass sends the events after it in sequence order, one signed
POST each, and moves the cursor on as each one is answered 2xx. A failure holds the stream of
that endpoint back (order is kept), retried with a doubling wait; after
`PORTAL_EVENT_MAX_ATTEMPTS` the event becomes a dead letter and the stream moves on. Security
can send a dead letter again: it keeps its delivery id, so a receiver that already has it
can tell.

Delivery is at least once: a worker that dies after the receiver answered but before its
commit sends the event again, with the same `X-Portal-Delivery`. Two workers never send the
same event at the same time: each step locks the endpoint's row (skipping it when another
worker holds it) for one event's POST.

Security's changes (create, activate, deactivate, delete, redeliver) need an MFA-verified
session and are audited like every other change; those audit rows are streamed too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accessportal.lifecycle import transition
from accessportal.roles import require_verified_security
from audit.models import AuditEvent
from audit.services import audit_record, audit_snapshot
from eventstream.models import (
    DELIVERY_LIFECYCLE,
    ERROR_MAX_LENGTH,
    EventDelivery,
    EventEndpoint,
    delivery_uuid,
)
from provisioning import http_post
from provisioning.keys import (
    Secret,
    SecretDecryptionError,
    decrypt_secret,
    encrypt_secret,
    rotate_ciphertext,
)

logger = logging.getLogger(__name__)

NAME_MAX_LENGTH = 100
URL_MAX_LENGTH = 500
# 32 bytes of randomness: 43 URL-safe characters, as the one-time key links.
SECRET_BYTES = 32
TIMEOUT_SECONDS = 10
# One pass works an endpoint for at most this long; the beat's next pass (every minute) goes
# on, so a long backlog never holds a worker for good.
PASS_SECONDS = 50.0
SIGNATURE_PREFIX = "sha256="
# What the audit log says about an endpoint: never its URL (it may carry a token) or secret.
AUDITED_FIELDS = ["name", "url_origin", "active"]
REFUSAL = gettext_lazy("Only the security team sets up the audit event stream.")


# --- The wire format ------------------------------------------------------------------------


def event_body(event: AuditEvent) -> bytes:
    """The JSON sent for `event`: what the audit row holds, in a stable serialisation.

    Audit rows never hold a secret (byte values are recorded only as their length, and no
    service records a key, token or password), so neither does the body.
    """
    payload = {
        "sequence": event.sequence,
        "created_at": event.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "action": event.action,
        "actor": event.actor_username or None,
        "source_ip": event.source_ip,
        "object": {
            "type": event.object_type,
            "id": event.object_id,
            "repr": event.object_repr,
        },
        "before": event.before,
        "after": event.after,
        # The receiver can check the chain it receives as the portal's verifier does.
        "hash": event.hash,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str | Secret, timestamp: int, body: bytes) -> str:
    """`X-Portal-Signature`: HMAC-SHA256 over "<timestamp>.<body>" with the endpoint's secret.

    The timestamp is signed too, so a receiver that refuses old timestamps refuses replays.
    """
    key = secret.reveal() if isinstance(secret, Secret) else secret
    digest = hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def signed_headers(
    *, secret: str | Secret, body: bytes, delivery_id: uuid.UUID, action: str, timestamp: int
) -> dict[str, str]:
    """The headers of one delivery."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "vendor-access-portal-events/1",
        "X-Portal-Delivery": str(delivery_id),
        "X-Portal-Event": action,
        "X-Portal-Timestamp": str(timestamp),
        "X-Portal-Signature": signature(secret, timestamp, body),
    }


def url_origin(url: str) -> str:
    """The scheme, host and port of `url`: what the pages and the audit log show of it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def url_acceptable(url: str) -> bool:
    """https anywhere, plain http only to this machine (`provisioning.http_post`)."""
    if not url or len(url) > URL_MAX_LENGTH or any(c.isspace() for c in url):
        return False
    try:
        urlsplit(url).port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return False
    return http_post.url_allowed(url)


# --- Security's changes ---------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedEndpoint:
    """A new endpoint and its secret: the page shows the secret once, nothing keeps it."""

    endpoint: EventEndpoint
    secret: Secret


def _validated(name: str, url: str) -> tuple[str, str]:
    name = " ".join((name or "").split())
    url = (url or "").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = _("Name the endpoint.")
    elif len(name) > NAME_MAX_LENGTH:
        errors["name"] = _("At most %(n)s characters.") % {"n": NAME_MAX_LENGTH}
    elif EventEndpoint.objects.filter(name__iexact=name).exists():
        errors["name"] = _("An endpoint of that name exists already.")
    if not url_acceptable(url):
        errors["url"] = _(
            "Give an https URL (plain http only to this machine), at most %(n)s characters."
        ) % {"n": URL_MAX_LENGTH}
    if errors:
        raise ValidationError(errors)
    return name, url


@transaction.atomic
def endpoint_create(*, actor: Any, mfa_verified: bool, name: str, url: str) -> CreatedEndpoint:
    """Security adds a receiver of the stream; returns it with its new HMAC secret.

    The stream starts after the last event already written: the receiver's first event is
    this endpoint's own creation (the history is in the audit trail export).
    """
    require_verified_security(actor, mfa_verified=mfa_verified, refusal=str(REFUSAL))
    name, url = _validated(name, url)
    secret = Secret(secrets.token_urlsafe(SECRET_BYTES))
    latest = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first()
    endpoint = EventEndpoint.objects.create(
        name=name,
        url_ciphertext=encrypt_secret(url),
        url_origin=url_origin(url),
        secret_ciphertext=encrypt_secret(secret),
        created_by=actor,
        delivered_through=latest or 0,
    )
    audit_record(
        actor=actor,
        action="event_endpoint.create",
        obj=endpoint,
        after=audit_snapshot(endpoint, AUDITED_FIELDS),
    )
    return CreatedEndpoint(endpoint=endpoint, secret=secret)


def _locked_endpoint(endpoint_id: int) -> EventEndpoint:
    return EventEndpoint.objects.select_for_update().get(pk=endpoint_id)


@transaction.atomic
def endpoint_set_active(
    *, actor: Any, mfa_verified: bool, endpoint_id: int, active: bool
) -> EventEndpoint:
    """Pauses or resumes an endpoint. Paused, it keeps its cursor: resumed, it receives every
    event written meanwhile, in order, at once (a waiting retry is tried straight away)."""
    require_verified_security(actor, mfa_verified=mfa_verified, refusal=str(REFUSAL))
    endpoint = _locked_endpoint(endpoint_id)
    if endpoint.active == active:
        return endpoint
    before = audit_snapshot(endpoint, AUDITED_FIELDS)
    endpoint.active = active
    endpoint.next_attempt_at = None
    endpoint.save(update_fields=["active", "next_attempt_at"])
    audit_record(
        actor=actor,
        action="event_endpoint.activate" if active else "event_endpoint.deactivate",
        obj=endpoint,
        before=before,
        after=audit_snapshot(endpoint, AUDITED_FIELDS),
    )
    return endpoint


@transaction.atomic
def endpoint_rotate_secret(*, actor: Any, mfa_verified: bool, endpoint_id: int) -> CreatedEndpoint:
    """Gives an endpoint a new signing secret (shown once) and keeps its place in the stream.
    Until the receiver has the new secret it refuses the deliveries, which are retried as any
    failure is: nothing is lost while the SIEM is updated."""
    require_verified_security(actor, mfa_verified=mfa_verified, refusal=str(REFUSAL))
    endpoint = _locked_endpoint(endpoint_id)
    secret = Secret(secrets.token_urlsafe(SECRET_BYTES))
    endpoint.secret_ciphertext = encrypt_secret(secret)
    endpoint.save(update_fields=["secret_ciphertext"])
    # The audit row says that the secret changed, never what it is.
    audit_record(
        actor=actor,
        action="event_endpoint.rotate_secret",
        obj=endpoint,
        after=audit_snapshot(endpoint, AUDITED_FIELDS),
    )
    return CreatedEndpoint(endpoint=endpoint, secret=secret)


@transaction.atomic
def endpoint_delete(*, actor: Any, mfa_verified: bool, endpoint_id: int) -> None:
    """Removes an endpoint, its cursor and its dead letters (the events stay in the log)."""
    require_verified_security(actor, mfa_verified=mfa_verified, refusal=str(REFUSAL))
    endpoint = _locked_endpoint(endpoint_id)
    before = audit_snapshot(endpoint, [*AUDITED_FIELDS, "delivered_through"])
    audit_record(actor=actor, action="event_endpoint.delete", obj=endpoint, before=before)
    endpoint.delete()


@transaction.atomic
def delivery_redeliver(*, actor: Any, mfa_verified: bool, delivery_id: int) -> EventDelivery:
    """Queues a dead letter to be sent again, with its delivery id, by the next pass (which
    the audit row of this request schedules when the endpoint is active)."""
    require_verified_security(actor, mfa_verified=mfa_verified, refusal=str(REFUSAL))
    delivery = EventDelivery.objects.select_for_update().get(pk=delivery_id)
    before = audit_snapshot(delivery, ["status", "attempts"])
    delivery.updated_at = timezone.now()
    transition(
        delivery,
        DELIVERY_LIFECYCLE,
        to=EventDelivery.Status.REDELIVER,
        error=lambda current, to: ValidationError(_("Only a dead letter can be sent again.")),
    )
    audit_record(
        actor=actor,
        action="event_delivery.redeliver",
        obj=delivery,
        object_repr=f"event #{delivery.sequence} to {delivery.endpoint.name}"[:200],
        before=before,
        after=audit_snapshot(delivery, ["status", "attempts", "sequence", "endpoint"]),
    )
    return delivery


def endpoint_secrets_reencrypt() -> int:
    """Re-encrypts every endpoint's URL and secret under the current first key of
    PORTAL_KEY_ENCRYPTION_KEYS (`manage.py reencrypt_key_secrets`), so the older keys can be
    dropped; returns how many endpoints."""
    done = 0
    for endpoint_id in list(EventEndpoint.objects.values_list("pk", flat=True)):
        with transaction.atomic():
            endpoint = EventEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
            if endpoint is None:
                continue
            endpoint.url_ciphertext = rotate_ciphertext(bytes(endpoint.url_ciphertext))
            endpoint.secret_ciphertext = rotate_ciphertext(bytes(endpoint.secret_ciphertext))
            endpoint.save(update_fields=["url_ciphertext", "secret_ciphertext"])
            done += 1
    return done


# --- The delivery pass ----------------------------------------------------------------------


def events_deliver(*, budget_seconds: float = PASS_SECONDS) -> int:
    """One pass over every active endpoint; returns the number of events delivered. With no
    active endpoint, one query."""
    endpoint_ids = list(EventEndpoint.objects.filter(active=True).values_list("pk", flat=True))
    return sum(endpoint_deliver(pk, budget_seconds=budget_seconds) for pk in endpoint_ids)


def endpoint_deliver(endpoint_id: int, *, budget_seconds: float = PASS_SECONDS) -> int:
    """Sends `endpoint_id` what it has not received, one event per step, until it is caught
    up, a failed event must wait for its retry, or the budget is spent. Each step is one
    transaction holding the endpoint's row, so the cursor moves exactly as far as the
    receiver answered; a worker that finds the row locked leaves it to the one working it."""
    deadline = time.monotonic() + budget_seconds
    delivered = 0
    while time.monotonic() < deadline:
        with transaction.atomic():
            endpoint = (
                EventEndpoint.objects.select_for_update(skip_locked=True)
                .filter(pk=endpoint_id, active=True)
                .first()
            )
            if endpoint is None:  # gone, paused, or another worker holds it
                return delivered
            step = _next_step(endpoint)
            if step is None:
                return delivered
            event, redelivery = step
            error = _send(endpoint, event)
            go_on = _record(endpoint, event, redelivery, error)
        if not error:
            delivered += 1
        if not go_on:
            return delivered
    return delivered


def _next_step(endpoint: EventEndpoint) -> tuple[AuditEvent, EventDelivery | None] | None:
    """What to send next: a dead letter security asked to send again, else the event after the
    cursor (unless it waits for its retry)."""
    redelivery = (
        EventDelivery.objects.filter(endpoint=endpoint, status=EventDelivery.Status.REDELIVER)
        .order_by("sequence")
        .first()
    )
    if redelivery is not None:
        event = AuditEvent.objects.filter(sequence=redelivery.sequence).first()
        if event is not None:
            return event, redelivery
    if endpoint.next_attempt_at is not None and endpoint.next_attempt_at > timezone.now():
        return None
    event = (
        AuditEvent.objects.filter(sequence__gt=endpoint.delivered_through)
        .order_by("sequence")
        .first()
    )
    return None if event is None else (event, None)


def _send(endpoint: EventEndpoint, event: AuditEvent) -> str:
    """POSTs one event; returns "" when the receiver took it, else a short reason (an HTTP
    status, "could not be reached"), never the URL or the secret."""
    try:
        url = decrypt_secret(bytes(endpoint.url_ciphertext))
        secret = Secret(decrypt_secret(bytes(endpoint.secret_ciphertext)))
    except SecretDecryptionError:
        return "cannot decrypt the endpoint's URL or secret (PORTAL_KEY_ENCRYPTION_KEYS)"
    body = event_body(event)
    headers = signed_headers(
        secret=secret,
        body=body,
        delivery_id=delivery_uuid(endpoint.pk, event.sequence),
        action=event.action,
        timestamp=int(time.time()),
    )
    try:
        http_post.post(url, body, headers=headers, timeout=TIMEOUT_SECONDS)
    except http_post.PostAnswered as exc:
        return f"answered HTTP {exc.status}"
    except http_post.PostUnreachable as exc:
        return f"could not be reached ({exc.reason})"[:ERROR_MAX_LENGTH]
    except ValueError:
        return "the URL is not allowed (https only; http only to this machine)"
    return ""


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: the base, doubling each time."""
    return timedelta(seconds=settings.PORTAL_EVENT_RETRY_SECONDS * 2 ** max(0, attempts - 1))


def _record(
    endpoint: EventEndpoint, event: AuditEvent, redelivery: EventDelivery | None, error: str
) -> bool:
    """Writes the outcome of one attempt; returns whether the pass goes on."""
    now = timezone.now()
    if error:
        endpoint.last_error = error[:ERROR_MAX_LENGTH]
        endpoint.last_error_at = now
    if redelivery is not None:
        # Sent again on security's request: once, whatever the answer (they may ask again).
        redelivery.attempts += 1
        redelivery.updated_at = now
        redelivery.last_error = error[:ERROR_MAX_LENGTH]
        if not error:
            redelivery.delivered_at = now
        transition(
            redelivery,
            DELIVERY_LIFECYCLE,
            to=EventDelivery.Status.DEAD if error else EventDelivery.Status.DELIVERED,
            extra_fields=("attempts", "last_error", "delivered_at"),
        )
        if error:
            endpoint.save(update_fields=["last_error", "last_error_at"])
        else:
            endpoint.last_success_at = now
            endpoint.save(update_fields=["last_success_at"])
        return True
    if not error:
        if endpoint.failures:
            # The event had failed before: its row says it got through after all.
            row = EventDelivery.objects.filter(endpoint=endpoint, sequence=event.sequence).first()
            if row is not None and row.status == EventDelivery.Status.PENDING:
                row.attempts += 1
                row.delivered_at = row.updated_at = now
                row.last_error = ""
                transition(
                    row,
                    DELIVERY_LIFECYCLE,
                    to=EventDelivery.Status.DELIVERED,
                    extra_fields=("attempts", "delivered_at", "last_error"),
                )
        endpoint.delivered_through = event.sequence
        endpoint.failures = 0
        endpoint.next_attempt_at = None
        endpoint.last_success_at = now
        endpoint.save(
            update_fields=["delivered_through", "failures", "next_attempt_at", "last_success_at"]
        )
        return True
    delivery, _created = EventDelivery.objects.get_or_create(
        endpoint=endpoint,
        sequence=event.sequence,
        defaults={"delivery_id": delivery_uuid(endpoint.pk, event.sequence)},
    )
    delivery.attempts += 1
    delivery.last_error = error[:ERROR_MAX_LENGTH]
    delivery.updated_at = now
    go_on = delivery.attempts >= settings.PORTAL_EVENT_MAX_ATTEMPTS
    if go_on:
        # Given up on: kept for security to send again, and the stream moves on.
        transition(
            delivery,
            DELIVERY_LIFECYCLE,
            to=EventDelivery.Status.DEAD,
            extra_fields=("attempts", "last_error"),
        )
        endpoint.delivered_through = event.sequence
        endpoint.failures = 0
        endpoint.next_attempt_at = None
        logger.warning(
            "Audit event #%s to event endpoint %s is a dead letter after %s attempts: %s",
            event.sequence,
            endpoint.pk,
            delivery.attempts,
            delivery.last_error,
        )
    else:
        # Another failed attempt: the counters move, the state stays pending.
        delivery.save(update_fields=["attempts", "last_error", "updated_at"])
        endpoint.failures = delivery.attempts
        endpoint.next_attempt_at = now + retry_delay(delivery.attempts)
    endpoint.save(
        update_fields=[
            "delivered_through",
            "failures",
            "next_attempt_at",
            "last_error",
            "last_error_at",
        ]
    )
    return go_on
