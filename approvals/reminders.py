"""Nothing waits forever (issue 18): reminders of pending decisions, then lapses.

A submitted request nobody decides reminds the approvers after PORTAL_PENDING_REMIND_HOURS,
and again every such interval at most; PORTAL_PENDING_EXPIRE_DAYS after its submission it
lapses (a final state: the requester is told, and may duplicate it). A pending extension ask
is reminded on the same interval and lapses PORTAL_EXTENSION_EXPIRE_DAYS after it was asked:
the ask is cleared as a refusal would clear it, and the grant keeps its end date.

The periodic task (`approvals.tasks.requests_remind_task`) and `manage.py send_reminders` run
`requests_remind`. Each row is handled in its own transaction, locked with
`select_for_update(skip_locked=True)` and its condition checked again under the lock, so two
workers running the pass at once send one reminder, and a row one of them holds is simply left
to it. Lapses run before reminders: a request that lapses is not reminded as well.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from accessportal.effects import notify_on_commit
from accessportal.lifecycle import each_locked
from approvals.models import EXTENDABLE, AccessRequest
from approvals.workflow import transition
from audit.services import audit_record

Status = AccessRequest.Status


def _remind_every() -> timedelta:
    return timedelta(hours=settings.PORTAL_PENDING_REMIND_HOURS)


def _pending_due(now: datetime) -> QuerySet[AccessRequest]:
    """Submitted requests whose last reminder (or, before the first, their submission) is at
    least one interval old. A request sent back to draft and submitted again counts anew."""
    before = now - _remind_every()
    return AccessRequest.objects.filter(status=Status.SUBMITTED, submitted_at__lte=before).filter(
        Q(reminded_at__isnull=True) | Q(reminded_at__lte=before)
    )


def _pending_stale(now: datetime) -> QuerySet[AccessRequest]:
    cutoff = now - timedelta(days=settings.PORTAL_PENDING_EXPIRE_DAYS)
    return AccessRequest.objects.filter(status=Status.SUBMITTED, submitted_at__lte=cutoff)


def _extension_due(now: datetime) -> QuerySet[AccessRequest]:
    before = now - _remind_every()
    return AccessRequest.objects.filter(
        status__in=EXTENDABLE, extension_until__isnull=False, extension_asked_at__lte=before
    ).filter(Q(extension_reminded_at__isnull=True) | Q(extension_reminded_at__lte=before))


def _extension_stale(now: datetime) -> QuerySet[AccessRequest]:
    cutoff = now - timedelta(days=settings.PORTAL_EXTENSION_EXPIRE_DAYS)
    return AccessRequest.objects.filter(
        extension_until__isnull=False, extension_asked_at__lte=cutoff
    )


def request_remind(access_request: AccessRequest) -> None:
    """Reminds the approvers of a locked submitted request (caller holds the transaction)."""
    now = timezone.now()
    previous = access_request.reminded_at
    access_request.reminded_at = now
    access_request.save(update_fields=["reminded_at"])
    audit_record(
        actor=None,
        action="request.reminded",
        obj=access_request,
        before={"reminded_at": previous.isoformat() if previous else None},
        after={
            "reminded_at": now.isoformat(),
            "submitted_at": access_request.submitted_at.isoformat()
            if access_request.submitted_at
            else None,
        },
    )
    # To those the approval rules let still approve it (notifications' APPROVERS audience).
    notify_on_commit(access_request_id=access_request.pk, event="pending_reminder")


def request_lapse(access_request: AccessRequest) -> None:
    """Lapses a locked submitted request nobody decided in time; the requester is told (the
    lifecycle's effect of SUBMITTED -> LAPSED)."""
    transition(
        access_request,
        to=Status.LAPSED,
        actor=None,
        action="request.lapse",
        detail={"expire_days": settings.PORTAL_PENDING_EXPIRE_DAYS},
    )


def extension_remind(access_request: AccessRequest) -> None:
    """Reminds the approvers of a locked request's pending extension ask."""
    now = timezone.now()
    access_request.extension_reminded_at = now
    access_request.save(update_fields=["extension_reminded_at"])
    assert access_request.extension_until is not None  # noqa: S101  the query selected it so
    audit_record(
        actor=None,
        action="request.extension_reminded",
        obj=access_request,
        after={
            "until": access_request.extension_until.isoformat(),
            "round": access_request.extension_round,
            "reminded_at": now.isoformat(),
        },
    )
    notify_on_commit(access_request_id=access_request.pk, event="extension_reminder")


def extension_lapse(access_request: AccessRequest) -> None:
    """Clears a locked request's extension ask nobody decided in time, as a refusal clears
    it: the grant keeps its end date, and the requester may ask again."""
    assert access_request.extension_until is not None  # noqa: S101  the query selected it so
    before = {
        "until": access_request.extension_until.isoformat(),
        "reason": access_request.extension_reason,
        "round": access_request.extension_round,
    }
    access_request.extension_until = None
    access_request.extension_reason = ""
    access_request.save(update_fields=["extension_until", "extension_reason", "updated_at"])
    audit_record(
        actor=None,
        action="request.extension_lapse",
        obj=access_request,
        before=before,
        after={
            "expires_on": str(access_request.expires_on),
            "expire_days": settings.PORTAL_EXTENSION_EXPIRE_DAYS,
        },
    )
    notify_on_commit(access_request_id=access_request.pk, event="extension_lapsed")


def requests_remind() -> dict[str, int]:
    """One pass: lapses what waited too long, then reminds what waits still. Idempotent: a
    second pass within the interval does nothing."""
    now = timezone.now()
    return {
        "lapsed": each_locked(_pending_stale(now), request_lapse),
        "extensions_lapsed": each_locked(_extension_stale(now), extension_lapse),
        "reminded": each_locked(_pending_due(now), request_remind),
        "extensions_reminded": each_locked(_extension_due(now), extension_remind),
    }
