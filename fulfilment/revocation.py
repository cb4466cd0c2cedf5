"""Revocation: a grant ends (security action, expiry, vendor offboarded) and the portal
proposes its inverse change set as a pull request (issue 7; SUBSTRATE.md decision 6).

`grant_revoke` is the one place a live grant becomes REVOKED, whoever ends it; it queues
`revoke_access_task`, which runs `request_revocation`. That service is idempotent in the
same way as provisioning (it shares `fulfilment.services.propose`): one revocation row per
branch `vendor-access/revoke-N-<vendor>`, an open pull request for the branch is reused,
temporary forge and git errors are retried with backoff, and permanent ones leave the row
FAILED with the reason for security to retry. A grant pull request still open when the
request is revoked is closed first, so it can no longer be merged.

The request's status is REVOKED from the moment of the decision: the revocation pull
request's progress lives on its row, shown on the request page.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accessportal import lifecycle
from accessportal.effects import enqueue_on_commit
from accessportal.roles import require_verified_security
from approvals import policy
from approvals.models import REVOCABLE, AccessRequest, Strategy
from approvals.requests import grant_for
from approvals.workflow import transition
from audit.services import audit_record
from fulfilment.models import (
    ACTIVE_ROWS,
    ENDED_REVOCATION,
    PR_LIFECYCLE,
    PullRequest,
    forge_state_copy,
)
from fulfilment.services import (
    PERMANENT_ERRORS,
    TEMPORARY_ERRORS,
    forge_for_settings,
    gave_up_message,
    latest_active_row,
    propose,
    pull_request_error_record,
    request_body,
    status_on_commit,
)
from provisioning.forge_settings import safe_message
from provisioning.gitrepo import branch_name
from provisioning.text import one_line
from vendors.models import Vendor
from vendors.services import vendor_mark_offboarded

logger = logging.getLogger(__name__)
Status = AccessRequest.Status
REVOKED_NOTE = "Closed by the portal: the request was revoked before this was merged"
OFFBOARDED_REASON = "The vendor was offboarded"
EXPIRED_REASON = "The grant reached its end date"


# --- ending a grant -------------------------------------------------------------------------


def grant_revoke(
    access_request: AccessRequest, *, actor: Any, reason: str, source: str = "security"
) -> None:
    """Revokes a locked, revocable request: REVOKED now, its revocation pull request queued.

    `source` ("security", "expiry" or "offboarding") is recorded in the audit event. The
    caller holds the row lock inside its transaction and has checked who may do this.
    """

    transition(
        access_request,
        to=Status.REVOKED,
        actor=actor,
        action="request.revoke",
        detail={"reason": reason, "source": source},
        comment=reason,
    )


@transaction.atomic
def request_revoke(
    *, request_id: int, actor: Any, mfa_verified: bool, reason: str
) -> AccessRequest:
    """Security ends an approved grant at any time (fulfilment removes it from AWS)."""
    require_verified_security(
        actor, mfa_verified=mfa_verified, refusal=_("Only the security team revokes access.")
    )
    if not reason.strip():
        raise ValidationError({"comment": _("Say why the access is revoked.")})
    access_request = AccessRequest.objects.select_for_update().get(pk=request_id)
    policy.may_revoke(actor, access_request).enforce()
    grant_revoke(access_request, actor=actor, reason=reason.strip())
    return access_request


@transaction.atomic
def vendor_offboard(
    *, vendor_id: int, actor: Any, mfa_verified: bool, on: date | None = None
) -> Vendor:
    """Offboards a vendor: marks it offboarded and revokes its live grants (each gets a
    revocation pull request), in one transaction."""
    vendor = vendor_mark_offboarded(
        vendor_id=vendor_id, actor=actor, mfa_verified=mfa_verified, on=on
    )
    vendor_grants_revoke(vendor_id=vendor.pk, actor=actor)
    return vendor


@transaction.atomic
def vendor_grants_revoke(*, vendor_id: int, actor: Any) -> list[int]:
    """Revokes every live grant of an offboarded vendor; returns the request ids."""
    revoked = []
    for access_request in (
        AccessRequest.objects.select_for_update()
        .filter(vendor_id=vendor_id, status__in=REVOCABLE)
        .order_by("pk")
    ):
        grant_revoke(access_request, actor=actor, reason=OFFBOARDED_REASON, source="offboarding")
        revoked.append(access_request.pk)
    return revoked


def grants_expire(*, today: date | None = None) -> dict[str, int]:
    """The expiry sweep: active grants near their end date become EXPIRING (with a notice);
    any live grant past it (active, expiring, or still on its way: approved, pull request
    open, failed) is revoked by the system (actor None). Idempotent; one short transaction
    per request so a long sweep holds no lock for long."""
    today = today or timezone.localdate()
    notice_from = today + timedelta(days=settings.PORTAL_EXPIRY_NOTICE_DAYS)
    counts = {"expiring": 0, "revoked": 0}
    past = AccessRequest.objects.filter(status__in=REVOCABLE, expires_on__lt=today).values_list(
        "pk", flat=True
    )
    for pk in list(past):
        with transaction.atomic():
            access_request = AccessRequest.objects.select_for_update().get(pk=pk)
            if access_request.status not in REVOCABLE:
                continue
            if access_request.expires_on is None or access_request.expires_on >= today:
                continue  # extended in the meantime
            grant_revoke(access_request, actor=None, reason=EXPIRED_REASON, source="expiry")
            counts["revoked"] += 1
    near = AccessRequest.objects.filter(
        status=Status.ACTIVE, expires_on__gte=today, expires_on__lte=notice_from
    ).values_list("pk", flat=True)
    for pk in list(near):
        with transaction.atomic():
            access_request = AccessRequest.objects.select_for_update().get(pk=pk)
            if access_request.status != Status.ACTIVE or access_request.expires_on is None:
                continue
            transition(
                access_request,
                to=Status.EXPIRING,
                actor=None,
                action="request.expiring",
                detail={"expires_on": access_request.expires_on.isoformat()},
            )
            counts["expiring"] += 1
    return counts


# --- the revocation pull request --------------------------------------------------------------


def revocation_merged(access_request: AccessRequest) -> None:
    """The revocation pull request merged: the repository no longer grants the access.

    Called with the request locked, inside the transaction that records the merge (webhook,
    poll or local merge). The place where work that must wait for the merge hooks in (the
    deletion of an IAM user's access keys).
    """
    audit_record(
        actor=None,
        action="request.revocation_merged",
        obj=access_request,
        after={"status": access_request.status},
    )
    if access_request.strategy == Strategy.IAM_USER:
        # The repository no longer grants the user: its keys, deactivated at revocation, go.
        enqueue_on_commit("keys.tasks.access_keys_delete_task", access_request.pk)


def _close_grant_pull_requests(request_id: int) -> None:
    """Closes the request's grant pull requests still open on the forge, so none merges."""
    rows = list(
        PullRequest.objects.filter(
            access_request_id=request_id,
            purpose=PullRequest.Purpose.GRANT,
            state=PullRequest.State.OPEN,
            number__isnull=False,
        )
    )
    if not rows:
        return
    forge = forge_for_settings()
    for row in rows:
        assert row.number is not None  # noqa: S101  filtered above
        forge.close_pull_request(row.number)
        with transaction.atomic():
            access_request = AccessRequest.objects.select_for_update().get(pk=request_id)
            # The local forge closes its row itself, and a webhook may have come first: the
            # note (and the audit event) are written once, whoever changed the state. So the
            # claim matches a row closed already, or one the table lets close (never merged).
            closed = PullRequest.State.CLOSED
            noted = (
                PullRequest.objects.filter(pk=row.pk)
                .filter(Q(state=closed) | Q(state__in=PR_LIFECYCLE.sources(closed)))
                .exclude(last_error=REVOKED_NOTE)
                .update(
                    state=PullRequest.State.CLOSED,
                    last_error=REVOKED_NOTE,
                    updated_at=timezone.now(),
                )
            )
            if not noted:
                continue
            audit_record(
                actor=None,
                action="pullrequest.close",
                obj=access_request,
                after={"pull_request": row.number, "branch": row.branch, "reason": "revoked"},
            )


def _start(request_id: int, *, retry: bool) -> tuple[AccessRequest, PullRequest] | None:
    """Locks the revoked request and returns it with its pending or open revocation row.

    None when there is nothing to do: not revoked, already merged, or failed for good (only
    security's retry starts again after a failure or a closed revocation pull request).
    """
    with transaction.atomic():
        access_request = (
            AccessRequest.objects.select_for_update().select_related("vendor").get(pk=request_id)
        )
        if access_request.status != Status.REVOKED:
            logger.info("Request #%s is %s: nothing to revoke", request_id, access_request.status)
            return None
        rows = PullRequest.objects.filter(
            access_request=access_request, purpose=PullRequest.Purpose.REVOKE
        )
        if rows.filter(state=PullRequest.State.MERGED).exists():
            return None
        latest = rows.first()
        if latest is not None and latest.state in ENDED_REVOCATION and not retry:
            return None
        branch = branch_name(access_request.pk, access_request.vendor.slug, kind="revoke")
        row = PullRequest.objects.filter(
            forge=settings.FORGE, branch=branch, state__in=ACTIVE_ROWS
        ).first()
        if row is None:
            row = PullRequest.objects.create(
                access_request=access_request,
                forge=settings.FORGE,
                purpose=PullRequest.Purpose.REVOKE,
                branch=branch,
                base=settings.SUBSTRATE_DEFAULT_BRANCH,
                title=one_line(
                    f"Revoke vendor access: {access_request.vendor.name} "
                    f"(request #{access_request.pk})"
                )[:300],
            )
        PullRequest.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1)
        return access_request, row


