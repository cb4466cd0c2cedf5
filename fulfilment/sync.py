"""Pull request outcomes coming back from the forge: by webhook or by polling (issue 7).

A pull request that can no longer merge (its base moved and the changes collide) is queued
for regeneration (`fulfilment.services.pull_request_regenerate`).

`pull_request_apply_state` is the one place that turns a forge's answer into the portal's
state, whoever asked: the GitHub webhook (`fulfilment.webhooks`) and the periodic poll
`pull_requests_sync` (the fallback for missed deliveries) both call it. It is idempotent: a
row that is no longer open is left alone, so a webhook and a poll for the same pull request
make one transition between them.

* merged: the row becomes merged and a request with its pull request open becomes ACTIVE
  (a revocation pull request: `fulfilment.revocation.revocation_merged`), provided the head
  the forge merged is the commit that was approved (`PullRequest.approved_sha`). Any other
  head (someone pushed to the branch, or the forge did not say) makes the request
  MERGE_MISMATCH instead: audited, on security's dashboard, not active until security
  acknowledges it (`fulfilment.merge_review.request_merge_acknowledge`) or revokes it;
* closed without merging: the row becomes closed with a note and the request goes back to
  security as FAILED (the request page shows the note and the Retry button); a revocation
  pull request keeps its note and security is told (Retry revocation).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from accessportal import lifecycle
from accessportal.effects import enqueue_now, enqueue_on_commit, notify_on_commit
from accessportal.roles import require_verified_security
from approvals.models import AccessRequest
from approvals.workflow import transition
from audit.services import audit_record
from fulfilment.models import PR_LIFECYCLE, PullRequest
from fulfilment.revocation import revocation_merged
from fulfilment.services import forge_for_settings
from provisioning.forge_settings import safe_message
from provisioning.forges import ForgeError, LocalForge, PullRequestState

logger = logging.getLogger(__name__)
Status = AccessRequest.Status
CLOSED_NOTE = "The pull request was closed without merging"
REVOKE_CLOSED_NOTE = (
    "The revocation pull request was closed without merging: the access is still in the "
    "Substrate repository"
)


def apply_outcome(
    access_request: AccessRequest, row: PullRequest, *, actor: Any, detail: dict[str, Any]
) -> None:
    """What a merged or closed pull request means for its request (both locked by the caller).

    Grant merged: PR_OPEN becomes ACTIVE, or MERGE_MISMATCH when the merged head is not the
    approved commit; a grant merged after its request was revoked queues the revocation
    again (it now has something to remove). Grant closed: PR_OPEN becomes FAILED for
    security to retry. Revocation merged: `revocation_merged`. Revocation closed: the row
    keeps a note and security is told (the access stays). Any other merge of an unapproved
    head is audited and waits on the dashboard for security's review.
    """
    merged = row.state == PullRequest.State.MERGED
    mismatch = {
        **detail,
        "purpose": row.purpose,
        "approved_sha": row.approved_sha,
        "merged_head_sha": row.merged_head_sha,
    }
    flags_request = (
        merged
        and row.merged_unapproved_head
        and row.purpose == PullRequest.Purpose.GRANT
        and access_request.status == Status.PR_OPEN
    )
    if merged and row.merged_unapproved_head and not flags_request:
        # The repository may hold more than was approved (a revocation, or a grant merged
        # after its request was revoked or failed): on the trail, and on the dashboard.
        audit_record(
            actor=actor, action="pullrequest.merge_mismatch", obj=access_request, after=mismatch
        )
    if row.purpose == PullRequest.Purpose.REVOKE:
        if merged:
            revocation_merged(access_request)
        else:
            # Not in the pull request's table: a closed grant is no news to security (its
            # request fails and says so), a closed revocation is.
            notify_on_commit(access_request_id=access_request.pk, event="revoke_failed")
        return
    if access_request.status == Status.REVOKED and merged:
        enqueue_on_commit("fulfilment.tasks.revoke_access_task", access_request.pk)
        return
    if access_request.status != Status.PR_OPEN:
        logger.info(
            "Pull request #%s is %s; request #%s is %s: status unchanged",
            row.number,
            row.state,
            access_request.pk,
            access_request.status,
        )
        return
    if flags_request:
        transition(
            access_request,
            to=Status.MERGE_MISMATCH,
            actor=actor,
            action="request.merge_mismatch",
            detail=mismatch,
        )
    elif merged:
        transition(
            access_request, to=Status.ACTIVE, actor=actor, action="request.activate", detail=detail
        )
    else:
        transition(
            access_request,
            to=Status.FAILED,
            actor=actor,
            action="request.provision_fail",
            detail={**detail, "error": row.last_error},
        )


def pull_request_apply_state(
    *,
    pr_id: int,
    state: PullRequestState,
    source: str,
    merge_sha: str = "",
    head_sha: str = "",
) -> bool:
    """Applies the forge's `state` of pull request row `pr_id`; True when something changed.

    `source` ("webhook" or "poll") is recorded in the audit events. `head_sha` is the head
    the forge says it merged; empty (unknown) counts as not the approved one.
    """
    if state == PullRequestState.OPEN:
        return False
    request_id = (
        PullRequest.objects.filter(pk=pr_id).values_list("access_request_id", flat=True).first()
    )
    if request_id is None:
        return False
    with transaction.atomic():
        # The request first, then the row: the order the fulfilment service locks them in.
        access_request = AccessRequest.objects.select_for_update().get(pk=request_id)
        row = PullRequest.objects.select_for_update().get(pk=pr_id)
        if row.state != PullRequest.State.OPEN:
            return False  # already applied (by the other path, or a duplicate)
        merged = state == PullRequestState.MERGED
        if merged:
            row.merge_sha = merge_sha[:64] or row.merge_sha
            # What the forge merged, as it says: never the head recorded while it was open.
            row.merged_head_sha = head_sha[:64]
        else:
            row.last_error = (
                CLOSED_NOTE if row.purpose == PullRequest.Purpose.GRANT else REVOKE_CLOSED_NOTE
            )
        lifecycle.transition(
            row,
            PR_LIFECYCLE,
            to=PullRequest.State.MERGED if merged else PullRequest.State.CLOSED,
            extra_fields=["merge_sha", "merged_head_sha", "last_error"],
        )
        detail = {"pull_request": row.number, "source": source}
        after: dict[str, Any] = {**detail, "pull_request_state": row.state, "branch": row.branch}
        if merged:
            after.update(head_sha=row.merged_head_sha, approved_sha=row.approved_sha)
        audit_record(
            actor=None,
            action="pullrequest.merge" if merged else "pullrequest.close",
            obj=access_request,
            before={"pull_request_state": PullRequest.State.OPEN.value},
            after=after,
        )
        apply_outcome(access_request, row, actor=None, detail=detail)
    return True


def pull_requests_sync() -> int:
    """Polls every open pull request of the configured forge; returns how many outcomes
    (merged or closed) were applied. An open one that can no longer merge is queued for
    regeneration on the new default-branch tip, and one whose head lacks the portal's approval
    status is queued for it again.

    A forge error stops this run (logged, without the token); the next run is the retry.
    """
    rows = list(
        PullRequest.objects.filter(
            forge=settings.FORGE, state=PullRequest.State.OPEN, number__isnull=False
        )
        .order_by("pk")
        .values_list("pk", "number")
    )
    if not rows:
        return 0
    applied = 0
    try:
        forge = forge_for_settings()
        for pk, number in rows:
            if number is None:  # excluded by the query; keeps the type checker informed
                continue
            info = forge.pull_request(number)
            if info.state != PullRequestState.OPEN:
                if pull_request_apply_state(
                    pr_id=pk, state=info.state, source="poll", head_sha=info.head_sha
                ):
                    applied += 1
            elif info.mergeable is False:
                logger.info("Pull request #%s conflicts with its base: regenerating", number)
                enqueue_now("fulfilment.tasks.pull_request_regenerate_task", pk, "poll")
    except ForgeError as exc:
        logger.warning("Polling pull requests stopped: %s", safe_message(exc))
    # Heads still without the portal's status (its task gave up, or its message was lost):
    # each poll asks again, so a forge outage does not leave a pull request unmergeable.
    for pk in list(
        PullRequest.objects.filter(forge=settings.FORGE, state=PullRequest.State.OPEN)
        .exclude(head_sha="")
        .exclude(status_sha=F("head_sha"))
        .values_list("pk", flat=True)
    ):
        enqueue_now("fulfilment.tasks.pull_request_status_task", pk)
    return applied


@transaction.atomic
def local_pull_request_merge(*, pr_id: int, actor: Any, mfa_verified: bool) -> PullRequest:
    """Security merges a local-forge pull request; its request becomes active."""
    require_verified_security(
        actor, mfa_verified=mfa_verified, refusal=_("Only the security team merges pull requests.")
    )
    row = PullRequest.objects.select_for_update().get(pk=pr_id, forge=PullRequest.Forge.LOCAL)
    if row.state != PullRequest.State.OPEN or row.number is None:
        raise ValidationError(_("Only an open pull request can be merged."))
    access_request = AccessRequest.objects.select_for_update().get(pk=row.access_request_id)
    forge = forge_for_settings()
    if not isinstance(forge, LocalForge):  # FORGE changed since this pull request was opened
        raise ValidationError(_("This pull request is on the local forge, which is not in use."))
    if not row.approved_sha:
        raise ValidationError(_("This pull request has no approved commit: regenerate it."))
    committer = f"{actor.get_username()} <{actor.email or 'security@localhost'}>"
    try:
        # What the branch points to now, for the trail: someone may have pushed to it.
        branch_head = forge.branch_head(row.branch)
        # Only the approved commit is merged, never the branch's tip.
        merge_sha = forge.merge(row.number, committer=committer, sha=row.approved_sha)
    except ForgeError as exc:
        raise ValidationError(safe_message(exc)) from None
    PullRequest.objects.filter(pk=row.pk).update(merged_head_sha=row.approved_sha)
    audit_record(
        actor=actor,
        action="pullrequest.merge",
        obj=access_request,
        after={
            "pull_request": row.number,
            "branch": row.branch,
            "merge_sha": merge_sha,
            "head_sha": row.approved_sha,
            "branch_head": branch_head,
        },
    )
    row.refresh_from_db()
    apply_outcome(access_request, row, actor=actor, detail={"pull_request": row.number})
    return row
