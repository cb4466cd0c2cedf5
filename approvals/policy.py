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
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from accessportal.roles import Role, can_write, has_role
from approvals.models import EXTENDABLE, REVOCABLE, AccessRequest, ExtensionApproval

Status = AccessRequest.Status


@dataclass(frozen=True)
class Verdict:
    """An answer of the policy: allowed, or refused with a reason and the exception to raise."""

    reason: str = ""
    # PermissionDenied when the user may not (who), ValidationError when the request may not
    # (its state); None when allowed.
    exception: type[Exception] | None = None

    @property
    def allowed(self) -> bool:
        return self.exception is None

    def __bool__(self) -> bool:
        return self.allowed

    def enforce(self) -> None:
        """Raises the refusal, as the services always have; nothing when allowed."""
        if self.exception is not None:
            raise self.exception(self.reason)


ALLOWED = Verdict()


def _denied(reason: str) -> Verdict:
    return Verdict(reason, PermissionDenied)


def _invalid(reason: str) -> Verdict:
    return Verdict(reason, ValidationError)


def _is_security(user: Any) -> bool:
    return has_role(user, Role.SECURITY) and can_write(user)


def _is_requester(user: Any, access_request: AccessRequest) -> bool:
    return user.pk is not None and user.pk == access_request.requester_id


# Deciding a request: approve or reject.


def may_decide_as(user: Any, access_request: AccessRequest) -> Verdict:
    """Whether `user` may take a decision on `access_request`, leaving aside a decision they
    took already (`decided_already`): security, not the requester, a submitted request."""
    if not _is_security(user):
        return _denied(_("Only the security team decides access requests."))
    if _is_requester(user, access_request):
        return _denied(
            _("You filed this request: another member of the security team must decide it.")
        )
    if access_request.status != Status.SUBMITTED:
        return _invalid(
            _("This request is %(status)s: only a submitted request can be decided.")
            % {"status": access_request.get_status_display()}
        )
    return ALLOWED


def decided_already(user: Any, access_request: AccessRequest) -> Verdict:
    """One person counts once: refused when `user` recorded a decision on the request."""
    if user.pk is not None and access_request.approvals.filter(approver=user.pk).exists():
        return _invalid(_("You already decided this request; one person counts once."))
    return ALLOWED


def may_decide(user: Any, access_request: AccessRequest) -> Verdict:
    """Whether to offer `user` the approve and reject buttons of `access_request`."""
    # `and` keeps the first refusal: a Verdict is false when refused.
    return may_decide_as(user, access_request) and decided_already(user, access_request)


# Revoking approved access, and retrying a revocation.


def may_revoke(user: Any, access_request: AccessRequest) -> Verdict:
    """Security ends approved access at any time, its own requests included (ending access
    needs no second opinion)."""
    if not _is_security(user):
        return _denied(_("Only the security team revokes access."))
    if access_request.status not in REVOCABLE:
        return _invalid(_("Only approved access can be revoked."))
    return ALLOWED


def may_retry_revoke(
    user: Any, access_request: AccessRequest, *, revocation_ended: bool
) -> Verdict:
    """Security queues a revocation again once its latest pull request failed or was closed
    (`revocation_ended`, which fulfilment answers: the pull request is its concept)."""
    if not _is_security(user):
        return _denied(_("Only the security team retries a revocation."))
    if access_request.status != Status.REVOKED or not revocation_ended:
        return _invalid(_("Only a failed or closed revocation can be retried."))
    return ALLOWED


# Extensions: the requester asks, security decides.


def may_extend(user: Any, access_request: AccessRequest) -> Verdict:
    """Whether `user` may ask for a later end date: the requester, of a grant that runs.

    The cap on extensions and the dates asked are the ask's own checks
    (`approvals.decisions.request_extension_ask`)."""
    if not _is_requester(user, access_request):
        return _denied(_("Only the requester can ask to extend a grant."))
    if access_request.status not in EXTENDABLE:
        return _invalid(_("Only approved or active access can be extended."))
    return ALLOWED


def may_decide_extension_as(user: Any, access_request: AccessRequest) -> Verdict:
    """Whether `user` may decide the pending extension, leaving aside an approval they gave
    it already (`approved_extension_already`): security, not the requester, an ask pending."""
    if not _is_security(user):
        return _denied(_("Only the security team decides extensions."))
    if _is_requester(user, access_request):
        return _denied(
            _("You asked for this extension: another member of the security team must decide it.")
        )
    if access_request.extension_until is None:
        return _invalid(_("No extension is waiting for a decision."))
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
        return _invalid(_("You already approved this extension; one person counts once."))
    return ALLOWED


def may_decide_extension(
    user: Any, access_request: AccessRequest, approvals: Iterable[ExtensionApproval] | None = None
) -> Verdict:
    """Whether to offer `user` the approve and refuse buttons of the pending extension."""
    return may_decide_extension_as(user, access_request) and approved_extension_already(
        user, access_request, approvals
    )


# Reviewing a merge of a head nobody approved.


def may_acknowledge_merge(user: Any, access_request: AccessRequest) -> Verdict:
    """Security, not the requester, reviews a merged change (whether one waits for a review
    is the service's question, as it reads the pull requests under a lock)."""
    if not _is_security(user):
        return _denied(_("Only the security team reviews merged changes."))
    if _is_requester(user, access_request):
        return _denied(
            _("You filed this request: another member of the security team must review its merge.")
        )
    return ALLOWED