def _fail(request_id: int, row: PullRequest, message: str) -> None:
    with transaction.atomic():
        access_request = AccessRequest.objects.select_for_update().get(pk=request_id)
        locked = PullRequest.objects.select_for_update().get(pk=row.pk)
        if locked.state not in ACTIVE_ROWS:
            return
        locked.last_error = message
        # The table tells security (`revoke_failed`) once this commits.
        lifecycle.transition(
            locked, PR_LIFECYCLE, to=PullRequest.State.FAILED, extra_fields=["last_error"]
        )
        audit_record(
            actor=None,
            action="request.revoke_fail",
            obj=access_request,
            after={"error": message, "branch": row.branch},
        )


def _nothing_to_remove(request_id: int, row: PullRequest) -> None:
    """The repository does not grant the access (never merged): no pull request is needed.

    The revocation row stays, merged without a number, so that the revocation is complete
    exactly once (a later run finds it and stops).
    """
    with transaction.atomic():
        access_request = AccessRequest.objects.select_for_update().get(pk=request_id)
        done = lifecycle.claim(
            PullRequest.objects.filter(pk=row.pk, state__in=ACTIVE_ROWS),
            PR_LIFECYCLE,
            to=PullRequest.State.MERGED,
            last_error="",
            updated_at=timezone.now(),
        )
        if not done:
            return
        audit_record(
            actor=None,
            action="request.revoke_nothing_to_remove",
            obj=access_request,
            after={"branch": row.branch},
        )
        revocation_merged(access_request)


