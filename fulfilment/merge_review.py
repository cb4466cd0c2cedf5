"""Security's review of a pull request merged with a head nobody approved (a forge merged
something other than the portal's approved commit): accepted (the grant becomes ACTIVE) with
a comment saying what was checked, or revoked (`fulfilment.revocation.request_revoke`)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accessportal.roles import require_verified_security
from approvals import policy
from approvals.models import AccessRequest
from approvals.workflow import transition
from audit.services import audit_record
from fulfilment.models import PullRequest
from fulfilment.models.pullrequests import UNAPPROVED_HEAD

Status = AccessRequest.Status


@transaction.atomic
def request_merge_acknowledge(
    *, request_id: int, actor: Any, mfa_verified: bool, comment: str
) -> AccessRequest:
    """Security has reviewed a pull request merged with a head nobody approved, and says so.

    The forge merged something other than the portal's approved commit. For a grant the
    request is MERGE_MISMATCH and becomes ACTIVE (the alternative is to revoke it); otherwise
    (a revocation, or a grant merged after the request was revoked) the row is marked
    reviewed, once security has repaired the repository if needed. Either way a
    security member who is not the requester, with a second factor, says in the comment what
    they checked, and the pull request leaves the dashboard's attention list.
    """
    access_request = AccessRequest.objects.select_for_update().get(pk=request_id)
    require_verified_security(
        actor,
        mfa_verified=mfa_verified,
        refusal=_("Only the security team reviews merged changes."),
    )
    policy.may_acknowledge_merge(actor, access_request).enforce()
    if not comment.strip():
        raise ValidationError({"comment": _("Say what you reviewed in the merged change.")})
    unreviewed = (
        PullRequest.objects.select_for_update()
        .filter(
            access_request=access_request,
            state=PullRequest.State.MERGED,
            head_reviewed_at__isnull=True,
        )
        .filter(UNAPPROVED_HEAD)
        .order_by("-pk")
    )
    if access_request.status == Status.MERGE_MISMATCH:
        row = unreviewed.filter(purpose=PullRequest.Purpose.GRANT).first()
    else:
        # A revocation, or a grant merged after its request was revoked: the row only.
        row = unreviewed.first()
        if row is None:
            raise ValidationError(_("No merge of this request waits for a review."))
    detail = {
        "comment": comment.strip(),
        "pull_request": row.number if row else None,
        "purpose": row.purpose if row else PullRequest.Purpose.GRANT,
        "approved_sha": row.approved_sha if row else "",
        "merged_head_sha": row.merged_head_sha if row else "",
    }
    if row is not None:
        row.head_reviewed_at = timezone.now()
        row.head_reviewed_by = actor
        row.save(update_fields=["head_reviewed_at", "head_reviewed_by", "updated_at"])
    if access_request.status == Status.MERGE_MISMATCH:
        transition(
            access_request,
            to=Status.ACTIVE,
            actor=actor,
            action="request.merge_acknowledge",
            detail=detail,
            comment=comment.strip(),
        )
    else:
        audit_record(
            actor=actor, action="pullrequest.merge_reviewed", obj=access_request, after=detail
        )
    return access_request
