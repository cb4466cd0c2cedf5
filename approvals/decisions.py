"""Security's decisions on access requests: approve (toward a quorum), reject, extend.

Ending a grant (`fulfilment.revocation.request_revoke`) and reviewing a merge nobody approved
(`fulfilment.merge_review`) are fulfilment's: they act on pull requests, a layer above.

Every rule is enforced here, whatever the entry point (the admin, the request page, the
dashboard or a crafted POST): no self-approval, one person counts once, the quorum set by risk,
the vendor's review current and approved, no lint errors, an end date, and an MFA-verified
session. A refusal says exactly why.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accessportal.effects import notify_on_commit
from accessportal.roles import require_verified_security
from approvals import policy, rules
from approvals.models import AccessRequest, Approval, ExtensionApproval
from approvals.requests import approval_blockers
from approvals.workflow import transition
from audit.services import audit_record

Status = AccessRequest.Status


def _notify(access_request: AccessRequest, event: str, actor: Any, comment: str = "") -> None:
    notify_on_commit(
        access_request_id=access_request.pk,
        event=event,
        actor_id=getattr(actor, "pk", None),
        comment=comment,
    )


def _check_decider(
    access_request: AccessRequest, actor: Any, *, mfa_verified: bool
) -> rules.Standing:
    """The decider's gates; returns where the request stands under the rules in force."""
    require_verified_security(
        actor,
        mfa_verified=mfa_verified,
        refusal=_("Only the security team decides access requests."),
    )
    standing = rules.request_standing(access_request)
    # Someone who decided already is refused by each decision after its own checks (the
    # approval's blockers come first), with the database's one-decision constraint behind.
    policy.may_decide_as(actor, access_request, standing).enforce()
    return standing


def _standing_detail(standing: rules.Standing) -> dict[str, Any]:
    """The audit row's account of the rules: the version, and each group's count."""
    return {
        "rules_version": standing.rule_set.version,
        "requirements": [
            {
                "group": row.requirement.group,
                "quorum": row.requirement.quorum,
                "approvers": row.approvers,
            }
            for row in standing.rows
        ],
    }


@transaction.atomic
def request_approve(
    *, request_id: int, approver: Any, mfa_verified: bool, comment: str = ""
) -> AccessRequest:
    """Records an approval; the request becomes approved when the quorum is reached.

    The row lock serialises approvers: two approvals at the same moment give one transition.
    """
    access_request = (
        AccessRequest.objects.select_for_update().select_related("vendor").get(pk=request_id)
    )
    standing = _check_decider(access_request, approver, mfa_verified=mfa_verified)
    blockers = approval_blockers(access_request)
    if blockers:
        raise ValidationError(blockers)
    policy.decided_already(approver, access_request).enforce()
    policy.counts_toward_open(approver, standing).enforce()
    counted = rules.counts_for(approver, standing)
    try:
        with transaction.atomic():
            Approval.objects.create(
                access_request=access_request,
                approver=approver,
                decision=Approval.Decision.APPROVE,
                comment=comment.strip(),
                mfa_verified=mfa_verified,
                rules_version=standing.rule_set,
                counted_for=counted,
            )
    except IntegrityError as exc:  # the database's own guard against a double count
        raise ValidationError(_("You already decided this request.")) from exc
    standing = standing.with_approval(approver.get_username(), counted)
    count = access_request.approvals.filter(decision=Approval.Decision.APPROVE).count()
    detail = {"approvals": count, "required": standing.total_approvals()}
    detail.update(_standing_detail(standing))
    if standing.met:
        access_request.rules_version = standing.rule_set
        transition(
            access_request,
            to=Status.APPROVED,
            actor=approver,
            action="request.approve",
            extra_fields=("rules_version",),
            detail=detail,
            comment=comment,
        )
    else:
        audit_record(
            actor=approver,
            action="request.approval_recorded",
            obj=access_request,
            after=detail,
        )
        _notify(access_request, "approval_recorded", approver, comment)
    return access_request


@transaction.atomic
def request_reject(
    *, request_id: int, approver: Any, mfa_verified: bool, comment: str
) -> AccessRequest:
    """Rejects a submitted request; the comment, required, tells the requester why."""
    if not comment.strip():
        raise ValidationError({"comment": _("Say why the request is rejected.")})
    access_request = (
        AccessRequest.objects.select_for_update().select_related("vendor").get(pk=request_id)
    )
    standing = _check_decider(access_request, approver, mfa_verified=mfa_verified)
    # One who approved a request waiting for a second approver cannot now reject it: one
    # person, one decision (the database refuses a second row; this says why, without a 500).
    policy.decided_already(approver, access_request).enforce()
    Approval.objects.create(
        access_request=access_request,
        approver=approver,
        decision=Approval.Decision.REJECT,
        comment=comment.strip(),
        mfa_verified=mfa_verified,
        rules_version=standing.rule_set,
        counted_for=rules.counts_for(approver, standing),
    )
    access_request.rules_version = standing.rule_set
    transition(
        access_request,
        to=Status.REJECTED,
        actor=approver,
        action="request.reject",
        extra_fields=("rules_version",),
        detail={"comment": comment.strip(), "rules_version": standing.rule_set.version},
        comment=comment.strip(),
    )
    return access_request


