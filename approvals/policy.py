"""Who may decide, revoke or extend an access request, and when: the rules in one place.

The request page, the admin and the services each used to re-derive these rules, and the
copies drifted (the admin offered a security member the decision on their own request). Now
the pages ask this module whether to offer an action, and the services ask it again before
acting, so a page never offers what the service would refuse for who or when.

The policy answers the role, ownership and state rules only. The second factor stays the
services' own gate (`accessportal.roles.require_verified_security`, called before the policy):
a page still offers a decision to a security member without one, with a warning, and the
service refuses it. Input checks (a comment, a date) stay in the services too.

Each answer is a `Verdict`: true when allowed; otherwise it carries the refusal the user is
shown and the exception the service raises (PermissionDenied for who, ValidationError for
when). `Verdict.enforce()` raises it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils.translation import gettext as _

from accessportal.roles import Role, can_write, has_role
from approvals import rules
from approvals.models import EXTENDABLE, REVOCABLE, AccessRequest, ExtensionApproval
from approvals.verdicts import ALLOWED, Verdict, denied, invalid

__all__ = ["ALLOWED", "Verdict"]

Status = AccessRequest.Status


def _is_security(user: Any) -> bool:
    return has_role(user, Role.SECURITY) and can_write(user)


def _is_requester(user: Any, access_request: AccessRequest) -> bool:
    return user.pk is not None and user.pk == access_request.requester_id


# Deciding a request: approve or reject.


def may_decide_as(
    user: Any, access_request: AccessRequest, standing: rules.Standing | None = None
) -> Verdict:
    """Whether `user` may take a decision on `access_request`, leaving aside a decision they
    took already (`decided_already`): security, not the requester, a submitted request, and
    in an approver group the rules in force give the decision to. `standing` is the request's
    (`rules.request_standing`) when the caller read it already; it is read only when the
    other rules allow."""
    return _decision_open_to(user, access_request) and in_approver_group(
        user, standing or rules.request_standing(access_request)
    )


def _decision_open_to(user: Any, access_request: AccessRequest) -> Verdict:
    """The rules of deciding that need no reading of the approval rules."""
    if not _is_security(user):
        return denied(_("Only the security team decides access requests."))
    if _is_requester(user, access_request):
        return denied(
            _("You filed this request: another member of the security team must decide it.")
        )
    if access_request.status != Status.SUBMITTED:
        return invalid(
            _("This request is %(status)s: only a submitted request can be decided.")
            % {"status": access_request.get_status_display()}
        )
    return ALLOWED


def in_approver_group(user: Any, standing: rules.Standing) -> Verdict:
    """Refused unless `user` is in a group the rules give the decision to."""
    if rules.approver_groups(user) & standing.groups():
        return ALLOWED
    return denied(
        _(
            "The approval rules in force (version %(v)s) give this decision to %(groups)s: "
            "you are in none of them."
        )
        % {"v": standing.rule_set.version, "groups": ", ".join(sorted(standing.groups()))}
    )


def counts_toward_open(user: Any, standing: rules.Standing) -> Verdict:
    """Refused when an approval by `user` would meet nothing still open: the groups they
    are in have all the approvals they need, and others must approve now."""
    if rules.approver_groups(user) & standing.open_groups():
        return ALLOWED
    return invalid(
        _("Your groups have approved already; what is left needs %(groups)s.")
        % {"groups": ", ".join(sorted(standing.open_groups())) or "-"}
    )


def decided_already(user: Any, access_request: AccessRequest) -> Verdict:
    """One person counts once: refused when `user` recorded a decision on the request."""
    if user.pk is not None and access_request.approvals.filter(approver=user.pk).exists():
        return invalid(_("You already decided this request; one person counts once."))
    return ALLOWED


def may_decide(
    user: Any, access_request: AccessRequest, standing: rules.Standing | None = None
) -> Verdict:
    """Whether to offer `user` the approve and reject buttons of `access_request`: nobody
    outside the groups still needed sees them."""
    verdict = _decision_open_to(user, access_request)
    if not verdict:
        return verdict
    standing = standing or rules.request_standing(access_request)
    # `and` keeps the first refusal: a Verdict is false when refused.
    return (
        in_approver_group(user, standing)
        and decided_already(user, access_request)
        and counts_toward_open(user, standing)
    )


# Revoking approved access, and retrying a revocation.


def may_revoke(user: Any, access_request: AccessRequest) -> Verdict:
    """Security ends approved access at any time, its own requests included (ending access
    needs no second opinion)."""
    if not _is_security(user):
        return denied(_("Only the security team revokes access."))
    if access_request.status not in REVOCABLE:
        return invalid(_("Only approved access can be revoked."))
    return ALLOWED


def may_retry_revoke(
    user: Any, access_request: AccessRequest, *, revocation_ended: bool
) -> Verdict:
    """Security queues a revocation again once its latest pull request failed or was closed
    (`revocation_ended`, which fulfilment answers: the pull request is its concept)."""
    if not _is_security(user):
        return denied(_("Only the security team retries a revocation."))
    if access_request.status != Status.REVOKED or not revocation_ended:
        return invalid(_("Only a failed or closed revocation can be retried."))
    return ALLOWED


# Extensions: the requester asks, security decides.


def may_extend(user: Any, access_request: AccessRequest) -> Verdict:
    """Whether `user` may ask for a later end date: the requester, of a grant that runs.

    The cap on extensions and the dates asked are the ask's own checks
    (`approvals.decisions.request_extension_ask`)."""
    if not _is_requester(user, access_request):
        return denied(_("Only the requester can ask to extend a grant."))
    if access_request.status not in EXTENDABLE:
        return invalid(_("Only approved or active access can be extended."))
    return ALLOWED


def may_decide_extension_as(
    user: Any, access_request: AccessRequest, standing: rules.Standing | None = None
) -> Verdict:
    """Whether `user` may decide the pending extension, leaving aside an approval they gave
    it already (`approved_extension_already`): security, not the requester, an ask pending,
    and in a group the rules give the decision to (an extension needs what the grant did)."""
    return _extension_open_to(user, access_request) and in_approver_group(
        user, standing or rules.extension_standing(access_request)
    )


def _extension_open_to(user: Any, access_request: AccessRequest) -> Verdict:
    """The rules of deciding an extension that need no reading of the approval rules."""
    if not _is_security(user):
        return denied(_("Only the security team decides extensions."))
    if _is_requester(user, access_request):
        return denied(
            _("You asked for this extension: another member of the security team must decide it.")
        )
    if access_request.extension_until is None:
        return invalid(_("No extension is waiting for a decision."))
    return ALLOWED


def approved_extension_already(
    user: Any, access_request: AccessRequest, approvals: Iterable[ExtensionApproval] | None = None
) -> Verdict:
    """One person counts once per ask: refused when `user` approved the pending one.

    `approvals` are the ask's approvals when the caller read them already (no query then)."""
    if approvals is None:
        approved = ExtensionApproval.objects.filter(
            access_request=access_request,
            extension_round=access_request.extension_round,
            approver=user.pk,
        ).exists()
    else:
        approved = any(a.approver_id == user.pk for a in approvals)
    if approved:
        return invalid(_("You already approved this extension; one person counts once."))
    return ALLOWED


def may_decide_extension(
    user: Any,
    access_request: AccessRequest,
    approvals: Iterable[ExtensionApproval] | None = None,
    standing: rules.Standing | None = None,
) -> Verdict:
    """Whether to offer `user` the approve and refuse buttons of the pending extension."""
    verdict = _extension_open_to(user, access_request)
    if not verdict:
        return verdict
    standing = standing or rules.extension_standing(access_request)
    return (
        in_approver_group(user, standing)
        and approved_extension_already(user, access_request, approvals)
        and counts_toward_open(user, standing)
    )


# Reviewing a merge of a head nobody approved.


def may_acknowledge_merge(user: Any, access_request: AccessRequest) -> Verdict:
    """Security, not the requester, reviews a merged change (whether one waits for a review
    is the service's question, as it reads the pull requests under a lock)."""
    if not _is_security(user):
        return denied(_("Only the security team reviews merged changes."))
    if _is_requester(user, access_request):
        return denied(
            _("You filed this request: another member of the security team must review its merge.")
        )
    return ALLOWED