def _finish(request_id: int, row: PullRequest, info: Any) -> PullRequest:
    with transaction.atomic():
        access_request = AccessRequest.objects.select_for_update().get(pk=request_id)
        locked = PullRequest.objects.select_for_update().get(pk=row.pk)
        if locked.state in ACTIVE_ROWS:
            # The local forge's store opens the row itself (without a URL): still news here.
            first_time = locked.state == PullRequest.State.PENDING or not locked.url
            locked.number, locked.url, locked.head_sha = info.number, info.url, info.head_sha
            locked.title = info.title or locked.title
            locked.last_error = ""
            forge_state_copy(
                locked,
                PullRequest.State.OPEN,
                extra_fields=["number", "url", "head_sha", "title", "last_error"],
            )
            # Not an effect of the move: an open row found again (a retried task) has its
            # head's status posted too.
            status_on_commit(locked)
            if first_time:
                audit_record(
                    actor=None,
                    action="request.revoke_pr_open",
                    obj=access_request,
                    after={"pull_request": info.number, "url": info.url, "branch": info.branch},
                )
    return locked


def request_revocation(*, request_id: int, retry: bool = False) -> PullRequest | None:
    """Opens (or finds) the revocation pull request of a revoked request; see the module doc.

    Raises `GitRemoteError` or `ForgeTemporaryError` for the task to retry; returns None when
    there was nothing to do, nothing to remove, or the revocation failed for good.
    """
    if not AccessRequest.objects.filter(pk=request_id, status=Status.REVOKED).exists():
        return None
    try:
        # First, and on every run: a grant pull request opened by a worker that was still
        # running at revocation time is only found by a later run.
        _close_grant_pull_requests(request_id)
    except PERMANENT_ERRORS as exc:
        logger.warning(
            "Closing request #%s's pull request failed: %s", request_id, safe_message(exc)
        )
    started = _start(request_id, retry=retry)
    if started is None:
        return None
    access_request, row = started
    try:
        info = propose(
            row,
            grant=grant_for(access_request),
            body=lambda cs: request_body(access_request, cs),
            revoke=True,
        )
    except TEMPORARY_ERRORS as exc:
        pull_request_error_record(row, safe_message(exc))
        raise
    except PERMANENT_ERRORS as exc:
        message = safe_message(exc)
        logger.warning("Revoking request #%s failed: %s", request_id, message)
        _fail(request_id, row, message)
        return None
    if info is None:
        _nothing_to_remove(request_id, row)
        return None
    return _finish(request_id, row, info)


def request_revocation_give_up(*, request_id: int, message: str) -> None:
    """Temporary errors outlasted the task's retries: the revocation row fails with the last."""
    row = latest_active_row(request_id, PullRequest.Purpose.REVOKE)
    if row is not None:
        _fail(request_id, row, gave_up_message(message))


@transaction.atomic
def request_revoke_retry(*, request_id: int, actor: Any, mfa_verified: bool) -> AccessRequest:
    """Security queues the revocation pull request again after a failure or a close."""

    require_verified_security(
        actor, mfa_verified=mfa_verified, refusal=_("Only the security team retries a revocation.")
    )
    access_request = AccessRequest.objects.select_for_update().get(pk=request_id)
    latest = PullRequest.objects.filter(
        access_request=access_request, purpose=PullRequest.Purpose.REVOKE
    ).first()
    ended = latest is not None and latest.state in ENDED_REVOCATION
    policy.may_retry_revoke(actor, access_request, revocation_ended=ended).enforce()
    assert latest is not None  # noqa: S101  the policy refused otherwise
    audit_record(
        actor=actor,
        action="request.revoke_retry",
        obj=access_request,
        after={"branch": latest.branch, "previous_state": latest.state},
    )
    enqueue_on_commit("fulfilment.tasks.revoke_access_task", access_request.pk, retry=True)
    return access_request