@transaction.atomic
def request_extension_ask(
    *, request_id: int, actor: Any, until: date, reason: str
) -> AccessRequest:
    """The requester asks for a later end date: a lighter cycle than a new request, capped.

    Capped twice: the new end is at most PORTAL_MAX_EXTENSION_DAYS from today, and a grant is
    extended at most PORTAL_MAX_EXTENSIONS times; beyond that a new request is reviewed in full.
    """
    access_request = AccessRequest.objects.select_for_update().get(pk=request_id)
    policy.may_extend(actor, access_request).enforce()
    if access_request.extensions_granted >= settings.PORTAL_MAX_EXTENSIONS:
        raise ValidationError(
            _("This grant was extended %(n)s times already: file a new request.")
            % {"n": access_request.extensions_granted}
        )
    # Every problem of the ask at once, by field: the requester corrects both in one go.
    problems: dict[str, str] = {}
    if not reason.strip():
        problems["reason"] = _("Say why the vendor still needs the access.")
    cap = timezone.localdate() + timedelta(days=settings.PORTAL_MAX_EXTENSION_DAYS)
    if access_request.expires_on and until <= access_request.expires_on:
        problems["until"] = _("Choose a date after the current end date.")
    elif until > cap:
        problems["until"] = _("An extension ends on %(cap)s at the latest.") % {
            "cap": cap.isoformat()
        }
    if problems:
        raise ValidationError(problems)
    access_request.extension_until = until
    access_request.extension_reason = reason.strip()
    # A new round: approvals given to an earlier ask do not count toward this one.
    access_request.extension_round += 1
    access_request.extension_asked_at = timezone.now()  # when reminders and the lapse count from
    access_request.save(
        update_fields=[
            "extension_until",
            "extension_reason",
            "extension_round",
            "extension_asked_at",
            "updated_at",
        ]
    )
    audit_record(
        actor=actor,
        action="request.extension_ask",
        obj=access_request,
        after={
            "until": until.isoformat(),
            "reason": reason.strip(),
            "expires_on": str(access_request.expires_on),
            "required": access_request.required_approvals,
        },
    )
    _notify(access_request, "extension_asked", actor, reason.strip())
    return access_request


def extension_approvals(access_request: AccessRequest) -> Any:
    """The approvals of the pending extension ask (its current round), oldest first."""
    return ExtensionApproval.objects.filter(
        access_request=access_request, extension_round=access_request.extension_round
    )


@transaction.atomic
def request_extension_decide(
    *, request_id: int, approver: Any, approve: bool, mfa_verified: bool, comment: str = ""
) -> AccessRequest:
    """An MFA-verified security member (not the requester) approves or refuses an extension.

    An extension lengthens the grant as it stands, so it needs what the grant needed: its own
    quorum (`required_approvals`) of distinct MFA-verified security members, each counted
    once for this ask. The end date moves when the last approval of the quorum arrives; one
    refusal (with a reason) ends the ask. The row lock serialises approvers.
    """
    access_request = (
        AccessRequest.objects.select_for_update().select_related("vendor").get(pk=request_id)
    )
    require_verified_security(
        approver,
        mfa_verified=mfa_verified,
        refusal=_("Only the security team decides extensions."),
    )
    standing = rules.extension_standing(access_request) if access_request.extension_until else None
    policy.may_decide_extension_as(approver, access_request, standing).enforce()
    assert access_request.extension_until is not None  # noqa: S101  the policy refused otherwise
    assert standing is not None  # noqa: S101  read above whenever an ask is pending
    if not approve and not comment.strip():
        raise ValidationError({"comment": _("Say why the extension is refused.")})
    if approve:
        # Only an approval counts toward the quorum: one who approved may still refuse.
        policy.approved_extension_already(approver, access_request).enforce()
        policy.counts_toward_open(approver, standing).enforce()
        counted = rules.counts_for(approver, standing)
        try:
            with transaction.atomic():
                ExtensionApproval.objects.create(
                    access_request=access_request,
                    extension_round=access_request.extension_round,
                    approver=approver,
                    until=access_request.extension_until,
                    comment=comment.strip(),
                    mfa_verified=mfa_verified,
                    rules_version=standing.rule_set,
                    counted_for=counted,
                )
        except IntegrityError as exc:  # the database's own guard against a double count
            raise ValidationError(_("You already approved this extension.")) from exc
        standing = standing.with_approval(approver.get_username(), counted)
        count = extension_approvals(access_request).values("approver").distinct().count()
        if not standing.met:
            audit_record(
                actor=approver,
                action="request.extension_approval_recorded",
                obj=access_request,
                after={
                    "until": access_request.extension_until.isoformat(),
                    "approvals": count,
                    "required": standing.total_approvals(),
                    "comment": comment.strip(),
                    **_standing_detail(standing),
                },
            )
            return access_request
    before = {
        "expires_on": str(access_request.expires_on),
        "extensions_granted": access_request.extensions_granted,
    }
    if approve:
        access_request.expires_on = access_request.extension_until
        access_request.extensions_granted += 1
    access_request.extension_until = None
    access_request.extension_reason = ""
    access_request.save(
        update_fields=[
            "expires_on",
            "extensions_granted",
            "extension_until",
            "extension_reason",
            "updated_at",
        ]
    )
    after: dict[str, Any] = {
        "expires_on": str(access_request.expires_on),
        "extensions_granted": access_request.extensions_granted,
        "comment": comment.strip(),
    }
    if approve:
        after.update(approvals=count, required=standing.total_approvals())
    after.update(_standing_detail(standing))
    audit_record(
        actor=approver,
        action="request.extension_grant" if approve else "request.extension_refuse",
        obj=access_request,
        before=before,
        after=after,
    )
    _notify(
        access_request,
        "extension_granted" if approve else "extension_refused",
        approver,
        comment.strip(),
    )
    if approve and access_request.status == Status.EXPIRING:
        transition(access_request, to=Status.ACTIVE, actor=approver, action="request.renew")
    return access_request
