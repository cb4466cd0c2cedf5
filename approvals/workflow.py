"""The single place where an access request's status changes (STYLE.md examples 2 and 3)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from approvals.models import TRANSITIONS, AccessRequest
from audit.services import audit_record, audit_snapshot


def transition(
    access_request: AccessRequest,
    *,
    to: str,
    actor: Any,
    action: str,
    extra_fields: tuple[str, ...] = (),
    detail: dict[str, Any] | None = None,
) -> None:
    """Moves a locked request to `to` if the state machine allows it, and audits the move.

    The caller holds the row lock (select_for_update) inside its transaction and has already
    set any `extra_fields` that change with the status.
    """
    current = access_request.status
    if to not in TRANSITIONS[current]:
        raise ValidationError(
            _("A request that is %(from)s cannot become %(to)s.")
            % {"from": AccessRequest.Status(current).label, "to": AccessRequest.Status(to).label}
        )
    before = {"status": current}
    access_request.status = to
    access_request.save(update_fields=["status", "updated_at", *extra_fields])
    after = {"status": to, **(detail or {})}
    audit_record(actor=actor, action=action, obj=access_request, before=before, after=after)


def snapshot(access_request: AccessRequest) -> dict[str, Any]:
    return audit_snapshot(
        access_request,
        [
            "vendor",
            "strategy",
            "status",
            "principals",
            "external_id",
            "target_domains",
            "target_environments",
            "target_qualities",
            "role_name",
            "policy_source",
            "managed_policy_arns",
            "inline_policy",
            "justification",
            "expires_on",
            "risk_level",
            "admin_equivalent",
            "required_approvals",
        ],
    )
