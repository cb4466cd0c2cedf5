"""The emergency cut-off: a vendor's access stopped at once through the AWS API (issue 17).

Security, with a second factor, stops every live grant of a vendor in one action: a deny-all
inline policy on each role the grant owns, the vendor's statement taken out of Substrate's
shared roles (their other statements stay), the IAM users' keys deactivated. The writes are
made as the break-glass role (AWS_BREAK_GLASS_ROLE_NAME; empty means the cut-off is off), in
every account at once. Then each request is revoked through the normal path, which queues
the removal pull request: the repository catches up with what AWS now holds.

Partial failure is decided thus: an account that could not be changed is named, with its
error, in the result and in the audit event, and the revocation still proceeds. Holding the
revocation back would leave the grant "Active" in the portal while part of it is already
denied; revoking makes the removal pull request the follow-up for the accounts that failed,
and the next verification says what AWS still holds ("Revoked in the portal, still in AWS").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accessportal.effects import notify_on_commit
from accessportal.roles import require_verified_security
from audit.services import audit_record
from fulfilment import revocation
from keys.services import AccessKeyTemporaryError, access_keys_deactivate_for_request
from provisioning import aws
from provisioning.substrate.expected import ExpectedRole, ExpectedState, ExpectedUser
from vendors.models import Vendor

from .grants import MERGED_STATES, expected_for, verifiable_requests

logger = logging.getLogger(__name__)

CUT_OFF_POLICY_NAME = aws.CUT_OFF_POLICY_NAME


def cut_off_available() -> bool:
    """Whether a break-glass role is configured (the cut-off is off by default)."""
    return bool(settings.AWS_BREAK_GLASS_ROLE_NAME)


@dataclass
class CutOff:
    """What one cut-off did: per-account results, the requests revoked, what failed."""

    vendor: Vendor
    results: list[dict[str, Any]] = field(default_factory=list)
    revoked: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # requests not planned, keys, revokes

    @property
    def failed_accounts(self) -> list[str]:
        return sorted({r["account_id"] for r in self.results if not r["ok"]})

    @property
    def ok(self) -> bool:
        return not self.failed_accounts and not self.problems


def actions_for(expected: ExpectedState) -> dict[str, list[aws.CutOffAction]]:
    """What stops the grant, per account: its own roles denied, its statements out of the
    shared roles, its users' keys off (a role the grant deletes is nothing to stop)."""
    plan: dict[str, list[aws.CutOffAction]] = {}
    for item in expected.items:
        if isinstance(item, ExpectedRole) and item.shared:
            action = aws.CutOffAction("remove_trust", item.name, tuple(item.trust_statements))
        elif isinstance(item, ExpectedRole):
            action = aws.CutOffAction("deny_role", item.name)
        elif isinstance(item, ExpectedUser):
            action = aws.CutOffAction("deactivate_keys", item.name)
        else:
            continue
        actions = plan.setdefault(item.account_id, [])
        if action not in actions:
            actions.append(action)
    return plan


def _merge(
    into: dict[str, list[aws.CutOffAction]], more: dict[str, list[aws.CutOffAction]]
) -> None:
    for account_id, actions in more.items():
        current = into.setdefault(account_id, [])
        current.extend(a for a in actions if a not in current)


def vendor_cut_off(*, actor: Any, mfa_verified: bool, vendor_id: int, reason: str) -> CutOff:
    """Stops the vendor's live grants in AWS now, then revokes them (removal pull requests
    queued). Security only, with a second factor; refused when no break-glass role is set."""
    require_verified_security(
        actor,
        mfa_verified=mfa_verified,
        refusal=_("Only the security team cuts a vendor off."),
    )
    if not cut_off_available():
        raise ValidationError(
            _(
                "The emergency cut-off is off: set AWS_BREAK_GLASS_ROLE_NAME to the role the "
                "portal may assume in each account to stop access."
            )
        )
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the vendor is cut off.")})
    vendor = Vendor.objects.get(pk=vendor_id)
    requests = list(verifiable_requests().filter(vendor=vendor, status__in=MERGED_STATES))
    if not requests:
        raise ValidationError(_("This vendor has no merged grant to cut off."))
    outcome = CutOff(vendor=vendor)

    plan: dict[str, list[aws.CutOffAction]] = {}
    for access_request in requests:
        try:
            _merge(plan, actions_for(expected_for(access_request)))
        except ValueError as exc:
            outcome.problems.append(f"request #{access_request.pk}: {exc}")
    # AWS first: that is what stops the vendor; the portal's records follow.
    results = aws.cut_off_accounts(plan)
    outcome.results = [r.as_dict() for found in results.values() for r in found]

    for access_request in requests:
        # The keys' rows say Inactive (and unrevealed secrets are wiped) through keys' own
        # service; its AWS call repeats the break-glass one, which is harmless.
        try:
            access_keys_deactivate_for_request(request_id=access_request.pk)
        except (AccessKeyTemporaryError, aws.AwsError) as exc:
            logger.warning("Cut-off of request #%s: keys: %s", access_request.pk, exc)
            outcome.problems.append(
                f"request #{access_request.pk}: access keys not recorded inactive"
            )

    with transaction.atomic():
        audit_record(
            actor=actor,
            action="vendor.cut_off",
            obj=vendor,
            after={
                "reason": reason,
                "requests": [r.pk for r in requests],
                "accounts": outcome.results,
                "failed_accounts": outcome.failed_accounts,
                "problems": outcome.problems,
            },
        )
    for access_request in requests:
        try:
            revocation.request_revoke(
                request_id=access_request.pk,
                actor=actor,
                mfa_verified=mfa_verified,
                reason=str(_("Emergency cut-off: %(reason)s")) % {"reason": reason},
            )
        except ValidationError as exc:
            outcome.problems.append(f"request #{access_request.pk}: not revoked: {exc}")
            continue
        outcome.revoked.append(access_request.pk)
        notify_on_commit(access_request_id=access_request.pk, event="cut_off", comment=reason)
    return outcome
